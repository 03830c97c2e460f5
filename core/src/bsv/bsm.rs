//! Bitcoin Signed Message (BSM): the `signmessage`/`verifymessage` scheme every BSV wallet
//! and SDK implements.
//!
//! The signed digest is SHA-256d of `varstr("Bitcoin Signed Message:\n") || varstr(message)`.
//! The signature is 65 bytes, base64: a header byte `27 + recovery id (+ 4 when the key is
//! compressed)`, then `r` and `s`. Verification recovers the public key and compares its
//! address with the claimed one. Signing is RFC 6979 deterministic with low `s`.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use super::hash::sha256d;
use super::keys::{Address, PrivateKey, PublicKey};
use crate::encode::write_compact_size;

const MAGIC: &[u8] = b"Bitcoin Signed Message:\n";

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BsmError {
    /// Not base64, or not 65 bytes.
    #[error("signature is not 65 bytes of base64")]
    Encoding,
    /// Header byte outside 27..=34.
    #[error("invalid signature header byte {header}")]
    Header {
        /// The byte.
        header: u8,
    },
    /// `r`/`s` out of range, or no key recovers.
    #[error("malformed signature")]
    Malformed,
    /// The recovered key's address is not the claimed one.
    #[error("signature is by {recovered}, not {claimed}")]
    WrongSigner {
        /// The address claimed.
        claimed: Address,
        /// The address the signature recovers to.
        recovered: Address,
    },
    /// Signing failed (a key that cannot sign; not expected for valid keys).
    #[error("signing failed")]
    Signing,
}

/// Returns the digest BSM signs for `message`.
pub fn message_hash(message: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(MAGIC.len() + message.len() + 10);
    write_compact_size(&mut buf, MAGIC.len() as u64);
    buf.extend_from_slice(MAGIC);
    write_compact_size(&mut buf, message.len() as u64);
    buf.extend_from_slice(message);
    sha256d(&buf)
}

/// Signs `message`; returns the base64 compact signature.
///
/// # Errors
/// [`BsmError::Signing`] (not expected for a valid key).
pub fn sign(key: &PrivateKey, message: &[u8]) -> Result<String, BsmError> {
    let hash = message_hash(message);
    let (sig, recid) = key
        .key
        .sign_prehash_recoverable(&hash)
        .map_err(|_| BsmError::Signing)?;
    let mut out = [0u8; 65];
    out[0] = 27 + recid.to_byte() + if key.compressed { 4 } else { 0 };
    out[1..].copy_from_slice(&sig.to_bytes());
    Ok(STANDARD.encode(out))
}

/// Recovers the signer's public key from a base64 compact signature.
///
/// # Errors
/// [`BsmError`].
pub fn recover(message: &[u8], signature_b64: &str) -> Result<PublicKey, BsmError> {
    let raw = STANDARD
        .decode(signature_b64.trim())
        .map_err(|_| BsmError::Encoding)?;
    let raw: [u8; 65] = raw.try_into().map_err(|_| BsmError::Encoding)?;
    let header = raw[0];
    if !(27..=34).contains(&header) {
        return Err(BsmError::Header { header });
    }
    let compressed = (header - 27) & 4 != 0;
    let mut recid = (header - 27) & 3;
    let mut sig = Signature::from_slice(&raw[1..]).map_err(|_| BsmError::Malformed)?;
    // Some wallets emit high-s signatures; the negated s recovers the same key with the
    // other parity.
    if let Some(low) = sig.normalize_s() {
        sig = low;
        recid ^= 1;
    }
    let recid = RecoveryId::from_byte(recid).ok_or(BsmError::Malformed)?;
    let key = VerifyingKey::recover_from_prehash(&message_hash(message), &sig, recid)
        .map_err(|_| BsmError::Malformed)?;
    Ok(PublicKey { key, compressed })
}

/// Verifies that `signature_b64` over `message` was made by the key of `address`.
///
/// # Errors
/// [`BsmError`], [`BsmError::WrongSigner`] when it verifies for another key.
pub fn verify(address: &Address, message: &[u8], signature_b64: &str) -> Result<(), BsmError> {
    let recovered = recover(message, signature_b64)?.address(address.network);
    if recovered != *address {
        return Err(BsmError::WrongSigner {
            claimed: *address,
            recovered,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsv::network::Network;

    #[test]
    fn sign_verify_and_known_vector() {
        let mut secret = [0u8; 32];
        secret[31] = 1;
        let k = PrivateKey::from_bytes(&secret, Network::Mainnet).unwrap();
        let sig = sign(&k, b"hello").unwrap();
        verify(&k.address(), b"hello", &sig).unwrap();
        assert!(matches!(
            verify(&k.address(), b"hellO", &sig),
            Err(BsmError::WrongSigner { .. })
        ));
        let mut other = [0u8; 32];
        other[31] = 2;
        let k2 = PrivateKey::from_bytes(&other, Network::Mainnet).unwrap();
        assert!(verify(&k2.address(), b"hello", &sig).is_err());
        assert_eq!(
            verify(&k.address(), b"hello", "bm90IGEgc2ln"),
            Err(BsmError::Encoding)
        );
        // Deterministic (RFC 6979): the same key and message give the same signature.
        assert_eq!(sign(&k, b"hello").unwrap(), sig);
    }
}
