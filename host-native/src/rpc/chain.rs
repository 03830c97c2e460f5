//! A chain tracker SPV wallets use as is: the two routes of the Block Headers Service
//! (bitcoin-sv/block-headers-service), which @bsv/sdk's `BlockHeadersService` calls, on
//! `http_port`, answered from the header store.
//!
//! - `POST /api/v1/chain/merkleroot/verify` with `[{"blockHeight": H, "merkleRoot": hex}]`:
//!   each root is `CONFIRMED` only when the service holds the header at that height and its
//!   merkle root is that one; a height the service does not hold is `UNABLE_TO_VERIFY`
//!   (this archive cannot say), and a root that differs from the held header's is
//!   `INVALID`. The overall state is the worst item's, as the Block Headers Service does.
//! - `GET /api/v1/chain/tip/longest`: the newest header the service holds, with its height.
//!   The header store ends at the newest offloaded block, so that is the tip this service
//!   can vouch for; `chainWork` and `work` are left out (the store need not start at
//!   genesis, so the cumulative work is not known; the SDK reads only `height`).
//!
//! The SDK sends `Authorization: Bearer <apiKey>`; nothing here needs a key (these are
//! public reads, limited per client like every read). Both routes allow any origin (CORS,
//! with the preflight answered), so that a page served elsewhere, such as another
//! service's SPV page, can name this one as its independent chain tracker.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use torrent_core::Header;

use crate::proofs::Proofs;

/// Roots one call may ask about.
const MAX_ROOTS: usize = 2000;

/// One root asked about.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RootQuery {
    block_height: u64,
    merkle_root: String,
}

/// The Block Headers Service's error shape.
fn error(code: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"code": code, "message": message})),
    )
        .into_response()
}

/// A header store that cannot be read: logged, and a 500 without the detail.
fn store_failed(e: &anyhow::Error) -> Response {
    tracing::error!("reading the header store: {e:#}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({"code": "ErrInternal", "message": "internal error; the service log has the details"})),
    )
        .into_response()
}

/// Any origin may read these routes.
fn cors(mut r: Response) -> Response {
    r.headers_mut().insert(
        axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        axum::http::HeaderValue::from_static("*"),
    );
    r
}

/// `OPTIONS` on either route: the CORS preflight of a cross-origin POST with JSON.
pub(crate) async fn preflight() -> Response {
    use axum::http::{HeaderValue, header};
    let mut r = cors(StatusCode::NO_CONTENT.into_response());
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, authorization, accept"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

/// `POST /api/v1/chain/merkleroot/verify`.
pub(crate) async fn verify_roots(
    state: axum::extract::State<Arc<Proofs>>,
    body: axum::body::Bytes,
) -> Response {
    cors(verify(state, body).await)
}

/// `GET /api/v1/chain/tip/longest`.
pub(crate) async fn tip(state: axum::extract::State<Arc<Proofs>>) -> Response {
    cors(longest(state).await)
}

async fn verify(
    axum::extract::State(p): axum::extract::State<Arc<Proofs>>,
    body: axum::body::Bytes,
) -> Response {
    let roots: Vec<RootQuery> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                "ErrVerifyMerklerootsBadBody",
                &format!("expected [{{\"blockHeight\": n, \"merkleRoot\": hex}}]: {e}"),
            );
        }
    };
    if roots.is_empty() {
        return error(
            "ErrVerifyMerklerootsBadBody",
            "at least one merkleroot is required",
        );
    }
    if roots.len() > MAX_ROOTS {
        return error(
            "ErrVerifyMerklerootsBadBody",
            &format!("{} merkleroots: at most {MAX_ROOTS} per call", roots.len()),
        );
    }
    let mut worst = 0usize;
    let mut confirmations = Vec::with_capacity(roots.len());
    const STATES: [&str; 3] = ["CONFIRMED", "UNABLE_TO_VERIFY", "INVALID"];
    for q in roots {
        let held = match p.store().header(q.block_height) {
            Ok(h) => h.and_then(|r| Header::decode(&r.header).ok()),
            Err(e) => {
                return store_failed(&e);
            }
        };
        let (state, hash) = match held {
            None => (1, String::new()),
            Some(h) if h.merkle_root.to_string() == q.merkle_root.to_ascii_lowercase() => {
                (0, h.block_hash().to_string())
            }
            Some(_) => (2, String::new()),
        };
        worst = worst.max(state);
        confirmations.push(serde_json::json!({
            "blockHash": hash,
            "blockHeight": q.block_height,
            "merkleRoot": q.merkle_root,
            "confirmation": STATES[state],
        }));
    }
    axum::Json(serde_json::json!({
        "confirmationState": STATES[worst],
        "confirmations": confirmations,
    }))
    .into_response()
}

async fn longest(axum::extract::State(p): axum::extract::State<Arc<Proofs>>) -> Response {
    let last = match p.store().last_header() {
        Ok(l) => l,
        Err(e) => {
            return store_failed(&e);
        }
    };
    let Some((height, h)) = last.and_then(|(n, r)| Some((n, Header::decode(&r.header).ok()?)))
    else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"code": "ErrTipNotFound", "message": "no block has been offloaded yet"})),
        )
            .into_response();
    };
    axum::Json(serde_json::json!({
        "header": {
            "hash": h.block_hash().to_string(),
            "version": h.version,
            "prevBlockHash": h.prev_blockhash.to_string(),
            "merkleRoot": h.merkle_root.to_string(),
            "creationTimestamp": h.time,
            "difficultyTarget": h.bits,
            "nonce": h.nonce,
        },
        "state": "LONGEST_CHAIN",
        "height": height,
    }))
    .into_response()
}
