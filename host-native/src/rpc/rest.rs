//! SV Node's REST interface, answered from the archive (bitcoin-sv `src/rest.cpp`), so that
//! anything that reads blocks from a node's REST port (another `torrent_service` with
//! `block_source = "rest:URL"` among them) can read them from here, pruned or not:
//!
//! - `GET /rest/block/<hash>.bin|hex`: the block, streamed from its bundle's block file
//!   (checked against its header once; fetched from the swarm when it is not here);
//! - `GET /rest/tx/<txid>.bin|hex`: the transaction (as `/v1/tx/<txid>`);
//! - `GET /rest/headers/<count>/<hash>.bin|hex`: up to `count` (1 to 2000) headers from
//!   `<hash>` on, ascending, as long as the archive holds every height;
//! - `GET /rest/chaininfo.json`: the archive as a chain whose tip is its newest block;
//! - `GET /rest/blockhashbyheight/<height>.hex|bin`: Bitcoin Core's route (SV Node has
//!   none), so that a client can find where the archive's chain starts.
//!
//! Errors are SV Node's: `text/plain`, the message and `\r\n`; an unknown block is 404
//! `<hash> not found`, an unknown header start 400 `Block not found: <hash>`, a malformed
//! hash 400 `Invalid hash: <s>`, an unknown format 404 `output format not found (available:
//! .bin, .hex)`.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use torrent_core::bsv::u256::U256;
use torrent_core::{BlockHash, Header, Network};

use crate::proofs::{ProofFailure, Proofs};

/// What the REST routes need.
#[derive(Debug, Clone)]
pub(crate) struct Rest {
    /// The archive.
    pub proofs: Arc<Proofs>,
    /// Its network (`chain` in `chaininfo.json`).
    pub network: Network,
    /// Chain work up to a tip, computed once per tip: (tip height, work).
    pub work: Arc<Mutex<Option<(u64, U256)>>>,
}

/// Most headers one call returns (SV Node's limit).
const MAX_HEADERS: u32 = 2000;

/// An SV Node error: `text/plain`, the message and CRLF.
fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain")],
        format!("{message}\r\n"),
    )
        .into_response()
}

/// A failure of the archive, as SV Node would word it.
fn failure(f: &ProofFailure, not_found: String) -> Response {
    match f {
        ProofFailure::NotFound(_) => error(StatusCode::NOT_FOUND, &not_found),
        ProofFailure::Invalid(m) => error(StatusCode::BAD_REQUEST, m),
        ProofFailure::Busy(m) => error(StatusCode::TOO_MANY_REQUESTS, m),
        ProofFailure::Unavailable(m) | ProofFailure::Timeout(m) => {
            error(StatusCode::SERVICE_UNAVAILABLE, m)
        }
        ProofFailure::Internal(_) => error(StatusCode::INTERNAL_SERVER_ERROR, f.public_message()),
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Bin,
    Hex,
    Json,
}

/// Splits `<param>.<ext>` as SV Node does: an unknown extension stays part of the param.
fn split(s: &str) -> (&str, Option<Format>) {
    match s.rsplit_once('.') {
        Some((p, "bin")) => (p, Some(Format::Bin)),
        Some((p, "hex")) => (p, Some(Format::Hex)),
        Some((p, "json")) => (p, Some(Format::Json)),
        _ => (s, None),
    }
}

/// The param and format of `<param>.bin|hex`, or SV Node's 404 for another format.
fn bin_or_hex_of(file: &str) -> Result<(&str, Format), Box<Response>> {
    match split(file) {
        (param, Some(f @ (Format::Bin | Format::Hex))) => Ok((param, f)),
        _ => Err(Box::new(no_format(".bin, .hex"))),
    }
}

/// A 64-hex-digit hash, or SV Node's 400.
fn hash_of(s: &str) -> Result<BlockHash, Box<Response>> {
    if s.len() == 64
        && let Ok(h) = s.parse::<BlockHash>()
    {
        return Ok(h);
    }
    Err(Box::new(error(
        StatusCode::BAD_REQUEST,
        &format!("Invalid hash: {s}"),
    )))
}

fn bin_or_hex(bytes: Vec<u8>, f: Format) -> Response {
    match f {
        Format::Hex => (
            [(header::CONTENT_TYPE, "text/plain")],
            format!("{}\n", torrent_core::hex::encode(&bytes)),
        )
            .into_response(),
        _ => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
    }
}

fn no_format(available: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("output format not found (available: {available})"),
    )
}

