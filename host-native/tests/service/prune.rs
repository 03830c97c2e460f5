//! The offload pipeline through the running binary, on real mainnet blocks 0–255 in a `dir`
//! source: the aging scan, bundles byte-identical to `torrent_service bundle`, seeding,
//! audits of registered libtorrent seeders, the prune gate, pruning — and crash safety with
//! SIGKILL at random instants of offload and prune.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use torrent_core::prune::Stage;
use torrent_service::store::Store;

use crate::common::{
    KillOnDrop, Service, bin, block_dir, bundles_by_name, free_port, metric, metrics, pct, temp,
    wait_for,
};

/// Fixed ports, so that announce and web seed URLs (outside `info`, but inside the .torrent
/// bytes) are the same across restarts and in the reference bundles.
#[derive(Clone, Copy)]
struct Ports {
    tracker: u16,
    http: u16,
    peer: u16,
}

impl Ports {
    fn new() -> Self {
        Self {
            tracker: free_port(),
            http: free_port(),
            peer: free_port(),
        }
    }
}

fn write_config(dir: &Path, src: &Path, ports: Ports, bundle_blocks: u64, min_seeders: u32) {
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[torrent_service]\n\
             data_dir = \"{data}\"\n\
             listen_host = \"127.0.0.1\"\n\
             tracker_port = {t}\nhttp_port = {h}\npeer_port = {p}\nproof_rpc_port = 0\n\
             auth_token = \"operator-secret\"\n\
             rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\n\
             announce_interval_s = 2\n\
             block_source = \"dir:{src}\"\n\
             bundle_blocks = {bundle_blocks}\n\
             min_seeders = {min_seeders}\n\
             audit_interval_s = 1\n\
             aging_scan_interval_s = 1\n\
             audit_pieces = 2\n",
            data = dir.join("data").display(),
            src = src.display(),
            t = ports.tracker,
            h = ports.http,
            p = ports.peer,
        ),
    )
    .unwrap();
}

/// The reference: `torrent_service bundle` over a pristine copy of the blocks, with the
/// announce and web seed URLs the service will use. Returns name → .torrent bytes.
fn reference(dir: &Path, ports: Ports, bundle_blocks: u64) -> (PathBuf, BTreeMap<String, Vec<u8>>) {
    let src = dir.join("ref-src");
    block_dir(&src);
    let out = dir.join("ref");
    let o = bin()
        .args([
            "bundle",
            "--source",
            &format!("dir:{}", src.display()),
            "--out",
        ])
        .arg(&out)
        .args([
            "--bundle-blocks",
            &bundle_blocks.to_string(),
            "--tracker",
            &format!("http://127.0.0.1:{}/announce", ports.tracker),
            "--web-seed",
            &format!("http://127.0.0.1:{}/webseed/", ports.http),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let map = list
        .iter()
        .map(|b| {
            let name = b["name"].as_str().unwrap().to_string();
            let bytes = std::fs::read(b["torrent"].as_str().unwrap()).unwrap();
            (name, bytes)
        })
        .collect();
    (out, map)
}

/// The bundles of the service whose HTTP port is `http`, by name.
fn stages(http: u16) -> BTreeMap<String, Value> {
    bundles_by_name(&format!("127.0.0.1:{http}"))
}

/// Passed audits, from the metrics of the service whose HTTP port is `http`.
fn audit_passes(http: u16) -> u64 {
    metric(
        &metrics(&format!("127.0.0.1:{http}")),
        "torrent_service_audits_total{result=\"pass\"}",
    )
    .unwrap_or(0.0) as u64
}

fn heights_in(src: &Path) -> BTreeSet<u64> {
    std::fs::read_dir(src)
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_str()?
                .strip_suffix(".bin")?
                .parse()
                .ok()
        })
        .collect()
}

fn verify_bundle(torrent: &Path, data_root: &Path) -> bool {
    let (m, view) = torrent_service::offload::inspect::inspect(torrent).unwrap();
    torrent_service::offload::inspect::verify(&m, &view, data_root)
        .unwrap()
        .ok()
}

