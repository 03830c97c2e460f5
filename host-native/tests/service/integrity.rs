//! Economic integrity (DESIGN §15), each attack driven against the real service on
//! loopback with real clients where the attack uses them:
//! - a staked seeder whose proof server (a second torrent_service) answers for a block the
//!   miner no longer holds asks for proofs itself: from its own address it earns nothing;
//!   from elsewhere, thousands of requests earn at most `proof_rewards_per_block` proofs
//!   of the block in the window, each txid once, and the rest is served from the cache
//!   and the block's txid file, which the seeder then delivers over the peer wire and is
//!   paid for once as bulk;
//! - one passkey announcing 20 peer ids (a libtorrent seeder's address behind each) gets one
//!   audit and at most one bulk reward per (bundle, audit window), not twenty;
//! - 50 staked accounts whose peers accept connections and never answer cannot hold an
//!   audit round past its deadline.
//!
//! (Stakes bound to their payer are in tracker.rs, the prune gate's networks in prune.rs,
//! swarm identity in tracker.rs.)

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use torrent_core::bsv::block::{Block, BlockLimits};

use serde_json::{Value, json};
use torrent_core::bsv::bsm;
use torrent_core::tracker::register::{self, RegistrationRequest};

use crate::common::{Service, get, metric, metrics, pct, post_json, temp, wait_for};

/// The service's metrics as `series → value`.
/// An HTTP announce of `peer_id` at `port` as a complete seeder, with the passkey URL.
fn announce(passkey_url: &str, ih: &[u8; 20], peer_id: &[u8; 20], port: u16) {
    let url = format!(
        "{passkey_url}&info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left=0&event=started",
        pct(ih),
        pct(peer_id)
    );
    let (status, body) = get(&url, None);
    assert!(
        status == 200 && !body.contains("failure reason"),
        "{status} {body}"
    );
}

