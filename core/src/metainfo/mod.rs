//! Torrent metainfo: BitTorrent v1 (BEP 3) with BEP 47 pad files, and hybrid v1+v2
//! (BEP 52). Parsing keeps the `info` dictionary's raw bytes and hashes those; building goes
//! through [`crate::bencode::Value`], whose dictionaries are sorted, so what we write is
//! canonical and every machine writes the same bytes.

pub mod v1;
pub mod v2;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::bencode::{self, BencodeError, Limits, Value};
use crate::hex::{self, HexError};

/// A v1 info-hash: SHA-1 of the bencoded `info` dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InfoHashV1(pub [u8; 20]);

/// A v2 info-hash: SHA-256 of the bencoded `info` dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InfoHashV2(pub [u8; 32]);

impl InfoHashV1 {
    /// Hashes raw `info` bytes.
    pub fn of(info: &[u8]) -> Self {
        Self(Sha1::digest(info).into())
    }
}

impl InfoHashV2 {
    /// Hashes raw `info` bytes.
    pub fn of(info: &[u8]) -> Self {
        Self(Sha256::digest(info).into())
    }
}

impl fmt::Display for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Display for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl FromStr for InfoHashV1 {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::decode_array(s).map(Self)
    }
}

impl FromStr for InfoHashV2 {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::decode_array(s).map(Self)
    }
}

// Info-hashes travel as lowercase hex in JSON, records and the gRPC answers, the form
// trackers' and clients' users read; the bytes stay inside.
crate::hex::serde_as_hex!(InfoHashV1);
crate::hex::serde_as_hex!(InfoHashV2);

/// Why a .torrent is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetainfoError {
    /// Not bencode, or not canonical.
    #[error(transparent)]
    Bencode(#[from] BencodeError),
    /// A required key is missing.
    #[error("missing key `{key}`")]
    Missing {
        /// The key.
        key: &'static str,
    },
    /// A key holds the wrong type or a value out of range.
    #[error("invalid value for `{key}`")]
    Invalid {
        /// The key.
        key: &'static str,
    },
    /// A file path that could escape the download directory or is empty.
    #[error("unsafe or empty file path component {component:?}")]
    UnsafePath {
        /// The component.
        component: String,
    },
    /// The number of piece hashes does not match the total length.
    #[error("{got} piece hashes for {expected} pieces")]
    PieceCount {
        /// Pieces the length implies.
        expected: u64,
        /// Hashes present.
        got: u64,
    },
}

/// One file of a torrent, in v1 order (pad files included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components below the torrent's name.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// A BEP 47 pad file (zeros, never written to disk by clients).
    pub pad: bool,
    /// BEP 52 merkle root of the file, if the torrent has a v2 side.
    pub pieces_root: Option<[u8; 32]>,
}

/// A parsed and validated .torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    /// The `info` dictionary's bytes as they appear in the file.
    pub info_raw: Vec<u8>,
    /// The decoded `info` dictionary.
    pub info: Value,
    /// Torrent name (the top directory of a multi-file torrent).
    pub name: String,
    /// Piece length in bytes.
    pub piece_length: u64,
    /// v1 piece hashes (empty for v2-only torrents).
    pub pieces: Vec<[u8; 20]>,
    /// Files in order; a single-file torrent has one entry with an empty path.
    pub files: Vec<FileEntry>,
    /// `meta version` (2 for v2 and hybrid torrents).
    pub meta_version: Option<i64>,
    /// `announce`.
    pub announce: Option<String>,
    /// BEP 19 `url-list`.
    pub url_list: Vec<String>,
    /// BEP 52 `piece layers`: pieces root → concatenated piece hashes.
    pub piece_layers: BTreeMap<Vec<u8>, Vec<u8>>,
    /// v1 info-hash, when the torrent has a v1 side.
    pub infohash_v1: Option<InfoHashV1>,
    /// v2 info-hash, when the torrent has a v2 side.
    pub infohash_v2: Option<InfoHashV2>,
}

fn str_of(v: &Value, key: &'static str) -> Result<String, MetainfoError> {
    let b = v.as_bytes().ok_or(MetainfoError::Invalid { key })?;
    String::from_utf8(b.to_vec()).map_err(|_| MetainfoError::Invalid { key })
}

fn uint_of(v: &Value, key: &'static str) -> Result<u64, MetainfoError> {
    v.as_int()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or(MetainfoError::Invalid { key })
}

