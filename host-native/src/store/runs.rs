//! The txid index on disk: run files (ADR 0003, format in `torrent_core::txindex`) under
//! `<data>/index/`, one per bundle, plus the one a migrated database gets.
//!
//! A run is written whole to a temporary name, synced and renamed before the database
//! records it, so a crash leaves either no run or a complete one (a retried bundle writes
//! the same bytes again). Each open run keeps its block table and bucket directory in
//! memory (about 0.2 bytes per txid) and reads a bucket's entries (hundreds of bytes) per
//! lookup with one positioned read.
//!
//! Building is bounded in memory: entries are sorted in chunks of [`CHUNK`]; a bundle with
//! more transactions spills sorted chunks to temporary files and merges them as streams.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result, bail};
use torrent_core::txindex::{self, Blocks, Directory, ENTRY_LEN, Header, RunWriter};

/// Entries sorted in memory at once while building (16 bytes each: 32 MiB).
pub(crate) const CHUNK: usize = 2 << 20;

/// One open run.
#[derive(Debug)]
pub(crate) struct Run {
    name: String,
    file: File,
    header: Header,
    blocks: Blocks,
    directory: Directory,
}

impl Run {
    /// Opens and checks `path` (header against its length, block table, directory).
    ///
    /// # Errors
    /// An unreadable or malformed file.
    pub(crate) fn open(name: &str, path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let len = file.metadata()?.len();
        let mut head = [0u8; txindex::HEADER_LEN];
        file.read_exact_at(&mut head, 0)
            .with_context(|| format!("reading {}", path.display()))?;
        let header = Header::decode(&head, len).with_context(|| path.display().to_string())?;
        let read = |from: u64, to: u64| -> Result<Vec<u8>> {
            let mut b = vec![0u8; usize::try_from(to - from)?];
            file.read_exact_at(&mut b, from)?;
            Ok(b)
        };
        let blocks = txindex::decode_blocks(
            &header,
            &read(header.blocks_offset(), header.entries_offset())?,
        )?;
        let directory = Directory::decode(
            &header,
            &read(header.directory_offset(), header.file_len())?,
        )?;
        Ok(Self {
            name: name.to_string(),
            file,
            header,
            blocks,
            directory,
        })
    }

    /// The (height, index) of every transaction this run lists under `txid`'s key:
    /// candidates, to be checked against the txid file.
    ///
    /// # Errors
    /// Read errors.
    pub(crate) fn candidates(&self, txid: &[u8; 32]) -> Result<Vec<(u64, u32)>> {
        let r = self.directory.bucket(txid);
        if r.is_empty() {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; usize::try_from(r.end - r.start)? * ENTRY_LEN];
        self.file
            .read_exact_at(
                &mut buf,
                self.header.entries_offset() + r.start * ENTRY_LEN as u64,
            )
            .with_context(|| format!("reading index run {}", self.name))?;
        Ok(txindex::candidates(&buf, txid)
            .filter_map(|o| self.blocks.locate(o))
            .collect())
    }

    /// Entries.
    pub(crate) fn entries(&self) -> u64 {
        self.header.entries
    }

    /// Bytes held in memory for lookups.
    pub(crate) fn memory(&self) -> usize {
        self.directory.memory() + self.blocks.blocks().len() * 24
    }
}

/// Every open run.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    open: RwLock<Vec<Arc<Run>>>,
}

impl Runs {
    /// Adds an opened run (replacing one of the same name).
    pub(crate) fn add(&self, run: Run) {
        let mut open = self
            .open
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.retain(|r| r.name != run.name);
        open.push(Arc::new(run));
    }

    /// Every location of `txid` any run lists (candidates), highest height first, each once.
    ///
    /// # Errors
    /// Read errors.
    pub(crate) fn candidates(&self, txid: &[u8; 32]) -> Result<Vec<(u64, u32)>> {
        let runs: Vec<Arc<Run>> = self
            .open
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut out = Vec::new();
        for r in &runs {
            out.extend(r.candidates(txid)?);
        }
        out.sort_unstable_by(|a, b| b.cmp(a));
        out.dedup();
        Ok(out)
    }

    /// (runs, entries, bytes in memory), for metrics.
    pub(crate) fn stats(&self) -> (usize, u64, usize) {
        let open = self
            .open
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            open.len(),
            open.iter().map(|r| r.entries()).sum(),
            open.iter().map(|r| r.memory()).sum(),
        )
    }
}

/// Where run `name` lives under `dir`.
pub(crate) fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.run"))
}

