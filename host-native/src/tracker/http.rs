//! The tracker's HTTP routes on `tracker_port`: announces and scrapes (BEP 3/7/23/48),
//! registration, stakes, proof URLs, `/metrics`, and `/admin/*` past the operator guard.

use super::Tracker;
use crate::store::Account;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use torrent_core::Satoshis;
use torrent_core::tracker::http as thttp;

fn bencoded(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

async fn http_announce(
    State(t): State<Arc<Tracker>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    path: Option<Path<String>>,
    RawQuery(query): RawQuery,
) -> Response {
    if !t.allowed(remote.ip()) {
        t.metrics.announce("http", "rate_limited");
        return bencoded(thttp::failure_body("rate limited: slow down"));
    }
    let path_key = path.map(|Path(k)| k);
    let parsed = match thttp::parse_announce(
        query.as_deref().unwrap_or(""),
        remote.ip(),
        path_key.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            t.metrics.announce("http", "malformed");
            return bencoded(thttp::failure_body(&e.failure_reason()));
        }
    };
    match t.announce(parsed.announce, parsed.passkey.as_deref()) {
        Ok(reply) => {
            t.metrics.announce("http", "ok");
            bencoded(thttp::announce_body(&reply, parsed.compact))
        }
        Err(reason) => {
            t.metrics.announce("http", "refused");
            bencoded(thttp::failure_body(&reason))
        }
    }
}

