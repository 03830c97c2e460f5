//! Galaxy adapters (DESIGN §10, §13): Galaxy's services speak length-prefixed bincode over
//! TCP. Each message is a little-endian `u32` length, then bincode 2 (standard config) of
//! a serde value; requests travel in an [`Envelope`] carrying `auth_token`.
//!
//! The client here is blocking (`std::net`), with a connect and I/O timeout, a frame limit
//! checked before anything is allocated, and retries with exponential backoff on transport
//! failures (refused connection, timeout, a dropped stream). An answer the service gives,
//! an error included, is never retried: retrying a refused broadcast would not change it.
//!
//! The message enums (`torrent_core::galaxy`) are the contract between this service and
//! Galaxy's Transaction (50052), Storage (50053), Block (50054), Overlay (50056), Validation
//! (50057), Auth (50060) and Alert (50061) services; the stand-ins in `tests/` use the same
//! types, and `tests/vectors/galaxy/` pins their bytes.
//!
//! Most calls are one request, one answer. A block is the exception: it can be gigabytes, so
//! the Block service answers [`BlockRequest::Block`] with a header frame, a run of chunk
//! frames (each under the frame limit) and an end frame, and [`RemoteBlock`] reads them as a
//! `Read` with bounded memory, reconnecting at the byte where a broken stream stopped.
//!
//! Files: `wire` (frames over sockets, around the core's codec), `client` (the blocking
//! client), `remote` (a streamed block). Uses `config` only: this is the bottom of the Galaxy integration,
//! and the modules that talk to Galaxy (alerts, auth, sources, broadcast) use it.

mod wire;
pub use wire::{
    AlertRequest, AlertResponse, AuthRequest, AuthResponse, BlockInfo, BlockRequest, BlockResponse,
    Envelope, GalaxyError, GalaxyUtxo, OverlayRequest, OverlayResponse, StorageRequest,
    StorageResponse, TorrentRef, TxRequest, TxResponse, TxState, ValidationRequest,
    ValidationResponse, read_frame, write_frame,
};

mod client;
pub use client::GalaxyClient;

mod remote;
pub use remote::RemoteBlock;

use std::time::Duration;

/// The Galaxy clients the config describes.
#[derive(Debug, Clone)]
pub struct Galaxy {
    /// Transaction service.
    pub transaction: GalaxyClient,
    /// Storage service.
    pub storage: GalaxyClient,
    /// Validation service.
    pub validation: GalaxyClient,
    /// Alert service.
    pub alert: GalaxyClient,
    /// Block service.
    pub block: GalaxyClient,
    /// Overlay service.
    pub overlay: GalaxyClient,
    /// Auth service.
    pub auth: GalaxyClient,
}

