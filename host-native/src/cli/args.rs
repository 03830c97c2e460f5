//! The command line (DESIGN §12).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Offload aged Bitcoin SV blocks into BitTorrent swarms while every transaction stays
/// provable. With no command, runs every service (`run`).
#[derive(Debug, Parser)]
#[command(name = "torrent_service", version, about, long_about = None)]
pub struct Cli {
    /// More logging (-v debug, -vv trace); `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service on its port with embedded defaults; Ctrl-C shuts down cleanly.
    Run(RunArgs),
    /// One-shot offload of a height range into a bundle torrent.
    Bundle(BundleArgs),
    /// Show a bundle torrent's blocks, files and piece layout; --verify re-hashes the data.
    Inspect(InspectArgs),
    /// Ask a running service for the proof of a transaction.
    Proof(ProofArgs),
    /// Check a proof locally against a header; exit 0 only if it is valid.
    Verify(VerifyArgs),
    /// Register as a seeder with a BSM-signed message; prints the announce URL with passkey.
    Register(RegisterArgs),
    /// Seeder mode: fetch bundles from the swarm, verify, seed, answer proofs.
    Seed(SeedArgs),
    /// Ledger: balances, stakes, pending payouts, settle now.
    Ledger(LedgerArgs),
    /// Print the effective configuration (file + environment overrides) as TOML.
    Config(RunArgs),
    /// Audit a seeder: fetch random whole pieces over the peer wire and check their hashes;
    /// exit 0 only if it passes.
    Audit(AuditArgs),
}

/// Arguments of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The torrent to audit.
    #[arg(long)]
    pub torrent: PathBuf,
    /// The seeder, host:port.
    #[arg(long)]
    pub peer: std::net::SocketAddr,
    /// How many random pieces to fetch.
    #[arg(long, default_value_t = 4)]
    pub pieces: u32,
    /// Seconds before giving up.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Command {
    /// Returns the command's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run(_) => "run",
            Command::Bundle(_) => "bundle",
            Command::Inspect(_) => "inspect",
            Command::Proof(_) => "proof",
            Command::Verify(_) => "verify",
            Command::Register(_) => "register",
            Command::Seed(_) => "seed",
            Command::Ledger(_) => "ledger",
            Command::Config(_) => "config",
            Command::Audit(_) => "audit",
        }
    }
}

/// Arguments of `run` (and `config`).
#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// Config file (TOML, section `[torrent_service]`); environment variables
    /// `TORRENT_SERVICE_<KEY>` override it.
    #[arg(long, short, env = "TORRENT_SERVICE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Arguments of `bundle`.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// Block source: `dir:PATH`, `blk:PATH`, `rest:URL`, `galaxy`, or a bare path.
    #[arg(long)]
    pub source: String,
    /// Output directory: gets `<name>/` with the files and `<name>.torrent`.
    #[arg(long)]
    pub out: PathBuf,
    /// First height. Alone, the aligned range of `bundle_blocks` holding it; omitted, every
    /// complete aligned range the source holds.
    #[arg(long)]
    pub first: Option<u64>,
    /// Last height (with --first: exactly this range).
    #[arg(long, requires = "first")]
    pub last: Option<u64>,
    /// Config file for defaults (network, bundle_blocks, piece_size, torrent_format).
    #[arg(long, short, env = "TORRENT_SERVICE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Network of the blocks.
    #[arg(long)]
    pub network: Option<torrent_core::Network>,
    /// Blocks per bundle.
    #[arg(long)]
    pub bundle_blocks: Option<u64>,
    /// Largest piece length in bytes (a power of two, at least 16384).
    #[arg(long)]
    pub piece_size: Option<u64>,
    /// Torrent format.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Announce URL (repeatable); outside `info`, so it does not change the info-hash.
    #[arg(long)]
    pub tracker: Vec<String>,
    /// Web seed URL (repeatable); outside `info`.
    #[arg(long)]
    pub web_seed: Vec<String>,
    /// Print the result as JSON: one object for --first, else an array.
    #[arg(long)]
    pub json: bool,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    /// BitTorrent v1 with pad files.
    V1,
    /// v1 + v2 (BEP 52).
    Hybrid,
}

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The .torrent file.
    pub file: PathBuf,
    /// Re-hash the data in this directory against the piece hashes.
    #[arg(long)]
    pub verify: Option<PathBuf>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `proof`.
