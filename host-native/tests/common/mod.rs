//! Helpers shared by the binary's integration tests. Each test crate uses a subset, hence
//! the dead-code allowance.
#![allow(dead_code)]

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
            "413567",
            "--last",
            "413567",
            "--piece-size",
            "65536",
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

/// A running `torrent_service run`, stopped with SIGTERM on drop.
pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) ready: Value,
    pub(crate) config: PathBuf,
}

impl Service {
    pub(crate) fn start(dir: &Path) -> Self {
        Self::start_with(
            dir,
            "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\ntracker_open = true\n",
        )
    }

    pub(crate) fn start_with(dir: &Path, extra: &str) -> Self {
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
            child,
            ready,
            config,
        }
    }

    pub(crate) fn tracker(&self) -> String {
        self.ready["tracker"].as_str().unwrap().to_string()
    }

    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "service exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("service did not stop on SIGTERM");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let d = std::env::temp_dir().join(format!(
        "ts_{}_{name}_{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
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

/// The real blocks shipped in the repository.
pub(crate) fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/blocks")
}

/// Polls `ok` every 200 ms; fails the test naming `what` after `secs`.
pub(crate) fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
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
    let dst: std::net::SocketAddr = dst.parse().unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&std::net::SocketAddr::new(src.parse().unwrap(), 0).into())
        .unwrap();
    sock.connect(&dst.into()).unwrap();
    sock.into()
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