/// Blocks 0–255 in a `dir:` source (64-block bundles, a prune gate of three) and the
/// reference bundles `torrent_service bundle` makes of them, in `temp(name)`; the service
/// started on them has offloaded the four aged ranges and seeds them.
struct Offloaded {
    svc: Service,
    dir: PathBuf,
    ports: Ports,
    src: PathBuf,
    /// The reference bundles' folder.
    ref_out: PathBuf,
    /// The reference torrents by name.
    refs: BTreeMap<String, Vec<u8>>,
    /// The service's bundle store.
    bundles: PathBuf,
}

/// [`Offloaded`] in `temp(name)`.
fn offloaded(name: &str) -> Offloaded {
    let dir = temp(name);
    let ports = Ports::new();
    let (ref_out, refs) = reference(&dir, ports, 64);
    assert_eq!(refs.len(), 4);
    let src = dir.join("src");
    block_dir(&src);
    write_config(&dir, &src, ports, 64, 3);
    let svc = Service::start_with(&dir, "");
    assert!(svc.ready["peer"].as_str().is_some(), "{}", svc.ready);
    wait_for("four bundles seeding", 60, || {
        let s = stages(ports.http);
        s.len() == 4 && s.values().all(|b| b["stage"] == "seeding")
    });
    let bundles = dir.join("data/bundles");
    Offloaded {
        svc,
        dir,
        ports,
        src,
        ref_out,
        refs,
        bundles,
    }
}

