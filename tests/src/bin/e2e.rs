//! `e2e`: the whole system on one machine, as the last step of `tests/run_tests.sh`.
//!
//! Galaxy's services run as stand-ins in this process (they speak Galaxy's frames); the
//! miner is a real `torrent_service run` on the Galaxy path (Block source, Overlay, Auth,
//! Validation, Transaction, Storage UTXOs, Alert); a second `torrent_service` is the proof
//! server a seeder declares. Real mainnet blocks 384189 and 413567 are offloaded; two
//! seeders register with BSM signatures; aria2c downloads the bundles through the tracker
//! and libtorrent seeds them; proofs fetched over gRPC and JSON are checked natively, in
//! wasmtime, by `@bsv/sdk` and in headless Chromium; a seeder's proof is rewarded with its
//! bonuses; the prune gate holds at one seeder and opens at two; a settlement is broadcast
//! through Galaxy and checked by `@bsv/sdk`; Prometheus text is scraped and parsed.
//!
//! Prints one line per stage and a summary; exits 1 at the first failed stage.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use serde_json::{Value, json};
use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_core::{Header, Txid};
use torrent_tests::galaxy_standin::{
    AuthStandIn, BlockStandIn, OverlayStandIn, StandIn, wire::GalaxyUtxo,
};
use torrent_tests::support::{get, get_json, wait_for};
use torrent_tests::webdriver::Chromium;

/// The end-to-end run (see the crate docs of `e2e`).
#[derive(Debug, Parser)]
struct Args {
    /// The `torrent_service` binary.
    #[arg(long)]
    service: PathBuf,
    /// Work folder (emptied first); default a fresh folder under the temp dir.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Keep the work folder afterwards (it is removed on success otherwise).
    #[arg(long)]
    keep: bool,
}

