//! The bundle writer: one streaming pass per block writes the block file and its txid file
//! and feeds the piece hashers; then the torrent is assembled by `torrent_core::bundle`.
//!
//! Crash safety: every file is written as `<name>.part`, flushed, synced and renamed into
//! place only after its block decoded completely and its merkle root matched; the .torrent
//! is written the same way, last. A killed run therefore leaves either no .torrent or a
//! complete one, never a half-written file under a final name, and a rerun rewrites the
//! same bytes (everything is a pure function of the blocks and the settings).
//!
//! Both cores work: the reading thread decodes (SHA-256d per transaction, merkle root) and
//! collects txids, while a hashing thread computes the block file's SHA-1 pieces (and the
//! SHA-256 v2 tree) from the same chunks. The block file itself is placed by the kernel once
//! the block has verified (see [`BlockSource::place_block`]).

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;
use torrent_core::bsv::block::{BlockDecoder, BlockEvent, BlockLimits};
use torrent_core::bundle::{BlockMeta, BundlePlan, BundleSummary, FileHashes, TorrentFormat, plan};
use torrent_core::encode::Reader;
use torrent_core::metainfo::magnet;
use torrent_core::metainfo::v1::PieceHasher;
use torrent_core::metainfo::v2::FileHasher;
use torrent_core::{Header, Network};

use crate::offload::source::BlockSource;
use crate::store::offsets::{Offsets, OffsetsWriter};

/// Read size; also the unit handed to the hashing thread.
const CHUNK: usize = 1 << 20;

/// Chunks in flight between the reading and the hashing thread (bounds memory).
const BUFFERS: usize = 6;

/// Settings that shape a bundle (the first three change its info-hash).
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// Network of the blocks.
    pub network: Network,
    /// Largest piece length.
    pub max_piece: u64,
    /// v1 or hybrid.
    pub format: TorrentFormat,
    /// Announce URLs (outside `info`).
    pub announce: Vec<String>,
    /// Web seed URLs (outside `info`).
    pub web_seeds: Vec<String>,
}

/// What `bundle` produced (the `--json` shape of DESIGN §12: the summary, then where it is).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BundleOutput {
    /// Name, heights, info-hashes and magnet link.
    #[serde(flatten)]
    pub summary: BundleSummary,
    /// Path of the .torrent.
    pub torrent: PathBuf,
    /// Directory holding the bundle's files.
    pub data: PathBuf,
    /// Piece length.
    pub piece_length: u64,
    /// Number of pieces.
    pub pieces: u64,
    /// Bytes of block and txid data.
    pub bytes: u64,
    /// Files, relative to `data`.
    pub files: Vec<String>,
}

/// Reads a block's header and transaction count (the first 89 bytes at most).
///
/// # Errors
/// A missing height or a block too short to hold a header and a count.
pub(crate) fn read_meta(source: &BlockSource, height: u64) -> Result<BlockMeta> {
    let (mut r, size, what) = source.open_block(height)?;
    let mut head = Vec::with_capacity(89);
    (&mut r).take(89).read_to_end(&mut head)?;
    let mut rd = Reader::new(&head);
    let header =
        Header::read(&mut rd).map_err(|e| anyhow::anyhow!("block {height} ({what}): {e}"))?;
    let tx_count = rd
        .compact_size()
        .map_err(|e| anyhow::anyhow!("block {height} ({what}): transaction count: {e}"))?;
    Ok(BlockMeta {
        height,
        header,
        tx_count,
        size,
    })
}

/// Writes `data` to `path` via a synced `.part` file and a rename.
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let part = part_path(path);
    {
        let mut f = File::create(&part).with_context(|| format!("creating {}", part.display()))?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&part, path).with_context(|| format!("renaming {}", part.display()))?;
    Ok(())
}

fn part_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

