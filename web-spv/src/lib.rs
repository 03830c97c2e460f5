//! # web_spv
//!
//! Browser SPV over [`torrent_core`]: the entry points the web-spv page calls through
//! wasm-bindgen. Each is a plain Rust function (tested natively) returning JSON or a typed
//! [`SpvError`], and a thin `#[wasm_bindgen]` wrapper that turns the error into a JS
//! exception with the same message. The decision is `torrent_core::verdict::verify`, the
//! function the service runs natively and in its wasmtime sandbox.

use serde_json::json;
use torrent_core::bencode::Limits;
use torrent_core::bsv::checkpoints;
use torrent_core::bsv::hash::MerkleNode;
use torrent_core::bsv::header::{HeaderError, check_chain};
use torrent_core::bundle::{BsvMetaError, read_bsv};
use torrent_core::metainfo::Metainfo;
use torrent_core::proof::bump::{Bump, BumpNode};
use torrent_core::verdict::{ProofFormat, Verdict, VerifyRequest, verify};
use torrent_core::{Header, Network, Txid, hex};
use wasm_bindgen::prelude::*;

/// Why the page's input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpvError {
    /// Bad hex, length or number.
    #[error("{0} is not valid: {1}")]
    Bad(&'static str, String),
    /// The proof cannot be parsed.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The proof does not show the transaction in the block.
    #[error("proof rejected: {0}")]
    Rejected(String),
    /// The header fails its proof of work, or a chain does not hold.
    #[error("header rejected: {0}")]
    Header(#[from] HeaderError),
    /// Not a bundle torrent, or its metadata does not hold.
    #[error("bundle rejected: {0}")]
    Bundle(String),
    /// The header cannot be tied to the best chain (checkpoints compiled in).
    #[error("not on the best chain: {0}")]
    Chain(String),
}

impl From<BsvMetaError> for SpvError {
    fn from(e: BsvMetaError) -> Self {
        Self::Bundle(e.to_string())
    }
}

fn integer(what: &'static str, v: f64) -> Result<u64, SpvError> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(SpvError::Bad(what, format!("{v} is not a whole number")))
    }
}

fn parse_header(hex_str: &str) -> Result<Header, SpvError> {
    let b = hex::decode_array::<80>(hex_str.trim())
        .map_err(|e| SpvError::Bad("header", format!("{e} (160 hex digits expected)")))?;
    Ok(Header::from_bytes(&b))
}

/// Verifies a BUMP (hex) for `txid` against a header (hex) of the block at `height` with
/// `tx_count` transactions. Returns JSON: `{"index", "block_hash", "merkle_root", "levels":
/// [{"level", "offset", "node", "sibling", "sibling_side", "parent"}]}`, the path from the
/// transaction to the root, one entry per level.
///
/// # Errors
/// [`SpvError`].
pub fn verify_bump(
    txid: &str,
    bump_hex: &str,
    header_hex: &str,
    height: u64,
    tx_count: u64,
) -> Result<String, SpvError> {
    let t: Txid = txid
        .trim()
        .parse()
        .map_err(|_| SpvError::Bad("txid", "64 hex digits expected".into()))?;
    let header = parse_header(header_hex)?;
    let proof = hex::decode(bump_hex.trim()).map_err(|e| SpvError::Bad("BUMP", format!("{e}")))?;
    let req = VerifyRequest {
        format: ProofFormat::Bump,
        height,
        tx_count,
        header: header.to_bytes().to_vec(),
        txid: t.to_byte_array(),
        proof: proof.clone(),
    };
    let index = match verify(&req) {
        Verdict::Valid { index } => index,
        Verdict::Invalid { reason } => return Err(SpvError::Rejected(reason)),
        Verdict::Malformed { reason } => return Err(SpvError::Malformed(reason)),
    };
    // The proof holds; lay its path out for the reader, level by level.
    let bump = Bump::decode(&proof).map_err(|e| SpvError::Malformed(e.to_string()))?;
    let mut node = MerkleNode::from(t);
    let mut offset = index;
    let mut levels = Vec::new();
    for (level, leaves) in bump.levels().iter().enumerate() {
        let sib_off = offset ^ 1;
        let sibling = leaves
            .iter()
            .find(|l| l.offset == sib_off)
            .map(|l| match l.node {
                BumpNode::Duplicate => node,
                _ => l.hash().unwrap_or(node),
            });
        let Some(sibling) = sibling else { break };
        let parent = if offset % 2 == 0 {
            MerkleNode::combine(&node, &sibling)
        } else {
            MerkleNode::combine(&sibling, &node)
        };
        levels.push(json!({
            "level": level,
            "offset": offset,
            "node": node.to_string(),
            "sibling": sibling.to_string(),
            "sibling_side": if offset % 2 == 0 { "right" } else { "left" },
            "duplicate": sibling == node,
            "parent": parent.to_string(),
        }));
        node = parent;
        offset >>= 1;
    }
    Ok(json!({
        "index": index,
        "block_hash": header.block_hash().to_string(),
        "merkle_root": header.merkle_root.to_string(),
        "levels": levels,
    })
    .to_string())
}

