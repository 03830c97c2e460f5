//! The local bundle registry over HTTP (DESIGN §10's embedded default for published
//! references): `GET /v1/bundles` lists the bundles in the store with their seeders, and
//! `GET /v1/bundles/<infohash>.torrent` serves a torrent file. The torrents are held in
//! memory by [`Catalog`], which also tells the tracker which info-hashes it serves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use torrent_core::bencode::Limits;
use torrent_core::bundle::BundleSummary;
use torrent_core::metainfo::Metainfo;

use crate::tracker::{Known, Tracker};

/// One torrent of the bundle store, read once. Only its bytes and what the routes need are
/// kept: a parsed torrent takes about five times its size (its info dictionary as a tree),
/// and the aged chain is thousands of bundles.
#[derive(Debug)]
pub struct Entry {
    /// Its bytes as stored.
    pub bytes: Vec<u8>,
    /// Torrent name.
    pub name: String,
    /// v1 info-hash.
    pub infohash_v1: Option<torrent_core::metainfo::InfoHashV1>,
    /// Name, heights, info-hashes and magnet link, for a bundle torrent.
    pub summary: Option<BundleSummary>,
    /// The file it was read from: name, length and modification time. Torrents are
    /// written under a temporary name and renamed into place, so the same three mean the
    /// same bytes, and a rescan reuses the entry instead of reading and parsing it again.
    file: FileStamp,
}

type FileStamp = (std::ffi::OsString, u64, Option<std::time::SystemTime>);

/// What the bundle store held at the last scan.
#[derive(Debug, Default)]
struct Snapshot {
    /// Directory modification time and file names: a new, renamed or deleted torrent
    /// changes them (torrents are written to a `.part` file and renamed into place).
    stamp: Option<(std::time::SystemTime, Vec<std::ffi::OsString>)>,
    /// By name.
    entries: Vec<Arc<Entry>>,
    /// v1 info-hash (lower-case hex) to position in `entries`.
    by_hash: HashMap<String, usize>,
}

/// The bundle store's torrents in memory (DESIGN §16: requests never read or parse torrent
/// files), refreshed when the folder changes ([`Catalog::refresh`], every second from the
/// service and after every bundle written).
#[derive(Debug)]
pub struct Catalog {
    root: PathBuf,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Their info-hashes, for the tracker.
    pub known: Known,
}

fn stamp(root: &Path) -> Option<(std::time::SystemTime, Vec<std::ffi::OsString>)> {
    let modified = std::fs::metadata(root).and_then(|m| m.modified()).ok()?;
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|n| Path::new(n).extension().is_some_and(|x| x == "torrent"))
        .collect();
    names.sort();
    Some((modified, names))
}

impl Catalog {
    /// A catalog of `root` (scanned at once).
    pub fn new(root: PathBuf) -> Arc<Self> {
        let c = Arc::new(Self {
            root,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            known: Known::default(),
        });
        c.refresh();
        c
    }

    /// Rescans the folder when it changed since the last scan; returns whether it did.
    pub fn refresh(&self) -> bool {
        let now = stamp(&self.root);
        if self
            .snapshot
            .read()
            .is_ok_and(|s| s.stamp.is_some() && s.stamp == now)
        {
            return false;
        }
        let known: HashMap<FileStamp, Arc<Entry>> = self
            .entries()
            .into_iter()
            .map(|e| (e.file.clone(), e))
            .collect();
        let entries = scan(&self.root, &known);
        let by_hash: HashMap<String, usize> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.infohash_v1.map(|h| (h.to_string(), i)))
            .collect();
        self.known
            .replace(entries.iter().filter_map(|e| e.infohash_v1).collect());
        if let Ok(mut s) = self.snapshot.write() {
            *s = Arc::new(Snapshot {
                stamp: now,
                entries,
                by_hash,
            });
        }
        true
    }

    /// Every torrent, by name.
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        self.snapshot
            .read()
            .map(|s| s.entries.clone())
            .unwrap_or_default()
    }

    /// The torrent with v1 info-hash `hex` (lower case).
    pub fn by_infohash(&self, hex: &str) -> Option<Arc<Entry>> {
        let s = self.snapshot.read().ok()?;
        s.by_hash.get(hex).and_then(|&i| s.entries.get(i)).cloned()
    }

    /// The torrent called `name`.
    pub fn by_name(&self, name: &str) -> Option<Arc<Entry>> {
        let s = self.snapshot.read().ok()?;
        s.entries
            .binary_search_by(|e| e.name.as_str().cmp(name))
            .ok()
            .and_then(|i| s.entries.get(i))
            .cloned()
    }

    /// Refreshes every `every` until `shutdown`.
    pub async fn refresh_loop(
        self: Arc<Self>,
        every: std::time::Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        crate::periodic::every_blocking(every, shutdown, move || {
            self.refresh();
        })
        .await;
    }
}

