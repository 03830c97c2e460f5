//! Galaxy adapters (DESIGN §10, §13): Galaxy's services speak length-prefixed bincode over
//! TCP. Each message is a little-endian `u32` length, then bincode 2 (standard config) of
//! a serde value; requests travel in an [`Envelope`] carrying `auth_token`.
//!
//! The client here is blocking (`std::net`), with a connect and I/O timeout, a frame limit
//! checked before anything is allocated, and retries with exponential backoff on transport
//! failures (refused connection, timeout, a dropped stream). An answer the service gives,
//! an error included, is never retried: retrying a refused broadcast would not change it.
//!
//! The message enums are the contract between this service and Galaxy's Transaction (50052),
//! Storage (50053), Validation (50057) and Alert (50061) services; `tests/` holds stand-ins
//! speaking the same frames.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A request with the caller's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Galaxy's shared operator token (Auth service, 50060).
    pub auth_token: String,
    /// The request.
    pub request: T,
}

/// Transaction service (50052) requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxRequest {
    /// Validate and relay a raw transaction.
    Broadcast {
        /// Serialized transaction.
        raw_tx: Vec<u8>,
    },
    /// Where a transaction stands.
    Status {
        /// Txid, internal byte order.
        txid: [u8; 32],
    },
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxState {
    /// Not known to the node.
    Unknown,
    /// In the mempool.
    Mempool,
    /// Mined at this height.
    Mined {
        /// Block height.
        height: u64,
    },
}

/// Transaction service (50052) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxResponse {
    /// Accepted (or already known).
    Accepted {
        /// Txid, internal byte order.
        txid: [u8; 32],
    },
    /// Refused by policy or consensus.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Answer to [`TxRequest::Status`].
    Status {
        /// Txid.
        txid: [u8; 32],
        /// State.
        state: TxState,
    },
    /// The request was not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Storage service (50053) requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageRequest {
    /// Unspent outputs locked by a script.
    Utxos {
        /// The locking script (the payout wallet's P2PKH script).
        script_pubkey: Vec<u8>,
    },
}

/// An unspent output as Storage reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GalaxyUtxo {
    /// Txid, internal byte order.
    pub txid: [u8; 32],
    /// Output index.
    pub vout: u32,
    /// Value.
    pub satoshis: u64,
    /// Locking script.
    pub script_pubkey: Vec<u8>,
}

/// Storage service (50053) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageResponse {
    /// Answer to [`StorageRequest::Utxos`].
    Utxos(Vec<GalaxyUtxo>),
    /// The request was not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Validation service (50057) requests: the core's verification requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidationRequest {
    /// Decide these proofs.
    Verify(Vec<torrent_core::verdict::VerifyRequest>),
}

/// Validation service (50057) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidationResponse {
    /// One verdict per request, in order.
    Verdicts(Vec<torrent_core::verdict::Verdict>),
    /// Not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Alert service (50061) requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertRequest {
    /// An operator alert (the same events as the log and `torrent_service_alerts_total`).
    Raise {
        /// Which alert (`seeder_slashed`, `bundle_under_seeded`, `payout_unfunded`).
        kind: String,
        /// What happened.
        message: String,
        /// Unix milliseconds.
        at_ms: u64,
    },
}

/// Alert service (50061) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertResponse {
    /// Recorded.
    Ack,
    /// Not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum GalaxyError {
    /// The service could not be reached or the stream broke, after every retry.
    #[error("{service} at {addr}: {message} (after {attempts} attempts)")]
    Unreachable {
        /// Which service.
        service: &'static str,
        /// Where.
        addr: String,
        /// Last transport error.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A frame over the limit, or bytes that do not decode.
    #[error("{service} at {addr}: {message}")]
    Protocol {
        /// Which service.
        service: &'static str,
        /// Where.
        addr: String,
        /// What was wrong.
        message: String,
    },
}

/// Writes one frame.
///
/// # Errors
/// I/O errors, or a message over `max_frame` once encoded.
pub fn write_frame<T: Serialize>(
    w: &mut impl Write,
    msg: &T,
    max_frame: u32,
) -> std::io::Result<()> {
    let body = bincode::serde::encode_to_vec(msg, bincode::config::standard())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= max_frame)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "frame of {} bytes is over the {max_frame} byte limit",
                    body.len()
                ),
            )
        })?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    w.write_all(&out)?;
    w.flush()
}

/// Reads one frame; a length over `max_frame` is refused before allocating.
///
/// # Errors
/// I/O errors ([`std::io::ErrorKind::InvalidData`] for an oversized or undecodable frame).
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read, max_frame: u32) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > max_frame {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the {max_frame} byte limit"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    let (v, used) = bincode::serde::decode_from_slice(&body, bincode::config::standard())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    if used != body.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} trailing bytes after the message", body.len() - used),
        ));
    }
    Ok(v)
}

