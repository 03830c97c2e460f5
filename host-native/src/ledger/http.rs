//! The ledger's operator routes (`/admin/ledger/*`, past the operator guard): balances,
//! history, payouts, confirmations and abandons.

use super::{Book, Payout, PayoutStatus, Payouts};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use torrent_core::Satoshis;

fn json_reply(status: axum::http::StatusCode, v: serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(v)).into_response()
}

fn refuse(e: &anyhow::Error) -> axum::response::Response {
    let msg = format!("{e:#}");
    let status = if msg.contains("no payout ") || msg.contains("no registered seeder") {
        axum::http::StatusCode::NOT_FOUND
    } else if msg.contains("cannot be funded")
        || msg.contains("no payout wallet")
        || msg.contains("abandon")
    {
        axum::http::StatusCode::CONFLICT
    } else {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    };
    json_reply(status, serde_json::json!({ "error": msg }))
}

/// `GET /admin/ledger`: every seeder's money, the payouts in flight and the wallet (the
/// `ledger balances` and `ledger pending` commands read the same type).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Overview {
    /// Satoshis ever credited (rewards and stakes).
    pub(crate) credited: Satoshis,
    /// One row per seeder.
    pub(crate) accounts: Vec<AccountRow>,
    /// Payouts signed or broadcast, not yet confirmed.
    pub(crate) pending_payouts: Vec<Payout>,
    /// Unspent satoshis in the payout wallet.
    pub(crate) wallet_satoshis: Satoshis,
}

/// One seeder in [`Overview`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccountRow {
    pub(crate) address: String,
    /// Not revoked and staked at least `stake_amount`.
    pub(crate) active: bool,
    pub(crate) stake: Satoshis,
    pub(crate) balance: Satoshis,
    pub(crate) pending: Satoshis,
    pub(crate) paid: Satoshis,
    pub(crate) slashed: Satoshis,
    pub(crate) earned: Satoshis,
    pub(crate) bulk_carry: u64,
    pub(crate) proof_url: Option<String>,
}

/// The ledger's overview.
///
/// # Errors
/// Database errors.
pub(crate) fn overview(book: &Book, stake_amount: Satoshis) -> Result<Overview> {
    let accounts = book
        .balances()?
        .into_iter()
        .map(|(a, m)| AccountRow {
            active: !a.revoked && m.stake >= stake_amount,
            address: a.address,
            stake: m.stake,
            balance: m.balance,
            pending: m.pending,
            paid: m.paid,
            slashed: m.slashed,
            earned: m.earned,
            bulk_carry: m.bulk_carry,
            proof_url: a.proof_url,
        })
        .collect();
    let pending_payouts = book
        .payouts()?
        .into_iter()
        .filter(|p| matches!(p.status, PayoutStatus::Signed | PayoutStatus::Broadcast))
        .collect();
    Ok(Overview {
        credited: book.credited(),
        accounts,
        pending_payouts,
        wallet_satoshis: book.wallet_balance()?,
    })
}

#[derive(Deserialize)]
struct Limit {
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Deserialize, Default)]
struct ConfirmBody {
    #[serde(default)]
    block_height: Option<u64>,
}

/// The ledger's operator routes (bearer `auth_token`), merged into the tracker's port:
/// `GET /admin/ledger`, `GET /admin/ledger/history?limit=`, `GET /admin/payouts`,
/// `POST /admin/settle`, `POST /admin/payouts/{txid}/confirm`, `.../abandon`.
pub(crate) fn router(p: Arc<Payouts>, stake_amount: Satoshis) -> axum::Router {
    use axum::extract::{Path as UrlPath, Query, State};
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    type S = State<(Arc<Payouts>, Satoshis)>;
    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f).await?
    }
    let auth = Arc::clone(&p.auth);
    axum::Router::new()
        .route(
            "/admin/ledger",
            get(move |State((p, stake)): S| async move {
                match blocking(move || overview(&p.book, stake)).await {
                    Ok(v) => json_reply(StatusCode::OK, serde_json::to_value(v).unwrap_or_default()),
                    Err(e) => refuse(&e),
                }
            }),
        )
        .route(
            "/admin/ledger/history",
            get(move |State((p, _)): S, Query(l): Query<Limit>| async move {
                let limit = l.limit.unwrap_or(100).min(100_000);
                match blocking(move || p.book.history(limit)).await {
                    Ok(v) => json_reply(StatusCode::OK, serde_json::to_value(v).unwrap_or_default()),
                    Err(e) => refuse(&e),
                }
            }),
        )
        .route(
            "/admin/payouts",
            get(move |State((p, _)): S| async move {
                match blocking(move || p.book.payouts()).await {
                    Ok(v) => json_reply(StatusCode::OK, serde_json::to_value(v).unwrap_or_default()),
                    Err(e) => refuse(&e),
                }
            }),
        )
        .route(
            "/admin/settle",
            post(move |State((p, _)): S| async move {
                match blocking(move || p.settle_now()).await {
                    Ok(v) => json_reply(StatusCode::OK, serde_json::to_value(v).unwrap_or_default()),
                    Err(e) => refuse(&e),
                }
            }),
        )
        .route(
            "/admin/payouts/{txid}/{action}",
            post(
                move |State((p, _)): S,
                      UrlPath((txid, action)): UrlPath<(String, String)>,
                      body: axum::body::Bytes| async move {
                    let b: ConfirmBody = serde_json::from_slice(&body).unwrap_or_default();
                    let r = match action.as_str() {
                        "confirm" => blocking(move || p.book.confirm(&txid, b.block_height)).await,
                        "abandon" => blocking(move || p.book.abandon(&txid)).await,
                        other => {
                            return json_reply(
                                StatusCode::NOT_FOUND,
                                serde_json::json!({"error": format!("unknown action {other:?}: confirm or abandon")}),
                            );
                        }
                    };
                    match r {
                        Ok(v) => json_reply(StatusCode::OK, serde_json::to_value(v).unwrap_or_default()),
                        Err(e) => refuse(&e),
                    }
                },
            ),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            auth,
            crate::auth::guard,
        ))
        .with_state((p, stake_amount))
}
