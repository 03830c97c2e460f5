//! Stand-ins for Galaxy's services, which cannot be built here (DESIGN §10, §13).
//!
//! They speak the real wire format (a little-endian `u32` length, then bincode 2 standard
//! config of a serde enum, requests in an envelope carrying `auth_token`), and behave like
//! the services the adapters expect: the Transaction service checks that a broadcast
//! spends outputs it knows and does not create money, moves them from the UTXO set to a
//! mempool, and mines the mempool one block at a time as statuses are asked; the Storage
//! service answers UTXO queries from the same set, so a payout's change and its outputs
//! show up there as they would on a node.
//!
//! The message types are written here independently of the service's client, so that a
//! change on either side that breaks the format fails the tests.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use torrent_core::bsv::tx::{Transaction, TxLimits};

/// The wire contract.
pub mod wire {
    use serde::{Deserialize, Serialize};

    /// A request with the caller's credentials.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Envelope<T> {
        /// Galaxy's shared token.
        pub auth_token: String,
        /// The request.
        pub request: T,
    }

    /// Transaction service requests.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub enum TxRequest {
        /// Relay a raw transaction.
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

    /// Transaction state.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub enum TxState {
        /// Unknown.
        Unknown,
        /// In the mempool.
        Mempool,
        /// Mined.
        Mined {
            /// Height.
            height: u64,
        },
    }

    /// Transaction service responses.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub enum TxResponse {
        /// Accepted.
        Accepted {
            /// Txid.
            txid: [u8; 32],
        },
        /// Refused.
        Rejected {
            /// Why.
            reason: String,
        },
        /// A status.
        Status {
            /// Txid.
            txid: [u8; 32],
            /// State.
            state: TxState,
        },
        /// Not understood or not allowed.
        Error {
            /// Why.
            message: String,
        },
    }

    /// Storage requests.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub enum StorageRequest {
        /// Unspent outputs locked by a script.
        Utxos {
            /// Locking script.
            script_pubkey: Vec<u8>,
        },
    }

    /// An unspent output.
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

    /// Storage responses.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub enum StorageResponse {
        /// UTXOs.
        Utxos(Vec<GalaxyUtxo>),
        /// Not understood or not allowed.
        Error {
            /// Why.
            message: String,
        },
    }

    /// Validation requests.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub enum ValidationRequest {
        /// Decide these proofs.
        Verify(Vec<torrent_core::verdict::VerifyRequest>),
    }

    /// Validation responses.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub enum ValidationResponse {
        /// One verdict per request.
        Verdicts(Vec<torrent_core::verdict::Verdict>),
        /// Not understood or not allowed.
        Error {
            /// Why.
            message: String,
        },
    }

    /// Alert requests.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub enum AlertRequest {
        /// An operator alert.
        Raise {
            /// Which alert.
            kind: String,
            /// What happened.
            message: String,
            /// Unix milliseconds.
            at_ms: u64,
        },
    }

    /// Alert responses.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub enum AlertResponse {
        /// Recorded.
        Ack,
        /// Not understood or not allowed.
        Error {
            /// Why.
            message: String,
        },
    }
}

use wire::{
    AlertRequest, AlertResponse, Envelope, GalaxyUtxo, StorageRequest, StorageResponse, TxRequest,
    TxResponse, TxState, ValidationRequest, ValidationResponse,
};

const MAX_FRAME: u32 = 16 << 20;

