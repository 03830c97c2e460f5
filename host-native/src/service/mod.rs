//! `torrent_service run`: every service on its port until Ctrl-C or SIGTERM.
//!
//! The tracker (HTTP and UDP on `tracker_port`), the proof server (`proof_rpc_port`), the
//! registry, web seed, JSON proofs, page and `/metrics` (`http_port`), the BitTorrent
//! session (`peer_port`), the offload loop, audits and payouts. A port of 0 binds an
//! ephemeral port; the first line on stdout is a JSON readiness record with the bound
//! addresses, so scripts and tests never guess ports.
//!
//! Top of the service: it wires every module together and nothing but `cli` uses it;
//! `demo` prepares the embedded demo's blocks.

pub(crate) mod demo;
mod parts;
mod routes;
mod watchdog;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::tracker::Tracker;
use parts::{Parts, Public};

/// Completes on Ctrl-C or SIGTERM: what `main` passes to [`run`] as its shutdown.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The service's sockets, bound by the caller: `main` binds the configured ports
/// ([`Listeners::bind`]), tests bind port 0 and run many services in one process.
#[derive(Debug)]
pub struct Listeners {
    /// The tracker's HTTP side (`tracker_port`).
    pub tracker: TcpListener,
    /// The tracker's UDP side, on the same port number.
    pub udp: std::net::UdpSocket,
    /// Registry, web seed, JSON proofs, page and `/metrics` (`http_port`).
    pub http: TcpListener,
    /// The gRPC proof server (`proof_rpc_port`).
    pub grpc: TcpListener,
}

impl Listeners {
    /// Binds `listen_host` at the configured ports (0: an ephemeral one; UDP takes the
    /// tracker's TCP port number).
    ///
    /// # Errors
    /// A port that cannot be bound, named.
    pub async fn bind(config: &Config) -> Result<Self> {
        let host = config.listen_host.as_str();
        let tracker = TcpListener::bind((host, config.tracker_port))
            .await
            .with_context(|| format!("binding tracker port {host}:{}", config.tracker_port))?;
        let tracker_addr = tracker.local_addr()?;
        let udp = std::net::UdpSocket::bind(tracker_addr)
            .with_context(|| format!("binding UDP tracker {tracker_addr}"))?;
        let http = TcpListener::bind((host, config.http_port))
            .await
            .with_context(|| format!("binding http port {host}:{}", config.http_port))?;
        let grpc = TcpListener::bind((host, config.proof_rpc_port))
            .await
            .with_context(|| format!("binding proof_rpc_port {host}:{}", config.proof_rpc_port))?;
        Ok(Self {
            tracker,
            udp,
            http,
            grpc,
        })
    }
}

/// Where a started service listens and keeps its data: `run` prints it as the first line
/// on stdout (JSON), so scripts and tests never guess ports.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ready {
    /// The gRPC proof server.
    pub grpc: SocketAddr,
    /// The BitTorrent peer (librqbit), when `bittorrent` is on.
    pub peer: Option<SocketAddr>,
    /// The configured block source, when offloading.
    pub block_source: Option<String>,
    /// The tracker's HTTP side.
    pub tracker: SocketAddr,
    /// The tracker's UDP side.
    pub udp: SocketAddr,
    /// Registry, web seed, JSON proofs, page and `/metrics`.
    pub http: SocketAddr,
    /// The SPV page's URL.
    pub spv_page: String,
    /// The announce URL written into bundles.
    pub announce_url: String,
    /// The data directory.
    pub data_dir: std::path::PathBuf,
    /// The bundle store.
    pub bundles: std::path::PathBuf,
    /// The web seed's URL.
    pub webseed_url: String,
}

/// A running service: its readiness record, and what [`Service::stop`] needs to shut it down.
#[derive(Debug)]
pub struct Service {
    ready: Ready,
    stop: watch::Sender<bool>,
    udp_stop: Arc<std::sync::atomic::AtomicBool>,
    udp_threads: Vec<std::thread::JoinHandle<()>>,
    tasks: tokio::task::JoinSet<()>,
    tracker: Arc<Tracker>,
}

/// One log line per listener, saying where to point a client.
fn log_ready(r: &Ready) {
    let (tracker, http, grpc) = (r.tracker, r.http, r.grpc);
    let register = r.announce_url.replace("/announce", "/register");
    tracing::info!(%tracker, "tracker listening (HTTP and UDP): announce at {}, register at {register}", r.announce_url);
    tracing::info!(%http, "SPV page at {} (checks proofs in the browser)", r.spv_page);
    tracing::info!(%http, "metrics at http://{http}/metrics, web seed at {} (bundles in {})", r.webseed_url, r.bundles.display());
    tracing::info!(%grpc, "proofs: gRPC torrent.v1.ProofService on {grpc} (health, reflection, gRPC-web), JSON at http://{http}/v1/proof/<txid>, registry at http://{http}/v1/bundles");
    if let Some(peer) = r.peer {
        tracing::info!(%peer, "BitTorrent peer seeding the bundles (librqbit)");
    }
}

/// Runs the service on `listeners` until `shutdown` completes (`main` passes Ctrl-C and
/// SIGTERM), printing the readiness record first.
///
/// # Errors
/// Bad configuration or a database that cannot be opened.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let service = Service::start(config, listeners).await?;
    crate::outln!("{}", serde_json::to_string(service.ready())?);
    shutdown.await;
    service.stop().await;
    Ok(())
}

