//! Configuration: one TOML file with a `[torrent_service]` section, every key overridable by
//! an environment variable `TORRENT_SERVICE_<KEY>` (upper case). Unknown keys, in the file or
//! in the environment, are an error that names the key: a typo must not silently fall back
//! to a default.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use torrent_core::{Network, Satoshis};

/// Prefix of the environment overrides.
pub const ENV_PREFIX: &str = "TORRENT_SERVICE_";

/// Environment variables with the prefix that are not config keys.
const ENV_NOT_KEYS: &[&str] = &["TORRENT_SERVICE_CONFIG"];

/// The whole file: only the `[torrent_service]` section is ours; other sections (other
/// Galaxy services sharing the file) are left alone.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct File {
    /// Our section.
    #[serde(default)]
    pub torrent_service: Config,
}

/// The `[torrent_service]` section. The first ten keys are the original service's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Largest piece length of a bundle torrent, bytes (a power of two, at least 16 KiB).
    pub piece_size: u64,
    /// A block is aged once its time is this many calendar months before now.
    pub aged_threshold_months: u32,
    /// Alternative aging rule: tip height minus height at least this; overrides months.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aged_threshold_blocks: Option<u64>,
    /// Stake a seeder must hold to count, satoshis.
    pub stake_amount: Satoshis,
    /// Reward per valid proof served, satoshis.
    pub proof_reward_base: Satoshis,
    /// Extra reward for a proof served in under 500 ms, satoshis.
    pub proof_bonus_speed: Satoshis,
    /// Extra reward when the block's bundle has fewer than 3 active seeders, satoshis.
    pub proof_bonus_rare: Satoshis,
    /// Reward per 1,000,000 bytes of verified piece data delivered, satoshis.
    pub bulk_reward_per_mb: Satoshis,
    /// Tracker port, TCP (HTTP) and UDP.
    pub tracker_port: u16,
    /// gRPC proof server port.
    pub proof_rpc_port: u16,
    /// Token required by operator-only calls; empty disables them. Off loopback it must be
    /// at least 32 characters and no known placeholder.
    pub auth_token: Secret,
    /// Token sent in the envelope of every call to a Galaxy service (a separate key: the
    /// operator's token never leaves the process).
    pub galaxy_token: Secret,
    /// Network of the blocks.
    pub network: Network,
    /// Where the database, torrents and bundle data live (bundles under `bundles/`, served
    /// by the web seed at `http://<http_port>/webseed/`).
    pub data_dir: PathBuf,
    /// Block source: `dir:PATH`, `blk:PATH`, `rest:URL`, `galaxy`, or a bare path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_source: Option<String>,
    /// Blocks per bundle.
    pub bundle_blocks: u64,
    /// Bundle torrent format: `v1` (default) or `hybrid` (v1 + BEP 52 v2).
    pub torrent_format: torrent_core::bundle::TorrentFormat,
    /// Distinct staked, audited seeders, on distinct networks, needed before a block may be
    /// pruned.
    pub min_seeders: u32,
    /// IPv4 prefix length of one network for the prune gate: seeders in one /24 are one copy.
    pub gate_prefix_v4: u8,
    /// IPv6 prefix length of one network for the prune gate.
    pub gate_prefix_v6: u8,
    /// HTTP port: JSON API, web seed, metrics, the SPV page.
    pub http_port: u16,
    /// BitTorrent peer port.
    pub peer_port: u16,
    /// Address the servers bind to.
    pub listen_host: String,
    /// `host:port` seeders see in registration messages and announce URLs; default
    /// `127.0.0.1:<tracker_port>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_host: Option<String>,
    /// How far a registration's `issued_at` may be from the tracker's clock, seconds.
    pub registration_window_s: u64,
    /// How stakes are proven: `ledger` (operator credits them) or `spv`.
    pub stake_mode: StakeMode,
    /// The operator's stake address (P2PKH); `spv` stakes must pay it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stake_address: Option<String>,
    /// Headers the service trusts for SPV (80-byte headers back to back, checked for linkage
    /// and proof of work on load), starting at `headers_start_height`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers_file: Option<PathBuf>,
    /// Height of the first header in `headers_file`.
    pub headers_start_height: u64,
    /// Requests per second per client (an IP, or an IPv6 /64) on every public route:
    /// tracker, proofs, registry, headers, metrics, page, web seed; 0 disables the limit.
    pub rate_limit_per_ip: u32,
    /// Requests per second over all clients on those routes; 0: no ceiling.
    pub rate_limit_global: u32,
    /// Registrations, stake submissions, proof-URL changes and failed operator calls per
    /// minute per client; 0 disables the limit.
    pub write_rate_limit_per_ip_per_min: u32,
    /// The same per second over all clients; 0: no ceiling.
    pub write_rate_limit_global: u32,
    /// Open connections per listener (tracker, HTTP, gRPC), all clients together; scaled
    /// down at start when the file limit cannot hold them all.
    pub max_connections: usize,
    /// Open connections per listener from one client.
    pub max_connections_per_ip: usize,
    /// A connection's first request must arrive within this, seconds; on HTTP/1 also the
    /// longest wait for each next request.
    pub header_read_timeout_s: u64,
    /// A connection with nothing in flight this long is closed, seconds (HTTP/2 and gRPC).
    pub idle_timeout_s: u64,
    /// Longest time an HTTP request or gRPC call may take to answer, seconds (a proof
    /// fetched from the swarm waits up to 120 s).
    pub request_timeout_s: u64,
    /// gRPC streams one connection may have open (advertised in SETTINGS).
    pub grpc_max_concurrent_streams: u32,
    /// gRPC calls one connection may have in progress; more get RESOURCE_EXHAUSTED.
    pub grpc_concurrency_per_connection: usize,
    /// Seconds between HTTP/2 keepalive pings on gRPC connections.
    pub grpc_keepalive_interval_s: u64,
    /// A gRPC connection that does not answer a ping within this is closed, seconds.
    pub grpc_keepalive_timeout_s: u64,
    /// Serve any info-hash, as a public tracker does; otherwise only the bundle store's
    /// torrents (the service's bundles and any `.torrent` placed in `<data_dir>/bundles`).
    pub tracker_open: bool,
    /// A registered account that has held no stake this long after registering is deleted
    /// (with its passkey), seconds.
    pub unstaked_account_ttl_s: u64,
    /// Let seeders' proof URLs name loopback, private or link-local addresses (a test bed,
    /// or seeders on the operator's own network); otherwise only public ones.
    pub allow_private_proof_urls: bool,
    /// Announce interval handed to clients, seconds.
    pub announce_interval_s: u32,
    /// Peers kept per swarm before the stalest is evicted.
    pub max_peers_per_swarm: usize,
    /// Peers kept over all swarms before the stalest is evicted.
    pub max_peers_total: usize,
    /// `host:port` of the HTTP server as others reach it (web seed URLs in bundles, torrent
    /// URLs of the registry); default `127.0.0.1:<http_port>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_http: Option<String>,
    /// Seconds between aging scans (one also runs at start).
    pub aging_scan_interval_s: u64,
    /// Seconds between audit rounds of the seeders of our bundles.
    pub audit_interval_s: u64,
    /// A passing audit counts toward the prune gate for this long, seconds.
    pub audit_max_age_s: u64,
    /// Whole pieces fetched and checked per audit.
    pub audit_pieces: u32,
    /// A seeder's verified proof of a txid earns once per this many seconds, whoever asks.
    pub proof_reward_window_s: u64,
    /// Rewarded seeder proofs of one block per window; then the block's txid file is
    /// fetched once and the block served locally.
    pub proof_rewards_per_block: u32,
    /// Satoshis of rewards (proofs and bulk) that may accrue per UTC day, all seeders
    /// together; 0: no cap.
    pub reward_budget_sat_per_day: Satoshis,
    /// Satoshis of rewards that may accrue per UTC day to one seeder; 0: no cap.
    pub reward_budget_sat_per_seeder_per_day: Satoshis,
    /// Audits of one round run at most this many at a time.
    pub audit_concurrency: u32,
    /// An audit round ends after this many seconds, whatever is still running (unreachable
    /// peers cannot stall it); one audit gives up after at most 30 s.
    pub audit_round_deadline_s: u64,
    /// Delete aged blocks from the block source once the prune gate opens.
    pub prune: bool,
    /// Run the BitTorrent session (seed bundles, fetch in seeder mode).
    pub bittorrent: bool,
    /// Enable the DHT in the BitTorrent session.
    pub dht: bool,
    /// Port announced to trackers when it differs from `peer_port` (NAT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announce_port: Option<u16>,
    /// Proof requests served at once; more are refused (RESOURCE_EXHAUSTED / HTTP 429).
    pub proof_max_concurrency: usize,
    /// Proof requests one client (an IP, an IPv6 /64) may have in flight, so that one client
    /// holding slow proofs cannot take every permit (DESIGN §16).
    pub proof_max_per_client: usize,
    /// Deadline of one proof request, and of a whole `GetProofs` batch: past it the request
    /// gets DEADLINE_EXCEEDED / HTTP 504 and frees its permit.
    pub proof_deadline_s: u64,
    /// Most txids one `GetProofs` call may name (`StreamProofs` for more).
    pub proof_max_batch: usize,
    /// Most bytes of proofs one `GetProofs` reply carries; the txids past it are answered
    /// RESOURCE_EXHAUSTED, to ask again in another call.
    pub proof_max_reply_bytes: usize,
    /// Blocks whose upper merkle levels stay cached (about 4 MB per million transactions).
    pub proof_cache_blocks: usize,
    /// How proofs coming back from seeders are checked: `native` (the core, in process),
    /// `sandbox` (wasmtime) or `galaxy` (Galaxy's Validation service).
    pub validation: Validation,
    /// Seeder mode: the registry to fetch bundle torrents from (`http://host:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed_registry: Option<String>,
    /// Seeder mode: the announce URL with the seeder's passkey.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed_announce: Option<String>,
    /// Satoshis taken from a seeder's stake for a proof that does not verify.
    pub slash_invalid_proof: Satoshis,
    /// Satoshis taken from a seeder's stake for a failed audit.
    pub slash_failed_audit: Satoshis,
    /// How long a seeder may take to answer a proof request, milliseconds.
    pub seeder_proof_timeout_ms: u64,
    /// Balances at or above this are paid in the next payout, satoshis.
    pub payout_threshold: Satoshis,
    /// Seconds between scheduled payouts.
    pub payout_interval_s: u64,
    /// Settle before the schedule as soon as this many satoshis are due (0: schedule only).
    pub payout_batch_sat: Satoshis,
    /// Fee rate of payout transactions, satoshis per 1000 bytes.
    pub payout_fee_rate: u64,
    /// The payout wallet: JSON `{"wif", "utxos": [{"txid", "vout", "satoshis"}]}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_file: Option<PathBuf>,
    /// Where payout transactions go: `outbox` (files), `arc` (an ARC endpoint) or
    /// `galaxy` (Galaxy's Transaction service).
    pub broadcaster: BroadcasterKind,
    /// The outbox directory; default `<data_dir>/outbox`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox_dir: Option<PathBuf>,
    /// ARC base URL, e.g. `https://arc.taal.com`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arc_url: Option<String>,
    /// ARC bearer token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arc_api_key: Option<Secret>,
    /// Seconds between broadcast retries and confirmation checks of pending payouts.
    pub payout_retry_s: u64,
    /// Where payout UTXOs come from: `wallet` (the wallet file) or `galaxy` (Galaxy's
    /// Storage service, for the wallet file's key).
    pub payout_utxos: UtxoSource,
    /// Host of Galaxy's services.
    pub galaxy_host: String,
    /// Galaxy Transaction service port.
    pub galaxy_transaction_port: u16,
    /// Galaxy Storage service port.
    pub galaxy_storage_port: u16,
    /// Galaxy Validation service port (`validation = "galaxy"`).
    pub galaxy_validation_port: u16,
    /// Galaxy Alert service port (`alerts_to_galaxy`).
    pub galaxy_alert_port: u16,
    /// Galaxy Block service port (`block_source = "galaxy"`).
    pub galaxy_block_port: u16,
    /// Galaxy Overlay service port (`overlay = "galaxy"`).
    pub galaxy_overlay_port: u16,
    /// Galaxy Auth service port (`auth = "galaxy"`).
    pub galaxy_auth_port: u16,
    /// Where bundle references are published: `local` (the registry at `GET /v1/bundles`
    /// only) or `galaxy` (also Galaxy's Overlay service; a bundle counts as published once
    /// the Overlay has it).
    pub overlay: OverlayKind,
    /// Who decides operator tokens: `local` (equal to `auth_token`) or `galaxy` (Galaxy's
    /// Auth service, answers cached for the TTL it gives).
    pub auth: AuthKind,
    /// Also send operator alerts to Galaxy's Alert service.
    pub alerts_to_galaxy: bool,
    /// Largest bincode frame sent to or accepted from a Galaxy service, bytes.
    pub galaxy_max_frame: u32,
    /// Connect and I/O timeout of one Galaxy call, milliseconds.
    pub galaxy_timeout_ms: u64,
    /// Attempts per Galaxy call on transport failure (backoff doubling from 200 ms).
    pub galaxy_attempts: u32,
    /// A folder to serve the web-spv page's generated `web_spv.js` and `web_spv_bg.wasm`
    /// from instead of the copies built into the binary (`web-spv/build.sh` writes
    /// `web-spv/pkg`): for working on the page without rebuilding the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_spv_dir: Option<PathBuf>,
}

