//! Shared helpers for the cross-host tests: where the golden vectors live, loading real
//! mainnet blocks, and building every proof of a block in both formats.
//!
//! The vectors under `tests/vectors/` are copied from `../shared/testdata` (see
//! `tests/vectors/blocks/README.md` for each file's source) so the repository tests itself.

pub mod chain_gen;
pub mod galaxy_standin;
pub mod support;
pub mod webdriver;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use torrent_core::bsv::blk::BlkFrames;
use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_core::bsv::merkle::MerkleTree;
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::{TargetKind, TscProof};
use torrent_core::{Header, Network};

/// Returns the directory holding the real mainnet test blocks.
pub fn blocks_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/blocks")
}

/// A real mainnet block shipped with the repository, with the facts its README records.
#[derive(Debug, Clone, Copy)]
pub struct KnownBlock {
    /// File name under [`blocks_dir`].
    pub file: &'static str,
    /// Height.
    pub height: u64,
    /// Block hash (display hex).
    pub hash: &'static str,
    /// Transaction count.
    pub tx_count: u64,
}

/// The single-block files (heights 0, 170, 277647, 384189, 413567).
pub const KNOWN_BLOCKS: [KnownBlock; 5] = [
    KnownBlock {
        file: "block-000000-genesis.bin",
        height: 0,
        hash: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        tx_count: 1,
    },
    KnownBlock {
        file: "block-000170.bin",
        height: 170,
        hash: "00000000d1145790a8694403d4063f323d499e655c83426834d4ce2f8dd4a2ee",
        tx_count: 2,
    },
    KnownBlock {
        file: "block-277647.bin",
        height: 277_647,
        hash: "0000000000000000054a714e580b16c583701712ab91060e92dbde6eb1e052a8",
        tx_count: 213,
    },
    KnownBlock {
        file: "block-384189.bin",
        height: 384_189,
        hash: "00000000000000000ad4cd15bbeaf6cb4583c93e13e311f9774194aadea87386",
        tx_count: 564,
    },
    KnownBlock {
        file: "block-413567.bin",
        height: 413_567,
        hash: "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069",
        tx_count: 1557,
    },
];

/// Reads a file from [`blocks_dir`].
pub fn read_vector(name: &str) -> Result<Vec<u8>> {
    let path = blocks_dir().join(name);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// Returns mainnet blocks 1..=255 from the blk-framed file, in order.
pub fn blk_blocks_1_to_255() -> Result<Vec<Vec<u8>>> {
    let data = read_vector("blocks-000001-000255.blk")?;
    let blocks = BlkFrames::new(&data, Network::Mainnet.disk_magic())
        .map(|f| f.map(<[u8]>::to_vec))
        .collect::<Result<Vec<_>, _>>()?;
    if blocks.len() != 255 {
        bail!("expected 255 blocks, found {}", blocks.len());
    }
    Ok(blocks)
}

/// Returns mainnet headers 0..=255.
pub fn headers_0_to_255() -> Result<Vec<Header>> {
    let data = read_vector("headers-000000-000255.bin")?;
    data.chunks(80)
        .map(|c| Header::decode(c).map_err(Into::into))
        .collect()
}

/// How many proofs [`prove_every_tx`] checked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProofCounts {
    /// BUMPs built, round-tripped (binary and JSON) and verified.
    pub bump: u64,
    /// TSC proofs built, round-tripped (binary and JSON) and verified.
    pub tsc: u64,
}