impl Service {
    /// The readiness record: every bound address.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// Starts every part of the service on `listeners` and returns once all of them are
    /// accepting.
    ///
    /// # Errors
    /// Bad configuration or a database that cannot be opened.
    pub async fn start(config: Config, listeners: Listeners) -> Result<Self> {
        let Listeners {
            tracker: tracker_listener,
            udp,
            http: http_listener,
            grpc: grpc_listener,
        } = listeners;
        let (tracker_addr, http_addr) =
            (tracker_listener.local_addr()?, http_listener.local_addr()?);
        let public = Public::new(&config, tracker_addr, http_addr);
        let parts = Parts::open(&config, &public).await?;
        let ready = Ready {
            grpc: grpc_listener.local_addr()?,
            peer: parts.engine.as_ref().and_then(|e| e.listen_addr()),
            block_source: config.block_source.clone(),
            tracker: tracker_addr,
            udp: udp.local_addr()?,
            http: http_addr,
            spv_page: format!("http://{http_addr}/"),
            announce_url: public.announce_url(),
            data_dir: config.data_dir.clone(),
            bundles: parts.bundles.clone(),
            webseed_url: format!("http://{http_addr}/webseed/"),
        };
        log_ready(&ready);

        let (stop, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let udp_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // One thread: measured on 2 cores, a second receiver on the same socket only adds
        // wake-ups and lock hand-offs (247k announces/s with one, ~150k with two).
        let udp_threads = vec![{
            let (t, stop) = (Arc::clone(&parts.tracker), Arc::clone(&udp_stop));
            std::thread::Builder::new()
                .name("udp-tracker".into())
                .spawn(move || crate::tracker::run_udp_blocking(&t, &udp, &stop))?
        }];

        let mut tasks = tokio::task::JoinSet::new();
        let request_timeout = Duration::from_secs(config.request_timeout_s);
        tasks.spawn(crate::net::conn::serve_http(
            tracker_listener,
            Arc::clone(&parts.gates.tracker),
            routes::tracker(&parts, &config),
            request_timeout,
            stopped(stop_rx.clone()),
        ));
        tasks.spawn(crate::net::conn::serve_http(
            http_listener,
            Arc::clone(&parts.gates.http),
            routes::http(&parts, &config, &public),
            request_timeout,
            stopped(stop_rx.clone()),
        ));
        let grpc = crate::rpc::grpc::Grpc::new(
            Arc::clone(&parts.proofs),
            Arc::clone(&parts.auth),
            Arc::clone(&parts.limits),
            crate::rpc::grpc::Batch::from_config(&config),
            Arc::clone(&parts.catalog),
        );
        let (grpc_settings, grpc_gate, storage, grpc_stop) = (
            crate::rpc::grpc::Settings::from_config(&config),
            Arc::clone(&parts.gates.grpc),
            parts.store.health().watch(),
            stopped(stop_rx.clone()),
        );
        tasks.spawn(async move {
            let served = crate::rpc::grpc::serve(
                grpc_listener,
                grpc_gate,
                grpc,
                grpc_settings,
                storage,
                grpc_stop,
            );
            if let Err(e) = served.await {
                tracing::error!("proof server: {e:#}");
            }
        });

        tasks.spawn(crate::tracker::run_expiry(
            Arc::clone(&parts.tracker),
            stopped(stop_rx.clone()),
        ));
        tasks.spawn(watchdog::storage_watch(
            Arc::clone(&parts.store),
            Arc::clone(&parts.book),
            stopped(stop_rx.clone()),
        ));
        tasks.spawn(
            Arc::clone(&parts.limits).purge_loop(Duration::from_secs(5), stopped(stop_rx.clone())),
        );
        let trimmer = crate::net::conn::Trimmer::default();
        let gates = parts.gates.clone();
        tasks.spawn(crate::periodic::every_blocking(
            Duration::from_secs(1),
            stopped(stop_rx.clone()),
            move || {
                trimmer.tick(&gates.all().map(|g| &**g));
            },
        ));
        tasks.spawn(
            Arc::clone(&parts.catalog)
                .refresh_loop(Duration::from_secs(1), stopped(stop_rx.clone())),
        );
        if let Some(p) = &parts.pipeline {
            tasks.spawn(crate::offload::offload_loop(
                Arc::clone(p),
                parts.engine.clone(),
                stop_rx.clone(),
            ));
            tasks.spawn(crate::offload::gate_loop(
                Arc::clone(p),
                Arc::clone(&parts.tracker),
                stop_rx.clone(),
            ));
        }
        tasks.spawn(Arc::clone(&parts.payouts).run(stop_rx));

        Ok(Self {
            ready,
            stop,
            udp_stop,
            udp_threads,
            tasks,
            tracker: parts.tracker,
        })
    }

    /// Stops every part and waits for them (at most 10 s for the tasks): accepting ends,
    /// seeder activity is saved, the UDP threads and the background loops finish.
    pub async fn stop(mut self) {
        tracing::info!("shutting down");
        let _ = self.stop.send(true);
        self.udp_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = self.tracker.flush_activity() {
            tracing::warn!("saving seeder activity at shutdown: {e:#}");
        }
        for h in self.udp_threads.drain(..) {
            let _ = h.join();
        }
        let deadline = tokio::time::sleep(std::time::Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => {
                    tracing::warn!("tasks did not stop within 10 s; exiting anyway");
                    break;
                }
                r = self.tasks.join_next() => if r.is_none() { break },
            }
        }
    }
}