async fn http_scrape(
    State(t): State<Arc<Tracker>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Response {
    if !t.allowed(remote.ip()) {
        return bencoded(thttp::failure_body("rate limited: slow down"));
    }
    match thttp::parse_scrape(query.as_deref().unwrap_or("")) {
        Ok(hashes) => {
            t.metrics.scrape("http");
            bencoded(thttp::scrape_body(&t.scrape(&hashes)))
        }
        Err(e) => bencoded(thttp::failure_body(&e.failure_reason())),
    }
}

/// `POST /register`: the signature check and the commit run on a blocking thread, so a
/// burst of registrations never holds the async workers that serve announces and proofs.
async fn http_register(State(t): State<Arc<Tracker>>, body: Bytes) -> Response {
    match tokio::task::spawn_blocking(move || t.register(&body)).await {
        Ok((status, json)) => (status, axum::Json(json)).into_response(),
        Err(e) => internal_error("registration", &anyhow::anyhow!("{e}")),
    }
}

#[derive(Deserialize)]
struct StakeRequest {
    address: String,
    #[serde(default)]
    amount: Satoshis,
    /// Idempotency reference: the same reference credits once (a retried CLI call).
    #[serde(default)]
    reference: Option<String>,
}

async fn admin_stake(State(t): State<Arc<Tracker>>, body: Bytes) -> Response {
    admin(&t, &body, |t, r| {
        if r.amount.is_zero() {
            anyhow::bail!("amount must be at least 1 satoshi");
        }
        let reference = match &r.reference {
            Some(x) => x.clone(),
            None => {
                let mut n = [0u8; 16];
                getrandom::fill(&mut n).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                format!("operator:{}", torrent_core::hex::encode(&n))
            }
        };
        t.book.record(
            &format!("stake:{}:{reference}", r.address),
            crate::ledger::Entry::Stake {
                address: r.address.clone(),
                amount: r.amount,
                reference,
            },
        )?;
        t.store
            .account(&r.address)?
            .ok_or_else(|| anyhow::anyhow!("no registered seeder with address {}", r.address))
    })
}

async fn admin_revoke(State(t): State<Arc<Tracker>>, body: Bytes) -> Response {
    admin(&t, &body, |t, r| t.store.revoke(&r.address))
}

fn admin(
    t: &Tracker,
    body: &[u8],
    op: impl Fn(&Tracker, &StakeRequest) -> anyhow::Result<Account>,
) -> Response {
    let req: StakeRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"error": format!("invalid JSON: {e}")})),
            )
                .into_response();
        }
    };
    match op(t, &req) {
        Ok(a) => {
            t.refresh_account(&a);
            (
                StatusCode::OK,
                axum::Json(serde_json::to_value(&a).unwrap_or_default()),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": format!("{e:#}")})),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct StakeSubmission {
    beef: String,
}

#[derive(Deserialize)]
struct PasskeyQuery {
    passkey: String,
}

/// What a public route says about an internal failure; the detail is logged (DESIGN §16:
/// no paths or database errors in public replies).
pub(super) const INTERNAL: &str = "internal error; the service log has the details";

fn internal_error(what: &str, e: &anyhow::Error) -> Response {
    tracing::error!("{what}: {e:#}");
    err(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL.into())
}

/// A JSON error reply, `{"error": msg}`.
fn err(status: StatusCode, msg: String) -> Response {
    let body = super::api::ApiError {
        error: msg,
        reason: None,
    };
    (status, axum::Json(body)).into_response()
}

/// `POST /stake?passkey=K` with `{"beef": hex}`: a seeder proves its stake payment by SPV.
async fn submit_stake(
    State(t): State<Arc<Tracker>>,
    axum::extract::Query(q): axum::extract::Query<PasskeyQuery>,
    body: Bytes,
) -> Response {
    let Some(spv) = &t.settings.spv else {
        return err(
            StatusCode::BAD_REQUEST,
            "this tracker credits stakes by hand (stake_mode = \"ledger\")".into(),
        );
    };
    let Some(account) = t.account_by_passkey(&q.passkey) else {
        return err(StatusCode::UNAUTHORIZED, "unknown passkey".into());
    };
    let sub: StakeSubmission = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")),
    };
    let Ok(bytes) = torrent_core::hex::decode(sub.beef.trim()) else {
        return err(StatusCode::BAD_REQUEST, "beef is not hex".into());
    };
    let beef = match torrent_core::bsv::beef::Beef::decode(&bytes) {
        Ok(b) => b,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("invalid BEEF: {e}")),
    };
    let payment = match beef.verify_payment(&spv.address, |h| spv.merkle_root_at(h)) {
        Ok(x) => x,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("stake not proven: {e}")),
    };
    let (txid, paid) = (payment.txid, payment.paid);
    if paid.is_zero() {
        return err(
            StatusCode::BAD_REQUEST,
            format!("transaction {txid} pays nothing to {}", spv.address),
        );
    }
    // A mined payment is public: only the seeder it names may claim it (DESIGN §15).
    match torrent_core::bsv::stake::committed_address(&payment.tx) {
        Ok(a) if a.to_string() == account.address => {}
        Ok(a) => {
            tracing::warn!(submitter = %account.address, committed = %a, %txid, "stake claimed by another account refused");
            return err(
                StatusCode::FORBIDDEN,
                format!(
                    "transaction {txid} stakes for {a}, not for this passkey's account: only that seeder can submit it"
                ),
            );
        }
        Err(e) => {
            return err(
                StatusCode::BAD_REQUEST,
                format!("transaction {txid} is not bound to a seeder: {e}"),
            );
        }
    }
    let recorded = t
        .book
        .record(
            &format!("stake-tx:{txid}"),
            crate::ledger::Entry::Stake {
                address: account.address.clone(),
                amount: paid,
                reference: txid.to_string(),
            },
        )
        .and_then(|r| match r {
            crate::ledger::Recorded::Duplicate | crate::ledger::Recorded::OverBudget => Ok(None),
            crate::ledger::Recorded::Applied(_) => t.store.account(&account.address),
        });
    match recorded {
        Ok(Some(a)) => {
            t.refresh_account(&a);
            tracing::info!(address = %a.address, %txid, paid = paid.to_sat(), "stake proven by SPV");
            let reply = super::api::StakeCredited {
                address: a.address,
                stake: a.stake,
                txid: txid.to_string(),
                credited: paid,
            };
            (StatusCode::OK, axum::Json(reply)).into_response()
        }
        Ok(None) => err(
            StatusCode::CONFLICT,
            format!("transaction {txid} was already credited"),
        ),
        Err(e) => internal_error("stake submission", &e),
    }
}