fn sync_dir(dir: &Path) {
    // Makes the renames durable; not every platform can open a directory, hence no error.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes one bundle over `[first, last]` under `out`; `progress` is told of bytes done.
///
/// # Errors
/// A missing height, a header that does not link, a corrupt block (named, with the byte
/// offset), or an I/O error. Nothing is left under a final name that is not complete.
pub(crate) fn write_bundle(
    source: &BlockSource,
    first: u64,
    last: u64,
    out: &Path,
    opts: &BundleOptions,
    offsets: Option<&Offsets>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<BundleOutput> {
    ensure!(first <= last, "--first {first} is above --last {last}");
    let mut metas = Vec::new();
    for h in first..=last {
        if !source.has(h) {
            bail!(
                "height {h} is missing from {} (range {first}..={last})",
                source.describe()
            );
        }
        metas.push(read_meta(source, h)?);
    }
    let plan = plan(opts.network, &metas, opts.max_piece, opts.format)?;
    let data = out.join(&plan.name);
    fs::create_dir_all(data.join("blocks"))
        .with_context(|| format!("creating {}", data.display()))?;
    fs::create_dir_all(data.join("txids"))?;
    let offsets = offsets.map(|o| o.writer(&plan.name)).transpose()?;

    // Blocks are independent (each file starts on a piece boundary), so two workers take
    // them in turn; each also runs its own hashing thread. Results land by index, so the
    // order of completion never shows in the torrent.
    let n = plan.blocks.len();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<(FileHashes, FileHashes)>>> = Mutex::new(vec![None; n]);
    let first_error: Mutex<Option<(usize, anyhow::Error)>> = Mutex::new(None);
    let workers = std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .clamp(1, 2);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let meta = &plan.blocks[i];
                    let block = Out {
                        data: &data,
                        offsets: offsets.as_ref(),
                        txids_is_last_file: i + 1 == n,
                    };
                    match write_block(source, &plan, meta, &block, progress) {
                        Ok(h) => {
                            if let Ok(mut r) = results.lock() {
                                r[i] = Some(h);
                            }
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            if let Ok(mut fe) = first_error.lock() {
                                // Report the lowest failing height, as a sequential run would.
                                if fe.as_ref().is_none_or(|(j, _)| i < *j) {
                                    *fe = Some((i, e));
                                }
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some((_, e)) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut block_hashes = Vec::with_capacity(n);
    let mut txid_hashes = Vec::with_capacity(n);
    for r in results {
        let (b, t) = r.context("a block was not processed")?;
        block_hashes.push(b);
        txid_hashes.push(t);
    }
    sync_dir(&data.join("blocks"));
    sync_dir(&data.join("txids"));
    // The offsets are durable before the torrent that makes the bundle count as written.
    if let Some(o) = offsets {
        let blocks: Vec<(u64, u64)> = plan.blocks.iter().map(|b| (b.height, b.tx_count)).collect();
        o.finish(&blocks)?;
    }
    let hashes: Vec<FileHashes> = block_hashes.into_iter().chain(txid_hashes).collect();
    let built = plan.build(&hashes, &opts.announce, &opts.web_seeds);
    let torrent = out.join(format!("{}.torrent", plan.name));
    write_atomic(&torrent, &built.torrent)?;
    sync_dir(out);
    let announce: Vec<&str> = opts.announce.iter().map(String::as_str).collect();
    let seeds: Vec<&str> = opts.web_seeds.iter().map(String::as_str).collect();
    Ok(BundleOutput {
        summary: BundleSummary {
            magnet: magnet(
                Some(built.infohash_v1),
                built.infohash_v2,
                &plan.name,
                &announce,
                &seeds,
            ),
            name: plan.name.clone(),
            first: plan.first,
            last: plan.last,
            infohash_v1: built.infohash_v1,
            infohash_v2: built.infohash_v2,
        },
        torrent,
        data,
        piece_length: plan.piece_length,
        pieces: hashes.iter().map(|h| h.pieces.len() as u64).sum(),
        bytes: plan.files.iter().map(|f| f.length).sum(),
        files: plan.files.iter().map(|f| f.rel_path()).collect(),
    })
}

/// Where one block's files go.
struct Out<'a> {
    /// The bundle's data folder.
    data: &'a Path,
    /// The bundle's offsets, when recorded.
    offsets: Option<&'a OffsetsWriter>,
    /// Whether the block's txid file is the torrent's last file (no pad after it).
    txids_is_last_file: bool,
}

/// Streams one block: writes its block and txid files (and its transactions' offsets),
/// returns both files' hashes.
fn write_block(
    source: &BlockSource,
    plan: &BundlePlan,
    meta: &BlockMeta,
    out: &Out<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(FileHashes, FileHashes)> {
    let (height, data) = (meta.height, out.data);
    let hash = meta.header.block_hash();
    let block_path = data.join("blocks").join(format!("{height:09}-{hash}.bin"));
    let txids_path = data.join("txids").join(format!("{height:09}-{hash}.txids"));
    let (block_part, txids_part) = (part_path(&block_path), part_path(&txids_path));
    let result = stream_block(
        source,
        plan,
        meta,
        (&block_part, &txids_part),
        out,
        progress,
    );
    match result {
        Ok(h) => {
            fs::rename(&block_part, &block_path)?;
            // rename(2) does nothing when both names are links to one inode (a rerun after a
            // kill, with a hard-linked block): then the part name is left to remove.
            if block_part.exists() {
                fs::remove_file(&block_part)?;
            }
            fs::rename(&txids_part, &txids_path)?;
            Ok(h)
        }
        Err(e) => {
            let _ = fs::remove_file(&block_part);
            let _ = fs::remove_file(&txids_part);
            Err(e)
        }
    }
}

fn stream_block(
    source: &BlockSource,
    plan: &BundlePlan,
    meta: &BlockMeta,
    (block_part, txids_part): (&Path, &Path),
    out: &Out<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(FileHashes, FileHashes)> {
    let height = meta.height;
    let mut offsets = out.offsets.map(|o| o.block(height)).transpose()?;
    let hybrid = plan.format == TorrentFormat::Hybrid;
    let piece = plan.piece_length;
    let (mut reader, _, what) = source.open_block(height)?;
    let ctx = |e: &dyn std::fmt::Display| anyhow::anyhow!("block {height} ({what}): {e}");
    let mut txids_out = BufWriter::new(File::create(txids_part)?);
    // A remote block is written as it streams in (one fetch); a local one is placed by the
    // kernel after the pass (below).
    let mut block_out = if source.is_remote() {
        Some(BufWriter::with_capacity(
            CHUNK,
            File::create(block_part)
                .with_context(|| format!("creating {}", block_part.display()))?,
        ))
    } else {
        None
    };
    let mut txid_v1 = PieceHasher::new(piece);
    let mut txid_v2 = hybrid.then(|| FileHasher::new(piece));
    let mut dec = BlockDecoder::new(BlockLimits::default());
    // Buffers travel reader -> hasher -> back to the reader: no allocation per chunk.
    let (work_tx, work_rx) = sync_channel::<Vec<u8>>(BUFFERS);
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        free_tx
            .send(vec![0u8; CHUNK])
            .map_err(|_| anyhow::anyhow!("buffer pool"))?;
    }

    let (block_hashes, decoded) = std::thread::scope(|s| -> Result<_> {
        let hasher = s.spawn(move || {
            let mut v1 = PieceHasher::new(piece);
            let mut v2 = hybrid.then(|| FileHasher::new(piece));
            for chunk in work_rx {
                v1.update(&chunk);
                if let Some(v2) = v2.as_mut() {
                    v2.update(&chunk);
                }
                // The reader may have stopped; then the buffer is simply dropped.
                let _ = free_tx.send(chunk);
            }
            FileHashes {
                pieces: v1.finish(true),
                v2: v2.map(FileHasher::finish),
            }
        });
        let mut summary = None;
        let r = (|| -> Result<()> {
            while let Ok(mut buf) = free_rx.recv() {
                buf.resize(CHUNK, 0);
                let mut filled = 0;
                while filled < CHUNK {
                    let n = reader.read(&mut buf[filled..]).map_err(|e| ctx(&e))?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                if filled == 0 {
                    break;
                }
                buf.truncate(filled);
                if let Some(out) = block_out.as_mut() {
                    out.write_all(&buf)?;
                }
                let mut input = &buf[..];
                while let Some(ev) = dec.decode(&mut input).map_err(|e| ctx(&e))? {
                    match ev {
                        BlockEvent::Header(h) if h != meta.header => {
                            return Err(ctx(&"header changed while bundling"));
                        }
                        BlockEvent::Tx(t) => {
                            if let Some(o) = offsets.as_mut() {
                                o.push(t.offset)?;
                            }
                            let b = t.txid.to_byte_array();
                            txids_out.write_all(&b)?;
                            txid_v1.update(&b);
                            if let Some(v2) = txid_v2.as_mut() {
                                v2.update(&b);
                            }
                        }
                        BlockEvent::End(s) => summary = Some(s),
                        _ => {}
                    }
                }
                progress(filled as u64);
                if work_tx.send(buf).is_err() {
                    break;
                }
            }
            Ok(())
        })();
        drop(work_tx);
        let hashes = hasher
            .join()
            .map_err(|_| anyhow::anyhow!("hashing thread panicked"))?;
        r?;
        let s = dec.finish().map_err(|e| ctx(&e))?;
        Ok((hashes, summary.unwrap_or(s)))
    })?;
    if decoded.tx_count != meta.tx_count || decoded.size != meta.size {
        bail!("block {height} ({what}) changed while bundling");
    }
    if let Some(o) = offsets {
        o.finish(decoded.size)?;
    }
    // The block file is the source's bytes, now verified: placed by the kernel (a hard link
    // for a `dir` source on the same filesystem, else copy_file_range), never through a
    // user-space buffer, which halves the memory traffic of a bundle.
    match block_out {
        Some(out) => {
            let f = out.into_inner().map_err(|e| ctx(&e.error()))?;
            f.sync_all()?;
        }
        None => source
            .place_block(height, block_part)
            .map_err(|e| ctx(&format!("{e:#}")))?,
    }
    txids_out.flush()?;
    txids_out.get_ref().sync_all()?;
    let txid_hashes = FileHashes {
        pieces: txid_v1.finish(!out.txids_is_last_file),
        v2: txid_v2.map(FileHasher::finish),
    };
    Ok((block_hashes, txid_hashes))
}

/// Returns the aligned ranges `[k·B, (k+1)·B - 1]` that the source holds completely.
pub(crate) fn complete_ranges(source: &BlockSource, bundle_blocks: u64) -> Vec<(u64, u64)> {
    let b = bundle_blocks.max(1);
    let mut out = Vec::new();
    let Some(max) = source.heights().last() else {
        return out;
    };
    let mut first = source.heights().next().unwrap_or(0);
    first = first.div_ceil(b) * b;
    while first.saturating_add(b - 1) <= max {
        let last = first + b - 1;
        if (first..=last).all(|h| source.has(h)) {
            out.push((first, last));
        }
        first += b;
    }
    out
}
