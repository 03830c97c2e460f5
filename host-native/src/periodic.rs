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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_runs_at_once_then_every_period_until_shutdown() {
        let t0 = tokio::time::Instant::now();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let seen = Arc::clone(&runs);
        let task = tokio::spawn(every_blocking(
            Duration::from_secs(10),
            async {
                let _ = stopped.await;
            },
            move || seen.lock().unwrap().push(t0.elapsed().as_secs()),
        ));
        tokio::time::sleep(Duration::from_secs(35)).await;
        stop.send(()).unwrap();
        task.await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            *runs.lock().unwrap(),
            [0, 10, 20, 30],
            "and none after shutdown"
        );
    }
}
