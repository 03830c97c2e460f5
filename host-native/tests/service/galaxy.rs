//! The Galaxy path end to end: blocks from Galaxy's Block service (streamed in frames,
//! resumed after a broken stream), references published to the Overlay service (waiting,
//! with an alert, while it is down), operator calls decided by the Auth service (503 while
//! it is down), and pruning through the Block service once the gate opens. The services
//! are `torrent_tests` stand-ins speaking Galaxy's frames, over real mainnet blocks.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use torrent_tests::galaxy_standin::{AuthStandIn, BlockStandIn, OverlayStandIn, StandIn};

use crate::common::{
    Service, bin, block_dir, bundles_by_name, free_port, get, metric, metrics, temp, vectors,
    wait_for,
};

const TOKEN: &str = "galaxy-service-token";
const OPERATOR: &str = "alice-operator-token";

fn galaxy_client(addr: std::net::SocketAddr) -> torrent_service::galaxy::GalaxyClient {
    torrent_service::galaxy::GalaxyClient {
        service: "Block",
        addr: addr.to_string(),
        auth_token: TOKEN.into(),
        max_frame: 16 << 20,
        timeout: Duration::from_secs(5),
        attempts: 3,
        backoff: Duration::from_millis(20),
    }
}

/// One large real block through the Block service: streamed in 64 KiB frames, the stream
/// cut once mid-block and resumed at the byte reached, and `bundle --source galaxy` gives
/// the info-hash of `bundle --source dir:` over the same blocks.
#[test]
fn blocks_stream_in_frames_resume_and_bundle_like_a_dir_source() {
    let dir = temp("stream");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for h in [384_189u64, 413_567] {
        std::fs::copy(
            vectors().join(format!("block-{h}.bin")),
            src.join(format!("{h}.bin")),
        )
        .unwrap();
    }
    let block = BlockStandIn::start(
        "127.0.0.1:0",
        &src,
        &dir.join("block.redb"),
        TOKEN,
        1,
        64 << 10,
    )
    .unwrap();

    // The reader: bytes equal to the file, across a broken stream.
    let want = std::fs::read(src.join("413567.bin")).unwrap();
    let c = galaxy_client(block.addr);
    let hash = torrent_core::Header::from_bytes(&want[..80].try_into().unwrap())
        .block_hash()
        .to_byte_array();
    block.break_next_stream_after(300_000);
    let before = block.streams();
    let mut got = Vec::new();
    torrent_service::galaxy::RemoteBlock::new(c.clone(), 413_567, hash, want.len() as u64)
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == want, "streamed bytes differ from the block file");
    assert_eq!(block.streams() - before, 2, "one break, one resumption");

    // A hash the service does not hold (a reorganisation): an error, never spliced bytes.
    let mut wrong = hash;
    wrong[0] ^= 1;
    let e = torrent_service::galaxy::RemoteBlock::new(c.clone(), 413_567, wrong, want.len() as u64)
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert!(e.to_string().contains("reorganised"), "{e}");

    // `bundle --source galaxy` (index in pages of one) against `bundle --source dir:`.
    let cfg = dir.join("galaxy.toml");
    std::fs::write(
        &cfg,
        format!(
            "[torrent_service]\ngalaxy_token = \"{TOKEN}\"\ngalaxy_block_port = {}\n",
            block.addr.port()
        ),
    )
    .unwrap();
    // Each block as a one-block bundle, from both sources.
    for h in ["384189", "413567"] {
        let run = |source: &str, out: &str, config: Option<&Path>| -> Value {
            let mut cmd = bin();
            cmd.args(["bundle", "--source", source, "--out"])
                .arg(dir.join(out))
                .args(["--first", h, "--last", h, "--json"]);
            if let Some(c) = config {
                cmd.arg("--config").arg(c);
            }
            let o = cmd.output().unwrap();
            assert!(
                o.status.success(),
                "{source}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            serde_json::from_slice::<Value>(&o.stdout).unwrap()
        };
        let g = run("galaxy", "out-galaxy", Some(&cfg));
        let d = run(&format!("dir:{}", src.display()), "out-dir", None);
        assert_eq!(g["infohash_v1"], d["infohash_v1"], "block {h}");
        let name = g["name"].as_str().unwrap();
        for sub in ["blocks", "txids"] {
            for e in std::fs::read_dir(dir.join("out-galaxy").join(name).join(sub)).unwrap() {
                let e = e.unwrap();
                let other = dir.join("out-dir").join(name).join(sub).join(e.file_name());
                assert!(
                    std::fs::read(e.path()).unwrap() == std::fs::read(&other).unwrap(),
                    "{}",
                    e.path().display()
                );
            }
        }
    }

    // The Block service down: one clear line naming it, a non-zero exit.
    drop(block);
    let dead = free_port();
    std::fs::write(
        &cfg,
        format!(
            "[torrent_service]\ngalaxy_token = \"{TOKEN}\"\ngalaxy_block_port = {dead}\ngalaxy_attempts = 2\ngalaxy_timeout_ms = 300\n"
        ),
    )
    .unwrap();
    let o = bin()
        .args(["bundle", "--source", "galaxy", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.join("out-dead"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Block") && err.contains(&dead.to_string()),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The service on Galaxy: blocks 0–255 from the Block service stand-in (small frames, a
/// 285-byte genesis takes three, and a cut in the first stream), alerts to the Alert
/// service, and the Overlay and Auth services down at first (their ports reserved); the
/// same blocks bundled from a `dir:` source as the reference.
struct OnGalaxy {
    svc: Service,
    dir: PathBuf,
    /// The Block service's folder of blocks.
    src: PathBuf,
    block: BlockStandIn,
    chain: StandIn,
    overlay_port: u16,
    auth_port: u16,
    /// The reference bundles' folder.
    reference: PathBuf,
    /// The reference bundles' info hashes by name.
    want: BTreeMap<String, String>,
    http: String,
    tracker: String,
}

/// [`OnGalaxy`] in `temp(name)`.
fn on_galaxy(name: &str) -> OnGalaxy {
    let dir = temp(name);
    let src = dir.join("galaxy-blocks");
    block_dir(&src);
    let block =
        BlockStandIn::start("127.0.0.1:0", &src, &dir.join("block.redb"), TOKEN, 50, 128).unwrap();
    block.break_next_stream_after(200);
    let chain = StandIn::start("127.0.0.1:0", "127.0.0.1:0", TOKEN, &[]).unwrap();
    let (_, alert) = chain
        .serve_validation_and_alerts("127.0.0.1:0", "127.0.0.1:0", TOKEN)
        .unwrap();
    // Overlay and Auth are down at first.
    let (overlay_port, auth_port) = (free_port(), free_port());

    let reference = dir.join("ref");
    let o = bin()
        .args(["bundle", "--source", &format!("dir:{}", src.display())])
        .arg("--out")
        .arg(&reference)
        .args(["--bundle-blocks", "64", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want: BTreeMap<String, String> = serde_json::from_slice::<Vec<Value>>(&o.stdout)
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["infohash_v1"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(want.len(), 4);

    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[torrent_service]\n\
             data_dir = \"{}\"\n\
             listen_host = \"127.0.0.1\"\n\
             tracker_port = 0\nhttp_port = 0\npeer_port = 0\nproof_rpc_port = 0\n\
             galaxy_token = \"{TOKEN}\"\n\
             rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\n\
             block_source = \"galaxy\"\n\
             overlay = \"galaxy\"\n\
             auth = \"galaxy\"\n\
             alerts_to_galaxy = true\n\
             galaxy_host = \"127.0.0.1\"\n\
             galaxy_block_port = {}\n\
             galaxy_overlay_port = {overlay_port}\n\
             galaxy_auth_port = {auth_port}\n\
             galaxy_alert_port = {}\n\
             galaxy_timeout_ms = 500\n\
             galaxy_attempts = 2\n\
             bundle_blocks = 64\n\
             min_seeders = 1\n\
             audit_interval_s = 1\n\
             aging_scan_interval_s = 1\n\
             audit_pieces = 2\n\
             announce_interval_s = 2\n",
            dir.join("data").display(),
            block.addr.port(),
            alert.port(),
        ),
    )
    .unwrap();
    let svc = Service::start_with(&dir, "");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let tracker = svc.tracker();

    OnGalaxy {
        svc,
        dir,
        src,
        block,
        chain,
        overlay_port,
        auth_port,
        reference,
        want,
        http,
        tracker,
    }
}

/// Blocks stream from Galaxy's Block service (one stream resumed after the cut) into
/// bundles identical to a `dir:` source's; while the Overlay is down they wait indexed, with
/// one alert per bundle for the whole outage (at Galaxy's Alert service too); once it is up
/// every reference lands there, byte for byte the service's torrent.
#[test]
fn bundles_from_galaxy_wait_for_the_overlay_with_one_alert_and_then_publish() {
    let OnGalaxy {
        svc,
        dir,
        block,
        chain,
        overlay_port,
        want,
        http,
        ..
    } = on_galaxy("galaxy_overlay");
    wait_for("four bundles indexed", 60, || {
        let b = bundles_by_name(&http);
        b.len() == 4 && b.values().all(|b| b["stage"] == "indexed")
    });
    for (name, b) in bundles_by_name(&http) {
        assert_eq!(
            b["infohash_v1"].as_str(),
            Some(want[&name].as_str()),
            "{name}"
        );
    }
    wait_for("the overlay alert at Galaxy's Alert service", 20, || {
        chain
            .alerts()
            .iter()
            .any(|(k, m)| k == "overlay_unavailable" && m.contains("Overlay"))
    });
    assert!(block.streams() >= 257, "every block streamed, one resumed");

    // The Overlay comes up: every reference lands there, byte for byte the service's torrent.
    // Each bundle's publication has failed once before the Overlay comes up.
    wait_for("an overlay alert for each of the four bundles", 30, || {
        metric(
            &metrics(&http),
            "torrent_service_alerts_total{kind=\"overlay_unavailable\"}",
        ) == Some(4.0)
    });
    let overlay = OverlayStandIn::start(
        &format!("127.0.0.1:{overlay_port}"),
        &dir.join("overlay.redb"),
        TOKEN,
    )
    .unwrap();
    wait_for("four bundles seeding", 60, || {
        let b = bundles_by_name(&http);
        b.len() == 4 && b.values().all(|b| b["stage"] == "seeding")
    });
    // One alert per bundle for the whole outage, not one per retry.
    let (_, metrics) = get(&format!("http://{http}/metrics"), None);
    assert!(
        metrics.contains("torrent_service_alerts_total{kind=\"overlay_unavailable\"} 4\n"),
        "{metrics}"
    );
    let refs = overlay.refs().unwrap();
    assert_eq!(refs.len(), 4);
    for r in &refs {
        let ours =
            std::fs::read(dir.join("data/bundles").join(format!("{}.torrent", r.name))).unwrap();
        assert!(r.torrent == ours, "{}", r.name);
        assert_eq!(torrent_core::hex::encode(&r.infohash_v1), want[&r.name]);
        assert!(r.magnet.starts_with("magnet:?xt=urn:btih:"), "{}", r.magnet);
        assert_eq!(r.network, "mainnet");
    }

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Operator calls are decided by Galaxy's Auth service, not the local token: while it is
/// down they fail closed with 503 and public routes keep serving; once it is up, answers
/// (positive and negative) are cached, and a call without a token is refused.
#[test]
fn operator_calls_are_decided_by_galaxy_auth_and_fail_closed_while_it_is_down() {
    let OnGalaxy {
        svc,
        dir,
        auth_port,
        http,
        tracker,
        ..
    } = on_galaxy("galaxy_auth");
    let (status, body) = get(&format!("http://{tracker}/admin/seeders"), Some(OPERATOR));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Galaxy Auth unavailable"), "{body}");
    assert_eq!(get(&format!("http://{http}/v1/bundles"), None).0, 200);

    let auth = AuthStandIn::start(
        &format!("127.0.0.1:{auth_port}"),
        TOKEN,
        &[(OPERATOR, "alice")],
        60,
    )
    .unwrap();
    let (status, body) = get(&format!("http://{tracker}/admin/seeders"), Some(OPERATOR));
    assert_eq!(status, 200, "{body}");
    for _ in 0..5 {
        assert_eq!(
            get(&format!("http://{tracker}/admin/seeders"), Some(OPERATOR)).0,
            200
        );
    }
    assert_eq!(
        auth.checks(),
        1,
        "the positive answer is cached for its TTL"
    );
    let (status, body) = get(&format!("http://{tracker}/admin/ledger"), Some("mallory"));
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("unknown token"), "{body}");
    // A refused token is remembered briefly: asking again does not reach Galaxy.
    let (status, _) = get(&format!("http://{tracker}/admin/ledger"), Some("mallory"));
    assert_eq!(status, 401);
    assert_eq!(
        auth.checks(),
        2,
        "one check for alice's token, one for mallory's"
    );
    let (status, _) = get(&format!("http://{tracker}/admin/seeders"), None);
    assert_eq!(status, 401);

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A staked seeder holding the bundles: audits pass, the gate opens, and the blocks leave
/// Galaxy's Block service (deleted there, recorded in its database); when the Block service
/// goes down, the aging scan fails, one alert reaches Galaxy's Alert service (not one per
/// scan), and the service keeps serving the registry.
#[test]
fn pruned_blocks_leave_galaxys_block_service_and_its_outage_alerts_once() {
    let OnGalaxy {
        svc,
        dir,
        src,
        block,
        chain,
        overlay_port,
        auth_port,
        reference,
        want,
        http,
        ..
    } = on_galaxy("galaxy_prune");
    let _overlay = OverlayStandIn::start(
        &format!("127.0.0.1:{overlay_port}"),
        &dir.join("overlay.redb"),
        TOKEN,
    )
    .unwrap();
    let _auth = AuthStandIn::start(
        &format!("127.0.0.1:{auth_port}"),
        TOKEN,
        &[(OPERATOR, "alice")],
        60,
    )
    .unwrap();
    wait_for("four bundles seeding", 60, || {
        let b = bundles_by_name(&http);
        b.len() == 4 && b.values().all(|b| b["stage"] == "seeding")
    });
    let passkey_url = crate::common::register(&svc, &dir, 1, &[]);
    crate::common::credit_stake(&svc, 1, Some(OPERATOR));
    let csv: Vec<String> = want
        .keys()
        .map(|n| reference.join(format!("{n}.torrent")).display().to_string())
        .collect();
    let (_seeder, _out, ready) = crate::common::lt_seed(&csv.join(","), &reference, &passkey_url);
    assert_eq!(ready["seeding"], true);
    wait_for("every bundle pruned", 90, || {
        bundles_by_name(&http)
            .values()
            .all(|b| b["stage"] == "pruned")
    });
    assert!(
        block.heights().is_empty(),
        "the Block service dropped every block"
    );
    assert_eq!(
        std::fs::read_dir(&src).unwrap().count(),
        0,
        "and deleted its files"
    );

    // The Block service goes down: the aging scan fails, one alert reaches Galaxy's Alert
    // service (not one per scan), and the service keeps serving the registry.
    block.stop();
    wait_for("the block source alert", 20, || {
        chain
            .alerts()
            .iter()
            .any(|(k, m)| k == "block_source_unavailable" && m.contains("Block"))
    });
    std::thread::sleep(Duration::from_secs(3));
    let raised = chain
        .alerts()
        .iter()
        .filter(|(k, _)| k == "block_source_unavailable")
        .count();
    assert_eq!(raised, 1, "one alert per outage");
    assert_eq!(bundles_by_name(&http).len(), 4);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
