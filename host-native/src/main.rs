//! The `torrent_service` binary: parses arguments, loads config, sets up logging, runs.

use std::process::ExitCode;

use clap::Parser;
use torrent_service::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    torrent_service::init_tracing(cli.verbose);
    match torrent_service::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("torrent_service: {e:#}");
            ExitCode::from(2)
        }
    }
}
