//! The upper merkle levels of every indexed block, on disk (ADR 0003): one file per bundle
//! under `<data>/levels/`, written with the bundle's run, so that a proof reads its chunk of
//! txids and one stored node per level (`torrent_core::bsv::merkle::UpperLayout`) instead of
//! hashing the block's whole txid file. About 4 bytes per transaction at 16-txid chunks.
//!
//! Nothing here is trusted: a proof checks the nodes it reads, with its chunk, against the
//! header's merkle root (`SparsePath::new`), and a file that fails is only a slower proof
//! (the whole txid file is hashed instead).
//!
//! The file is a `table` file: magic `TSLEVEL1`, the chunk bits `k` as its parameter, and
//! per block the `UpperLayout` of its levels.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use torrent_core::Txid;
use torrent_core::bsv::hash::MerkleNode;
use torrent_core::bsv::merkle::{UpperLayout, UpperTreeBuilder};

use super::table::{self, TableFile, TableFiles};

const MAGIC: &[u8; 8] = b"TSLEVEL1";

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
        let result = table::write(
            &path_of(dir, name),
            MAGIC,
            self.k,
            &self.rows,
            std::slice::from_ref(&self.body_path),
        );
        let _ = std::fs::remove_file(&self.body_path);
        result
    }
}

impl Drop for LevelsWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.body_path);
    }
}

/// The layout of block `height` in `file` and the siblings a proof of `index` needs.
fn path(
    file: &TableFile,
    height: u64,
    index: u64,
) -> Result<Option<(UpperLayout, Vec<Option<MerkleNode>>)>> {
    let Some((tx_count, offset)) = file.block(height) else {
        return Ok(None);
    };
    let layout = UpperLayout::new(tx_count, file.param)?;
    if offset + layout.len() > file.len || index >= tx_count {
        return Ok(None);
    }
    let siblings = layout
        .siblings(index)
        .map(|at| {
            at.map(|at| {
                let mut n = [0u8; 32];
                file.file.read_exact_at(&mut n, offset + at)?;
                Ok(MerkleNode::from_byte_array(n))
            })
            .transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((layout, siblings)))
}

/// Every bundle's levels, opened on first use.
#[derive(Debug)]
pub(crate) struct Levels(TableFiles);

impl Levels {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self(TableFiles::new(dir, "levels", MAGIC))
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        self.0.dir()
    }

    /// Forgets bundle `name`'s open file (it was written again).
    pub(crate) fn forget(&self, name: &str) {
        self.0.forget(name);
    }

    /// Removes what an interrupted writer left.
    pub(crate) fn remove_temporaries(&self) {
        self.0.remove_temporaries(&[".levels.body"]);
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
        match self.0.get(bundle) {
            Some(f) => path(&f, height, index)
                .with_context(|| format!("reading the stored merkle levels of bundle {bundle}")),
            None => Ok(None),
        }
    }
}
