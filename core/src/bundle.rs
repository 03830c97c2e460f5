//! Bundles: the deterministic torrents that hold a height range of blocks (DESIGN §3).
//!
//! Everything here is a pure function of the blocks' metadata and the bundle settings, so
//! every miner that offloads the same range writes the same `info` dictionary and joins the
//! same swarm. Layout of `bsv-<network>-<first:09>-<last:09>`:
//!
//! ```text
//! blocks/<height:09>-<blockhash>.bin     the block as on the wire
//! txids/<height:09>-<blockhash>.txids    its txids, 32 bytes each, internal order
//! ```
//!
//! Files are listed in path order (all blocks, then all txid files): BEP 52 requires the v1
//! file list of a hybrid to follow the v2 file tree, whose keys are sorted. Every file but the
//! last is followed by a BEP 47 pad file, so each file starts on a piece boundary.
//!
//! ## Piece length rule
//!
//! [`piece_length_for`] returns the largest power of two `P` with 16 KiB ≤ `P` ≤ `max` whose
//! padding is at most 1/32 of the data; when even 16 KiB pads more than that (bundles of
//! tiny early blocks), 16 KiB. So the padding is at most `max(data / 32, (files - 1) × 16 KiB)`
//! (property-tested), and big blocks get big pieces, up to `piece_size`.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bencode::{Value, dict, text};
use crate::bsv::hash::BlockHash;
use crate::bsv::header::Header;
use crate::bsv::network::Network;
use crate::metainfo::v1::pad_len;
use crate::metainfo::v2::FileRoots;
use crate::metainfo::{InfoHashV1, InfoHashV2};

/// Smallest piece length (BEP 52's block size).
pub const MIN_PIECE: u64 = 16 * 1024;

/// Version of the `bsv` dictionary's layout.
pub const BSV_FORMAT_VERSION: i64 = 1;

/// Which metainfo to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TorrentFormat {
    /// BitTorrent v1 with pad files (every client here can read it).
    #[default]
    V1,
    /// v1 + v2 (BEP 52).
    Hybrid,
}

/// What the planner needs to know about one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// Height.
    pub height: u64,
    /// Header.
    pub header: Header,
    /// Transaction count.
    pub tx_count: u64,
    /// Serialized size, bytes.
    pub size: u64,
}

impl BlockMeta {
    /// Length of the block's txid file.
    pub fn txids_len(&self) -> u64 {
        self.tx_count.saturating_mul(32)
    }
}

/// Why blocks cannot form a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// No blocks.
    #[error("a bundle needs at least one block")]
    Empty,
    /// Heights are not consecutive.
    #[error("height {expected} is missing (next block given is {got})")]
    MissingHeight {
        /// The height that should come next.
        expected: u64,
        /// The height found instead.
        got: u64,
    },
    /// A header does not link to the previous block.
    #[error("block {height} points to {got}, but block {} is {expected}", height - 1)]
    BrokenLink {
        /// Height of the block whose `prev` is wrong.
        height: u64,
        /// Hash of the block before it.
        expected: BlockHash,
        /// Its `prev_blockhash`.
        got: BlockHash,
    },
    /// More than `u64` bytes.
    #[error("bundle size overflows")]
    TooLarge,
}

/// One planned file (block data or txids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// `blocks` or `txids`.
    pub dir: &'static str,
    /// File name.
    pub name: String,
    /// Length.
    pub length: u64,
    /// Zero bytes of the pad file after it (0 for the last file).
    pub pad: u64,
    /// Height of the block it belongs to.
    pub height: u64,
}

impl PlannedFile {
    /// Returns `dir/name`.
    pub fn rel_path(&self) -> String {
        alloc::format!("{}/{}", self.dir, self.name)
    }
}

/// A complete plan: name, files, piece length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePlan {
    /// Network.
    pub network: Network,
    /// First height.
    pub first: u64,
    /// Last height.
    pub last: u64,
    /// Torrent name and top directory.
    pub name: String,
    /// Files in torrent order.
    pub files: Vec<PlannedFile>,
    /// Piece length.
    pub piece_length: u64,
    /// Format.
    pub format: TorrentFormat,
    /// The blocks.
    pub blocks: Vec<BlockMeta>,
}

/// Returns the bundle name of a range.
pub fn bundle_name(network: Network, first: u64, last: u64) -> String {
    alloc::format!("bsv-{network}-{first:09}-{last:09}")
}

/// Returns the aligned range `[k·B, (k+1)·B)` holding `height`, as `(first, last)`.
pub fn range_of(height: u64, bundle_blocks: u64) -> (u64, u64) {
    let b = bundle_blocks.max(1);
    let first = height - height % b;
    (first, first.saturating_add(b - 1))
}

