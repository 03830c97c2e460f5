//! The `torrent_service` binary: parses arguments, sets up logging, runs the command.

use std::process::ExitCode;

use clap::Parser;
use torrent_service::cli::{self, args::Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing(cli.verbose);
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("torrent_service: {e:#}");
            ExitCode::from(2)
        }
    }
}
