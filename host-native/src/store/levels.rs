//! The upper merkle levels of every indexed block, on disk (ADR 0003): one file per bundle
//! under `<data>/levels/`, written with the bundle's run, so that a proof reads its chunk of
//! txids and one stored node per level (`torrent_core::bsv::merkle::UpperLayout`) instead of
//! hashing the block's whole txid file. About 4 bytes per transaction at 16-txid chunks.
//!
//! Nothing here is trusted: a proof checks the nodes it reads, with its chunk, against the
//! header's merkle root (`SparsePath::new`), and a file that fails is only a slower proof
//! (the whole txid file is hashed instead).
//!
//! ```text
//! "TSLEVEL1" | blocks u32 | k u32 | (height u64, tx_count u64, offset u64) × blocks | levels
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use torrent_core::Txid;
use torrent_core::bsv::hash::MerkleNode;
use torrent_core::bsv::merkle::{UpperLayout, UpperTreeBuilder};

const MAGIC: &[u8; 8] = b"TSLEVEL1";
const HEAD: u64 = 16;
const ROW: u64 = 24;

/// Open level files kept at once (each holds its block table: 24 bytes a block).
const MAX_OPEN: usize = 1024;

/// Where bundle `name`'s levels live under `dir`.
fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.levels"))
}

/// Builds a bundle's levels file from its txids in (height, index) order.
#[derive(Debug)]
pub(crate) struct LevelsWriter {
    k: u32,
    blocks: Vec<(u64, u64)>,
    current: Option<(u64, UpperTreeBuilder)>,
    body: BufWriter<File>,
    body_path: PathBuf,
    rows: Vec<(u64, u64, u64)>,
    written: u64,
}

impl LevelsWriter {
    /// A writer for the blocks `(height, tx_count)`, with chunks of `2^k` txids.
    ///
    /// # Errors
    /// The temporary file cannot be created.
    pub(crate) fn new(dir: &Path, name: &str, k: u32, blocks: Vec<(u64, u64)>) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let body_path = path_of(dir, name).with_extension("levels.body");
        Ok(Self {
            k,
            blocks,
            current: None,
            body: BufWriter::with_capacity(1 << 20, File::create(&body_path)?),
            body_path,
            rows: Vec::new(),
            written: 0,
        })
    }

    /// The next txid: transaction `index` of block `height`.
    ///
    /// # Errors
    /// Out of order, or a mutated tree.
    pub(crate) fn push(&mut self, height: u64, index: u32, txid: &[u8; 32]) -> Result<()> {
        if self.current.as_ref().is_none_or(|(h, _)| *h != height) {
            self.close_block()?;
            if index != 0 {
                bail!("block {height}: txid {index} came before txid 0");
            }
            self.current = Some((height, UpperTreeBuilder::new(self.k)));
        }
        if let Some((_, b)) = &mut self.current {
            b.push(Txid::from_byte_array(*txid))?;
        }
        Ok(())
    }

    fn close_block(&mut self) -> Result<()> {
        if let Some((height, b)) = self.current.take() {
            let tree = b.finish()?;
            let bytes = tree.encode();
            self.body.write_all(&bytes)?;
            self.rows.push((height, tree.tx_count(), self.written));
            self.written += bytes.len() as u64;
        }
        Ok(())
    }

    /// Writes the file (table, then the levels), synced under its final name.
    ///
    /// # Errors
    /// I/O errors, or blocks whose txids did not all come.
    pub(crate) fn finish(mut self, dir: &Path, name: &str) -> Result<()> {
        self.close_block()?;
        let got: Vec<(u64, u64)> = self.rows.iter().map(|&(h, n, _)| (h, n)).collect();
        if got != self.blocks {
            bail!("the txids of bundle {name} do not cover its blocks");
        }
        self.body.flush()?;
        let path = path_of(dir, name);
        let tmp = path.with_extension("levels.tmp");
        let table = HEAD + ROW * self.rows.len() as u64;
        let result = (|| -> Result<()> {
            let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
            out.write_all(MAGIC)?;
            out.write_all(&u32::try_from(self.rows.len())?.to_le_bytes())?;
            out.write_all(&self.k.to_le_bytes())?;
            for &(height, n, offset) in &self.rows {
                out.write_all(&height.to_le_bytes())?;
                out.write_all(&n.to_le_bytes())?;
                out.write_all(&(table + offset).to_le_bytes())?;
            }
            std::io::copy(&mut File::open(&self.body_path)?, &mut out)?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        })();
        let _ = std::fs::remove_file(&self.body_path);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

impl Drop for LevelsWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.body_path);
    }
}