/// A secret value (a token, an API key): read from the file or the environment like any
/// other key, but `Debug` shows only whether it is set (DESIGN §16), so logs, panics and
/// `{:?}` never carry it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"<redacted>\""
        })
    }
}

/// Tokens that must never guard a listener others can reach (the example configs' values
/// and the usual guesses).
const PLACEHOLDER_TOKENS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "secret",
    "password",
    "token",
    "admin",
    "operator",
    "operator-secret",
    "test",
    "example",
];

/// Whether `host` (a `listen_host`) accepts only this machine's connections.
fn loopback_only(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where payout UTXOs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UtxoSource {
    /// The wallet file's `utxos`.
    Wallet,
    /// Galaxy's Storage service.
    Galaxy,
}

/// Where payout transactions are broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BroadcasterKind {
    /// Files in `outbox_dir`.
    Outbox,
    /// An ARC-compatible HTTP endpoint (`arc_url`).
    Arc,
    /// Galaxy's Transaction service.
    Galaxy,
}

/// Where proofs from seeders are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// `torrent_core` in this process.
    Native,
    /// `torrent_core` compiled to wasm, in wasmtime with fuel and memory caps.
    Sandbox,
    /// Galaxy's Validation service.
    Galaxy,
}

/// Where bundle references are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverlayKind {
    /// The local registry only.
    Local,
    /// Also Galaxy's Overlay service.
    Galaxy,
}

