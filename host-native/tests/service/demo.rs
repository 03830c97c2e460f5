//! The embedded demo: `torrent_service` with no config file and no block source, in an
//! empty folder, imports the sample mainnet blocks 0–255 into `./data`, offloads them as
//! two bundles, seeds them, and serves proofs for their transactions, the registry, metrics
//! and the SPV page; its first log lines say where each one is. (Ports come from the
//! environment here only so that tests can run side by side.)

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;
use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_core::proof::bump::Bump;

use crate::common::{KillOnDrop, temp, wait_for};

#[test]
fn no_config_runs_the_whole_flow_on_the_sample_blocks() {
    let dir = temp("demo");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_torrent_service"))
            .current_dir(&dir)
            .env("RUST_LOG", "info")
            .env("TORRENT_SERVICE_LISTEN_HOST", "127.0.0.1")
            .env("TORRENT_SERVICE_TRACKER_PORT", "0")
            .env("TORRENT_SERVICE_HTTP_PORT", "0")
            .env("TORRENT_SERVICE_PROOF_RPC_PORT", "0")
            .env("TORRENT_SERVICE_PEER_PORT", "0")
            .env_remove("TORRENT_SERVICE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap();
    let http = ready["http"].as_str().unwrap().to_string();
    let get = |path: &str| crate::common::get(&format!("http://{http}{path}"), None);
    wait_for("both sample bundles seeding", 120, || {
        let (_, body) = get("/v1/bundles");
        serde_json::from_str::<Value>(&body).is_ok_and(|v| {
            v.as_array()
                .is_some_and(|b| b.len() == 2 && b.iter().all(|e| e["stage"] == "seeding"))
        })
    });
    let imported = std::fs::read_dir(dir.join("data/sample-blocks"))
        .unwrap()
        .count();
    assert_eq!(imported, 256, "blocks 0-255, one file each");
    let (_, body) = get("/v1/bundles");
    let bundles: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(bundles[0]["first"], 0);
    assert_eq!(bundles[1]["last"], 255);

    // A proof for block 170's second transaction (the first bitcoin payment), checked here.
    let raw = std::fs::read(crate::common::vectors().join("block-000170.bin")).unwrap();
    let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
    let txids = block.txids();
    let (status, body) = get(&format!("/v1/proof/{}", txids[1]));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let bump =
        Bump::decode(&torrent_core::hex::decode(v["bump"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(
        bump.verify(&txids[1], 170, 2, &block.header.merkle_root)
            .unwrap(),
        1
    );
    let (status, page) = get("/");
    assert_eq!(status, 200);
    assert!(page.contains("Check a transaction"));
    let (_, metrics) = get("/metrics");
    assert!(
        metrics.contains("torrent_service_bundles{stage=\"seeding\"} 2"),
        "{metrics}"
    );

    // The first log lines say where everything is.
    let _ = Command::new("kill").arg(child.0.id().to_string()).status();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut log).unwrap();
    for what in [
        "demo: imported the sample mainnet blocks 0-255",
        "tracker listening",
        "SPV page at http://",
        "metrics at http://",
        "proofs: gRPC torrent.v1.ProofService",
        "BitTorrent peer seeding",
    ] {
        assert!(log.contains(what), "log lacks {what:?}:\n{log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