/// Writes the run of `blocks` from `(key, ordinal)` entries in any order, to `path`
/// (through a temporary name, synced), sorting at most [`CHUNK`] entries in memory.
/// Returns the number of entries.
///
/// # Errors
/// I/O errors, or entries that do not fit `blocks` (an ordinal past them, more entries than
/// transactions).
pub(crate) fn write_run(
    path: &Path,
    blocks: &Blocks,
    entries: &mut dyn Iterator<Item = Result<(u64, u32)>>,
) -> Result<u64> {
    let dir = path.parent().context("run path without a directory")?;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("run.tmp");
    let mut spilled: Vec<PathBuf> = Vec::new();
    let mut chunk: Vec<(u64, u32)> = Vec::with_capacity(CHUNK.min(1 << 16));
    let mut total = 0u64;
    let result = (|| -> Result<u64> {
        for e in entries {
            chunk.push(e?);
            total += 1;
            if chunk.len() == CHUNK {
                spilled.push(spill(&tmp, spilled.len(), &mut chunk)?);
            }
        }
        chunk.sort_unstable();
        let (mut w, head) = RunWriter::new(blocks, total)?;
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        out.write_all(&head)?;
        if spilled.is_empty() {
            for (k, o) in chunk.drain(..) {
                out.write_all(&w.push(k, o)?)?;
            }
        } else {
            spilled.push(spill(&tmp, spilled.len(), &mut chunk)?);
            merge_spilled(&spilled, &mut w, &mut out)?;
        }
        out.write_all(&w.finish()?)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(total)
    })();
    for s in &spilled {
        let _ = std::fs::remove_file(s);
    }
    match result {
        Ok(n) => {
            std::fs::rename(&tmp, path)?;
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Sorts `chunk` and writes it as raw entries to a temporary file beside `tmp`.
fn spill(tmp: &Path, n: usize, chunk: &mut Vec<(u64, u32)>) -> Result<PathBuf> {
    chunk.sort_unstable();
    let p = tmp.with_extension(format!("chunk{n}"));
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&p)?);
    for (k, o) in chunk.drain(..) {
        out.write_all(&k.to_be_bytes()[2..])?;
        out.write_all(&o.to_le_bytes())?;
    }
    out.flush()?;
    Ok(p)
}

/// Streams the sorted spill files into `w` in order (a k-way merge).
fn merge_spilled(files: &[PathBuf], w: &mut RunWriter, out: &mut impl Write) -> Result<()> {
    let mut readers: Vec<BufReader<File>> = files
        .iter()
        .map(|p| Ok(BufReader::with_capacity(1 << 16, File::open(p)?)))
        .collect::<Result<_>>()?;
    let next = |r: &mut BufReader<File>| -> Result<Option<(u64, u32)>> {
        let mut e = [0u8; ENTRY_LEN];
        match r.read_exact(&mut e) {
            Ok(()) => Ok(txindex::decode_entries(&e).next()),
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(err) => Err(err.into()),
        }
    };
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(e) = next(r)? {
            heap.push(std::cmp::Reverse((e, i)));
        }
    }
    while let Some(std::cmp::Reverse(((k, o), i))) = heap.pop() {
        out.write_all(&w.push(k, o)?)?;
        if let Some(e) = next(&mut readers[i])? {
            heap.push(std::cmp::Reverse((e, i)));
        }
    }
    Ok(())
}

/// The `(key, ordinal)` entry of transaction `index` of block `height` with `txid`.
///
/// # Errors
/// A block the table does not hold, or an index past its transactions.
pub(crate) fn entry(
    blocks: &Blocks,
    height: u64,
    index: u32,
    txid: &[u8; 32],
) -> Result<(u64, u32)> {
    match blocks.ordinal(height, index) {
        Some(o) => Ok((txindex::key_of(txid), o)),
        None => bail!("transaction {index} of block {height} is not in the run's blocks"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use torrent_core::txindex::RunBlock;

    #[test]
    fn a_run_spilled_in_chunks_is_the_run_built_in_memory() {
        let dir = std::env::temp_dir().join(format!("ts_runs_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let blocks = Blocks::new(vec![
            RunBlock {
                height: 10,
                tx_count: 3,
            },
            RunBlock {
                height: 12,
                tx_count: (CHUNK as u32) * 2 + 7,
            },
        ])
        .unwrap();
        let txid = |o: u32| torrent_core::bsv::hash::sha256d(&o.to_le_bytes());
        let all: Vec<(u64, u32)> = (0..blocks.total() as u32)
            .map(|o| (txindex::key_of(&txid(o)), o))
            .collect();
        let path = path_of(&dir, "big");
        let n = write_run(&path, &blocks, &mut all.clone().into_iter().map(Ok)).unwrap();
        assert_eq!(n, blocks.total());
        let whole = txindex::encode(&blocks, all).unwrap();
        assert!(std::fs::read(&path).unwrap() == whole, "spilled and merged");
        let run = Run::open("big", &path).unwrap();
        assert_eq!(run.candidates(&txid(5)).unwrap(), vec![(12, 2)]);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