/// `GET /rest/block/<hash>.bin|hex`.
pub(crate) async fn block(
    State(r): State<Rest>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(file): Path<String>,
) -> Response {
    let (param, format) = match bin_or_hex_of(&file) {
        Ok(p) => p,
        Err(e) => return *e,
    };
    let hash = match hash_of(param) {
        Ok(h) => h,
        Err(e) => return *e,
    };
    let not_found = || error(StatusCode::NOT_FOUND, &format!("{hash} not found"));
    let height = match r.proofs.store().height_of(&hash) {
        Ok(Some(h)) => h,
        Ok(None) => return not_found(),
        Err(e) => return failure(&ProofFailure::Internal(format!("{e:#}")), String::new()),
    };
    let b = match r.proofs.block(height, Some(client.ip())).await {
        Ok(b) => b,
        Err(f) => return failure(&f, format!("{hash} not found")),
    };
    let file = match tokio::fs::File::open(&b.path).await {
        Ok(f) => f,
        Err(e) => {
            return failure(
                &ProofFailure::Internal(format!("{}: {e}", b.path.display())),
                String::new(),
            );
        }
    };
    if format == Format::Hex {
        // Hex doubles the bytes: blocks are streamed as binary only, hex is for small ones.
        if b.len > 16 << 20 {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("block {hash} is {} bytes: ask for .bin", b.len),
            );
        }
        return match tokio::fs::read(&b.path).await {
            Ok(bytes) => bin_or_hex(bytes, Format::Hex),
            Err(e) => failure(&ProofFailure::Internal(e.to_string()), String::new()),
        };
    }
    use tokio::io::AsyncReadExt;
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, b.len.to_string()),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            file.take(b.len),
            1 << 16,
        )),
    )
        .into_response()
}

/// `GET /rest/tx/<txid>.bin|hex`.
pub(crate) async fn tx(
    State(r): State<Rest>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(file): Path<String>,
) -> Response {
    let (param, format) = match bin_or_hex_of(&file) {
        Ok(p) => p,
        Err(e) => return *e,
    };
    let txid = match crate::proofs::parse_txid(param) {
        Ok(t) => t,
        Err(_) => return error(StatusCode::BAD_REQUEST, &format!("Invalid hash: {param}")),
    };
    match r.proofs.transaction(txid, None, Some(client.ip())).await {
        Ok(t) => bin_or_hex(t.raw.to_vec(), format),
        Err(f) => failure(&f, format!("{txid} not found")),
    }
}

/// `GET /rest/headers/<count>/<hash>.bin|hex`.
pub(crate) async fn headers(
    State(r): State<Rest>,
    Path((count, file)): Path<(String, String)>,
) -> Response {
    let (param, format) = match bin_or_hex_of(&file) {
        Ok(p) => p,
        Err(e) => return *e,
    };
    let hash = match hash_of(param) {
        Ok(h) => h,
        Err(e) => return *e,
    };
    let n = match count.parse::<u32>() {
        Ok(n) if (1..=MAX_HEADERS).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Header count out of range: {count}"),
            );
        }
    };
    let from = match r.proofs.store().height_of(&hash) {
        Ok(Some(h)) => h,
        Ok(None) => return error(StatusCode::BAD_REQUEST, &format!("Block not found: {hash}")),
        Err(e) => return failure(&ProofFailure::Internal(format!("{e:#}")), String::new()),
    };
    let list = match r.proofs.headers(from, n) {
        Ok(l) => l,
        Err(f) => return failure(&f, String::new()),
    };
    let mut out = Vec::with_capacity(list.len() * 80);
    for (i, (height, h)) in list.into_iter().enumerate() {
        // The next header of the chain: a height the archive lacks ends the answer.
        if height != from + i as u64 {
            break;
        }
        out.extend_from_slice(&h.header);
    }
    bin_or_hex(out, format)
}