/// Returns the total padding for files of `sizes` (in order) at piece length `p`.
pub fn padding(sizes: &[u64], p: u64) -> u64 {
    let n = sizes.len();
    sizes
        .iter()
        .take(n.saturating_sub(1))
        .map(|&s| pad_len(s, p))
        .sum()
}

/// The piece length rule (see the module docs). `max` is clamped to a power of two ≥ 16 KiB.
pub fn piece_length_for(sizes: &[u64], max: u64) -> u64 {
    let max = if max.is_power_of_two() {
        max
    } else {
        max.next_power_of_two() / 2
    }
    .max(MIN_PIECE);
    let data: u64 = sizes.iter().sum();
    let mut p = max;
    while p > MIN_PIECE {
        if padding(sizes, p) <= data / 32 {
            return p;
        }
        p /= 2;
    }
    MIN_PIECE
}

/// Plans a bundle over `blocks` (consecutive heights, linked headers).
///
/// # Errors
/// [`BundleError`].
pub fn plan(
    network: Network,
    blocks: &[BlockMeta],
    max_piece: u64,
    format: TorrentFormat,
) -> Result<BundlePlan, BundleError> {
    let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
        return Err(BundleError::Empty);
    };
    for pair in blocks.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.height != a.height + 1 {
            return Err(BundleError::MissingHeight {
                expected: a.height + 1,
                got: b.height,
            });
        }
        let expected = a.header.block_hash();
        if b.header.prev_blockhash != expected {
            return Err(BundleError::BrokenLink {
                height: b.height,
                expected,
                got: b.header.prev_blockhash,
            });
        }
    }
    let mut files = Vec::with_capacity(blocks.len() * 2);
    for b in blocks {
        files.push(PlannedFile {
            dir: "blocks",
            name: alloc::format!("{:09}-{}.bin", b.height, b.header.block_hash()),
            length: b.size,
            pad: 0,
            height: b.height,
        });
    }
    for b in blocks {
        files.push(PlannedFile {
            dir: "txids",
            name: alloc::format!("{:09}-{}.txids", b.height, b.header.block_hash()),
            length: b.txids_len(),
            pad: 0,
            height: b.height,
        });
    }
    let sizes: Vec<u64> = files.iter().map(|f| f.length).collect();
    sizes
        .iter()
        .try_fold(0u64, |a, s| a.checked_add(*s))
        .ok_or(BundleError::TooLarge)?;
    let piece_length = piece_length_for(&sizes, max_piece);
    let n = files.len();
    for f in files.iter_mut().take(n - 1) {
        f.pad = pad_len(f.length, piece_length);
    }
    Ok(BundlePlan {
        network,
        first: first.height,
        last: last.height,
        name: bundle_name(network, first.height, last.height),
        files,
        piece_length,
        format,
        blocks: blocks.to_vec(),
    })
}

/// Hashes of one planned file, computed by the host's writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    /// v1 piece hashes of the file (its last piece zero-padded unless it is the last file).
    pub pieces: Vec<[u8; 20]>,
    /// v2 roots (hybrid only).
    pub v2: Option<FileRoots>,
}

/// A built bundle torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltTorrent {
    /// The `info` dictionary's canonical bytes.
    pub info: Vec<u8>,
    /// The whole .torrent.
    pub torrent: Vec<u8>,
    /// v1 info-hash.
    pub infohash_v1: InfoHashV1,
    /// v2 info-hash (hybrid only).
    pub infohash_v2: Option<InfoHashV2>,
}

