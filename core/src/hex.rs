//! Lower-case hexadecimal, without a dependency: the core needs it for display of hashes and
//! for the JSON proof formats.

use alloc::string::String;
use alloc::vec::Vec;

/// Why a hex string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexError {
    /// The string has an odd number of digits.
    #[error("hex string has odd length {len}")]
    OddLength {
        /// Length of the string in bytes.
        len: usize,
    },
    /// A character that is not a hex digit.
    #[error("invalid hex character at offset {offset}")]
    InvalidChar {
        /// Byte offset of the bad character.
        offset: usize,
    },
    /// The string decodes to the wrong number of bytes for a fixed-size value.
    #[error("expected {expected} bytes of hex, got {got}")]
    WrongLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes the string held.
        got: usize,
    },
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Returns `bytes` as lower-case hex.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn digit(c: u8, offset: usize) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HexError::InvalidChar { offset }),
    }
}

/// Decodes hex (either case) into bytes.
///
/// # Errors
/// [`HexError::OddLength`] or [`HexError::InvalidChar`].
pub fn decode(s: &str) -> Result<Vec<u8>, HexError> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(HexError::OddLength { len: bytes.len() });
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = digit(pair[0], 2 * i)?;
        let lo = digit(pair[1], 2 * i + 1)?;
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

/// Decodes hex into exactly `N` bytes.
///
/// # Errors
/// As [`decode`], plus [`HexError::WrongLength`].
pub fn decode_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    if s.len() != 2 * N {
        if !s.len().is_multiple_of(2) {
            return Err(HexError::OddLength { len: s.len() });
        }
        return Err(HexError::WrongLength {
            expected: N,
            got: s.len() / 2,
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        out[i] = digit(pair[0], 2 * i)? << 4 | digit(pair[1], 2 * i + 1)?;
    }
    Ok(out)
}

/// Serde for a type that travels as its hex string (hashes, info-hashes): `Serialize` writes
/// its `Display`, `Deserialize` reads it back with its `FromStr`.
macro_rules! serde_as_hex {
    ($name:ty) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <alloc::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_as_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(decode("00ABff").unwrap(), [0x00, 0xab, 0xff]);
        assert_eq!(decode("abc"), Err(HexError::OddLength { len: 3 }));
        assert_eq!(decode("zz"), Err(HexError::InvalidChar { offset: 0 }));
        assert_eq!(
            decode_array::<2>("aabbcc"),
            Err(HexError::WrongLength {
                expected: 2,
                got: 3
            })
        );
        assert_eq!(decode_array::<2>("aabb").unwrap(), [0xaa, 0xbb]);
    }
}