/// Decodes `raw` as the block at `height`, then builds, round-trips and verifies a BUMP and a
/// TSC proof (rotating through the three target kinds) for every transaction.
pub fn prove_every_tx(raw: &[u8], height: u64) -> Result<ProofCounts> {
    let block = Block::decode(raw, &BlockLimits::default())?;
    let txids = block.txids();
    let tree = MerkleTree::from_txids(&txids)?;
    let header = block.header;
    let n = txids.len() as u64;
    let mut counts = ProofCounts::default();
    for (i, txid) in txids.iter().enumerate() {
        let i = i as u64;
        let bump = Bump::build(&tree, height, &[i])?;
        let bin = bump.encode();
        let back = Bump::decode(&bin)?;
        if back != bump || Bump::from_json(&bump.to_json())? != bump {
            bail!("BUMP round trip changed the proof of tx {i} at height {height}");
        }
        let index = back.verify(txid, height, n, &header.merkle_root)?;
        if index != i {
            bail!("BUMP of tx {i} verified at index {index}");
        }
        counts.bump += 1;

        let kind = [
            TargetKind::BlockHash,
            TargetKind::Header,
            TargetKind::MerkleRoot,
        ][(i % 3) as usize];
        // Every fifth proof carries the whole transaction instead of its id.
        let raw_tx = i.is_multiple_of(5).then(|| block.txs[i as usize].encode());
        let tsc = TscProof::build(&tree, i, &header, kind, raw_tx)?;
        let back = TscProof::decode(&tsc.encode())?;
        if back != tsc || TscProof::from_json(&tsc.to_json())? != tsc {
            bail!("TSC round trip changed the proof of tx {i} at height {height}");
        }
        if back.verify(&header, n)? != *txid {
            bail!("TSC proof of tx {i} verified another txid");
        }
        counts.tsc += 1;
    }
    Ok(counts)
}

/// A transaction paying `value` satoshis to `key`'s P2PKH address (its input is made up:
/// wallets and stand-ins only look at the output), to fund payout wallets in tests.
pub fn funding_tx(
    key: &torrent_core::bsv::keys::PrivateKey,
    value: u64,
    salt: u8,
) -> torrent_core::bsv::tx::Transaction {
    use torrent_core::bsv::tx::{OutPoint, Transaction, TxIn, TxOut};
    Transaction {
        version: 1,
        inputs: vec![TxIn {
            prevout: OutPoint {
                txid: torrent_core::Txid::from_byte_array([salt; 32]),
                vout: 0,
            },
            script_sig: vec![0x51],
            sequence: 0xffff_ffff,
        }],
        outputs: vec![TxOut {
            value: torrent_core::Satoshis(value),
            script_pubkey: key.address().script_pubkey(),
        }],
        lock_time: 0,
    }
}

/// Test key `i` (deterministic, so that tests can name the seeder's address).
pub fn test_key(i: u32) -> torrent_core::bsv::keys::PrivateKey {
    torrent_core::bsv::keys::PrivateKey::from_bytes(
        &torrent_core::bsv::hash::sha256d(&i.to_le_bytes()),
        torrent_core::Network::Mainnet,
    )
    .expect("a sha256d digest is a valid key with overwhelming probability")
}

/// aria2c flags for a one-shot download on loopback: no DHT, LPD or PEX (only the tracker
/// and web seeds), no seeding afterwards, give up after 90 s without progress, quiet.
pub const ARIA2_LOOPBACK: [&str; 10] = [
    "--seed-time=0",
    "--enable-dht=false",
    "--enable-dht6=false",
    "--bt-enable-lpd=false",
    "--enable-peer-exchange=false",
    "--bt-stop-timeout=90",
    "--summary-interval=0",
    "--console-log-level=warn",
    "--listen-port=6990-6999",
    "--quiet=true",
];

/// Every sample of a Prometheus text exposition, series (name and labels, as written) to
/// value: the one parser of the tests (the e2e run and the service's tests).
///
/// # Errors
/// A malformed line, a bad value or a series twice, with its line number.
pub fn parse_prometheus(text: &str) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .with_context(|| format!("metrics line {}: {line:?}", n + 1))?;
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .with_context(|| format!("metrics line {}: value {v:?}", n + 1))?,
        };
        let name_end = series.find('{').unwrap_or(series.len());
        ensure!(
            series[..name_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && (name_end == series.len() || series.ends_with('}')),
            "metrics line {}: series {series:?}",
            n + 1
        );
        ensure!(
            out.insert(series.to_string(), v).is_none(),
            "metrics line {}: {series} twice",
            n + 1
        );
    }
    Ok(out)
}
