//! Where payout transactions go (`broadcaster`): ARC, a WhatsOnChain-style endpoint,
//! Galaxy's Transaction service, or a folder of raw transactions for the operator to send.

use super::Payout;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use torrent_core::{Txid, hex};

/// Where payout transactions go (config `broadcaster`).
#[derive(Debug, Clone)]
pub enum Broadcaster {
    /// Files in a directory (`<txid>.hex` and `<txid>.json`), for the operator's node or
    /// wallet to send: the default, and what works with no network at all.
    Outbox(PathBuf),
    /// An ARC-compatible endpoint: `POST {url}/v1/tx`, status from `GET {url}/v1/tx/{txid}`.
    Arc {
        /// Base URL.
        url: String,
        /// Bearer token, if the endpoint wants one.
        api_key: Option<crate::config::Secret>,
    },
    /// Galaxy's Transaction service.
    Galaxy(crate::galaxy::GalaxyClient),
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("part");
    {
        use std::io::Write;
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

impl Broadcaster {
    /// Sends `p`; returns who accepted it.
    ///
    /// # Errors
    /// The endpoint refused it or could not be reached.
    pub fn broadcast(&self, p: &Payout) -> Result<String> {
        match self {
            Self::Galaxy(c) => {
                use crate::galaxy::{TxRequest, TxResponse};
                let raw = hex::decode(&p.raw_tx).map_err(|e| anyhow::anyhow!("{e}"))?;
                match c.call::<_, TxResponse>(&TxRequest::Broadcast { raw_tx: raw })? {
                    TxResponse::Accepted { txid } => {
                        let t = Txid::from_byte_array(txid).to_string();
                        if t != p.txid {
                            bail!("Galaxy Transaction accepted txid {t}, we sent {}", p.txid);
                        }
                        Ok(format!("galaxy transaction {}", c.addr))
                    }
                    TxResponse::Rejected { reason } => {
                        bail!("Galaxy Transaction rejected it: {reason}")
                    }
                    other => bail!("Galaxy Transaction answered {other:?}"),
                }
            }
            Self::Outbox(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let mut json = serde_json::to_vec_pretty(p)?;
                json.push(b'\n');
                write_atomic(&dir.join(format!("{}.json", p.txid)), &json)?;
                write_atomic(
                    &dir.join(format!("{}.hex", p.txid)),
                    format!("{}\n", p.raw_tx).as_bytes(),
                )?;
                Ok(format!("outbox {}", dir.display()))
            }
            Self::Arc { url, api_key } => {
                let endpoint = format!("{}/v1/tx", url.trim_end_matches('/'));
                let mut req = agent()
                    .post(&endpoint)
                    .header("Content-Type", "application/json");
                if let Some(k) = api_key {
                    req = req.header("Authorization", &format!("Bearer {}", k.expose()));
                }
                let mut resp = req
                    .send(
                        serde_json::json!({ "rawTx": p.raw_tx })
                            .to_string()
                            .as_bytes(),
                    )
                    .with_context(|| format!("POST {endpoint}"))?;
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_json()
                    .unwrap_or(serde_json::Value::Null);
                if !(200..300).contains(&status) {
                    bail!(
                        "ARC {endpoint} answered {status}: {}",
                        body.get("detail")
                            .or(body.get("title"))
                            .and_then(|v| v.as_str())
                            .unwrap_or("no detail")
                    );
                }
                if let Some(t) = body.get("txid").and_then(|v| v.as_str())
                    && t != p.txid
                {
                    bail!("ARC {endpoint} accepted txid {t}, we sent {}", p.txid);
                }
                Ok(format!(
                    "arc {} {}",
                    url,
                    body.get("txStatus")
                        .and_then(|v| v.as_str())
                        .unwrap_or("accepted")
                ))
            }
        }
    }

    /// `Some(height)` once the transaction is mined (height when known); `None` while it
    /// is not, or when this broadcaster cannot tell (the outbox: the operator confirms).
    ///
    /// # Errors
    /// The endpoint could not be asked.
    pub fn status(&self, txid: &str) -> Result<Option<Option<u64>>> {
        match self {
            Self::Galaxy(c) => {
                use crate::galaxy::{TxRequest, TxResponse, TxState};
                let t: Txid = txid.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                match c.call::<_, TxResponse>(&TxRequest::Status {
                    txid: t.to_byte_array(),
                })? {
                    TxResponse::Status {
                        state: TxState::Mined { height },
                        ..
                    } => Ok(Some(Some(height))),
                    TxResponse::Status { .. } => Ok(None),
                    other => bail!("Galaxy Transaction answered {other:?}"),
                }
            }
            Self::Outbox(_) => Ok(None),
            Self::Arc { url, api_key } => {
                let endpoint = format!("{}/v1/tx/{txid}", url.trim_end_matches('/'));
                let mut req = agent().get(&endpoint);
                if let Some(k) = api_key {
                    req = req.header("Authorization", &format!("Bearer {}", k.expose()));
                }
                let mut resp = req.call().with_context(|| format!("GET {endpoint}"))?;
                if resp.status().as_u16() != 200 {
                    bail!("ARC {endpoint} answered {}", resp.status());
                }
                let body: serde_json::Value =
                    resp.body_mut().with_config().limit(1 << 20).read_json()?;
                Ok(
                    (body.get("txStatus").and_then(|v| v.as_str()) == Some("MINED"))
                        .then(|| body.get("blockHeight").and_then(serde_json::Value::as_u64)),
                )
            }
        }
    }
}
