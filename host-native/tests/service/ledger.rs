//! Incentives end to end, through the running binary on real block 413567 (DESIGN §9):
//!
//! - a seeder's proof server (another miner's `torrent_service` with the same block) answers
//!   proofs the service no longer holds locally, checked in the wasmtime sandbox
//!   (`validation = "sandbox"`); the rewards follow the bonus table
//!   (fast/slow × rare/common = 160/150/110/100 sat), slowness coming from a real network
//!   delay (a TCP proxy holding each request 700 ms) and rarity from real libtorrent
//!   seeders announcing with their passkeys;
//! - audits of those seeders reward the verified bytes, the remainder carried;
//! - a proof altered in flight (a proxy flips one bit of the BUMP) is refused and slashed,
//!   the client still gets a valid proof (from the swarm), and the seeder, now below its
//!   stake, loses its passkey until the operator tops it up; a seeder that stops answering
//!   fails its audit and is slashed;
//! - `ledger settle --json` pays everyone in one signed transaction that @bsv/sdk's
//!   interpreter accepts from the JSON alone (and refuses with one satoshi changed); the
//!   ARC endpoint fails twice, the same signed bytes are resent until accepted, and the
//!   payout is confirmed once ARC reports it mined: paid once, never twice;
//! - the ledger's Prometheus series say the same.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The token in Galaxy envelopes: a key of its own, not the operator's `auth_token`.
const GALAXY_TOKEN: &str = "galaxy-secret";

use serde_json::{Value, json};
use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_core::bsv::tx::{Transaction, TxLimits};
use torrent_core::{Header, Txid};

use crate::common::{
    Service, get, lt_seed, metric, metrics, node, pct, post, register_staked, register_staked_with,
    seeder_key, temp, wait_for,
};

const NAME: &str = "bsv-mainnet-000413567-000413567";

/// `torrent_service ledger ACTION... --json` against the service.
fn ledger(svc: &Service, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = crate::common::ledger_cmd(svc, &all);
    assert!(
        out.status.success(),
        "ledger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn history(svc: &Service) -> Vec<Value> {
    ledger(svc, &["history", "--limit", "100000"])
        .as_array()
        .unwrap()
        .clone()
}

fn account(svc: &Service, address: &str) -> Value {
    ledger(svc, &["balances"])["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == address)
        .cloned()
        .unwrap()
}

/// The history rows of `kind` for `address`.
fn rows(h: &[Value], kind: &str, address: &str) -> Vec<Value> {
    h.iter()
        .filter(|r| r["entry"]["kind"] == kind && r["entry"]["address"] == address)
        .cloned()
        .collect()
}

/// A loopback TCP proxy to `upstream`: each chunk from the client waits `delay` before it
/// goes on; in chunks from the server, `flip` (when given) has one bit of its last byte
/// flipped.
fn proxy(upstream: SocketAddr, delay: Duration, flip: Option<Vec<u8>>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 || {
                        std::thread::sleep(delay);
                        s_out.write_all(&buf[..n]).is_err()
                    } {
                        break;
                    }
                }
                let _ = s_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_in, mut c_out, flip) = (server, client, flip.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = s_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Some(p) = &flip
                        && let Some(at) = buf[..n].windows(p.len()).position(|w| w == p)
                    {
                        buf[at + p.len() - 1] ^= 1;
                    }
                    if c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// What the ARC stand-in saw.
#[derive(Default)]
struct Arc0 {
    posts: Vec<String>,
    accepted: Option<String>,
}

/// A stand-in for an ARC endpoint (ARC cannot run here), speaking ARC's API:
/// `POST /v1/tx` `{"rawTx"}` answers 503 for the first `fail` calls, then 200 with
/// `{"txid", "txStatus": "SEEN_ON_NETWORK"}`; `GET /v1/tx/{txid}` answers `MINED` once
/// accepted.
fn arc(fail: usize) -> (SocketAddr, Arc<Mutex<Arc0>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Arc0::default()));
    let s2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            let mut st = s2.lock().unwrap();
            let (code, reply) = if line.starts_with("POST /v1/tx ") {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let raw = v["rawTx"].as_str().unwrap_or_default().to_string();
                st.posts.push(raw.clone());
                if st.posts.len() <= fail {
                    (
                        503,
                        json!({"status": 503, "title": "Service Unavailable", "detail": "no node reachable"}),
                    )
                } else {
                    let tx = Transaction::decode(
                        &torrent_core::hex::decode(&raw).unwrap(),
                        &TxLimits::default(),
                    )
                    .unwrap();
                    let txid = tx.txid().to_string();
                    st.accepted = Some(txid.clone());
                    (
                        200,
                        json!({"status": 200, "title": "OK", "txid": txid, "txStatus": "SEEN_ON_NETWORK"}),
                    )
                }
            } else if let Some(t) = line
                .strip_prefix("GET /v1/tx/")
                .and_then(|r| r.split(' ').next())
            {
                if st.accepted.as_deref() == Some(t) {
                    (
                        200,
                        json!({"txid": t, "txStatus": "MINED", "blockHeight": 870_123}),
                    )
                } else {
                    (404, json!({"status": 404, "title": "Not found"}))
                }
            } else {
                (404, json!({"status": 404}))
            };
            drop(st);
            let body = reply.to_string();
            let _ = write!(
                c,
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, seen)
}