/// Checks a header's proof of work on mainnet. Returns JSON `{"block_hash", "bits",
/// "target", "pow_ok": true, "merkle_root", "time"}`.
///
/// # Errors
/// [`SpvError::Header`] when the hash is above the target, or bad hex.
pub fn check_header(header_hex: &str) -> Result<String, SpvError> {
    let header = parse_header(header_hex)?;
    let hash = header.check_pow(Network::Mainnet)?;
    let target = header.target()?;
    Ok(json!({
        "block_hash": hash.to_string(),
        "bits": format!("{:08x}", header.bits),
        "target": hex::encode(&target.to_be_bytes()),
        "pow_ok": true,
        "merkle_root": header.merkle_root.to_string(),
        "time": header.time,
    })
    .to_string())
}

/// Checks that concatenated headers (hex) link and meet their targets on mainnet; returns
/// JSON `{"count", "tip"}`.
///
/// # Errors
/// [`SpvError`].
pub fn check_header_chain(headers_hex: &str) -> Result<String, SpvError> {
    let bytes =
        hex::decode(headers_hex.trim()).map_err(|e| SpvError::Bad("headers", format!("{e}")))?;
    if bytes.is_empty() || bytes.len() % 80 != 0 {
        return Err(SpvError::Bad(
            "headers",
            format!(
                "{} bytes is not a whole number of 80-byte headers",
                bytes.len()
            ),
        ));
    }
    let headers: Vec<Header> = bytes
        .chunks_exact(80)
        .map(|c| Header::decode(c).map_err(|e| SpvError::Bad("headers", e.to_string())))
        .collect::<Result<_, _>>()?;
    let summary = check_chain(&headers, Network::Mainnet, None)?;
    Ok(json!({"count": headers.len(), "tip": summary.tip.to_string()}).to_string())
}

/// The checkpoint a mainnet header at `height` must link to: JSON `{"height", "hash"}`, or
/// `null` past the last checkpoint compiled in (then only an independent chain tracker can
/// vouch for the header).
pub fn next_checkpoint(height: u64) -> String {
    match checkpoints::next_checkpoint(Network::Mainnet, height) {
        Some((h, hash)) => json!({"height": h, "hash": hash.to_string()}).to_string(),
        None => "null".into(),
    }
}

/// Ties the mainnet header `header_hex` at `height` to the best chain: `chain_hex` holds the
/// headers from `height` up to the first checkpoint at or above it (as the server's
/// `/v1/headers` gives them), and must start with that very header, link, meet every
/// target and end at the checkpoint. Returns JSON `{"checkpoint_height", "checkpoint_hash",
/// "headers"}`.
///
/// # Errors
/// [`SpvError::Chain`] with the reason, or bad hex.
pub fn anchor_header(height: u64, header_hex: &str, chain_hex: &str) -> Result<String, SpvError> {
    let header = parse_header(header_hex)?;
    let bytes =
        hex::decode(chain_hex.trim()).map_err(|e| SpvError::Bad("headers", format!("{e}")))?;
    if bytes.len() % 80 != 0 {
        return Err(SpvError::Bad(
            "headers",
            format!(
                "{} bytes is not a whole number of 80-byte headers",
                bytes.len()
            ),
        ));
    }
    let chain: Vec<Header> = bytes
        .chunks_exact(80)
        .map(|c| Header::decode(c).map_err(|e| SpvError::Bad("headers", e.to_string())))
        .collect::<Result<_, _>>()?;
    if chain.first() != Some(&header) {
        return Err(SpvError::Chain(format!(
            "the service's headers from {height} do not start with the proof's header"
        )));
    }
    let (c, hash) = checkpoints::anchor(Network::Mainnet, height, &chain)
        .map_err(|e| SpvError::Chain(e.to_string()))?;
    Ok(json!({
        "checkpoint_height": c,
        "checkpoint_hash": hash.to_string(),
        "headers": c - height + 1,
    })
    .to_string())
}

