//! Golden Galaxy frames (`tests/vectors/galaxy/`): every message the service and Galaxy's
//! services exchange, encoded by `torrent_core::galaxy` and compared byte for byte with the
//! committed frames, then decoded back. The adapters and the stand-ins share those types, so
//! these bytes are what keeps the format from drifting: a change that alters them fails here
//! and must be made on purpose (`BLESS_GALAXY_FRAMES=1` rewrites the files).

use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use torrent_core::galaxy::*;
use torrent_core::verdict::{ProofFormat, Verdict, VerifyRequest};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/galaxy")
}

/// Encodes `value`, compares with `name.bin` (or writes it when blessing), decodes it back.
fn golden<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, value: T) {
    let frame = encode_frame(&value, 1 << 20).unwrap();
    let path = dir().join(format!("{name}.bin"));
    if std::env::var_os("BLESS_GALAXY_FRAMES").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, &frame).unwrap();
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(frame, want, "{name}: the encoding changed");
    let len = body_len(want[..4].try_into().unwrap(), 1 << 20).unwrap();
    assert_eq!(len, want.len() - 4, "{name}: length prefix");
    let back: T = decode_body(&want[4..]).unwrap();
    assert_eq!(back, value, "{name}: decodes to something else");
}

fn envelope<T>(request: T) -> Envelope<T> {
    Envelope {
        auth_token: "galaxy-token".into(),
        request,
    }
}

#[test]
fn every_message_encodes_to_its_golden_frame() {
    let txid = [0xab; 32];
    golden(
        "tx-broadcast",
        envelope(TxRequest::Broadcast {
            raw_tx: vec![1, 0, 0, 0, 0],
        }),
    );
    golden("tx-status", envelope(TxRequest::Status { txid }));
    golden("tx-accepted", TxResponse::Accepted { txid });
    golden(
        "tx-mined",
        TxResponse::Status {
            txid,
            state: TxState::Mined { height: 413_567 },
        },
    );
    golden(
        "storage-utxos",
        envelope(StorageRequest::Utxos {
            script_pubkey: vec![0x76, 0xa9, 0x14],
        }),
    );
    golden(
        "storage-utxos-reply",
        StorageResponse::Utxos(vec![GalaxyUtxo {
            txid,
            vout: 1,
            satoshis: 100_000,
            script_pubkey: vec![0x76, 0xa9],
        }]),
    );
    golden("block-tip", envelope(BlockRequest::Tip));
    golden(
        "block-block",
        envelope(BlockRequest::Block {
            height: 170,
            offset: 4096,
        }),
    );
    golden(
        "block-begin",
        BlockResponse::Begin {
            height: 170,
            hash: txid,
            size: 490,
        },
    );
    golden("block-chunk", BlockResponse::Chunk { data: vec![7; 300] });
    golden("block-end", BlockResponse::End);
    golden(
        "validation-verify",
        envelope(ValidationRequest::Verify(vec![VerifyRequest {
            format: ProofFormat::Bump,
            height: 170,
            tx_count: 2,
            header: vec![0; 80],
            txid,
            proof: vec![0xfe, 0xaa],
        }])),
    );
    golden(
        "validation-verdicts",
        ValidationResponse::Verdicts(vec![Verdict::Valid { index: 1 }]),
    );
    golden(
        "alert-raise",
        envelope(AlertRequest::Raise {
            kind: "seeder_slashed".into(),
            message: "seeder slashed".into(),
            at_ms: 1_700_000_000_000,
        }),
    );
    golden(
        "overlay-publish",
        envelope(OverlayRequest::Publish(TorrentRef {
            name: "bsv-main-000000-000127".into(),
            network: "main".into(),
            first: 0,
            last: 127,
            infohash_v1: [0x11; 20],
            magnet: "magnet:?xt=urn:btih:1111111111111111111111111111111111111111".into(),
            torrent: vec![b'd', b'e'],
        })),
    );
    golden(
        "auth-check",
        envelope(AuthRequest::Check {
            token: "operator".into(),
            scope: "torrent_service.admin".into(),
        }),
    );
    golden(
        "auth-allowed",
        AuthResponse::Allowed {
            subject: "ops".into(),
            ttl_s: 300,
        },
    );
}

#[test]
fn bad_frames_are_refused_before_allocating() {
    assert!(matches!(
        body_len((u32::MAX).to_le_bytes(), 1 << 20),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(matches!(
        decode_body::<BlockResponse>(&[200]),
        Err(FrameError::Decode(_))
    ));
    let mut frame = encode_frame(&BlockResponse::End, 1 << 20).unwrap();
    frame.push(0);
    assert_eq!(
        decode_body::<BlockResponse>(&frame[4..]),
        Err(FrameError::Trailing(1))
    );
    assert!(matches!(
        encode_frame(&BlockResponse::Chunk { data: vec![0; 100] }, 10),
        Err(FrameError::TooLarge { .. })
    ));
}
