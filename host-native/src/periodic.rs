//! Housekeeping on a timer: the one loop behind every "do this every N until shutdown"
//! (limiter purges, the bundle catalog's refresh, handing freed memory back).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs `work` on the blocking pool every `period`, the first time at once, until
/// `shutdown`. A run longer than the period delays the next one rather than queueing a
/// burst of them.
pub(crate) async fn every_blocking<F>(period: Duration, shutdown: impl Future<Output = ()>, work: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let work = Arc::new(work);
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => {
                let w = Arc::clone(&work);
                let _ = tokio::task::spawn_blocking(move || w()).await;
            }
        }
    }
}