/// Registry state.
#[derive(Clone)]
pub(crate) struct Registry {
    /// The bundle store's torrents.
    pub catalog: Arc<Catalog>,
    /// For seeder counts.
    pub tracker: Arc<Tracker>,
    /// `host:port` of the HTTP server, for torrent URLs.
    pub public_http: String,
    /// Offload records (stages).
    pub store: Arc<crate::store::Store>,
    /// Current announce and web seed URLs for the bundles the service made.
    pub urls: Option<(String, String)>,
}

/// One entry of `GET /v1/bundles` (DESIGN §12 shape: the summary, then its state here);
/// also what `seed` reads from another service's registry, so only the summary and the
/// torrent's URL are required.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BundleEntry {
    /// Name, heights, info-hashes and magnet link.
    #[serde(flatten)]
    pub summary: BundleSummary,
    /// Where to fetch the .torrent.
    pub torrent_url: String,
    /// Registered, staked seeders announcing it complete right now.
    #[serde(default)]
    pub seeders: usize,
    /// Offload stage (`written` … `seeding`, `pruning`, `pruned`), when the service made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Accounts whose audited copies opened the prune gate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gate_accounts: Vec<u64>,
}

/// Reads every bundle torrent in `root` (files that do not parse are skipped and logged),
/// sorted by name; a file `known` already holds, by name, length and modification time, is
/// taken from there, so a scan after one new bundle parses one torrent, not all of them.
fn scan(root: &Path, known: &HashMap<FileStamp, Arc<Entry>>) -> Vec<Arc<Entry>> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<Arc<Entry>> = rd
        .filter_map(|e| e.ok())
        .filter(|e| {
            Path::new(&e.file_name())
                .extension()
                .is_some_and(|x| x == "torrent")
        })
        .filter_map(|e| {
            let md = e.metadata().ok()?;
            let file: FileStamp = (e.file_name(), md.len(), md.modified().ok());
            if let Some(entry) = known.get(&file) {
                return Some(Arc::clone(entry));
            }
            let p = e.path();
            let bytes = std::fs::read(&p).ok()?;
            match Metainfo::parse(&bytes, &Limits::default()) {
                Ok(meta) => Some(Arc::new(Entry {
                    name: meta.name.clone(),
                    infohash_v1: meta.infohash_v1,
                    summary: BundleSummary::of(&meta),
                    bytes,
                    file,
                })),
                Err(err) => {
                    tracing::warn!(path = %p.display(), "skipping unreadable torrent: {err}");
                    None
                }
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `GET /v1/bundles`.
pub(crate) async fn list(State(r): State<Registry>) -> Response {
    let entries: Vec<BundleEntry> = r
        .catalog
        .entries()
        .iter()
        .filter_map(|e| {
            let summary = e.summary.clone()?;
            let ih = summary.infohash_v1;
            let rec = r.store.bundle(&summary.name).ok().flatten();
            Some(BundleEntry {
                summary,
                torrent_url: format!("http://{}/v1/bundles/{ih}.torrent", r.public_http),
                seeders: r.tracker.authenticated_seeders(&ih),
                stage: rec.as_ref().map(|r| r.stage.clone()),
                gate_accounts: rec.map(|r| r.gate_accounts).unwrap_or_default(),
            })
        })
        .collect();
    axum::Json(entries).into_response()
}

/// `GET /v1/bundles/<infohash>.torrent`.
pub(crate) async fn torrent(State(r): State<Registry>, UrlPath(file): UrlPath<String>) -> Response {
    let Some(hex) = file
        .strip_suffix(".torrent")
        .filter(|h| h.len() == 40 && torrent_core::hex::decode(h).is_ok())
    else {
        return (StatusCode::BAD_REQUEST, "expected <40 hex digits>.torrent").into_response();
    };
    let hex = hex.to_ascii_lowercase();
    match r.catalog.by_infohash(&hex) {
        Some(e) => {
            // Bundles this service made announce where its tracker and web seed are now
            // (ports may differ from the run that wrote them); the info is untouched.
            let bytes = match (&r.urls, r.store.bundle(&e.name)) {
                (Some((announce, seed)), Ok(Some(_))) => torrent_core::metainfo::reencode_raw(
                    &e.bytes,
                    Some(announce),
                    std::slice::from_ref(seed),
                    &Limits::default(),
                )
                .unwrap_or_else(|_| e.bytes.clone()),
                _ => e.bytes.clone(),
            };
            ([(header::CONTENT_TYPE, "application/x-bittorrent")], bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such bundle").into_response(),
    }
}