fn read<T: DeserializeOwned>(s: &mut TcpStream) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body)?;
    bincode::serde::decode_from_slice(&body, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

fn write<T: Serialize>(s: &mut TcpStream, v: &T) -> std::io::Result<()> {
    let body = bincode::serde::encode_to_vec(v, bincode::config::standard())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    s.write_all(&out)
}

#[derive(Debug, Default)]
struct Chain {
    utxos: BTreeMap<([u8; 32], u32), (u64, Vec<u8>)>,
    mempool: BTreeMap<[u8; 32], u32>,
    mined: BTreeMap<[u8; 32], u64>,
    height: u64,
    broadcasts: Vec<Vec<u8>>,
    alerts: Vec<(String, String)>,
    validations: u64,
}

impl Chain {
    fn broadcast(&mut self, raw: &[u8]) -> TxResponse {
        self.broadcasts.push(raw.to_vec());
        let tx = match Transaction::decode(raw, &TxLimits::default()) {
            Ok(t) => t,
            Err(e) => {
                return TxResponse::Rejected {
                    reason: format!("malformed: {e}"),
                };
            }
        };
        let txid = tx.txid().to_byte_array();
        if self.mempool.contains_key(&txid) || self.mined.contains_key(&txid) {
            return TxResponse::Accepted { txid };
        }
        let mut value_in = 0u64;
        for i in &tx.inputs {
            match self
                .utxos
                .get(&(i.prevout.txid.to_byte_array(), i.prevout.vout))
            {
                Some((v, _)) => value_in += v,
                None => {
                    return TxResponse::Rejected {
                        reason: format!(
                            "missing or spent input {}:{}",
                            i.prevout.txid, i.prevout.vout
                        ),
                    };
                }
            }
        }
        let value_out: u64 = tx.outputs.iter().map(|o| o.value).sum();
        if value_out > value_in {
            return TxResponse::Rejected {
                reason: format!("outputs {value_out} exceed inputs {value_in}"),
            };
        }
        for i in &tx.inputs {
            self.utxos
                .remove(&(i.prevout.txid.to_byte_array(), i.prevout.vout));
        }
        for (n, o) in tx.outputs.iter().enumerate() {
            self.utxos
                .insert((txid, n as u32), (o.value, o.script_pubkey.clone()));
        }
        self.mempool.insert(txid, 0);
        TxResponse::Accepted { txid }
    }

    fn status(&mut self, txid: [u8; 32]) -> TxState {
        if let Some(h) = self.mined.get(&txid) {
            return TxState::Mined { height: *h };
        }
        match self.mempool.get_mut(&txid) {
            // The first question finds it in the mempool; by the next, a block has it.
            Some(0) => {
                self.mempool.insert(txid, 1);
                TxState::Mempool
            }
            Some(_) => {
                self.height += 1;
                let h = self.height;
                for (t, _) in std::mem::take(&mut self.mempool) {
                    self.mined.insert(t, h);
                }
                TxState::Mined { height: h }
            }
            None => TxState::Unknown,
        }
    }
}

/// Running stand-ins for the Transaction and Storage services.
#[derive(Debug, Clone)]
pub struct StandIn {
    /// Transaction service address.
    pub transaction: SocketAddr,
    /// Storage service address.
    pub storage: SocketAddr,
    chain: Arc<Mutex<Chain>>,
}

fn serve<Q, A>(
    l: TcpListener,
    token: String,
    chain: Arc<Mutex<Chain>>,
    answer: fn(&mut Chain, Q) -> A,
    refuse: fn(String) -> A,
) where
    Q: DeserializeOwned + Send + 'static,
    A: Serialize + Send + 'static,
{
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (token, chain) = (token.clone(), Arc::clone(&chain));
            std::thread::spawn(move || {
                let mut s = s;
                while let Ok(env) = read::<Envelope<Q>>(&mut s) {
                    let reply = if env.auth_token == token {
                        let mut c = chain
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        answer(&mut c, env.request)
                    } else {
                        refuse("auth_token refused".into())
                    };
                    if write(&mut s, &reply).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

impl StandIn {
    /// Starts both services on `transaction` and `storage` (`host:port`, port 0 for any),
    /// holding `utxos` at the start.
    ///
    /// # Errors
    /// Addresses that cannot be bound.
    pub fn start(
        transaction: &str,
        storage: &str,
        auth_token: &str,
        utxos: &[GalaxyUtxo],
    ) -> std::io::Result<Self> {
        let mut chain = Chain::default();
        for u in utxos {
            chain
                .utxos
                .insert((u.txid, u.vout), (u.satoshis, u.script_pubkey.clone()));
        }
        let chain = Arc::new(Mutex::new(chain));
        let t = TcpListener::bind(transaction)?;
        let s = TcpListener::bind(storage)?;
        let me = Self {
            transaction: t.local_addr()?,
            storage: s.local_addr()?,
            chain: Arc::clone(&chain),
        };
        serve(
            t,
            auth_token.to_string(),
            Arc::clone(&chain),
            |c, q: TxRequest| match q {
                TxRequest::Broadcast { raw_tx } => c.broadcast(&raw_tx),
                TxRequest::Status { txid } => TxResponse::Status {
                    txid,
                    state: c.status(txid),
                },
            },
            |message| TxResponse::Error { message },
        );
        serve(
            s,
            auth_token.to_string(),
            chain,
            |c, q: StorageRequest| match q {
                StorageRequest::Utxos { script_pubkey } => StorageResponse::Utxos(
                    c.utxos
                        .iter()
                        .filter(|(_, (_, s))| *s == script_pubkey)
                        .map(|((t, v), (sat, s))| GalaxyUtxo {
                            txid: *t,
                            vout: *v,
                            satoshis: *sat,
                            script_pubkey: s.clone(),
                        })
                        .collect(),
                ),
            },
            |message| StorageResponse::Error { message },
        );
        Ok(me)
    }

    /// Also serves the Validation service on `validation` (verdicts from `torrent_core`, as
    /// Galaxy's validator would give) and the Alert service on `alert` (recorded); returns
    /// their addresses.
    ///
    /// # Errors
    /// Addresses that cannot be bound.
    pub fn serve_validation_and_alerts(
        &self,
        validation: &str,
        alert: &str,
        auth_token: &str,
    ) -> std::io::Result<(SocketAddr, SocketAddr)> {
        let v = TcpListener::bind(validation)?;
        let a = TcpListener::bind(alert)?;
        let addrs = (v.local_addr()?, a.local_addr()?);
        serve(
            v,
            auth_token.to_string(),
            Arc::clone(&self.chain),
            |c, q: ValidationRequest| match q {
                ValidationRequest::Verify(reqs) => {
                    c.validations += reqs.len() as u64;
                    ValidationResponse::Verdicts(torrent_core::verdict::verify_all(&reqs))
                }
            },
            |message| ValidationResponse::Error { message },
        );
        serve(
            a,
            auth_token.to_string(),
            Arc::clone(&self.chain),
            |c, q: AlertRequest| match q {
                AlertRequest::Raise { kind, message, .. } => {
                    c.alerts.push((kind, message));
                    AlertResponse::Ack
                }
            },
            |message| AlertResponse::Error { message },
        );
        Ok(addrs)
    }

    /// Alerts received, `(kind, message)`, in order.
    pub fn alerts(&self) -> Vec<(String, String)> {
        self.chain
            .lock()
            .map(|c| c.alerts.clone())
            .unwrap_or_default()
    }

    /// Proofs the Validation stand-in decided.
    pub fn validations(&self) -> u64 {
        self.chain.lock().map(|c| c.validations).unwrap_or(0)
    }

    /// Every raw transaction broadcast so far, in order (repeats included).
    pub fn broadcasts(&self) -> Vec<Vec<u8>> {
        self.chain
            .lock()
            .map(|c| c.broadcasts.clone())
            .unwrap_or_default()
    }

    /// The unspent outputs locked by `script`.
    pub fn utxos_of(&self, script: &[u8]) -> Vec<(u64, [u8; 32], u32)> {
        self.chain
            .lock()
            .map(|c| {
                c.utxos
                    .iter()
                    .filter(|(_, (_, s))| s == script)
                    .map(|((t, v), (sat, _))| (*sat, *t, *v))
                    .collect()
            })
            .unwrap_or_default()
    }
}
