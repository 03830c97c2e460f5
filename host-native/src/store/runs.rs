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
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
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

    /// The run's name (a bundle's, `migrated`, or `merged-<first>-<last>`).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The blocks the run covers.
    pub(crate) fn blocks(&self) -> &Blocks {
        &self.blocks
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

    /// The open runs.
    pub(crate) fn all(&self) -> Vec<Arc<Run>> {
        self.open
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Forgets the run called `name`.
    pub(crate) fn remove(&self, name: &str) {
        self.open
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|r| r.name != name);
    }

    /// Swaps `merged` in for the runs named `sources`, at once for readers.
    pub(crate) fn replace(&self, sources: &[String], merged: Run) {
        let mut open = self
            .open
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.retain(|r| !sources.contains(&r.name) && r.name != merged.name);
        open.push(Arc::new(merged));
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

/// Runs merged at once; a size class holds at most `FAN_IN - 1` runs between merges.
pub(crate) const FAN_IN: usize = 4;

/// Runs of fewer entries than this are all of one size class (1 Mi entries, 10 MiB).
const SMALL_RUN: u64 = 1 << 20;

/// The runs to merge next, if any: size-tiered, as Cassandra's STCS. Sorted by entries,
/// runs are grouped while each is at most twice its group's mean (every run under
/// [`SMALL_RUN`] in one group); the first group with at least [`FAN_IN`] runs whose blocks
/// fit one run (2^32 transactions) is merged, smallest first. A merge at least doubles the
/// largest of its runs, so each entry is rewritten about log2(total / [`SMALL_RUN`]) times
/// at most, and a lookup reads one bucket per run: `FAN_IN - 1` runs per size class.
pub(crate) fn plan(runs: &[Arc<Run>]) -> Option<Vec<Arc<Run>>> {
    let mut sorted: Vec<&Arc<Run>> = runs.iter().collect();
    sorted.sort_by_key(|r| (r.entries(), r.name.clone()));
    let mut groups: Vec<Vec<&Arc<Run>>> = Vec::new();
    for r in sorted {
        let joins = groups.last().is_some_and(|g| {
            let mean = g.iter().map(|r| r.entries()).sum::<u64>() / g.len() as u64;
            r.entries() < SMALL_RUN || r.entries() <= mean.saturating_mul(2)
        });
        if joins {
            groups.last_mut().expect("a group").push(r);
        } else {
            groups.push(vec![r]);
        }
    }
    groups.into_iter().find_map(|g| {
        let mut total = 0u64;
        let take: Vec<Arc<Run>> = g
            .into_iter()
            .take_while(|r| {
                total += r.blocks.total();
                total <= txindex::MAX_ENTRIES
            })
            .cloned()
            .collect();
        (take.len() >= FAN_IN).then_some(take)
    })
}

/// Merges `sources` into one run at `path` (through a temporary name, synced), streaming:
/// memory is one read buffer per source. Returns the entries written.
///
/// # Errors
/// I/O errors, or sources that disagree on a block's transaction count.
pub(crate) fn merge_runs(path: &Path, sources: &[Arc<Run>]) -> Result<u64> {
    let union = Blocks::union(sources.iter().map(|r| &r.blocks))?;
    let streams = || -> Result<Vec<_>> {
        sources
            .iter()
            .map(|r| {
                let mut f = r.file.try_clone()?;
                f.seek(SeekFrom::Start(r.header.entries_offset()))?;
                let raw = BufReader::with_capacity(1 << 20, f.take(r.entries() * ENTRY_LEN as u64));
                let mut next = entry_reader(raw);
                let (blocks, union) = (&r.blocks, &union);
                // A bundle's blocks sit together in the union: one addition per entry.
                let shift = blocks.shift_into(union);
                Ok(std::iter::from_fn(move || {
                    next().map(|e| {
                        let (key, o) = e?;
                        if let Some(s) = shift {
                            return Ok((key, u32::try_from(u64::from(o) + s)?));
                        }
                        let (height, index) = blocks.locate(o).with_context(|| {
                            format!("run {}: ordinal {o} past its blocks", r.name)
                        })?;
                        let o = union
                            .ordinal(height, index)
                            .context("a block left out of the union")?;
                        Ok((key, o))
                    })
                }))
            })
            .collect()
    };
    // Sources over disjoint blocks hold disjoint entries; otherwise (a bundle indexed again
    // after a merge, the migrated run) one counting pass finds how many stay.
    let disjoint = union.total() == sources.iter().map(|r| r.blocks.total()).sum::<u64>();
    let count = if disjoint {
        sources.iter().map(|r| r.entries()).sum()
    } else {
        merge_sorted(&mut streams()?, &mut |_, _| Ok(()))?
    };
    write_atomically(path, |out| {
        let (mut w, head) = RunWriter::new(&union, count)?;
        out.write_all(&head)?;
        let n = merge_sorted(&mut streams()?, &mut |k, o| {
            Ok(out.write_all(&w.push(k, o)?)?)
        })?;
        out.write_all(&w.finish()?)?;
        Ok(n)
    })
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
    let tmp = path.with_extension("run.tmp");
    let mut spilled: Vec<PathBuf> = Vec::new();
    let result = write_atomically(path, |out| {
        // Sized once (at most the bundle's transactions): a vector grown by doubling leaves
        // freed blocks of every size behind, which glibc keeps resident.
        let cap = usize::try_from(blocks.total()).unwrap_or(CHUNK).min(CHUNK);
        let mut chunk: Vec<(u64, u32)> = Vec::with_capacity(cap);
        let mut total = 0u64;
        for e in entries {
            chunk.push(e?);
            total += 1;
            if chunk.len() == CHUNK {
                spilled.push(spill(&tmp, spilled.len(), &mut chunk)?);
            }
        }
        chunk.sort_unstable();
        let (mut w, head) = RunWriter::new(blocks, total)?;
        out.write_all(&head)?;
        if spilled.is_empty() {
            for (k, o) in chunk.drain(..) {
                out.write_all(&w.push(k, o)?)?;
            }
        } else {
            spilled.push(spill(&tmp, spilled.len(), &mut chunk)?);
            let mut readers = spilled
                .iter()
                .map(|p| {
                    Ok(std::iter::from_fn(entry_reader(BufReader::with_capacity(
                        1 << 16,
                        File::open(p)?,
                    ))))
                })
                .collect::<Result<Vec<_>>>()?;
            merge_sorted(&mut readers, &mut |k, o| Ok(out.write_all(&w.push(k, o)?)?))?;
        }
        out.write_all(&w.finish()?)?;
        Ok(total)
    });
    for s in &spilled {
        let _ = std::fs::remove_file(s);
    }
    result
}

/// Writes `path` through `<path>.tmp` (synced, then renamed, then the directory synced),
/// so that a crash leaves the old file or the whole new one; the temporary file is removed
/// on error.
fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<T>,
) -> Result<T> {
    let dir = path.parent().context("run path without a directory")?;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("run.tmp");
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        let v = write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(v)
    })();
    match result {
        Ok(v) => {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(v)
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

/// Reads raw entries (as runs and spill files store them) one at a time.
fn entry_reader(mut r: impl Read) -> impl FnMut() -> Option<Result<(u64, u32)>> {
    move || {
        let mut e = [0u8; ENTRY_LEN];
        match r.read_exact(&mut e) {
            Ok(()) => txindex::decode_entries(&e).next().map(Ok),
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => None,
            Err(err) => Some(Err(err.into())),
        }
    }
}

/// A k-way merge of sorted entry streams into `emit`, in order, each entry once (a
/// transaction two inputs hold, one block in two runs, is emitted once).
fn merge_sorted(
    inputs: &mut [impl Iterator<Item = Result<(u64, u32)>>],
    emit: &mut dyn FnMut(u64, u32) -> Result<()>,
) -> Result<u64> {
    let mut heap = BinaryHeap::with_capacity(inputs.len());
    for (i, r) in inputs.iter_mut().enumerate() {
        if let Some(e) = r.next() {
            heap.push(std::cmp::Reverse((e?, i)));
        }
    }
    let (mut last, mut n) = (None, 0u64);
    while let Some(std::cmp::Reverse((e, i))) = heap.pop() {
        if last != Some(e) {
            emit(e.0, e.1)?;
            last = Some(e);
            n += 1;
        }
        if let Some(next) = inputs[i].next() {
            heap.push(std::cmp::Reverse((next?, i)));
        }
    }
    Ok(n)
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
