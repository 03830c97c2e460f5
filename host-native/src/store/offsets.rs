//! Where each transaction of every offloaded block lies in its block file, so that a raw
//! transaction (or a BEEF) is one `pread` of its own bytes, or, when the block file is not
//! here, a fetch of only the pieces that hold them.
//!
//! One `table` file per bundle under `<data>/offsets/`: magic `TSTXOFF1`, the value width
//! (5) as its parameter, and per block `tx_count + 1` little-endian 40-bit offsets from the
//! block file's start: transaction `i` is the bytes `offsets[i]..offsets[i + 1]`. That is 5
//! bytes per transaction (a billion transactions: 5 GB, half the txid index) for blocks of
//! up to 1 TiB.
//!
//! The bundle writer records them as it decodes each block (no pass of its own); a bundle
//! written before they existed gets them from its block files when the pipeline starts
//! (`Pipeline::add_missing_offsets`). Nothing here is trusted: the bytes a range selects
//! are served only once they hash to the txid asked for.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use torrent_core::bsv::block::BlockEvent;

use super::table::{self, TableFiles};

const MAGIC: &[u8; 8] = b"TSTXOFF1";
/// Bytes per offset.
const WIDTH: u32 = 5;
/// The largest offset 40 bits hold, plus one.
const LIMIT: u64 = 1 << 40;

/// Every bundle's offsets, opened on first use.
#[derive(Debug)]
pub(crate) struct Offsets(TableFiles);

impl Offsets {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self(TableFiles::new(dir, "offsets", MAGIC))
    }

    /// Whether bundle `name` has its offsets.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.has(name)
    }

    /// Removes what an interrupted writer left.
    pub(crate) fn remove_temporaries(&self) {
        self.0.remove_temporaries(&[".offsets.d"]);
    }

    /// A writer for bundle `name`'s offsets.
    ///
    /// # Errors
    /// The folder cannot be created.
    pub(crate) fn writer(&self, name: &str) -> Result<OffsetsWriter> {
        let parts = self.0.dir().join(format!("{name}.offsets.d"));
        let _ = std::fs::remove_dir_all(&parts);
        std::fs::create_dir_all(&parts).with_context(|| format!("creating {}", parts.display()))?;
        self.0.forget(name);
        Ok(OffsetsWriter {
            path: self.0.path_of(name),
            parts,
        })
    }

    /// The byte range (offset, length) of transaction `index` of block `height` in its
    /// block file, or `None` when the bundle's offsets are not stored or lack that block.
    ///
    /// # Errors
    /// Read errors, or a file whose two offsets are out of order.
    pub(crate) fn range(
        &self,
        bundle: &str,
        height: u64,
        index: u64,
    ) -> Result<Option<(u64, u64)>> {
        let Some(f) = self.0.get(bundle) else {
            return Ok(None);
        };
        let Some((n, at)) = f.block(height) else {
            return Ok(None);
        };
        let w = u64::from(WIDTH);
        if f.param != WIDTH || index >= n || at + (n + 1) * w > f.len {
            return Ok(None);
        }
        let mut b = [0u8; 2 * WIDTH as usize];
        f.file
            .read_exact_at(&mut b, at + index * w)
            .with_context(|| format!("reading the offsets of bundle {bundle}"))?;
        let (start, end) = (read40(&b[..5]), read40(&b[5..]));
        ensure!(
            start < end,
            "the offsets of bundle {bundle} are damaged at block {height}"
        );
        Ok(Some((start, end - start)))
    }

    /// Writes bundle `name`'s offsets from its block files (`(height, path)`, ascending),
    /// each decoded whole (a bundle written before offsets were recorded).
    ///
    /// # Errors
    /// A block file that is missing or does not decode.
    pub(crate) fn write_from_blocks(&self, name: &str, blocks: &[(u64, PathBuf)]) -> Result<()> {
        let w = self.writer(name)?;
        let mut counts = Vec::with_capacity(blocks.len());
        for (height, path) in blocks {
            let mut out = w.block(*height)?;
            let (mut tx_count, mut failed) = (0, None);
            let summary = crate::blockfile::walk(path, |ev| {
                if let BlockEvent::Tx(t) = ev {
                    if let Err(e) = out.push(t.offset) {
                        failed = Some(e);
                        return false;
                    }
                    tx_count += 1;
                }
                true
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            out.finish(summary.map_or(0, |s| s.size))?;
            counts.push((*height, tx_count));
        }
        w.finish(&counts)
    }
}

fn read40(b: &[u8]) -> u64 {
    let mut v = [0u8; 8];
    v[..5].copy_from_slice(&b[..5]);
    u64::from_le_bytes(v)
}

/// Builds one bundle's offsets file, a block at a time (blocks may be written from several
/// threads: each has a part file of its own).
#[derive(Debug)]
pub(crate) struct OffsetsWriter {
    path: PathBuf,
    parts: PathBuf,
}

impl OffsetsWriter {
    /// The writer of block `height`'s offsets.
    ///
    /// # Errors
    /// The part file cannot be created.
    pub(crate) fn block(&self, height: u64) -> Result<BlockOffsets> {
        let path = self.parts.join(height.to_string());
        Ok(BlockOffsets {
            out: BufWriter::with_capacity(
                1 << 16,
                File::create(&path).with_context(|| format!("creating {}", path.display()))?,
            ),
            last: None,
        })
    }

    /// Writes the file for `blocks` (`(height, tx_count)`, ascending), each of which must
    /// have been written whole, synced under its final name.
    ///
    /// # Errors
    /// A block missing or of another length, or I/O errors.
    pub(crate) fn finish(self, blocks: &[(u64, u64)]) -> Result<()> {
        let w = u64::from(WIDTH);
        let (mut rows, mut bodies, mut at) = (Vec::new(), Vec::new(), 0u64);
        for &(height, n) in blocks {
            let part = self.parts.join(height.to_string());
            let len = std::fs::metadata(&part)
                .with_context(|| format!("block {height}'s offsets were not written"))?
                .len();
            if len != (n + 1) * w {
                bail!("block {height}: {len} bytes of offsets for {n} transactions");
            }
            rows.push((height, n, at));
            bodies.push(part);
            at += len;
        }
        table::write(&self.path, MAGIC, WIDTH, &rows, &bodies)
    }
}

impl Drop for OffsetsWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.parts);
    }
}