fn safe_component(c: &str) -> Result<(), MetainfoError> {
    if c.is_empty()
        || c == "."
        || c == ".."
        || c.contains('/')
        || c.contains('\\')
        || c.contains('\0')
    {
        return Err(MetainfoError::UnsafePath {
            component: c.to_string(),
        });
    }
    Ok(())
}

/// Re-encodes the torrent `bytes` as [`Metainfo::reencode`] does, from the raw values of
/// its `info` and `piece layers` keys alone (the info dictionary is not parsed): for a
/// server that keeps many torrents as bytes only.
///
/// # Errors
/// [`MetainfoError`] for bytes that are not a torrent with an `info` dictionary.
pub fn reencode_raw(
    bytes: &[u8],
    announce: Option<&str>,
    url_list: &[String],
    limits: &Limits,
) -> Result<Vec<u8>, MetainfoError> {
    let info = bencode::raw_dict_value(bytes, "info", limits)?
        .ok_or(MetainfoError::Missing { key: "info" })?;
    let layers = bencode::raw_dict_value(bytes, "piece layers", limits)?.filter(|l| *l != b"de");
    Ok(encode_parts(announce, info, layers, url_list))
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(alloc::format!("{}:", b.len()).as_bytes());
    out.extend_from_slice(b);
}

/// A torrent of these parts, keys in canonical order.
fn encode_parts(
    announce: Option<&str>,
    info_raw: &[u8],
    layers_raw: Option<&[u8]>,
    url_list: &[String],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(info_raw.len() + layers_raw.map_or(0, <[u8]>::len) + 256);
    out.push(b'd');
    if let Some(announce) = announce {
        put_bytes(&mut out, b"announce");
        put_bytes(&mut out, announce.as_bytes());
    }
    put_bytes(&mut out, b"info");
    out.extend_from_slice(info_raw);
    if let Some(layers) = layers_raw {
        put_bytes(&mut out, b"piece layers");
        out.extend_from_slice(layers);
    }
    if !url_list.is_empty() {
        put_bytes(&mut out, b"url-list");
        out.push(b'l');
        for u in url_list {
            put_bytes(&mut out, u.as_bytes());
        }
        out.push(b'e');
    }
    out.push(b'e');
    out
}

