//! The web-spv page on `http_port` (DESIGN §13): `/` and `/app.js` are compiled into the
//! binary; `/pkg/*` (the wasm-bindgen output of `web_spv`, made by `web-spv/build.sh`) is
//! read from `web_spv_dir`. The page checks proofs in the browser with the same core.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../web-spv/www/index.html");
const APP: &str = include_str!("../../web-spv/www/app.js");

/// Where the generated `web_spv.js` and `web_spv_bg.wasm` are looked for by default: the
/// source tree's `web-spv/pkg`, where `web-spv/build.sh` writes them.
pub fn default_pkg_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../web-spv/pkg"))
}

/// Serves the page.
#[derive(Debug, Clone)]
pub struct Web {
    /// The wasm-bindgen output directory.
    pub pkg: PathBuf,
}

/// `GET /`.
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /app.js`.
pub async fn app() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP,
    )
        .into_response()
}

/// `GET /pkg/{file}`: only the generated files, by plain name.
pub async fn pkg(State(w): State<Web>, Path(file): Path<String>) -> Response {
    let kind = if file.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else if file.ends_with(".wasm") {
        "application/wasm"
    } else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    if !file
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        || file.starts_with('.')
    {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    }
    match tokio::fs::read(w.pkg.join(&file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            format!(
                "{file} is not in {}: build the page's wasm with web-spv/build.sh (or set web_spv_dir)",
                w.pkg.display()
            ),
        )
            .into_response(),
    }
}