/// Who decides operator tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// The configured `auth_token`.
    Local,
    /// Galaxy's Auth service.
    Galaxy,
}

/// How seeder stakes are established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StakeMode {
    /// The operator credits stakes (`torrent_service ledger stake --credit`).
    Ledger,
    /// A BEEF paying the stake address, verified by SPV.
    Spv,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            piece_size: 32 << 20,
            aged_threshold_months: 60,
            aged_threshold_blocks: None,
            stake_amount: Satoshis(100_000),
            proof_reward_base: Satoshis(100),
            proof_bonus_speed: Satoshis(10),
            proof_bonus_rare: Satoshis(50),
            bulk_reward_per_mb: Satoshis(100),
            tracker_port: 6969,
            proof_rpc_port: 50063,
            auth_token: Secret::default(),
            galaxy_token: Secret::default(),
            network: Network::Mainnet,
            data_dir: PathBuf::from("./data"),
            block_source: None,
            bundle_blocks: 144,
            torrent_format: torrent_core::bundle::TorrentFormat::V1,
            min_seeders: 3,
            gate_prefix_v4: 24,
            gate_prefix_v6: 48,
            http_port: 8080,
            peer_port: 6881,
            listen_host: "127.0.0.1".into(),
            public_host: None,
            registration_window_s: 300,
            stake_mode: StakeMode::Ledger,
            stake_address: None,
            headers_file: None,
            headers_start_height: 0,
            rate_limit_per_ip: 200,
            rate_limit_global: 20_000,
            write_rate_limit_per_ip_per_min: 20,
            write_rate_limit_global: 50,
            max_connections: 4096,
            max_connections_per_ip: 128,
            header_read_timeout_s: 10,
            idle_timeout_s: 60,
            request_timeout_s: 150,
            grpc_max_concurrent_streams: 128,
            grpc_concurrency_per_connection: 64,
            grpc_keepalive_interval_s: 30,
            grpc_keepalive_timeout_s: 10,
            tracker_open: false,
            allow_private_proof_urls: false,
            unstaked_account_ttl_s: 604_800,
            announce_interval_s: 1800,
            max_peers_per_swarm: 50_000,
            max_peers_total: 2_000_000,
            public_http: None,
            aging_scan_interval_s: 3600,
            audit_interval_s: 600,
            audit_max_age_s: 86_400,
            audit_pieces: 4,
            proof_reward_window_s: 86_400,
            proof_rewards_per_block: 16,
            reward_budget_sat_per_day: Satoshis(100_000_000),
            reward_budget_sat_per_seeder_per_day: Satoshis(10_000_000),
            audit_concurrency: 16,
            audit_round_deadline_s: 120,
            prune: true,
            bittorrent: true,
            dht: false,
            announce_port: None,
            proof_max_concurrency: 256,
            proof_max_per_client: 32,
            proof_deadline_s: 30,
            proof_max_batch: 1000,
            proof_max_reply_bytes: 4 << 20,
            proof_cache_blocks: 64,
            validation: Validation::Native,
            seed_registry: None,
            seed_announce: None,
            slash_invalid_proof: Satoshis(10_000),
            slash_failed_audit: Satoshis(10_000),
            seeder_proof_timeout_ms: 5_000,
            payout_threshold: Satoshis(1_000),
            payout_interval_s: 86_400,
            payout_batch_sat: Satoshis(100_000),
            payout_fee_rate: 100,
            wallet_file: None,
            broadcaster: BroadcasterKind::Outbox,
            outbox_dir: None,
            arc_url: None,
            arc_api_key: None,
            payout_retry_s: 60,
            payout_utxos: UtxoSource::Wallet,
            galaxy_host: "127.0.0.1".into(),
            galaxy_transaction_port: 50052,
            galaxy_storage_port: 50053,
            galaxy_validation_port: 50057,
            galaxy_alert_port: 50061,
            galaxy_block_port: 50054,
            galaxy_overlay_port: 50056,
            galaxy_auth_port: 50060,
            overlay: OverlayKind::Local,
            auth: AuthKind::Local,
            alerts_to_galaxy: false,
            galaxy_max_frame: 16 << 20,
            galaxy_timeout_ms: 5_000,
            galaxy_attempts: 3,
            web_spv_dir: None,
        }
    }
}

