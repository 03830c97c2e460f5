//! BSM against an independent implementation, @bsv/sdk (npm, installed by run_tests.sh):
//! our signatures verify there, its signatures verify here, registrations it signs are
//! accepted, and forged or replayed ones are refused.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use torrent_core::Network;
use torrent_core::bsv::bsm;
use torrent_core::bsv::hash::sha256d;
use torrent_core::bsv::keys::PrivateKey;
use torrent_core::tracker::register::{self, RegistrationError, RegistrationRequest};

/// Sends each request to the SDK script and returns its replies.
fn sdk(requests: &[Value]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/bsm.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node is on the machine; tests/run_tests.sh runs npm ci in tests/interop");
    {
        let mut stdin = child.stdin.take().unwrap();
        for r in requests {
            writeln!(stdin, "{r}").unwrap();
        }
    }
    let out = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect::<Vec<Value>>();
    assert!(child.wait().unwrap().success());
    assert_eq!(out.len(), requests.len(), "the SDK answered every request");
    out
}

fn key(i: u32) -> PrivateKey {
    PrivateKey::from_bytes(&sha256d(&i.to_le_bytes()), Network::Mainnet).unwrap()
}

#[test]
fn our_signatures_verify_in_the_sdk_and_its_verify_here() {
    let messages: Vec<String> = (0..25)
        .map(|i| {
            format!(
                "message {i} with unicode \u{2603} and newline\nline two {}",
                "x".repeat(i * 13)
            )
        })
        .collect();
    let mut reqs = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let k = key(i as u32);
        let ours = bsm::sign(&k, m.as_bytes()).unwrap();
        reqs.push(json!({"op": "verify", "address": k.address().to_string(), "message": m, "signature": ours}));
        // Tampered message: the SDK must refuse our signature too.
        reqs.push(json!({"op": "verify", "address": k.address().to_string(), "message": format!("{m}!"), "signature": ours}));
        reqs.push(json!({"op": "sign", "wif": k.to_wif(), "message": m}));
    }
    let replies = sdk(&reqs);
    for (i, m) in messages.iter().enumerate() {
        let k = key(i as u32);
        assert_eq!(
            replies[3 * i]["valid"],
            true,
            "SDK rejects our signature {i}"
        );
        assert_eq!(
            replies[3 * i + 1]["valid"],
            false,
            "SDK accepts a tampered message {i}"
        );
        let theirs = replies[3 * i + 2]["signature"].as_str().unwrap();
        assert_eq!(replies[3 * i + 2]["address"], k.address().to_string());
        bsm::verify(&k.address(), m.as_bytes(), theirs).unwrap();
        // Both are RFC 6979 deterministic with low s: byte-identical signatures.
        assert_eq!(theirs, bsm::sign(&k, m.as_bytes()).unwrap());
    }
}

#[test]
fn sdk_signed_registrations_are_accepted_and_forgeries_refused() {
    let domain = "127.0.0.1:6969";
    let now = 1_800_000_000u64;
    let mut reqs = Vec::new();
    let mut expected = Vec::new();
    for i in 0..5u32 {
        let k = key(100 + i);
        let nonce = format!("{:032x}", u128::from(i) * 0x0123_4567_89ab_cdef + 1);
        let msg = register::message(domain, &k.address().to_string(), &nonce, now);
        reqs.push(json!({"op": "sign", "wif": k.to_wif(), "message": msg}));
        expected.push((k, nonce));
    }
    let replies = sdk(&reqs);
    for ((k, nonce), r) in expected.iter().zip(&replies) {
        let req = RegistrationRequest {
            address: k.address().to_string(),
            timestamp: now,
            nonce: nonce.clone(),
            signature: r["signature"].as_str().unwrap().to_string(),
        };
        assert_eq!(
            register::verify(&req, domain, Network::Mainnet, now + 10, 300).unwrap(),
            k.address()
        );
        // Replayed at another tracker, or late, or with another key's address: refused.
        assert!(matches!(
            register::verify(&req, "other.example:6969", Network::Mainnet, now, 300),
            Err(RegistrationError::Signature(_))
        ));
        assert!(matches!(
            register::verify(&req, domain, Network::Mainnet, now + 301, 300),
            Err(RegistrationError::Expired { .. })
        ));
        let mut forged = req.clone();
        forged.address = key(999).address().to_string();
        assert!(register::verify(&forged, domain, Network::Mainnet, now, 300).is_err());
    }
}
