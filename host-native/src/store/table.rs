//! Per-bundle files of per-block tables, the shape shared by the stored merkle levels
//! (`levels`) and the transactions' byte ranges (`offsets`): one file per bundle, a
//! 16-byte head, one row per block saying where its table starts, then the tables.
//!
//! ```text
//! magic (8 B) | blocks u32 | param u32 | (height u64, tx_count u64, offset u64) × blocks | tables
//! ```
//!
//! A file is written whole under a temporary name, synced and renamed, so a crash leaves
//! either the old file, the new one, or a temporary the next start removes. Readers keep a
//! file open with its rows (24 bytes a block) once used, up to [`MAX_OPEN`] files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};

const HEAD: u64 = 16;
const ROW: u64 = 24;

/// Open files kept at once; past it the set is cleared (files are opened again on use).
const MAX_OPEN: usize = 1024;

/// One block's row: its height, transactions, and where its table starts, counted from
/// the first table (when written) or from the file's start (when read).
pub(crate) type Row = (u64, u64, u64);

/// Writes a table file at `path`: the head, `rows` (offsets counted from the first table),
/// then the bytes of `bodies` one after the other (copied by the kernel where it can),
/// synced under its final name.
///
/// # Errors
/// I/O errors.
pub(crate) fn write(
    path: &Path,
    magic: &[u8; 8],
    param: u32,
    rows: &[Row],
    bodies: &[PathBuf],
) -> Result<()> {
    let tmp = temporary(path);
    let table = HEAD + ROW * rows.len() as u64;
    let result = (|| -> Result<()> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        out.write_all(magic)?;
        out.write_all(&u32::try_from(rows.len())?.to_le_bytes())?;
        out.write_all(&param.to_le_bytes())?;
        for &(height, n, offset) in rows {
            out.write_all(&height.to_le_bytes())?;
            out.write_all(&n.to_le_bytes())?;
            out.write_all(&(table + offset).to_le_bytes())?;
        }
        let mut out = out.into_inner().map_err(|e| e.into_error())?;
        for body in bodies {
            std::io::copy(&mut File::open(body)?, &mut out)?;
        }
        out.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary name `path` is written under.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// One open table file.
#[derive(Debug)]
pub(crate) struct TableFile {
    /// The file, for `pread`.
    pub file: File,
    /// The writer's parameter (chunk bits, value width).
    pub param: u32,
    /// Rows, heights ascending, offsets from the file's start.
    rows: Vec<Row>,
    /// The file's length.
    pub len: u64,
}

impl TableFile {
    fn open(path: &Path, magic: &[u8; 8]) -> Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut head = [0u8; HEAD as usize];
        file.read_exact_at(&mut head, 0)?;
        if &head[..8] != magic {
            bail!(
                "{}: not a {} file",
                path.display(),
                String::from_utf8_lossy(magic)
            );
        }
        let n = u32::from_le_bytes(head[8..12].try_into()?);
        let param = u32::from_le_bytes(head[12..16].try_into()?);
        if HEAD + ROW * u64::from(n) > len {
            bail!("{}: shorter than its block table", path.display());
        }
        let mut table = vec![0u8; usize::try_from(ROW * u64::from(n))?];
        file.read_exact_at(&mut table, HEAD)?;
        let rows = table
            .chunks_exact(ROW as usize)
            .map(|r| {
                let u = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().unwrap_or([0; 8]));
                (u(0), u(8), u(16))
            })
            .collect();
        Ok(Self {
            file,
            param,
            rows,
            len,
        })
    }

    /// Block `height`'s (transactions, table offset), if the file has it.
    pub(crate) fn block(&self, height: u64) -> Option<(u64, u64)> {
        let j = self.rows.binary_search_by_key(&height, |r| r.0).ok()?;
        let (_, n, offset) = self.rows[j];
        Some((n, offset))
    }
}

/// Every bundle's file of one kind (`<dir>/<bundle>.<ext>`), opened on first use.
#[derive(Debug)]
pub(crate) struct TableFiles {
    dir: PathBuf,
    ext: &'static str,
    magic: &'static [u8; 8],
    open: Mutex<HashMap<String, Option<Arc<TableFile>>>>,
}

impl TableFiles {
    pub(crate) fn new(dir: PathBuf, ext: &'static str, magic: &'static [u8; 8]) -> Self {
        Self {
            dir,
            ext,
            magic,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where bundle `name`'s file lives.
    pub(crate) fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{}", self.ext))
    }

    /// Whether bundle `name` has a file.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Forgets bundle `name`'s open file (it was written again).
    pub(crate) fn forget(&self, name: &str) {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
    }

    /// Bundle `name`'s file, or `None` when there is none (or it is not one of ours).
    pub(crate) fn get(&self, name: &str) -> Option<Arc<TableFile>> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = open.get(name) {
            return f.clone();
        }
        if open.len() >= MAX_OPEN {
            open.clear();
        }
        let f = TableFile::open(&self.path_of(name), self.magic)
            .ok()
            .map(Arc::new);
        open.insert(name.to_string(), f.clone());
        f
    }

    /// Removes what an interrupted writer left (temporaries, and files whose name ends
    /// with one of `also`).
    pub(crate) fn remove_temporaries(&self, also: &[&str]) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = name.contains(&format!(".{}", self.ext));
            if ours && (name.ends_with(".tmp") || also.iter().any(|a| name.ends_with(a))) {
                if e.path().is_dir() {
                    let _ = std::fs::remove_dir_all(e.path());
                } else {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_reads_back_and_a_foreign_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("ts-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.body"), dir.join("b.body"));
        std::fs::write(&a, [1u8; 10]).unwrap();
        std::fs::write(&b, [2u8; 6]).unwrap();
        let files = TableFiles::new(dir.clone(), "things", b"TSTHING1");
        let path = files.path_of("bundle");
        write(&path, b"TSTHING1", 7, &[(5, 2, 0), (9, 3, 10)], &[a, b]).unwrap();
        let f = files.get("bundle").unwrap();
        assert_eq!(f.param, 7);
        assert_eq!(f.block(5).map(|b| b.0), Some(2));
        let (n, at) = f.block(9).unwrap();
        assert_eq!(n, 3);
        let mut got = [0u8; 6];
        f.file.read_exact_at(&mut got, at).unwrap();
        assert_eq!(got, [2u8; 6]);
        assert_eq!(f.block(6), None);
        assert!(!files.has("other"));
        let wrong = TableFiles::new(dir.clone(), "things", b"TSOTHER1");
        assert!(wrong.get("bundle").is_none());
        std::fs::write(dir.join("x.things.tmp"), b"half").unwrap();
        files.remove_temporaries(&[]);
        assert!(!dir.join("x.things.tmp").exists());
        assert!(path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
