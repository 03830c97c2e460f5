//! A regtest chain generator: valid blocks of a chosen transaction count and size, with
//! P2PKH-shaped transactions, written as raw block files and/or `blk*.dat` files.
//!
//! "Valid" means what the service checks: every header meets the regtest target and links to
//! the one before, the merkle root commits to the transactions, the coinbase carries the
//! BIP34 height, and each transaction spends the one before it with a P2PKH-shaped input
//! (a 72-byte signature-shaped push and a 33-byte public-key-shaped push). Signatures are
//! random bytes, not real ECDSA: no part of this service evaluates scripts of old blocks.
//!
//! Memory stays bounded whatever the size: transactions are streamed to disk (padding in
//! 64 KiB chunks), the merkle root comes from the `O(log n)` builder, and the header is
//! written last, by seeking back over a placeholder.

use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;
use torrent_core::bsv::hash::Sha256dEngine;
use torrent_core::bsv::merkle::MerkleRootBuilder;
use torrent_core::encode::{compact_size_len, write_compact_size};
use torrent_core::{BlockHash, Header, Network, Txid};

/// The node starts a new blk file once the current one passes this size.
pub const BLK_FILE_LIMIT: u64 = 128 << 20;

/// Size of a coinbase-shaped or P2PKH-shaped transaction without padding.
const P2PKH_TX_SIZE: u64 = 4 + 1 + (32 + 4 + 1 + 107 + 4) + 1 + 2 * (8 + 1 + 25) + 4;

/// Which files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// `raw/<height:09>.bin`, one plain serialized block each.
    Raw,
    /// `blk/blk00000.dat`, ... with regtest disk-magic framing.
    Blk,
    /// Both.
    Both,
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct ChainSpec {
    /// Number of blocks, heights `0..blocks`.
    pub blocks: u64,
    /// Transactions per block, coinbase included (at least 1).
    pub txs_per_block: u64,
    /// Wanted serialized size of each block; `None` for unpadded P2PKH transactions.
    /// Reached exactly when there is room to pad, otherwise the smallest block possible.
    pub block_size: Option<u64>,
    /// Seed for the random-looking bytes; same seed, same chain.
    pub seed: u64,
    /// Time of block 0; each block is 600 s later.
    pub start_time: u32,
    /// An extra P2PKH output `(pubkey hash, satoshis)` in the second transaction of every
    /// block (34 bytes more per block), so tests get mined payments to a known address.
    pub payout: Option<([u8; 20], u64)>,
    /// With `payout`: also a stake commitment (DESIGN §15: `OP_FALSE OP_RETURN` with the
    /// pushes `torrent_service stake` and the address) naming the regtest address of this
    /// pubkey hash, so that the payment can be claimed as that seeder's stake.
    pub stake_for: Option<[u8; 20]>,
    /// `(from, to)`: block `to`'s coinbase is a byte-for-byte copy of block `from`'s, so
    /// the two blocks share a txid, as mainnet's 91812 and 91842 do (BIP 30).
    pub repeat_coinbase: Option<(u64, u64)>,
    /// Transactions of the first blocks, one count per block from height 0 (a coinbase-only
    /// block, odd counts, counts around powers of two); later blocks have `txs_per_block`.
    pub tx_counts: &'static [u64],
}

/// One generated block.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratedBlock {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub hash: BlockHash,
    /// Header, hex.
    pub header: String,
    /// Transaction count.
    pub tx_count: u64,
    /// Serialized size.
    pub size: u64,
    /// Raw file, if written.
    pub raw: Option<PathBuf>,
}

/// SplitMix64: small, deterministic, good enough for filler bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Destinations for one block's bytes, each hashed once.
struct Sinks<'a> {
    raw: Option<&'a mut BufWriter<File>>,
    blk: Option<&'a mut BufWriter<File>>,
}

impl Sinks<'_> {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        if let Some(w) = self.raw.as_mut() {
            w.write_all(data)?;
        }
        if let Some(w) = self.blk.as_mut() {
            w.write_all(data)?;
        }
        Ok(())
    }
}