impl Metainfo {
    /// Parses and validates a .torrent.
    ///
    /// # Errors
    /// [`MetainfoError`].
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Self, MetainfoError> {
        let top = bencode::decode(bytes, limits)?;
        let info_raw = bencode::raw_dict_value(bytes, "info", limits)?
            .ok_or(MetainfoError::Missing { key: "info" })?
            .to_vec();
        let info = top
            .get("info")
            .cloned()
            .ok_or(MetainfoError::Missing { key: "info" })?;
        if info.as_dict().is_none() {
            return Err(MetainfoError::Invalid { key: "info" });
        }
        let name = str_of(
            info.get("name")
                .ok_or(MetainfoError::Missing { key: "name" })?,
            "name",
        )?;
        safe_component(&name)?;
        let piece_length = uint_of(
            info.get("piece length").ok_or(MetainfoError::Missing {
                key: "piece length",
            })?,
            "piece length",
        )?;
        if piece_length == 0 {
            return Err(MetainfoError::Invalid {
                key: "piece length",
            });
        }
        let meta_version = info.get("meta version").and_then(Value::as_int);
        let has_v2 = meta_version == Some(2);
        let has_v1 = info.get("pieces").is_some();
        if !has_v1 && !has_v2 {
            return Err(MetainfoError::Missing { key: "pieces" });
        }

        // v2 roots by path, to attach to the v1 file list of a hybrid.
        let mut v2_files: Vec<FileEntry> = Vec::new();
        if has_v2 {
            if !piece_length.is_power_of_two() || piece_length < 16 * 1024 {
                return Err(MetainfoError::Invalid {
                    key: "piece length",
                });
            }
            let tree = info
                .get("file tree")
                .ok_or(MetainfoError::Missing { key: "file tree" })?;
            walk_file_tree(tree, &mut Vec::new(), &mut v2_files, 0)?;
        }

        let mut files = Vec::new();
        let mut pieces = Vec::new();
        if has_v1 {
            if let Some(list) = info.get("files") {
                let list = list
                    .as_list()
                    .ok_or(MetainfoError::Invalid { key: "files" })?;
                for f in list {
                    let length = uint_of(
                        f.get("length")
                            .ok_or(MetainfoError::Missing { key: "length" })?,
                        "length",
                    )?;
                    let path_list = f
                        .get("path")
                        .and_then(Value::as_list)
                        .ok_or(MetainfoError::Invalid { key: "path" })?;
                    let mut path = Vec::with_capacity(path_list.len());
                    for c in path_list {
                        let c = str_of(c, "path")?;
                        safe_component(&c)?;
                        path.push(c);
                    }
                    if path.is_empty() {
                        return Err(MetainfoError::Invalid { key: "path" });
                    }
                    let pad = f
                        .get("attr")
                        .and_then(Value::as_bytes)
                        .is_some_and(|a| a.contains(&b'p'));
                    let pieces_root = v2_files
                        .iter()
                        .find(|e| e.path == path)
                        .and_then(|e| e.pieces_root);
                    files.push(FileEntry {
                        path,
                        length,
                        pad,
                        pieces_root,
                    });
                }
            } else {
                let length = uint_of(
                    info.get("length")
                        .ok_or(MetainfoError::Missing { key: "length" })?,
                    "length",
                )?;
                files.push(FileEntry {
                    path: Vec::new(),
                    length,
                    pad: false,
                    pieces_root: v2_files.first().and_then(|e| e.pieces_root),
                });
            }
            let raw = info
                .get("pieces")
                .and_then(Value::as_bytes)
                .ok_or(MetainfoError::Invalid { key: "pieces" })?;
            if raw.len() % 20 != 0 {
                return Err(MetainfoError::Invalid { key: "pieces" });
            }
            pieces = raw
                .chunks_exact(20)
                .map(|c| {
                    let mut h = [0u8; 20];
                    h.copy_from_slice(c);
                    h
                })
                .collect();
            let total = files
                .iter()
                .try_fold(0u64, |acc, f| acc.checked_add(f.length))
                .ok_or(MetainfoError::Invalid { key: "length" })?;
            let expected = total.div_ceil(piece_length);
            if expected != pieces.len() as u64 {
                return Err(MetainfoError::PieceCount {
                    expected,
                    got: pieces.len() as u64,
                });
            }
        } else {
            files = v2_files;
        }

        let mut piece_layers = BTreeMap::new();
        if let Some(layers) = top.get("piece layers") {
            let d = layers.as_dict().ok_or(MetainfoError::Invalid {
                key: "piece layers",
            })?;
            for (k, v) in d {
                let v = v.as_bytes().ok_or(MetainfoError::Invalid {
                    key: "piece layers",
                })?;
                if k.len() != 32 || v.len() % 32 != 0 {
                    return Err(MetainfoError::Invalid {
                        key: "piece layers",
                    });
                }
                piece_layers.insert(k.clone(), v.to_vec());
            }
        }
        let announce = top
            .get("announce")
            .map(|v| str_of(v, "announce"))
            .transpose()?;
        let url_list = match top.get("url-list") {
            None => Vec::new(),
            Some(Value::Bytes(_)) => alloc::vec![str_of(
                top.get("url-list").unwrap_or(&Value::Int(0)),
                "url-list"
            )?],
            Some(Value::List(l)) => l
                .iter()
                .map(|u| str_of(u, "url-list"))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(MetainfoError::Invalid { key: "url-list" }),
        };
        Ok(Self {
            infohash_v1: has_v1.then(|| InfoHashV1::of(&info_raw)),
            infohash_v2: has_v2.then(|| InfoHashV2::of(&info_raw)),
            info_raw,
            info,
            name,
            piece_length,
            pieces,
            files,
            meta_version,
            announce,
            url_list,
            piece_layers,
        })
    }

    /// Re-encodes the torrent with `announce` as its only tracker (a seeder's passkey URL),
    /// keeping the raw `info` bytes — so both info-hashes — the piece layers and the web
    /// seeds. Other top-level keys (comments, dates) are dropped.
    pub fn with_announce(&self, announce: &str) -> Vec<u8> {
        self.reencode(Some(announce), &self.url_list)
    }

    /// Re-encodes the torrent with the given tracker (none: a trackerless torrent) and web
    /// seeds, keeping the raw `info` bytes and the piece layers. Canonical key order.
    pub fn reencode(&self, announce: Option<&str>, url_list: &[String]) -> Vec<u8> {
        let layers = (!self.piece_layers.is_empty()).then(|| {
            let mut d = alloc::vec![b'd'];
            for (k, v) in &self.piece_layers {
                put_bytes(&mut d, k);
                put_bytes(&mut d, v);
            }
            d.push(b'e');
            d
        });
        encode_parts(announce, &self.info_raw, layers.as_deref(), url_list)
    }

