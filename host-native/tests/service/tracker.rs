//! The tracker through the running binary: registration (our CLI and @bsv/sdk), passkeys,
//! stakes, persistence, HTTP and UDP announce/scrape, bad input, metrics, and real clients
//! (a libtorrent seeder with a passkey and an aria2 leecher without one).

use std::io::{BufRead, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use torrent_core::Network;
use torrent_core::bsv::hash::sha256d;
use torrent_core::bsv::keys::PrivateKey;
use torrent_core::tracker::register;

use crate::common::{
    Service, agent, bin, get_bytes, metric, metrics, node, pct, post_json, seeder_key, temp,
};

fn bdecode(b: &[u8]) -> torrent_core::bencode::Value {
    torrent_core::bencode::decode(b, &Default::default())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

fn failure(b: &[u8]) -> Option<String> {
    bdecode(b)
        .get("failure reason")
        .and_then(|v| v.as_bytes())
        .map(|r| String::from_utf8_lossy(r).into_owned())
}

fn announce_url(
    base: &str,
    ih: &[u8; 20],
    peer: &[u8; 20],
    port: u16,
    left: u64,
    extra: &str,
) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    // Default byte counters unless the caller sets its own.
    let counters = if extra.contains("uploaded=") {
        ""
    } else {
        "&uploaded=0&downloaded=0"
    };
    format!(
        "{base}{sep}info_hash={}&peer_id={}&port={port}{counters}&left={left}{extra}",
        pct(ih),
        pct(peer)
    )
}

/// Signs with @bsv/sdk through tests/interop/bsm.mjs.
fn sdk_sign(wif: &str, message: &str) -> String {
    let v = node(
        "bsm.mjs",
        &[json!({"op": "sign", "wif": wif, "message": message})],
    );
    v[0]["signature"].as_str().unwrap().to_string()
}

/// A service with seeder 1 registered through our CLI (with a WIF file), not yet staked;
/// returns the service, the printed announce URL and its passkey.
fn registered(dir: &Path) -> (Service, String, String) {
    let svc = Service::start(dir);
    let t = svc.tracker();
    let wif = dir.join("seeder.wif");
    std::fs::write(&wif, seeder_key(1).to_wif()).unwrap();
    let out = bin()
        .args(["register", "--wif-file"])
        .arg(&wif)
        .args(["--tracker", &format!("http://{t}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        url.starts_with(&format!("http://{t}/announce?passkey=")),
        "{url}"
    );
    let passkey = url.rsplit('=').next().unwrap().to_string();
    (svc, url, passkey)
}

/// The operator credits seeder 1's 100,000 sat stake (`ledger stake --credit`).
fn credit_stake_of_seeder_1(svc: &Service) {
    let out = bin()
        .args(["ledger", "--config"])
        .arg(&svc.config)
        .args([
            "--server",
            &format!("http://{}", svc.tracker()),
            "stake",
            "--credit",
            &seeder_key(1).address().to_string(),
            "--amount",
            "100000",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// [`registered`] and staked: the service, the announce URL and the passkey.
fn staked(dir: &Path) -> (Service, String, String) {
    let (svc, url, passkey) = registered(dir);
    credit_stake_of_seeder_1(&svc);
    (svc, url, passkey)
}

/// The info hash the registration tests announce.
const REG_IH: [u8; 20] = [7u8; 20];

/// A UDP announce of [`REG_IH`] by a seeder, with `url_data` in BEP 41 URL data (where the
/// passkey rides over UDP); returns the reply's action and the rest after the transaction id.
fn udp_with(tracker: &str, url_data: &str) -> (u32, Vec<u8>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.connect(tracker).unwrap();
    let mut c = 0x0417_2710_1980u64.to_be_bytes().to_vec();
    c.extend_from_slice(&0u32.to_be_bytes());
    c.extend_from_slice(&1u32.to_be_bytes());
    sock.send(&c).unwrap();
    let mut buf = [0u8; 1024];
    sock.recv(&mut buf).unwrap();
    let mut a = buf[8..16].to_vec();
    a.extend_from_slice(&1u32.to_be_bytes());
    a.extend_from_slice(&2u32.to_be_bytes());
    a.extend_from_slice(&REG_IH);
    a.extend_from_slice(b"-lt0D80-udpseeder001");
    a.extend_from_slice(&[0u8; 24]);
    a.extend_from_slice(&2u32.to_be_bytes());
    a.extend_from_slice(&[0; 8]);
    a.extend_from_slice(&(-1i32).to_be_bytes());
    a.extend_from_slice(&6882u16.to_be_bytes());
    for chunk in url_data.as_bytes().chunks(255) {
        a.push(2);
        a.push(chunk.len() as u8);
        a.extend_from_slice(chunk);
    }
    a.push(0);
    sock.send(&a).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    (
        u32::from_be_bytes(buf[..4].try_into().unwrap()),
        buf[8..n].to_vec(),
    )
}

/// A staked seeder announces three ways, each accepted: over HTTP with the query form
/// (`event=started`), over UDP with the passkey in BEP 41 URL data, and over HTTP with the
/// path form (`/<passkey>/announce`).
fn announce_three_ways(tracker: &str, url: &str, passkey: &str) {
    let r = get_bytes(&announce_url(
        url,
        &REG_IH,
        b"-qB4500-aaaaaaaaaaaa",
        6881,
        0,
        "&event=started",
    ));
    assert_eq!(failure(&r), None);
    let (action, _) = udp_with(tracker, &format!("/announce?passkey={passkey}"));
    assert_eq!(action, 1, "a staked passkey announces over UDP");
    let r = get_bytes(&announce_url(
        &format!("http://{tracker}/{passkey}/announce"),
        &REG_IH,
        b"-qB4500-aaaaaaaaaaaa",
        6881,
        0,
        "",
    ));
    assert_eq!(failure(&r), None);
}

/// Our CLI registers with a WIF file and prints the passkey announce URL; registered but
/// unstaked, the passkey is refused with a reason (and the refusal counted) until the
/// operator credits the stake, and then it announces.
#[test]
fn a_registered_passkey_is_refused_until_the_operator_credits_its_stake() {
    let dir = temp("reg_stake");
    let (svc, url, _) = registered(&dir);
    let r = get_bytes(&announce_url(
        &url,
        &REG_IH,
        b"-qB4500-aaaaaaaaaaaa",
        6881,
        0,
        "",
    ));
    assert!(failure(&r).unwrap().contains("stake"), "{:?}", failure(&r));
    let text = metrics(svc.ready["http"].as_str().unwrap());
    assert_eq!(
        metric(
            &text,
            "torrent_tracker_announces_total{protocol=\"http\",outcome=\"refused\"}"
        ),
        Some(1.0),
        "the unstaked announce is counted refused"
    );
    credit_stake_of_seeder_1(&svc);
    let r = get_bytes(&announce_url(
        &url,
        &REG_IH,
        b"-qB4500-aaaaaaaaaaaa",
        6881,
        0,
        "&event=started",
    ));
    assert_eq!(failure(&r), None);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A staked passkey announces over HTTP (query and path forms) and over UDP (BEP 41 URL
/// data); an unknown passkey is refused both ways; the metrics count the refusal and both
/// seeders (the HTTP and the UDP one), in well-formed Prometheus text.
#[test]
fn a_staked_passkey_announces_over_http_and_udp_and_an_unknown_one_is_refused() {
    let dir = temp("reg_announce");
    let (svc, url, passkey) = staked(&dir);
    let t = svc.tracker();
    announce_three_ways(&t, &url, &passkey);
    let (action, msg) = udp_with(&t, "/announce?passkey=ffffffffffffffffffffffffffffffff");
    assert_eq!(action, 3);
    assert!(String::from_utf8_lossy(&msg).contains("unknown passkey"));
    let r = get_bytes(&announce_url(
        &format!("http://{t}/announce?passkey=00000000000000000000000000000000"),
        &REG_IH,
        b"-qB4500-bbbbbbbbbbbb",
        6881,
        0,
        "",
    ));
    assert!(failure(&r).unwrap().contains("unknown passkey"));

    // Prometheus text on the HTTP port.
    let text = String::from_utf8(get_bytes(&format!(
        "http://{}/metrics",
        svc.ready["http"].as_str().unwrap()
    )))
    .unwrap();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(
            value.parse::<f64>().is_ok() && !name.is_empty(),
            "bad metric line {line:?}"
        );
    }
    assert_eq!(
        metric(
            &text,
            "torrent_tracker_announces_total{protocol=\"http\",outcome=\"refused\"}"
        ),
        Some(1.0),
        "the unknown passkey's announce is counted refused"
    );
    assert_eq!(
        metric(&text, "torrent_tracker_seeders "),
        Some(2.0),
        "HTTP and UDP seeder"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ledger stake --credit` with a wrong operator token is refused (exit code 2).
#[test]
fn a_stake_credit_with_a_wrong_operator_token_is_refused() {
    let dir = temp("reg_token");
    let (svc, _, _) = registered(&dir);
    let out = bin()
        .args([
            "ledger",
            "--server",
            &format!("http://{}", svc.tracker()),
            "stake",
            "--credit",
            &seeder_key(1).address().to_string(),
            "--amount",
            "1",
        ])
        .env("TORRENT_SERVICE_AUTH_TOKEN", "nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A registration signed by @bsv/sdk is accepted beside our CLI's; a replay, a forgery, a
/// stale one, one signed for another tracker and garbage are refused, each with its reason
/// counted in the metrics.
#[test]
fn an_sdk_signed_registration_is_accepted_and_replays_forgeries_and_stale_ones_refused() {
    let dir = temp("reg_sdk");
    let (svc, _, _) = registered(&dir);
    let t = svc.tracker();
    let base = format!("http://{t}");
    let k2 = seeder_key(2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let nonce = "0123456789abcdef0123456789abcdef";
    let msg = register::message(&t, &k2.address().to_string(), nonce, now);
    let sig = sdk_sign(&k2.to_wif(), &msg);
    let body = json!({"address": k2.address().to_string(), "timestamp": now, "nonce": nonce, "signature": sig});
    let (status, reply) = post_json(&format!("{base}/register"), &body, None);
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["announce_url"]
            .as_str()
            .unwrap()
            .contains(reply["passkey"].as_str().unwrap())
    );
    let (status, reply) = post_json(&format!("{base}/register"), &body, None);
    assert_eq!((status, reply["reason"].as_str()), (409, Some("replay")));
    let forged = json!({"address": seeder_key(3).address().to_string(), "timestamp": now, "nonce": "11111111111111111111111111111111", "signature": sig});
    let (status, reply) = post_json(&format!("{base}/register"), &forged, None);
    assert_eq!((status, reply["reason"].as_str()), (401, Some("signature")));
    let stale_msg = register::message(
        &t,
        &k2.address().to_string(),
        "22222222222222222222222222222222",
        now - 3600,
    );
    let stale = json!({"address": k2.address().to_string(), "timestamp": now - 3600, "nonce": "22222222222222222222222222222222", "signature": sdk_sign(&k2.to_wif(), &stale_msg)});
    let (status, reply) = post_json(&format!("{base}/register"), &stale, None);
    assert_eq!((status, reply["reason"].as_str()), (400, Some("expired")));
    let other_domain = register::message(
        "other.example:6969",
        &k2.address().to_string(),
        "33333333333333333333333333333333",
        now,
    );
    let replayed = json!({"address": k2.address().to_string(), "timestamp": now, "nonce": "33333333333333333333333333333333", "signature": sdk_sign(&k2.to_wif(), &other_domain)});
    assert_eq!(
        post_json(&format!("{base}/register"), &replayed, None).0,
        401
    );
    let (status, _) = post_json(&format!("{base}/register"), &json!({"garbage": true}), None);
    assert_eq!(status, 400);

    let text = metrics(svc.ready["http"].as_str().unwrap());
    assert_eq!(
        metric(&text, "torrent_tracker_registrations_total "),
        Some(2.0),
        "our CLI's and the SDK's"
    );
    assert_eq!(
        metric(
            &text,
            "torrent_tracker_registrations_rejected_total{reason=\"replay\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "torrent_tracker_registrations_rejected_total{reason=\"signature\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &text,
            "torrent_tracker_registrations_rejected_total{reason=\"expired\"}"
        ),
        Some(1.0)
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Registrations, stakes and seeder activity survive a restart: the same passkey still
/// seeds, and the announce count kept growing.
#[test]
fn registrations_stakes_and_announce_counts_survive_a_restart() {
    let dir = temp("reg_restart");
    let (svc, url, passkey) = staked(&dir);
    let t = svc.tracker();
    announce_three_ways(&t, &url, &passkey);
    svc.stop();
    let svc = Service::start(&dir);
    let url2 = url.replace(&t, &svc.tracker());
    let r = get_bytes(&announce_url(
        &url2,
        &REG_IH,
        b"-qB4500-aaaaaaaaaaaa",
        6881,
        0,
        "&uploaded=5000",
    ));
    assert_eq!(failure(&r), None, "passkey lost across restart");
    let out = bin()
        .args(["ledger", "--config"])
        .arg(&svc.config)
        .args([
            "--server",
            &format!("http://{}", svc.tracker()),
            "--json",
            "stake",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seeders: Value = serde_json::from_slice(&out.stdout).unwrap();
    let me = seeders
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == seeder_key(1).address().to_string())
        .unwrap();
    assert_eq!(me["stake"], 100_000);
    assert_eq!(
        me["announces"], 4,
        "3 before the restart (HTTP twice, UDP once; flushed at shutdown) and 1 after"
    );
    assert_eq!(me["uploaded_claimed"], 5000);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The info hash the protocol tests announce.
const PROTO_IH: [u8; 20] = [9u8; 20];

/// Over HTTP without passkeys: a leecher starts, a seeder joins, the leecher completes;
/// returns the three replies.
fn http_swarm(base: &str) -> [torrent_core::bencode::Value; 3] {
    [
        (b"-TR3000-leecher00001", 51413, 1000, "&event=started"),
        (
            b"-TR3000-seeder000001",
            51414,
            0,
            "&event=started&compact=0",
        ),
        (b"-TR3000-leecher00001", 51413, 0, "&event=completed"),
    ]
    .map(|(peer, port, left, extra)| {
        bdecode(&get_bytes(&announce_url(
            base, &PROTO_IH, peer, port, left, extra,
        )))
    })
}

/// Anonymous leechers are welcome, and a seeder without a passkey too (just not counted as
/// a registered seeder): the seeder is given the leecher, seeders are not given seeders, and
/// the HTTP scrape counts two complete, one download, none incomplete.
#[test]
fn http_announces_without_passkeys_swap_peers_and_the_scrape_counts_them() {
    let dir = temp("proto_http");
    let svc = Service::start(&dir);
    let t = svc.tracker();
    let [started, seeder, completed] = http_swarm(&format!("http://{t}/announce"));
    assert_eq!(started.get("incomplete").and_then(|v| v.as_int()), Some(1));
    let peers = seeder.get("peers").unwrap().as_list().unwrap();
    assert_eq!(peers.len(), 1, "a seeder sees the leecher");
    assert_eq!(peers[0].get("port").and_then(|p| p.as_int()), Some(51413));
    assert_eq!(
        completed.get("peers").unwrap().as_bytes().unwrap().len(),
        0,
        "seeders are not sent to seeders"
    );
    let s = bdecode(&get_bytes(&format!(
        "http://{t}/scrape?info_hash={}",
        pct(&PROTO_IH)
    )));
    let f = s
        .get("files")
        .unwrap()
        .as_dict()
        .unwrap()
        .get(&PROTO_IH.to_vec())
        .unwrap()
        .clone();
    assert_eq!(
        (
            f.get("complete").unwrap().as_int(),
            f.get("downloaded").unwrap().as_int(),
            f.get("incomplete").unwrap().as_int()
        ),
        (Some(2), Some(1), Some(0))
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Strict parsing of HTTP announces: one failure reason each, and the tracker keeps
/// serving; a huge `numwant` is capped at 200 peers.
#[test]
fn malformed_http_announces_get_one_failure_reason_each_and_numwant_is_capped() {
    let dir = temp("proto_bad");
    let svc = Service::start(&dir);
    let t = svc.tracker();
    let base = format!("http://{t}/announce");
    let ih = PROTO_IH;
    http_swarm(&base);
    for (q, needle) in [
        (
            format!("{base}?info_hash=abc&peer_id=-TR3000-leecher00001&port=1&left=0"),
            "info_hash",
        ),
        (
            format!("{base}?peer_id=-TR3000-leecher00001&port=1&left=0"),
            "info_hash",
        ),
        (
            format!("{base}?info_hash={}&peer_id=short&port=1&left=0", pct(&ih)),
            "peer_id",
        ),
        (format!("{base}?info_hash=%zz"), "percent"),
        (
            announce_url(&base, &ih, b"-TR3000-leecher00002", 0, 0, ""),
            "port",
        ),
    ] {
        let reason = failure(&get_bytes(&q)).unwrap_or_default();
        assert!(reason.contains(needle), "{q}: {reason}");
    }
    let r = bdecode(&get_bytes(&announce_url(
        &base,
        &ih,
        b"-TR3000-leecher00003",
        1,
        5,
        "&numwant=99999999999",
    )));
    assert!(r.get("peers").unwrap().as_bytes().unwrap().len() <= 6 * 200);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A UDP socket connected to `tracker`, 5 s read timeout, and its connection id from a
/// connect with transaction id 77 (checked); returns the socket, the connect request and the
/// connection id.
fn udp_connected(tracker: &str) -> (UdpSocket, Vec<u8>, u64) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.connect(tracker).unwrap();
    let mut connect = 0x0417_2710_1980u64.to_be_bytes().to_vec();
    connect.extend_from_slice(&0u32.to_be_bytes());
    connect.extend_from_slice(&77u32.to_be_bytes());
    sock.send(&connect).unwrap();
    let mut buf = [0u8; 2048];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(n, 16);
    assert_eq!(&buf[4..8], &77u32.to_be_bytes());
    let cid = u64::from_be_bytes(buf[8..16].try_into().unwrap());
    (sock, connect, cid)
}

/// A UDP announce of [`PROTO_IH`] (BEP 15) by peer id `[peer; 20]` with `left` bytes left.
fn udp_announce(cid: u64, tid: u32, left: u64, peer: u8) -> Vec<u8> {
    let mut a = cid.to_be_bytes().to_vec();
    a.extend_from_slice(&1u32.to_be_bytes());
    a.extend_from_slice(&tid.to_be_bytes());
    a.extend_from_slice(&PROTO_IH);
    a.extend_from_slice(&[peer; 20]);
    a.extend_from_slice(&0u64.to_be_bytes());
    a.extend_from_slice(&left.to_be_bytes());
    a.extend_from_slice(&0u64.to_be_bytes());
    a.extend_from_slice(&2u32.to_be_bytes());
    a.extend_from_slice(&[0; 8]);
    a.extend_from_slice(&(-1i32).to_be_bytes());
    a.extend_from_slice(&7000u16.to_be_bytes());
    a
}

/// UDP connect, announce and scrape see the swarm that HTTP built (two seeders, and with
/// the UDP leecher two leechers); a wrong connection id gets no reply at all.
#[test]
fn udp_announce_and_scrape_see_the_http_swarm_and_a_wrong_connection_id_gets_silence() {
    let dir = temp("proto_udp");
    let svc = Service::start(&dir);
    let t = svc.tracker();
    let base = format!("http://{t}/announce");
    // Two seeders (one completed leecher) and a leecher, over HTTP.
    http_swarm(&base);
    let r = get_bytes(&announce_url(
        &base,
        &PROTO_IH,
        b"-TR3000-leecher00003",
        1,
        5,
        "",
    ));
    assert_eq!(failure(&r), None);
    let (sock, _, cid) = udp_connected(&t);
    let mut buf = [0u8; 2048];
    sock.send(&udp_announce(cid, 78, 100, 0x51)).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(
        u32::from_be_bytes(buf[0..4].try_into().unwrap()),
        1,
        "announce response"
    );
    assert_eq!(&buf[4..8], &78u32.to_be_bytes());
    let (leechers, seeders) = (
        u32::from_be_bytes(buf[12..16].try_into().unwrap()),
        u32::from_be_bytes(buf[16..20].try_into().unwrap()),
    );
    assert_eq!((leechers, seeders), (2, 2));
    assert_eq!((n - 20) % 6, 0);
    assert!(n > 20, "peers returned over UDP");
    // A wrong connection id gets no reply at all: a spoofed source must not be able to
    // aim replies at a victim (opentracker does the same).
    sock.send(&udp_announce(cid ^ 1, 79, 100, 0x52)).unwrap();
    let e = sock.recv(&mut buf).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    let mut scrape = cid.to_be_bytes().to_vec();
    scrape.extend_from_slice(&2u32.to_be_bytes());
    scrape.extend_from_slice(&80u32.to_be_bytes());
    scrape.extend_from_slice(&PROTO_IH);
    sock.send(&scrape).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(n, 20);
    assert_eq!(
        u32::from_be_bytes(buf[8..12].try_into().unwrap()),
        2,
        "UDP scrape seeders"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Garbage and truncated UDP packets get errors or silence, never a crash: the tracker
/// still answers a connect afterwards.
#[test]
fn udp_garbage_and_truncations_leave_the_tracker_answering() {
    let dir = temp("proto_junk");
    let svc = Service::start(&dir);
    let (sock, connect, cid) = udp_connected(&svc.tracker());
    let mut buf = [0u8; 2048];
    for junk in [
        &b"x"[..],
        &[0u8; 15],
        &connect[..12],
        &udp_announce(cid, 81, 1, 1)[..60],
    ] {
        sock.send(junk).unwrap();
    }
    sock.send(&connect).unwrap();
    let mut got_connect = false;
    for _ in 0..5 {
        let Ok(n) = sock.recv(&mut buf) else { break };
        if n == 16 && buf[..4] == [0, 0, 0, 0] {
            got_connect = true;
            break;
        }
    }
    assert!(got_connect, "the tracker still answers after garbage");
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn libtorrent_seeder_with_passkey_and_aria2_leecher_exchange_a_bundle() {
    let dir = temp("clients");
    let svc = Service::start(&dir);
    let t = svc.tracker();
    let base = format!("http://{t}");
    // The seeder registers (our `register` command) and is staked (`ledger stake --credit`).
    let passkey_url = crate::common::register_staked(&svc, &dir, 10);
    // A bundle of block 413567 announcing to our tracker (anonymous URL inside the torrent).
    let out_dir = dir.join("bundles");
    let bundle =
        crate::common::bundle_413567(&dir, &out_dir, &["--tracker", &format!("{base}/announce")]);
    let torrent = bundle["torrent"].as_str().unwrap().to_string();

    // libtorrent seeds with the passkey URL.
    let (seeder, mut seeder_out, seeding) =
        crate::common::lt_seed(&torrent, &out_dir, &passkey_url);
    assert_eq!(
        seeding["seeding"], true,
        "libtorrent verified our data and seeds"
    );
    // Wait until the tracker lists the registered seeder.
    let ih_hex = bundle["infohash_v1"].as_str().unwrap();
    let ih: Vec<u8> = torrent_core::hex::decode(ih_hex).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = bdecode(&get_bytes(&format!("{base}/scrape?info_hash={}", pct(&ih))));
        let complete = s
            .get("files")
            .and_then(|f| f.as_dict().and_then(|d| d.get(&ih).cloned()))
            .and_then(|f| f.get("complete").and_then(|c| c.as_int()));
        if complete == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "libtorrent never announced as a seeder"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // aria2 leeches anonymously through the tracker and gets the bytes.
    let leech = dir.join("leech");
    std::fs::create_dir_all(&leech).unwrap();
    let ok = crate::common::aria2(Path::new(&torrent), &leech);
    assert!(ok, "aria2c failed");
    for f in bundle["files"].as_array().unwrap() {
        let rel = f.as_str().unwrap();
        let name = bundle["name"].as_str().unwrap();
        let ours = std::fs::read(out_dir.join(name).join(rel)).unwrap();
        let theirs =
            std::fs::read(leech.join(name).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(ours == theirs, "{rel} differs after the download");
    }
    let _ = Command::new("kill").arg(seeder.0.id().to_string()).status();
    let mut rest = String::new();
    let _ = seeder_out.read_line(&mut rest);
    drop(seeder);
    let uploaded: Value = serde_json::from_str(&rest).unwrap_or(Value::Null);
    assert!(
        uploaded["uploaded"].as_u64().unwrap_or(0) > 1_000_000,
        "libtorrent uploaded the bundle: {rest}"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Scrape numbers of `ih` over HTTP: (complete, downloaded, incomplete).
fn scrape(base: &str, ih: &[u8]) -> (i64, i64, i64) {
    let s = bdecode(&get_bytes(&format!("{base}/scrape?info_hash={}", pct(ih))));
    let f = s
        .get("files")
        .and_then(|f| f.as_dict().and_then(|d| d.get(&ih.to_vec()).cloned()));
    let n = |k: &str| {
        f.as_ref()
            .and_then(|f| f.get(k).and_then(|c| c.as_int()))
            .unwrap_or(0)
    };
    (n("complete"), n("downloaded"), n("incomplete"))
}

/// The attack of DESIGN §15 "Peers": a stranger learns a staked libtorrent seeder's peer id
/// from the peer-wire handshake, then announces it over UDP from another address (127.0.0.2):
/// `stopped` to drop the seeder, then a regular announce to move it to the stranger's port.
/// Before, the first removed the seeder and the second redirected it; now neither touches
/// it: leechers are still sent the seeder's own address, and the stranger is only a peer of
/// its own. Repeated `completed` announces do not inflate scrape's `downloaded` either.
#[test]
fn a_hijacking_announce_reusing_a_seeders_peer_id_changes_nothing() {
    use std::io::Read;
    use torrent_core::peer::wire::{HANDSHAKE_LEN, Handshake};

    let dir = temp("hijack");
    let svc = Service::start(&dir);
    let t = svc.tracker();
    let base = format!("http://{t}");
    let passkey_url = crate::common::register_staked(&svc, &dir, 11);
    let out_dir = dir.join("bundles");
    let bundle =
        crate::common::bundle_413567(&dir, &out_dir, &["--tracker", &format!("{base}/announce")]);
    let torrent = bundle["torrent"].as_str().unwrap().to_string();
    let (_seeder, _out, seeding) = crate::common::lt_seed(&torrent, &out_dir, &passkey_url);
    let lt_port = seeding["port"].as_u64().unwrap() as u16;
    let ih: [u8; 20] = torrent_core::hex::decode(bundle["infohash_v1"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    crate::common::wait_for("libtorrent announced as a seeder", 30, || {
        scrape(&base, &ih).0 == 1
    });

    // The stranger learns the seeder's peer id the way any peer does: a handshake.
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", lt_port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(
        &Handshake {
            reserved: [0; 8],
            info_hash: ih,
            peer_id: *b"-XX0001-stranger0000",
        }
        .encode(),
    )
    .unwrap();
    let mut hs = [0u8; HANDSHAKE_LEN];
    conn.read_exact(&mut hs).unwrap();
    let seeder_id = Handshake::decode(&hs).unwrap().peer_id;
    drop(conn);

    // Its announces, over UDP from 127.0.0.2.
    let sock = UdpSocket::bind("127.0.0.2:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.connect(&t).unwrap();
    let mut buf = [0u8; 2048];
    let mut connect = 0x0417_2710_1980u64.to_be_bytes().to_vec();
    connect.extend_from_slice(&0u32.to_be_bytes());
    connect.extend_from_slice(&1u32.to_be_bytes());
    sock.send(&connect).unwrap();
    assert_eq!(sock.recv(&mut buf).unwrap(), 16);
    let cid = u64::from_be_bytes(buf[8..16].try_into().unwrap());
    let mut announce = |event: u32, port: u16| {
        let mut a = cid.to_be_bytes().to_vec();
        a.extend_from_slice(&1u32.to_be_bytes());
        a.extend_from_slice(&2u32.to_be_bytes());
        a.extend_from_slice(&ih);
        a.extend_from_slice(&seeder_id);
        a.extend_from_slice(&[0; 16]); // downloaded, left = 0: a seeder
        a.extend_from_slice(&0u64.to_be_bytes());
        a.extend_from_slice(&event.to_be_bytes());
        a.extend_from_slice(&[0; 8]);
        a.extend_from_slice(&(-1i32).to_be_bytes());
        a.extend_from_slice(&port.to_be_bytes());
        sock.send(&a).unwrap();
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..4], &1u32.to_be_bytes(), "{:?}", &buf[..n]);
    };
    let leecher_sees = || -> Vec<(String, i64)> {
        let r = bdecode(&get_bytes(&announce_url(
            &format!("{base}/announce"),
            &ih,
            b"-TR3000-watcher00001",
            40000,
            1000,
            "&compact=0",
        )));
        r.get("peers")
            .unwrap()
            .as_list()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    String::from_utf8_lossy(p.get("ip").unwrap().as_bytes().unwrap()).into_owned(),
                    p.get("port").unwrap().as_int().unwrap(),
                )
            })
            .collect()
    };
    let seeder_addr = ("127.0.0.1".to_string(), i64::from(lt_port));
    assert_eq!(leecher_sees(), std::slice::from_ref(&seeder_addr));
    let before = scrape(&base, &ih);

    announce(3, lt_port); // stopped
    assert_eq!(scrape(&base, &ih).0, 1, "the seeder was not dropped");
    assert_eq!(leecher_sees(), std::slice::from_ref(&seeder_addr));
    announce(2, 9999); // started, at the stranger's port
    for _ in 0..5 {
        announce(1, 9999); // completed, again and again
    }
    let seen = leecher_sees();
    assert!(
        seen.contains(&seeder_addr),
        "the seeder was moved: {seen:?}"
    );
    assert!(
        seen.contains(&("127.0.0.2".to_string(), 9999)),
        "the stranger is a peer of its own"
    );
    let after = scrape(&base, &ih);
    assert_eq!(after.0, 2, "the seeder and the stranger");
    assert!(
        after.1 <= before.1 + 1,
        "five completions of one stranger count once at most: {before:?} then {after:?}"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn per_ip_rate_limit_answers_with_a_failure_and_keeps_serving() {
    let dir = temp("rate");
    let svc = Service::start_with(&dir, "rate_limit_per_ip = 5\ntracker_open = true\n");
    let t = svc.tracker();
    let base = format!("http://{t}/announce");
    let ih = [3u8; 20];
    let mut limited = 0;
    for i in 0..40u32 {
        let mut peer = *b"-TR3000-000000000000";
        peer[8..].copy_from_slice(format!("{i:012}").as_bytes());
        let r = get_bytes(&announce_url(&base, &ih, &peer, 6000, 10, ""));
        if failure(&r).is_some_and(|f| f.contains("rate limited")) {
            limited += 1;
        }
    }
    assert!(
        limited >= 30,
        "only {limited} of 40 rapid announces were limited"
    );
    // After a second the budget refills (the metrics scrape spends it too: every public
    // route is limited).
    std::thread::sleep(Duration::from_millis(1100));
    let text = String::from_utf8(get_bytes(&format!(
        "http://{}/metrics",
        svc.ready["http"].as_str().unwrap()
    )))
    .unwrap();
    assert_eq!(
        metric(
            &text,
            "torrent_tracker_announces_total{protocol=\"http\",outcome=\"rate_limited\"}"
        ),
        Some(f64::from(limited))
    );
    let r = get_bytes(&announce_url(
        &base,
        &ih,
        b"-TR3000-999999999999",
        6000,
        10,
        "",
    ));
    assert_eq!(failure(&r), None);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// @bsv/sdk builds a BEEF of `raw_tx` with `bump` (tests/interop/beef.mjs).
fn sdk_beef(raw_tx: &[u8], bump: &[u8]) -> Value {
    let request = json!({"raw_tx": torrent_core::hex::encode(raw_tx), "bump": torrent_core::hex::encode(bump)});
    node("beef.mjs", &[request]).remove(0)
}

/// A regtest chain whose second transaction in every block pays the operator's stake
/// address and names the seeder it stakes for (DESIGN §15), and a service in SPV stake mode
/// on its headers; the stake transaction (block 1, tx 1) with its BUMP wrapped in a BEEF by
/// @bsv/sdk (both forms), the V1 form also in `stake.beef`.
struct SpvStake {
    svc: Service,
    dir: PathBuf,
    base: String,
    blocks: Vec<torrent_tests::chain_gen::GeneratedBlock>,
    seeder: PrivateKey,
    /// Block 1.
    block: torrent_core::bsv::block::Block,
    /// `{"beef", "atomic"}` from @bsv/sdk.
    beefs: Value,
    beef_file: PathBuf,
}

/// [`SpvStake`] in `temp(name)`.
fn spv_stake(name: &str) -> SpvStake {
    use torrent_core::bsv::block::{Block, BlockLimits};
    use torrent_core::bsv::merkle::MerkleTree;
    use torrent_core::proof::bump::Bump;
    use torrent_tests::chain_gen::{ChainSpec, OutputFormat, write_chain};

    let dir = temp(name);
    let operator = PrivateKey::from_bytes(&sha256d(b"operator"), Network::Testnet).unwrap();
    let stake_address = operator.address();
    let seeder = PrivateKey::from_bytes(&sha256d(b"seeder"), Network::Testnet).unwrap();
    // A regtest chain whose second transaction in every block pays the stake address and
    // names the seeder it stakes for (DESIGN §15).
    let chain = dir.join("chain");
    let blocks = write_chain(
        &ChainSpec {
            blocks: 3,
            txs_per_block: 8,
            block_size: None,
            seed: 5,
            start_time: 1_700_000_000,
            payout: Some((stake_address.hash, 150_000)),
            stake_for: Some(seeder.address().hash),
            repeat_coinbase: None,
            tx_counts: &[],
        },
        &chain,
        OutputFormat::Raw,
    )
    .unwrap();
    let headers: Vec<u8> = blocks
        .iter()
        .flat_map(|b| torrent_core::hex::decode(&b.header).unwrap())
        .collect();
    std::fs::write(dir.join("headers.bin"), headers).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[torrent_service]\ndata_dir = \"{}\"\ntracker_port = 0\nhttp_port = 0\nlisten_host = \"127.0.0.1\"\npeer_port = 0\nproof_rpc_port = 0\nrate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nallow_private_proof_urls = true\ntracker_open = true\nnetwork = \"regtest\"\nstake_mode = \"spv\"\nstake_address = \"{stake_address}\"\nheaders_file = \"{}\"\n",
            dir.join("data").display(),
            dir.join("headers.bin").display()
        ),
    )
    .unwrap();
    let svc = Service::start(&dir);
    let base = format!("http://{}", svc.tracker());

    let raw_block = std::fs::read(blocks[1].raw.as_ref().unwrap()).unwrap();
    let block = Block::decode(&raw_block, &BlockLimits::default()).unwrap();
    let tree = MerkleTree::from_txids(&block.txids()).unwrap();
    let stake_tx = block.txs[1].encode();
    let bump = Bump::build(&tree, 1, &[1]).unwrap().encode();
    let beefs = sdk_beef(&stake_tx, &bump);
    let beef_file = dir.join("stake.beef");
    std::fs::write(&beef_file, beefs["beef"].as_str().unwrap()).unwrap();
    SpvStake {
        svc,
        dir,
        base,
        blocks,
        seeder,
        block,
        beefs,
        beef_file,
    }
}

/// The seeder registers and proves its stake in one command (`register --stake-beef`):
/// credited 150,000 sat by the stake transaction, and its passkey may seed.
fn register_with_stake(f: &SpvStake) -> Value {
    let SpvStake {
        dir,
        base,
        seeder,
        block,
        beef_file,
        ..
    } = f;
    let wif = dir.join("seeder.wif");
    std::fs::write(&wif, seeder.to_wif()).unwrap();
    let out = bin()
        .args(["register", "--wif-file"])
        .arg(&wif)
        .args(["--tracker", base, "--stake-beef"])
        .arg(beef_file)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reg: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reg["stake"], 150_000);
    assert_eq!(reg["stake_txid"], block.txs[1].txid().to_string());
    let url = reg["announce_url"].as_str().unwrap();
    let r = get_bytes(&announce_url(
        url,
        &[1; 20],
        b"-lt0D80-cccccccccccc",
        6881,
        0,
        "",
    ));
    assert_eq!(failure(&r), None, "a staked seeder may seed");

    reg
}

/// Our BEEF parser reads both of the forms @bsv/sdk writes (V1 and atomic, BRC-95), each
/// naming the stake transaction as its subject.
#[test]
fn both_beef_forms_of_the_sdk_parse_to_the_stake_transaction() {
    let SpvStake {
        svc,
        dir,
        block,
        beefs,
        ..
    } = spv_stake("spv_forms");
    for form in ["beef", "atomic"] {
        let b = torrent_core::bsv::beef::Beef::decode(
            &torrent_core::hex::decode(beefs[form].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(b.subject_tx().unwrap().txid, block.txs[1].txid(), "{form}");
    }
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The attack: another registered account claims the seeder's public payment. Our CLI
/// refuses before registering; the tracker refuses the raw call; nothing is credited; and
/// the payment the thief tried is still there for its payer.
#[test]
fn a_stake_payment_claimed_by_another_account_is_refused_and_stays_its_payers() {
    let f = spv_stake("spv_thief");
    let SpvStake {
        dir,
        base,
        seeder,
        beefs,
        beef_file,
        ..
    } = &f;
    let thief = PrivateKey::from_bytes(&sha256d(b"thief"), Network::Testnet).unwrap();
    let thief_wif = dir.join("thief.wif");
    std::fs::write(&thief_wif, thief.to_wif()).unwrap();
    let out = bin()
        .args(["register", "--wif-file"])
        .arg(&thief_wif)
        .args(["--tracker", base, "--stake-beef"])
        .arg(beef_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("it stakes for {}", seeder.address()))
            && stderr.contains(&torrent_core::bsv::stake::commitment_hex(&thief.address())),
        "{stderr}"
    );
    let out = bin()
        .args(["register", "--json", "--wif-file"])
        .arg(&thief_wif)
        .args(["--tracker", base])
        .output()
        .unwrap();
    assert!(out.status.success());
    let thief_reg: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        thief_reg["stake_commitment"],
        torrent_core::bsv::stake::commitment_hex(&thief.address()),
        "registration tells the seeder what to commit to"
    );
    let thief_stake = format!(
        "{base}/stake?passkey={}",
        thief_reg["passkey"].as_str().unwrap()
    );
    for form in ["beef", "atomic"] {
        let (status, reply) = post_json(&thief_stake, &json!({"beef": beefs[form]}), None);
        assert_eq!(status, 403, "{reply}");
        assert!(
            reply["error"].as_str().unwrap().contains("stakes for"),
            "{reply}"
        );
    }
    let r = get_bytes(&announce_url(
        thief_reg["announce_url"].as_str().unwrap(),
        &[1; 20],
        b"-lt0D80-tttttttttttt",
        6882,
        0,
        "",
    ));
    assert!(
        failure(&r).is_some_and(|f| f.contains("stake of 0 sat")),
        "the thief has no stake: {:?}",
        failure(&r)
    );

    register_with_stake(&f);
    let SpvStake { svc, dir, .. } = f;
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stake payment is credited once: the same payment again is refused, as are a payment
/// to another address, a path to an unknown height or the wrong root, garbage and an
/// unknown passkey; a second, distinct payment is credited on top.
#[test]
fn a_stake_payment_is_credited_once_and_bad_beefs_are_refused() {
    use torrent_core::bsv::block::{Block, BlockLimits};
    use torrent_core::bsv::merkle::MerkleTree;
    use torrent_core::proof::bump::Bump;

    let f = spv_stake("spv_once");
    let reg = register_with_stake(&f);
    let SpvStake {
        svc,
        dir,
        base,
        blocks,
        beefs,
        ..
    } = f;
    let passkey = reg["passkey"].as_str().unwrap();
    let stake_url = format!("{base}/stake?passkey={passkey}");
    // The same payment twice: refused.
    let (status, reply) = post_json(&stake_url, &json!({"beef": beefs["atomic"]}), None);
    assert_eq!(status, 409, "{reply}");
    // A transaction that pays nothing to the stake address (tx 2 of block 2).
    let raw2 = std::fs::read(blocks[2].raw.as_ref().unwrap()).unwrap();
    let b2 = Block::decode(&raw2, &BlockLimits::default()).unwrap();
    let t2 = MerkleTree::from_txids(&b2.txids()).unwrap();
    // Each refusal: a BEEF of (transaction, index) of block 2 with a path claiming `height`.
    let refused = |tx: usize, height: u64, needle: &str| {
        let beef = sdk_beef(
            &b2.txs[tx].encode(),
            &Bump::build(&t2, height, &[tx as u64]).unwrap().encode(),
        );
        let (status, reply) = post_json(&stake_url, &json!({"beef": beef["beef"]}), None);
        assert_eq!(status, 400, "{reply}");
        assert!(reply["error"].as_str().unwrap().contains(needle), "{reply}");
    };
    refused(2, 2, "pays nothing");
    // The payment of block 2 with a path claiming another height: no such header.
    refused(1, 7, "no header");
    // A path for block 2 presented as block 1: the root does not match.
    refused(1, 1, "merkle root differs");
    // Garbage and unknown passkeys.
    assert_eq!(
        post_json(&stake_url, &json!({"beef": "0100beef00"}), None).0,
        400
    );
    assert_eq!(
        post_json(
            &format!("{base}/stake?passkey=nope"),
            &json!({"beef": beefs["beef"]}),
            None
        )
        .0,
        401
    );
    // Block 2's payment is a second, distinct stake: credited on top.
    let second = sdk_beef(
        &b2.txs[1].encode(),
        &Bump::build(&t2, 2, &[1]).unwrap().encode(),
    );
    let (status, reply) = post_json(&stake_url, &json!({"beef": second["beef"]}), None);
    assert_eq!(
        (status, reply["stake"].as_u64()),
        (200, Some(300_000)),
        "{reply}"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A service whose bundle store holds block 413567's bundle, made with its web seed URL.
struct WebSeeded {
    svc: Service,
    dir: PathBuf,
    /// The service's bundle store.
    bundles: PathBuf,
    /// `bundle --json` of the bundle.
    bundle: Value,
    webseed: String,
    /// The bundle's name.
    name: String,
    /// The web seed URL of the block's file in the bundle.
    url: String,
    /// Block 413567.
    raw: Vec<u8>,
}

/// [`WebSeeded`] in `temp(name)`.
fn web_seeded(name: &str) -> WebSeeded {
    let dir = temp(name);
    let svc = Service::start(&dir);
    let bundles = PathBuf::from(svc.ready["bundles"].as_str().unwrap());
    let webseed = svc.ready["webseed_url"].as_str().unwrap().to_string();
    let raw = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/blocks/block-413567.bin"),
    )
    .unwrap();
    let bundle = crate::common::bundle_413567(&dir, &bundles, &["--web-seed", &webseed]);
    let name = bundle["name"].as_str().unwrap().to_string();
    let block_rel = bundle["files"][0].as_str().unwrap();
    let url = format!("{webseed}{name}/{block_rel}");
    WebSeeded {
        svc,
        dir,
        bundles,
        bundle,
        webseed,
        name,
        url,
        raw,
    }
}

/// The registry lists a new bundle (its in-memory catalog sees the new torrent within a
/// second) with its web seed in the magnet, serves its torrent byte for byte, and answers
/// 400 or 404 for a bad or unknown info hash.
#[test]
fn the_registry_lists_a_new_bundle_and_serves_its_torrent() {
    let WebSeeded {
        svc, dir, bundle, ..
    } = web_seeded("webseed_registry");
    let http = svc.ready["http"].as_str().unwrap();
    let mut list = Value::Null;
    crate::common::wait_for("the registry to list the new bundle", 10, || {
        list = serde_json::from_slice(&get_bytes(&format!("http://{http}/v1/bundles"))).unwrap();
        list.as_array().is_some_and(|l| !l.is_empty())
    });
    let entry = &list.as_array().unwrap()[0];
    assert_eq!(entry["name"], bundle["name"]);
    assert_eq!(
        (entry["first"].as_u64(), entry["last"].as_u64()),
        (Some(413_567), Some(413_567))
    );
    assert_eq!(entry["infohash_v1"], bundle["infohash_v1"]);
    assert_eq!(entry["seeders"], 0);
    assert!(
        entry["magnet"].as_str().unwrap().contains("&ws="),
        "{entry}"
    );
    let served = get_bytes(entry["torrent_url"].as_str().unwrap());
    assert_eq!(
        served,
        std::fs::read(bundle["torrent"].as_str().unwrap()).unwrap()
    );
    assert_eq!(
        agent()
            .get(&format!("http://{http}/v1/bundles/nothex.torrent"))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        agent()
            .get(&format!(
                "http://{http}/v1/bundles/{}.torrent",
                "0".repeat(40)
            ))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The web seed serves a block's file whole, a range, a suffix range, refuses an
/// unsatisfiable range with 416, and answers HEAD with the length.
#[test]
fn the_web_seed_serves_whole_files_ranges_and_head() {
    let WebSeeded {
        svc, dir, url, raw, ..
    } = web_seeded("webseed_ranges");
    let mut r = agent().get(&url).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.body_mut()
            .with_config()
            .limit(10 << 20)
            .read_to_vec()
            .unwrap(),
        raw
    );
    let mut r = agent()
        .get(&url)
        .header("range", "bytes=100-199")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        r.headers().get("content-range").unwrap(),
        &format!("bytes 100-199/{}", raw.len())
    );
    assert_eq!(r.body_mut().read_to_vec().unwrap(), &raw[100..200]);
    let mut r = agent()
        .get(&url)
        .header("range", "bytes=-10")
        .call()
        .unwrap();
    assert_eq!(r.body_mut().read_to_vec().unwrap(), &raw[raw.len() - 10..]);
    let r = agent()
        .get(&url)
        .header("range", &format!("bytes={}-{}", raw.len(), raw.len() + 5))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 416);
    assert_eq!(
        r.headers().get("content-range").unwrap(),
        &format!("bytes */{}", raw.len())
    );
    let r = agent().head(&url).call().unwrap();
    assert_eq!(
        r.headers().get("content-length").unwrap(),
        &raw.len().to_string()
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pad files the torrent declares are zeros; any other is 404, however long it claims to
/// be (DESIGN §16); nothing outside the bundle store is reachable.
#[test]
fn the_web_seed_serves_declared_pad_files_and_nothing_outside_the_store() {
    let WebSeeded {
        svc,
        dir,
        bundle,
        webseed,
        name,
        ..
    } = web_seeded("webseed_pads");
    let m = torrent_core::metainfo::Metainfo::parse(
        &std::fs::read(bundle["torrent"].as_str().unwrap()).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let pad = m
        .files
        .iter()
        .find(|f| f.pad)
        .expect("the bundle has pad files");
    let mut r = agent()
        .get(&format!("{webseed}{name}/{}", pad.path.join("/")))
        .call()
        .unwrap();
    assert_eq!(
        r.body_mut().read_to_vec().unwrap(),
        vec![0u8; pad.length as usize]
    );
    let undeclared = m
        .files
        .iter()
        .filter(|f| f.pad)
        .map(|f| f.length)
        .max()
        .unwrap()
        + 1;
    for url in [
        format!("{webseed}{name}/.pad/{undeclared}"),
        format!("{webseed}{name}/.pad/18446744073709551615"),
        format!("{webseed}nope/.pad/{}", pad.length),
    ] {
        assert_eq!(
            agent().get(&url).call().unwrap().status().as_u16(),
            404,
            "{url}"
        );
        assert_eq!(
            agent().head(&url).call().unwrap().status().as_u16(),
            404,
            "{url}"
        );
    }
    for bad in ["../config.toml", "%2e%2e/config.toml", "nope/blocks/x.bin"] {
        let s = agent()
            .get(&format!("{webseed}{bad}"))
            .call()
            .unwrap()
            .status()
            .as_u16();
        assert!(s == 400 || s == 404, "{bad}: {s}");
    }

    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// aria2 downloads the whole bundle from the web seed alone (no tracker, no peers).
#[test]
fn aria2_downloads_a_bundle_from_the_web_seed_alone() {
    let WebSeeded {
        svc,
        dir,
        bundles,
        bundle,
        name,
        ..
    } = web_seeded("webseed_aria2");
    let leech = dir.join("leech");
    std::fs::create_dir_all(&leech).unwrap();
    let ok = crate::common::aria2(Path::new(bundle["torrent"].as_str().unwrap()), &leech);
    assert!(ok, "aria2c from the web seed failed");
    for f in bundle["files"].as_array().unwrap() {
        let rel = f.as_str().unwrap();
        assert!(
            std::fs::read(leech.join(&name).join(rel)).unwrap()
                == std::fs::read(bundles.join(&name).join(rel)).unwrap(),
            "{rel} differs"
        );
    }
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
