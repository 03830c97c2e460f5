//! The `rest:URL` block source: a node's REST interface (SV Node's `-rest`, or another
//! `torrent_service` serving its archive, `rpc::rest`).
//!
//! SV Node's REST has no route from a height to a hash, so the chain is walked forward from
//! its first block with `/rest/headers/2000/<hash>.bin` (each answer starts with `<hash>`
//! itself, ascending): the first block is what `/rest/blockhashbyheight/0.hex` names where
//! the server has that route (Bitcoin Core, `torrent_service`), else the network's genesis.
//! Every header must link to the one before it and meet its own target within the
//! network's limit, and the walk stops at `chaininfo.json`'s `blocks`. A block is then `GET /rest/block/<hash>.bin`, streamed as it arrives (the
//! bundle writer keeps the bytes it streams and checks the merkle root); its size is the
//! answer's `Content-Length`, which SV Node sends for blocks it has on disk.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use torrent_core::{BlockHash, Header, Network};

/// Headers asked for at a time (SV Node's most).
const PAGE: u32 = 2000;

/// A REST interface's client.
#[derive(Debug, Clone)]
pub(crate) struct RestClient {
    base: String,
    agent: ureq::Agent,
}

impl RestClient {
    /// A client of the REST interface at `base` (`http://host:port`, no trailing slash
    /// needed).
    pub(crate) fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(Duration::from_secs(10)))
                .timeout_recv_response(Some(Duration::from_secs(60)))
                .build()
                .into(),
        }
    }

    /// The server's address, for messages.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `GET <base><path>`: the answer when 200, else an error with the server's text.
    fn get(&self, path: &str) -> Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}{path}", self.base);
        let mut r = self
            .agent
            .get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        if r.status() != 200 {
            let text = r.body_mut().read_to_string().unwrap_or_default();
            bail!("GET {url}: {} {}", r.status(), text.trim());
        }
        Ok(r)
    }

    /// Walks the server's chain: every (height, hash) from its first block to its tip.
    ///
    /// # Errors
    /// An unreachable server, another network, or headers that do not link.
    pub(crate) fn chain(&self, network: Network) -> Result<Vec<(u64, BlockHash)>> {
        let info: serde_json::Value = serde_json::from_str(
            &self
                .get("/rest/chaininfo.json")?
                .body_mut()
                .read_to_string()?,
        )
        .context("chaininfo.json is not JSON")?;
        let want = match network {
            Network::Mainnet => "main",
            Network::Testnet => "test",
            _ => "regtest",
        };
        let chain = info["chain"].as_str().unwrap_or_default();
        ensure!(
            chain == want,
            "{}: the server's chain is {chain:?}, this service's network is {network}",
            self.base
        );
        let tip = info["blocks"]
            .as_u64()
            .context("chaininfo.json has no blocks")?;
        let first = match self.get("/rest/blockhashbyheight/0.hex") {
            Ok(mut r) => r
                .body_mut()
                .read_to_string()?
                .trim()
                .parse::<BlockHash>()
                .context("blockhashbyheight/0.hex is not a hash")?,
            Err(_) => network.genesis_hash(),
        };
        let mut out = vec![(0u64, first)];
        let (mut hash, mut height) = (first, 0u64);
        while height < tip {
            let bytes = self
                .get(&format!("/rest/headers/{PAGE}/{hash}.bin"))?
                .body_mut()
                .with_config()
                .limit(u64::from(PAGE) * 80)
                .read_to_vec()?;
            ensure!(
                bytes.len() % 80 == 0 && !bytes.is_empty(),
                "{}: headers from {hash} are {} bytes, not 80 each",
                self.base,
                bytes.len()
            );
            let headers: Vec<Header> = bytes
                .chunks_exact(80)
                .map(|c| Header::from_bytes(c.try_into().unwrap_or(&[0; 80])))
                .collect();
            ensure!(
                headers[0].block_hash() == hash,
                "{}: headers from {hash} start with another block",
                self.base
            );
            if headers.len() == 1 {
                break;
            }
            for h in &headers[1..] {
                ensure!(
                    h.prev_blockhash == hash,
                    "{}: the header after {hash} does not link to it",
                    self.base
                );
                // Each header must carry its work: a server cannot make the walk (and its
                // table of heights) grow with headers that cost it nothing.
                h.check_pow(network)
                    .map_err(|e| anyhow::anyhow!("{}: header at {}: {e}", self.base, height + 1))?;
                hash = h.block_hash();
                height += 1;
                out.push((height, hash));
                if height == tip {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Block `hash`: a reader of its bytes and its size.
    ///
    /// # Errors
    /// An unreachable server, an unknown block, or an answer without `Content-Length`.
    pub(crate) fn block(&self, hash: &BlockHash) -> Result<(Box<dyn Read + Send>, u64)> {
        let r = self.get(&format!("/rest/block/{hash}.bin"))?;
        let len = r.body().content_length().with_context(|| {
            format!(
                "{}: block {hash} came without Content-Length (its size must be known first)",
                self.base
            )
        })?;
        Ok((Box::new(r.into_body().into_reader().take(len)), len))
    }
}
