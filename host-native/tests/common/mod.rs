//! Helpers shared by the binary's integration tests. Each test crate uses a subset, hence
//! the dead-code allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub(crate) fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_torrent_service"))
}

/// Kills the child when the test ends, pass or fail, so that no client outlives a test.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bundles real block 413567 (64 KiB maximum pieces) from a source folder under `work` into
/// `out`, with `extra` arguments; returns `bundle --json`.
pub(crate) fn bundle_413567(work: &Path, out: &Path, extra: &[&str]) -> Value {
    let src = work.join("src-413567");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/blocks/block-413567.bin"),
        src.join("413567.bin"),
    )
    .unwrap();
    let mut args = vec!["--piece-size", "65536"];
    args.extend_from_slice(extra);
    bundle_cli(&src, out, (413_567, 413_567), &args)
}

/// The `bundle` command over the `dir:` source `src` for heights `first..=last` into `out`
/// (with `extra` arguments): its JSON output, after checking that it succeeded.
pub(crate) fn bundle_cli(
    src: &Path,
    out: &Path,
    (first, last): (u64, u64),
    extra: &[&str],
) -> Value {
    let o = bin()
        .args([
            "bundle",
            "--source",
            &format!("dir:{}", src.display()),
            "--out",
        ])
        .arg(out)
        .args([
            "--first",
            &first.to_string(),
            "--last",
            &last.to_string(),
            "--json",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Starts a libtorrent seeder (tests/interop/lt.py) for `torrent` with data under `save`,
/// announcing to `tracker`; returns it once it verified the data, with its stdout and its
/// readiness record (`{"port", "seeding"}`).
pub(crate) fn lt_seed(
    torrent: &str,
    save: &Path,
    tracker: &str,
) -> (KillOnDrop, BufReader<ChildStdout>, Value) {
    lt_seed_on("127.0.0.1", torrent, save, tracker)
}

/// [`lt_seed`] listening (and so announcing) on loopback address `ip`: 127.1.0.1,
/// 127.2.0.1, ... are distinct /24 networks for the prune gate.
pub(crate) fn lt_seed_on(
    ip: &str,
    torrent: &str,
    save: &Path,
    tracker: &str,
) -> (KillOnDrop, BufReader<ChildStdout>, Value) {
    let lt: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/lt.py");
    let mut seeder = KillOnDrop(
        Command::new("/usr/bin/python3")
            .env("LT_IP", ip)
            .arg(&lt)
            .args(["seed", torrent])
            .arg(save)
            .arg(tracker)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3-libtorrent is installed by tests/run_tests.sh"),
    );
    let mut out = BufReader::new(seeder.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap();
    (seeder, out, ready)
}

/// A running service: in this process ([`Service::start`], the default: the library's
/// `Service::start` on listeners bound to port 0, on a runtime of its own) or as a child
/// process ([`Service::spawn`], for what only a process shows: its file descriptors and
/// memory, signals). Stopped on drop either way.
pub(crate) struct Service {
    pub(crate) ready: Value,
    pub(crate) config: PathBuf,
    run: Run,
}

enum Run {
    Process(Child),
    InProcess {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
    Stopped,
}

/// The config every test service starts from; `extra` is appended to it.
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let config = dir.join("config.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            format!(
                "[torrent_service]\ndata_dir = \"{}\"\ntracker_port = 0\nhttp_port = 0\nlisten_host = \"127.0.0.1\"\npeer_port = 0\nproof_rpc_port = 0\nauth_token = \"operator-secret\"\n{extra}",
                dir.join("data").display()
            ),
        )
        .unwrap();
    }
    config
}

const OPEN: &str = "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\ntracker_open = true\n";

impl Service {
    /// [`Service::start_with`] with every limit off and the tracker open.
    pub(crate) fn start(dir: &Path) -> Self {
        Self::start_with(dir, OPEN)
    }

    /// Runs the service in this process with `dir/config.toml` (written with `extra` unless
    /// it exists); returns once every listener accepts.
    pub(crate) fn start_with(dir: &Path, extra: &str) -> Self {
        let config = write_config(dir, extra);
        let loaded = torrent_service::config::Config::load(Some(&config)).unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let started = async {
                    let listeners = torrent_service::service::Listeners::bind(&loaded).await?;
                    torrent_service::service::Service::start(loaded, listeners).await
                };
                match started.await {
                    Ok(svc) => {
                        let _ = ready_tx.send(Ok(serde_json::to_value(svc.ready()).unwrap()));
                        let _ = stop_rx.await;
                        svc.stop().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("{e:#}")));
                    }
                }
            });
        });
        let ready = ready_rx
            .recv()
            .expect("the service thread ended before it was ready")
            .unwrap_or_else(|e| panic!("service did not start: {e}"));
        Self {
            ready,
            config,
            run: Run::InProcess {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        }
    }

    /// [`Service::spawn_with`] with every limit off and the tracker open.
    pub(crate) fn spawn(dir: &Path) -> Self {
        Self::spawn_with(dir, OPEN)
    }

    /// Runs `torrent_service run --config dir/config.toml` as a child process; returns after
    /// its readiness line.
    pub(crate) fn spawn_with(dir: &Path, extra: &str) -> Self {
        let config = write_config(dir, extra);
        let mut child = bin()
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("readiness line {line:?}: {e}"));
        Self {
            ready,
            config,
            run: Run::Process(child),
        }
    }

    /// The child's process id ([`Service::spawn`] only).
    pub(crate) fn pid(&self) -> u32 {
        match &self.run {
            Run::Process(c) => c.id(),
            _ => panic!("pid() needs a service started with Service::spawn"),
        }
    }

    pub(crate) fn tracker(&self) -> String {
        self.ready["tracker"].as_str().unwrap().to_string()
    }

    /// Shuts the service down as Ctrl-C or SIGTERM would and waits for it; a process must
    /// exit with success within 15 s.
    pub(crate) fn stop(mut self) {
        match std::mem::replace(&mut self.run, Run::Stopped) {
            Run::Process(mut child) => {
                let _ = Command::new("kill").arg(child.id().to_string()).status();
                let deadline = Instant::now() + Duration::from_secs(15);
                while Instant::now() < deadline {
                    if let Ok(Some(status)) = child.try_wait() {
                        assert!(status.success(), "service exited with {status}");
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
                panic!("service did not stop on SIGTERM");
            }
            Run::InProcess { stop, thread } => {
                drop(stop);
                if let Some(t) = thread {
                    t.join().expect("the service thread panicked");
                }
            }
            Run::Stopped => {}
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.run, Run::Stopped) {
            Run::Process(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Run::InProcess { stop, thread } => {
                drop(stop);
                if let Some(t) = thread {
                    let _ = t.join();
                }
            }
            Run::Stopped => {}
        }
    }
}

/// Registers seeder key `i` with the running service (our `register` command) and credits
/// its stake (`ledger stake --credit`); returns the announce URL with its passkey.
pub(crate) fn register_staked(svc: &Service, dir: &Path, i: u32) -> String {
    register_staked_with(svc, dir, i, &[])
}

/// Seeder key `i` (deterministic, so that tests can name the seeder's address).
pub(crate) fn seeder_key(i: u32) -> torrent_core::bsv::keys::PrivateKey {
    torrent_tests::test_key(i)
}

/// [`register_staked`] with more `register` arguments (e.g. `--proof-url`).
pub(crate) fn register_staked_with(svc: &Service, dir: &Path, i: u32, extra: &[&str]) -> String {
    let passkey_url = register(svc, dir, i, extra);
    credit_stake(svc, i, None);
    passkey_url
}

/// Registers seeder key `i` with `svc` (our `register` command, BSM-signed); returns the
/// announce URL with its passkey.
pub(crate) fn register(svc: &Service, dir: &Path, i: u32, extra: &[&str]) -> String {
    let wif = dir.join(format!("seeder-{i}.wif"));
    std::fs::write(&wif, seeder_key(i).to_wif()).unwrap();
    let out = bin()
        .args(["register", "--wif-file"])
        .arg(&wif)
        .args(["--tracker", &format!("http://{}", svc.tracker())])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Credits seeder `i`'s 100,000 sat stake (`ledger stake --credit`), with `token` (in
/// `TORRENT_SERVICE_AUTH_TOKEN`) or the config's `auth_token`.
pub(crate) fn credit_stake(svc: &Service, i: u32, token: Option<&str>) {
    let address = seeder_key(i).address().to_string();
    let args = ["stake", "--credit", &address, "--amount", "100000"];
    let out = match token {
        Some(t) => ledger_cmd_with_token(svc, t, &args),
        None => ledger_cmd(svc, &args),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `torrent_service ledger ARGS...` against `svc` (its config and tracker URL).
pub(crate) fn ledger_cmd(svc: &Service, args: &[&str]) -> std::process::Output {
    ledger_command(svc, args).output().unwrap()
}

/// [`ledger_cmd`] with the operator token from the environment instead of the config.
pub(crate) fn ledger_cmd_with_token(
    svc: &Service,
    token: &str,
    args: &[&str],
) -> std::process::Output {
    ledger_command(svc, args)
        .env("TORRENT_SERVICE_AUTH_TOKEN", token)
        .output()
        .unwrap()
}

fn ledger_command(svc: &Service, args: &[&str]) -> Command {
    let mut c = bin();
    c.args(["ledger", "--config"])
        .arg(&svc.config)
        .args(["--server", &format!("http://{}", svc.tracker())])
        .args(args);
    c
}

/// A transaction paying `value` satoshis to `key`'s P2PKH address, to fund payout wallets.
pub(crate) fn funding(
    key: &torrent_core::bsv::keys::PrivateKey,
    value: u64,
    salt: u8,
) -> torrent_core::bsv::tx::Transaction {
    torrent_tests::funding_tx(key, value, salt)
}

/// A fresh, empty folder for one test: `ts_<test crate>_<name>_<pid>` under the temp dir.
pub(crate) fn temp(name: &str) -> PathBuf {
    torrent_tests::support::temp(&format!("{}_{name}", env!("CARGO_CRATE_NAME")))
}

/// Writes blocks 0–255 (genesis file + the blk file of 1–255) as `<height>.bin` into `dst`.
pub(crate) fn block_dir(dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    std::fs::copy(
        vectors().join("block-000000-genesis.bin"),
        dst.join("0.bin"),
    )
    .unwrap();
    let blk = std::fs::read(vectors().join("blocks-000001-000255.blk")).unwrap();
    let (mut i, mut h) = (0usize, 1u64);
    while i < blk.len() {
        assert_eq!(&blk[i..i + 4], &[0xf9, 0xbe, 0xb4, 0xd9]);
        let n = u32::from_le_bytes(blk[i + 4..i + 8].try_into().unwrap()) as usize;
        std::fs::write(dst.join(format!("{h}.bin")), &blk[i + 8..i + 8 + n]).unwrap();
        i += 8 + n;
        h += 1;
    }
    assert_eq!(h, 256);
}

/// The core checks a proof of `txid` (index `index` of `n` in the block at `height` with
/// `header`) in both formats: the BUMP's bytes and the TSC proof's JSON.
pub(crate) fn check(
    height: u64,
    header: &torrent_core::Header,
    n: u64,
    index: u64,
    txid: &torrent_core::Txid,
    bump: &[u8],
    tsc: &str,
) {
    use torrent_core::proof::{bump::Bump, tsc::TscProof};
    assert!(!bump.is_empty() && !tsc.is_empty(), "both formats");
    let b = Bump::decode(bump).unwrap();
    assert_eq!(
        b.verify(txid, height, n, &header.merkle_root).unwrap(),
        index
    );
    let t = TscProof::from_json(tsc).unwrap();
    assert_eq!(t.verify(header, n).unwrap(), *txid);
}

/// Real block `height` shipped in the repository (`block-<height>.bin`), decoded.
pub(crate) fn block(height: u64) -> torrent_core::bsv::block::Block {
    let raw = std::fs::read(vectors().join(format!("block-{height}.bin"))).unwrap();
    torrent_core::bsv::block::Block::decode(&raw, &Default::default()).unwrap()
}

/// The real blocks shipped in the repository.
pub(crate) fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/blocks")
}

/// Polls `ok` every 200 ms; fails the test naming `what` after `secs`.
pub(crate) fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    torrent_tests::support::wait_for(what, secs, || Ok(ok())).unwrap_or_else(|e| panic!("{e:#}"));
}

/// A loopback port, free for TCP and UDP, for configs that must keep their ports across
/// restarts. Taken below Linux's ephemeral range (32768–60999) so that the many port-0
/// binds of parallel tests can never take it between this check and the service's bind,
/// and from a per-process counter so that two tests never get the same one (test binaries
/// run one at a time).
pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = (std::process::id() % 600) * 20;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(20_000 + (offset + n) % 12_000).unwrap_or(20_000);
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
        assert!(n < 12_000, "no free port below the ephemeral range");
    }
}

/// Downloads `torrent` into `out` with aria2c (loopback-friendly: no DHT, LPD or PEX;
/// gives up after 90 s without progress); true on success.
pub(crate) fn aria2(torrent: &Path, out: &Path) -> bool {
    Command::new("aria2c")
        .arg("--dir")
        .arg(out)
        .args(torrent_tests::ARIA2_LOOPBACK)
        .arg(torrent)
        .status()
        .expect("aria2 is installed by tests/run_tests.sh")
        .success()
}

/// A TCP connection to `dst` from source address `src`.
pub(crate) fn connect_from(src: &str, dst: &str) -> std::net::TcpStream {
    torrent_tests::support::connect_from(src.parse().unwrap(), dst.parse().unwrap()).unwrap()
}

/// One HTTP/1.1 request from source address `src` (Linux routes all of 127/8 to loopback,
/// so 127.0.0.2 is another client to the service) with `Connection: close`; returns status
/// and body.
pub(crate) fn http_from(
    src: &str,
    addr: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = connect_from(src, addr);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Every sample of a Prometheus text exposition (`torrent_tests::parse_prometheus`, which
/// also rejects a malformed line).
pub(crate) fn samples(text: &str) -> BTreeMap<String, f64> {
    torrent_tests::parse_prometheus(text).unwrap_or_else(|e| panic!("{e:#}\n{text}"))
}

/// The value of `series` (name and labels; a trailing space is ignored) in `text`.
pub(crate) fn metric(text: &str, series: &str) -> Option<f64> {
    samples(text).get(series.trim_end()).copied()
}

/// An HTTP client for tests: every status is an answer (never an error).
pub(crate) fn agent() -> ureq::Agent {
    torrent_tests::support::agent()
}

/// `GET url` (with a bearer `token`): status and body.
pub(crate) fn get(url: &str, token: Option<&str>) -> (u16, String) {
    torrent_tests::support::get(url, token).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `GET url` answered 200 with JSON: the JSON.
pub(crate) fn get_json(url: &str, token: Option<&str>) -> Value {
    torrent_tests::support::get_json(url, token).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `GET url`: the body's bytes, whatever the status.
pub(crate) fn get_bytes(url: &str) -> Vec<u8> {
    torrent_tests::support::get_bytes(url).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `POST url` with a JSON body, or an empty one (and a bearer `token`): status and body.
pub(crate) fn post(url: &str, body: Option<&Value>, token: Option<&str>) -> (u16, String) {
    torrent_tests::support::post(url, body, token).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `POST url` with a JSON body (and a bearer `token`): status and the reply as JSON (a body
/// that is not JSON comes back as `{"text": body}`).
pub(crate) fn post_json(url: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    torrent_tests::support::post_json(url, body, token).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `tests/interop/<script>` under Node with `requests`, one a line: its replies.
pub(crate) fn node(script: &str, requests: &[Value]) -> Vec<Value> {
    torrent_tests::support::node(script, requests).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The service's `/metrics` at `http` (one request from 127.0.0.1 with `Connection: close`,
/// so that no connection outlives it), answered 200.
pub(crate) fn metrics(http: &str) -> String {
    let (status, text) = http_from("127.0.0.1", http, "GET", "/metrics", "", "");
    assert_eq!(status, 200, "GET /metrics: {text}");
    text
}

/// The service's bundles (`GET /v1/bundles` at `http`).
pub(crate) fn bundles(http: &str) -> Vec<Value> {
    match get_json(&format!("http://{http}/v1/bundles"), None) {
        Value::Array(b) => b,
        other => panic!("/v1/bundles: {other}"),
    }
}

/// [`bundles`] by name.
pub(crate) fn bundles_by_name(http: &str) -> BTreeMap<String, Value> {
    bundles(http)
        .into_iter()
        .map(|b| (b["name"].as_str().unwrap().to_string(), b))
        .collect()
}

/// Percent-encodes every byte (an info hash or peer id in a tracker URL).
pub(crate) fn pct(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02x}")).collect()
}