/// A service offloading and seeding real block 413567 as one bundle, with `extra` config.
fn miner(dir: &Path, extra: &str) -> (Service, String, [u8; 20]) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        crate::common::vectors().join("block-413567.bin"),
        src.join("413567.bin"),
    )
    .unwrap();
    let svc = Service::start_with(
        dir,
        &format!(
            "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\nblock_source = \"dir:{}\"\nbundle_blocks = 1\npiece_size = 65536\nannounce_interval_s = 2\naging_scan_interval_s = 1\nprune = false\n{extra}",
            src.display()
        ),
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("the bundle seeding", 60, || {
        get(&format!("http://{http}/v1/bundles"), None)
            .1
            .contains("\"stage\":\"seeding\"")
    });
    let (_, body) = get(&format!("http://{http}/v1/bundles"), None);
    let v: Value = serde_json::from_str(&body).unwrap();
    let ih: [u8; 20] = torrent_core::hex::decode(v[0]["infohash_v1"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    (svc, http, ih)
}

#[test]
fn a_passkey_announcing_twenty_peer_ids_gets_one_audit_and_one_bulk_reward_a_window() {
    let dir = temp("integrity-peers");
    let (svc, http, ih) = miner(&dir, "audit_interval_s = 1\n");
    // A real libtorrent seeder with the passkey, then 19 more peer ids at its address.
    let other = dir.join("other");
    let made = crate::common::bundle_413567(&dir, &other, &[]);
    assert_eq!(made["infohash_v1"], torrent_core::hex::encode(&ih));
    let url = crate::common::register_staked(&svc, &dir, 1);
    let (_lt, _out, ready) =
        crate::common::lt_seed(made["torrent"].as_str().unwrap(), &other, &url);
    assert_eq!(ready["seeding"], true);
    let port = ready["port"].as_u64().unwrap() as u16;
    for i in 0..19u8 {
        let mut id = *b"-XX0001-sybil0000000";
        id[19] = b'a' + i;
        announce(&url, &ih, &id, port);
    }
    let (_, scrape) = get(
        &format!("http://{}/scrape?info_hash={}", svc.tracker(), pct(&ih)),
        None,
    );
    // Twenty entries of the passkey, and the service's own seeding session.
    assert!(scrape.contains("8:completei21e"), "21 entries: {scrape:?}");

    // Several rounds, each of which would have audited and paid twenty times.
    let start = metrics(&http);
    let rounds0 = metric(&start, "torrent_service_audit_rounds_total").unwrap_or(0.0);
    wait_for("six audit rounds", 60, || {
        metric(&metrics(&http), "torrent_service_audit_rounds_total").unwrap_or(0.0)
            >= rounds0 + 6.0
    });
    let end = metrics(&http);
    let rounds = metric(&end, "torrent_service_audit_rounds_total").unwrap_or(0.0);
    let passes = metric(&end, "torrent_service_audits_total{result=\"pass\"}").unwrap_or(0.0);
    let bulk = metric(&end, "torrent_service_rewards_total{kind=\"bulk\"}").unwrap_or(0.0);
    assert!(passes >= 3.0, "the seeder is audited: {passes}");
    assert!(
        passes <= rounds,
        "one audit a round at most: {passes} passes in {rounds} rounds"
    );
    assert!(bulk <= passes, "one bulk reward per audit at most: {bulk}");

    // The ledger: each bulk reward keyed by its window, never more bytes than one audit
    // verifies (audit_pieces = 4 pieces of 64 KiB).
    let (status, body) = get(
        &format!("http://{}/admin/ledger/history?limit=100000", svc.tracker()),
        Some("operator-secret"),
    );
    assert_eq!(status, 200, "{body}");
    let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
    let mut windows = BTreeMap::new();
    for r in rows.iter().filter(|r| r["entry"]["kind"] == "bulk") {
        let key = r["key"].as_str().unwrap().to_string();
        let bytes = r["entry"]["bytes"].as_u64().unwrap();
        assert!(bytes <= 4 * 65_536, "{r}");
        assert!(windows.insert(key.clone(), bytes).is_none(), "{key} twice");
    }
    assert!(!windows.is_empty(), "bulk rewards were paid");
    println!(
        "20 peer ids of one passkey: {passes} audits and {} bulk rewards in {rounds} rounds (was 20 of each a round)",
        windows.len()
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Registers (BSM, over HTTP) and stakes (operator call) seeder key `i`; returns its
/// announce URL.
fn register_over_http(svc: &Service, i: u32) -> String {
    let key = crate::common::seeder_key(i);
    let tracker = svc.tracker();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let address = key.address().to_string();
    let nonce = format!("{i:032x}");
    let msg = register::message(&tracker, &address, &nonce, now);
    let req = RegistrationRequest {
        address: address.clone(),
        timestamp: now,
        nonce,
        signature: bsm::sign(&key, msg.as_bytes()).unwrap(),
    };
    let (status, reply) = post_json(
        &format!("http://{tracker}/register"),
        &serde_json::to_value(&req).unwrap(),
        None,
    );
    assert_eq!(status, 200, "{reply}");
    let (status, staked) = post_json(
        &format!("http://{tracker}/admin/stake"),
        &json!({"address": address, "amount": 100_000}),
        Some("operator-secret"),
    );
    assert_eq!(status, 200, "{staked}");
    reply["announce_url"].as_str().unwrap().to_string()
}

#[test]
fn fifty_silent_peers_do_not_hold_an_audit_round_past_its_deadline() {
    let dir = temp("integrity-silent");
    let (svc, http, ih) = miner(
        &dir,
        "audit_interval_s = 1\naudit_concurrency = 4\naudit_round_deadline_s = 3\n",
    );
    // Fifty staked accounts, each announcing a peer that accepts connections (the kernel
    // completes them into the backlog) and never says a word: each audit waits for its
    // timeouts. Sequential, one round would take minutes; 4 at a time, over a minute.
    let listeners: Vec<TcpListener> = (0..50)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    for (i, l) in listeners.iter().enumerate() {
        let url = register_over_http(&svc, 100 + i as u32);
        let mut id = *b"-XX0001-silent000000";
        id[18] = b'a' + (i / 26) as u8;
        id[19] = b'a' + (i % 26) as u8;
        announce(&url, &ih, &id, l.local_addr().unwrap().port());
    }
    let m = metrics(&http);
    let rounds0 = metric(&m, "torrent_service_audit_rounds_total").unwrap_or(0.0);
    wait_for("three audit rounds after the announces", 60, || {
        metric(&metrics(&http), "torrent_service_audit_rounds_total").unwrap_or(0.0)
            >= rounds0 + 3.0
    });
    let m = metrics(&http);
    let took = metric(&m, "torrent_service_audit_round_seconds").unwrap_or(0.0);
    let cut = metric(&m, "torrent_service_audits_cut_total").unwrap_or(0.0);
    assert!(cut > 0.0, "the deadline cut audits still waiting");
    // The deadline is 3 s; the round ends when it passes (a second for scheduling).
    assert!(took <= 4.0, "a round took {took} s past its 3 s deadline");
    println!("50 silent peers: rounds of {took} s (deadline 3 s), {cut} audits cut");
    drop(listeners);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ledger history rows of `kind` for `address`.
fn ledger_rows(svc: &Service, kind: &str, address: &str) -> Vec<Value> {
    let (status, body) = get(
        &format!("http://{}/admin/ledger/history?limit=100000", svc.tracker()),
        Some("operator-secret"),
    );
    assert_eq!(status, 200, "{body}");
    let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
    rows.into_iter()
        .filter(|r| r["entry"]["kind"] == kind && r["entry"]["address"] == address)
        .collect()
}

/// A miner A that no longer holds block 413567's txid file, a seeder staked with A whose
/// proof server is B (another torrent_service with the block) and whose libtorrent seeds
/// the bundle from 127.5.0.1.
struct Farm {
    a: Service,
    b: Service,
    a_http: String,
    txids: Vec<torrent_core::Txid>,
    address: String,
    _seeder: crate::common::KillOnDrop,
}

fn farm(dir: &Path, extra: &str) -> Farm {
    let raw = std::fs::read(crate::common::vectors().join("block-413567.bin")).unwrap();
    let txids = Block::decode(&raw, &BlockLimits::default())
        .unwrap()
        .txids();
    let a_dir = dir.join("a");
    std::fs::create_dir_all(&a_dir).unwrap();
    let (a, a_http, _ih) = miner(
        &a_dir,
        &format!("validation = \"native\"\naudit_interval_s = 3600\n{extra}"),
    );
    let b_dir = dir.join("b");
    std::fs::create_dir_all(b_dir.join("src")).unwrap();
    std::fs::write(b_dir.join("src/413567.bin"), &raw).unwrap();
    let b = Service::start_with(
        &b_dir,
        &format!(
            "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\nblock_source = \"dir:{}\"\nbundle_blocks = 1\npiece_size = 65536\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\n",
            b_dir.join("src").display()
        ),
    );
    let b_http = b.ready["http"].as_str().unwrap().to_string();
    wait_for("B answering proofs", 60, || {
        get(&format!("http://{b_http}/v1/proof/{}", txids[0]), None).0 == 200
    });
    // A's own txid file is gone: its proofs must come from seeders (or the swarm).
    let bundle_dir = a_dir.join("data/bundles/bsv-mainnet-000413567-000413567");
    for e in std::fs::read_dir(bundle_dir.join("txids")).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let url = crate::common::register_staked_with(
        &a,
        dir,
        1,
        &[
            "--proof-url",
            &format!("http://{}", b.ready["grpc"].as_str().unwrap()),
        ],
    );
    let address = crate::common::seeder_key(1).address().to_string();
    let other = dir.join("other");
    let made = crate::common::bundle_413567(dir, &other, &[]);
    let (seeder, _out, ready) =
        crate::common::lt_seed_on("127.5.0.1", made["torrent"].as_str().unwrap(), &other, &url);
    assert_eq!(ready["seeding"], true);
    wait_for("the seeder counted", 30, || {
        get(&format!("http://{a_http}/v1/bundles"), None)
            .1
            .contains("\"seeders\":1")
    });
    Farm {
        a,
        b,
        a_http,
        txids,
        address,
        _seeder: seeder,
    }
}

#[test]
fn a_seeder_farming_proofs_earns_within_the_rule_after_thousands_of_requests() {
    let dir = temp("integrity-farm");
    let f = farm(&dir, "");
    let (a_http, txids) = (&f.a_http, &f.txids);

    // From its own address: served by its proof server, never paid.
    for t in &txids[..20] {
        let o = Command::new("curl")
            .args(["-s", "--interface", "127.5.0.1"])
            .arg(format!("http://{a_http}/v1/proof/{t}"))
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["source"], "seeder", "{v}");
    }
    assert!(
        ledger_rows(&f.a, "proof", &f.address).is_empty(),
        "a seeder's own requests earned"
    );

    // From elsewhere: 3,000 requests over the block's 1,557 txids, each asked twice or so.
    let mut sources: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..3000usize {
        let t = &txids[(i * 7) % txids.len()];
        let (status, body) = get(&format!("http://{a_http}/v1/proof/{t}"), None);
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        *sources
            .entry(v["source"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let rows = ledger_rows(&f.a, "proof", &f.address);
    let earned: u64 = rows.iter().map(|r| r["credited"].as_u64().unwrap()).sum();
    let mut keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), rows.len(), "a (txid, window) paid twice");
    assert!(
        rows.len() <= 16,
        "at most proof_rewards_per_block (16) rewards for the block: {}",
        rows.len()
    );
    assert!(earned <= 16 * 160, "earned {earned} sat");
    assert!(!rows.is_empty(), "honest service is still paid");
    // Past the quota, the block's txid file came from the seeder over the peer wire
    // (checked piece by piece), paid as bulk once.
    let bulk: Vec<Value> = ledger_rows(&f.a, "bulk", &f.address)
        .into_iter()
        .filter(|r| r["key"].as_str().unwrap().starts_with("txid-file:"))
        .collect();
    assert_eq!(bulk.len(), 1, "{bulk:?}");
    assert!(
        bulk[0]["entry"]["bytes"].as_u64().unwrap() >= 32 * txids.len() as u64,
        "{bulk:?}"
    );
    println!(
        "3,020 proof requests by the seeder: {} rewarded, {earned} sat (uncapped: about {} sat); sources {sources:?}",
        rows.len(),
        3000 * 160
    );
    f.a.stop();
    f.b.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Budgets: once a seeder's daily budget is spent, proofs are still served, nothing more
/// accrues, and the operator hears it once.
#[test]
fn a_spent_daily_budget_stops_rewards_not_proofs() {
    let dir = temp("integrity-budget");
    let f = farm(&dir, "reward_budget_sat_per_seeder_per_day = 500\n");
    for t in &f.txids[..40] {
        let (status, body) = get(&format!("http://{}/v1/proof/{t}", f.a_http), None);
        assert_eq!(status, 200, "{body}");
    }
    let rows = ledger_rows(&f.a, "proof", &f.address);
    let earned: u64 = rows.iter().map(|r| r["credited"].as_u64().unwrap()).sum();
    assert!(earned <= 500, "earned {earned} sat past a 500 sat budget");
    assert_eq!(rows.len(), 3, "three proofs of 160 sat fit in 500");
    let m = metrics(&f.a_http);
    assert_eq!(
        metric(
            &m,
            "torrent_service_alerts_total{kind=\"reward_budget_exhausted\"}"
        )
        .unwrap_or(0.0),
        1.0,
        "one alert"
    );
    f.a.stop();
    f.b.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