/// The aging scan offloads the four aged ranges into bundles byte-identical to
/// `torrent_service bundle`'s, and the service seeds them; nothing is pruned without
/// seeders.
#[test]
fn the_aging_scan_offloads_bundles_identical_to_the_bundle_command() {
    let Offloaded {
        svc,
        dir,
        src,
        refs,
        bundles,
        ..
    } = offloaded("flow_offload");
    for (name, bytes) in &refs {
        let ours = std::fs::read(bundles.join(format!("{name}.torrent"))).unwrap();
        assert!(
            &ours == bytes,
            "{name}: the service's torrent differs from `torrent_service bundle`'s"
        );
    }
    assert_eq!(
        heights_in(&src).len(),
        256,
        "nothing pruned without seeders"
    );

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The prune gate counts networks, not accounts: three registered, staked libtorrent
/// seeders on one /24 pass their audits but are one copy; two more on /24s of their own
/// open the gate and the blocks leave the source, the service keeping its own verified
/// copy; the metrics count every stage and the audits; a restart resumes with nothing left
/// to do and keeps seeding.
#[test]
fn the_prune_gate_opens_on_three_networks_not_three_accounts() {
    let Offloaded {
        svc,
        dir,
        ports,
        src,
        ref_out,
        refs,
        bundles,
    } = offloaded("flow_gate");
    // Three registered, staked libtorrent seeders on one /24 (127.1.0.1-3): audits pass,
    // but they are one copy, and the gate wants three (DESIGN §15).
    let csv: Vec<String> = refs
        .keys()
        .map(|n| ref_out.join(format!("{n}.torrent")).display().to_string())
        .collect();
    let csv = csv.join(",");
    let mut seeders = Vec::new();
    for (i, ip) in [(1, "127.1.0.1"), (2, "127.1.0.2"), (3, "127.1.0.3")] {
        let pk = crate::common::register_staked(&svc, &dir, i);
        let (s, o, r) = crate::common::lt_seed_on(ip, &csv, &ref_out, &pk);
        assert_eq!(r["seeding"], true);
        seeders.push((s, o));
    }
    wait_for("the tracker to list seeders 1-3", 30, || {
        stages(ports.http).values().all(|b| b["seeders"] == 3)
    });
    wait_for("audits of seeders 1-3 on the four bundles", 60, || {
        audit_passes(ports.http) >= 12
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        heights_in(&src).len(),
        256,
        "three accounts on one /24 do not open a gate of three"
    );
    assert!(stages(ports.http).values().all(|b| b["stage"] == "seeding"));

    // Two more, each on a /24 of its own: three networks, the gate opens, the blocks leave
    // the source.
    for (i, ip) in [(4, "127.2.0.1"), (5, "127.3.0.1")] {
        let pk = crate::common::register_staked(&svc, &dir, i);
        let (s, o, r) = crate::common::lt_seed_on(ip, &csv, &ref_out, &pk);
        assert_eq!(r["seeding"], true);
        seeders.push((s, o));
    }
    wait_for("every bundle pruned", 60, || {
        stages(ports.http).values().all(|b| b["stage"] == "pruned")
    });
    assert!(
        heights_in(&src).is_empty(),
        "every block left the dir source"
    );
    for (name, b) in stages(ports.http) {
        // One account per network: the lowest of 127.1.0.0/24, then 127.2 and 127.3.
        assert_eq!(b["gate_accounts"], serde_json::json!([1, 4, 5]), "{name}");
        // The service's own copy stays complete and verified: it still seeds it.
        assert!(verify_bundle(
            &bundles.join(format!("{name}.torrent")),
            &bundles
        ));
    }

    // Prometheus text: every stage is a series, and the audits that opened the gates count.
    let metrics = metrics(&format!("127.0.0.1:{}", ports.http));
    assert!(
        metrics.contains("torrent_service_bundles{stage=\"pruned\"} 4\n"),
        "{metrics}"
    );
    assert!(metrics.contains("torrent_service_bundles{stage=\"planned\"} 0\n"));
    let passes = audit_passes(ports.http);
    assert!(
        passes >= 20,
        "five seeders passed audits of four bundles: {passes}"
    );

    // A restart resumes with nothing left to do and keeps seeding (hash check passes).
    svc.stop();
    let svc = Service::start_with(&dir, "");
    wait_for("bundles listed after restart", 30, || {
        let s = stages(ports.http);
        s.len() == 4 && s.values().all(|b| b["stage"] == "pruned")
    });
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// libtorrent fetches one block's files alone from the service's swarm (files start on
/// piece boundaries, so no other file is touched), identical to the service's and to the
/// block itself.
#[test]
fn libtorrent_fetches_one_blocks_files_alone_from_the_swarm() {
    let Offloaded {
        svc,
        dir,
        refs,
        bundles,
        ..
    } = offloaded("flow_fetch");
    let name0 = "bsv-mainnet-000000000-000000063";
    let m = torrent_core::metainfo::Metainfo::parse(&refs[name0], &Default::default()).unwrap();
    let swarm_only = dir.join("swarm-only.torrent");
    std::fs::write(&swarm_only, m.reencode(m.announce.as_deref(), &[])).unwrap();
    let one = dir.join("one-block");
    let lt: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/lt.py");
    let o = Command::new("/usr/bin/python3")
        .arg(&lt)
        .args(["fetch", swarm_only.to_str().unwrap(), one.to_str().unwrap()])
        .arg("blocks/000000009-,txids/000000009-")
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["complete"], true, "{r}");
    let files: Vec<String> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let mut on_disk = Vec::new();
    for sub in ["blocks", "txids"] {
        for e in std::fs::read_dir(one.join(name0).join(sub)).unwrap() {
            on_disk.push(format!(
                "{sub}/{}",
                e.unwrap().file_name().to_str().unwrap()
            ));
        }
    }
    on_disk.sort();
    assert_eq!(on_disk, files, "only the chosen block's files were written");
    for f in &files {
        assert!(
            std::fs::read(one.join(name0).join(f)).unwrap()
                == std::fs::read(bundles.join(name0).join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(
        std::fs::read(one.join(name0).join(&files[0])).unwrap()
            == std::fs::read(dir.join("ref-src/9.bin")).unwrap(),
        "the fetched block file is block 9"
    );

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Announces as the libtorrent seeder (its port, the round's passkey) for every bundle, again
/// and again, so that a restarted tracker knows at once who holds what; the audits then
/// check the data over the peer wire against libtorrent itself.
fn announcer(
    tracker: u16,
    passkey_url: String,
    lt_port: u16,
    infohashes: Vec<Vec<u8>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        assert!(passkey_url.contains(&format!("127.0.0.1:{tracker}/")));
        let base = passkey_url;
        let sep = if base.contains('?') { '&' } else { '?' };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .into();
        while !stop.load(Ordering::Relaxed) {
            for ih in &infohashes {
                let url = format!(
                    "{base}{sep}info_hash={}&peer_id=-LT2000-prunetest000&port={lt_port}&uploaded=0&downloaded=0&left=0&compact=1",
                    pct(ih)
                );
                let _ = agent.get(&url).call();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    })
}

/// Checks, with the service dead, that nothing was lost: returns the stages seen.
fn check_invariants(
    dir: &Path,
    src: &Path,
    refs: &BTreeMap<String, Vec<u8>>,
    ref_out: &Path,
    bundle_blocks: u64,
) -> BTreeMap<String, Stage> {
    let store = Store::open(&dir.join("data/torrent_service.redb")).unwrap();
    let recs: BTreeMap<String, torrent_service::store::BundleRecord> = store
        .bundles()
        .unwrap()
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    let bundles = dir.join("data/bundles");
    let present = heights_in(src);
    // 1. A block gone from the source belongs to a bundle that was complete, verified,
    //    seeded and gated: stage pruning or later, with the audited seeder as evidence.
    for h in 0..256u64 {
        if present.contains(&h) {
            continue;
        }
        let first = h / bundle_blocks * bundle_blocks;
        let name = format!("bsv-mainnet-{first:09}-{:09}", first + bundle_blocks - 1);
        let rec = recs
            .get(&name)
            .unwrap_or_else(|| panic!("block {h} deleted but bundle {name} has no record"));
        assert!(
            rec.stage() >= Stage::Pruning,
            "block {h} deleted while {name} is at {}",
            rec.stage
        );
        assert!(
            !rec.gate_accounts.is_empty(),
            "{name}: gate opened without evidence"
        );
        let ih = rec.infohash_v1.as_ref().unwrap();
        for a in &rec.gate_accounts {
            let audit = store.audit(ih, *a).unwrap().unwrap();
            assert!(
                audit.last_pass.is_some(),
                "{name}: account {a} never passed an audit"
            );
        }
        let t = bundles.join(format!("{name}.torrent"));
        assert!(
            std::fs::read(&t).unwrap() == refs[&name],
            "{name}: torrent differs from the reference"
        );
        assert!(
            verify_bundle(&t, &bundles),
            "{name}: pruned but the bundle does not verify"
        );
    }
    // 2. Every torrent under a final name is byte-identical to the reference; every file
    //    under a final name in a bundle folder is complete (identical to the reference's).
    for e in std::fs::read_dir(&bundles).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if let Some(stem) = name.strip_suffix(".torrent") {
            assert!(
                std::fs::read(&p).unwrap() == refs[stem],
                "{stem}: a torrent under its final name differs from the reference"
            );
        } else if p.is_dir() {
            for sub in ["blocks", "txids"] {
                let Ok(rd) = std::fs::read_dir(p.join(sub)) else {
                    continue;
                };
                for f in rd {
                    let f = f.unwrap().path();
                    let fname = f.file_name().unwrap().to_str().unwrap();
                    if fname.ends_with(".part") {
                        continue;
                    }
                    let want = std::fs::read(ref_out.join(&name).join(sub).join(fname))
                        .unwrap_or_else(|_| panic!("{name}/{sub}/{fname}: not in the reference"));
                    assert!(
                        std::fs::read(&f).unwrap() == want,
                        "{name}/{sub}/{fname}: a file under its final name is incomplete"
                    );
                }
            }
        }
    }
    // 3. A stage at `written` or later means the whole bundle is there and verifies.
    for (name, rec) in &recs {
        if rec.stage() >= Stage::Written {
            let t = bundles.join(format!("{name}.torrent"));
            assert!(
                verify_bundle(&t, &bundles),
                "{name} at {} does not verify",
                rec.stage
            );
        }
    }
    recs.into_iter().map(|(n, r)| (n, r.stage())).collect()
}

#[test]
fn sigkill_at_random_points_of_offload_and_prune_loses_nothing() {
    const BUNDLE_BLOCKS: u64 = 8;
    const KILLS_PER_ROUND: u32 = 7;
    const TARGET_KILLS: u32 = 56;
    let dir = temp("kill");
    let ports = Ports::new();
    let (ref_out, refs) = reference(&dir, ports, BUNDLE_BLOCKS);
    assert_eq!(refs.len(), 32);
    let infohashes: Vec<Vec<u8>> = refs
        .values()
        .map(|b| {
            let m = torrent_core::metainfo::Metainfo::parse(b, &Default::default()).unwrap();
            m.infohash_v1.unwrap().0.to_vec()
        })
        .collect();
    // One libtorrent process holds every bundle (made by `bundle`, so by another "miner").
    let csv: Vec<String> = refs
        .keys()
        .map(|n| ref_out.join(format!("{n}.torrent")).display().to_string())
        .collect();
    let (_lt, _lt_out, lt_ready) =
        crate::common::lt_seed(&csv.join(","), &ref_out, "http://127.0.0.1:1/announce");
    assert_eq!(lt_ready["seeding"], true);
    let lt_port = u16::try_from(lt_ready["port"].as_u64().unwrap()).unwrap();

    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut kills = 0u32;
    let mut seen: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut rounds = 0;
    while kills < TARGET_KILLS {
        rounds += 1;
        let t0 = Instant::now();
        let round = dir.join(format!("round{rounds}"));
        std::fs::create_dir_all(&round).unwrap();
        let src = round.join("src");
        std::fs::create_dir_all(&src).unwrap();
        write_config(&round, &src, ports, BUNDLE_BLOCKS, 1);
        // Register the seeder in this round's fresh database, while the source is empty.
        let svc = Service::start_with(&round, "");
        let passkey_url = crate::common::register_staked(&svc, &round, 7);
        svc.stop();
        block_dir(&src);
        let stop = Arc::new(AtomicBool::new(false));
        let ann = announcer(
            ports.tracker,
            passkey_url,
            lt_port,
            infohashes.clone(),
            Arc::clone(&stop),
        );
        let t1 = t0.elapsed();
        for i in 0..KILLS_PER_ROUND {
            let mut child = KillOnDrop(
                bin()
                    .args(["run", "--config"])
                    .arg(round.join("config.toml"))
                    .env("RUST_LOG", "error")
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .unwrap(),
            );
            // Offload takes a few hundred milliseconds from a cold start and the gate opens
            // after the first audit round (1 s): early kills aim at the first, later ones
            // spread over everything.
            let span = [400, 400][..].get(i as usize).copied().unwrap_or(3000);
            std::thread::sleep(Duration::from_millis(rand(span)));
            child.0.kill().unwrap(); // SIGKILL
            child.0.wait().unwrap();
            kills += 1;
            let stages = check_invariants(&round, &src, &refs, &ref_out, BUNDLE_BLOCKS);
            let min = stages.values().min().copied();
            let key = match (stages.len(), min) {
                (0, _) => "before any record",
                (_, Some(s)) if s < Stage::Seeding => "during offload",
                (_, Some(s)) if s < Stage::Pruned => "during gate and prune",
                _ => "after the last prune",
            };
            *seen.entry(key).or_default() += 1;
        }
        let t2 = t0.elapsed();
        // Let the last start run to completion, then check the end state.
        let log = std::fs::File::create(round.join("final-run.log")).unwrap();
        let mut child = KillOnDrop(
            bin()
                .args(["run", "--config"])
                .arg(round.join("config.toml"))
                .env("RUST_LOG", "info,librqbit=warn")
                .stdout(Stdio::piped())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let mut line = String::new();
        BufReader::new(child.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        wait_for("every bundle pruned after the kills", 90, || {
            let s = stages(ports.http);
            s.len() == 32 && s.values().all(|b| b["stage"] == "pruned")
        });
        let _ = Command::new("kill").arg(child.0.id().to_string()).status();
        let _ = child.0.wait();
        stop.store(true, Ordering::Relaxed);
        ann.join().unwrap();
        let stages = check_invariants(&round, &src, &refs, &ref_out, BUNDLE_BLOCKS);
        assert!(stages.values().all(|s| *s == Stage::Pruned));
        assert!(heights_in(&src).is_empty());
        let _ = std::fs::remove_dir_all(&round);
        eprintln!(
            "round {rounds}: setup {t1:?}, kills until {t2:?}, done {:?}",
            t0.elapsed()
        );
    }
    eprintln!("SIGKILL: {kills} kills over {rounds} rounds; where they landed: {seen:?}");
    assert!(kills >= 50);
    assert!(
        seen.get("during offload").copied().unwrap_or(0) > 0
            && seen.get("during gate and prune").copied().unwrap_or(0) > 0,
        "kills landed in both phases: {seen:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