/// Node with @bsv/sdk checks one payout JSON; returns its verdict.
fn sdk_verify(payout: &Value) -> Value {
    node("payoutverify.mjs", std::slice::from_ref(payout)).remove(0)
}

fn proof_at(http_addr: &str, txid: &Txid) -> Value {
    let (status, body) = get(&format!("http://{http_addr}/v1/proof/{txid}"), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The core checks a JSON answer against the real header.
fn check(v: &Value, header: &Header, n: u64, index: u64, txid: &Txid) {
    let bump = torrent_core::hex::decode(v["bump"].as_str().unwrap()).unwrap();
    crate::common::check(
        413_567,
        header,
        n,
        index,
        txid,
        &bump,
        &v["tsc"].to_string(),
    );
}

/// Announces with a passkey (as `stopped`, so that no peer is left behind to be audited);
/// returns the tracker's failure reason, if any.
fn announce_refusal(passkey_url: &str, ih: &[u8; 20]) -> Option<String> {
    let q = pct(ih);
    let (_, body) = get(
        &format!(
            "{passkey_url}&info_hash={q}&peer_id=-XX0001-abcdefghijkl&port=6999&uploaded=0&downloaded=0&left=0&compact=1&event=stopped"
        ),
        None,
    );
    body.find("failure reason").map(|i| body[i..].to_string())
}

/// A seeder's libtorrent process (killed on drop) and its output.
type Seeder = (
    crate::common::KillOnDrop,
    BufReader<std::process::ChildStdout>,
    Value,
);

/// The incentives' world on real block 413567: service A, the miner paying for proofs
/// (proofs checked in the sandbox, its own txid file gone so that proofs must come from
/// seeders; a payout wallet of one 1,000,000 sat output; an ARC stand-in failing twice
/// before it accepts), service B, another miner whose proof server seeder 1 uses, and
/// seeders 1–3 registered and staked (seeder 1 with B's proof URL), seeder 1 seeding with
/// libtorrent on an address of its own.
struct Incentives {
    dir: PathBuf,
    a: Service,
    b: Service,
    a_http: String,
    b_http: String,
    b_grpc: SocketAddr,
    header: Header,
    txids: Vec<Txid>,
    n: u64,
    wallet_key: torrent_core::bsv::keys::PrivateKey,
    funding: Transaction,
    arc_seen: Arc<Mutex<Arc0>>,
    ih: torrent_core::metainfo::InfoHashV1,
    torrent: String,
    other: PathBuf,
    urls: [String; 3],
    direct: String,
    _seeder_1: Seeder,
}

/// [`Incentives`] in `temp(name)`.
fn incentives(name: &str) -> Incentives {
    let dir = temp(name);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let raw = std::fs::read(crate::common::vectors().join("block-413567.bin")).unwrap();
    std::fs::write(src.join("413567.bin"), &raw).unwrap();
    let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
    let (header, txids) = (block.header, block.txids());
    let n = txids.len() as u64;

    // The payout wallet: one 1,000,000 sat output of a funding transaction.
    let wallet_key = seeder_key(1000);
    let funding = crate::common::funding(&wallet_key, 1_000_000, 7);
    std::fs::write(
        dir.join("wallet.json"),
        json!({"wif": wallet_key.to_wif(), "utxos": [{"txid": funding.txid().to_string(), "vout": 0, "satoshis": 1_000_000}]}).to_string(),
    )
    .unwrap();
    let (arc_addr, arc_seen) = arc(2);

    // Service A, the miner paying for proofs.
    let a_dir = dir.join("a");
    std::fs::create_dir_all(&a_dir).unwrap();
    let a = Service::start_with(
        &a_dir,
        &format!(
            "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\nblock_source = \"dir:{}\"\nbundle_blocks = 1\npiece_size = 65536\nannounce_interval_s = 2\naging_scan_interval_s = 1\naudit_interval_s = 1\nprune = false\nmin_seeders = 3\nvalidation = \"sandbox\"\npayout_threshold = 100\npayout_retry_s = 1\nbroadcaster = \"arc\"\narc_url = \"http://{arc_addr}\"\nwallet_file = \"{}\"\n",
            src.display(),
            dir.join("wallet.json").display()
        ),
    );
    let a_http = a.ready["http"].as_str().unwrap().to_string();
    // Service B: another miner with the same block, whose proof server the seeder uses.
    let b_dir = dir.join("b");
    std::fs::create_dir_all(&b_dir).unwrap();
    let b = Service::start_with(
        &b_dir,
        &format!(
            "block_source = \"dir:{}\"\nbundle_blocks = 1\npiece_size = 65536\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\n",
            src.display()
        ),
    );
    let b_http = b.ready["http"].as_str().unwrap().to_string();
    let b_grpc: SocketAddr = b.ready["grpc"].as_str().unwrap().parse().unwrap();
    wait_for("A seeding the bundle", 60, || {
        let (_, v) = get(&format!("http://{a_http}/v1/bundles"), None);
        v.contains("\"stage\":\"seeding\"")
    });
    wait_for("B answering proofs", 60, || {
        get(&format!("http://{b_http}/v1/proof/{}", txids[0]), None).0 == 200
    });

    // A's own copy of the txids is gone (pruned bundle data): proofs must come from seeders.
    let a_bundle = a_dir.join("data/bundles");
    let txid_file = std::fs::read_dir(a_bundle.join(NAME).join("txids"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&txid_file).unwrap();
    // The seeders' copy of the bundle: made independently, the same torrent.
    let other = dir.join("other");
    let made = crate::common::bundle_413567(&dir, &other, &[]);
    let torrent = a_bundle.join(format!("{NAME}.torrent"));
    let ih = torrent_core::metainfo::Metainfo::parse(
        &std::fs::read(&torrent).unwrap(),
        &Default::default(),
    )
    .unwrap()
    .infohash_v1
    .unwrap();
    assert_eq!(made["infohash_v1"], ih.to_string());

    let direct = format!("http://{b_grpc}");
    let url1 = register_staked_with(&a, &dir, 1, &["--proof-url", &direct]);
    let url2 = register_staked(&a, &dir, 2);
    let url3 = register_staked(&a, &dir, 3);
    assert_eq!(account(&a, &s(1))["proof_url"], direct.as_str());
    let torrent = torrent.to_str().unwrap().to_string();
    // Each seeder on an address of its own: the test's requests (from 127.0.0.1) are not
    // theirs, so their proofs may earn (DESIGN §15).
    let seeder_1 = crate::common::lt_seed_on("127.1.0.1", &torrent, &other, &url1);
    assert_eq!(seeder_1.2["seeding"], true);
    let f = Incentives {
        dir,
        a,
        b,
        a_http,
        b_http,
        b_grpc,
        header,
        txids,
        n,
        wallet_key,
        funding,
        arc_seen,
        ih,
        torrent,
        other,
        urls: [url1, url2, url3],
        direct,
        _seeder_1: seeder_1,
    };
    wait_for("seeder 1 counted", 30, || f.seeders() == 1);
    f
}

/// Seeder `i`'s address.
fn s(i: u32) -> String {
    seeder_key(i).address().to_string()
}

impl Incentives {
    /// Seeder 1 points its proof URL at `url`.
    fn set_proof_url(&self, url: &str) {
        let (status, body) = post(
            &self.urls[0].replace("/announce?", "/seeder/proof-url?"),
            Some(&json!({ "url": url })),
            None,
        );
        assert_eq!(status, 200, "{body}");
    }

    /// The seeders A counts for the bundle.
    fn seeders(&self) -> u64 {
        let (_, v) = get(&format!("http://{}/v1/bundles", self.a_http), None);
        serde_json::from_str::<Value>(&v).unwrap()[0]["seeders"]
            .as_u64()
            .unwrap()
    }

    /// Seeder `i` (2 or 3) starts seeding with libtorrent on 127.`i`.0.1.
    fn seed(&self, i: u32) -> Seeder {
        crate::common::lt_seed_on(
            &format!("127.{i}.0.1"),
            &self.torrent,
            &self.other,
            &self.urls[i as usize - 1],
        )
    }

    /// Asks A for the proof of tx `index`: it must come from seeder 1, check with the core,
    /// and be credited `expect` sat in the ledger (`None`: any amount); returns how long the
    /// seeder took.
    fn ask(&self, index: usize, expect: Option<u64>, what: &str) -> u64 {
        let v = proof_at(&self.a_http, &self.txids[index]);
        assert_eq!(v["source"], "seeder", "{what}: {v}");
        check(&v, &self.header, self.n, index as u64, &self.txids[index]);
        let h = history(&self.a);
        let last = rows(&h, "proof", &s(1)).pop().unwrap();
        assert_eq!(last["entry"]["txid"], self.txids[index].to_string());
        if let Some(expect) = expect {
            assert_eq!(last["credited"], expect, "{what}: {last}");
        }
        last["entry"]["served_ms"].as_u64().unwrap()
    }

    fn stop(self) {
        let Self { dir, a, b, .. } = self;
        b.stop();
        a.stop();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Each proof a seeder serves is rewarded by the bonus table (fast/slow × rare/common =
/// 160/150/110/100 sat), slowness coming from a real network delay (a TCP proxy holding
/// each request 700 ms) and rarity from real libtorrent seeders; the metrics count them.
#[test]
fn proof_rewards_follow_the_bonus_table() {
    let f = incentives("ledger_bonus");
    assert!(f.ask(7, Some(160), "fast, rare (1 seeder)") < 500);
    let slow = format!(
        "http://{}",
        proxy(f.b_grpc, Duration::from_millis(700), None)
    );
    f.set_proof_url(&slow);
    assert!(f.ask(107, Some(150), "slow, rare") >= 500);
    let _lt2 = f.seed(2);
    let _lt3 = f.seed(3);
    wait_for("three seeders counted", 30, || f.seeders() == 3);
    f.ask(207, Some(100), "slow, common (3 seeders)");
    f.set_proof_url(&f.direct);
    f.ask(307, Some(110), "fast, common");
    let m = metrics(&f.a_http);
    assert_eq!(
        metric(&m, "torrent_service_rewards_total{kind=\"proof\"}").unwrap(),
        4.0
    );
    assert_eq!(
        metric(&m, "torrent_service_reward_satoshis_total{kind=\"proof\"}").unwrap(),
        520.0
    );
    f.stop();
}

/// Bulk: audits of a seeder fetch verified pieces; whole megabytes are paid, the rest
/// carried from one audit to the next.
#[test]
fn audits_pay_whole_megabytes_and_carry_the_rest() {
    let f = incentives("ledger_bulk");
    let _lt2 = f.seed(2);
    wait_for("a dozen audits of seeder 2", 90, || {
        rows(&history(&f.a), "bulk", &s(2)).len() >= 12
    });
    loop {
        let before = rows(&history(&f.a), "bulk", &s(2));
        let acc = account(&f.a, &s(2));
        let after = rows(&history(&f.a), "bulk", &s(2));
        if before.len() != after.len() {
            continue;
        }
        let bytes: u64 = after
            .iter()
            .map(|r| r["entry"]["bytes"].as_u64().unwrap())
            .sum();
        let credited: u64 = after.iter().map(|r| r["credited"].as_u64().unwrap()).sum();
        assert!(
            after
                .iter()
                .all(|r| r["entry"]["bytes"].as_u64().unwrap() < 1_000_000),
            "small transfers"
        );
        assert_eq!(credited, bytes / 1_000_000 * 100, "{bytes} bytes");
        assert_eq!(acc["bulk_carry"], bytes % 1_000_000);
        assert_eq!(acc["earned"], credited, "seeder 2 earned by audits only");
        break;
    }
    f.stop();
}

/// A proof altered in flight (a proxy flips one bit of the BUMP) is refused and slashed, the
/// client still gets a valid proof (from the swarm), and the seeder, now below its stake,
/// loses its passkey (the bundle is under-seeded, an alert says so) until the operator tops
/// it up.
#[test]
fn a_proof_altered_in_flight_is_refused_and_slashed_until_the_stake_is_topped_up() {
    let f = incentives("ledger_tamper");
    let _lt2 = f.seed(2);
    let _lt3 = f.seed(3);
    wait_for("three seeders counted", 30, || f.seeders() == 3);
    let index = 1234;
    let good = proof_at(&f.b_http, &f.txids[index]);
    let bump = torrent_core::hex::decode(good["bump"].as_str().unwrap()).unwrap();
    let tamper = format!(
        "http://{}",
        proxy(
            f.b_grpc,
            Duration::ZERO,
            Some(bump[bump.len() - 32..].to_vec())
        )
    );
    f.set_proof_url(&tamper);
    let v = proof_at(&f.a_http, &f.txids[index]);
    assert_ne!(
        v["source"], "seeder",
        "the altered proof is not passed on: {v}"
    );
    check(&v, &f.header, f.n, index as u64, &f.txids[index]);
    let slash = rows(&history(&f.a), "slash", &s(1));
    assert_eq!(slash.len(), 1, "{slash:?}");
    assert_eq!(slash[0]["entry"]["reason"], "invalid_proof");
    assert_eq!(slash[0]["slashed"], 10_000);
    let acc = account(&f.a, &s(1));
    assert_eq!(
        (acc["stake"].as_u64(), acc["active"].as_bool()),
        (Some(90_000), Some(false))
    );
    let refusal = announce_refusal(&f.urls[0], &f.ih.0).expect("the passkey is refused");
    assert!(refusal.contains("stake of 90000 sat is below"), "{refusal}");
    wait_for("seeder 1 no longer counted", 10, || f.seeders() == 2);
    wait_for("the under-seeded alert", 30, || {
        metric(
            &metrics(&f.a_http),
            "torrent_service_alerts_total{kind=\"bundle_under_seeded\"}",
        )
        .unwrap()
            >= 1.0
    });
    let out = crate::common::ledger_cmd(&f.a, &["stake", "--credit", &s(1), "--amount", "10000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        announce_refusal(&f.urls[0], &f.ih.0),
        None,
        "topped up: the passkey works again"
    );
    let m = metrics(&f.a_http);
    assert_eq!(
        metric(
            &m,
            "torrent_service_slashes_total{reason=\"invalid_proof\"}"
        )
        .unwrap(),
        1.0
    );
    assert!(
        metric(
            &m,
            "torrent_proof_seeder_answers_total{verdict=\"invalid\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        metric(&m, "torrent_service_alerts_total{kind=\"seeder_slashed\"}").unwrap() >= 1.0,
        "the slash raised an alert"
    );
    f.stop();
}

/// A seeder that stops answering fails its audit and is slashed once: below its stake, it
/// is no longer audited.
#[test]
fn a_seeder_that_stops_answering_fails_its_audit_and_is_slashed_once() {
    let f = incentives("ledger_silent");
    let lt3 = f.seed(3);
    wait_for("seeder 3 counted", 30, || f.seeders() == 2);
    drop(lt3);
    wait_for("seeder 3's failed audit", 60, || {
        !rows(&history(&f.a), "slash", &s(3)).is_empty()
    });
    std::thread::sleep(Duration::from_secs(3));
    let slash3 = rows(&history(&f.a), "slash", &s(3));
    assert_eq!(slash3.len(), 1, "{slash3:?}");
    assert_eq!(slash3[0]["entry"]["reason"], "failed_audit");
    let audit_slashes: Vec<Value> = history(&f.a)
        .into_iter()
        .filter(|r| r["entry"]["reason"] == "failed_audit")
        .collect();
    assert_eq!(audit_slashes.len(), 1, "{audit_slashes:?}");
    let m = metrics(&f.a_http);
    assert_eq!(
        metric(&m, "torrent_service_slashes_total{reason=\"failed_audit\"}").unwrap(),
        1.0
    );
    assert!(
        metric(&m, "torrent_service_alerts_total{kind=\"seeder_slashed\"}").unwrap() >= 1.0,
        "the slash raised an alert"
    );
    f.stop();
}

/// `ledger settle --json` pays everyone due in one signed transaction that @bsv/sdk's
/// interpreter accepts from the JSON alone (and refuses with one satoshi changed); the ARC
/// endpoint fails twice, the same signed bytes are resent until accepted, and the payout is
/// confirmed once ARC reports it mined: paid once, never twice. The metrics say the same.
#[test]
fn a_settlement_pays_everyone_in_one_transaction_the_sdk_accepts_and_arc_confirms_once() {
    let f = incentives("ledger_settle");
    let _lt2 = f.seed(2);
    let _lt3 = f.seed(3);
    // Seeder 1 earns by a proof, seeders 2 and 3 by audits: all three are due.
    f.ask(7, None, "a proof from seeder 1");
    wait_for("seeders 2 and 3 due (audited a megabyte)", 90, || {
        [2, 3]
            .iter()
            .all(|&i| account(&f.a, &s(i))["earned"].as_u64().unwrap_or(0) >= 100)
    });
    let (a, funding, arc_seen, wallet_key) = (&f.a, &f.funding, &f.arc_seen, &f.wallet_key);
    let p = ledger(a, &["settle"]);
    let owed: BTreeMap<String, u64> = p["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["change"] != true)
        .map(|o| {
            (
                o["address"].as_str().unwrap().to_string(),
                o["satoshis"].as_u64().unwrap(),
            )
        })
        .collect();
    for i in 1..=3 {
        assert!(owed.contains_key(&s(i)), "seeder {i} is paid: {p}");
    }
    assert_eq!(p["status"], "signed", "ARC's first answer is 503: {p}");
    assert!(p["last_error"].as_str().unwrap().contains("503"), "{p}");
    assert_eq!(p["inputs"][0]["txid"], funding.txid().to_string());
    println!(
        "ledger settle --json:\n{}",
        serde_json::to_string_pretty(&p).unwrap()
    );
    let verdict = sdk_verify(&p);
    assert_eq!(verdict["valid"], true, "{verdict}");
    // One satoshi more to the first seeder: the signature no longer holds.
    let mut tx = Transaction::decode(
        &torrent_core::hex::decode(p["raw_tx"].as_str().unwrap()).unwrap(),
        &TxLimits::default(),
    )
    .unwrap();
    tx.outputs[0].value = torrent_core::Satoshis(tx.outputs[0].value.to_sat() + 1);
    let mut forged = p.clone();
    forged["raw_tx"] = torrent_core::hex::encode(&tx.encode()).into();
    forged["txid"] = tx.txid().to_string().into();
    forged["outputs"][0]["satoshis"] =
        (owed[forged["outputs"][0]["address"].as_str().unwrap()] + 1).into();
    forged["fee"] = (p["fee"].as_u64().unwrap() - 1).into();
    let verdict = sdk_verify(&forged);
    assert_eq!(verdict["valid"], false, "{verdict}");

    let txid = p["txid"].as_str().unwrap().to_string();
    wait_for("the payout confirmed", 30, || {
        ledger(a, &["payouts"])[0]["status"] == "confirmed"
    });
    {
        let seen = arc_seen.lock().unwrap();
        assert_eq!(seen.posts.len(), 3, "two 503s, then accepted");
        assert!(
            seen.posts
                .iter()
                .all(|r| r == p["raw_tx"].as_str().unwrap()),
            "the same signed bytes each time"
        );
        assert_eq!(seen.accepted.as_deref(), Some(txid.as_str()));
    }
    let payouts = ledger(a, &["payouts"]);
    assert_eq!(
        payouts.as_array().unwrap().len(),
        1,
        "one payout, never two"
    );
    assert_eq!(payouts[0]["block_height"], 870_123);
    for (address, sat) in &owed {
        if *address == wallet_key.address().to_string() {
            continue;
        }
        assert_eq!(account(a, address)["paid"], *sat, "{address}");
    }

    // The same in Prometheus text.
    let m = metrics(&f.a_http);
    assert_eq!(
        metric(&m, "torrent_service_payouts{status=\"confirmed\"}").unwrap(),
        1.0
    );
    assert_eq!(
        metric(&m, "torrent_service_payout_broadcast_failures_total").unwrap(),
        2.0
    );
    let total: f64 = owed.values().map(|v| *v as f64).sum::<f64>();
    assert!(metric(&m, "torrent_service_wallet_satoshis").unwrap() <= 1_000_000.0 - total + 1.0);
    f.stop();
}

/// Bad input to the ledger's operator calls gets one clear, typed error.
#[test]
fn ledger_calls_refuse_bad_input_with_a_reason() {
    let dir = temp("bad");
    let svc = Service::start(&dir);
    let base = format!("http://{}", svc.tracker());
    let (status, body) = post(&format!("{base}/admin/settle"), None, None);
    assert_eq!(status, 401, "{body}");
    let run = |args: &[&str]| crate::common::ledger_cmd(&svc, args);
    let o = run(&["settle"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no payout wallet"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let o = run(&["confirm", &"ab".repeat(32)]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no payout"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&[
        "stake",
        "--credit",
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
        "--amount",
        "5",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no registered seeder"));
    let url = register_staked(&svc, &dir, 9);
    let (status, body) = post(
        &url.replace("/announce?", "/seeder/proof-url?"),
        Some(&json!({"url": "ftp://x"})),
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not an http(s)://host:port URL"), "{body}");
    let (status, _) = post(
        &format!("{base}/seeder/proof-url?passkey=nope"),
        Some(&json!({"url": "http://127.0.0.1:1"})),
        None,
    );
    assert_eq!(status, 401);
    // The service keeps serving.
    assert_eq!(
        ledger(&svc, &["balances"])["accounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Payouts through Galaxy (stand-ins speaking Galaxy's frames): a service with a seeder
/// whose audits have earned a first 100 sat, Galaxy's Alert service up, and its Storage and
/// Transaction services (the funding UTXO, broadcast and confirmation) up from the start
/// or not.
struct GalaxyPayouts {
    dir: std::path::PathBuf,
    svc: Service,
    alerts: torrent_tests::galaxy_standin::StandIn,
    galaxy: Option<torrent_tests::galaxy_standin::StandIn>,
    wallet_key: torrent_core::bsv::keys::PrivateKey,
    funding: Transaction,
    ports: (u16, u16),
    seeder: String,
    /// The seeder's libtorrent, killed with the fixture.
    _lt: Option<(
        crate::common::KillOnDrop,
        BufReader<std::process::ChildStdout>,
        Value,
    )>,
}

impl GalaxyPayouts {
    fn start(name: &str, galaxy_up: bool) -> Self {
        use torrent_tests::galaxy_standin::StandIn;
        let dir = temp(name);
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::copy(
            crate::common::vectors().join("block-413567.bin"),
            src.join("413567.bin"),
        )
        .unwrap();
        let wallet_key = seeder_key(2000);
        let funding = crate::common::funding(&wallet_key, 500_000, 9);
        std::fs::write(
            dir.join("wallet.json"),
            json!({"wif": wallet_key.to_wif(), "utxos": []}).to_string(),
        )
        .unwrap();
        let ports = (crate::common::free_port(), crate::common::free_port());
        let alerts = StandIn::start("127.0.0.1:0", "127.0.0.1:0", GALAXY_TOKEN, &[]).unwrap();
        let (_, alert_addr) = alerts
            .serve_validation_and_alerts("127.0.0.1:0", "127.0.0.1:0", GALAXY_TOKEN)
            .unwrap();
        let mut me = Self {
            dir: dir.clone(),
            svc: Service::start_with(
                &dir,
                &format!(
                    "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\nblock_source = \"dir:{}\"\nbundle_blocks = 1\npiece_size = 65536\nannounce_interval_s = 2\naging_scan_interval_s = 1\naudit_interval_s = 1\nprune = false\npayout_threshold = 100\npayout_batch_sat = 200\npayout_retry_s = 1\nbroadcaster = \"galaxy\"\npayout_utxos = \"galaxy\"\ngalaxy_transaction_port = {}\ngalaxy_storage_port = {}\ngalaxy_token = \"{GALAXY_TOKEN}\"\ngalaxy_timeout_ms = 500\ngalaxy_attempts = 2\nalerts_to_galaxy = true\ngalaxy_alert_port = {}\nwallet_file = \"{}\"\n",
                    src.display(),
                    ports.0,
                    ports.1,
                    alert_addr.port(),
                    dir.join("wallet.json").display()
                ),
            ),
            alerts,
            galaxy: None,
            wallet_key,
            funding,
            ports,
            seeder: seeder_key(1).address().to_string(),
            _lt: None,
        };
        if galaxy_up {
            me.galaxy_up();
        }
        let http_addr = me.svc.ready["http"].as_str().unwrap().to_string();
        wait_for("the bundle seeding", 60, || {
            get(&format!("http://{http_addr}/v1/bundles"), None)
                .1
                .contains("\"stage\":\"seeding\"")
        });
        let other = dir.join("other");
        crate::common::bundle_413567(&dir, &other, &[]);
        let url = register_staked(&me.svc, &dir, 1);
        let torrent = dir.join(format!("data/bundles/{NAME}.torrent"));
        me._lt = Some(lt_seed(torrent.to_str().unwrap(), &other, &url));
        wait_for("a whole megabyte audited", 60, || {
            account(&me.svc, &me.seeder)["balance"].as_u64().unwrap() >= 100
        });
        me
    }

    /// Galaxy's Storage (with the wallet's funding UTXO) and Transaction services.
    fn galaxy_up(&mut self) {
        use torrent_tests::galaxy_standin::{StandIn, wire::GalaxyUtxo};
        self.galaxy = Some(
            StandIn::start(
                &format!("127.0.0.1:{}", self.ports.0),
                &format!("127.0.0.1:{}", self.ports.1),
                GALAXY_TOKEN,
                &[GalaxyUtxo {
                    txid: self.funding.txid().to_byte_array(),
                    vout: 0,
                    satoshis: 500_000,
                    script_pubkey: self.wallet_key.address().script_pubkey(),
                }],
            )
            .unwrap(),
        );
    }
}

/// While Galaxy's Storage is down, settling fails with one line naming the service and its
/// address, and no payout is recorded.
#[test]
fn a_settlement_while_galaxy_storage_is_down_fails_in_one_line_and_records_nothing() {
    let f = GalaxyPayouts::start("galaxy_down", false);
    let out = crate::common::ledger_cmd(&f.svc, &["settle"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("Storage")
            && err.contains(&format!("127.0.0.1:{}", f.ports.1))
            && err.contains("after 2 attempts"),
        "{err}"
    );
    assert_eq!(ledger(&f.svc, &["payouts"]), json!([]));
    f.svc.stop();
    let _ = std::fs::remove_dir_all(&f.dir);
}

/// Nobody asks: once 200 sat are due (`payout_batch_sat`), the service settles by itself,
/// funded from Storage's UTXO, broadcast and confirmed through Galaxy's Transaction
/// service, once; a transaction @bsv/sdk accepts. Galaxy comes up after the service (the
/// payout waits for it), as on a node where Galaxy restarts.
#[test]
fn once_the_batch_is_due_the_service_settles_through_galaxy_by_itself() {
    let mut f = GalaxyPayouts::start("galaxy_batch", false);
    f.galaxy_up();
    let svc = &f.svc;
    let s1 = f.seeder.clone();
    wait_for("the batch payout mined", 60, || {
        ledger(svc, &["payouts"])
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "confirmed")
    });
    let galaxy = f.galaxy.as_ref().unwrap();
    let funding = &f.funding;
    let alerts = &f.alerts;
    let payouts = ledger(svc, &["payouts"]);
    let p = payouts.as_array().unwrap().last().unwrap().clone();
    assert!(
        p["accepted_by"]
            .as_str()
            .unwrap()
            .starts_with("galaxy transaction"),
        "{p}"
    );
    assert_eq!(
        p["inputs"][0]["txid"],
        funding.txid().to_string(),
        "funded from Storage's UTXO"
    );
    let verdict = sdk_verify(&p);
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert!(
        p["outputs"][0]["satoshis"].as_u64().unwrap() >= 200,
        "settled once 200 sat were due: {p}"
    );
    assert_eq!(
        galaxy.broadcasts().len(),
        ledger(svc, &["payouts"]).as_array().unwrap().len(),
        "each payout sent once"
    );
    let paid = p["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["address"] == s1.as_str())
        .unwrap()["satoshis"]
        .as_u64()
        .unwrap();
    let txid: Txid = p["txid"].as_str().unwrap().parse().unwrap();
    assert!(
        galaxy
            .utxos_of(&seeder_key(1).address().script_pubkey())
            .contains(&(paid, txid.to_byte_array(), 0)),
        "the seeder's output is on the (stand-in) chain"
    );
    assert!(account(svc, &s1)["paid"].as_u64().unwrap() >= paid);
    // The under-seeded alert (1 seeder, 3 wanted) reached Galaxy's Alert service too.
    wait_for("the alert at Galaxy", 10, || {
        alerts
            .alerts()
            .iter()
            .any(|(kind, message)| kind == "bundle_under_seeded" && message.contains(NAME))
    });
    let dir = f.dir.clone();
    f.svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The attack of DESIGN §15 "Payouts", with `payout_utxos = "galaxy"`: a payout is
/// abandoned, the next one spends its input (they conflict: at most one can be mined; with
/// the same balances it is the same transaction again); that one is abandoned too, and
/// then the first is mined after all (anyone who saw it could
/// relay it). Storage now reports the shared input spent. Before, the next settlement paid
/// the same balances again from another UTXO; now it refuses with one line and one alert.
#[test]
fn an_abandoned_payout_mined_after_all_is_not_paid_twice() {
    use torrent_tests::galaxy_standin::{StandIn, wire::GalaxyUtxo};
    let dir = temp("abandon");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        crate::common::vectors().join("block-413567.bin"),
        src.join("413567.bin"),
    )
    .unwrap();
    let wallet_key = seeder_key(3000);
    let (f1, f2) = (
        crate::common::funding(&wallet_key, 500_000, 11),
        crate::common::funding(&wallet_key, 400_000, 12),
    );
    std::fs::write(
        dir.join("wallet.json"),
        json!({"wif": wallet_key.to_wif(), "utxos": []}).to_string(),
    )
    .unwrap();
    let utxo = |f: &Transaction, sat| GalaxyUtxo {
        txid: f.txid().to_byte_array(),
        vout: 0,
        satoshis: sat,
        script_pubkey: wallet_key.address().script_pubkey(),
    };
    let galaxy = StandIn::start(
        "127.0.0.1:0",
        "127.0.0.1:0",
        GALAXY_TOKEN,
        &[utxo(&f1, 500_000), utxo(&f2, 400_000)],
    )
    .unwrap();
    let svc = Service::start_with(
        &dir,
        &format!(
            "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\nblock_source = \"dir:{}\"\nbundle_blocks = 1\npiece_size = 65536\nannounce_interval_s = 2\naging_scan_interval_s = 1\naudit_interval_s = 1\nprune = false\npayout_threshold = 100\npayout_utxos = \"galaxy\"\ngalaxy_storage_port = {}\ngalaxy_token = \"{GALAXY_TOKEN}\"\ngalaxy_timeout_ms = 500\nwallet_file = \"{}\"\n",
            src.display(),
            galaxy.storage.port(),
            dir.join("wallet.json").display()
        ),
    );
    let http_addr = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("the bundle seeding", 60, || {
        get(&format!("http://{http_addr}/v1/bundles"), None)
            .1
            .contains("\"stage\":\"seeding\"")
    });
    let other = dir.join("other");
    crate::common::bundle_413567(&dir, &other, &[]);
    let url = register_staked(&svc, &dir, 1);
    let torrent = dir.join(format!("data/bundles/{NAME}.torrent"));
    let (lt, _o, _) = lt_seed(torrent.to_str().unwrap(), &other, &url);
    let s1 = seeder_key(1).address().to_string();
    wait_for("a whole megabyte audited", 60, || {
        account(&svc, &s1)["balance"].as_u64().unwrap() >= 100
    });
    drop(lt); // no more rewards: the balances stay what they are

    let input = |p: &Value| -> Vec<String> {
        p["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| format!("{}:{}", i["txid"].as_str().unwrap(), i["vout"]))
            .collect()
    };
    let p1 = ledger(&svc, &["settle"]);
    ledger(&svc, &["abandon", p1["txid"].as_str().unwrap()]);
    let p2 = ledger(&svc, &["settle"]);
    assert!(
        input(&p2).iter().any(|i| input(&p1).contains(i)),
        "the payout after an abandon conflicts with it: {p1} / {p2}"
    );
    ledger(&svc, &["abandon", p2["txid"].as_str().unwrap()]);

    // The first payout is mined after all.
    let raw1 = torrent_core::hex::decode(p1["raw_tx"].as_str().unwrap()).unwrap();
    galaxy.mine(&raw1).unwrap();
    let paid_to = |txid: &str| {
        galaxy
            .utxos_of(&seeder_key(1).address().script_pubkey())
            .iter()
            .filter(|(_, t, _)| Txid::from_byte_array(*t).to_string() == txid)
            .count()
    };
    assert_eq!(
        paid_to(p1["txid"].as_str().unwrap()),
        1,
        "seeder 1 was paid by p1"
    );

    let before = ledger(&svc, &["payouts"]);
    let out = crate::common::ledger_cmd(&svc, &["settle"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second payment was made");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("may have been mined"), "{err}");
    assert_eq!(ledger(&svc, &["payouts"]), before, "no new payout");
    // The operator finds it mined and says so: its seeders count as paid by it, and
    // settlement goes on without paying them again.
    let owed = p1["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["address"] == s1.as_str())
        .unwrap()["satoshis"]
        .as_u64()
        .unwrap();
    let balance = account(&svc, &s1)["balance"].as_u64().unwrap();
    let c = ledger(&svc, &["confirm", p1["txid"].as_str().unwrap()]);
    assert_eq!(c["status"], "confirmed", "{c}");
    let acc = account(&svc, &s1);
    assert_eq!(acc["paid"].as_u64().unwrap(), owed, "{acc}");
    assert_eq!(acc["balance"].as_u64().unwrap(), balance - owed, "{acc}");
    let out = crate::common::ledger_cmd(&svc, &["settle"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ledger(&svc, &["payouts"]).as_array().unwrap().len(),
        before.as_array().unwrap().len(),
        "nothing was due again"
    );
    let m = metrics(&http_addr);
    assert!(
        metric(
            &m,
            "torrent_service_alerts_total{kind=\"payout_conflict_unverifiable\"}"
        )
        .unwrap()
            >= 1.0,
        "the operator is alerted"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