/// Connection settings for one Galaxy service.
#[derive(Debug, Clone)]
pub struct GalaxyClient {
    /// Service name, for messages.
    pub service: &'static str,
    /// `host:port`.
    pub addr: String,
    /// Sent with every request.
    pub auth_token: String,
    /// Largest frame accepted or sent.
    pub max_frame: u32,
    /// Connect, read and write timeout.
    pub timeout: Duration,
    /// Attempts on transport failure (at least 1).
    pub attempts: u32,
    /// First backoff; doubled after each failure.
    pub backoff: Duration,
}

impl GalaxyClient {
    fn once<Q: Serialize, A: DeserializeOwned>(&self, req: &Q) -> std::io::Result<A> {
        let mut last = None;
        for sa in self.addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&sa, self.timeout) {
                Ok(mut s) => {
                    s.set_read_timeout(Some(self.timeout))?;
                    s.set_write_timeout(Some(self.timeout))?;
                    s.set_nodelay(true)?;
                    let env = Envelope {
                        auth_token: self.auth_token.clone(),
                        request: req,
                    };
                    write_frame(&mut s, &env, self.max_frame)?;
                    return read_frame(&mut s, self.max_frame);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "address resolves to nothing")
        }))
    }

    /// One request, one answer; transport failures are retried with backoff.
    ///
    /// # Errors
    /// [`GalaxyError`].
    pub fn call<Q: Serialize, A: DeserializeOwned>(&self, req: &Q) -> Result<A, GalaxyError> {
        let attempts = self.attempts.max(1);
        let mut wait = self.backoff;
        let mut message = String::new();
        for n in 1..=attempts {
            match self.once(req) {
                Ok(a) => return Ok(a),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(GalaxyError::Protocol {
                        service: self.service,
                        addr: self.addr.clone(),
                        message: e.to_string(),
                    });
                }
                Err(e) => {
                    message = e.to_string();
                    tracing::debug!(service = self.service, addr = %self.addr, attempt = n, "galaxy call failed: {e}");
                    if n < attempts {
                        std::thread::sleep(wait);
                        wait = wait.saturating_mul(2).min(Duration::from_secs(30));
                    }
                }
            }
        }
        Err(GalaxyError::Unreachable {
            service: self.service,
            addr: self.addr.clone(),
            message,
            attempts,
        })
    }
}

/// The Galaxy clients the config describes.
#[derive(Debug, Clone)]
pub struct Galaxy {
    /// Transaction service.
    pub transaction: GalaxyClient,
    /// Storage service.
    pub storage: GalaxyClient,
    /// Validation service.
    pub validation: GalaxyClient,
    /// Alert service.
    pub alert: GalaxyClient,
}

impl Galaxy {
    /// Clients from the config's `galaxy_*` keys.
    pub fn from_config(c: &crate::config::Config) -> Self {
        let client = |service, port: u16| GalaxyClient {
            service,
            addr: format!("{}:{port}", c.galaxy_host),
            auth_token: c.auth_token.clone(),
            max_frame: c.galaxy_max_frame,
            timeout: Duration::from_millis(c.galaxy_timeout_ms),
            attempts: c.galaxy_attempts,
            backoff: Duration::from_millis(200),
        };
        Self {
            transaction: client("Transaction", c.galaxy_transaction_port),
            storage: client("Storage", c.galaxy_storage_port),
            validation: client("Validation", c.galaxy_validation_port),
            alert: client("Alert", c.galaxy_alert_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_lengths_are_refused_before_allocation() {
        let msg = Envelope {
            auth_token: "t".into(),
            request: TxRequest::Broadcast {
                raw_tx: vec![1, 2, 3],
            },
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &msg, 1024).unwrap();
        assert_eq!(
            u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize,
            buf.len() - 4
        );
        let back: Envelope<TxRequest> = read_frame(&mut buf.as_slice(), 1024).unwrap();
        assert_eq!(back, msg);
        // A 4 GiB length is refused from its 4 bytes alone.
        let huge = [0xff, 0xff, 0xff, 0xff];
        let e = read_frame::<TxResponse>(&mut &huge[..], 1 << 20).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(write_frame(&mut Vec::new(), &msg, 4).is_err());
        // Garbage after a valid length: a decode error, not a panic.
        let mut junk = 3u32.to_le_bytes().to_vec();
        junk.extend_from_slice(&[0xfe, 0xfe, 0xfe]);
        assert!(read_frame::<TxResponse>(&mut junk.as_slice(), 1024).is_err());
    }

    #[test]
    fn transport_failures_are_retried_then_named() {
        // A port with nothing listening.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let c = GalaxyClient {
            service: "Transaction",
            addr: addr.clone(),
            auth_token: String::new(),
            max_frame: 1024,
            timeout: Duration::from_millis(200),
            attempts: 3,
            backoff: Duration::from_millis(10),
        };
        let e = c
            .call::<_, TxResponse>(&TxRequest::Status { txid: [0; 32] })
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("Transaction")
                && text.contains(&addr)
                && text.contains("after 3 attempts"),
            "{text}"
        );
    }
}