impl Config {
    /// The reward and slashing rules for the ledger.
    pub fn rules(&self) -> torrent_core::incentive::Rules {
        torrent_core::incentive::Rules {
            proof_reward_base: self.proof_reward_base,
            proof_bonus_speed: self.proof_bonus_speed,
            proof_bonus_rare: self.proof_bonus_rare,
            bulk_reward_per_mb: self.bulk_reward_per_mb,
            slash_invalid_proof: self.slash_invalid_proof,
            slash_failed_audit: self.slash_failed_audit,
            ..torrent_core::incentive::Rules::DEFAULT
        }
    }

    /// Loads `path` (or defaults when `None`), then applies the process environment.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, an unknown key or a bad value, naming it.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        Self::load_with_env(path, std::env::vars())
    }

    /// As [`Config::load`] with an explicit environment (for tests).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let mut section = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config {}", p.display()))?;
                let mut doc: toml::Table = toml::from_str(&text)
                    .with_context(|| format!("parsing config {}", p.display()))?;
                match doc.remove("torrent_service") {
                    Some(toml::Value::Table(t)) => t,
                    Some(_) => bail!("{}: `torrent_service` must be a table", p.display()),
                    None => toml::Table::new(),
                }
            }
            None => toml::Table::new(),
        };
        let known = known_keys();
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if ENV_NOT_KEYS.contains(&name.as_str()) {
                continue;
            }
            let key = key.to_ascii_lowercase();
            if !known.contains(&key) {
                bail!("unknown configuration key `{key}` (from environment variable {name})");
            }
            section.insert(key, env_value(&value));
        }
        let config: Config = match toml::Value::Table(section.clone()).try_into() {
            Ok(c) => c,
            Err(e) => {
                let e: toml::de::Error = e;
                // Name the key: try each one alone over the defaults.
                let bad = section.iter().find(|(k, v)| {
                    let mut one = toml::Table::new();
                    one.insert((*k).clone(), (*v).clone());
                    toml::Value::Table(one).try_into::<Config>().is_err()
                });
                match bad {
                    Some((k, v)) => bail!("configuration key `{k}` = {v}: {}", e.message()),
                    None => bail!("configuration: {}", e.message()),
                }
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks values that the types alone do not constrain.
    ///
    /// # Errors
    /// The first bad value, naming its key.
    pub fn validate(&self) -> Result<()> {
        if !self.piece_size.is_power_of_two() || self.piece_size < 16 * 1024 {
            bail!(
                "piece_size must be a power of two of at least 16384, got {}",
                self.piece_size
            );
        }
        if self.bundle_blocks == 0 {
            bail!("bundle_blocks must be at least 1");
        }
        if self.proof_max_concurrency == 0
            || self.proof_max_per_client == 0
            || self.proof_deadline_s == 0
            || self.proof_max_batch == 0
        {
            bail!(
                "proof_max_concurrency, proof_max_per_client, proof_deadline_s and proof_max_batch must be at least 1"
            );
        }
        if self.proof_max_reply_bytes < 64 << 10 {
            bail!("proof_max_reply_bytes must be at least 65536 (one proof of a large block)");
        }
        if self.min_seeders == 0 {
            bail!("min_seeders must be at least 1: a prune gate that needs no seeder is no gate");
        }
        if self.audit_pieces == 0 {
            bail!("audit_pieces must be at least 1");
        }
        if self.proof_reward_window_s == 0 {
            bail!("proof_reward_window_s must be at least 1");
        }
        if self.audit_concurrency == 0 || self.audit_round_deadline_s == 0 {
            bail!("audit_concurrency and audit_round_deadline_s must be at least 1");
        }
        if self.gate_prefix_v4 == 0
            || self.gate_prefix_v4 > 32
            || self.gate_prefix_v6 == 0
            || self.gate_prefix_v6 > 128
        {
            bail!("gate_prefix_v4 must be 1-32 and gate_prefix_v6 1-128");
        }
        if self.audit_interval_s == 0 || self.aging_scan_interval_s == 0 {
            bail!("audit_interval_s and aging_scan_interval_s must be at least 1");
        }
        if self.payout_interval_s == 0 || self.payout_retry_s == 0 {
            bail!("payout_interval_s and payout_retry_s must be at least 1");
        }
        if self.broadcaster == BroadcasterKind::Arc && self.arc_url.is_none() {
            bail!("broadcaster = \"arc\" needs arc_url (e.g. https://arc.taal.com)");
        }
        if self.galaxy_max_frame < 1024 || self.galaxy_attempts == 0 {
            bail!("galaxy_max_frame must be at least 1024 and galaxy_attempts at least 1");
        }
        if self.max_connections == 0
            || self.max_connections_per_ip == 0
            || self.header_read_timeout_s == 0
            || self.idle_timeout_s == 0
            || self.request_timeout_s == 0
            || self.grpc_max_concurrent_streams == 0
            || self.grpc_concurrency_per_connection == 0
            || self.grpc_keepalive_interval_s == 0
            || self.grpc_keepalive_timeout_s == 0
        {
            bail!(
                "max_connections, max_connections_per_ip, the timeouts and the grpc_* limits must be at least 1"
            );
        }
        if self.unstaked_account_ttl_s == 0 || self.registration_window_s == 0 {
            bail!("unstaked_account_ttl_s and registration_window_s must be at least 1");
        }
        self.check_token()?;
        if self.aged_threshold_months == 0 && self.aged_threshold_blocks.is_none() {
            bail!("aged_threshold_months must be at least 1 (or set aged_threshold_blocks)");
        }
        Ok(())
    }
}

impl Config {
    /// DESIGN §16: listeners off loopback refuse an operator token under 32 characters or a
    /// known placeholder. An empty token turns operator calls off and is always allowed;
    /// with `auth = "galaxy"` Galaxy's Auth service decides and the token is not used.
    fn check_token(&self) -> Result<()> {
        let t = self.auth_token.expose();
        if t.is_empty() || self.auth != AuthKind::Local || loopback_only(&self.listen_host) {
            return Ok(());
        }
        let placeholder = PLACEHOLDER_TOKENS.iter().any(|p| t.eq_ignore_ascii_case(p));
        if placeholder || t.chars().count() < 32 {
            bail!(
                "auth_token is {} and listen_host {:?} is reachable from other machines: set auth_token to a random value of at least 32 characters (e.g. `openssl rand -hex 32`, in TORRENT_SERVICE_AUTH_TOKEN), or to \"\" to turn operator calls off",
                if placeholder {
                    "a placeholder".to_string()
                } else {
                    format!("{} characters", t.chars().count())
                },
                self.listen_host
            );
        }
        Ok(())
    }
}

/// Returns every key the section accepts.
fn known_keys() -> Vec<String> {
    let mut keys: Vec<String> = toml::Table::try_from(Config::default())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    // Optional keys are skipped when unset, so name them explicitly.
    keys.extend(
        [
            "aged_threshold_blocks",
            "block_source",
            "public_host",
            "stake_address",
            "headers_file",
            "public_http",
            "announce_port",
            "seed_registry",
            "seed_announce",
            "wallet_file",
            "outbox_dir",
            "arc_url",
            "arc_api_key",
            "web_spv_dir",
        ]
        .map(String::from),
    );
    keys
}

/// Reads an environment value as a TOML scalar when it is one, else as a string.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::new(text)
    }

    /// A tiny temp-file helper (no extra dependency).
    mod tempfile_path {
        use core::sync::atomic::{AtomicU32, Ordering};
        use std::path::PathBuf;

        pub(super) struct TempPath(pub(super) PathBuf);

        impl TempPath {
            pub(super) fn new(text: &str) -> Self {
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "torrent_service_cfg_{}_{}.toml",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::write(&p, text).unwrap();
                Self(p)
            }
        }

        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn weak_operator_tokens_are_refused_off_loopback_and_secrets_never_show_in_debug() {
        let load = |host: &str, token: &str| {
            Config::load_with_env(
                None,
                [
                    ("TORRENT_SERVICE_LISTEN_HOST".to_string(), host.to_string()),
                    ("TORRENT_SERVICE_AUTH_TOKEN".to_string(), token.to_string()),
                ],
            )
        };
        let strong = "0123456789abcdef0123456789abcdef";
        for host in ["127.0.0.1", "::1", "localhost"] {
            load(host, "change-me").unwrap();
        }
        for (host, token) in [
            ("0.0.0.0", "change-me"),
            ("192.0.2.1", "short"),
            ("::", "CHANGEME"),
        ] {
            let e = load(host, token).unwrap_err().to_string();
            assert!(
                e.contains("auth_token") && e.contains("32 characters"),
                "{e}"
            );
        }
        load("0.0.0.0", "").unwrap();
        let c = load("0.0.0.0", strong).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains(strong), "{shown}");
        assert!(shown.contains("auth_token: \"<redacted>\""), "{shown}");
    }

    #[test]
    fn repository_config_loads_with_every_original_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        for key in [
            "piece_size",
            "aged_threshold_months",
            "stake_amount",
            "proof_reward_base",
            "proof_bonus_speed",
            "proof_bonus_rare",
            "bulk_reward_per_mb",
            "tracker_port",
            "proof_rpc_port",
            "auth_token",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{key} "))),
                "{key} missing"
            );
        }
        let c = Config::load_with_env(Some(&path), []).unwrap();
        assert_eq!(c.piece_size, 33_554_432);
        assert_eq!(c.proof_rpc_port, 50063);
    }

    #[test]
    fn readme_and_repository_config_document_every_key() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let example = std::fs::read_to_string(root.join("tests/config.toml")).unwrap();
        let mut keys = known_keys();
        keys.sort();
        keys.dedup();
        for key in &keys {
            assert!(
                readme.contains(&format!("| `{key}` |")),
                "README.md's configuration table lacks `{key}`"
            );
            assert!(
                example
                    .lines()
                    .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} = "))),
                "tests/config.toml lacks `{key}`"
            );
        }
        // And documents nothing that is not a key.
        for line in readme.lines() {
            if let Some(rest) = line.strip_prefix("| `")
                && let Some((name, _)) = rest.split_once("` |")
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && readme.contains("| key | default | meaning |")
                && line.matches(" | ").count() == 2
            {
                assert!(
                    keys.iter().any(|k| k == name),
                    "README.md documents unknown key `{name}`"
                );
            }
        }
    }

    #[test]
    fn env_overrides_file_and_unknown_keys_are_named() {
        let f = write("[torrent_service]\ntracker_port = 7000\n[other_service]\nx = 1\n");
        let c = Config::load_with_env(Some(&f.0), []).unwrap();
        assert_eq!(c.tracker_port, 7000);
        let c = Config::load_with_env(
            Some(&f.0),
            [
                ("TORRENT_SERVICE_TRACKER_PORT".into(), "7001".into()),
                ("TORRENT_SERVICE_NETWORK".into(), "regtest".into()),
            ],
        )
        .unwrap();
        assert_eq!(c.tracker_port, 7001);
        assert_eq!(c.network, Network::Regtest);
        let err = Config::load_with_env(
            Some(&f.0),
            [("TORRENT_SERVICE_TRACKR_PORT".into(), "1".into())],
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("trackr_port"), "{err:#}");
        let bad = write("[torrent_service]\npiece_sise = 1\n");
        let err = Config::load_with_env(Some(&bad.0), []).unwrap_err();
        assert!(format!("{err:#}").contains("piece_sise"), "{err:#}");
        let bad = write("[torrent_service]\npiece_size = 1000\n");
        assert!(Config::load_with_env(Some(&bad.0), []).is_err());
        let bad = write("[torrent_service]\ntracker_port = \"x\"\n");
        assert!(Config::load_with_env(Some(&bad.0), []).is_err());
    }
}