/// Returns an output of exactly `size` bytes: `OP_FALSE OP_RETURN <push data>`, or `None`
/// when `size` is too small for any such output.
fn op_return_layout(size: u64) -> Option<(Vec<u8>, u64)> {
    // Try data lengths near the target; pick the one that makes the output exactly `size`.
    let base = size.saturating_sub(8 + 9 + 2 + 5);
    for data_len in base..=size {
        let push: Vec<u8> = match data_len {
            0..=75 => vec![data_len as u8],
            76..=0xff => vec![0x4c, data_len as u8],
            0x100..=0xffff => {
                let mut v = vec![0x4d];
                v.extend_from_slice(&(data_len as u16).to_le_bytes());
                v
            }
            _ => {
                let Ok(l) = u32::try_from(data_len) else {
                    return None;
                };
                let mut v = vec![0x4e];
                v.extend_from_slice(&l.to_le_bytes());
                v
            }
        };
        let script_len = 2 + push.len() as u64 + data_len;
        let total = 8 + compact_size_len(script_len) as u64 + script_len;
        if total == size {
            let mut prefix = 0u64.to_le_bytes().to_vec();
            write_compact_size(&mut prefix, script_len);
            prefix.extend_from_slice(&[0x00, 0x6a]);
            prefix.extend_from_slice(&push);
            return Some((prefix, data_len));
        }
        if total > size {
            break;
        }
    }
    None
}

fn p2pkh_script(rng: &mut Rng) -> Vec<u8> {
    let mut s = vec![0x76, 0xa9, 0x14];
    let mut h = [0u8; 20];
    rng.fill(&mut h);
    s.extend_from_slice(&h);
    s.extend_from_slice(&[0x88, 0xac]);
    s
}

/// Streams one transaction of `size` bytes (at least [`P2PKH_TX_SIZE`] unless unpadded)
/// into the sinks and returns its txid.
fn write_tx(
    sinks: &mut Sinks<'_>,
    rng: &mut Rng,
    height: u64,
    prev: Option<Txid>,
    pad_to: Option<u64>,
    payout: Option<([u8; 20], u64)>,
    stake_for: Option<[u8; 20]>,
) -> Result<(Txid, u64)> {
    let mut engine = Sha256dEngine::new();
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(&1u32.to_le_bytes());
    head.push(1);
    match prev {
        // Coinbase: null outpoint, BIP34 height push, then filler to keep the size uniform.
        None => {
            head.extend_from_slice(&[0u8; 32]);
            head.extend_from_slice(&u32::MAX.to_le_bytes());
            let mut script = Vec::with_capacity(107);
            let h = height.to_le_bytes();
            let mut len = 8;
            while len > 1 && h[len - 1] == 0 {
                len -= 1;
            }
            // Minimal push: add a zero byte if the top bit would make it negative.
            let mut push = h[..len].to_vec();
            if push.last().is_some_and(|b| b & 0x80 != 0) {
                push.push(0);
            }
            script.push(push.len() as u8);
            script.extend_from_slice(&push);
            let mut filler = vec![0u8; 107 - script.len()];
            rng.fill(&mut filler);
            script.extend_from_slice(&filler);
            head.push(script.len() as u8);
            head.extend_from_slice(&script);
        }
        Some(prev) => {
            head.extend_from_slice(prev.as_byte_array());
            head.extend_from_slice(&0u32.to_le_bytes());
            // <72-byte DER-shaped signature + sighash byte> <33-byte compressed key>
            let mut sig = [0u8; 72];
            rng.fill(&mut sig);
            sig[0] = 0x30;
            sig[1] = 69;
            sig[71] = 0x41; // SIGHASH_ALL | SIGHASH_FORKID
            let mut key = [0u8; 33];
            rng.fill(&mut key);
            key[0] = 0x02 | (key[0] & 1);
            head.push(107);
            head.push(72);
            head.extend_from_slice(&sig);
            head.push(33);
            head.extend_from_slice(&key);
        }
    }
    head.extend_from_slice(&0xffff_ffffu32.to_le_bytes());
    let padding = pad_to
        .and_then(|want| want.checked_sub(P2PKH_TX_SIZE))
        .filter(|extra| *extra > 0)
        .and_then(op_return_layout);
    let commitment = stake_for.map(|hash| {
        torrent_core::bsv::stake::commitment_script(&torrent_core::bsv::keys::Address {
            network: torrent_core::Network::Testnet,
            hash,
        })
    });
    head.push(
        2 + u8::from(padding.is_some())
            + u8::from(payout.is_some())
            + u8::from(commitment.is_some()),
    );
    for value in [50_000u64, 12_345] {
        head.extend_from_slice(&value.to_le_bytes());
        head.push(25);
        head.extend_from_slice(&p2pkh_script(rng));
    }
    if let Some((hash, value)) = payout {
        head.extend_from_slice(&value.to_le_bytes());
        head.push(25);
        head.extend_from_slice(&[0x76, 0xa9, 0x14]);
        head.extend_from_slice(&hash);
        head.extend_from_slice(&[0x88, 0xac]);
    }
    if let Some(script) = commitment {
        head.extend_from_slice(&0u64.to_le_bytes());
        head.push(script.len() as u8);
        head.extend_from_slice(&script);
    }
    let mut size = head.len() as u64 + 4;
    engine.update(&head);
    sinks.write(&head)?;
    if let Some((prefix, data_len)) = padding {
        engine.update(&prefix);
        sinks.write(&prefix)?;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut left = data_len;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            rng.fill(&mut chunk[..n]);
            engine.update(&chunk[..n]);
            sinks.write(&chunk[..n])?;
            left -= n as u64;
        }
        size += prefix.len() as u64 + data_len;
    }
    let lock = 0u32.to_le_bytes();
    engine.update(&lock);
    sinks.write(&lock)?;
    Ok((Txid::from_byte_array(engine.finalize_reset()), size))
}

