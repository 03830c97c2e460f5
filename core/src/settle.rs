//! Which inputs a payout must spend after others were abandoned (DESIGN §15 "Payouts").
//!
//! An abandoned payout is a signed transaction that may still be mined: the operator gave
//! up on it, not the network. The only way to make sure its seeders are not paid twice is
//! for the next payout to conflict with it: to spend at least one of its inputs, so that
//! at most one of the two can ever be mined. Its change does not help (a payout spending it
//! is valid only if the abandoned one is mined, so both would be).
//!
//! The host knows, for each input an abandoned payout released, whether that input may
//! still be spent: always with its own wallet file, and only when the UTXO source (Galaxy
//! Storage) reports it unspent otherwise. An input reported spent or unknown means the
//! abandoned payout may have been mined; if none of its inputs is left, no payout can
//! conflict with it and settlement must stop until the operator finds out what happened.

use alloc::vec::Vec;

use crate::bsv::amount::Satoshis;
use crate::bsv::keys::PrivateKey;
use crate::bsv::p2pkh::{TxBuildError, Utxo, build_p2pkh};
use crate::bsv::tx::{Transaction, TxOut};

/// An input released by an abandoned payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released<P, O> {
    /// The abandoned payout that released it.
    pub payout: P,
    /// The outpoint.
    pub outpoint: O,
    /// Whether it may still be spent.
    pub spendable: bool,
}

/// Returns the released outpoints the next payout must spend: every spendable one (the
/// more it spends, the more abandoned payouts it conflicts with), provided each abandoned
/// payout keeps at least one; otherwise the first payout that keeps none.
///
/// # Errors
/// An abandoned payout none of whose inputs may be spent (it may have been mined).
pub fn inputs_after_abandon<P: PartialEq + Clone, O: Clone>(
    released: &[Released<P, O>],
) -> Result<Vec<O>, P> {
    for r in released {
        if !released.iter().any(|o| o.payout == r.payout && o.spendable) {
            return Err(r.payout.clone());
        }
    }
    Ok(released
        .iter()
        .filter(|r| r.spendable)
        .map(|r| r.outpoint.clone())
        .collect())
}

/// Funds and signs a payout (DESIGN §9): every input in `must` (what
/// [`inputs_after_abandon`] chose), then as few of `rest` as pay for `outputs` and the fee,
/// largest first (the fewest inputs, the smallest transaction); change to `change_script`
/// when above `dust`. Returns the transaction and how many inputs it spends: the first
/// that many of `must` followed by `rest` in that order.
///
/// # Errors
/// [`TxBuildError::Insufficient`] when every input together is not enough, or another
/// [`TxBuildError`].
pub fn fund(
    key: &PrivateKey,
    must: &[Utxo],
    rest: &[Utxo],
    outputs: &[TxOut],
    change_script: &[u8],
    sat_per_kb: u64,
    dust: Satoshis,
) -> Result<(Transaction, Vec<Utxo>), TxBuildError> {
    let mut rest = rest.to_vec();
    rest.sort_by(|a, b| {
        b.value
            .cmp(&a.value)
            .then(a.outpoint.vout.cmp(&b.outpoint.vout))
    });
    let candidates: Vec<Utxo> = must.iter().cloned().chain(rest).collect();
    let mut built = Err(TxBuildError::Empty);
    for n in must.len().max(1)..=candidates.len() {
        built = build_p2pkh(
            key,
            &candidates[..n],
            outputs,
            change_script,
            sat_per_kb,
            dust,
        );
        if !matches!(built, Err(TxBuildError::Insufficient { .. })) {
            return built.map(|tx| (tx, candidates[..n].to_vec()));
        }
    }
    built.map(|tx| (tx, candidates))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Network;
    use crate::Txid;
    use crate::bsv::tx::OutPoint;
    use alloc::vec;

    fn utxo(key: &PrivateKey, n: u8, value: u64) -> Utxo {
        Utxo {
            outpoint: OutPoint {
                txid: Txid::from_byte_array([n; 32]),
                vout: u32::from(n),
            },
            value: Satoshis(value),
            script_pubkey: key.address().script_pubkey(),
        }
    }

    #[test]
    fn a_payout_spends_what_it_must_then_the_fewest_largest_inputs() {
        let key = PrivateKey::from_bytes(&[7; 32], Network::Mainnet).unwrap();
        let change = key.address().script_pubkey();
        let pay = [TxOut {
            value: Satoshis(50_000),
            script_pubkey: change.clone(),
        }];
        let rest = [
            utxo(&key, 1, 10_000),
            utxo(&key, 2, 90_000),
            utxo(&key, 3, 40_000),
        ];
        // The largest alone pays.
        let (tx, spent) = fund(&key, &[], &rest, &pay, &change, 500, Satoshis(1)).unwrap();
        assert_eq!(spent, vec![rest[1].clone()]);
        assert_eq!(tx.inputs.len(), 1);
        // A released input is spent even when not needed, and first.
        let must = [utxo(&key, 9, 1_000)];
        let (_, spent) = fund(&key, &must, &rest, &pay, &change, 500, Satoshis(1)).unwrap();
        assert_eq!(spent, vec![must[0].clone(), rest[1].clone()]);
        // Not enough in all of them together.
        let big = [TxOut {
            value: Satoshis(1_000_000),
            script_pubkey: change.clone(),
        }];
        assert!(matches!(
            fund(&key, &[], &rest, &big, &change, 500, Satoshis(1)),
            Err(TxBuildError::Insufficient { .. })
        ));
        assert_eq!(
            fund(&key, &[], &[], &pay, &change, 500, Satoshis(1)).map(|_| ()),
            Err(TxBuildError::Empty)
        );
    }

    fn r(payout: u8, outpoint: u32, spendable: bool) -> Released<u8, u32> {
        Released {
            payout,
            outpoint,
            spendable,
        }
    }

    #[test]
    fn every_abandoned_payout_keeps_a_conflicting_input_or_settlement_stops() {
        assert_eq!(inputs_after_abandon::<u8, u32>(&[]), Ok(vec![]));
        // Payout 1 lost one input of two: the other still makes a conflict.
        assert_eq!(
            inputs_after_abandon(&[r(1, 10, false), r(1, 11, true), r(2, 20, true)]),
            Ok(vec![11, 20])
        );
        // Payout 2's only input is spent: it may have been mined.
        assert_eq!(
            inputs_after_abandon(&[r(1, 10, true), r(2, 20, false)]),
            Err(2)
        );
    }
}
