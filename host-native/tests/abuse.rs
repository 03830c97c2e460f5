//! Abuse limits against the running binary on loopback (DESIGN §16): idle and half-sent
//! connections closed while fresh clients are served, per-IP connection caps, the gRPC
//! stream limit advertised, tracker state bounded to known torrents, UDP limited only after
//! the connection id (spoofed datagrams cost a victim nothing and get no reply), no error
//! reply larger than its request, limiter keys that expire, rate limits on every public
//! route, failed operator calls limited, registration spam bounded, and a full disk (a
//! tmpfs) that flips health and alerts, then service resuming with every acknowledged write
//! intact. Fair proofs are attacked in `proofs.rs`, undeclared pad files in `tracker.rs`.
//!
//! Attackers and victims are told apart by source address: Linux routes all of 127/8 to
//! loopback, so a client bound to 127.0.0.2 is another IP to the service.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

mod common;

use common::{Service, connect_from, http_from, metric, metrics, temp};

/// Whether the server closes `s` within `d` (reading and discarding anything it sends).
fn closed_within(s: &mut TcpStream, d: Duration) -> bool {
    let deadline = Instant::now() + d;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A gRPC health check over a fresh channel; the channel is kept open (idle) on return.
fn health(rt: &tokio::runtime::Runtime, addr: &str) -> (i32, tonic::transport::Channel) {
    rt.block_on(async {
        let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = tonic_health::pb::health_client::HealthClient::new(ch.clone());
        let r = c
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap();
        (r.into_inner().status, ch)
    })
}

#[test]
fn idle_and_half_sent_connections_are_closed_while_fresh_clients_are_served() {
    let dir = temp("abuse-conn");
    let svc = Service::spawn_with(
        &dir,
        "rate_limit_per_ip = 0\ntracker_open = true\nheader_read_timeout_s = 2\nidle_timeout_s = 3\nmax_connections_per_ip = 6\n",
    );
    let ports = [
        svc.tracker(),
        svc.ready["http"].as_str().unwrap().to_string(),
        svc.ready["grpc"].as_str().unwrap().to_string(),
    ];
    let opened = Instant::now();
    // The attacker (127.0.0.2) fills its share of every listener: idle sockets, and on the
    // HTTP/1 ports a request that never finishes its headers.
    let mut held = Vec::new();
    for addr in &ports {
        for k in 0..6 {
            let mut s = connect_from("127.0.0.2", addr);
            if k == 0 && addr != &ports[2] {
                s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                    .unwrap();
            }
            if k == 1 && addr == &ports[2] {
                // HTTP/2: the preface and SETTINGS, then never a stream.
                s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
                    .unwrap();
            }
            held.push(s);
        }
        // One more from the same IP is over its cap: closed at once.
        let mut extra = connect_from("127.0.0.2", addr);
        assert!(
            closed_within(&mut extra, Duration::from_secs(1)),
            "a seventh connection from one IP to {addr} is refused"
        );
    }
    // Everyone else is served meanwhile, on every listener.
    let (status, body) = http_from("127.0.0.1", &ports[1], "GET", "/metrics", "", "");
    assert_eq!(status, 200, "{body}");
    let (status, _) = http_from("127.0.0.1", &ports[0], "GET", "/scrape", "", "");
    assert_eq!(status, 200);
    let rt = runtime();
    let (serving, idle_channel) = health(&rt, &ports[2]);
    assert_eq!(serving, 1, "SERVING");
    // Within the header-read timeout (2 s) and a little scheduling slack, every held
    // connection is closed by the service.
    for (i, s) in held.iter_mut().enumerate() {
        let left = (opened + Duration::from_secs(5)).saturating_duration_since(Instant::now());
        assert!(
            closed_within(s, left),
            "held connection {i} still open {:?} after it was opened",
            opened.elapsed()
        );
    }
    // The gRPC channel that made one call and then went quiet is closed after the idle
    // timeout (3 s).
    std::thread::sleep(Duration::from_secs(5));
    let text = metrics(svc.ready["http"].as_str().unwrap());
    assert!(
        metric(
            &text,
            "torrent_connections_timed_out_total{listener=\"grpc\"}"
        )
        .unwrap()
            >= 7.0,
        "six held gRPC connections and the idle channel timed out:\n{text}"
    );
    for l in ["tracker", "http", "grpc"] {
        assert!(
            metric(
                &text,
                &format!("torrent_connections_refused_total{{listener=\"{l}\",reason=\"per_ip\"}}")
            )
            .unwrap()
                >= 1.0
        );
        assert!(
            metric(
                &text,
                &format!("torrent_connections_timed_out_total{{listener=\"{l}\"}}")
            )
            .unwrap()
                >= 6.0
        );
    }
    drop(idle_channel);
    // Their slots are free again: the same IP is served.
    let (status, _) = http_from("127.0.0.2", &ports[1], "GET", "/metrics", "", "");
    assert_eq!(status, 200);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_grpc_settings_frame_advertises_the_stream_limit() {
    let dir = temp("abuse-settings");
    let svc = Service::spawn_with(
        &dir,
        "rate_limit_per_ip = 0\ngrpc_max_concurrent_streams = 7\n",
    );
    let mut s = TcpStream::connect(svc.ready["grpc"].as_str().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    // Frames until the server's SETTINGS (type 4, not an ACK).
    let settings = loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head).unwrap();
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).unwrap();
        if head[3] == 4 && head[4] & 1 == 0 {
            break payload;
        }
    };
    let values: Vec<(u16, u32)> = settings
        .chunks_exact(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect();
    assert!(
        values.contains(&(3, 7)),
        "SETTINGS_MAX_CONCURRENT_STREAMS = 7 in {values:?}"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

fn udp_connect(sock: &UdpSocket, tracker: &str) -> u64 {
    let mut req = Vec::new();
    req.extend_from_slice(&0x0417_2710_1980u64.to_be_bytes());
    req.extend_from_slice(&0u32.to_be_bytes());
    req.extend_from_slice(&7u32.to_be_bytes());
    sock.send_to(&req, tracker).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(n, 16);
    u64::from_be_bytes(buf[8..16].try_into().unwrap())
}

fn udp_announce(conn: u64, ih: &[u8; 20], peer: &[u8; 20]) -> Vec<u8> {
    let mut req = Vec::new();
    req.extend_from_slice(&conn.to_be_bytes());
    req.extend_from_slice(&1u32.to_be_bytes());
    req.extend_from_slice(&9u32.to_be_bytes());
    req.extend_from_slice(ih);
    req.extend_from_slice(peer);
    req.extend_from_slice(&0u64.to_be_bytes());
    req.extend_from_slice(&100u64.to_be_bytes());
    req.extend_from_slice(&0u64.to_be_bytes());
    req.extend_from_slice(&2u32.to_be_bytes());
    req.extend_from_slice(&0u32.to_be_bytes());
    req.extend_from_slice(&0u32.to_be_bytes());
    req.extend_from_slice(&(-1i32).to_be_bytes());
    req.extend_from_slice(&6881u16.to_be_bytes());
    req
}

#[test]
fn announces_for_unknown_info_hashes_leave_no_swarm() {
    let dir = temp("abuse-unknown");
    let bundles = dir.join("data/bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    let bundle = common::bundle_413567(&dir, &bundles, &[]);
    let known: [u8; 20] =
        torrent_core::hex::decode_array(bundle["infohash_v1"].as_str().unwrap()).unwrap();
    // No rate limits: this test is about the state unknown info-hashes leave, at full speed.
    let svc = Service::spawn_with(&dir, "rate_limit_per_ip = 0\nrate_limit_global = 0\n");
    let tracker = svc.tracker();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut conn = udp_connect(&sock, &tracker);
    let mut buf = [0u8; 512];
    let n_unknown = 200_000u32;
    for i in 0..n_unknown {
        // A connection id lasts two minutes (BEP 15); on a loaded machine the loop may take
        // longer, so ask for a fresh one now and then, as a client does.
        if i > 0 && i % 20_000 == 0 {
            conn = udp_connect(&sock, &tracker);
        }
        let mut ih = [0xabu8; 20];
        ih[..4].copy_from_slice(&i.to_be_bytes());
        let req = udp_announce(conn, &ih, b"-XX0001-abcdefghijkl");
        sock.send_to(&req, &tracker).unwrap();
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..4], &3u32.to_be_bytes(), "an error reply");
        assert!(n <= req.len());
        if i == 0 {
            assert!(
                String::from_utf8_lossy(&buf[8..n]).contains("not authorized"),
                "{}",
                String::from_utf8_lossy(&buf[8..n])
            );
        }
    }
    // The bundle in the store is served, over UDP and HTTP.
    sock.send_to(
        &udp_announce(conn, &known, b"-XX0001-abcdefghijkl"),
        &tracker,
    )
    .unwrap();
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(
        &buf[..4],
        &1u32.to_be_bytes(),
        "an announce reply for the bundle"
    );
    assert!(n >= 20);
    let text = metrics(svc.ready["http"].as_str().unwrap());
    assert_eq!(
        metric(&text, "torrent_tracker_swarms ").unwrap(),
        1.0,
        "{text}"
    );
    assert_eq!(metric(&text, "torrent_tracker_peers ").unwrap(), 1.0);
    assert_eq!(
        metric(
            &text,
            "torrent_tracker_announces_total{protocol=\"udp\",outcome=\"refused\"}"
        )
        .unwrap(),
        f64::from(n_unknown)
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spoofed_datagrams_cost_a_victim_nothing_and_limiter_keys_expire() {
    let dir = temp("abuse-udp");
    let svc = Service::spawn_with(&dir, "rate_limit_per_ip = 5\ntracker_open = true\n");
    let tracker = svc.tracker();
    let pid = svc.pid();
    // A spoofer sends as the victim (127.0.0.5): bad connection ids, any action.
    let spoof = UdpSocket::bind("127.0.0.5:0").unwrap();
    for i in 0..10_000u32 {
        let mut req = udp_announce(u64::from(i) * 7919, &[1; 20], b"-XX0001-abcdefghijkl");
        if i % 2 == 1 {
            req[8..12].copy_from_slice(&9u32.to_be_bytes());
            req.truncate(16);
        }
        spoof.send_to(&req, &tracker).unwrap();
    }
    spoof
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(
        spoof.recv_from(&mut buf).is_err(),
        "nothing is sent back for a datagram without a valid connection id"
    );
    // The victim's own quota is untouched: its announces over HTTP go through.
    let (status, body) = http_from(
        "127.0.0.5",
        &tracker,
        "GET",
        "/announce?info_hash=%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01&peer_id=-XX0001-abcdefghijkl&port=6881&left=0&compact=1",
        "",
        "",
    );
    assert_eq!(status, 200);
    assert!(body.contains("interval"), "not limited: {body}");
    // With a valid connection id, a malformed request's error is no longer than it.
    let client = UdpSocket::bind("127.0.0.6:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let conn = udp_connect(&client, &tracker);
    for len in [16usize, 20, 40] {
        let mut req = udp_announce(conn, &[1; 20], b"-XX0001-abcdefghijkl");
        req.truncate(len);
        if len == 16 {
            req[8..12].copy_from_slice(&9u32.to_be_bytes());
        }
        client.send_to(&req, &tracker).unwrap();
        let (n, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..4], &3u32.to_be_bytes());
        assert!(n <= len, "a {len}-byte request got a {n}-byte error");
    }
    // 100,000 source addresses, each with a valid connection id and one announce: the
    // limiter remembers them only until their quota refills.
    let rss_before = rss_kib(pid);
    let sources = 100_000u32;
    for i in 0..sources {
        let ip = IpAddr::from([127, 10 + (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        let s = UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let conn = udp_connect(&s, &tracker);
        s.send_to(
            &udp_announce(conn, &[2; 20], b"-XX0001-abcdefghijkl"),
            &tracker,
        )
        .unwrap();
        let _ = s.recv_from(&mut buf).unwrap();
    }
    let peak = metric(
        &metrics(svc.ready["http"].as_str().unwrap()),
        "torrent_rate_limiter_clients{class=\"read\"}",
    )
    .unwrap();
    assert!(peak <= f64::from(sources) + 8.0, "{peak}");
    std::thread::sleep(Duration::from_secs(7));
    let after = metric(
        &metrics(svc.ready["http"].as_str().unwrap()),
        "torrent_rate_limiter_clients{class=\"read\"}",
    )
    .unwrap();
    assert!(after <= 4.0, "limiter keys expire: {after} left");
    let rss_after = rss_kib(pid);
    eprintln!(
        "limiter flood: peak keys {peak}, RSS {rss_before} KiB before, {rss_after} KiB after"
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_public_route_is_rate_limited_and_failed_operator_calls_are_too() {
    let dir = temp("abuse-rate");
    let svc = Service::spawn_with(
        &dir,
        "rate_limit_per_ip = 3\nwrite_rate_limit_per_ip_per_min = 2\ntracker_open = true\n",
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let tracker = svc.tracker();
    let routes = [
        (&http, "/v1/bundles"),
        (&http, "/v1/headers?from=0&count=1"),
        (&http, "/metrics"),
        (
            &http,
            "/v1/proof/0000000000000000000000000000000000000000000000000000000000000000",
        ),
        (
            &http,
            "/v1/bundles/0000000000000000000000000000000000000000.torrent",
        ),
        (&http, "/webseed/x/y"),
        (&http, "/"),
        (&tracker, "/metrics"),
        (
            &http,
            "/v1/tx/0000000000000000000000000000000000000000000000000000000000000000",
        ),
        (
            &http,
            "/v1/tx/0000000000000000000000000000000000000000000000000000000000000000/beef",
        ),
        (&http, "/api/v1/chain/tip/longest"),
        (&http, "/rest/chaininfo.json"),
        (
            &http,
            "/rest/block/0000000000000000000000000000000000000000000000000000000000000000.bin",
        ),
        (
            &http,
            "/rest/headers/5/0000000000000000000000000000000000000000000000000000000000000000.bin",
        ),
    ];
    for (k, (addr, path)) in routes.iter().enumerate() {
        let src = format!("127.0.1.{}", k + 1);
        for _ in 0..3 {
            let (status, body) = http_from(&src, addr, "GET", path, "", "");
            assert_ne!(status, 429, "{path}: {body}");
        }
        let (status, body) = http_from(&src, addr, "GET", path, "", "");
        assert_eq!(status, 429, "{path} past the per-IP burst: {body}");
        // Another client is unaffected.
        let (status, _) = http_from(&format!("127.0.2.{}", k + 1), addr, "GET", path, "", "");
        assert_ne!(status, 429);
    }
    // The chain tracker's POST: the same read quota.
    let roots = r#"[{"blockHeight":0,"merkleRoot":"00"}]"#;
    for _ in 0..3 {
        let (status, body) = http_from(
            "127.0.4.1",
            &http,
            "POST",
            "/api/v1/chain/merkleroot/verify",
            "",
            roots,
        );
        assert_ne!(status, 429, "{body}");
    }
    let (status, body) = http_from(
        "127.0.4.1",
        &http,
        "POST",
        "/api/v1/chain/merkleroot/verify",
        "",
        roots,
    );
    assert_eq!(
        status, 429,
        "the chain tracker past the per-IP burst: {body}"
    );
    // gRPC: the same read quota.
    let rt = runtime();
    let codes: Vec<tonic::Code> = rt.block_on(async {
        let mut c = torrent_service::proto::proof_service_client::ProofServiceClient::connect(
            format!("http://{}", svc.ready["grpc"].as_str().unwrap()),
        )
        .await
        .unwrap();
        let mut codes = Vec::new();
        for _ in 0..4 {
            let r = c
                .get_headers(torrent_service::proto::GetHeadersRequest { from: 0, count: 1 })
                .await;
            codes.push(r.err().map_or(tonic::Code::Ok, |s| s.code()));
        }
        codes
    });
    assert_ne!(codes[2], tonic::Code::ResourceExhausted, "{codes:?}");
    assert_eq!(codes[3], tonic::Code::ResourceExhausted, "{codes:?}");
    // Writes: two registrations a minute per client.
    for expect in [400, 400, 429] {
        let (status, body) = http_from("127.0.3.1", &tracker, "POST", "/register", "", "{}");
        assert_eq!(status, expect, "{body}");
    }
    // Failed operator calls: two a minute, then even the right token is refused unchecked.
    let stake = r#"{"address":"1BitcoinEaterAddressDontSendf59kuE","amount":1}"#;
    for expect in [401, 401, 429] {
        let (status, body) = http_from(
            "127.0.3.2",
            &tracker,
            "POST",
            "/admin/stake",
            if expect == 429 {
                "Authorization: Bearer operator-secret\r\nContent-Type: application/json\r\n"
            } else {
                "Authorization: Bearer guess\r\nContent-Type: application/json\r\n"
            },
            stake,
        );
        assert_eq!(status, expect, "{body}");
    }
    let (status, body) = http_from(
        "127.0.3.3",
        &tracker,
        "POST",
        "/admin/stake",
        "Authorization: Bearer operator-secret\r\nContent-Type: application/json\r\n",
        stake,
    );
    assert!(
        status != 401 && status != 429,
        "the operator elsewhere: {status} {body}"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn proof_urls_must_name_public_addresses() {
    let dir = temp("abuse-proof-url");
    let svc = Service::spawn_with(
        &dir,
        "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\n",
    );
    let url = common::register(&svc, &dir, 1, &[]);
    let passkey = url.split("passkey=").nth(1).unwrap().to_string();
    let tracker = svc.tracker();
    for (target, public) in [
        ("http://169.254.169.254:80", false),
        ("http://127.0.0.1:50063", false),
        ("http://localhost:50063", false),
        ("http://10.1.2.3:50063", false),
        ("http://[::1]:50063", false),
        ("http://[::ffff:192.168.1.1]:50063", false),
        ("http://8.8.8.8:50063", true),
    ] {
        let (status, body) = http_from(
            "127.0.0.1",
            &tracker,
            "POST",
            &format!("/seeder/proof-url?passkey={passkey}"),
            "Content-Type: application/json\r\n",
            &format!(r#"{{"url":"{target}"}}"#),
        );
        if public {
            assert_eq!(status, 200, "{target}: {body}");
        } else {
            assert_eq!(status, 400, "{target}: {body}");
            assert!(body.contains("not a public address"), "{target}: {body}");
        }
    }
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_example_config_is_safe_and_an_unsafe_one_is_refused_with_one_line() {
    let dir = temp("abuse-config");
    std::fs::create_dir_all(&dir).unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/config.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    assert!(text.contains("listen_host = \"127.0.0.1\""));
    assert!(text.contains("auth_token = \"\""));
    let config = dir.join("unsafe.toml");
    std::fs::write(
        &config,
        format!(
            "[torrent_service]\ndata_dir = \"{}\"\nlisten_host = \"0.0.0.0\"\nauth_token = \"change-me\"\ntracker_port = 0\nhttp_port = 0\nproof_rpc_port = 0\npeer_port = 0\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let out = common::bin()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("auth_token") && lines[0].contains("32 characters"),
        "{stderr}"
    );
    assert!(
        !dir.join("data").exists(),
        "refused before touching anything"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A signed registration body for seeder key `i` at `domain`, issued now.
fn registration(domain: &str, i: u32) -> String {
    let key = common::seeder_key(i);
    let address = key.address().to_string();
    let nonce = format!("{i:032x}");
    let issued_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let msg = torrent_core::tracker::register::message(domain, &address, &nonce, issued_at);
    let signature = torrent_core::bsv::bsm::sign(&key, msg.as_bytes()).unwrap();
    serde_json::json!({"address": address, "timestamp": issued_at, "nonce": nonce, "signature": signature})
        .to_string()
}

#[test]
fn registration_spam_is_bounded_in_rate_and_in_storage() {
    let dir = temp("abuse-register");
    let svc = Service::spawn_with(
        &dir,
        "rate_limit_per_ip = 0\ntracker_open = true\nwrite_rate_limit_per_ip_per_min = 2\nwrite_rate_limit_global = 20\nregistration_window_s = 2\nunstaked_account_ttl_s = 3\n",
    );
    let tracker = svc.tracker();
    let started = Instant::now();
    // 300 valid registrations (distinct keys) from 100 addresses, three each, the addresses
    // in parallel (as a spammer sends: each refusal is held about a second).
    let results: Vec<(String, u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100u32)
            .map(|a| {
                let tracker = &tracker;
                s.spawn(move || {
                    let src = format!("127.0.5.{}", 1 + a);
                    (0..3u32)
                        .map(|k| {
                            let body = registration(tracker, 100 + a + 100 * k);
                            let (status, reply) = http_from(
                                &src,
                                tracker,
                                "POST",
                                "/register",
                                "Content-Type: application/json\r\n",
                                &body,
                            );
                            (body, status, reply)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let (mut accepted, mut limited) = (Vec::new(), 0u32);
    for (body, status, reply) in results {
        match status {
            200 => accepted.push(body),
            429 => limited += 1,
            other => panic!("registration: {other} {reply}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "{} accepted, {limited} limited in {elapsed:.1} s",
        accepted.len()
    );
    // Per client: at most two a minute (the third from each address is refused); over all
    // clients: a burst of 20, then 20 a second.
    assert!(limited >= 100, "{limited}");
    assert!(
        (accepted.len() as f64) <= 20.0 + 20.0 * elapsed.ceil(),
        "{} accepted in {elapsed:.1} s",
        accepted.len()
    );
    // Announces from elsewhere are served throughout.
    let (status, _) = http_from("127.0.6.1", &tracker, "GET", "/scrape", "", "");
    assert_eq!(status, 200);
    let accounts = || {
        metric(
            &metrics(svc.ready["http"].as_str().unwrap()),
            "torrent_tracker_accounts ",
        )
        .unwrap()
    };
    // Every accepted registration is an account, or already expired (the first were
    // accepted seconds ago, past unstaked_account_ttl_s, while refusals were held).
    let m = metrics(svc.ready["http"].as_str().unwrap());
    assert_eq!(
        metric(&m, "torrent_tracker_accounts ").unwrap()
            + metric(&m, "torrent_tracker_accounts_expired_total ").unwrap(),
        accepted.len() as f64
    );
    // Nobody staked: three seconds after registering, the accounts are gone, and with them
    // their nonces (a replay is refused anyway: its issued_at is out of the window).
    common::wait_for("unstaked accounts to expire", 15, || accounts() == 0.0);
    assert_eq!(
        metric(
            &metrics(svc.ready["http"].as_str().unwrap()),
            "torrent_tracker_accounts_expired_total "
        )
        .unwrap(),
        accepted.len() as f64
    );
    let (status, reply) = http_from(
        "127.0.7.1",
        &tracker,
        "POST",
        "/register",
        "Content-Type: application/json\r\n",
        &accepted[0],
    );
    assert_eq!(status, 400, "a replayed registration: {reply}");
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmpfs of `size` mounted at a directory for one test, unmounted on drop: a disk that can
/// be filled and freed. Mounting needs root, which the test machines have (the test script
/// installs packages with apt-get).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs for the full-disk test needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Every seeder the service's database holds (`/admin/seeders`, operator token).
fn seeders_in_database(tracker: &str) -> Vec<serde_json::Value> {
    let (status, body) = http_from(
        "127.0.0.1",
        tracker,
        "GET",
        "/admin/seeders",
        "Authorization: Bearer operator-secret\r\n",
        "",
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_full_disk_flips_health_and_alerts_and_service_resumes_with_acknowledged_writes_intact() {
    let dir = temp("abuse-disk");
    let data = dir.join("data");
    let disk = Tmpfs::mount(&data, "32m");
    let svc = Service::spawn_with(
        &dir,
        "rate_limit_per_ip = 0\nwrite_rate_limit_per_ip_per_min = 0\nwrite_rate_limit_global = 0\ntracker_open = true\nbittorrent = false\n",
    );
    let tracker = svc.tracker();
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let grpc = svc.ready["grpc"].as_str().unwrap().to_string();
    let rt = runtime();
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    assert_eq!(
        http_from("127.0.0.1", &http, "GET", "/healthz", "", "").0,
        200
    );
    assert_eq!(health(&rt, &grpc).0, serving);
    let register = |i: u32| {
        http_from(
            "127.0.0.1",
            &tracker,
            "POST",
            "/register",
            "Content-Type: application/json\r\n",
            &registration(&tracker, i),
        )
    };
    let mut acknowledged = Vec::new();
    for i in 0..20u32 {
        let (status, reply) = register(i);
        assert_eq!(status, 200, "{reply}");
        acknowledged.push(common::seeder_key(i).address().to_string());
    }
    // The disk fills up.
    {
        use std::io::Write;
        let mut filler = std::fs::File::create(data.join("filler")).unwrap();
        let chunk = vec![0u8; 1 << 20];
        while filler.write_all(&chunk).is_ok() {}
        let _ = filler.sync_all();
    }
    // Writes go on until the database hits the full disk: each is either acknowledged or
    // refused with a plain error (no path, no database internals).
    let mut refused = None;
    for i in 20..3000u32 {
        let (status, reply) = register(i);
        match status {
            200 => acknowledged.push(common::seeder_key(i).address().to_string()),
            500..=599 => {
                refused = Some(reply);
                break;
            }
            other => panic!("registration {i}: {other} {reply}"),
        }
    }
    let refused = refused.expect("a write fails once the disk is full");
    assert!(
        !refused.contains(dir.to_str().unwrap()) && !refused.contains("redb"),
        "{refused}"
    );
    eprintln!(
        "{} writes acknowledged before the disk was full",
        acknowledged.len()
    );
    // Health flips (HTTP and gRPC), one alert is raised, and stays one.
    common::wait_for("/healthz to answer 503", 10, || {
        http_from("127.0.0.1", &http, "GET", "/healthz", "", "").0 == 503
    });
    assert_eq!(health(&rt, &grpc).0, not_serving);
    let text = metrics(svc.ready["http"].as_str().unwrap());
    assert_eq!(
        metric(&text, "torrent_service_storage_healthy ").unwrap(),
        0.0
    );
    std::thread::sleep(Duration::from_secs(3));
    let text = metrics(svc.ready["http"].as_str().unwrap());
    assert_eq!(
        metric(
            &text,
            "torrent_service_alerts_total{kind=\"storage_unavailable\"} "
        )
        .unwrap(),
        1.0,
        "one alert, not one per probe"
    );
    // Everyone else is still served: announces and the registry need no writes.
    let (status, _) = http_from("127.0.0.2", &tracker, "GET", "/scrape", "", "");
    assert_eq!(status, 200);
    assert_eq!(
        http_from("127.0.0.2", &http, "GET", "/v1/bundles", "", "").0,
        200
    );
    // Space returns: the database is reopened and the service serves again.
    std::fs::remove_file(data.join("filler")).unwrap();
    common::wait_for("/healthz to answer 200 again", 60, || {
        http_from("127.0.0.1", &http, "GET", "/healthz", "", "").0 == 200
    });
    assert_eq!(health(&rt, &grpc).0, serving);
    let text = metrics(svc.ready["http"].as_str().unwrap());
    assert_eq!(
        metric(&text, "torrent_service_storage_healthy ").unwrap(),
        1.0
    );
    assert!(metric(&text, "torrent_service_storage_reopens_total ").unwrap() >= 1.0);
    let (status, reply) = register(5000);
    assert_eq!(status, 200, "writes are accepted again: {reply}");
    acknowledged.push(common::seeder_key(5000).address().to_string());
    // Every acknowledged write is in the database, now and after a restart.
    let held = |tracker: &str| -> std::collections::BTreeSet<String> {
        seeders_in_database(tracker)
            .iter()
            .map(|a| a["address"].as_str().unwrap().to_string())
            .collect()
    };
    let want: std::collections::BTreeSet<String> = acknowledged.iter().cloned().collect();
    assert!(held(&tracker).is_superset(&want));
    svc.stop();
    let svc = Service::spawn_with(&dir, "");
    assert!(held(&svc.tracker()).is_superset(&want));
    svc.stop();
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}