/// Reads a bundle torrent's `bsv` metadata. Returns JSON `{"name", "infohash_v1",
/// "network", "first", "last", "blocks": [{"height", "hash", "tx_count", "size"}]}`.
///
/// # Errors
/// [`SpvError::Bundle`] for a torrent that does not parse or is not a bundle.
pub fn read_bundle(torrent: &[u8]) -> Result<String, SpvError> {
    let m = Metainfo::parse(torrent, &Limits::default())
        .map_err(|e| SpvError::Bundle(format!("not a torrent: {e}")))?;
    let meta = read_bsv(&m.info)?;
    let blocks: Vec<_> = meta
        .blocks
        .iter()
        .map(|b| {
            json!({
                "height": b.height,
                "hash": b.header.block_hash().to_string(),
                "tx_count": b.tx_count,
                "size": b.size,
            })
        })
        .collect();
    Ok(json!({
        "name": m.name,
        "infohash_v1": m.infohash_v1.map(|h| h.to_string()),
        "network": meta.network,
        "first": meta.first,
        "last": meta.last,
        "blocks": blocks,
    })
    .to_string())
}

fn js(e: SpvError) -> JsError {
    JsError::new(&e.to_string())
}

/// JS: `verifyBump(txid, bumpHex, headerHex, height, txCount)` → JSON string, or throws.
///
/// # Errors
/// A JS `Error` with the [`SpvError`] message.
#[wasm_bindgen(js_name = verifyBump)]
pub fn verify_bump_js(
    txid: &str,
    bump_hex: &str,
    header_hex: &str,
    height: f64,
    tx_count: f64,
) -> Result<String, JsError> {
    let height = integer("height", height).map_err(js)?;
    let tx_count = integer("tx_count", tx_count).map_err(js)?;
    verify_bump(txid, bump_hex, header_hex, height, tx_count).map_err(js)
}

/// JS: `checkHeader(headerHex)` → JSON string, or throws.
///
/// # Errors
/// A JS `Error` with the [`SpvError`] message.
#[wasm_bindgen(js_name = checkHeader)]
pub fn check_header_js(header_hex: &str) -> Result<String, JsError> {
    check_header(header_hex).map_err(js)
}

/// JS: `checkHeaderChain(headersHex)` → JSON string, or throws.
///
/// # Errors
/// A JS `Error` with the [`SpvError`] message.
#[wasm_bindgen(js_name = checkHeaderChain)]
pub fn check_header_chain_js(headers_hex: &str) -> Result<String, JsError> {
    check_header_chain(headers_hex).map_err(js)
}

/// JS: `nextCheckpoint(height)` → JSON string (`null` past the last checkpoint).
///
/// # Errors
/// A JS `Error` for a height that is not a whole number.
#[wasm_bindgen(js_name = nextCheckpoint)]
pub fn next_checkpoint_js(height: f64) -> Result<String, JsError> {
    Ok(next_checkpoint(integer("height", height).map_err(js)?))
}

/// JS: `anchorHeader(height, headerHex, chainHex)` → JSON string, or throws.
///
/// # Errors
/// A JS `Error` with the [`SpvError`] message.
#[wasm_bindgen(js_name = anchorHeader)]
pub fn anchor_header_js(height: f64, header_hex: &str, chain_hex: &str) -> Result<String, JsError> {
    let height = integer("height", height).map_err(js)?;
    anchor_header(height, header_hex, chain_hex).map_err(js)
}

