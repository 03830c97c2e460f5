//! Signed P2PKH transactions: the BIP143-style signature digest BSV uses with
//! `SIGHASH_FORKID`, RFC 6979 deterministic low-S signatures, DER encoding, and a payout
//! builder (inputs, outputs, a fee from the size and a rate, change).

use alloc::vec::Vec;

use super::amount::Satoshis;
use super::hash::sha256d;
use super::keys::PrivateKey;
use super::tx::{OutPoint, Transaction, TxIn, TxOut};
use crate::encode::write_compact_size;

/// `SIGHASH_ALL | SIGHASH_FORKID` (fork id 0), the only type the service signs.
pub const SIGHASH_ALL_FORKID: u32 = 0x41;

/// The digest an input's signature commits to (BIP143 as BSV uses it with FORKID): the
/// spent output's script and value, every outpoint, sequence and output of the spending
/// transaction.
pub fn sighash(
    tx: &Transaction,
    input: usize,
    script_code: &[u8],
    value: Satoshis,
    sighash_type: u32,
) -> Option<[u8; 32]> {
    let this = tx.inputs.get(input)?;
    let mut prevouts = Vec::with_capacity(tx.inputs.len() * 36);
    let mut sequences = Vec::with_capacity(tx.inputs.len() * 4);
    for i in &tx.inputs {
        prevouts.extend_from_slice(i.prevout.txid.as_byte_array());
        prevouts.extend_from_slice(&i.prevout.vout.to_le_bytes());
        sequences.extend_from_slice(&i.sequence.to_le_bytes());
    }
    let mut outputs = Vec::new();
    for o in &tx.outputs {
        outputs.extend_from_slice(&o.value.to_sat().to_le_bytes());
        write_compact_size(&mut outputs, o.script_pubkey.len() as u64);
        outputs.extend_from_slice(&o.script_pubkey);
    }
    let mut pre = Vec::with_capacity(160 + script_code.len());
    pre.extend_from_slice(&tx.version.to_le_bytes());
    pre.extend_from_slice(&sha256d(&prevouts));
    pre.extend_from_slice(&sha256d(&sequences));
    pre.extend_from_slice(this.prevout.txid.as_byte_array());
    pre.extend_from_slice(&this.prevout.vout.to_le_bytes());
    write_compact_size(&mut pre, script_code.len() as u64);
    pre.extend_from_slice(script_code);
    pre.extend_from_slice(&value.to_sat().to_le_bytes());
    pre.extend_from_slice(&this.sequence.to_le_bytes());
    pre.extend_from_slice(&sha256d(&outputs));
    pre.extend_from_slice(&tx.lock_time.to_le_bytes());
    pre.extend_from_slice(&sighash_type.to_le_bytes());
    Some(sha256d(&pre))
}

/// DER encoding of a signature's (r, s) (strict, minimal: BIP66).
pub fn der(r: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, v: &[u8; 32]) {
        let start = v.iter().position(|b| *b != 0).unwrap_or(31);
        let body = &v[start..];
        let pad = body[0] & 0x80 != 0;
        out.push(0x02);
        out.push((body.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(body);
    }
    let mut inner = Vec::with_capacity(72);
    int(&mut inner, r);
    int(&mut inner, s);
    let mut out = Vec::with_capacity(inner.len() + 2);
    out.push(0x30);
    out.push(inner.len() as u8);
    out.extend_from_slice(&inner);
    out
}

/// Why a transaction could not be built or signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxBuildError {
    /// The inputs do not cover the outputs and the fee.
    #[error("inputs hold {have} sat, outputs and fee need {need}")]
    Insufficient {
        /// Satoshis in.
        have: Satoshis,
        /// Satoshis needed.
        need: Satoshis,
    },
    /// No inputs or no outputs, or a zero output.
    #[error("a payout needs inputs and non-zero outputs")]
    Empty,
    /// Arithmetic overflow.
    #[error("satoshi overflow")]
    Overflow,
    /// The signer failed (not expected for a valid key).
    #[error("signing failed")]
    Signing,
}

/// An output the wallet can spend with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utxo {
    /// Where it is.
    pub outpoint: OutPoint,
    /// Its value.
    pub value: Satoshis,
    /// Its locking script (P2PKH to the wallet's key).
    pub script_pubkey: Vec<u8>,
}

/// Serialized size of a P2PKH input with a compressed key and a worst-case signature.
const P2PKH_INPUT: u64 = 32 + 4 + 1 + 1 + 73 + 1 + 33 + 4;

