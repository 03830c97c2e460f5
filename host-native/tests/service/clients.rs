//! Real BitTorrent clients against the running service: they download bundles of real
//! blocks that the service offloaded and seeds (librqbit), finding it through its tracker;
//! every byte is compared with the original blocks. Then seeder mode: `torrent_service seed`
//! fetches a bundle from the swarm, verifies and seeds it, passes the service's audits and
//! opens the prune gate.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use torrent_core::bencode::Limits;
use torrent_core::metainfo::Metainfo;

use crate::common::{KillOnDrop, Service, aria2, bin, bundles, get_bytes, temp, vectors, wait_for};

/// A service offloading real blocks 384189 and 413567, one bundle each (256 KiB pieces at
/// most), seeding them; returns it with the source folder.
fn service(dir: &Path, extra: &str) -> (Service, PathBuf) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for h in [384_189, 413_567] {
        std::fs::copy(
            vectors().join(format!("block-{h}.bin")),
            src.join(format!("{h}.bin")),
        )
        .unwrap();
    }
    let svc = Service::start_with(
        dir,
        &format!(
            "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\nblock_source = \"dir:{}\"\nbundle_blocks = 1\npiece_size = 262144\nannounce_interval_s = 2\naudit_interval_s = 1\naging_scan_interval_s = 1\n{extra}",
            src.display()
        ),
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("both bundles seeding", 60, || {
        let b = bundles(&http);
        b.len() == 2 && b.iter().all(|e| e["stage"] == "seeding")
    });
    (svc, src)
}

/// The bundle of 413567 from the registry, as (entry, torrent bytes, metainfo).
fn served_413567(http: &str) -> (Value, Vec<u8>, Metainfo) {
    let entry = bundles(http)
        .into_iter()
        .find(|b| b["first"] == 413_567)
        .unwrap();
    let bytes = get_bytes(entry["torrent_url"].as_str().unwrap());
    let m = Metainfo::parse(&bytes, &Limits::default()).unwrap();
    (entry, bytes, m)
}

/// Asserts that `root/<name>/...` holds exactly the service's bundle files (all, or those
/// listed in `only`), and that the block file equals the original block.
fn assert_same(svc_bundles: &Path, got_root: &Path, m: &Metainfo, only: Option<&[String]>) {
    let mut checked = 0;
    for f in &m.files {
        if f.pad {
            continue;
        }
        let rel: PathBuf = f.path.iter().collect();
        let rel_s = rel.display().to_string();
        if only.is_some_and(|o| !o.contains(&rel_s)) {
            continue;
        }
        let ours = std::fs::read(svc_bundles.join(&m.name).join(&rel)).unwrap();
        let theirs = std::fs::read(got_root.join(&m.name).join(&rel))
            .unwrap_or_else(|e| panic!("{}: {rel_s}: {e}", got_root.display()));
        assert!(ours == theirs, "{rel_s} differs after the download");
        if rel_s.starts_with("blocks/") {
            let original = std::fs::read(vectors().join("block-413567.bin")).unwrap();
            assert!(theirs == original, "{rel_s} is not block 413567");
        }
        checked += 1;
    }
    assert!(checked >= 2, "a block file and its txid file were compared");
}

