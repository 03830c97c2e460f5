//! BSM against an independent implementation, @bsv/sdk (npm, installed by run_tests.sh):
//! our signatures verify there, its signatures verify here, registrations it signs are
//! accepted, and forged or replayed ones are refused.

use serde_json::{Value, json};
use torrent_core::Network;
use torrent_core::bsv::bsm;
use torrent_core::tracker::register::{self, RegistrationError, RegistrationRequest};
use torrent_tests::test_key;

/// Sends each request to @bsv/sdk (tests/interop/bsm.mjs) and returns its replies.
fn sdk(requests: &[Value]) -> Vec<Value> {
    torrent_tests::support::node("bsm.mjs", requests).unwrap()
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
        let k = test_key(i as u32);
        let ours = bsm::sign(&k, m.as_bytes()).unwrap();
        reqs.push(json!({"op": "verify", "address": k.address().to_string(), "message": m, "signature": ours}));
        // Tampered message: the SDK must refuse our signature too.
        reqs.push(json!({"op": "verify", "address": k.address().to_string(), "message": format!("{m}!"), "signature": ours}));
        reqs.push(json!({"op": "sign", "wif": k.to_wif(), "message": m}));
    }
    let replies = sdk(&reqs);
    for (i, m) in messages.iter().enumerate() {
        let k = test_key(i as u32);
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
        let k = test_key(100 + i);
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
        forged.address = test_key(999).address().to_string();
        assert!(register::verify(&forged, domain, Network::Mainnet, now, 300).is_err());
    }
}
