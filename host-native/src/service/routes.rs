//! The two HTTP ports' routes: the tracker's (with the ledger's operator routes) and the
//! HTTP port's (registry, web seed, JSON proofs and headers, page, `/healthz`, `/metrics`),
//! each behind its rate limits.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use super::parts::{Parts, Public};
use crate::config::Config;
use crate::store::Store;

/// `tracker_port`: announces, scrapes, registration, stakes, proof URLs, `/admin/*`.
pub(super) fn tracker(parts: &Parts, config: &Config) -> Router {
    crate::tracker::router(Arc::clone(&parts.tracker)).merge(crate::ledger::router(
        Arc::clone(&parts.payouts),
        config.stake_amount,
    ))
}

/// `http_port`: everything but the tracker and gRPC.
pub(super) fn http(parts: &Parts, config: &Config, public: &Public) -> Router {
    let webseed = Router::new()
        .route(
            "/webseed/{*path}",
            get(crate::http::webseed::serve).head(crate::http::webseed::serve),
        )
        .with_state(crate::http::webseed::WebSeed::new(parts.bundles.clone()));
    let headers_api = Router::new()
        .route("/v1/headers", get(crate::rpc::json::headers))
        .route("/v1/proof", get(crate::rpc::json::missing_txid))
        .route("/v1/proof/", get(crate::rpc::json::missing_txid))
        .route("/v1/tx", get(crate::rpc::json::missing_txid))
        .route("/v1/tx/", get(crate::rpc::json::missing_txid))
        .route(
            "/api/v1/chain/merkleroot/verify",
            axum::routing::post(crate::rpc::chain::verify_roots)
                .options(crate::rpc::chain::preflight),
        )
        .route(
            "/api/v1/chain/tip/longest",
            get(crate::rpc::chain::tip).options(crate::rpc::chain::preflight),
        )
        .with_state(Arc::clone(&parts.proofs));
    // Limited on its own: a proof spends PROOF_COST of the ceiling.
    let proof_api = Router::new()
        .route("/v1/proof/{txid}", get(crate::rpc::json::proof))
        .route("/v1/tx/{txid}", get(crate::rpc::json::tx))
        .route("/v1/tx/{txid}/beef", get(crate::rpc::json::beef))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&parts.limits),
            crate::net::limit::proof_reads,
        ))
        .with_state(Arc::clone(&parts.proofs));
    let rest = Router::new()
        .route("/rest/chaininfo.json", get(crate::rpc::rest::chaininfo))
        .route("/rest/block/{file}", get(crate::rpc::rest::block))
        .route("/rest/tx/{file}", get(crate::rpc::rest::tx))
        .route(
            "/rest/headers/{count}/{file}",
            get(crate::rpc::rest::headers),
        )
        .route(
            "/rest/blockhashbyheight/{file}",
            get(crate::rpc::rest::hash_by_height),
        )
        .with_state(crate::rpc::rest::Rest {
            proofs: Arc::clone(&parts.proofs),
            network: config.network,
            work: Arc::default(),
        });
    let registry = Router::new()
        .route("/v1/bundles", get(crate::http::registry::list))
        .route("/v1/bundles/{file}", get(crate::http::registry::torrent))
        .with_state(crate::http::registry::Registry {
            catalog: Arc::clone(&parts.catalog),
            tracker: Arc::clone(&parts.tracker),
            public_http: public.http.clone(),
            store: Arc::clone(&parts.store),
            urls: Some((public.announce_url(), public.webseed_url())),
        });
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Arc::new(metrics_registry(parts)))
        .merge(
            Router::new()
                .route("/healthz", get(healthz))
                .with_state(Arc::clone(&parts.store)),
        )
        .route("/", get(crate::http::page::index))
        .route("/app.js", get(crate::http::page::app))
        .merge(
            Router::new()
                .route("/pkg/{file}", get(crate::http::page::pkg))
                .with_state(crate::http::page::Web {
                    pkg_dir: config.web_spv_dir.clone(),
                }),
        )
        .merge(webseed)
        .merge(registry)
        .merge(headers_api)
        .merge(rest)
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&parts.limits),
            crate::net::limit::reads,
        ))
        .merge(proof_api)
}

/// The service's one metrics registry: every part that exports figures.
fn metrics_registry(parts: &Parts) -> crate::metrics::Registry {
    let mut r = crate::metrics::Registry::default();
    r.report(Arc::clone(&parts.tracker) as Arc<dyn crate::metrics::Report>);
    r.report(Arc::clone(&parts.book) as Arc<dyn crate::metrics::Report>);
    r.report(Arc::clone(&parts.limits) as Arc<dyn crate::metrics::Report>);
    r.report(Arc::new(crate::net::conn::Listeners(
        parts.gates.all().into_iter().map(Arc::clone).collect(),
    )));
    r.report(Arc::clone(&parts.proofs) as Arc<dyn crate::metrics::Report>);
    r.histogram(
        "torrent_proof_seconds",
        "Time to answer one proof",
        parts.proofs.metrics.seconds.clone(),
    );
    r.report(Arc::clone(&parts.store) as Arc<dyn crate::metrics::Report>);
    r.report(Arc::new(crate::offload::PipelineReport(Arc::clone(
        &parts.store,
    ))));
    r
}

/// `GET /metrics`: the registry in the Prometheus text format.
async fn metrics(
    axum::extract::State(r): axum::extract::State<Arc<crate::metrics::Registry>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        r.encode(),
    )
}

/// `GET /healthz`: 200 `ok` while the database accepts writes, 503 otherwise (the same state
/// as the gRPC health service).
async fn healthz(
    axum::extract::State(store): axum::extract::State<Arc<Store>>,
) -> (axum::http::StatusCode, &'static str) {
    if store.health().healthy() {
        (axum::http::StatusCode::OK, "ok\n")
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "NOT_SERVING: the database is unavailable (see the service log)\n",
        )
    }
}
