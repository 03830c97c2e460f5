//! Amounts of money, in satoshis.
//!
//! A satoshi count is a type of its own so that it never mixes with the other `u64`s beside
//! it (bytes, heights, milliseconds, account ids), and its arithmetic is checked: a sum that
//! would overflow is an error, never a wrapped number. Serialized as the bare number
//! (`#[serde(transparent)]`), so JSON and stored records read as before.

use core::fmt;
use core::iter::Sum;

/// An amount of satoshis (1 BSV = 100,000,000).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Satoshis(pub u64);

impl Satoshis {
    /// Nothing.
    pub const ZERO: Self = Self(0);

    /// The number of satoshis.
    pub const fn to_sat(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` below zero.
    #[must_use]
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self × n`, or `None` on overflow.
    #[must_use]
    pub const fn checked_mul(self, n: u64) -> Option<Self> {
        match self.0.checked_mul(n) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self + other`, or the largest amount on overflow (for counters that only compare).
    #[must_use]
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// `self - other`, or zero below it.
    #[must_use]
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The sum of `amounts`, or `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Self>>(amounts: I) -> Option<Self> {
        amounts
            .into_iter()
            .try_fold(Self::ZERO, |acc, a| acc.checked_add(a))
    }
}

/// For totals that are reported, not spent (metrics, summaries): all the satoshis there will
/// ever be fit in a `u64` eight thousand times over, so a real sum never reaches the top;
/// one that would saturates there rather than wrap. Money that moves uses
/// [`Satoshis::checked_add`] or [`Satoshis::checked_sum`].
impl Sum for Satoshis {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        Self(iter.fold(0u64, |acc, a| acc.saturating_add(a.0)))
    }
}

/// The bare number, as it was written before amounts had a type (logs, messages, CLI lines).
impl fmt::Display for Satoshis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u64> for Satoshis {
    fn from(v: u64) -> Self {
        Self(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_checked_and_serde_is_the_bare_number() {
        let max = Satoshis(u64::MAX);
        assert_eq!(max.checked_add(Satoshis(1)), None);
        assert_eq!(Satoshis(1).checked_sub(Satoshis(2)), None);
        assert_eq!(Satoshis(3).checked_mul(u64::MAX), None);
        assert_eq!(Satoshis(5).saturating_sub(Satoshis(7)), Satoshis::ZERO);
        assert_eq!(Satoshis::checked_sum([Satoshis(1), max]), None);
        assert_eq!(
            Satoshis::checked_sum([Satoshis(1), Satoshis(2)]),
            Some(Satoshis(3))
        );
        assert_eq!([max, max].into_iter().sum::<Satoshis>(), max, "saturates");
        assert_eq!(serde_json::to_string(&Satoshis(100_000)).unwrap(), "100000");
        assert_eq!(
            serde_json::from_str::<Satoshis>("42").unwrap(),
            Satoshis(42)
        );
        assert_eq!(alloc::format!("{} sat", Satoshis(7)), "7 sat");
    }
}
