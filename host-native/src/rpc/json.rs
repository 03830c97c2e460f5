//! The JSON proof API on `http_port`: `GET /v1/proof/<txid>`, `GET /v1/headers`, and the
//! archived transactions `GET /v1/tx/<txid>` and `GET /v1/tx/<txid>/beef`, the same answers
//! as gRPC's from [`Proofs`], with the failure's HTTP status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use torrent_core::Header;

use crate::proofs::{Formats, ProofFailure, ProofRequest, Proofs, parse_txid};

/// The HTTP status of each failure (the gRPC one is in `rpc::grpc`).
fn status(f: &ProofFailure) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    match f {
        ProofFailure::Invalid(_) => StatusCode::BAD_REQUEST,
        ProofFailure::NotFound(_) => StatusCode::NOT_FOUND,
        ProofFailure::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
        ProofFailure::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ProofFailure::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        ProofFailure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// JSON error body with the failure's status.
fn json_error(f: &ProofFailure) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        status(f),
        axum::Json(serde_json::json!({"error": f.public_message()})),
    )
        .into_response()
}

/// `GET /v1/proof/<txid>?format=bump|tsc|json&height=H` (the height only for a txid in two
/// blocks, BIP 30).
pub(crate) async fn proof(
    axum::extract::State(p): axum::extract::State<Arc<Proofs>>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    axum::extract::Path(txid): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let started = Instant::now();
    let height = q.get("height").map_or(Ok(None), |v| {
        v.parse()
            .map(Some)
            .map_err(|_| ProofFailure::Invalid(format!("height={v:?} is not a block height")))
    });
    let r = match (
        Formats::parse(q.get("format").map(String::as_str)),
        parse_txid(&txid),
        height,
    ) {
        (Ok(formats), Ok(txid), Ok(height)) => {
            let req = ProofRequest {
                txid,
                height,
                formats,
            };
            p.prove(req, Some(client.ip())).await
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
    };
    let outcome = r.as_ref().map_or_else(ProofFailure::outcome, |_| "ok");
    p.metrics.record("json", outcome, started.elapsed());
    match r {
        Ok(a) => axum::Json(a).into_response(),
        Err(e) => json_error(&e),
    }
}

/// `GET /v1/proof/` (no txid) and the like: the JSON error every other route gives.
pub(crate) async fn missing_txid() -> axum::response::Response {
    json_error(&ProofFailure::Invalid(
        "no txid: ask for /v1/proof/<txid>, /v1/tx/<txid> or /v1/tx/<txid>/beef".into(),
    ))
}

/// The `height` and `format` of a transaction request (`format=bin`, the default, or
/// `hex`).
fn tx_query(q: &HashMap<String, String>) -> Result<(Option<u64>, bool), ProofFailure> {
    let height = q.get("height").map_or(Ok(None), |v| {
        v.parse()
            .map(Some)
            .map_err(|_| ProofFailure::Invalid(format!("height={v:?} is not a block height")))
    })?;
    let hex = match q.get("format").map(String::as_str) {
        None | Some("bin" | "raw") => false,
        Some("hex") => true,
        Some(other) => {
            return Err(ProofFailure::Invalid(format!(
                "format={other:?}: use bin (the default) or hex"
            )));
        }
    };
    Ok((height, hex))
}

/// Bytes as `application/octet-stream`, or as hex text, with the block they come from and
/// where the transaction's bytes came from (`x-source`: local, swarm or cache).
fn tx_body(bytes: &[u8], hex: bool, t: &crate::proofs::ArchivedTx) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = [
        ("x-block-height", t.height.to_string()),
        ("x-block-hash", t.block_hash.to_string()),
        ("x-tx-index", t.index.to_string()),
        ("x-source", t.source.as_str().to_string()),
    ];
    if hex {
        (
            headers,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            torrent_core::hex::encode(bytes),
        )
            .into_response()
    } else {
        (
            headers,
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            bytes.to_vec(),
        )
            .into_response()
    }
}

/// What a transaction route answers.
#[derive(Debug, Clone, Copy)]
enum TxAnswer {
    /// The raw transaction.
    Raw,
    /// Its atomic BEEF.
    Beef,
}

/// Answers a transaction route: parses the request, asks the archive, records the outcome.
async fn tx_route(
    p: &Proofs,
    client: std::net::SocketAddr,
    txid: &str,
    q: &HashMap<String, String>,
    what: TxAnswer,
) -> axum::response::Response {
    let started = Instant::now();
    let asked = tx_query(q).and_then(|(height, hex)| Ok((parse_txid(txid)?, height, hex)));
    let from = Some(client.ip());
    let r = match (asked, what) {
        (Ok((txid, height, hex)), TxAnswer::Raw) => p
            .transaction(txid, height, from)
            .await
            .map(|t| tx_body(&t.raw, hex, &t)),
        (Ok((txid, height, hex)), TxAnswer::Beef) => p
            .beef(txid, height, from)
            .await
            .map(|(t, beef)| tx_body(&beef, hex, &t)),
        (Err(e), _) => Err(e),
    };
    let outcome = r.as_ref().map_or_else(ProofFailure::outcome, |_| "ok");
    let method = match what {
        TxAnswer::Raw => "json_tx",
        TxAnswer::Beef => "json_beef",
    };
    p.metrics.record(method, outcome, started.elapsed());
    r.unwrap_or_else(|e| json_error(&e))
}

/// `GET /v1/tx/<txid>?format=bin|hex&height=H`: the raw transaction, from its block file
/// (fetched from the swarm when not here), checked against the txid.
pub(crate) async fn tx(
    axum::extract::State(p): axum::extract::State<Arc<Proofs>>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    axum::extract::Path(txid): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> axum::response::Response {
    tx_route(&p, client, &txid, &q, TxAnswer::Raw).await
}

/// `GET /v1/tx/<txid>/beef?format=bin|hex&height=H`: the transaction with its BUMP as an
/// atomic BEEF (BRC-95).
pub(crate) async fn beef(
    axum::extract::State(p): axum::extract::State<Arc<Proofs>>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    axum::extract::Path(txid): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> axum::response::Response {
    tx_route(&p, client, &txid, &q, TxAnswer::Beef).await
}

/// `GET /v1/headers?from=H&count=N` (N at most 2000, default 1).
pub(crate) async fn headers(
    axum::extract::State(p): axum::extract::State<Arc<Proofs>>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let num = |k: &str, default: u64| -> Result<u64, ProofFailure> {
        q.get(k).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| ProofFailure::Invalid(format!("{k}={v:?} is not a number")))
        })
    };
    let res = num("from", 0).and_then(|from| {
        let count = u32::try_from(num("count", 1)?)
            .map_err(|_| ProofFailure::Invalid("count too large".into()))?;
        p.headers(from, count)
    });
    match res {
        Ok(list) => axum::Json(
            list.into_iter()
                .map(|(height, h)| {
                    serde_json::json!({
                        "height": height,
                        "header": torrent_core::hex::encode(&h.header),
                        "block_hash": Header::decode(&h.header).map(|x| x.block_hash().to_string()).unwrap_or_default(),
                        "tx_count": h.tx_count,
                        "bundle": h.bundle,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => json_error(&e),
    }
}
