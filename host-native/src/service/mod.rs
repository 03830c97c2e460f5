//! `torrent_service run`: every service on its port until Ctrl-C or SIGTERM.
//!
//! The tracker (HTTP and UDP on `tracker_port`), the proof server (`proof_rpc_port`), the
//! registry, web seed, JSON proofs, page and `/metrics` (`http_port`), the BitTorrent
//! session (`peer_port`), the offload loop, audits and payouts. A port of 0 binds an
//! ephemeral port; the first line on stdout is a JSON readiness record with the bound
//! addresses, so scripts and tests never guess ports.
//!
//! Top of the service: it wires every module together and nothing but `cli` uses it;
//! [`demo`] prepares the embedded demo's blocks.

pub(crate) mod demo;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use torrent_core::tracker::swarm::SwarmConfig;

use crate::config::{Config, StakeMode};
use crate::offload::Pipeline;
use crate::offload::bundle::BundleOptions;
use crate::store::Store;
use crate::swarm::session::{BitTorrent, EngineOptions, Rqbit};
use crate::tracker::{SpvStake, Tracker, TrackerSettings, router, run_expiry, run_udp_blocking};

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

/// The storage watchdog (DESIGN §16). redb refuses every write after an I/O error (a full
/// disk) until the database is opened again, so once a second the watchdog probes it; on a
/// failure it reports NOT_SERVING (gRPC health, `/healthz`, `torrent_service_storage_healthy`),
/// raises one `storage_unavailable` alert, and reopens the database with backoff (1 s,
/// doubling to 30 s) until it accepts writes again, then reports SERVING.
async fn storage_watch(
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

/// Loads the stake address and the trusted headers for `stake_mode = "spv"`.
fn load_spv(config: &Config) -> Result<SpvStake> {
    let address = config
        .stake_address
        .as_deref()
        .context("stake_mode = \"spv\" needs stake_address")?;
    let address = torrent_core::bsv::keys::Address::parse(address)
        .map_err(|e| anyhow::anyhow!("stake_address: {e}"))?;
    let path = config
        .headers_file
        .as_deref()
        .context("stake_mode = \"spv\" needs headers_file (80-byte headers back to back)")?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.is_empty() || bytes.len() % 80 != 0 {
        bail!(
            "{}: {} bytes is not a whole number of 80-byte headers",
            path.display(),
            bytes.len()
        );
    }
    let headers: Vec<torrent_core::Header> = bytes
        .chunks_exact(80)
        .map(|c| torrent_core::Header::decode(c).map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<Result<_>>()?;
    let summary = torrent_core::bsv::header::check_chain(&headers, config.network, None)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    tracing::info!(headers = headers.len(), tip = %summary.tip, "trusted headers loaded for SPV stakes");
    Ok(SpvStake {
        address,
        first_height: config.headers_start_height,
        headers,
    })
}

/// The admission gates of the three TCP listeners.
#[derive(Debug, Clone)]
struct Gates {
    tracker: Arc<crate::net::conn::Gate>,
    http: Arc<crate::net::conn::Gate>,
    grpc: Arc<crate::net::conn::Gate>,
}

/// Raises the file limit and sizes the listeners' connection caps to fit in it, keeping a
/// quarter (at least 512) for the database, bundle files, the BitTorrent session and logs.
fn gates(config: &Config) -> Gates {
    let mut limit = [crate::net::conn::Limits::from_config(config); 3];
    let nofile = crate::net::conn::raise_file_limit();
    let reserve = (nofile / 4).max(512);
    let budget = nofile.saturating_sub(reserve);
    let [a, b, c] = &mut limit;
    crate::net::conn::fit_caps(&mut [a, b, c], budget);
    if limit[0].max_connections < config.max_connections {
        tracing::warn!(
            nofile,
            per_listener = limit[0].max_connections,
            "the open-file limit cannot hold max_connections on every listener; caps scaled down"
        );
    }
    tracing::debug!(nofile, ?limit, "connection limits");
    Gates {
        tracker: crate::net::conn::Gate::new("tracker", limit[0]),
        http: crate::net::conn::Gate::new("http", limit[1]),
        grpc: crate::net::conn::Gate::new("grpc", limit[2]),
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
        let spv = match config.stake_mode {
            StakeMode::Ledger => None,
            StakeMode::Spv => Some(load_spv(&config)?),
        };
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data_dir {}", config.data_dir.display()))?;
        let store = Arc::new(Store::open(&config.data_dir.join("torrent_service.redb"))?);

        let host = config.listen_host.as_str();
        let Listeners {
            tracker: tcp,
            udp,
            http,
            grpc: grpc_listener,
        } = listeners;
        let tracker_addr = tcp.local_addr()?;
        let http_addr = http.local_addr()?;
        let public_host = config
            .public_host
            .clone()
            .unwrap_or_else(|| format!("127.0.0.1:{}", tracker_addr.port()));

        let book = Arc::new(
            crate::ledger::Book::open(Arc::clone(&store), config.rules())?.with_budget(
                torrent_core::rewards::BudgetConfig {
                    per_day: config.reward_budget_sat_per_day,
                    per_seeder_per_day: config.reward_budget_sat_per_seeder_per_day,
                },
            ),
        );
        let bundles = config.data_dir.join("bundles");
        std::fs::create_dir_all(&bundles)
            .with_context(|| format!("creating {}", bundles.display()))?;
        let catalog = crate::http::registry::Catalog::new(bundles.clone());
        let limits = Arc::new(crate::net::limit::RateLimits::from_config(&config));
        let gates = gates(&config);
        let auth = Arc::new(crate::auth::Authorizer::from_config(
            &config,
            Some(Arc::clone(&book.alerts)),
        ));
        let settings = TrackerSettings {
            network: config.network,
            public_host: public_host.clone(),
            registration_window_s: config.registration_window_s,
            stake_amount: config.stake_amount,
            limits: Arc::clone(&limits),
            open: config.tracker_open,
            known: catalog.known.clone(),
            allow_private_proof_urls: config.allow_private_proof_urls,
            unstaked_account_ttl_s: config.unstaked_account_ttl_s,
            auth: Arc::clone(&auth),
            swarm: SwarmConfig {
                interval_s: config.announce_interval_s,
                min_interval_s: (config.announce_interval_s / 6).max(1),
                peer_timeout_s: u64::from(config.announce_interval_s) * 2 + 300,
                max_peers_per_swarm: config.max_peers_per_swarm,
                max_peers_total: config.max_peers_total,
                ..SwarmConfig::default()
            },
            spv,
        };
        if config.alerts_to_galaxy {
            book.alerts
                .send_to(crate::galaxy::Galaxy::from_config(&config).alert);
        }
        let tracker = Arc::new(Tracker::new(
            settings,
            Arc::clone(&store),
            Arc::clone(&book),
        )?);
        book.observe(Box::new({
            let t = Arc::downgrade(&tracker);
            move |a| {
                if let Some(t) = t.upgrade() {
                    t.refresh_account(a);
                }
            }
        }));
        let payouts = Arc::new(crate::ledger::Payouts::from_config(
            &config,
            Arc::clone(&book),
            Arc::clone(&auth),
        )?);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };

        let tracker_app = router(Arc::clone(&tracker)).merge(crate::ledger::router(
            Arc::clone(&payouts),
            config.stake_amount,
        ));
        let public_http = config
            .public_http
            .clone()
            .unwrap_or_else(|| format!("127.0.0.1:{}", http_addr.port()));

        let engine: Option<Arc<dyn BitTorrent>> = if config.bittorrent {
            let port = match config.peer_port {
                0 => std::net::TcpListener::bind((host, 0))?.local_addr()?.port(),
                p => p,
            };
            let listen: SocketAddr = format!("{host}:{port}")
                .parse()
                .with_context(|| format!("listen_host {host:?} is not an IP address"))?;
            let e = Rqbit::start(
                &bundles,
                &EngineOptions {
                    listen,
                    announce_port: config.announce_port.unwrap_or(port),
                    dht: config.dht,
                },
            )
            .await?;
            Some(Arc::new(e))
        } else {
            None
        };
        let pipeline = match config.block_source.as_deref() {
            Some(src) => Some(Arc::new(Pipeline {
                spec: src.parse().context("block_source")?,
                config: config.clone(),
                store: Arc::clone(&store),
                bundles: bundles.clone(),
                opts: BundleOptions {
                    network: config.network,
                    max_piece: config.piece_size,
                    format: config.torrent_format,
                    announce: vec![format!("http://{public_host}/announce")],
                    web_seeds: vec![format!("http://{public_http}/webseed/")],
                },
                book: Some(Arc::clone(&book)),
                catalog: Some(Arc::clone(&catalog)),
            })),
            None => None,
        };

        let proofs = Arc::new(crate::proofs::Proofs::new(
            Arc::clone(&store),
            bundles.clone(),
            engine.clone(),
            crate::proofs::ProofLimits::from_config(&config),
            config.proof_cache_blocks,
        ));
        let validator = match config.validation {
            crate::config::Validation::Sandbox => {
                let s = torrent_wasm_host::Sandbox::guest(torrent_wasm_host::Limits::default())
                    .context("validation = \"sandbox\"")?;
                tracing::info!(limits = ?s.limits(), "seeders' proofs are verified in the wasmtime sandbox");
                crate::proofs::seeders::Validator::Sandbox(Arc::new(s))
            }
            crate::config::Validation::Galaxy => crate::proofs::seeders::Validator::Galaxy(
                crate::galaxy::Galaxy::from_config(&config).validation,
            ),
            crate::config::Validation::Native => crate::proofs::seeders::Validator::Native,
        };
        proofs.set_seeders(Arc::new(crate::proofs::seeders::SeederProofs::new(
            Arc::clone(&tracker),
            std::time::Duration::from_millis(config.seeder_proof_timeout_ms),
            validator,
            torrent_core::rewards::ProofRewardConfig {
                window: std::time::Duration::from_secs(config.proof_reward_window_s),
                per_block: config.proof_rewards_per_block,
            },
        )));
        let grpc_addr = grpc_listener.local_addr()?;

        let metrics_app = {
            let t = Arc::clone(&tracker);
            let p = Arc::clone(&proofs);
            let l = Arc::clone(&limits);
            let g = gates.clone();
            let webseed = axum::Router::new()
                .route(
                    "/webseed/{*path}",
                    get(crate::http::webseed::serve).head(crate::http::webseed::serve),
                )
                .with_state(crate::http::webseed::WebSeed::new(bundles.clone()));
            let headers_api = axum::Router::new()
                .route("/v1/headers", get(crate::rpc::json::headers))
                .with_state(Arc::clone(&proofs));
            // Limited on its own: a proof spends PROOF_COST of the ceiling.
            let proof_api = axum::Router::new()
                .route("/v1/proof/{txid}", get(crate::rpc::json::proof))
                .route_layer(axum::middleware::from_fn_with_state(
                    Arc::clone(&limits),
                    crate::net::limit::proof_reads,
                ))
                .with_state(Arc::clone(&proofs));
            let registry = axum::Router::new()
                .route("/v1/bundles", get(crate::http::registry::list))
                .route("/v1/bundles/{file}", get(crate::http::registry::torrent))
                .with_state(crate::http::registry::Registry {
                    catalog: Arc::clone(&catalog),
                    tracker: Arc::clone(&tracker),
                    public_http: public_http.clone(),
                    store: Arc::clone(&store),
                    urls: Some((
                        format!("http://{public_host}/announce"),
                        format!("http://{public_http}/webseed/"),
                    )),
                });
            axum::Router::new()
                .route(
                    "/metrics",
                    get(move || {
                        let t = Arc::clone(&t);
                        let p = Arc::clone(&p);
                        let l = Arc::clone(&l);
                        let g = g.clone();
                        async move {
                            let mut out = String::new();
                            t.render_metrics(&mut out);
                            l.render_metrics(&mut out);
                            crate::net::conn::render_metrics(
                                &[&g.tracker, &g.http, &g.grpc],
                                &mut out,
                            );
                            p.metrics.render(&mut out);
                            t.store().health().render(&mut out);
                            if let Some(s) = p.seeders() {
                                s.render(&mut out);
                            }
                            if let Ok(totals) = t.store().pipeline_totals() {
                                crate::offload::render_metrics(&totals, &mut out);
                            }
                            (
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    "text/plain; version=0.0.4",
                                )],
                                out,
                            )
                        }
                    }),
                )
                .merge(
                    axum::Router::new()
                        .route("/healthz", get(healthz))
                        .with_state(Arc::clone(&store)),
                )
                .route("/", get(crate::http::page::index))
                .route("/app.js", get(crate::http::page::app))
                .merge(
                    axum::Router::new()
                        .route("/pkg/{file}", get(crate::http::page::pkg))
                        .with_state(crate::http::page::Web {
                            pkg_dir: config.web_spv_dir.clone(),
                        }),
                )
                .merge(webseed)
                .merge(registry)
                .merge(headers_api)
                .route_layer(axum::middleware::from_fn_with_state(
                    Arc::clone(&limits),
                    crate::net::limit::reads,
                ))
                .merge(proof_api)
        };

        let ready = Ready {
            grpc: grpc_addr,
            peer: engine.as_ref().and_then(|e| e.listen_addr()),
            block_source: config.block_source.clone(),
            tracker: tracker_addr,
            udp: tracker_addr,
            http: http_addr,
            spv_page: format!("http://{http_addr}/"),
            announce_url: format!("http://{public_host}/announce"),
            data_dir: config.data_dir.clone(),
            bundles: bundles.clone(),
            webseed_url: format!("http://{http_addr}/webseed/"),
        };
        tracing::info!(tracker = %tracker_addr, "tracker listening (HTTP and UDP): announce at http://{public_host}/announce, register at http://{public_host}/register");
        tracing::info!(http = %http_addr, "SPV page at http://{http_addr}/ (checks proofs in the browser)");
        tracing::info!(http = %http_addr, "metrics at http://{http_addr}/metrics, web seed at http://{http_addr}/webseed/ (bundles in {})", bundles.display());
        tracing::info!(grpc = %grpc_addr, "proofs: gRPC torrent.v1.ProofService on {grpc_addr} (health, reflection, gRPC-web), JSON at http://{http_addr}/v1/proof/<txid>, registry at http://{http_addr}/v1/bundles");
        if let Some(e) = &engine {
            tracing::info!(peer = ?e.listen_addr(), "BitTorrent peer seeding the bundles (librqbit)");
        }

        let udp_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut udp_threads = Vec::new();
        // One thread: measured on 2 cores, a second receiver on the same socket only adds
        // wake-ups and lock hand-offs (247k announces/s with one, ~150k with two).
        let workers = 1;
        for i in 0..workers {
            let (t, stop, sock) = (
                Arc::clone(&tracker),
                Arc::clone(&udp_stop),
                udp.try_clone()?,
            );
            udp_threads.push(
                std::thread::Builder::new()
                    .name(format!("udp-tracker-{i}"))
                    .spawn(move || run_udp_blocking(&t, &sock, &stop))?,
            );
        }
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(run_expiry(Arc::clone(&tracker), stopped(stop_rx.clone())));
        tasks.spawn(storage_watch(
            Arc::clone(&store),
            Arc::clone(&book),
            stopped(stop_rx.clone()),
        ));
        tasks.spawn(
            Arc::clone(&limits).purge_loop(Duration::from_secs(5), stopped(stop_rx.clone())),
        );
        let trimmer = crate::net::conn::Trimmer::default();
        let listeners = gates.clone();
        tasks.spawn(crate::periodic::every_blocking(
            Duration::from_secs(1),
            stopped(stop_rx.clone()),
            move || {
                trimmer.tick(&[&listeners.tracker, &listeners.http, &listeners.grpc]);
            },
        ));
        tasks.spawn(
            Arc::clone(&catalog).refresh_loop(Duration::from_secs(1), stopped(stop_rx.clone())),
        );
        if let Some(p) = &pipeline {
            tasks.spawn(crate::offload::offload_loop(
                Arc::clone(p),
                engine.clone(),
                stop_rx.clone(),
            ));
            tasks.spawn(crate::offload::gate_loop(
                Arc::clone(p),
                Arc::clone(&tracker),
                stop_rx.clone(),
            ));
        }
        tasks.spawn(Arc::clone(&payouts).run(stop_rx.clone()));
        let request_timeout = Duration::from_secs(config.request_timeout_s);
        tasks.spawn(crate::net::conn::serve_http(
            tcp,
            Arc::clone(&gates.tracker),
            tracker_app,
            request_timeout,
            stopped(stop_rx.clone()),
        ));
        let s3 = stopped(stop_rx.clone());
        let grpc = crate::rpc::grpc::Grpc::new(
            Arc::clone(&proofs),
            Arc::clone(&auth),
            Arc::clone(&limits),
            crate::rpc::grpc::Batch::from_config(&config),
            Arc::clone(&catalog),
        );
        let grpc_settings = crate::rpc::grpc::Settings::from_config(&config);
        let grpc_gate = Arc::clone(&gates.grpc);
        let storage = store.health().watch();
        tasks.spawn(async move {
            if let Err(e) =
                crate::rpc::grpc::serve(grpc_listener, grpc_gate, grpc, grpc_settings, storage, s3)
                    .await
            {
                tracing::error!("proof server: {e:#}");
            }
        });
        tasks.spawn(crate::net::conn::serve_http(
            http,
            Arc::clone(&gates.http),
            metrics_app,
            request_timeout,
            stopped(stop_rx.clone()),
        ));

        Ok(Self {
            ready,
            stop: stop_tx,
            udp_stop,
            udp_threads,
            tasks,
            tracker,
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
