//! Seeder registration: the canonical message a wallet signs with BSM (DESIGN §5).
//!
//! ```text
//! torrent_service seeder registration
//! domain: <host:port of the tracker>
//! address: <P2PKH address>
//! nonce: <32 lowercase hex chars>
//! issued_at: <unix seconds>
//! ```
//!
//! Lines are joined by `\n` with no trailing newline, so any wallet or SDK that can sign a
//! string can register. The domain line stops a registration made for one tracker from being
//! replayed at another (the idea of EIP-4361 sign-in messages); the nonce and the time window
//! stop replays at the same tracker (the host remembers used nonces).

use alloc::string::String;

use crate::bsv::bsm::{self, BsmError};
use crate::bsv::keys::{Address, KeyError};
use crate::bsv::network::Network;

/// First line of the message.
pub const TITLE: &str = "torrent_service seeder registration";

/// Why a registration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// Not a P2PKH address.
    #[error("invalid address: {0}")]
    Address(#[from] KeyError),
    /// An address of another network than the tracker's.
    #[error("address is for another network")]
    WrongNetwork,
    /// The nonce is not 32 lowercase hex characters.
    #[error("nonce must be 32 lowercase hex characters")]
    Nonce,
    /// `issued_at` too far from the tracker's clock.
    #[error("issued_at {issued_at} is outside the {window_s} s window around {now}")]
    Expired {
        /// The claimed time.
        issued_at: u64,
        /// The tracker's time.
        now: u64,
        /// The allowed distance.
        window_s: u64,
    },
    /// The signature does not verify for the address.
    #[error("bad signature: {0}")]
    Signature(#[from] BsmError),
}

impl RegistrationError {
    /// A short machine-friendly reason (metrics label).
    pub fn reason(&self) -> &'static str {
        match self {
            RegistrationError::Address(_) => "address",
            RegistrationError::WrongNetwork => "network",
            RegistrationError::Nonce => "nonce",
            RegistrationError::Expired { .. } => "expired",
            RegistrationError::Signature(_) => "signature",
        }
    }
}

/// The request body of `POST /register`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// P2PKH address of the seeder's key.
    pub address: String,
    /// `issued_at` of the message, Unix seconds.
    pub timestamp: u64,
    /// 32 lowercase hex characters, never reused.
    pub nonce: String,
    /// BSM signature, base64.
    pub signature: String,
}

/// Returns the exact message to sign.
pub fn message(domain: &str, address: &str, nonce: &str, issued_at: u64) -> String {
    alloc::format!(
        "{TITLE}\ndomain: {domain}\naddress: {address}\nnonce: {nonce}\nissued_at: {issued_at}"
    )
}

/// Checks a registration for the tracker at `domain` on `network`; returns the address.
/// Nonce reuse is the host's to check (it needs storage).
///
/// # Errors
/// [`RegistrationError`].
pub fn verify(
    req: &RegistrationRequest,
    domain: &str,
    network: Network,
    now_secs: u64,
    window_s: u64,
) -> Result<Address, RegistrationError> {
    let address = Address::parse(&req.address)?;
    let wanted = if network == Network::Regtest {
        Network::Testnet
    } else {
        network
    };
    if address.network != wanted {
        return Err(RegistrationError::WrongNetwork);
    }
    if req.nonce.len() != 32
        || !req
            .nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(RegistrationError::Nonce);
    }
    if req.timestamp.abs_diff(now_secs) > window_s {
        return Err(RegistrationError::Expired {
            issued_at: req.timestamp,
            now: now_secs,
            window_s,
        });
    }
    let msg = message(domain, &req.address, &req.nonce, req.timestamp);
    bsm::verify(&address, msg.as_bytes(), &req.signature)?;
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bsv::keys::PrivateKey;

    /// Made with @bsv/sdk 2.1.0 `BSM.sign` (see tests/interop/bsm.mjs for the live check).
    const SDK_WIF: &str = "L1uyy5qTuGrVXrmrsvHWHgVzW9kKdrp27wBC7Vs6nZDTF2BRUVwy";
    const SDK_ADDRESS: &str = "17XBj6iFEsf8kzDMGQk5ghZipxX49VXuaV";
    const SDK_SIG: &str =
        "ICQXBJN2azdJLSCxTrfEikey0KkBX0n4W5M5rEkaS06pIMtFj/XW1cc88J8ogCXiWbtqVUkELiKOQwlIu3dwzOg=";

    fn sdk_request() -> RegistrationRequest {
        RegistrationRequest {
            address: SDK_ADDRESS.into(),
            timestamp: 1_700_000_000,
            nonce: "00112233445566778899aabbccddeeff".into(),
            signature: SDK_SIG.into(),
        }
    }

    #[test]
    fn sdk_signed_registration_verifies_and_we_sign_identically() {
        let req = sdk_request();
        let a = verify(&req, "127.0.0.1:6969", Network::Mainnet, 1_700_000_100, 300).unwrap();
        assert_eq!(alloc::string::ToString::to_string(&a), SDK_ADDRESS);
        let key = PrivateKey::from_wif(SDK_WIF).unwrap();
        let msg = message("127.0.0.1:6969", SDK_ADDRESS, &req.nonce, req.timestamp);
        assert_eq!(bsm::sign(&key, msg.as_bytes()).unwrap(), SDK_SIG);
    }

    #[test]
    fn forged_and_stale_registrations_are_refused() {
        let req = sdk_request();
        // Another tracker's domain: the signature no longer matches.
        assert!(matches!(
            verify(
                &req,
                "evil.example:6969",
                Network::Mainnet,
                1_700_000_000,
                300
            ),
            Err(RegistrationError::Signature(_))
        ));
        assert!(matches!(
            verify(&req, "127.0.0.1:6969", Network::Mainnet, 1_700_000_301, 300),
            Err(RegistrationError::Expired { .. })
        ));
        assert_eq!(
            verify(&req, "127.0.0.1:6969", Network::Testnet, 1_700_000_000, 300),
            Err(RegistrationError::WrongNetwork)
        );
        let mut bad = req.clone();
        bad.nonce = "XYZ".into();
        assert_eq!(
            verify(&bad, "127.0.0.1:6969", Network::Mainnet, 1_700_000_000, 300),
            Err(RegistrationError::Nonce)
        );
        let mut bad = req.clone();
        bad.timestamp += 1;
        assert!(matches!(
            verify(&bad, "127.0.0.1:6969", Network::Mainnet, 1_700_000_000, 300),
            Err(RegistrationError::Signature(_))
        ));
        let mut bad = req;
        bad.address = "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH".into();
        assert!(matches!(
            verify(&bad, "127.0.0.1:6969", Network::Mainnet, 1_700_000_000, 300),
            Err(RegistrationError::Signature(BsmError::WrongSigner { .. }))
        ));
    }
}