impl BundlePlan {
    /// Returns the `bsv` dictionary.
    pub fn bsv_dict(&self) -> Value {
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                dict([
                    ("header", Value::Bytes(b.header.to_bytes().to_vec())),
                    ("height", Value::Int(b.height as i64)),
                    ("size", Value::Int(b.size as i64)),
                    ("tx_count", Value::Int(b.tx_count as i64)),
                ])
            })
            .collect();
        dict([
            ("blocks", Value::List(blocks)),
            ("first", Value::Int(self.first as i64)),
            ("last", Value::Int(self.last as i64)),
            ("network", text(self.network.as_str())),
            ("version", Value::Int(BSV_FORMAT_VERSION)),
        ])
    }

    /// Assembles the torrent from the files' hashes (one entry per planned file, in order).
    /// Trackers and web seeds go outside `info`, so they never change the info-hashes.
    ///
    /// # Panics
    /// Never; a `hashes` list of the wrong length gives a torrent that clients reject, so
    /// the writer always passes one entry per file.
    pub fn build(
        &self,
        hashes: &[FileHashes],
        announce: &[String],
        web_seeds: &[String],
    ) -> BuiltTorrent {
        let mut file_list = Vec::new();
        let mut pieces = Vec::new();
        for (f, h) in self.files.iter().zip(hashes) {
            file_list.push(dict([
                ("length", Value::Int(f.length as i64)),
                ("path", Value::List(alloc::vec![text(f.dir), text(&f.name)])),
            ]));
            if f.pad > 0 {
                file_list.push(dict([
                    ("attr", text("p")),
                    ("length", Value::Int(f.pad as i64)),
                    (
                        "path",
                        Value::List(alloc::vec![
                            text(".pad"),
                            text(&alloc::format!("{}", f.pad))
                        ]),
                    ),
                ]));
            }
            for p in &h.pieces {
                pieces.extend_from_slice(p);
            }
        }
        let mut info = dict([
            ("bsv", self.bsv_dict()),
            ("files", Value::List(file_list)),
            ("name", text(&self.name)),
            ("piece length", Value::Int(self.piece_length as i64)),
            ("pieces", Value::Bytes(pieces)),
        ]);
        let mut layers = BTreeMap::new();
        if self.format == TorrentFormat::Hybrid {
            let mut tree: BTreeMap<Vec<u8>, Value> = BTreeMap::new();
            for (f, h) in self.files.iter().zip(hashes) {
                let Some(v2) = &h.v2 else { continue };
                let mut props = BTreeMap::new();
                props.insert(b"length".to_vec(), Value::Int(f.length as i64));
                if f.length > 0 {
                    props.insert(b"pieces root".to_vec(), Value::Bytes(v2.root.to_vec()));
                }
                let leaf = dict([("", Value::Dict(props))]);
                let dir = tree
                    .entry(f.dir.as_bytes().to_vec())
                    .or_insert_with(|| Value::Dict(BTreeMap::new()));
                if let Value::Dict(d) = dir {
                    d.insert(f.name.as_bytes().to_vec(), leaf);
                }
                if f.length > self.piece_length {
                    layers.insert(v2.root.to_vec(), Value::Bytes(v2.piece_layer.concat()));
                }
            }
            if let Value::Dict(d) = &mut info {
                d.insert(b"file tree".to_vec(), Value::Dict(tree));
                d.insert(b"meta version".to_vec(), Value::Int(2));
            }
        }
        let info_bytes = info.encode();
        let mut top = BTreeMap::new();
        if let Some(first) = announce.first() {
            top.insert(b"announce".to_vec(), text(first));
            if announce.len() > 1 {
                let tiers = announce
                    .iter()
                    .map(|a| Value::List(alloc::vec![text(a)]))
                    .collect();
                top.insert(b"announce-list".to_vec(), Value::List(tiers));
            }
        }
        top.insert(b"created by".to_vec(), text("torrent_service"));
        top.insert(b"info".to_vec(), info);
        if self.format == TorrentFormat::Hybrid {
            top.insert(b"piece layers".to_vec(), Value::Dict(layers));
        }
        if !web_seeds.is_empty() {
            top.insert(
                b"url-list".to_vec(),
                Value::List(web_seeds.iter().map(|w| text(w)).collect()),
            );
        }
        BuiltTorrent {
            infohash_v1: InfoHashV1::of(&info_bytes),
            infohash_v2: (self.format == TorrentFormat::Hybrid)
                .then(|| InfoHashV2::of(&info_bytes)),
            info: info_bytes,
            torrent: Value::Dict(top).encode(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_names() {
        assert_eq!(range_of(0, 144), (0, 143));
        assert_eq!(range_of(413_567, 144), (413_424, 413_567));
        assert_eq!(
            bundle_name(Network::Mainnet, 0, 143),
            "bsv-mainnet-000000000-000000143"
        );
    }

    #[test]
    fn piece_length_prefers_big_pieces_for_big_files() {
        let gb = 1u64 << 30;
        assert_eq!(piece_length_for(&[gb, gb / 8], 32 << 20), 32 << 20);
        assert_eq!(piece_length_for(&[215; 10], 32 << 20), MIN_PIECE);
        let p = piece_length_for(&[1_000_000, 50_000], 32 << 20);
        assert!(padding(&[1_000_000, 50_000], p) <= 1_050_000 / 32);
    }
}

/// What names a bundle to its users, the same whoever made it: the first fields of
/// `bundle --json` and of each `GET /v1/bundles` entry (DESIGN §12).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BundleSummary {
    /// Torrent name.
    pub name: String,
    /// First height.
    pub first: u64,
    /// Last height.
    pub last: u64,
    /// v1 info-hash.
    pub infohash_v1: InfoHashV1,
    /// v2 info-hash (hybrid bundles only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infohash_v2: Option<InfoHashV2>,
    /// Magnet link with the torrent's trackers and web seeds.
    pub magnet: String,
}

impl BundleSummary {
    /// Reads it from a bundle torrent; `None` for a torrent that is not a bundle (no valid
    /// `bsv` dictionary, or no v1 info-hash).
    pub fn of(m: &crate::metainfo::Metainfo) -> Option<Self> {
        let bsv = read_bsv(&m.info).ok()?;
        let announce: Vec<&str> = m.announce.iter().map(String::as_str).collect();
        let seeds: Vec<&str> = m.url_list.iter().map(String::as_str).collect();
        Some(Self {
            name: m.name.clone(),
            first: bsv.first,
            last: bsv.last,
            infohash_v1: m.infohash_v1?,
            infohash_v2: m.infohash_v2,
            magnet: m.magnet(&announce, &seeds),
        })
    }
}

/// A bundle's `bsv` dictionary, read back (the one reader the hosts share).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BsvMeta {
    /// Format version.
    pub version: i64,
    /// Network name (`mainnet`, `testnet`, `regtest`, ...).
    pub network: String,
    /// First height.
    pub first: u64,
    /// Last height.
    pub last: u64,
    /// Every block, by height.
    pub blocks: Vec<BlockMeta>,
}