/// JS: `readBundle(torrentBytes: Uint8Array)` → JSON string, or throws.
///
/// # Errors
/// A JS `Error` with the [`SpvError`] message.
#[wasm_bindgen(js_name = readBundle)]
pub fn read_bundle_js(torrent: &[u8]) -> Result<String, JsError> {
    read_bundle(torrent).map_err(js)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    const GENESIS_TX: &str = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";

    #[test]
    fn genesis_single_tx_bump_and_header() {
        // From tests/vectors/blocks/bump-vectors.json: genesis, one transaction.
        let bump = "00010100023ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a";
        let v: serde_json::Value =
            serde_json::from_str(&verify_bump(GENESIS_TX, bump, GENESIS, 0, 1).unwrap()).unwrap();
        assert_eq!(v["index"], 0);
        assert!(matches!(
            verify_bump(GENESIS_TX, bump, GENESIS, 0, 2),
            Err(SpvError::Rejected(_))
        ));
        assert!(matches!(
            verify_bump("zz", bump, GENESIS, 0, 1),
            Err(SpvError::Bad("txid", _))
        ));
        let h: serde_json::Value = serde_json::from_str(&check_header(GENESIS).unwrap()).unwrap();
        assert_eq!(
            h["block_hash"],
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        // One nonce off: the hash is far above the target.
        let mut bad = GENESIS.to_string();
        bad.replace_range(152..154, "1e");
        assert!(matches!(check_header(&bad), Err(SpvError::Header(_))));
        assert!(
            check_header_chain(GENESIS)
                .unwrap()
                .contains("000000000019d6689c")
        );
        assert!(check_header_chain("00").is_err());
        assert!(integer("height", 1.5).is_err() && integer("height", -1.0).is_err());
        assert!(matches!(read_bundle(b"de"), Err(SpvError::Bundle(_))));
    }

    /// The real headers 0..255: each ties to the best chain through the checkpoint at 170 or
    /// 255; a header with another nonce, a chain that stops short, a chain that does not
    /// start with the header, or one that reaches a checkpoint height with another block
    /// does not.
    #[test]
    fn real_headers_tie_to_the_checkpoints_and_others_do_not() {
        let all = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/blocks/headers-000000-000255.bin"
        ))
        .unwrap();
        let at = |h: usize| hex::encode(&all[h * 80..(h + 1) * 80]);
        let from = |h: usize| hex::encode(&all[h * 80..]);
        for h in [0usize, 1, 100, 169, 170, 171, 254, 255] {
            let v: serde_json::Value =
                serde_json::from_str(&anchor_header(h as u64, &at(h), &from(h)).unwrap()).unwrap();
            assert_eq!(
                v["checkpoint_height"],
                match h {
                    0 => 0,
                    1..=170 => 170,
                    _ => 255,
                },
                "{h}"
            );
        }
        assert_eq!(
            next_checkpoint(256),
            format!(
                "{{\"hash\":\"00000000693067b0e6b440bc51450b9f3850561b07f6d3c021c54fbd6abb9763\",\"height\":2015}}"
            )
        );
        assert_eq!(next_checkpoint(u64::MAX), "null");
        // Stops short of the checkpoint: 100 ..= 150 only.
        let short = hex::encode(&all[100 * 80..151 * 80]);
        let e = anchor_header(100, &at(100), &short)
            .unwrap_err()
            .to_string();
        assert!(e.contains("before the checkpoint at 170"), "{e}");
        // A chain that does not start with the proof's header.
        let e = anchor_header(100, &at(100), &from(101))
            .unwrap_err()
            .to_string();
        assert!(e.contains("do not start with the proof's header"), "{e}");
        // The real chain from 171 presented as if it started at 170.
        let e = anchor_header(170, &at(171), &from(171))
            .unwrap_err()
            .to_string();
        assert!(e.contains("checkpoint there is 00000000d1145790"), "{e}");
        // A forged block 100 whose proof of work holds (tests/vectors/forged): its header
        // passes check_header, but the real block 101 does not link to it.
        let forged = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/forged/block-000100-forged.bin"
        ))
        .unwrap();
        let forged_header = hex::encode(&forged[..80]);
        check_header(&forged_header).unwrap();
        let chain = format!("{forged_header}{}", from(101));
        let e = anchor_header(100, &forged_header, &chain)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("not on the best chain: block 101"), "{e}");
        let e = anchor_header(100, &forged_header, &forged_header)
            .unwrap_err()
            .to_string();
        assert!(e.contains("before the checkpoint at 170"), "{e}");
        // A header whose nonce changed: its own proof of work fails.
        let mut bad = all.clone();
        bad[200 * 80 + 76] ^= 1;
        let e = anchor_header(
            200,
            &hex::encode(&bad[200 * 80..201 * 80]),
            &hex::encode(&bad[200 * 80..]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("block 200"), "{e}");
    }

    #[test]
    fn real_block_path_levels_reach_the_root() {
        use torrent_core::bsv::block::{Block, BlockLimits};
        use torrent_core::bsv::merkle::MerkleTree;
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/blocks/block-413567.bin"
        ))
        .unwrap();
        let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
        let txids = block.txids();
        let tree = MerkleTree::from_txids(&txids).unwrap();
        let header = hex::encode(&block.header.to_bytes());
        for i in [0u64, 1, 777, txids.len() as u64 - 1] {
            let bump = hex::encode(&Bump::build(&tree, 413_567, &[i]).unwrap().encode());
            let out = verify_bump(
                &txids[i as usize].to_string(),
                &bump,
                &header,
                413_567,
                txids.len() as u64,
            )
            .unwrap();
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            let levels = v["levels"].as_array().unwrap();
            assert_eq!(levels.len(), 11, "1557 txs: 11 levels");
            assert_eq!(levels.last().unwrap()["parent"], v["merkle_root"]);
            assert_eq!(levels[0]["node"], txids[i as usize].to_string());
        }
        check_header(&header).unwrap();
    }
}
