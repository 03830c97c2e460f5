//! A minimal unsigned 256-bit integer for proof-of-work targets and chain work.
//!
//! Only what header validation needs: comparison, addition with overflow detection,
//! shifts, bitwise not and division. No panicking operator overloads.

use core::cmp::Ordering;
use core::fmt;

/// An unsigned 256-bit integer; limb 0 is the least significant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct U256([u64; 4]);

impl U256 {
    /// Zero.
    pub const ZERO: Self = Self([0; 4]);
    /// One.
    pub const ONE: Self = Self([1, 0, 0, 0]);
    /// 2^256 - 1.
    pub const MAX: Self = Self([u64::MAX; 4]);

    /// Builds a value from a `u64`.
    pub const fn from_u64(v: u64) -> Self {
        Self([v, 0, 0, 0])
    }

    /// Reads 32 little-endian bytes (the way Bitcoin reads a hash as a number).
    pub fn from_le_bytes(b: [u8; 32]) -> Self {
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            *limb = u64::from_le_bytes(w);
        }
        Self(limbs)
    }

    /// Returns the 32 big-endian bytes.
    pub fn to_be_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for i in 0..4 {
            out[i * 8..i * 8 + 8].copy_from_slice(&self.0[3 - i].to_be_bytes());
        }
        out
    }

    /// Returns true for zero.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    /// Returns the number of significant bits.
    pub fn bits(&self) -> u32 {
        for i in (0..4).rev() {
            if self.0[i] != 0 {
                return 64 * i as u32 + (64 - self.0[i].leading_zeros());
            }
        }
        0
    }

    /// Returns `self + rhs`, or `None` on overflow.
    #[must_use]
    pub fn checked_add(self, rhs: Self) -> Option<Self> {
        let mut out = [0u64; 4];
        let mut carry = false;
        for (i, o) in out.iter_mut().enumerate() {
            let (s1, c1) = self.0[i].overflowing_add(rhs.0[i]);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *o = s2;
            carry = c1 || c2;
        }
        (!carry).then_some(Self(out))
    }

    /// Returns `self - rhs`, or `None` when `rhs > self`.
    #[must_use]
    pub fn checked_sub(self, rhs: Self) -> Option<Self> {
        let mut out = [0u64; 4];
        let mut borrow = false;
        for (i, o) in out.iter_mut().enumerate() {
            let (d1, b1) = self.0[i].overflowing_sub(rhs.0[i]);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *o = d2;
            borrow = b1 || b2;
        }
        (!borrow).then_some(Self(out))
    }

    /// Returns `self << n`, dropping bits shifted out; `n >= 256` gives zero.
    #[must_use]
    pub fn shl_bits(self, n: u32) -> Self {
        if n >= 256 {
            return Self::ZERO;
        }
        let (words, bits) = ((n / 64) as usize, n % 64);
        let mut out = [0u64; 4];
        for i in (words..4).rev() {
            out[i] = self.0[i - words] << bits;
            if bits > 0 && i > words {
                out[i] |= self.0[i - words - 1] >> (64 - bits);
            }
        }
        Self(out)
    }

    /// Returns `self >> n`; `n >= 256` gives zero.
    #[must_use]
    pub fn shr_bits(self, n: u32) -> Self {
        if n >= 256 {
            return Self::ZERO;
        }
        let (words, bits) = ((n / 64) as usize, n % 64);
        let mut out = [0u64; 4];
        for (i, o) in out.iter_mut().enumerate().take(4 - words) {
            *o = self.0[i + words] >> bits;
            if bits > 0 && i + words + 1 < 4 {
                *o |= self.0[i + words + 1] << (64 - bits);
            }
        }
        Self(out)
    }

    /// Returns the bitwise complement.
    #[must_use]
    pub fn complement(self) -> Self {
        Self(self.0.map(|l| !l))
    }

    fn bit(&self, i: u32) -> bool {
        (self.0[(i / 64) as usize] >> (i % 64)) & 1 == 1
    }

    /// Returns `self / rhs`, or `None` when `rhs` is zero.
    #[must_use]
    pub fn checked_div(self, rhs: Self) -> Option<Self> {
        if rhs.is_zero() {
            return None;
        }
        let mut quotient = Self::ZERO;
        let mut rem = Self::ZERO;
        for i in (0..self.bits()).rev() {
            rem = rem.shl_bits(1);
            if self.bit(i) {
                rem.0[0] |= 1;
            }
            if rem >= rhs {
                // rem >= rhs, so the subtraction cannot underflow.
                rem = rem.checked_sub(rhs).unwrap_or(Self::ZERO);
                quotient.0[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        Some(quotient)
    }
}

impl Ord for U256 {
    fn cmp(&self, other: &Self) -> Ordering {
        for i in (0..4).rev() {
            match self.0[i].cmp(&other.0[i]) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for U256 {
    /// Formats as 64 lower-case hex digits, most significant first (as `chainwork` in RPC).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in self.0.iter().rev() {
            write!(f, "{l:016x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for U256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U256(0x{self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let a = U256::from_u64(u64::MAX);
        let b = a.checked_add(U256::ONE).unwrap();
        assert_eq!(b, U256::ONE.shl_bits(64));
        assert_eq!(b.shr_bits(64), U256::ONE);
        assert_eq!(U256::MAX.checked_add(U256::ONE), None);
        assert_eq!(U256::ZERO.checked_sub(U256::ONE), None);
        assert_eq!(
            U256::ONE.shl_bits(200).checked_div(U256::ONE.shl_bits(100)),
            Some(U256::ONE.shl_bits(100))
        );
        assert_eq!(
            U256::from_u64(1000).checked_div(U256::from_u64(7)),
            Some(U256::from_u64(142))
        );
        assert_eq!(U256::ONE.checked_div(U256::ZERO), None);
        assert_eq!(U256::MAX.complement(), U256::ZERO);
        assert_eq!(U256::ONE.shl_bits(255).bits(), 256);
    }
}
