//! Audits over the real peer wire: a libtorrent seeder passes; peers that serve wrong
//! bytes, another torrent or nothing fail, with a reason and exit code 1.

use std::io::{Read, Write};
use std::net::TcpListener;

use serde_json::Value;
use torrent_core::peer::wire::{HANDSHAKE_LEN, Handshake, Message, MessageDecoder};

use crate::common::{bin, temp};

fn audit(torrent: &str, peer: &str) -> (Option<i32>, Value) {
    let out = bin()
        .args([
            "audit",
            "--torrent",
            torrent,
            "--peer",
            peer,
            "--pieces",
            "6",
            "--timeout",
            "30",
            "--json",
        ])
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

/// A peer that handshakes for `info_hash`, then behaves as `mode` says.
fn fake_peer(info_hash: [u8; 20], mode: &'static str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let mut hs = [0u8; HANDSHAKE_LEN];
        if s.read_exact(&mut hs).is_err() {
            return;
        }
        let ih = if mode == "other-torrent" {
            [0xee; 20]
        } else {
            info_hash
        };
        let _ = s.write_all(
            &Handshake {
                reserved: [0; 8],
                info_hash: ih,
                peer_id: [b'F'; 20],
            }
            .encode(),
        );
        if mode == "have-none" {
            let _ = s.write_all(&Message::HaveNone.encode());
            return;
        }
        let _ = s.write_all(&Message::HaveAll.encode());
        let _ = s.write_all(&Message::Unchoke.encode());
        let mut dec = MessageDecoder::new(1 << 20);
        let mut buf = [0u8; 4096];
        loop {
            let Ok(n) = s.read(&mut buf) else { return };
            if n == 0 {
                return;
            }
            dec.push(&buf[..n]);
            while let Ok(Some(m)) = dec.next_message() {
                if let Message::Request {
                    index,
                    begin,
                    length,
                } = m
                {
                    // Right length, wrong bytes.
                    let reply = Message::Piece {
                        index,
                        begin,
                        block: vec![0x5a; length as usize],
                    };
                    if s.write_all(&reply.encode()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    addr
}

#[test]
fn libtorrent_passes_and_bad_peers_fail() {
    let dir = temp("run");
    let out_dir = dir.join("bundles");
    let bundle = crate::common::bundle_413567(&dir, &out_dir, &[]);
    let torrent = bundle["torrent"].as_str().unwrap().to_string();
    let ih: [u8; 20] =
        torrent_core::hex::decode_array(bundle["infohash_v1"].as_str().unwrap()).unwrap();

    // libtorrent seeds the bundle (its tracker is unreachable on purpose: we dial it).
    let (seeder, _out, ready) =
        crate::common::lt_seed(&torrent, &out_dir, "http://127.0.0.1:9/announce");
    assert_eq!(ready["seeding"], true);
    let peer = format!("127.0.0.1:{}", ready["port"]);
    let (code, report) = audit(&torrent, &peer);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["passed"], true);
    assert_eq!(report["pieces_ok"], 6);
    let piece = bundle["piece_length"].as_u64().unwrap();
    assert!(report["bytes"].as_u64().unwrap() >= 5 * piece, "{report}");
    drop(seeder);

    for (mode, needle) in [
        ("wrong-bytes", "does not match its hash"),
        ("other-torrent", "another torrent"),
        ("have-none", "has none"),
    ] {
        let (code, report) = audit(&torrent, &fake_peer(ih, mode));
        assert_eq!(code, Some(1), "{mode}: {report}");
        assert_eq!(report["passed"], false);
        assert!(
            report["failure"].as_str().unwrap().contains(needle),
            "{mode}: {report}"
        );
    }
    // Nobody listening: a failure, not a hang or a panic.
    let (code, report) = audit(&torrent, "127.0.0.1:9");
    assert_eq!(code, Some(1));
    assert!(
        report["failure"].as_str().unwrap().contains("connect"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
