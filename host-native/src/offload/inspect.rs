//! `torrent_service inspect`: what a .torrent holds and, with `--verify`, whether data on
//! disk matches it. For bundles it also checks the `bsv` metadata: each block file's header
//! against the one in `info`, and each txid file against the header's merkle root.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use sha1::{Digest, Sha1};
use torrent_core::Header;
use torrent_core::bencode::{Limits, Value};
use torrent_core::bsv::merkle::MerkleRootBuilder;
use torrent_core::metainfo::{InfoHashV1, InfoHashV2, Metainfo};

/// One block of a bundle's `bsv` dictionary.
#[derive(Debug, Clone, Serialize)]
pub struct BsvBlock {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub hash: String,
    /// Transaction count.
    pub tx_count: u64,
    /// Size in bytes.
    pub size: u64,
    /// The 80-byte header, hex.
    pub header: String,
}

/// A file as `inspect` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    /// Path below the torrent name.
    pub path: String,
    /// Length.
    pub length: u64,
    /// BEP 47 pad file.
    pub pad: bool,
    /// Index of the first piece it touches.
    pub first_piece: u64,
}

/// What `inspect --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// Torrent name.
    pub name: String,
    /// v1 info-hash.
    pub infohash_v1: Option<InfoHashV1>,
    /// v2 info-hash.
    pub infohash_v2: Option<InfoHashV2>,
    /// Piece length.
    pub piece_length: u64,
    /// Number of v1 pieces.
    pub pieces: u64,
    /// Total length, pad files included.
    pub total_length: u64,
    /// Bytes of pad files.
    pub pad_bytes: u64,
    /// Files in order.
    pub files: Vec<FileView>,
    /// `announce`.
    pub announce: Option<String>,
    /// Web seeds.
    pub url_list: Vec<String>,
    /// Magnet link.
    pub magnet: String,
    /// Bundle network, when the torrent is a bundle.
    pub network: Option<String>,
    /// Bundle blocks, when the torrent is a bundle.
    pub blocks: Vec<BsvBlock>,
    /// `--verify` result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyReport>,
}

/// The outcome of `--verify`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Pieces whose hash matched.
    pub good_pieces: u64,
    /// Indices of pieces that did not match (or whose data is missing).
    pub bad_pieces: Vec<u64>,
    /// Files missing or of the wrong length.
    pub bad_files: Vec<String>,
    /// Bundle checks that failed (headers, txid merkle roots).
    pub bsv_errors: Vec<String>,
}

impl VerifyReport {
    /// True when everything matched.
    pub fn ok(&self) -> bool {
        self.bad_pieces.is_empty() && self.bad_files.is_empty() && self.bsv_errors.is_empty()
    }
}

fn bsv_blocks(info: &Value) -> (Option<String>, Vec<BsvBlock>) {
    let Some(bsv) = info.get("bsv") else {
        return (None, Vec::new());
    };
    let network = bsv
        .get("network")
        .and_then(Value::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let blocks = bsv
        .get("blocks")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|b| {
            let header = Header::decode(b.get("header")?.as_bytes()?).ok()?;
            Some(BsvBlock {
                height: u64::try_from(b.get("height")?.as_int()?).ok()?,
                hash: header.block_hash().to_string(),
                tx_count: u64::try_from(b.get("tx_count")?.as_int()?).ok()?,
                size: u64::try_from(b.get("size")?.as_int()?).ok()?,
                header: torrent_core::hex::encode(&header.to_bytes()),
            })
        })
        .collect();
    (network, blocks)
}

/// Reads and describes a .torrent.
///
/// # Errors
/// An unreadable file or a malformed torrent (with what is wrong).
pub fn inspect(path: &Path) -> Result<(Metainfo, Inspection)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let m = Metainfo::parse(&bytes, &Limits::default())
        .with_context(|| format!("{} is not a valid torrent", path.display()))?;
    let mut files = Vec::new();
    let mut offset = 0u64;
    for f in &m.files {
        files.push(FileView {
            path: f.path.join("/"),
            length: f.length,
            pad: f.pad,
            first_piece: offset / m.piece_length,
        });
        offset += f.length;
    }
    let (network, blocks) = bsv_blocks(&m.info);
    let announce: Vec<&str> = m.announce.iter().map(String::as_str).collect();
    let seeds: Vec<&str> = m.url_list.iter().map(String::as_str).collect();
    let view = Inspection {
        name: m.name.clone(),
        infohash_v1: m.infohash_v1,
        infohash_v2: m.infohash_v2,
        piece_length: m.piece_length,
        pieces: m.pieces.len() as u64,
        total_length: m.total_length(),
        pad_bytes: m.files.iter().filter(|f| f.pad).map(|f| f.length).sum(),
        files,
        announce: m.announce.clone(),
        url_list: m.url_list.clone(),
        magnet: m.magnet(&announce, &seeds),
        network,
        blocks,
        verify: None,
    };
    Ok((m, view))
}