#[derive(Deserialize)]
struct ProofUrl {
    url: Option<String>,
}

/// `POST /seeder/proof-url?passkey=K` with `{"url": "http://host:port"}` (or `null`): where
/// the seeder answers proof requests. Proofs it serves through it are rewarded.
async fn set_proof_url(
    State(t): State<Arc<Tracker>>,
    axum::extract::Query(q): axum::extract::Query<PasskeyQuery>,
    body: Bytes,
) -> Response {
    let Some(account) = t.account_by_passkey(&q.passkey) else {
        return err(StatusCode::UNAUTHORIZED, "unknown passkey".into());
    };
    let req: ProofUrl = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")),
    };
    if let Some(u) = &req.url {
        let ok = (u.starts_with("http://") || u.starts_with("https://"))
            && u.len() <= 512
            && u.parse::<axum::http::Uri>()
                .is_ok_and(|x| x.host().is_some());
        if !ok {
            return err(
                StatusCode::BAD_REQUEST,
                format!("url {u:?} is not an http(s)://host:port URL"),
            );
        }
        // Only public addresses (DESIGN §16): the service connects to this URL itself.
        if let Err(e) =
            crate::net::addr::resolve_proof_url(u, t.settings.allow_private_proof_urls).await
        {
            return err(StatusCode::BAD_REQUEST, e);
        }
    }
    match t.store.set_proof_url(&account.address, req.url) {
        Ok(a) => {
            t.refresh_account(&a);
            (
                StatusCode::OK,
                axum::Json(super::api::ProofUrlSet {
                    address: a.address,
                    proof_url: a.proof_url,
                }),
            )
                .into_response()
        }
        Err(e) => internal_error("proof URL", &e),
    }
}

async fn admin_seeders(State(t): State<Arc<Tracker>>) -> Response {
    match t.accounts() {
        Ok(a) => (
            StatusCode::OK,
            axum::Json(serde_json::to_value(&a).unwrap_or_default()),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(serde_json::json!({"error": format!("{e:#}")})),
        )
            .into_response(),
    }
}

/// `GET /metrics` on the tracker port: the tracker's and the ledger's figures (the HTTP
/// port's `/metrics` has every part's).
async fn metrics(State(t): State<Arc<Tracker>>) -> Response {
    let mut r = crate::metrics::Registry::default();
    r.report(Arc::clone(&t) as Arc<dyn crate::metrics::Report>);
    r.report(Arc::clone(t.book()) as Arc<dyn crate::metrics::Report>);
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        r.encode(),
    )
        .into_response()
}

/// The tracker's HTTP routes; `/admin/*` only past [`crate::auth::guard`]. Announces and
/// scrapes spend the read quota (a bencoded failure when spent, as clients expect);
/// registrations, stakes and proof URLs the write quota (HTTP 429).
pub(crate) fn router(t: Arc<Tracker>) -> Router {
    let limits = Arc::clone(&t.settings.limits);
    let admin = Router::new()
        .route("/admin/stake", post(admin_stake))
        .route("/admin/revoke", post(admin_revoke))
        .route("/admin/seeders", get(admin_seeders))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&t.settings.auth),
            crate::auth::guard,
        ));
    let writes = Router::new()
        .route("/register", post(http_register))
        .route("/stake", post(submit_stake))
        .route("/seeder/proof-url", post(set_proof_url))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&limits),
            crate::net::limit::writes,
        ));
    let metrics_route = Router::new().route("/metrics", get(metrics)).route_layer(
        axum::middleware::from_fn_with_state(limits, crate::net::limit::reads),
    );
    Router::new()
        .route("/announce", get(http_announce))
        .route("/{passkey}/announce", get(http_announce))
        .route("/scrape", get(http_scrape))
        .route("/{passkey}/scrape", get(http_scrape))
        .merge(writes)
        .merge(metrics_route)
        .merge(admin)
        .with_state(t)
}