/// Galaxy's shared service token, and the operator's token only Galaxy Auth knows.
const TOKEN: &str = "e2e-galaxy-token";
const OPERATOR: &str = "e2e-operator-token";

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// Runs a command to completion; its stdout, or an error with its stderr.
fn run(cmd: &mut Command) -> Result<String> {
    let o = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !o.status.success() {
        bail!(
            "{:?} exited with {}: {}",
            cmd.get_program(),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Runs `node SCRIPT` with `input` on stdin; its stdout.
fn node(script: &str, input: &str) -> Result<String> {
    let mut child = Command::new("node")
        .arg(repo().join("tests/interop").join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("node (tests/run_tests.sh runs npm ci in tests/interop)")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(input.as_bytes())?;
    let o = child.wait_with_output()?;
    ensure!(
        o.status.success(),
        "node {script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A running `torrent_service run`.
struct Service {
    _proc: Proc,
    ready: Value,
    config: PathBuf,
}

impl Service {
    fn start(bin: &Path, dir: &Path, config: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("config.toml");
        std::fs::write(&path, config)?;
        let mut child = Command::new(bin)
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("service.log"))?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let ready: Value = serde_json::from_str(&line).with_context(|| {
            format!(
                "readiness line {line:?}; see {}",
                dir.join("service.log").display()
            )
        })?;
        Ok(Self {
            _proc: Proc(child),
            ready,
            config: path,
        })
    }

    fn addr(&self, key: &str) -> String {
        self.ready[key].as_str().unwrap_or_default().to_string()
    }
}

/// The stages run so far: name, outcome, what was seen, seconds.
#[derive(Default)]
struct Report {
    rows: Vec<(String, bool, String, f64)>,
}

impl Report {
    fn stage<T>(&mut self, name: &str, f: impl FnOnce() -> Result<(T, String)>) -> Result<T> {
        let t0 = Instant::now();
        println!("==> e2e: {name}");
        let r = f();
        let secs = t0.elapsed().as_secs_f64();
        match r {
            Ok((v, seen)) => {
                println!("    ok ({secs:.1} s): {seen}");
                self.rows.push((name.into(), true, seen, secs));
                Ok(v)
            }
            Err(e) => {
                println!("    FAILED ({secs:.1} s): {e:#}");
                self.rows.push((name.into(), false, format!("{e:#}"), secs));
                Err(e)
            }
        }
    }

    fn print(&self, total: f64) {
        println!("\n==> e2e summary ({total:.0} s)");
        for (name, ok, seen, secs) in &self.rows {
            let mark = if *ok { "ok  " } else { "FAIL" };
            println!("  {mark} {secs:6.1}s  {name}: {seen}");
        }
    }
}

struct Blocks {
    raw: BTreeMap<u64, Vec<u8>>,
    header: Header,
    txids: Vec<Txid>,
}

#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
fn scenario(a: &Args, work: &Path, report: &mut Report) -> Result<()> {
    let bin = &a.service;
    let lt = repo().join("tests/interop/lt.py");

    // --- Galaxy -------------------------------------------------------------------------
    let galaxy_blocks = work.join("galaxy/blocks");
    let (blocks, galaxy) = report.stage("Galaxy stand-ins (7 services)", || {
        std::fs::create_dir_all(&galaxy_blocks)?;
        let mut raw = BTreeMap::new();
        for h in [384_189u64, 413_567] {
            let bytes = torrent_tests::read_vector(&format!("block-{h}.bin"))?;
            std::fs::write(galaxy_blocks.join(format!("{h}.bin")), &bytes)?;
            raw.insert(h, bytes);
        }
        let b = Block::decode(&raw[&413_567], &BlockLimits::default())
            .map_err(|e| anyhow::anyhow!("block 413567: {e}"))?;
        let wallet = torrent_tests::test_key(9_000);
        let funding = torrent_tests::funding_tx(&wallet, 2_000_000, 3);
        std::fs::write(
            work.join("wallet.json"),
            json!({"wif": wallet.to_wif(), "utxos": []}).to_string(),
        )?;
        let any = "127.0.0.1:0";
        let chain = StandIn::start(
            any,
            any,
            TOKEN,
            &[GalaxyUtxo {
                txid: funding.txid().to_byte_array(),
                vout: 0,
                satoshis: 2_000_000,
                script_pubkey: wallet.address().script_pubkey(),
            }],
        )?;
        let (validation, alert) = chain.serve_validation_and_alerts(any, any, TOKEN)?;
        let block = BlockStandIn::start(
            any,
            &galaxy_blocks,
            &work.join("galaxy/block.redb"),
            TOKEN,
            1000,
            1 << 20,
        )?;
        let overlay = OverlayStandIn::start(any, &work.join("galaxy/overlay.redb"), TOKEN)?;
        let auth = AuthStandIn::start(any, TOKEN, &[(OPERATOR, "e2e operator")], 60)?;
        let seen = format!(
            "Transaction {}, Storage {} (one 2,000,000 sat UTXO), Validation {validation}, Alert {alert}, Block {} (blocks 384189, 413567), Overlay {}, Auth {}",
            chain.transaction, chain.storage, block.addr, overlay.addr, auth.addr
        );
        Ok((
            (
                Blocks {
                    raw,
                    header: b.header,
                    txids: b.txids(),
                },
                (chain, validation, alert, block, overlay, auth),
            ),
            seen,
        ))
    })?;
    let (chain, validation, alert, block, overlay, auth) = galaxy;

    // --- the miner ------------------------------------------------------------------------
    let miner_dir = work.join("miner");
    let config = format!(
        "[torrent_service]\n\
         data_dir = \"{data}\"\n\
         listen_host = \"127.0.0.1\"\n\
         tracker_port = 0\nhttp_port = 0\npeer_port = 0\nproof_rpc_port = 0\n\
         galaxy_token = \"{TOKEN}\"\n\
         rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\n\
         announce_interval_s = 2\n\
         block_source = \"galaxy\"\n\
         overlay = \"galaxy\"\n\
         auth = \"galaxy\"\n\
         validation = \"galaxy\"\n\
         broadcaster = \"galaxy\"\n\
         payout_utxos = \"galaxy\"\n\
         wallet_file = \"{wallet}\"\n\
         alerts_to_galaxy = true\n\
         galaxy_host = \"127.0.0.1\"\n\
         galaxy_transaction_port = {tx}\ngalaxy_storage_port = {st}\n\
         galaxy_validation_port = {va}\ngalaxy_alert_port = {al}\n\
         galaxy_block_port = {bl}\ngalaxy_overlay_port = {ov}\ngalaxy_auth_port = {au}\n\
         bundle_blocks = 1\n\
         piece_size = 65536\n\
         min_seeders = 2\n\
         audit_interval_s = 2\n\
         aging_scan_interval_s = 2\n\
         audit_pieces = 2\n\
         payout_threshold = 100\n\
         payout_interval_s = 86400\n\
         payout_retry_s = 1\n",
        data = miner_dir.join("data").display(),
        wallet = work.join("wallet.json").display(),
        tx = chain.transaction.port(),
        st = chain.storage.port(),
        va = validation.port(),
        al = alert.port(),
        bl = block.addr.port(),
        ov = overlay.addr.port(),
        au = auth.addr.port(),
    );
    let miner = report.stage("the miner's service starts on the Galaxy path", || {
        let s = Service::start(bin, &miner_dir, &config)?;
        let seen = format!(
            "tracker {}, gRPC {}, HTTP {} (SPV page, JSON, metrics, web seed)",
            s.addr("tracker"),
            s.addr("grpc"),
            s.addr("http")
        );
        Ok((s, seen))
    })?;
    let http = miner.addr("http");
    let tracker = miner.addr("tracker");
    let bundles_dir = miner_dir.join("data/bundles");

    let names: Vec<String> = report.stage(
        "offload: Block service → bundles, published to the Overlay, seeded",
        || {
            wait_for("two bundles seeding", 120, || {
                let b = get_json(&format!("http://{http}/v1/bundles"), None)?;
                Ok(b.as_array()
                    .is_some_and(|a| a.len() == 2 && a.iter().all(|b| b["stage"] == "seeding")))
            })?;
            let refs = overlay.refs()?;
            ensure!(refs.len() == 2, "{} references at the Overlay", refs.len());
            // Every miner gets the same bundles: `bundle --source dir:` agrees.
            let reference = work.join("reference");
            let mut names = Vec::new();
            let mut seen = Vec::new();
            for r in &refs {
                let ours = std::fs::read(bundles_dir.join(format!("{}.torrent", r.name)))?;
                ensure!(
                    r.torrent == ours,
                    "{}: the Overlay's torrent differs",
                    r.name
                );
                let out = run(Command::new(bin)
                    .args(["bundle", "--source"])
                    .arg(format!("dir:{}", galaxy_blocks.display()))
                    .arg("--out")
                    .arg(&reference)
                    .args([
                        "--first",
                        &r.first.to_string(),
                        "--last",
                        &r.last.to_string(),
                    ])
                    .args(["--piece-size", "65536", "--json"]))?;
                let v: Value = serde_json::from_str(&out)?;
                let ih = torrent_core::hex::encode(&r.infohash_v1);
                ensure!(
                    v["infohash_v1"] == ih.as_str(),
                    "{}: info-hash {ih} from Galaxy, {} from dir:",
                    r.name,
                    v["infohash_v1"]
                );
                names.push(r.name.clone());
                seen.push(format!("{} {ih}", r.name));
            }
            names.sort();
            Ok((
                names,
                format!("{}; identical to `bundle --source dir:`", seen.join(", ")),
            ))
        },
    )?;
    let name_of = |h: u64| format!("bsv-mainnet-{h:09}-{h:09}");

    // --- seeders --------------------------------------------------------------------------
    let prover_dir = work.join("prover");
    let prover = report.stage(
        "a second miner's proof server (the seeder's ProofService)",
        || {
            // Its own copy of the blocks: pruning at Galaxy must not touch it.
            let src = work.join("reference-src");
            std::fs::create_dir_all(&src)?;
            for (h, raw) in &blocks.raw {
                std::fs::write(src.join(format!("{h}.bin")), raw)?;
            }
            let s = Service::start(
                bin,
                &prover_dir,
                &format!(
                    "[torrent_service]\ndata_dir = \"{}\"\nlisten_host = \"127.0.0.1\"\ntracker_port = 0\nhttp_port = 0\npeer_port = 0\nproof_rpc_port = 0\nblock_source = \"dir:{}\"\nbundle_blocks = 1\npiece_size = 65536\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\n",
                    prover_dir.join("data").display(),
                    work.join("reference-src").display(),
                ),
            )?;
            let http = s.addr("http");
            let probe = blocks.txids[1].to_string();
            wait_for("the proof server answering", 60, || {
                Ok(get(&format!("http://{http}/v1/proof/{probe}"), None)?.0 == 200)
            })?;
            let seen = format!("gRPC {}", s.addr("grpc"));
            Ok((s, seen))
        },
    )?;

    let passkeys = report.stage("two seeders register with BSM signatures and stake", || {
        let mut urls = Vec::new();
        for i in 1..=2u32 {
            let key = torrent_tests::test_key(i);
            let wif = work.join(format!("seeder-{i}.wif"));
            std::fs::write(&wif, key.to_wif())?;
            let mut cmd = Command::new(bin);
            cmd.args(["register", "--wif-file"])
                .arg(&wif)
                .args(["--tracker", &format!("http://{tracker}")]);
            if i == 1 {
                cmd.args(["--proof-url", &format!("http://{}", prover.addr("grpc"))]);
            }
            urls.push(run(&mut cmd)?.trim().to_string());
            run(Command::new(bin)
                .args(["ledger", "--config"])
                .arg(&miner.config)
                .env("TORRENT_SERVICE_AUTH_TOKEN", OPERATOR)
                .args(["--server", &format!("http://{tracker}")])
                .args([
                    "stake",
                    "--credit",
                    &key.address().to_string(),
                    "--amount",
                    "100000",
                ]))?;
        }
        // The local token is not an operator token here: Galaxy Auth decides.
        let (status, _) = get(&format!("http://{tracker}/admin/seeders"), Some(TOKEN))?;
        ensure!(
            status == 401,
            "the service token was accepted as an operator's: {status}"
        );
        let seen = format!(
            "passkey URLs {} and {}; stakes credited with the Auth service's operator token",
            urls[0].split('?').next().unwrap_or_default(),
            urls[1].split('?').next().unwrap_or_default()
        );
        Ok((urls, seen))
    })?;

    let seeder_data = work.join("seeder-data");
    report.stage("aria2c downloads both bundles through the tracker", || {
        let t0 = Instant::now();
        for name in &names {
            let ok = Command::new("aria2c")
                .arg("--dir")
                .arg(&seeder_data)
                .args(torrent_tests::ARIA2_LOOPBACK)
                .arg(bundles_dir.join(format!("{name}.torrent")))
                .status()
                .context("aria2c (tests/run_tests.sh installs aria2)")?
                .success();
            ensure!(ok, "aria2c could not download {name}");
        }
        for (h, raw) in &blocks.raw {
            // One block file per one-block bundle, named by height and hash.
            let dir = seeder_data.join(name_of(*h)).join("blocks");
            let file = std::fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .next()
                .with_context(|| format!("no block file in {}", dir.display()))??;
            let got = std::fs::read(file.path())?;
            ensure!(
                &got == raw,
                "block {h}: downloaded bytes differ from the block"
            );
        }
        Ok((
            (),
            format!(
                "{} bundles in {:.1} s, every block byte-identical",
                names.len(),
                t0.elapsed().as_secs_f64()
            ),
        ))
    })?;

    let torrents: Vec<String> = names
        .iter()
        .map(|n| {
            bundles_dir
                .join(format!("{n}.torrent"))
                .display()
                .to_string()
        })
        .collect();
    // Each seeder on a /24 of its own (the prune gate counts networks, DESIGN §15).
    let seed = |url: &str, ip: &str| -> Result<Proc> {
        let mut child = Command::new("/usr/bin/python3")
            .env("LT_IP", ip)
            .arg(&lt)
            .args(["seed", &torrents.join(",")])
            .arg(&seeder_data)
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("python3-libtorrent (tests/run_tests.sh installs it)")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let v: Value = serde_json::from_str(&line).with_context(|| format!("lt.py: {line:?}"))?;
        ensure!(v["seeding"] == true, "libtorrent is not seeding: {v}");
        // Keep the pipe open: lt.py prints again on exit.
        Ok(Proc(child))
    };
    let seeders_of = |want: u64| -> Result<bool> {
        let b = get_json(&format!("http://{http}/v1/bundles"), None)?;
        Ok(b.as_array()
            .is_some_and(|a| a.iter().all(|b| b["seeders"] == want)))
    };

    let _seeder1 = report.stage(
        "libtorrent seeds with seeder 1's passkey; the prune gate holds",
        || {
            let p = seed(&passkeys[0], "127.1.0.1")?;
            wait_for("the tracker counting seeder 1", 60, || seeders_of(1))?;
            // Audits pass, but min_seeders is 2: nothing leaves the Block service.
            wait_for("an audit of seeder 1", 60, || {
                let m = torrent_tests::parse_prometheus(
                    &get(&format!("http://{http}/metrics"), None)?.1,
                )?;
                Ok(m.get("torrent_service_audits_total{result=\"pass\"}")
                    .copied()
                    .unwrap_or(0.0)
                    >= 2.0)
            })?;
            std::thread::sleep(Duration::from_secs(5));
            ensure!(
                block.heights().len() == 2,
                "a block left Galaxy with one seeder"
            );
            let b = get_json(&format!("http://{http}/v1/bundles"), None)?;
            ensure!(
                b.as_array()
                    .is_some_and(|a| a.iter().all(|b| b["stage"] == "seeding")),
                "{b}"
            );
            Ok((
                p,
                "audited, counted, and both blocks still held by the Block service".to_string(),
            ))
        },
    )?;

    // --- proofs -------------------------------------------------------------------------
    let index = 777usize;
    let txid = blocks.txids[index];
    let header_hex = torrent_core::hex::encode(&blocks.header.to_bytes());
    let n = blocks.txids.len();
    report.stage("proofs over gRPC and JSON, checked natively, in wasmtime, by @bsv/sdk", || {
        let j = get_json(&format!("http://{http}/v1/proof/{txid}"), None)?;
        let g: Value = serde_json::from_str(&run(Command::new(bin).args([
            "proof",
            &txid.to_string(),
            "--server",
            &format!("http://{}", miner.addr("grpc")),
            "--format",
            "json",
        ]))?)?;
        ensure!(j["bump"] == g["bump"] && j["header"] == g["header"], "gRPC and JSON differ");
        ensure!(j["header"] == header_hex.as_str(), "not block 413567's header");
        let bump = j["bump"].as_str().context("bump")?;
        for sandbox in [false, true] {
            let mut cmd = Command::new(bin);
            cmd.args(["verify", "--proof", bump, "--txid", &txid.to_string()])
                .args(["--header", &header_hex, "--tx-count", &n.to_string()]);
            if sandbox {
                cmd.arg("--sandbox");
            }
            run(&mut cmd)?;
            // One flipped bit: refused, both ways.
            let mut bad = torrent_core::hex::decode(bump).map_err(|e| anyhow::anyhow!("{e}"))?;
            let last = bad.len() - 1;
            bad[last] ^= 1;
            let mut cmd = Command::new(bin);
            cmd.args(["verify", "--proof", &torrent_core::hex::encode(&bad), "--txid", &txid.to_string()])
                .args(["--header", &header_hex, "--tx-count", &n.to_string()]);
            if sandbox {
                cmd.arg("--sandbox");
            }
            ensure!(run(&mut cmd).is_err(), "a tampered proof passed (sandbox: {sandbox})");
        }
        let sdk: Value = serde_json::from_str(&node(
            "merklepath.mjs",
            &json!([{"txid": txid.to_string(), "bump": bump, "merkle_root": blocks.header.merkle_root.to_string()}]).to_string(),
        )?)?;
        ensure!(sdk["checked"] == 1 && sdk["mismatches"] == json!([]), "@bsv/sdk: {sdk}");
        Ok(((), format!("tx {index} of block 413567 ({txid}): same BUMP both ways; valid natively, in wasmtime and in @bsv/sdk; a flipped bit refused")))
    })?;

    report.stage("the SPV page in headless Chromium", || {
        let c = Chromium::start(&work.join("chromium-profile"))?;
        let wait = Duration::from_secs(30);
        c.goto(&format!("http://{http}/"))?;
        c.wait_text("#verdict", "Ready", wait)?;
        c.type_into("#txid", &txid.to_string())?;
        c.click("#check")?;
        let ok = c.wait_text("#verdict", "VERIFIED", wait)?;
        let shot = work.join("spv-verified.png");
        c.screenshot(&shot)?;
        c.click("#tamper")?;
        c.click("#check")?;
        c.wait_text("#verdict", "REJECTED", wait)?;
        Ok((
            (),
            format!(
                "{ok:?}; tampered proof REJECTED; screenshot {}",
                shot.display()
            ),
        ))
    })?;

    report.stage("a seeder's proof is verified by Galaxy Validation and rewarded", || {
        // The miner's own txid file of the block is gone (local bundle data dropped): the
        // proof must come from the swarm's seeders, through seeder 1's ProofService.
        // (Block 384189: nothing has asked for its proofs, so none is cached.)
        let txids_dir = bundles_dir.join(name_of(384_189)).join("txids");
        for e in std::fs::read_dir(&txids_dir)? {
            std::fs::remove_file(e?.path())?;
        }
        let before = chain.validations();
        let b = Block::decode(&blocks.raw[&384_189], &BlockLimits::default())
            .map_err(|e| anyhow::anyhow!("block 384189: {e}"))?;
        let other = b.txids()[100];
        let v = get_json(&format!("http://{http}/v1/proof/{other}"), None)?;
        ensure!(v["source"] == "seeder", "answered from {}", v["source"]);
        ensure!(chain.validations() > before, "Galaxy Validation was not asked");
        let h = get_json(
            &format!("http://{tracker}/admin/ledger/history?limit=100000"),
            Some(OPERATOR),
        )?;
        let s1 = torrent_tests::test_key(1).address().to_string();
        let row = h
            .as_array()
            .and_then(|rows| {
                rows.iter().rev().find(|r| {
                    r["entry"]["kind"] == "proof" && r["entry"]["address"] == s1.as_str()
                })
            })
            .cloned()
            .with_context(|| format!("no proof reward for seeder 1 in {h}"))?;
        let served = row["entry"]["served_ms"].as_u64().context("served_ms")?;
        // 100 base, +10 under 500 ms, +50 with fewer than 3 active seeders (there is one).
        let want = 100 + if served < 500 { 10 } else { 0 } + 50;
        ensure!(row["credited"] == want, "credited {} for {served} ms, want {want}", row["credited"]);
        Ok(((), format!("tx 100 of block 384189 served by seeder 1 in {served} ms: {want} sat credited (base 100{} + rare 50)", if served < 500 { " + speed 10" } else { "" })))
    })?;

    let _seeder2 = report.stage("a second seeder: the prune gate opens, Galaxy drops the blocks", || {
        let p = seed(&passkeys[1], "127.2.0.1")?;
        wait_for("both seeders counted", 60, || seeders_of(2))?;
        wait_for("both bundles pruned", 120, || {
            let b = get_json(&format!("http://{http}/v1/bundles"), None)?;
            Ok(b.as_array().is_some_and(|a| a.iter().all(|b| b["stage"] == "pruned")))
        })?;
        ensure!(block.heights().is_empty(), "blocks still at the Block service");
        ensure!(std::fs::read_dir(&galaxy_blocks)?.count() == 0, "block files left at Galaxy");
        Ok((p, "gate opened with 2 audited, staked seeders; blocks 384189 and 413567 pruned at Galaxy".to_string()))
    })?;

    report.stage("settlement: a payout through Galaxy, checked by @bsv/sdk", || {
        let out = run(Command::new(bin)
            .args(["ledger", "--config"])
            .arg(&miner.config)
            .env("TORRENT_SERVICE_AUTH_TOKEN", OPERATOR)
            .args(["--server", &format!("http://{tracker}"), "settle", "--json"]))?;
        let payout: Value = serde_json::from_str(&out).with_context(|| format!("settle: {out}"))?;
        let verdict: Value = serde_json::from_str(node("payoutverify.mjs", &format!("{payout}\n"))?.trim())?;
        ensure!(verdict["valid"] == true, "@bsv/sdk: {verdict}");
        let raw = torrent_core::hex::decode(payout["raw_tx"].as_str().context("raw_tx")?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        wait_for("the Transaction service to receive it", 30, || Ok(chain.broadcasts().contains(&raw)))?;
        let outputs = payout["outputs"].as_array().map_or(0, Vec::len);
        Ok(((), format!("txid {} ({} bytes, {outputs} outputs): valid in @bsv/sdk's interpreter, accepted by Galaxy Transaction", payout["txid"].as_str().unwrap_or_default(), raw.len())))
    })?;

    report.stage("Prometheus text scraped and parsed", || {
        let text = get(&format!("http://{http}/metrics"), None)?.1;
        let m = torrent_tests::parse_prometheus(&text)?;
        let need = |series: &str, min: f64| -> Result<f64> {
            let v = m.get(series).copied().with_context(|| format!("{series} missing"))?;
            ensure!(v >= min, "{series} = {v}, want at least {min}");
            Ok(v)
        };
        need("torrent_service_bundles{stage=\"pruned\"}", 2.0)?;
        let proofs = need("torrent_service_rewards_total{kind=\"proof\"}", 1.0)?;
        let audits = need("torrent_service_audits_total{result=\"pass\"}", 4.0)?;
        need("torrent_proof_seeder_answers_total{verdict=\"valid\"}", 1.0)?;
        let promtool = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let lint = match promtool {
            Ok(mut p) => {
                p.stdin.take().context("stdin")?.write_all(text.as_bytes())?;
                let o = p.wait_with_output()?;
                ensure!(o.status.success(), "promtool check metrics: {}", String::from_utf8_lossy(&o.stdout));
                "promtool check metrics passes"
            }
            Err(_) => "promtool not installed",
        };
        Ok(((), format!("{} series; {proofs} proof rewards, {audits} passed audits, 2 bundles pruned; {lint}", m.len())))
    })?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    let work = a.work.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("torrent_service_e2e_{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&work);
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("e2e: creating {}: {e}", work.display());
        return std::process::ExitCode::from(2);
    }
    let t0 = Instant::now();
    let mut report = Report::default();
    let outcome = scenario(&a, &work, &mut report);
    report.print(t0.elapsed().as_secs_f64());
    match outcome {
        Ok(()) => {
            println!("e2e: every stage passed");
            if !a.keep {
                let _ = std::fs::remove_dir_all(&work);
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            println!(
                "e2e: FAILED: {e:#} (logs and data kept in {})",
                work.display()
            );
            std::process::ExitCode::FAILURE
        }
    }
}