#[derive(Debug, Args)]
pub struct ProofArgs {
    /// Transaction id (display hex).
    pub txid: String,
    /// Proof server URL.
    #[arg(long, default_value = "http://127.0.0.1:50063")]
    pub server: String,
    /// Output: bump (BRC-74, hex), tsc (TSC JSON) or json (the whole answer).
    #[arg(long, default_value = "json")]
    pub(crate) format: crate::proofs::Formats,
    /// The block, for a txid in two blocks (BIP 30); default the highest holding it.
    #[arg(long)]
    pub height: Option<u64>,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The proof: BUMP (hex or JSON) or TSC (hex or JSON), inline or a file path.
    #[arg(long)]
    pub proof: String,
    /// The transaction id the proof is about (display hex).
    #[arg(long)]
    pub txid: String,
    /// The block header: 160 hex digits, inline or a file path (hex or 80 raw bytes).
    #[arg(long)]
    pub header: String,
    /// The block's transaction count: required, because without it a proof of an inner
    /// node (the 64-byte-transaction ambiguity) cannot be told from a real one.
    #[arg(long)]
    pub tx_count: u64,
    /// The block height (BUMP only), from a header chain you trust; without it the height
    /// the BUMP claims is checked, and the verdict says so.
    #[arg(long)]
    pub height: Option<u64>,
    /// Verify inside the wasmtime sandbox instead of natively.
    #[arg(long)]
    pub sandbox: bool,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// File holding the seeder's WIF private key.
    #[arg(long)]
    pub wif_file: PathBuf,
    /// Tracker base URL, e.g. http://127.0.0.1:6969.
    #[arg(long)]
    pub tracker: String,
    /// A BEEF (hex or binary file) of a mined transaction paying the operator's stake
    /// address: submitted after registering, for trackers with `stake_mode = "spv"`.
    #[arg(long)]
    pub stake_beef: Option<PathBuf>,
    /// Where this seeder answers proof requests (its gRPC ProofService, e.g.
    /// http://my-host:50063): proofs served through it are verified and rewarded.
    #[arg(long)]
    pub proof_url: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Config file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// First height of the bundles to fetch (all when omitted).
    #[arg(long)]
    pub first: Option<u64>,
    /// Last height.
    #[arg(long)]
    pub last: Option<u64>,
}

/// Arguments of `ledger`.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// Config file (for the service's address and `auth_token`; the token may come from
    /// `TORRENT_SERVICE_AUTH_TOKEN` instead, never from the command line, where every user
    /// of the machine could read it).
    #[arg(long, short, env = "TORRENT_SERVICE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The running service's tracker URL; default `http://127.0.0.1:<tracker_port>`.
    #[arg(long)]
    pub server: Option<String>,
    /// Print JSON (`ledger settle --json`: the payout transaction with each input's source
    /// output, enough to verify it independently).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: LedgerAction,
}

/// Ledger actions.
#[derive(Debug, Subcommand)]
pub enum LedgerAction {
    /// Balances per seeder.
    Balances,
    /// Stakes: lists every seeder's stake and activity; `--credit ADDRESS --amount SAT`
    /// credits a stake (ledger stake mode).
    Stake {
        /// Seeder address to credit (ledger stake mode).
        #[arg(long)]
        credit: Option<String>,
        /// Amount in satoshis.
        #[arg(long)]
        amount: Option<u64>,
    },
    /// Payouts not yet confirmed (signed or broadcast).
    Pending,
    /// Every payout, newest first.
    Payouts,
    /// The latest ledger changes: stakes, rewards, slashes, payouts.
    History {
        /// How many rows.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Settle now: pay every balance at or above `payout_threshold` in one signed
    /// transaction and broadcast it.
    Settle,
    /// Mark a payout mined (outbox broadcaster: after the operator sent it).
    Confirm {
        /// Payout txid.
        txid: String,
        /// Height of the block that mined it.
        #[arg(long)]
        block_height: Option<u64>,
    },
    /// Abandon a payout that will never be mined: balances and wallet inputs come back.
    Abandon {
        /// Payout txid.
        txid: String,
    },
}