/// One bundle's open levels file.
#[derive(Debug)]
struct LevelsFile {
    file: File,
    k: u32,
    /// (height, tx_count, offset), heights ascending.
    rows: Vec<(u64, u64, u64)>,
    len: u64,
}

impl LevelsFile {
    fn open(path: &Path) -> Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut head = [0u8; HEAD as usize];
        file.read_exact_at(&mut head, 0)?;
        if &head[..8] != MAGIC {
            bail!("{}: not a levels file", path.display());
        }
        let n = u32::from_le_bytes(head[8..12].try_into()?);
        let k = u32::from_le_bytes(head[12..16].try_into()?);
        let mut table = vec![0u8; usize::try_from(ROW * u64::from(n))?];
        file.read_exact_at(&mut table, HEAD)?;
        let rows = table
            .chunks_exact(ROW as usize)
            .map(|r| {
                let u = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().unwrap_or([0; 8]));
                (u(0), u(8), u(16))
            })
            .collect();
        Ok(Self { file, k, rows, len })
    }

    /// The layout of block `height` and the siblings a proof of `index` needs.
    fn path(
        &self,
        height: u64,
        index: u64,
    ) -> Result<Option<(UpperLayout, Vec<Option<MerkleNode>>)>> {
        let Ok(j) = self.rows.binary_search_by_key(&height, |r| r.0) else {
            return Ok(None);
        };
        let (_, tx_count, offset) = self.rows[j];
        let layout = UpperLayout::new(tx_count, self.k)?;
        if offset + layout.len() > self.len || index >= tx_count {
            return Ok(None);
        }
        let siblings = layout
            .siblings(index)
            .map(|at| {
                at.map(|at| {
                    let mut n = [0u8; 32];
                    self.file.read_exact_at(&mut n, offset + at)?;
                    Ok(MerkleNode::from_byte_array(n))
                })
                .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((layout, siblings)))
    }
}

/// Every bundle's levels, opened on first use.
#[derive(Debug)]
pub(crate) struct Levels {
    dir: PathBuf,
    open: Mutex<HashMap<String, Option<Arc<LevelsFile>>>>,
}

impl Levels {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Forgets bundle `name`'s open file (it was written again).
    pub(crate) fn forget(&self, name: &str) {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
    }

    /// What a proof of transaction `index` of block `height` (in bundle `bundle`) reads from
    /// the stored levels, or `None` when they are not stored (a bundle indexed before
    /// levels existed, or a damaged file).
    ///
    /// # Errors
    /// Read errors.
    pub(crate) fn path(
        &self,
        bundle: &str,
        height: u64,
        index: u64,
    ) -> Result<Option<(UpperLayout, Vec<Option<MerkleNode>>)>> {
        let file = {
            let mut open = self
                .open
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(f) = open.get(bundle) {
                f.clone()
            } else {
                if open.len() >= MAX_OPEN {
                    open.clear();
                }
                let f = LevelsFile::open(&path_of(&self.dir, bundle))
                    .ok()
                    .map(Arc::new);
                open.insert(bundle.to_string(), f.clone());
                f
            }
        };
        match file {
            Some(f) => f
                .path(height, index)
                .with_context(|| format!("reading the stored merkle levels of bundle {bundle}")),
            None => Ok(None),
        }
    }
}