impl Galaxy {
    /// Clients from the config's `galaxy_*` keys.
    pub fn from_config(c: &crate::config::Config) -> Self {
        let client = |service, port: u16| GalaxyClient {
            service,
            addr: format!("{}:{port}", c.galaxy_host),
            auth_token: c.galaxy_token.expose().to_string(),
            max_frame: c.galaxy_max_frame,
            timeout: Duration::from_millis(c.galaxy_timeout_ms),
            attempts: c.galaxy_attempts,
            backoff: Duration::from_millis(200),
        };
        Self {
            transaction: client("Transaction", c.galaxy_transaction_port),
            storage: client("Storage", c.galaxy_storage_port),
            validation: client("Validation", c.galaxy_validation_port),
            alert: client("Alert", c.galaxy_alert_port),
            block: client("Block", c.galaxy_block_port),
            overlay: client("Overlay", c.galaxy_overlay_port),
            auth: client("Auth", c.galaxy_auth_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::io::Read;

    #[test]
    fn frames_round_trip_and_oversized_lengths_are_refused_before_allocation() {
        let msg = Envelope {
            auth_token: "t".into(),
            request: TxRequest::Broadcast {
                raw_tx: vec![1, 2, 3],
            },
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &msg, 1024).unwrap();
        assert_eq!(
            u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize,
            buf.len() - 4
        );
        let back: Envelope<TxRequest> = read_frame(&mut buf.as_slice(), 1024).unwrap();
        assert_eq!(back, msg);
        // A 4 GiB length is refused from its 4 bytes alone.
        let huge = [0xff, 0xff, 0xff, 0xff];
        let e = read_frame::<TxResponse>(&mut &huge[..], 1 << 20).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(write_frame(&mut Vec::new(), &msg, 4).is_err());
        // Garbage after a valid length: a decode error, not a panic.
        let mut junk = 3u32.to_le_bytes().to_vec();
        junk.extend_from_slice(&[0xfe, 0xfe, 0xfe]);
        assert!(read_frame::<TxResponse>(&mut junk.as_slice(), 1024).is_err());
    }

    #[test]
    fn chunks_encode_as_plain_byte_sequences() {
        // The stand-ins and Galaxy may declare chunks as `Vec<u8>`: same bytes on the wire.
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        enum Plain {
            Tip {
                height: u64,
                hash: [u8; 32],
            },
            Index {
                blocks: Vec<BlockInfo>,
                next: Option<u64>,
            },
            Begin {
                height: u64,
                hash: [u8; 32],
                size: u64,
            },
            Chunk {
                data: Vec<u8>,
            },
        }
        let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let fast = BlockResponse::Chunk { data: data.clone() };
        let plain = Plain::Chunk { data };
        let cfg = bincode::config::standard();
        let a = bincode::serde::encode_to_vec(&fast, cfg).unwrap();
        assert_eq!(a, bincode::serde::encode_to_vec(&plain, cfg).unwrap());
        let (back, _): (BlockResponse, usize) = bincode::serde::decode_from_slice(&a, cfg).unwrap();
        assert_eq!(back, fast);
    }

    /// A Block service that answers the n-th connection's request with `script[n]`.
    fn fake_block_service(script: Vec<Vec<BlockResponse>>) -> GalaxyClient {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for (mut s, answers) in l.incoming().flatten().zip(script) {
                let _: Envelope<BlockRequest> = read_frame(&mut s, 1 << 20).unwrap();
                for a in answers {
                    write_frame(&mut s, &a, 1 << 20).unwrap();
                }
            }
        });
        GalaxyClient {
            service: "Block",
            addr,
            auth_token: String::new(),
            max_frame: 1 << 20,
            timeout: Duration::from_secs(2),
            attempts: 1,
            backoff: Duration::from_millis(1),
        }
    }

    #[test]
    fn a_block_stream_that_breaks_its_contract_is_an_error_not_a_block() {
        let begin = BlockResponse::Begin {
            height: 5,
            hash: [7; 32],
            size: 10,
        };
        let cases = [
            (
                vec![begin.clone(), BlockResponse::End],
                "ended at byte 0 of 10",
            ),
            (
                vec![begin.clone(), BlockResponse::Chunk { data: vec![0; 11] }],
                "a chunk of 11 bytes at byte 0 of 10",
            ),
            (
                vec![BlockResponse::Error {
                    message: "pruned".into(),
                }],
                "block 5: pruned",
            ),
            (
                vec![BlockResponse::Begin {
                    height: 5,
                    hash: [7; 32],
                    size: 11,
                }],
                "no longer the block indexed",
            ),
            (
                vec![BlockResponse::Pruned { height: 5 }],
                "unexpected answer Pruned",
            ),
        ];
        for (answers, want) in cases {
            let c = fake_block_service(vec![answers]);
            let e = RemoteBlock::new(c, 5, [7; 32], 10)
                .read_to_end(&mut Vec::new())
                .unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
            assert!(e.to_string().contains(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn a_confused_block_index_is_refused() {
        use crate::offload::source::{BlockSource, SourceSpec};
        let info = |height| BlockInfo {
            height,
            hash: [1; 32],
            size: 100,
        };
        let tip = BlockResponse::Tip {
            height: 9,
            hash: [1; 32],
        };
        let cases = [
            (
                BlockResponse::Index {
                    blocks: vec![info(3), info(2)],
                    next: None,
                },
                "holds height 2 out of order",
            ),
            (
                BlockResponse::Index {
                    blocks: vec![info(12)],
                    next: None,
                },
                "holds height 12 out of order",
            ),
            (
                BlockResponse::Index {
                    blocks: vec![info(0)],
                    next: Some(0),
                },
                "index paging went from 0 to 0",
            ),
        ];
        for (index, want) in cases {
            let c = fake_block_service(vec![vec![tip.clone()], vec![index]]);
            let e = BlockSource::open(
                &SourceSpec::Galaxy,
                torrent_core::Network::Mainnet,
                Some(&c),
            )
            .unwrap_err();
            assert!(format!("{e:#}").contains(want), "{e:#} (wanted {want})");
        }
    }

    #[test]
    fn transport_failures_are_retried_then_named() {
        // A port with nothing listening.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let c = GalaxyClient {
            service: "Transaction",
            addr: addr.clone(),
            auth_token: String::new(),
            max_frame: 1024,
            timeout: Duration::from_millis(200),
            attempts: 3,
            backoff: Duration::from_millis(10),
        };
        let e = c
            .call::<_, TxResponse>(&TxRequest::Status { txid: [0; 32] })
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("Transaction")
                && text.contains(&addr)
                && text.contains("after 3 attempts"),
            "{text}"
        );
    }
}