    /// Returns the total length of all files, pad files included.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }

    /// Returns the magnet link: v1 and (for hybrids) v2 hashes, name, trackers, web seeds.
    pub fn magnet(&self, trackers: &[&str], web_seeds: &[&str]) -> String {
        magnet(
            self.infohash_v1,
            self.infohash_v2,
            &self.name,
            trackers,
            web_seeds,
        )
    }
}

fn walk_file_tree(
    node: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<FileEntry>,
    depth: usize,
) -> Result<(), MetainfoError> {
    let d = node
        .as_dict()
        .ok_or(MetainfoError::Invalid { key: "file tree" })?;
    if depth > 16 {
        return Err(MetainfoError::Invalid { key: "file tree" });
    }
    for (k, v) in d {
        if k.is_empty() {
            // The file's own properties: {"length", "pieces root"}.
            let length = uint_of(
                v.get("length")
                    .ok_or(MetainfoError::Missing { key: "length" })?,
                "length",
            )?;
            let pieces_root = match v.get("pieces root").and_then(Value::as_bytes) {
                Some(r) if r.len() == 32 => {
                    let mut a = [0u8; 32];
                    a.copy_from_slice(r);
                    Some(a)
                }
                Some(_) => return Err(MetainfoError::Invalid { key: "pieces root" }),
                None => None,
            };
            out.push(FileEntry {
                path: path.clone(),
                length,
                pad: false,
                pieces_root,
            });
            continue;
        }
        let c = String::from_utf8(k.clone())
            .map_err(|_| MetainfoError::Invalid { key: "file tree" })?;
        safe_component(&c)?;
        path.push(c);
        walk_file_tree(v, path, out, depth + 1)?;
        path.pop();
    }
    Ok(())
}

/// Percent-encodes a URL for a magnet parameter.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&alloc::format!("%{b:02X}"));
        }
    }
    out
}

/// Builds a magnet link.
pub fn magnet(
    v1: Option<InfoHashV1>,
    v2: Option<InfoHashV2>,
    name: &str,
    trackers: &[&str],
    web_seeds: &[&str],
) -> String {
    let mut parts = Vec::new();
    if let Some(h) = v1 {
        parts.push(alloc::format!("xt=urn:btih:{h}"));
    }
    if let Some(h) = v2 {
        parts.push(alloc::format!("xt=urn:btmh:1220{h}"));
    }
    parts.push(alloc::format!("dn={}", pct(name)));
    for t in trackers {
        parts.push(alloc::format!("tr={}", pct(t)));
    }
    for w in web_seeds {
        parts.push(alloc::format!("ws={}", pct(w)));
    }
    alloc::format!("magnet:?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_hashes_travel_as_the_hex_they_display() {
        let v1 = InfoHashV1::of(b"d4:name1:ae");
        let v2 = InfoHashV2::of(b"d4:name1:ae");
        let json = serde_json::to_string(&(v1, v2)).unwrap();
        assert_eq!(json, alloc::format!("[\"{v1}\",\"{v2}\"]"));
        assert_eq!(
            serde_json::from_str::<(InfoHashV1, InfoHashV2)>(&json).unwrap(),
            (v1, v2)
        );
        assert!(
            serde_json::from_str::<InfoHashV1>("\"abc\"").is_err(),
            "too short"
        );
        assert!(
            serde_json::from_str::<InfoHashV1>(&alloc::format!("\"{v2}\"")).is_err(),
            "a v2 hash"
        );
    }

    #[test]
    fn a_raw_reencoding_is_the_parsed_one() {
        let t = b"d8:announce3:abc7:comment2:hi4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae8:url-listl1:uee";
        let m = Metainfo::parse(t, &Limits::default()).unwrap();
        let seeds = ["http://s/".to_string()];
        for (announce, urls) in [(None, &[][..]), (Some("http://t/a"), &seeds[..])] {
            assert_eq!(
                reencode_raw(t, announce, urls, &Limits::default()).unwrap(),
                m.reencode(announce, urls)
            );
        }
        assert!(reencode_raw(b"d4:name1:xe", None, &[], &Limits::default()).is_err());
    }
}