/// Searches nonces until the header meets the regtest target.
fn mine(mut header: Header) -> Result<Header> {
    for nonce in 0..=u32::MAX {
        header.nonce = nonce;
        if header.check_pow(Network::Regtest).is_ok() {
            return Ok(header);
        }
    }
    bail!("no nonce meets the regtest target")
}

/// Writes the chain under `out` and returns what was written.
///
/// # Errors
/// I/O errors, or a spec with zero transactions per block.
pub fn write_chain(
    spec: &ChainSpec,
    out: &Path,
    format: OutputFormat,
) -> Result<Vec<GeneratedBlock>> {
    ensure!(
        spec.txs_per_block >= 1 && spec.tx_counts.iter().all(|&n| n >= 1),
        "a block needs at least its coinbase"
    );
    let want_raw = matches!(format, OutputFormat::Raw | OutputFormat::Both);
    let want_blk = matches!(format, OutputFormat::Blk | OutputFormat::Both);
    let raw_dir = out.join("raw");
    let blk_dir = out.join("blk");
    if want_raw {
        fs::create_dir_all(&raw_dir).with_context(|| format!("creating {}", raw_dir.display()))?;
    }
    if want_blk {
        fs::create_dir_all(&blk_dir).with_context(|| format!("creating {}", blk_dir.display()))?;
    }
    let mut blk_index = 0u32;
    let mut blk: Option<BufWriter<File>> = None;
    let mut prev_hash = BlockHash::default();
    let mut prev_coinbase: Option<Txid> = None;
    let mut out_blocks = Vec::new();
    for height in 0..spec.blocks {
        let n = usize::try_from(height)
            .ok()
            .and_then(|h| spec.tx_counts.get(h))
            .copied()
            .unwrap_or(spec.txs_per_block);
        let header_len = 80 + compact_size_len(n) as u64;
        let mut rng = Rng(spec.seed ^ height.wrapping_mul(0x2545_f491_4f6c_dd1d));
        // Padding budget per transaction: the wanted size less the header, spread evenly.
        let per_tx: Option<(u64, u64)> = spec
            .block_size
            .map(|s| s.saturating_sub(header_len))
            .map(|body| (body / n, body % n));
        if want_blk
            && blk.as_ref().is_some_and(|w| {
                w.get_ref()
                    .metadata()
                    .is_ok_and(|m| m.len() >= BLK_FILE_LIMIT)
            })
        {
            blk_index += 1;
            blk = None;
        }
        if want_blk && blk.is_none() {
            let path = blk_dir.join(format!("blk{blk_index:05}.dat"));
            blk = Some(BufWriter::with_capacity(1 << 20, File::create(&path)?));
        }
        let raw_path = raw_dir.join(format!("{height:09}.bin"));
        let mut raw = if want_raw {
            Some(BufWriter::with_capacity(1 << 20, File::create(&raw_path)?))
        } else {
            None
        };
        // Placeholders: blk frame (magic + length) and header, patched after mining.
        let blk_frame_at = match blk.as_mut() {
            Some(w) => {
                w.flush()?;
                let at = w.get_mut().stream_position()?;
                w.write_all(&Network::Regtest.disk_magic())?;
                w.write_all(&[0u8; 4])?;
                Some(at)
            }
            None => None,
        };
        let mut head = vec![0u8; 80];
        write_compact_size(&mut head, n);
        let mut sinks = Sinks {
            raw: raw.as_mut(),
            blk: blk.as_mut(),
        };
        sinks.write(&head)?;
        let mut merkle = MerkleRootBuilder::new();
        let mut size = head.len() as u64;
        let mut prev_tx = None;
        for i in 0..n {
            let pad_to = per_tx.map(|(each, rem)| each + u64::from(i < rem));
            let prev = if i == 0 {
                None
            } else {
                Some(prev_tx.or(prev_coinbase).unwrap_or_default())
            };
            let (payout, stake_for) = if i == 1 {
                (spec.payout, spec.payout.and(spec.stake_for))
            } else {
                (None, None)
            };
            let (txid, len) = match spec.repeat_coinbase {
                // The earlier block's coinbase again: the first thing its own generator
                // wrote, so a generator seeded as that block's writes the same bytes.
                Some((from, to)) if i == 0 && height == to => write_tx(
                    &mut sinks,
                    &mut Rng(spec.seed ^ from.wrapping_mul(0x2545_f491_4f6c_dd1d)),
                    from,
                    None,
                    pad_to,
                    None,
                    None,
                )?,
                _ => write_tx(
                    &mut sinks, &mut rng, height, prev, pad_to, payout, stake_for,
                )?,
            };
            if i == 0 {
                prev_coinbase = Some(txid);
            } else {
                prev_tx = Some(txid);
            }
            merkle.push(txid)?;
            size += len;
        }
        let header = mine(Header {
            version: 0x2000_0000,
            prev_blockhash: prev_hash,
            merkle_root: merkle.finish()?,
            time: spec
                .start_time
                .saturating_add((height as u32).saturating_mul(600)),
            bits: Network::Regtest.pow_limit_bits(),
            nonce: 0,
        })?;
        if let Some(w) = raw.as_mut() {
            w.flush()?;
            let f = w.get_mut();
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&header.to_bytes())?;
            f.sync_all()?;
        }
        if let (Some(w), Some(at)) = (blk.as_mut(), blk_frame_at) {
            w.flush()?;
            let f = w.get_mut();
            let end = f.stream_position()?;
            f.seek(SeekFrom::Start(at + 4))?;
            let len = u32::try_from(size).context("block too big for blk framing")?;
            f.write_all(&len.to_le_bytes())?;
            f.write_all(&header.to_bytes())?;
            f.seek(SeekFrom::Start(end))?;
        }
        let hash = header.block_hash();
        prev_hash = hash;
        out_blocks.push(GeneratedBlock {
            height,
            hash,
            header: torrent_core::hex::encode(&header.to_bytes()),
            tx_count: n,
            size,
            raw: want_raw.then_some(raw_path),
        });
    }
    if let Some(mut w) = blk {
        w.flush()?;
        w.get_mut().sync_all()?;
    }
    Ok(out_blocks)
}