/// Why a `bsv` dictionary was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BsvMetaError {
    /// No `bsv` key in `info`: not a bundle.
    #[error("no `bsv` dictionary in info: not a bundle torrent")]
    Missing,
    /// A field is absent or of the wrong type.
    #[error("bsv.{0} is missing or malformed")]
    Field(&'static str),
    /// The blocks do not cover `first..=last` in order.
    #[error("bsv.blocks holds heights {got:?}, expected {first}..={last} in order")]
    Heights {
        /// First height declared.
        first: u64,
        /// Last height declared.
        last: u64,
        /// Heights found.
        got: Vec<u64>,
    },
    /// A header does not link to the one before it.
    #[error("the header of block {height} does not link to block {prev}")]
    Linkage {
        /// The block whose `prev` is wrong.
        height: u64,
        /// The block before it.
        prev: u64,
    },
}

fn uint(v: Option<&Value>, what: &'static str) -> Result<u64, BsvMetaError> {
    v.and_then(Value::as_int)
        .and_then(|i| u64::try_from(i).ok())
        .ok_or(BsvMetaError::Field(what))
}

/// Reads the `bsv` dictionary of a bundle's `info`, strictly: every field typed, heights
/// `first..=last` in order, each header linking to the one before.
///
/// # Errors
/// [`BsvMetaError`].
pub fn read_bsv(info: &Value) -> Result<BsvMeta, BsvMetaError> {
    let bsv = info.get("bsv").ok_or(BsvMetaError::Missing)?;
    let version = bsv
        .get("version")
        .and_then(Value::as_int)
        .ok_or(BsvMetaError::Field("version"))?;
    let network = bsv
        .get("network")
        .and_then(Value::as_bytes)
        .and_then(|b| core::str::from_utf8(b).ok())
        .ok_or(BsvMetaError::Field("network"))?
        .into();
    let first = uint(bsv.get("first"), "first")?;
    let last = uint(bsv.get("last"), "last")?;
    let list = bsv
        .get("blocks")
        .and_then(Value::as_list)
        .ok_or(BsvMetaError::Field("blocks"))?;
    let mut blocks = Vec::with_capacity(list.len());
    for b in list {
        let header = b
            .get("header")
            .and_then(Value::as_bytes)
            .and_then(|h| Header::decode(h).ok())
            .ok_or(BsvMetaError::Field("blocks[].header"))?;
        blocks.push(BlockMeta {
            height: uint(b.get("height"), "blocks[].height")?,
            header,
            tx_count: uint(b.get("tx_count"), "blocks[].tx_count")?,
            size: uint(b.get("size"), "blocks[].size")?,
        });
    }
    let in_order = !blocks.is_empty()
        && blocks.first().map(|b| b.height) == Some(first)
        && blocks.last().map(|b| b.height) == Some(last)
        && blocks.windows(2).all(|w| w[1].height == w[0].height + 1);
    if !in_order {
        return Err(BsvMetaError::Heights {
            first,
            last,
            got: blocks.iter().map(|b| b.height).collect(),
        });
    }
    for w in blocks.windows(2) {
        if w[1].header.prev_blockhash != w[0].header.block_hash() {
            return Err(BsvMetaError::Linkage {
                height: w[1].height,
                prev: w[0].height,
            });
        }
    }
    Ok(BsvMeta {
        version,
        network,
        first,
        last,
        blocks,
    })
}
