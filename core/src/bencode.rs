//! Bencode (BEP 3) through `bendy`: strict, canonical decoding with limits, canonical
//! encoding, and access to a dictionary value's raw bytes.
//!
//! Info-hashes are hashes of the bytes of the `info` dictionary *as they appear in the
//! .torrent*. Re-encoding a parsed `info` would silently "fix" a non-canonical torrent and
//! give a different hash, so [`raw_dict_value`] hands out the original bytes and the
//! metainfo code hashes those. `bendy` rejects unsorted or repeated keys, leading zeros and
//! `-0`, so anything [`decode`] accepts re-encodes to the same bytes.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use bendy::decoding::{Decoder, Object};
use bendy::encoding::{SingleItemEncoder, ToBencode};

/// Limits for decoding untrusted bencode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest input accepted, bytes.
    pub max_len: usize,
    /// Deepest nesting of lists and dictionaries.
    pub max_depth: usize,
}

impl Default for Limits {
    /// 64 MiB (a .torrent of a 1 TB bundle with 16 KiB pieces is about 1.3 GB of hashes,
    /// but bundles use large pieces: their torrents stay well under a megabyte) and depth 32
    /// (a v2 file tree is name dict, directory dicts, file dict, "" dict).
    fn default() -> Self {
        Self {
            max_len: 64 << 20,
            max_depth: 32,
        }
    }
}

/// Why bytes are not acceptable bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BencodeError {
    /// Input longer than the limit.
    #[error("bencode of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Malformed or non-canonical bencode, or nesting beyond the limit; the detail is
    /// bendy's description, which names the offset for syntax errors.
    #[error("malformed bencode: {detail}")]
    Malformed {
        /// What bendy found.
        detail: String,
    },
    /// An integer that does not fit in an `i64`.
    #[error("integer {digits} does not fit in 64 bits")]
    IntegerOverflow {
        /// The digits.
        digits: String,
    },
    /// Bytes after the single top-level value.
    #[error("trailing data after the top-level value")]
    TrailingData,
    /// Empty input.
    #[error("empty input")]
    Empty,
}

impl From<bendy::decoding::Error> for BencodeError {
    fn from(e: bendy::decoding::Error) -> Self {
        BencodeError::Malformed {
            detail: e.to_string(),
        }
    }
}

/// A decoded bencode value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Integer.
    Int(i64),
    /// Byte string.
    Bytes(Vec<u8>),
    /// List.
    List(Vec<Value>),
    /// Dictionary; keys are kept sorted, so encoding is canonical by construction.
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// Returns the dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&BTreeMap<Vec<u8>, Value>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Returns the list, if this is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Returns the bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Returns the integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Looks up `key` in a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?.get(key.as_bytes())
    }

    /// Returns the canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        // Encoding a `Value` cannot fail: keys come sorted from the BTreeMap and the depth
        // is whatever the caller built, which bendy's default encoder limit (2048) exceeds.
        self.to_bencode().unwrap_or_default()
    }
}

impl ToBencode for Value {
    const MAX_DEPTH: usize = 2048;

    fn encode(&self, e: SingleItemEncoder<'_>) -> Result<(), bendy::encoding::Error> {
        match self {
            Value::Int(i) => e.emit_int(*i),
            Value::Bytes(b) => e.emit_bytes(b),
            Value::List(l) => e.emit_list(|e| {
                for v in l {
                    e.emit(v)?;
                }
                Ok(())
            }),
            Value::Dict(d) => e.emit_dict(|mut e| {
                for (k, v) in d {
                    e.emit_pair(k, v)?;
                }
                Ok(())
            }),
        }
    }
}

/// A builder shorthand: a dictionary from `(key, value)` pairs.
pub fn dict<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

