//! The long-lived parts of a running service, opened in dependency order: the database,
//! the ledger, the tracker, payouts, the BitTorrent engine, the offload pipeline and the
//! proof server. [`Parts::open`] decides nothing; it builds what the config asks for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use torrent_core::tracker::swarm::SwarmConfig;

use crate::config::{Config, StakeMode, Validation};
use crate::http::registry::Catalog;
use crate::ledger::{Book, Payouts};
use crate::net::conn::{Gate, Limits};
use crate::net::limit::RateLimits;
use crate::offload::Pipeline;
use crate::offload::bundle::BundleOptions;
use crate::proofs::Proofs;
use crate::proofs::seeders::{SeederProofs, Validator};
use crate::store::Store;
use crate::swarm::session::{BitTorrent, EngineOptions, Rqbit};
use crate::tracker::{SpvStake, Tracker, TrackerSettings};

/// The addresses the service gives out: announce (tracker) and web seed (HTTP port).
#[derive(Debug, Clone)]
pub(super) struct Public {
    /// `host:port` of the tracker as clients reach it (`public_host`).
    pub(super) host: String,
    /// `host:port` of the HTTP port as clients reach it (`public_http`).
    pub(super) http: String,
}

impl Public {
    /// `public_host` and `public_http` from the config, else loopback at the bound ports.
    pub(super) fn new(config: &Config, tracker: SocketAddr, http: SocketAddr) -> Self {
        Self {
            host: config
                .public_host
                .clone()
                .unwrap_or_else(|| format!("127.0.0.1:{}", tracker.port())),
            http: config
                .public_http
                .clone()
                .unwrap_or_else(|| format!("127.0.0.1:{}", http.port())),
        }
    }

    /// The announce URL written into bundles.
    pub(super) fn announce_url(&self) -> String {
        format!("http://{}/announce", self.host)
    }

    /// The web seed URL written into bundles.
    pub(super) fn webseed_url(&self) -> String {
        format!("http://{}/webseed/", self.http)
    }
}

/// The admission gates of the three TCP listeners.
#[derive(Debug, Clone)]
pub(super) struct Gates {
    pub(super) tracker: Arc<Gate>,
    pub(super) http: Arc<Gate>,
    pub(super) grpc: Arc<Gate>,
}

impl Gates {
    /// All three, for metrics and memory trimming.
    pub(super) fn all(&self) -> [&Arc<Gate>; 3] {
        [&self.tracker, &self.http, &self.grpc]
    }
}

/// Every long-lived part, shared by the routes and the background tasks.
pub(super) struct Parts {
    pub(super) store: Arc<Store>,
    pub(super) book: Arc<Book>,
    pub(super) bundles: PathBuf,
    pub(super) catalog: Arc<Catalog>,
    pub(super) limits: Arc<RateLimits>,
    pub(super) gates: Gates,
    pub(super) auth: Arc<crate::auth::Authorizer>,
    pub(super) tracker: Arc<Tracker>,
    pub(super) payouts: Arc<Payouts>,
    pub(super) engine: Option<Arc<dyn BitTorrent>>,
    pub(super) pipeline: Option<Arc<Pipeline>>,
    pub(super) proofs: Arc<Proofs>,
}

