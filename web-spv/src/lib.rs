//! # web_spv
//!
//! Browser SPV over [`torrent_core`]: the entry points the web-spv page will call through
//! wasm-bindgen. Today they are plain Rust, tested natively; the `#[wasm_bindgen]` edge and
//! the page come with the browser work.

use torrent_core::bsv::header::{HeaderError, check_chain};
use torrent_core::proof::bump::Bump;
use torrent_core::{Header, Network, Txid};

/// Why the page's input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpvError {
    /// Bad hex or length.
    #[error("{0} is not valid hex of the right length")]
    BadHex(&'static str),
    /// The BUMP could not be parsed.
    #[error("malformed BUMP: {0}")]
    BadBump(#[from] torrent_core::proof::bump::BumpError),
    /// The proof does not hold.
    #[error("proof rejected: {0}")]
    Rejected(#[from] torrent_core::proof::ProofError),
    /// The header chain does not hold.
    #[error("header chain rejected: {0}")]
    Chain(#[from] HeaderError),
}

/// Verifies a BUMP (hex) for `txid` against a header (hex) of a block with `tx_count`
/// transactions at `height`; returns the transaction's index.
///
/// # Errors
/// [`SpvError`].
pub fn verify_bump_hex(
    txid: &str,
    bump_hex: &str,
    header_hex: &str,
    height: u64,
    tx_count: u64,
) -> Result<u64, SpvError> {
    let txid: Txid = txid.parse().map_err(|_| SpvError::BadHex("txid"))?;
    let bump =
        Bump::decode(&torrent_core::hex::decode(bump_hex).map_err(|_| SpvError::BadHex("bump"))?)?;
    let header = parse_header(header_hex)?;
    Ok(bump.verify(&txid, height, tx_count, &header.merkle_root)?)
}

/// Checks that concatenated headers (hex) link and meet their targets on mainnet; returns
/// the tip hash.
///
/// # Errors
/// [`SpvError`].
pub fn check_header_chain_hex(headers_hex: &str) -> Result<String, SpvError> {
    let bytes = torrent_core::hex::decode(headers_hex).map_err(|_| SpvError::BadHex("headers"))?;
    if bytes.is_empty() || bytes.len() % 80 != 0 {
        return Err(SpvError::BadHex("headers"));
    }
    let headers: Vec<Header> = bytes
        .chunks_exact(80)
        .map(|c| Header::decode(c).map_err(|_| SpvError::BadHex("headers")))
        .collect::<Result<_, _>>()?;
    Ok(check_chain(&headers, Network::Mainnet, None)?
        .tip
        .to_string())
}

fn parse_header(hex: &str) -> Result<Header, SpvError> {
    let b = torrent_core::hex::decode_array::<80>(hex).map_err(|_| SpvError::BadHex("header"))?;
    Ok(Header::from_bytes(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_single_tx_bump_verifies() {
        // From tests/vectors/blocks/bump-vectors.json: genesis, one transaction.
        let header = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
        let txid = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";
        let bump = "00010100023ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a";
        assert_eq!(verify_bump_hex(txid, bump, header, 0, 1), Ok(0));
        assert!(matches!(
            verify_bump_hex(txid, bump, header, 0, 2),
            Err(SpvError::Rejected(_))
        ));
        assert!(matches!(
            verify_bump_hex("zz", bump, header, 0, 1),
            Err(SpvError::BadHex("txid"))
        ));
        assert_eq!(
            check_header_chain_hex(header).unwrap(),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        assert!(check_header_chain_hex("00").is_err());
    }
}