/// A builder shorthand: a byte string from text.
pub fn text(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

/// Decodes exactly one value.
///
/// # Errors
/// [`BencodeError`].
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Value, BencodeError> {
    if bytes.len() > limits.max_len {
        return Err(BencodeError::TooLong {
            len: bytes.len(),
            max: limits.max_len,
        });
    }
    let mut d = Decoder::new(bytes).with_max_depth(limits.max_depth);
    let v = match d.next_object()? {
        Some(o) => convert(o)?,
        None => return Err(BencodeError::Empty),
    };
    if d.next_object()?.is_some() {
        return Err(BencodeError::TrailingData);
    }
    Ok(v)
}

fn convert(o: Object<'_, '_>) -> Result<Value, BencodeError> {
    Ok(match o {
        Object::Integer(digits) => {
            Value::Int(digits.parse().map_err(|_| BencodeError::IntegerOverflow {
                digits: digits.to_string(),
            })?)
        }
        Object::Bytes(b) => Value::Bytes(b.to_vec()),
        Object::List(mut l) => {
            let mut out = Vec::new();
            while let Some(item) = l.next_object()? {
                out.push(convert(item)?);
            }
            Value::List(out)
        }
        Object::Dict(mut d) => {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = d.next_pair()? {
                out.insert(k.to_vec(), convert(v)?);
            }
            Value::Dict(out)
        }
    })
}

/// Returns the raw bytes of the value under `key` in the top-level dictionary, exactly as
/// they appear in `bytes` (for hashing the `info` dictionary).
///
/// # Errors
/// [`BencodeError`] when `bytes` is not a valid dictionary.
pub fn raw_dict_value<'a>(
    bytes: &'a [u8],
    key: &str,
    limits: &Limits,
) -> Result<Option<&'a [u8]>, BencodeError> {
    if bytes.len() > limits.max_len {
        return Err(BencodeError::TooLong {
            len: bytes.len(),
            max: limits.max_len,
        });
    }
    let mut d = Decoder::new(bytes).with_max_depth(limits.max_depth);
    let Some(Object::Dict(mut top)) = d.next_object()? else {
        return Err(BencodeError::Malformed {
            detail: "top-level value is not a dictionary".to_string(),
        });
    };
    let mut found = None;
    while let Some((k, v)) = top.next_pair()? {
        if k == key.as_bytes() {
            found = Some(match v {
                Object::Dict(inner) => inner.into_raw()?,
                Object::List(inner) => inner.into_raw()?,
                Object::Bytes(_) | Object::Integer(_) => {
                    return Err(BencodeError::Malformed {
                        detail: alloc::format!("`{key}` is not a dictionary or list"),
                    });
                }
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_canonical_rules() {
        let src = b"d3:bar4:spam3:fooi42e4:listli-7e0:ee";
        let v = decode(src, &Limits::default()).unwrap();
        assert_eq!(v.encode(), src);
        assert_eq!(v.get("foo").and_then(Value::as_int), Some(42));
        for bad in [
            &b"d3:fooi1e3:bari2ee"[..], // unsorted keys
            b"d3:fooi1e3:fooi2ee",      // repeated key
            b"i03e",                    // leading zero
            b"i-0e",                    // negative zero
            b"4:abc",                   // truncated string
            b"i1ei2e",                  // trailing value
            b"",                        // empty
            b"i99999999999999999999e",  // overflow
            b"l",
        ] {
            assert!(
                decode(bad, &Limits::default()).is_err(),
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
        let deep = [b"l".repeat(40), b"e".repeat(40)].concat();
        assert!(decode(&deep, &Limits::default()).is_err());
        assert!(
            decode(
                &deep,
                &Limits {
                    max_len: 1000,
                    max_depth: 64
                }
            )
            .is_ok()
        );
        assert!(matches!(
            decode(
                src,
                &Limits {
                    max_len: 4,
                    max_depth: 8
                }
            ),
            Err(BencodeError::TooLong { .. })
        ));
    }

    #[test]
    fn raw_value_is_the_original_bytes() {
        let src = b"d8:announce3:url4:infod4:name1:x6:lengthi1eee";
        // Keys inside `info` are unsorted here: decoding the whole thing fails, but…
        assert!(decode(src, &Limits::default()).is_err());
        // …asking for the raw value reports it too rather than hashing bad bytes.
        assert!(raw_dict_value(src, "info", &Limits::default()).is_err());
        let ok = b"d8:announce3:url4:infod6:lengthi1e4:name1:xee";
        assert_eq!(
            raw_dict_value(ok, "info", &Limits::default()).unwrap(),
            Some(&b"d6:lengthi1e4:name1:xe"[..])
        );
        assert_eq!(
            raw_dict_value(ok, "nope", &Limits::default()).unwrap(),
            None
        );
    }
}
