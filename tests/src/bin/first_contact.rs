//! `first-contact`: what a newcomer sees, on a fresh clone, with nothing but the README's
//! first command; a step of `tests/run_tests.sh`, run before the script installs anything
//! for Rust (on a fresh machine the toolchain has no wasm target yet).
//!
//! 1. `git clone` of the repository, then `cargo run --release --package torrent_service`
//!    in the clone (ports from the environment, so that it can run beside anything else):
//!    the demo comes up and headless Chromium verifies block 170's payment on its page, and
//!    `verify --sandbox` (the embedded wasm guest) accepts the same proof.
//! 2. The binary copied to an empty folder, the clone deleted: it starts the demo again and
//!    its page verifies the same txid (nothing is read from the source tree at run time).
//!
//! Prints one line per stage; exits 1 at the first failure, keeping the work folder.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use serde_json::Value;
use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_tests::support::wait_for;
use torrent_tests::webdriver::Chromium;

/// A newcomer's first contact (see the crate docs of `first-contact`).
#[derive(Debug, Parser)]
struct Args {
    /// The repository to clone (its committed HEAD).
    #[arg(long)]
    repo: PathBuf,
    /// Work folder (emptied first): the clone, the copied binary, screenshots.
    #[arg(long)]
    work: PathBuf,
    /// CARGO_TARGET_DIR for the clone's build (kept between runs, so that a second run
    /// rebuilds only the workspace's own crates).
    #[arg(long)]
    target_dir: PathBuf,
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo's environment: loopback, ports chosen by the system.
fn demo_env(cmd: &mut Command) -> &mut Command {
    cmd.env("RUST_LOG", "info")
        .env("TORRENT_SERVICE_LISTEN_HOST", "127.0.0.1")
        .env("TORRENT_SERVICE_TRACKER_PORT", "0")
        .env("TORRENT_SERVICE_HTTP_PORT", "0")
        .env("TORRENT_SERVICE_PROOF_RPC_PORT", "0")
        .env("TORRENT_SERVICE_PEER_PORT", "0")
        .env_remove("TORRENT_SERVICE_CONFIG")
        .stdout(Stdio::piped())
}

/// Starts `cmd`, waits for its readiness line (the first line on stdout) and returns the
/// HTTP address.
fn start(mut cmd: Command, log: &Path) -> Result<(Proc, String)> {
    let log_file = std::fs::File::create(log)?;
    let mut child = Proc(
        demo_env(&mut cmd)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?,
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().context("stdout")?).read_line(&mut line)?;
    let ready: Value = serde_json::from_str(&line)
        .with_context(|| format!("no readiness line (log: {}): {}", log.display(), tail(log)))?;
    let http = ready["http"].as_str().context("readiness lacks http")?;
    Ok((child, http.to_string()))
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// `GET url`: status and body.
fn get(url: &str) -> Result<(u16, String)> {
    torrent_tests::support::get(url, None)
}

/// Waits for both demo bundles, then verifies `txid` on the page in headless Chromium;
/// returns the verdict line.
fn page_verifies(http: &str, txid: &str, work: &Path, name: &str) -> Result<String> {
    wait_for("both demo bundles seeding", 180, || {
        let (_, body) = get(&format!("http://{http}/v1/bundles"))?;
        let v: Value = serde_json::from_str(&body)?;
        Ok(v.as_array()
            .is_some_and(|b| b.len() == 2 && b.iter().all(|e| e["stage"] == "seeding")))
    })?;
    let c = Chromium::start(&work.join(format!("chromium-{name}")))?;
    let wait = Duration::from_secs(30);
    c.goto(&format!("http://{http}/"))?;
    c.wait_text("#verdict", "Ready", wait)?;
    c.type_into("#txid", txid)?;
    c.click("#check")?;
    let ok = c.wait_text("#verdict", "VERIFIED", wait)?;
    ensure!(ok.contains("of block 170"), "{ok}");
    c.screenshot(&work.join(format!("{name}.png")))?;
    Ok(ok)
}

fn stage(name: &str, f: impl FnOnce() -> Result<String>) -> Result<()> {
    let t0 = Instant::now();
    let what = f().with_context(|| name.to_string())?;
    println!(
        "first-contact: ok {:>6.1}s  {name}: {what}",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn scenario(a: &Args) -> Result<()> {
    let work = &a.work;
    let clone = work.join("clone");
    let raw = std::fs::read(torrent_tests::blocks_dir().join("block-000170.bin"))?;
    let block = Block::decode(&raw, &BlockLimits::default())
        .map_err(|e| anyhow::anyhow!("block 170: {e}"))?;
    // Block 170's second transaction: the first bitcoin payment.
    let txid = block.txids()[1].to_string();

    stage("git clone", || {
        let o = Command::new("git")
            .args(["clone", "--quiet"])
            .arg(&a.repo)
            .arg(&clone)
            .output()?;
        ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        ensure!(
            !clone.join("web-spv/pkg").exists(),
            "the clone has web-spv/pkg"
        );
        Ok(clone.display().to_string())
    })?;

    let mut binary = PathBuf::new();
    stage(
        "`cargo run --release --package torrent_service`: the page verifies a txid",
        || {
            let mut cmd = Command::new("cargo");
            cmd.args(["run", "--release", "--package", "torrent_service"])
                .current_dir(&clone)
                .env("CARGO_TARGET_DIR", &a.target_dir);
            let (_svc, http) = start(cmd, &work.join("first-run.log"))?;
            let ok = page_verifies(&http, &txid, work, "first-run")?;
            binary = a.target_dir.join("release/torrent_service");
            // The sandbox's guest is embedded too.
            let (status, body) = get(&format!("http://{http}/v1/proof/{txid}"))?;
            ensure!(status == 200, "{body}");
            let p: Value = serde_json::from_str(&body)?;
            let o = Command::new(&binary)
                .args(["verify", "--sandbox", "--txid", &txid])
                .args(["--proof", p["bump"].as_str().context("bump")?])
                .args(["--header", p["header"].as_str().context("header")?])
                .args(["--tx-count", "2"])
                .output()?;
            ensure!(
                o.status.success(),
                "verify --sandbox: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            Ok(format!("{ok}; verify --sandbox accepts it"))
        },
    )?;

    stage(
        "the binary copied to an empty folder, the clone deleted",
        || {
            let elsewhere = work.join("elsewhere");
            std::fs::create_dir_all(&elsewhere)?;
            let copied = elsewhere.join("torrent_service");
            std::fs::copy(&binary, &copied)?;
            std::fs::remove_dir_all(&clone)?;
            let mut cmd = Command::new(&copied);
            cmd.current_dir(&elsewhere);
            let (_svc, http) = start(cmd, &work.join("copied.log"))?;
            let ok = page_verifies(&http, &txid, work, "copied")?;
            Ok(ok)
        },
    )?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let _ = std::fs::remove_dir_all(&a.work);
    if let Err(e) = std::fs::create_dir_all(&a.work) {
        eprintln!("first-contact: creating {}: {e}", a.work.display());
        return std::process::ExitCode::from(2);
    }
    match scenario(&a) {
        Ok(()) => {
            println!("first-contact: every stage passed");
            let _ = std::fs::remove_dir_all(&a.work);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            println!(
                "first-contact: FAILED: {e:#} (logs kept in {})",
                a.work.display()
            );
            std::process::ExitCode::FAILURE
        }
    }
}
