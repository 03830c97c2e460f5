//! The local bundle registry over HTTP (DESIGN §10's embedded default for published
//! references): `GET /v1/bundles` lists the bundles in the store with their seeders, and
//! `GET /v1/bundles/<infohash>.torrent` serves a torrent file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use torrent_core::bencode::{Limits, Value};
use torrent_core::metainfo::Metainfo;

use crate::tracker::Tracker;

/// Registry state.
#[derive(Clone)]
pub struct Registry {
    /// The bundle store (`<name>.torrent` files and `<name>/` data).
    pub root: PathBuf,
    /// For seeder counts.
    pub tracker: Arc<Tracker>,
    /// `host:port` of the HTTP server, for torrent URLs.
    pub public_http: String,
    /// Offload records (stages).
    pub store: Arc<crate::store::Store>,
    /// Current announce and web seed URLs for the bundles the service made.
    pub urls: Option<(String, String)>,
}

/// One entry of `GET /v1/bundles` (DESIGN §12 shape).
#[derive(Debug, Clone, Serialize)]
pub struct BundleEntry {
    /// Torrent name.
    pub name: String,
    /// First height.
    pub first: u64,
    /// Last height.
    pub last: u64,
    /// v1 info-hash.
    pub infohash_v1: String,
    /// v2 info-hash (hybrid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infohash_v2: Option<String>,
    /// Magnet link.
    pub magnet: String,
    /// Where to fetch the .torrent.
    pub torrent_url: String,
    /// Registered, staked seeders announcing it complete right now.
    pub seeders: usize,
    /// Offload stage (`written` … `seeding`, `pruning`, `pruned`), when the service made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Accounts whose audited copies opened the prune gate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gate_accounts: Vec<u64>,
}

fn bsv_range(info: &Value) -> Option<(u64, u64)> {
    torrent_core::bundle::read_bsv(info)
        .ok()
        .map(|m| (m.first, m.last))
}

/// Reads every bundle torrent in `root` (files that do not parse are skipped and logged).
fn scan(root: &Path) -> Vec<(PathBuf, Metainfo)> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Metainfo)> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "torrent"))
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            match Metainfo::parse(&bytes, &Limits::default()) {
                Ok(m) => Some((p, m)),
                Err(e) => {
                    tracing::warn!(path = %p.display(), "skipping unreadable torrent: {e}");
                    None
                }
            }
        })
        .collect();
    out.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    out
}

/// `GET /v1/bundles`.
pub async fn list(State(r): State<Registry>) -> Response {
    let root = r.root.clone();
    let Ok(found) = tokio::task::spawn_blocking(move || scan(&root)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let entries: Vec<BundleEntry> = found
        .into_iter()
        .filter_map(|(_, m)| {
            let (first, last) = bsv_range(&m.info)?;
            let ih = m.infohash_v1?;
            let announce: Vec<&str> = m.announce.iter().map(String::as_str).collect();
            let seeds: Vec<&str> = m.url_list.iter().map(String::as_str).collect();
            let rec = r.store.bundle(&m.name).ok().flatten();
            Some(BundleEntry {
                name: m.name.clone(),
                first,
                last,
                infohash_v1: ih.to_string(),
                infohash_v2: m.infohash_v2.map(|h| h.to_string()),
                magnet: m.magnet(&announce, &seeds),
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
pub async fn torrent(State(r): State<Registry>, UrlPath(file): UrlPath<String>) -> Response {
    let Some(hex) = file
        .strip_suffix(".torrent")
        .filter(|h| h.len() == 40 && torrent_core::hex::decode(h).is_ok())
    else {
        return (StatusCode::BAD_REQUEST, "expected <40 hex digits>.torrent").into_response();
    };
    let hex = hex.to_ascii_lowercase();
    let root = r.root.clone();
    let Ok(found) = tokio::task::spawn_blocking(move || scan(&root)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match found
        .into_iter()
        .find(|(_, m)| m.infohash_v1.is_some_and(|h| h.to_string() == hex))
    {
        Some((path, m)) => match std::fs::read(&path) {
            Ok(bytes) => {
                // Bundles this service made announce where its tracker and web seed are
                // now (ports may differ from the run that wrote them); the info is untouched.
                let bytes = match (&r.urls, r.store.bundle(&m.name)) {
                    (Some((announce, seed)), Ok(Some(_))) => {
                        m.reencode(Some(announce), std::slice::from_ref(seed))
                    }
                    _ => bytes,
                };
                ([(header::CONTENT_TYPE, "application/x-bittorrent")], bytes).into_response()
            }
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        },
        None => (StatusCode::NOT_FOUND, "no such bundle").into_response(),
    }
}
