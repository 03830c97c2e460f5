//! The HTTP web seed (BEP 19 `url-list`): bundle files served with byte ranges from the
//! bundle store, so any client can fetch pieces over plain HTTP when no peer has them.
//!
//! A client asks for `<url-list>/<torrent name>/<path in torrent>`. Range requests get
//! `206 Partial Content` with `Content-Range`, unsatisfiable ones `416` with
//! `Content-Range: bytes */<size>`, and BEP 47 pad files (`.pad/<n>`) are served as `n`
//! zero bytes for clients that ask for them, but only those the bundle's torrent declares
//! (anything else would be endless zeros for a 70-byte request, DESIGN §16). Bodies are
//! streamed from disk, never loaded.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Where bundles live: `<root>/<name>/{blocks,txids}/...`.
#[derive(Debug, Clone)]
pub(crate) struct WebSeed {
    /// The bundle store.
    root: PathBuf,
    /// Pad lengths each bundle's torrent declares, with the torrent's mtime when read.
    pads: Arc<Mutex<HashMap<String, DeclaredPads>>>,
}

/// The pad lengths a torrent declares, and its modification time when they were read.
type DeclaredPads = (SystemTime, BTreeSet<u64>);

impl WebSeed {
    /// A web seed over the bundle store `root`.
    pub(crate) fn new(root: PathBuf) -> Self {
        Self {
            root,
            pads: Arc::default(),
        }
    }

    /// Whether bundle `name`'s torrent declares the pad file `.pad/<n>` (BEP 47 names pad
    /// files by their length). Each torrent is parsed once per modification.
    async fn declares_pad(&self, name: &str, n: u64) -> bool {
        let Some(torrent) = resolve(&self.root, &format!("{name}.torrent")) else {
            return false;
        };
        let Ok(mtime) = tokio::fs::metadata(&torrent)
            .await
            .and_then(|m| m.modified())
        else {
            return false;
        };
        if let Ok(p) = self.pads.lock()
            && let Some((at, lens)) = p.get(name)
            && *at == mtime
        {
            return lens.contains(&n);
        }
        let Ok(bytes) = tokio::fs::read(&torrent).await else {
            return false;
        };
        let Ok(m) = torrent_core::metainfo::Metainfo::parse(&bytes, &Default::default()) else {
            return false;
        };
        let lens: BTreeSet<u64> = m
            .files
            .iter()
            .filter(|f| f.pad && f.path.len() == 2 && f.path[1] == f.length.to_string())
            .map(|f| f.length)
            .collect();
        let found = lens.contains(&n);
        if let Ok(mut p) = self.pads.lock() {
            p.insert(name.to_string(), (mtime, lens));
        }
        found
    }
}

/// A Range header that no byte of the file satisfies (answered with 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsatisfiable;

/// Parses one `bytes=a-b`, `bytes=a-` or `bytes=-n` range against `size`.
/// `Ok(None)`: no (usable) Range header, serve everything.
///
/// # Errors
/// [`Unsatisfiable`].
pub(crate) fn parse_range(
    value: Option<&str>,
    size: u64,
) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(v) = value else { return Ok(None) };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    // Several ranges (multipart) are legal but no BitTorrent client sends them: serve all.
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| Unsatisfiable)?;
            if n == 0 || size == 0 {
                return Err(Unsatisfiable);
            }
            (size.saturating_sub(n), size - 1)
        }
        (s, "") => (
            s.parse().map_err(|_| Unsatisfiable)?,
            size.saturating_sub(1),
        ),
        (s, e) => {
            let (s, e): (u64, u64) = (
                s.parse().map_err(|_| Unsatisfiable)?,
                e.parse().map_err(|_| Unsatisfiable)?,
            );
            (s, e.min(size.saturating_sub(1)))
        }
    };
    if start >= size || start > end {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

/// Maps a request path to a file under `root`, refusing anything that could leave it.
fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let mut out = root.to_path_buf();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            _ => return None,
        }
    }
    (out != root).then_some(out)
}

/// `<name>/.pad/<n>`: the bundle name and the pad length asked for.
fn pad_len(rel: &str) -> Option<(&str, u64)> {
    let mut parts = rel.split('/');
    let (name, pad, n) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || pad != ".pad" {
        return None;
    }
    Some((name, n.parse().ok()?))
}

/// `GET|HEAD /webseed/{*path}`.
pub(crate) async fn serve(
    State(ws): State<WebSeed>,
    method: Method,
    headers: HeaderMap,
    UrlPath(rel): UrlPath<String>,
) -> Response {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (size, file) = if let Some((name, n)) = pad_len(&rel) {
        if !ws.declares_pad(name, n).await {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
        (n, None)
    } else {
        let Some(path) = resolve(&ws.root, &rel) else {
            return (StatusCode::BAD_REQUEST, "bad path").into_response();
        };
        match tokio::fs::File::open(&path).await {
            Ok(f) => match f.metadata().await {
                Ok(m) if m.is_file() => (m.len(), Some(f)),
                _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
            },
            Err(_) => return (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    };
    let (status, start, len) = match parse_range(range, size) {
        Ok(None) => (StatusCode::OK, 0, size),
        Ok(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        Err(Unsatisfiable) => {
            let mut r =
                (StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable").into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        match file {
            None => Body::from_stream(tokio_util::io::ReaderStream::new(
                tokio::io::repeat(0).take(len),
            )),
            Some(mut f) => {
                if f.seek(std::io::SeekFrom::Start(start)).await.is_err() {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "seek failed").into_response();
                }
                Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                    f.take(len),
                    256 * 1024,
                ))
            }
        }
    };
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some("bytes=10-11"), 10), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=x-2"), 10), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("items=0-1"), 10), Ok(None));
        assert!(resolve(Path::new("/r"), "../etc/passwd").is_none());
        assert!(resolve(Path::new("/r"), "/etc/passwd").is_none());
        assert_eq!(
            resolve(Path::new("/r"), "a/b"),
            Some(PathBuf::from("/r/a/b"))
        );
        assert_eq!(pad_len("name/.pad/16169"), Some(("name", 16169)));
        assert_eq!(pad_len("name/x/.pad/16169"), None);
        assert_eq!(pad_len("name/.pad/x"), None);
    }
}
