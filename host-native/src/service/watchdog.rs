//! The storage watchdog (DESIGN §16): a database that stopped accepting writes flips health
//! to NOT_SERVING, raises one alert, and is reopened with backoff until it serves again.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// The storage watchdog (DESIGN §16). redb refuses every write after an I/O error (a full
/// disk) until the database is opened again, so once a second the watchdog probes it; on a
/// failure it reports NOT_SERVING (gRPC health, `/healthz`, `torrent_service_storage_healthy`),
/// raises one `storage_unavailable` alert, and reopens the database with backoff (1 s,
/// doubling to 30 s) until it accepts writes again, then reports SERVING.
pub(super) async fn storage_watch(
    store: Arc<Store>,
    book: Arc<crate::ledger::Book>,
    stop: impl std::future::Future<Output = ()>,
) {
    const KIND: &str = "storage_unavailable";
    tokio::pin!(stop);
    let mut backoff = Duration::from_secs(1);
    loop {
        let healthy = store.health().healthy();
        let wait = if healthy {
            Duration::from_secs(1)
        } else {
            backoff
        };
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(wait) => {}
        }
        let s = Arc::clone(&store);
        let outcome = tokio::task::spawn_blocking(move || {
            if s.health().healthy() {
                s.probe()
            } else {
                s.reopen().and_then(|()| s.probe())
            }
        })
        .await
        .unwrap_or_else(|e| Err(anyhow::anyhow!("storage probe: {e}")));
        match outcome {
            Ok(()) => {
                backoff = Duration::from_secs(1);
                if store.health().set(true) {
                    tracing::info!("the database accepts writes again; serving");
                    book.alerts.condition(KIND, "database", None);
                }
            }
            Err(e) => {
                if store.health().set(false) {
                    book.alerts.condition(
                        KIND,
                        "database",
                        Some(&format!(
                            "the database failed ({e:#}); health is NOT_SERVING until it is reopened"
                        )),
                    );
                } else {
                    tracing::warn!(
                        "the database is still unavailable: {e:#}; next try in {backoff:?}"
                    );
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}
