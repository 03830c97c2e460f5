//! The command line (DESIGN §12): argument types in [`args`], one file per command, and
//! [`run`], which hands each command to its file (`run` itself goes to [`crate::service`]).
//!
//! Top floor: it may use every module below it; nothing imports it except `main.rs`.

pub mod args;
pub(crate) mod commands;
pub(crate) mod proof;
pub(crate) mod register;
pub(crate) mod seed;
pub(crate) mod verify;

use std::process::ExitCode;

use crate::cli::args::{Cli, Command};
use crate::output::print_line;
use crate::{config, service};
use anyhow::{Context, Result, bail};

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
    let command = cli
        .command
        .unwrap_or(Command::Run(args::RunArgs::default()));
    match command {
        Command::Verify(args) => verify::run(&args),
        Command::Bundle(args) => commands::bundle(&args),
        Command::Inspect(args) => commands::inspect(&args),
        Command::Run(args) => {
            let mut config = config::Config::load(args.config.as_deref())?;
            tracing::info!(data_dir = %config.data_dir.display(), network = %config.network, "configuration loaded");
            if service::demo::wanted(args.config.as_deref(), &config) {
                std::fs::create_dir_all(&config.data_dir)
                    .with_context(|| format!("creating data_dir {}", config.data_dir.display()))?;
                service::demo::prepare(&mut config)?;
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let listeners = service::Listeners::bind(&config).await?;
                service::run(config, listeners, service::shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Register(args) => register::run(&args),
        Command::Audit(args) => commands::audit(&args),
        Command::Seed(args) => seed::run(&args),
        Command::Proof(args) => proof::run(&args),
        Command::Ledger(args) => {
            let config = config::Config::load(args.config.as_deref())?;
            let server = args
                .server
                .clone()
                .unwrap_or_else(|| format!("http://127.0.0.1:{}", config.tracker_port));
            let token = config.auth_token.expose().to_string();
            match args.action {
                args::LedgerAction::Stake {
                    credit: Some(address),
                    amount: Some(amount),
                } => register::credit_stake(&server, &token, &address, amount, args.json),
                args::LedgerAction::Stake {
                    credit: None,
                    amount: None,
                } => register::list_seeders(&server, &token, args.json),
                args::LedgerAction::Stake { .. } => {
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