/// One block's offsets as its transactions are decoded.
#[derive(Debug)]
pub(crate) struct BlockOffsets {
    out: BufWriter<File>,
    last: Option<u64>,
}

impl BlockOffsets {
    /// The next transaction starts at `offset`.
    ///
    /// # Errors
    /// An offset not above the last one, past 40 bits, or I/O errors.
    pub(crate) fn push(&mut self, offset: u64) -> Result<()> {
        ensure!(
            offset < LIMIT,
            "a block of more than 1 TiB: offsets hold 40 bits"
        );
        ensure!(
            self.last.is_none_or(|l| l < offset),
            "transaction offsets must ascend"
        );
        self.last = Some(offset);
        self.out
            .write_all(&offset.to_le_bytes()[..WIDTH as usize])?;
        Ok(())
    }

    /// The block ends at `size`.
    ///
    /// # Errors
    /// As [`Self::push`].
    pub(crate) fn finish(mut self, size: u64) -> Result<()> {
        self.push(size)?;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_back_per_block_and_what_is_absent_is_none() {
        let dir = std::env::temp_dir().join(format!("ts-offsets-{}", std::process::id()));
        let offsets = Offsets::new(dir.clone());
        let w = offsets.writer("b").unwrap();
        // Written out of order, as two workers would.
        let mut b7 = w.block(7).unwrap();
        for o in [81, 300] {
            b7.push(o).unwrap();
        }
        b7.finish(1000).unwrap();
        let mut b5 = w.block(5).unwrap();
        b5.push(81).unwrap();
        b5.finish(LIMIT - 1).unwrap();
        w.finish(&[(5, 1), (7, 2)]).unwrap();
        assert!(!dir.join("b.offsets.d").exists());
        assert_eq!(offsets.range("b", 5, 0).unwrap(), Some((81, LIMIT - 82)));
        assert_eq!(offsets.range("b", 7, 0).unwrap(), Some((81, 219)));
        assert_eq!(offsets.range("b", 7, 1).unwrap(), Some((300, 700)));
        assert_eq!(offsets.range("b", 7, 2).unwrap(), None);
        assert_eq!(offsets.range("b", 6, 0).unwrap(), None);
        assert_eq!(offsets.range("c", 7, 0).unwrap(), None);
        // Descending or too large offsets are refused; a short block is not written.
        let w = offsets.writer("d").unwrap();
        let mut b = w.block(1).unwrap();
        b.push(90).unwrap();
        assert!(b.push(90).is_err());
        assert!(b.push(LIMIT).is_err());
        b.finish(100).unwrap();
        assert!(w.finish(&[(1, 2)]).is_err());
        assert!(!offsets.has("d"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
