//! The `torrent_service` binary: parses arguments, sets up logging, runs the command.

use std::process::ExitCode;

use clap::Parser;
use torrent_service::cli::{self, args::Cli};

/// jemalloc gives freed memory back to the system within seconds. glibc's allocator kept
/// what every blocking thread's arena had once held: offloading the 100 bundles of a
/// 100M-transaction chain left 650 MB resident for a heap that peaked at tens of MB
/// (`bench/scale.sh`; measured with heaptrack).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