fn libtorrent_fetch(torrent: &Path, out: &Path, only: &str) -> Value {
    let lt: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/lt.py");
    let o = Command::new("/usr/bin/python3")
        .arg(&lt)
        .args([
            "fetch",
            torrent.to_str().unwrap(),
            out.to_str().unwrap(),
            only,
        ])
        .output()
        .expect("python3-libtorrent is installed by tests/run_tests.sh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Transmission 3.00 ignores tracker-given peers on 127.x (DESIGN §14), so the service's
/// session has to dial it: Transmission announces its port to our tracker, librqbit learns
/// it on its next announce and connects. Returns once the files match, or false after 120 s.
fn transmission(torrent: &Path, out: &Path, m: &Metainfo, svc_bundles: &Path) -> bool {
    let home = out.join("transmission-config");
    std::fs::create_dir_all(&home).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _child = KillOnDrop(
        Command::new("transmission-cli")
            .args(["-w", out.to_str().unwrap(), "-g", home.to_str().unwrap()])
            .args(["-p", &port.to_string(), "-M", "-ep"])
            .arg(torrent)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("transmission-cli is installed by tests/run_tests.sh"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let done = m.files.iter().filter(|f| !f.pad).all(|f| {
            let rel: PathBuf = f.path.iter().collect();
            let want = std::fs::read(svc_bundles.join(&m.name).join(&rel)).unwrap();
            std::fs::read(out.join(&m.name).join(&rel)).is_ok_and(|got| got == want)
        });
        if done {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn real_clients_download_a_bundle_seeded_by_the_service() {
    let dir = temp("matrix");
    let (svc, _src) = service(&dir, "");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let svc_bundles = dir.join("data/bundles");
    let (entry, bytes, m) = served_413567(&http);
    assert_eq!(
        m.url_list,
        vec![format!("http://{http}/webseed/")],
        "bundles carry the web seed"
    );
    assert_eq!(
        m.announce.as_deref(),
        Some(format!("http://{}/announce", svc.tracker()).as_str())
    );
    std::fs::write(dir.join("bundle.torrent"), &bytes).unwrap();
    // The swarm alone: the same info (so the same info-hash), without the web seed.
    let swarm_only = dir.join("swarm-only.torrent");
    std::fs::write(&swarm_only, m.reencode(m.announce.as_deref(), &[])).unwrap();
    let again = Metainfo::parse(&std::fs::read(&swarm_only).unwrap(), &Limits::default()).unwrap();
    assert_eq!(again.infohash_v1, m.infohash_v1);
    assert!(again.url_list.is_empty());

    let mut matrix = Vec::new();
    let t = Instant::now();
    let out = dir.join("aria2");
    assert!(aria2(&swarm_only, &out), "aria2c failed");
    assert_same(&svc_bundles, &out, &m, None);
    matrix.push(format!("aria2c {:.2} s", t.elapsed().as_secs_f64()));

    let out = dir.join("libtorrent");
    let r = libtorrent_fetch(&swarm_only, &out, "");
    assert_eq!(r["complete"], true, "libtorrent: {r}");
    assert_same(&svc_bundles, &out, &m, None);
    matrix.push(format!(
        "libtorrent {:.2} s",
        r["seconds"].as_f64().unwrap()
    ));

    let t = Instant::now();
    let out = dir.join("transmission");
    assert!(
        transmission(&swarm_only, &out, &m, &svc_bundles),
        "transmission-cli did not get the bundle in 120 s"
    );
    assert_same(&svc_bundles, &out, &m, None);
    matrix.push(format!(
        "transmission-cli {:.2} s",
        t.elapsed().as_secs_f64()
    ));

    // BiglyBT (Java, console UI, throwaway profile; tests/interop/biglybt.sh) finds the
    // service through the tracker and dials it.
    let t = Instant::now();
    let out = dir.join("biglybt");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/biglybt.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(&swarm_only)
        .arg(&out)
        .arg("180")
        .output()
        .expect("bash");
    assert!(
        o.status.success(),
        "BiglyBT: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_same(&svc_bundles, &out, &m, None);
    matrix.push(format!("BiglyBT {:.2} s", t.elapsed().as_secs_f64()));

    // The web seed alone: a trackerless torrent whose only source is the url-list.
    let ws_only = dir.join("webseed-only.torrent");
    std::fs::write(&ws_only, m.reencode(None, &m.url_list)).unwrap();
    let t = Instant::now();
    let out = dir.join("aria2-webseed");
    assert!(aria2(&ws_only, &out), "aria2c from the web seed failed");
    assert_same(&svc_bundles, &out, &m, None);
    matrix.push(format!(
        "aria2c web seed only {:.2} s",
        t.elapsed().as_secs_f64()
    ));
    eprintln!("client matrix ({}): {}", entry["name"], matrix.join(", "));
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seeder_mode_fetches_verifies_seeds_and_opens_the_gate() {
    let dir = temp("seeder");
    let (svc, src) = service(&dir, "min_seeders = 1\n");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let passkey_url = crate::common::register_staked(&svc, &dir, 3);
    let seeder_dir = dir.join("seeder");
    std::fs::create_dir_all(&seeder_dir).unwrap();
    let cfg = seeder_dir.join("seeder.toml");
    std::fs::write(
        &cfg,
        format!(
            "[torrent_service]\ndata_dir = \"{}\"\nlisten_host = \"127.0.0.1\"\npeer_port = 0\nseed_registry = \"http://{http}\"\nseed_announce = \"{passkey_url}\"\n",
            seeder_dir.join("data").display()
        ),
    )
    .unwrap();
    let mut seeder = KillOnDrop(
        bin()
            .args(["seed", "--config"])
            .arg(&cfg)
            .args(["--first", "413567", "--last", "413567"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(seeder.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_eq!(
        ready["seeding"],
        serde_json::json!(["bsv-mainnet-000413567-000413567"])
    );
    let (_, _, m) = served_413567(&http);
    assert_same(
        &dir.join("data/bundles"),
        &seeder_dir.join("data/seed"),
        &m,
        None,
    );

    // The service audits the seeder over the peer wire; one audited seeder opens this gate.
    wait_for("the 413567 bundle pruned", 60, || {
        bundles(&http).iter().any(|b| {
            b["first"] == 413_567
                && b["stage"] == "pruned"
                && b["gate_accounts"] == serde_json::json!([1])
        })
    });
    assert!(
        !src.join("413567.bin").exists(),
        "block 413567 left the source"
    );
    assert!(
        src.join("384189.bin").exists(),
        "block 384189 has no seeder: it stays"
    );
    let b384 = bundles(&http)
        .into_iter()
        .find(|b| b["first"] == 384_189)
        .unwrap();
    assert_eq!(b384["stage"], "seeding");

    // Bad settings get one clear line and a non-zero exit.
    let bad = seeder_dir.join("bad.toml");
    std::fs::write(&bad, "[torrent_service]\npeer_port = 0\n").unwrap();
    let o = bin().args(["seed", "--config"]).arg(&bad).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("seed_registry"));
    drop(seeder);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