impl Parts {
    /// Opens every part the config asks for.
    ///
    /// # Errors
    /// Bad configuration, a database that cannot be opened, an engine that cannot start.
    pub(super) async fn open(config: &Config, public: &Public) -> Result<Self> {
        let spv = match config.stake_mode {
            StakeMode::Ledger => None,
            StakeMode::Spv => Some(load_spv(config)?),
        };
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data_dir {}", config.data_dir.display()))?;
        let store = Arc::new(Store::open(&config.data_dir.join("torrent_service.redb"))?);
        let book = Arc::new(Book::open(Arc::clone(&store), config.rules())?.with_budget(
            torrent_core::rewards::BudgetConfig {
                per_day: config.reward_budget_sat_per_day,
                per_seeder_per_day: config.reward_budget_sat_per_seeder_per_day,
            },
        ));
        if config.alerts_to_galaxy {
            book.alerts
                .send_to(crate::galaxy::Galaxy::from_config(config).alert);
        }
        let bundles = config.data_dir.join("bundles");
        std::fs::create_dir_all(&bundles)
            .with_context(|| format!("creating {}", bundles.display()))?;
        let catalog = Catalog::new(bundles.clone());
        let limits = Arc::new(RateLimits::from_config(config));
        let auth = Arc::new(crate::auth::Authorizer::from_config(
            config,
            Some(Arc::clone(&book.alerts)),
        ));
        let settings = TrackerSettings {
            network: config.network,
            public_host: public.host.clone(),
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
        let payouts = Arc::new(Payouts::from_config(
            config,
            Arc::clone(&book),
            Arc::clone(&auth),
        )?);
        let engine = start_engine(config, &bundles).await?;
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
                    announce: vec![public.announce_url()],
                    web_seeds: vec![public.webseed_url()],
                },
                book: Some(Arc::clone(&book)),
                catalog: Some(Arc::clone(&catalog)),
            })),
            None => None,
        };
        let proofs = Arc::new(Proofs::new(
            Arc::clone(&store),
            bundles.clone(),
            engine.clone(),
            crate::proofs::ProofLimits::from_config(config),
            config.proof_cache_blocks,
        ));
        proofs.set_seeders(Arc::new(SeederProofs::new(
            Arc::clone(&tracker),
            std::time::Duration::from_millis(config.seeder_proof_timeout_ms),
            validator(config)?,
            torrent_core::rewards::ProofRewardConfig {
                window: std::time::Duration::from_secs(config.proof_reward_window_s),
                per_block: config.proof_rewards_per_block,
            },
        )));
        Ok(Self {
            store,
            book,
            bundles,
            catalog,
            limits,
            gates: gates(config),
            auth,
            tracker,
            payouts,
            engine,
            pipeline,
            proofs,
        })
    }
}

/// The BitTorrent engine that seeds the bundles, when `bittorrent` is on.
async fn start_engine(
    config: &Config,
    bundles: &std::path::Path,
) -> Result<Option<Arc<dyn BitTorrent>>> {
    if !config.bittorrent {
        return Ok(None);
    }
    let host = config.listen_host.as_str();
    let port = match config.peer_port {
        0 => std::net::TcpListener::bind((host, 0))?.local_addr()?.port(),
        p => p,
    };
    let listen: SocketAddr = format!("{host}:{port}")
        .parse()
        .with_context(|| format!("listen_host {host:?} is not an IP address"))?;
    let e = Rqbit::start(
        bundles,
        &EngineOptions {
            listen,
            announce_port: config.announce_port.unwrap_or(port),
            dht: config.dht,
        },
    )
    .await?;
    Ok(Some(Arc::new(e)))
}

/// How seeders' proofs are verified (`validation`).
fn validator(config: &Config) -> Result<Validator> {
    Ok(match config.validation {
        Validation::Sandbox => {
            let s = torrent_wasm_host::Sandbox::guest(torrent_wasm_host::Limits::default())
                .context("validation = \"sandbox\"")?;
            tracing::info!(limits = ?s.limits(), "seeders' proofs are verified in the wasmtime sandbox");
            Validator::Sandbox(Arc::new(s))
        }
        Validation::Galaxy => {
            Validator::Galaxy(crate::galaxy::Galaxy::from_config(config).validation)
        }
        Validation::Native => Validator::Native,
    })
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

/// Raises the file limit and sizes the listeners' connection caps to fit in it, keeping a
/// quarter (at least 512) for the database, bundle files, the BitTorrent session and logs.
fn gates(config: &Config) -> Gates {
    let mut limit = [Limits::from_config(config); 3];
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
        tracker: Gate::new("tracker", limit[0]),
        http: Gate::new("http", limit[1]),
        grpc: Gate::new("grpc", limit[2]),
    }
}