/// `GET /rest/blockhashbyheight/<height>.hex|bin` (Bitcoin Core's shape).
pub(crate) async fn hash_by_height(State(r): State<Rest>, Path(file): Path<String>) -> Response {
    let (param, format) = split(&file);
    let Ok(height) = param.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, &format!("Invalid height: {param}"));
    };
    let rec = match r.proofs.store().header(height) {
        Ok(Some(rec)) => rec,
        Ok(None) => return error(StatusCode::NOT_FOUND, "Block height out of range"),
        Err(e) => return failure(&ProofFailure::Internal(format!("{e:#}")), String::new()),
    };
    let Ok(h) = Header::decode(&rec.header) else {
        return failure(
            &ProofFailure::Internal("stored header".into()),
            String::new(),
        );
    };
    let hash = h.block_hash();
    match format {
        Some(Format::Hex) => {
            ([(header::CONTENT_TYPE, "text/plain")], format!("{hash}\n")).into_response()
        }
        Some(Format::Bin) => bin_or_hex(hash.to_byte_array().to_vec(), Format::Bin),
        Some(Format::Json) => {
            axum::Json(serde_json::json!({"blockhash": hash.to_string()})).into_response()
        }
        None => no_format(".bin, .hex, .json"),
    }
}

/// SV Node's name of a network in `chaininfo`.
fn chain_name(n: Network) -> &'static str {
    match n {
        Network::Mainnet => "main",
        Network::Testnet => "test",
        _ => "regtest",
    }
}

/// Difficulty of `bits`, as `getdifficulty` computes it.
fn difficulty(bits: u32) -> f64 {
    let mut shift = (bits >> 24) & 0xff;
    let mut diff = f64::from(0x0000_ffff) / f64::from((bits & 0x00ff_ffff).max(1));
    while shift < 29 {
        diff *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        diff /= 256.0;
        shift -= 1;
    }
    diff
}

/// `GET /rest/chaininfo.json`: SV Node's `getblockchaininfo` keys, for the archive's chain.
pub(crate) async fn chaininfo(State(r): State<Rest>) -> Response {
    let store = r.proofs.store();
    let (tip, rec) = match store.last_header() {
        Ok(Some(t)) => t,
        Ok(None) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable: no block has been offloaded yet",
            );
        }
        Err(e) => return failure(&ProofFailure::Internal(format!("{e:#}")), String::new()),
    };
    let Ok(h) = Header::decode(&rec.header) else {
        return failure(
            &ProofFailure::Internal("stored header".into()),
            String::new(),
        );
    };
    // Median time of the last 11 blocks held.
    let mut times: Vec<u32> = store
        .headers(tip.saturating_sub(10), 11)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, r)| Header::decode(&r.header).ok().map(|h| h.time))
        .collect();
    times.sort_unstable();
    let median = times.get(times.len() / 2).copied().unwrap_or(h.time);
    let work = match chain_work(&r, tip) {
        Ok(w) => w,
        Err(e) => return failure(&ProofFailure::Internal(format!("{e:#}")), String::new()),
    };
    let body = serde_json::json!({
        "chain": chain_name(r.network),
        "blocks": tip,
        "headers": tip,
        "bestblockhash": h.block_hash().to_string(),
        "difficulty": difficulty(h.bits),
        "mediantime": median,
        "verificationprogress": 1.0,
        "chainwork": torrent_core::hex::encode(&work.to_be_bytes()),
        "pruned": false,
        "softforks": [],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

/// The work of every header held up to `tip` (the chain's work when the archive starts at
/// genesis), summed once per tip.
fn chain_work(r: &Rest, tip: u64) -> anyhow::Result<U256> {
    if let Ok(w) = r.work.lock()
        && let Some((t, work)) = *w
        && t == tip
    {
        return Ok(work);
    }
    let mut total = U256::ZERO;
    let mut from = 0u64;
    loop {
        let page = r.proofs.store().headers(from, MAX_HEADERS)?;
        let Some((last, _)) = page.last() else { break };
        let next = last + 1;
        for (_, rec) in &page {
            let w = Header::decode(&rec.header)?.work()?;
            total = total.checked_add(w).unwrap_or(total);
        }
        if next > tip {
            break;
        }
        from = next;
    }
    if let Ok(mut w) = r.work.lock() {
        *w = Some((tip, total));
    }
    Ok(total)
}
