//! Helpers shared by the binary's integration tests. Each test crate uses a subset, hence
//! the dead-code allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

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
    let lt: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/lt.py");
    let mut seeder = KillOnDrop(
        Command::new("/usr/bin/python3")
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