/// Builds and signs a transaction spending every `utxo` (all P2PKH to `key`) to `outputs`,
/// with change to `change_script` when above `dust`. The fee is `sat_per_kb` per 1000
/// bytes of the signed size (estimated from worst-case signatures, rounded up).
///
/// # Errors
/// [`TxBuildError`].
pub fn build_p2pkh(
    key: &PrivateKey,
    utxos: &[Utxo],
    outputs: &[TxOut],
    change_script: &[u8],
    sat_per_kb: u64,
    dust: Satoshis,
) -> Result<Transaction, TxBuildError> {
    if utxos.is_empty() || outputs.is_empty() || outputs.iter().any(|o| o.value.is_zero()) {
        return Err(TxBuildError::Empty);
    }
    let have =
        Satoshis::checked_sum(utxos.iter().map(|u| u.value)).ok_or(TxBuildError::Overflow)?;
    let pay =
        Satoshis::checked_sum(outputs.iter().map(|o| o.value)).ok_or(TxBuildError::Overflow)?;
    let mut tx = Transaction {
        version: 1,
        inputs: utxos
            .iter()
            .map(|u| TxIn {
                prevout: u.outpoint,
                script_sig: Vec::new(),
                sequence: 0xffff_ffff,
            })
            .collect(),
        outputs: outputs.to_vec(),
        lock_time: 0,
    };
    let size = |tx: &Transaction| -> u64 {
        tx.encode().len() as u64 + P2PKH_INPUT.saturating_sub(41) * tx.inputs.len() as u64
    };
    let fee_for = |bytes: u64| Satoshis(bytes.saturating_mul(sat_per_kb).div_ceil(1000));
    let fee_no_change = fee_for(size(&tx));
    let need = pay
        .checked_add(fee_no_change)
        .ok_or(TxBuildError::Overflow)?;
    if have < need {
        return Err(TxBuildError::Insufficient { have, need });
    }
    let mut with_change = tx.clone();
    with_change.outputs.push(TxOut {
        value: Satoshis::ZERO,
        script_pubkey: change_script.to_vec(),
    });
    let fee_change = fee_for(size(&with_change));
    if let Some(change) = have
        .checked_sub(pay)
        .and_then(|r| r.checked_sub(fee_change))
        && change > dust
    {
        if let Some(last) = with_change.outputs.last_mut() {
            last.value = change;
        }
        tx = with_change;
    }
    sign_all(key, &mut tx, utxos)?;
    Ok(tx)
}

/// Signs every input (P2PKH to `key`) with `SIGHASH_ALL | SIGHASH_FORKID`.
///
/// # Errors
/// [`TxBuildError::Signing`].
pub fn sign_all(
    key: &PrivateKey,
    tx: &mut Transaction,
    utxos: &[Utxo],
) -> Result<(), TxBuildError> {
    let pubkey = key.public_key().to_bytes();
    let mut scripts = Vec::with_capacity(utxos.len());
    for (i, u) in utxos.iter().enumerate() {
        let digest = sighash(tx, i, &u.script_pubkey, u.value, SIGHASH_ALL_FORKID)
            .ok_or(TxBuildError::Signing)?;
        // RFC 6979 nonce; k256 normalizes s to the low half (BIP62 rule, required by BSV).
        let (sig, _) = key
            .key
            .sign_prehash_recoverable(&digest)
            .map_err(|_| TxBuildError::Signing)?;
        let sig = sig.normalize_s().unwrap_or(sig);
        let bytes = sig.to_bytes();
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        let mut sig_push = der(&r, &s);
        sig_push.push(SIGHASH_ALL_FORKID as u8);
        let mut script = Vec::with_capacity(sig_push.len() + pubkey.len() + 2);
        script.push(sig_push.len() as u8);
        script.extend_from_slice(&sig_push);
        script.push(pubkey.len() as u8);
        script.extend_from_slice(&pubkey);
        scripts.push(script);
    }
    for (i, s) in scripts.into_iter().enumerate() {
        tx.inputs[i].script_sig = s;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_is_minimal() {
        let mut r = [0u8; 32];
        r[31] = 1;
        let mut s = [0u8; 32];
        s[0] = 0x80;
        let d = der(&r, &s);
        assert_eq!(&d[..5], &[0x30, 3 + 2 + 33, 0x02, 1, 1]);
        assert_eq!(&d[5..8], &[0x02, 33, 0x00]);
    }
}
