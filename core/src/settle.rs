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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

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
