//! The binary as a user runs it: `--help`, `verify` on a real block's proofs, bad input.

use std::path::PathBuf;

use torrent_core::bsv::merkle::MerkleTree;
use torrent_core::hex;
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::{TargetKind, TscProof};

use crate::common::{bin, block, temp};

#[test]
fn help_lists_every_command_of_the_design() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "run", "bundle", "inspect", "proof", "verify", "register", "seed", "ledger",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(cmd)),
            "`{cmd}` missing from --help:\n{text}"
        );
        let sub = bin().args([cmd, "--help"]).output().unwrap();
        assert!(sub.status.success(), "{cmd} --help failed");
    }
}

#[test]
fn verify_accepts_real_proofs_and_rejects_tampered_ones() {
    let block = block(413_567);
    let txids = block.txids();
    let tree = MerkleTree::from_txids(&txids).unwrap();
    let header_hex = hex::encode(&block.header.to_bytes());
    let n = txids.len().to_string();
    let dir = temp("cli");
    let header_file = dir.join("header.hex");
    std::fs::write(&header_file, &header_hex).unwrap();

    let i = 1234u64;
    let txid = txids[i as usize].to_string();
    let bump = Bump::build(&tree, 413_567, &[i]).unwrap();
    let tsc = TscProof::build(&tree, i, &block.header, TargetKind::BlockHash, None).unwrap();
    let bump_file = dir.join("proof.bump");
    std::fs::write(&bump_file, hex::encode(&bump.encode())).unwrap();
    for proof in [
        bump_file.to_string_lossy().into_owned(),
        bump.to_json(),
        tsc.to_json(),
        hex::encode(&tsc.encode()),
    ] {
        // Natively and in the wasmtime sandbox: the same verdict, word for word.
        let mut said = Vec::new();
        for host in [None, Some("--sandbox")] {
            let out = bin()
                .args([
                    "verify",
                    "--proof",
                    &proof,
                    "--txid",
                    &txid,
                    "--tx-count",
                    &n,
                    "--header",
                ])
                .arg(&header_file)
                .args(host)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout.starts_with("valid:"), "{stdout}");
            said.push(stdout);
        }
        assert_eq!(said[0], said[1]);
    }
    // JSON verdict.
    let out = bin()
        .args([
            "verify",
            "--json",
            "--proof",
            &bump.to_json(),
            "--txid",
            &txid,
            "--tx-count",
            &n,
            "--header",
            &header_hex,
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["index"], 1234);
    assert_eq!(v["host"], "native");
    assert_eq!(
        (v["height"].as_u64(), v["height_from"].as_str()),
        (Some(413_567), Some("bump"))
    );

    // The height a BUMP claims is shown; a changed height byte fails against --height, and
    // shows when --height is not given.
    let mut moved = bump.encode();
    moved[1] ^= 1; // the height's varint (fe + 4 bytes little-endian): 413567 becomes 413566
    let verdict = |height: Option<&str>| {
        let mut a = vec![
            "verify".to_string(),
            "--proof".into(),
            hex::encode(&moved),
            "--txid".into(),
            txid.clone(),
            "--tx-count".into(),
            n.clone(),
            "--header".into(),
            header_hex.clone(),
        ];
        if let Some(h) = height {
            a.extend(["--height".to_string(), h.to_string()]);
        }
        let out = bin().args(&a).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, said) = verdict(None);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("at height 413566 (the height the BUMP claims"),
        "{said}"
    );
    let (code, said) = verdict(Some("413567"));
    assert_eq!(code, Some(1), "{said}");
    assert!(said.starts_with("invalid:"), "{said}");

    // Wrong txid, wrong count: invalid, exit 1, one line.
    let other = txids[7].to_string();
    for (t, count) in [(other.as_str(), n.as_str()), (txid.as_str(), "5000")] {
        let out = bin()
            .args([
                "verify",
                "--proof",
                &bump.to_json(),
                "--txid",
                t,
                "--tx-count",
                count,
                "--header",
                &header_hex,
                "--sandbox",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with("invalid:") && stdout.lines().count() == 1,
            "{stdout}"
        );
    }
    // Bad input: exit 2 and one clear line on stderr.
    let verify_args = |proof: &'static str, txid: &str, header: &str| -> Vec<String> {
        [
            "verify",
            "--proof",
            proof,
            "--txid",
            txid,
            "--tx-count",
            &n,
            "--header",
            header,
        ]
        .map(String::from)
        .to_vec()
    };
    for args in [
        verify_args("zz", &txid, &header_hex),
        verify_args("00", "nothex", &header_hex),
        verify_args("00", &format!(" {txid}"), &header_hex),
        verify_args("00", &format!("{txid}\n"), &header_hex),
        verify_args("00", &txid, "abcd"),
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("torrent_service: "), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ledger_without_a_service_fails_clearly_and_config_prints() {
    let out = bin()
        .args(["ledger", "--server", "http://127.0.0.1:1", "balances"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/config.toml");
    let out = bin()
        .arg("config")
        .arg("--config")
        .arg(&cfg)
        .env("TORRENT_SERVICE_HTTP_PORT", "9999")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("http_port = 9999") && text.contains("piece_size = 33554432"),
        "{text}"
    );
    let out = bin()
        .args(["config"])
        .env("TORRENT_SERVICE_NO_SUCH_KEY", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_key"));
    // Every validation mode loads; an unknown one is refused by name, never ignored.
    for (mode, ok) in [
        ("native", true),
        ("sandbox", true),
        ("galaxy", true),
        ("nope", false),
    ] {
        let out = bin()
            .args(["config"])
            .env("TORRENT_SERVICE_VALIDATION", mode)
            .output()
            .unwrap();
        assert_eq!(out.status.success(), ok, "{mode}");
        if !ok {
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains("validation"), "{err}");
        }
    }
}
