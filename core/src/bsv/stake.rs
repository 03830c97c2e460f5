//! Stake commitments (DESIGN §15): a staking transaction names the seeder it stakes for, so
//! that a payment anyone can see on chain (the transaction and its merkle path are public)
//! can be credited to its payer only.
//!
//! The commitment is one data output beside the payment to the stake address:
//!
//! ```text
//! OP_FALSE OP_RETURN <"torrent_service stake"> <address, base58 text>
//! ```
//!
//! Plain text pushes, so that any wallet able to add a data output (most BSV wallets take
//! a list of strings, @bsv/sdk's `Script`/`LockingScript` takes the bytes) can make it. The
//! value of the output is irrelevant (0 is usual). A transaction with commitments to two
//! different addresses commits to none: it is refused.

use alloc::string::String;
use alloc::vec::Vec;

use super::keys::Address;
use super::tx::Transaction;

/// The first push of a commitment.
pub const STAKE_TAG: &[u8] = b"torrent_service stake";

/// Why a staking transaction commits to no single address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitmentError {
    /// No output carries a commitment.
    #[error(
        "the transaction names no seeder: add an output OP_FALSE OP_RETURN \"torrent_service stake\" <your address>"
    )]
    Missing,
    /// A commitment whose address does not parse.
    #[error("the stake commitment's address is not a P2PKH address")]
    BadAddress,
    /// Commitments to different addresses.
    #[error("the transaction names more than one seeder")]
    Ambiguous,
}

/// Appends one minimal push of `data` (at most 75 bytes: the tag and an address fit).
fn push(script: &mut Vec<u8>, data: &[u8]) {
    debug_assert!(data.len() <= 75);
    script.push(data.len() as u8);
    script.extend_from_slice(data);
}

/// Returns the commitment's locking script for `address`.
pub fn commitment_script(address: &Address) -> Vec<u8> {
    let text = alloc::format!("{address}");
    let mut s = alloc::vec![0x00, 0x6a];
    push(&mut s, STAKE_TAG);
    push(&mut s, text.as_bytes());
    s
}

/// Reads the pushes of `OP_FALSE OP_RETURN <push>*` (direct pushes and OP_PUSHDATA1 only;
/// anything else is not a commitment).
fn data_pushes(script: &[u8]) -> Option<Vec<&[u8]>> {
    let rest = script.strip_prefix(&[0x00, 0x6a])?;
    let mut pushes = Vec::new();
    let mut at = 0usize;
    while at < rest.len() {
        let (len, start) = match rest[at] {
            n @ 1..=75 => (usize::from(n), at + 1),
            0x4c => (usize::from(*rest.get(at + 1)?), at + 2),
            _ => return None,
        };
        pushes.push(rest.get(start..start.checked_add(len)?)?);
        at = start + len;
    }
    Some(pushes)
}

/// Returns the address `tx` commits its stake to.
///
/// # Errors
/// [`CommitmentError`]: none, a bad one, or two different ones.
pub fn committed_address(tx: &Transaction) -> Result<Address, CommitmentError> {
    let mut found: Option<Address> = None;
    for o in &tx.outputs {
        let Some(pushes) = data_pushes(&o.script_pubkey) else {
            continue;
        };
        let [tag, address] = pushes.as_slice() else {
            continue;
        };
        if *tag != STAKE_TAG {
            continue;
        }
        let text = core::str::from_utf8(address).map_err(|_| CommitmentError::BadAddress)?;
        let a = Address::parse(text).map_err(|_| CommitmentError::BadAddress)?;
        match found {
            Some(f) if f != a => return Err(CommitmentError::Ambiguous),
            _ => found = Some(a),
        }
    }
    found.ok_or(CommitmentError::Missing)
}

/// The commitment as text a wallet can be given: the script in hex.
pub fn commitment_hex(address: &Address) -> String {
    crate::hex::encode(&commitment_script(address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsv::network::Network;
    use crate::bsv::tx::TxOut;
    use alloc::vec;

    fn tx(outputs: Vec<Vec<u8>>) -> Transaction {
        Transaction {
            version: 1,
            inputs: Vec::new(),
            outputs: outputs
                .into_iter()
                .map(|script_pubkey| TxOut {
                    value: crate::Satoshis::ZERO,
                    script_pubkey,
                })
                .collect(),
            lock_time: 0,
        }
    }

    fn addr(b: u8) -> Address {
        Address {
            network: Network::Mainnet,
            hash: [b; 20],
        }
    }

    #[test]
    fn a_commitment_round_trips_and_names_one_address() {
        let a = addr(1);
        let s = commitment_script(&a);
        assert_eq!(&s[..3], &[0x00, 0x6a, 21]);
        let t = tx(vec![a.script_pubkey(), s.clone(), s]);
        assert_eq!(committed_address(&t), Ok(a));
    }

    #[test]
    fn missing_bad_and_ambiguous_commitments_are_refused() {
        let a = addr(1);
        assert_eq!(
            committed_address(&tx(vec![a.script_pubkey()])),
            Err(CommitmentError::Missing)
        );
        // Another tag, or an extra push: not a commitment.
        let mut other = alloc::vec![0x00, 0x6a];
        push(&mut other, b"something else");
        push(&mut other, alloc::format!("{a}").as_bytes());
        let mut extra = commitment_script(&a);
        push(&mut extra, b"x");
        assert_eq!(
            committed_address(&tx(vec![other, extra])),
            Err(CommitmentError::Missing)
        );
        let mut bad = alloc::vec![0x00, 0x6a];
        push(&mut bad, STAKE_TAG);
        push(&mut bad, b"not an address");
        assert_eq!(
            committed_address(&tx(vec![bad])),
            Err(CommitmentError::BadAddress)
        );
        assert_eq!(
            committed_address(&tx(vec![
                commitment_script(&a),
                commitment_script(&addr(2))
            ])),
            Err(CommitmentError::Ambiguous)
        );
        // Truncated pushes never panic.
        for cut in 0..commitment_script(&a).len() {
            let s = commitment_script(&a)[..cut].to_vec();
            let _ = committed_address(&tx(vec![s]));
        }
    }
}