/// Finds the content root: `dir/<name>` when it exists (a client's save path), else `dir`.
fn content_root(m: &Metainfo, dir: &Path) -> PathBuf {
    let nested = dir.join(&m.name);
    if m.files.len() == 1 && m.files[0].path.is_empty() {
        return dir.to_path_buf();
    }
    if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}

/// Re-hashes the data under `dir` against the v1 pieces and checks bundle metadata.
///
/// # Errors
/// Only for a torrent without v1 pieces; missing or bad data is reported, not an error.
pub fn verify(m: &Metainfo, view: &Inspection, dir: &Path) -> Result<VerifyReport> {
    anyhow::ensure!(
        !m.pieces.is_empty(),
        "--verify needs a torrent with v1 pieces"
    );
    let root = content_root(m, dir);
    let mut report = VerifyReport::default();
    let mut sha = Sha1::new();
    let mut filled = 0u64;
    let mut piece = 0u64;
    let mut piece_bad = false;
    let mut buf = vec![0u8; 1 << 20];
    let finish_piece = |sha: &mut Sha1, bad: bool, piece: u64, report: &mut VerifyReport| {
        let h: [u8; 20] = sha.finalize_reset().into();
        if bad || m.pieces.get(piece as usize) != Some(&h) {
            report.bad_pieces.push(piece);
        } else {
            report.good_pieces += 1;
        }
    };
    for f in &m.files {
        let mut left = f.length;
        let mut reader: Option<Box<dyn Read>> = if f.pad {
            None
        } else {
            let path = if f.path.is_empty() {
                root.clone()
            } else {
                f.path.iter().fold(root.clone(), |p, c| p.join(c))
            };
            match File::open(&path) {
                Ok(file) if file.metadata().map(|md| md.len()).ok() == Some(f.length) => {
                    Some(Box::new(BufReader::new(file)))
                }
                _ => {
                    report.bad_files.push(f.path.join("/"));
                    None
                }
            }
        };
        let missing = !f.pad && reader.is_none();
        while left > 0 {
            let want = (m.piece_length - filled).min(left).min(buf.len() as u64) as usize;
            match reader.as_mut() {
                Some(r) => {
                    if r.read_exact(&mut buf[..want]).is_err() {
                        piece_bad = true;
                        buf[..want].fill(0);
                    }
                }
                None => {
                    buf[..want].fill(0);
                    piece_bad |= missing;
                }
            }
            sha.update(&buf[..want]);
            filled += want as u64;
            left -= want as u64;
            if filled == m.piece_length {
                finish_piece(&mut sha, piece_bad, piece, &mut report);
                piece += 1;
                filled = 0;
                piece_bad = false;
            }
        }
    }
    if filled > 0 {
        finish_piece(&mut sha, piece_bad, piece, &mut report);
    }
    for b in &view.blocks {
        check_bsv_block(&root, b, &mut report);
    }
    Ok(report)
}

fn check_bsv_block(root: &Path, b: &BsvBlock, report: &mut VerifyReport) {
    let stem = format!("{:09}-{}", b.height, b.hash);
    let block = root.join("blocks").join(format!("{stem}.bin"));
    let mut head = [0u8; 80];
    match File::open(&block).and_then(|mut f| f.read_exact(&mut head)) {
        Ok(()) if torrent_core::hex::encode(&head) == b.header => {}
        Ok(()) => report.bsv_errors.push(format!(
            "block {}: header differs from the torrent's",
            b.height
        )),
        Err(e) => report.bsv_errors.push(format!("block {}: {e}", b.height)),
    }
    let txids = root.join("txids").join(format!("{stem}.txids"));
    let result = (|| -> Result<()> {
        let mut r = BufReader::new(File::open(&txids)?);
        let mut builder = MerkleRootBuilder::new();
        let mut t = [0u8; 32];
        while r.read_exact(&mut t).is_ok() {
            builder.push(torrent_core::Txid::from_byte_array(t))?;
        }
        anyhow::ensure!(
            builder.count() == b.tx_count,
            "{} txids, expected {}",
            builder.count(),
            b.tx_count
        );
        let header = Header::decode(&torrent_core::hex::decode(&b.header)?)?;
        anyhow::ensure!(
            builder.finish()? == header.merkle_root,
            "txids do not hash to the header's merkle root"
        );
        Ok(())
    })();
    if let Err(e) = result {
        report
            .bsv_errors
            .push(format!("txids of block {}: {e:#}", b.height));
    }
}
