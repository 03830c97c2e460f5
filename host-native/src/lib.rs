//! # torrent_service
//!
//! The native host: offloads aged Bitcoin SV blocks into deterministic BitTorrent bundles,
//! seeds them, runs the tracker and the proof server, and pays seeders. It owns sockets,
//! files, time, randomness, configuration and logging; every decision that can be made
//! without them lives in [`torrent_core`].
//!
//! Commands (DESIGN §12, `--help` on each): `run` (the service), `bundle`, `inspect`,
//! `proof`, `verify`, `register`, `seed`, `ledger`, `config` and `audit`.

pub mod audit;
pub mod auth;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod config;
pub mod conn;
pub mod demo;
pub mod galaxy;
pub mod grpc;
pub mod inspect;
pub mod ledger;
pub mod limit;
pub mod offload;
pub mod periodic;
pub mod proofs;
pub mod register;
pub mod registry;
pub mod seeder;
pub mod seeders;
pub mod service;
pub mod session;
pub mod source;
pub mod store;
pub mod tracker;
pub mod verify;
pub mod web;
pub mod webseed;

use std::io::Write;
use std::process::ExitCode;

/// Prints one error line to stderr, prefixed like every other error of the binary.
pub fn print_error_line(msg: &str) {
    eprintln!("torrent_service: {msg}");
}

/// Prints a line to stdout; a closed pipe (`torrent_service inspect x | head`) ends the
/// process quietly instead of panicking like `println!`.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("torrent_service: writing to stdout: {e}");
        std::process::exit(2);
    }
}

/// `println!` through [`print_line`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::print_line(&format!($($arg)*)) };
}

use anyhow::{Context, Result, bail};
use cli::{Cli, Command};

/// Sets up `tracing` to stderr; `RUST_LOG` wins over `-v`.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs one command; the exit code says whether it succeeded (`verify`: whether the proof
/// is valid).
///
/// # Errors
/// Bad input or a failure the command could not recover from.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let command = cli.command.unwrap_or(Command::Run(cli::RunArgs::default()));
    match command {
        Command::Verify(args) => verify::run(&args),
        Command::Bundle(args) => commands::bundle(&args),
        Command::Inspect(args) => commands::inspect(&args),
        Command::Run(args) => {
            let mut config = config::Config::load(args.config.as_deref())?;
            tracing::info!(data_dir = %config.data_dir.display(), network = %config.network, "configuration loaded");
            if demo::wanted(args.config.as_deref(), &config) {
                std::fs::create_dir_all(&config.data_dir)
                    .with_context(|| format!("creating data_dir {}", config.data_dir.display()))?;
                demo::prepare(&mut config)?;
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(service::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Register(args) => register::run(&args),
        Command::Audit(args) => commands::audit(&args),
        Command::Seed(args) => seeder::run(&args),
        Command::Proof(args) => grpc::run_cli(&args),
        Command::Ledger(args) => {
            let config = config::Config::load(args.config.as_deref())?;
            let server = args
                .server
                .clone()
                .unwrap_or_else(|| format!("http://127.0.0.1:{}", config.tracker_port));
            let token = config.auth_token.expose().to_string();
            match args.action {
                cli::LedgerAction::Stake {
                    credit: Some(address),
                    amount: Some(amount),
                } => register::credit_stake(&server, &token, &address, amount, args.json),
                cli::LedgerAction::Stake {
                    credit: None,
                    amount: None,
                } => register::list_seeders(&server, &token, args.json),
                cli::LedgerAction::Stake { .. } => {
                    bail!("ledger stake --credit needs both an ADDRESS and --amount SATOSHIS")
                }
                action => register::ledger(&server, &token, &action, args.json),
            }
        }
        Command::Config(args) => {
            let config = config::Config::load(args.config.as_deref())?;
            let text = toml::to_string(&config::File {
                torrent_service: config,
            })?;
            print_line(text.trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}
