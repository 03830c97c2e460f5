//! Keys, P2PKH addresses, WIF and Base58Check.
//!
//! Private keys are secp256k1 scalars (k256); an address is Base58Check of the network's
//! P2PKH version byte and HASH160 (RIPEMD-160 of SHA-256) of the serialized public key.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use k256::ecdsa::{SigningKey, VerifyingKey};
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

use super::hash::sha256d;
use super::network::Network;

/// Why a key, address or Base58 string is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A character outside the Base58 alphabet.
    #[error("invalid base58 character at offset {offset}")]
    Base58Char {
        /// Offset of the character.
        offset: usize,
    },
    /// The 4-byte checksum does not match.
    #[error("base58check checksum mismatch")]
    Checksum,
    /// Wrong payload length or version byte.
    #[error("unexpected {what}")]
    Format {
        /// What was wrong.
        what: &'static str,
    },
    /// A scalar that is zero or not below the curve order.
    #[error("invalid secret key")]
    InvalidSecret,
}

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Encodes bytes in Base58.
pub fn base58_encode(data: &[u8]) -> String {
    let zeros = data.iter().take_while(|&&b| b == 0).count();
    // Big-endian base-58 digits, least significant last.
    let mut digits: Vec<u8> = Vec::with_capacity(data.len() * 138 / 100 + 1);
    for &byte in &data[zeros..] {
        let mut carry = u32::from(byte);
        for d in digits.iter_mut().rev() {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.insert(0, (carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = String::with_capacity(zeros + digits.len());
    for _ in 0..zeros {
        out.push('1');
    }
    for d in digits {
        out.push(char::from(ALPHABET[usize::from(d)]));
    }
    out
}

/// Decodes Base58.
///
/// # Errors
/// [`KeyError::Base58Char`].
pub fn base58_decode(s: &str) -> Result<Vec<u8>, KeyError> {
    let zeros = s.bytes().take_while(|&b| b == b'1').count();
    let mut bytes: Vec<u8> = Vec::with_capacity(s.len());
    for (offset, c) in s.bytes().enumerate().skip(zeros) {
        let mut carry = ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or(KeyError::Base58Char { offset })? as u32;
        for b in bytes.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = alloc::vec![0u8; zeros];
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// Base58Check: payload plus the first 4 bytes of its SHA-256d.
pub fn base58check_encode(payload: &[u8]) -> String {
    let mut v = payload.to_vec();
    v.extend_from_slice(&sha256d(payload)[..4]);
    base58_encode(&v)
}

/// Decodes Base58Check and returns the payload.
///
/// # Errors
/// [`KeyError`].
pub fn base58check_decode(s: &str) -> Result<Vec<u8>, KeyError> {
    let v = base58_decode(s)?;
    if v.len() < 4 {
        return Err(KeyError::Format {
            what: "base58check length",
        });
    }
    let (payload, check) = v.split_at(v.len() - 4);
    if sha256d(payload)[..4] != *check {
        return Err(KeyError::Checksum);
    }
    Ok(payload.to_vec())
}

/// RIPEMD-160(SHA-256(data)).
pub fn hash160(data: &[u8]) -> [u8; 20] {
    Ripemd160::digest(Sha256::digest(data)).into()
}

/// A P2PKH address: network and public-key hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    /// The network whose version byte it carries (testnet and regtest share one).
    pub network: Network,
    /// HASH160 of the public key.
    pub hash: [u8; 20],
}

impl Address {
    /// Returns the P2PKH locking script: `OP_DUP OP_HASH160 <hash> OP_EQUALVERIFY OP_CHECKSIG`.
    pub fn script_pubkey(&self) -> Vec<u8> {
        let mut s = alloc::vec![0x76, 0xa9, 0x14];
        s.extend_from_slice(&self.hash);
        s.extend_from_slice(&[0x88, 0xac]);
        s
    }

    /// Parses an address of any network (testnet and regtest addresses read as testnet).
    ///
    /// # Errors
    /// [`KeyError`].
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let p = base58check_decode(s)?;
        let [version, rest @ ..] = p.as_slice() else {
            return Err(KeyError::Format {
                what: "empty address",
            });
        };
        let network = match *version {
            0x00 => Network::Mainnet,
            0x6f => Network::Testnet,
            _ => {
                return Err(KeyError::Format {
                    what: "address version byte",
                });
            }
        };
        let hash: [u8; 20] = rest.try_into().map_err(|_| KeyError::Format {
            what: "address length",
        })?;
        Ok(Self { network, hash })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut p = alloc::vec![self.network.p2pkh_prefix()];
        p.extend_from_slice(&self.hash);
        f.write_str(&base58check_encode(&p))
    }
}

impl FromStr for Address {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A public key, remembered with its serialization form (addresses differ by form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    /// The point.
    pub key: VerifyingKey,
    /// Serialized compressed (33 bytes) or not (65).
    pub compressed: bool,
}

impl PublicKey {
    /// Returns the serialized key.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.key
            .to_encoded_point(self.compressed)
            .as_bytes()
            .to_vec()
    }

    /// Returns the P2PKH address on `network`.
    pub fn address(&self, network: Network) -> Address {
        Address {
            network: if network == Network::Regtest {
                Network::Testnet
            } else {
                network
            },
            hash: hash160(&self.to_bytes()),
        }
    }
}

/// A private key with its WIF flags.
#[derive(Clone)]
pub struct PrivateKey {
    /// The scalar.
    pub key: SigningKey,
    /// Whether the public key is used compressed.
    pub compressed: bool,
    /// The network of its WIF and addresses.
    pub network: Network,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// Builds a key from 32 secret bytes.
    ///
    /// # Errors
    /// [`KeyError::InvalidSecret`] for zero or out-of-range scalars.
    pub fn from_bytes(secret: &[u8; 32], network: Network) -> Result<Self, KeyError> {
        let key = SigningKey::from_bytes(secret.into()).map_err(|_| KeyError::InvalidSecret)?;
        Ok(Self {
            key,
            compressed: true,
            network,
        })
    }

    /// Parses WIF (mainnet `0x80`, testnet `0xef`), compressed or not.
    ///
    /// # Errors
    /// [`KeyError`].
    pub fn from_wif(s: &str) -> Result<Self, KeyError> {
        let p = base58check_decode(s.trim())?;
        let network = match p.first() {
            Some(0x80) => Network::Mainnet,
            Some(0xef) => Network::Testnet,
            _ => {
                return Err(KeyError::Format {
                    what: "WIF version byte",
                });
            }
        };
        let compressed = match p.len() {
            33 => false,
            34 if p[33] == 0x01 => true,
            _ => return Err(KeyError::Format { what: "WIF length" }),
        };
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&p[1..33]);
        let mut k = Self::from_bytes(&secret, network)?;
        k.compressed = compressed;
        Ok(k)
    }

    /// Returns the WIF.
    pub fn to_wif(&self) -> String {
        let mut p = alloc::vec![if self.network == Network::Mainnet {
            0x80
        } else {
            0xef
        }];
        p.extend_from_slice(&self.key.to_bytes());
        if self.compressed {
            p.push(0x01);
        }
        base58check_encode(&p)
    }

    /// Returns the public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: *self.key.verifying_key(),
            compressed: self.compressed,
        }
    }

    /// Returns the key's P2PKH address.
    pub fn address(&self) -> Address {
        self.public_key().address(self.network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn known_wif_and_address() {
        // Secret key 1: the well-known compressed address 1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH.
        let mut one = [0u8; 32];
        one[31] = 1;
        let k = PrivateKey::from_bytes(&one, Network::Mainnet).unwrap();
        assert_eq!(
            k.address().to_string(),
            "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"
        );
        assert_eq!(
            k.to_wif(),
            "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn"
        );
        let back = PrivateKey::from_wif(&k.to_wif()).unwrap();
        assert_eq!(back.address(), k.address());
        let mut u = k.clone();
        u.compressed = false;
        assert_eq!(
            u.address().to_string(),
            "1EHNa6Q4Jz2uvNExL497mE43ikXhwF6kZm"
        );
        assert_eq!(
            u.to_wif(),
            "5HpHagT65TZzG1PH3CSu63k8DbpvD8s5ip4nEB3kEsreAnchuDf"
        );
        assert_eq!(
            Address::parse("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH").unwrap(),
            k.address()
        );
        assert_eq!(
            Address::parse("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMh"),
            Err(KeyError::Checksum)
        );
        assert!(Address::parse("0OIl").is_err());
        assert!(PrivateKey::from_bytes(&[0; 32], Network::Mainnet).is_err());
    }
}
