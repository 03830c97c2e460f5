//! The JSON proof API on `http_port`: `GET /v1/proof/<txid>` and `GET /v1/headers`, the
//! same answers as gRPC's from [`Proofs`], with the failure's HTTP status.

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
