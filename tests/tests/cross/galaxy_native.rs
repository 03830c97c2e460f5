//! Golden frames of Galaxy's own messages (`tests/vectors/galaxy/native/`): every request
//! and response of the calls this service makes and answers, with the types declared here
//! exactly as murphsicles/Galaxy v0.3.0 (commit 00c4706cf4eb79d28cddf91031357184243873ff)
//! declares them in each server's `src/main.rs` (private copies there too), encoded by
//! bincode 1.3.3's `serialize`, the very function Galaxy calls. Each frame must equal the
//! committed file (`BLESS_GALAXY_FRAMES=1` rewrites them), decode with
//! `torrent_core::galaxy::native` to the same message, and encode back to the same bytes.
//!
//! Galaxy's `sv::block::Block` does not exist in rust-sv (and rust-sv derives no serde form
//! for its real `messages::Block`): `Block` here is rust-sv's `messages::Block` with its own
//! field names and newtypes (`Hash256(pub [u8; 32])`, `Script(pub Vec<u8>)`) and a serde
//! derive added, the form Galaxy's code assumes.

// Galaxy's declarations, copied: fields no test reads, items public only to their module.
#![allow(dead_code, unreachable_pub)]

use std::fmt::Debug;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use torrent_core::galaxy::native as ours;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/galaxy/native")
}

/// Galaxy's bytes of `theirs` must be the committed frame, decode to `expect` with our
/// types, and encode back to themselves.
fn golden<G: Serialize, O: Serialize + DeserializeOwned + PartialEq + Debug>(
    name: &str,
    theirs: &G,
    expect: O,
) {
    let bytes = bincode1::serialize(theirs).unwrap();
    let path = dir().join(format!("{name}.bin"));
    if std::env::var_os("BLESS_GALAXY_FRAMES").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        bytes, want,
        "{name}: Galaxy's encoding is not the committed frame"
    );
    let decoded: O = ours::decode(&want).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(decoded, expect, "{name}: decodes to something else");
    assert_eq!(
        ours::encode(&decoded).unwrap(),
        want,
        "{name}: re-encoded bytes differ"
    );
}

// ---- rust-sv messages, with serde added ------------------------------------------------
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
struct Hash256(pub [u8; 32]);
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
struct Script(pub Vec<u8>);
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
struct BlockHeader {
    version: u32,
    prev_hash: Hash256,
    merkle_root: Hash256,
    timestamp: u32,
    bits: u32,
    nonce: u32,
}
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
struct OutPoint {
    hash: Hash256,
    index: u32,
}
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
struct TxIn {
    prev_output: OutPoint,
    unlock_script: Script,
    sequence: u32,
}
#[derive(Serialize, Deserialize, Debug, Clone)]
struct TxOut {
    satoshis: i64,
    lock_script: Script,
}
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
struct Tx {
    version: u32,
    inputs: Vec<TxIn>,
    outputs: Vec<TxOut>,
    lock_time: u32,
}
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
struct Block {
    header: BlockHeader,
    txns: Vec<Tx>,
}

// ---- torrent_service/src/main.rs, utils.rs ----------------------------------------------
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AgedThreshold {
    Months(u32),
    Blocks(u64),
}
mod torrent {
    use serde::{Deserialize, Serialize};
    #[derive(Serialize, Deserialize, Debug)]
    pub enum TorrentRequestType {
        OffloadAgedBlocks {
            token: String,
        },
        GetProof {
            txid: String,
            block_hash: String,
            token: String,
        },
        GetMetrics {
            token: String,
        },
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum TorrentResponseType {
        OffloadSuccess { success: bool, error: String },
        ProofBundle { proof: String, error: String },
        Metrics { metrics: GetMetricsResponse },
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetMetricsResponse {
        pub service_name: String,
        pub requests_total: u64,
        pub avg_latency_ms: f64,
        pub errors_total: u64,
        pub alert_count: u64,
    }
}

// ---- the 7-field metrics of every other service ------------------------------------------
#[derive(Serialize, Deserialize, Debug)]
struct GetMetricsRequest {}
#[derive(Serialize, Deserialize, Debug)]
struct GetMetricsResponse {
    service_name: String,
    requests_total: u64,
    avg_latency_ms: f64,
    errors_total: u64,
    cache_hits: u64,
    alert_count: u64,
    index_throughput: f64,
}

// ---- storage_service/src/main.rs ---------------------------------------------------------
mod storage {
    use super::{Block, GetMetricsRequest, GetMetricsResponse};
    use serde::{Deserialize, Serialize};
    #[derive(Serialize, Deserialize, Debug)]
    pub struct QueryUtxoRequest {
        pub txid: String,
        pub vout: u32,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct QueryUtxoResponse {
        pub exists: bool,
        pub script_pubkey: String,
        pub amount: u64,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct AddUtxoRequest {
        pub txid: String,
        pub vout: u32,
        pub script_pubkey: String,
        pub amount: u64,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct AddUtxoResponse {
        pub success: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct RemoveUtxoRequest {
        pub txid: String,
        pub vout: u32,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct RemoveUtxoResponse {
        pub success: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct BatchAddUtxoRequest {
        pub utxos: Vec<AddUtxoRequest>,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct BatchAddUtxoResponse {
        pub results: Vec<AddUtxoResponse>,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetBlocksByTimestampRequest {
        pub before_timestamp: i64,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetBlocksByTimestampResponse {
        pub blocks: Vec<Block>,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetBlocksByHeightRequest {
        pub max_height: u64,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetBlocksByHeightResponse {
        pub blocks: Vec<Block>,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetBlockByHashRequest {
        pub block_hash: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetBlockByHashResponse {
        pub block: Block,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct StoreBlockRequest {
        pub block: Block,
        pub height: u64,
        pub timestamp: i64,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct StoreBlockResponse {
        pub success: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum StorageRequestType {
        QueryUtxo {
            request: QueryUtxoRequest,
            token: String,
        },
        AddUtxo {
            request: AddUtxoRequest,
            token: String,
        },
        RemoveUtxo {
            request: RemoveUtxoRequest,
            token: String,
        },
        BatchAddUtxo {
            request: BatchAddUtxoRequest,
            token: String,
        },
        GetMetrics {
            request: GetMetricsRequest,
            token: String,
        },
        GetBlocksByTimestamp {
            request: GetBlocksByTimestampRequest,
            token: String,
        },
        GetBlocksByHeight {
            request: GetBlocksByHeightRequest,
            token: String,
        },
        GetBlockByHash {
            request: GetBlockByHashRequest,
            token: String,
        },
        StoreBlock {
            request: StoreBlockRequest,
            token: String,
        },
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum StorageResponseType {
        QueryUtxo(QueryUtxoResponse),
        AddUtxo(AddUtxoResponse),
        RemoveUtxo(RemoveUtxoResponse),
        BatchAddUtxo(BatchAddUtxoResponse),
        GetMetrics(GetMetricsResponse),
        GetBlocksByTimestamp(GetBlocksByTimestampResponse),
        GetBlocksByHeight(GetBlocksByHeightResponse),
        GetBlockByHash(GetBlockByHashResponse),
        StoreBlock(StoreBlockResponse),
    }
}

// ---- block_service/src/main.rs -----------------------------------------------------------
mod block {
    use super::{AgedThreshold, Block, GetMetricsRequest, GetMetricsResponse};
    use serde::{Deserialize, Serialize};
    #[derive(Serialize, Deserialize, Debug)]
    pub struct ValidateBlockRequest {
        pub block_hex: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct ValidateBlockResponse {
        pub success: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetBlockByHashRequest {
        pub block_hash: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetBlockByHashResponse {
        pub block: Option<Block>,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetAgedBlocksRequest {
        pub threshold: AgedThreshold,
        pub token: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GetAgedBlocksResponse {
        pub blocks: Vec<Block>,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum BlockRequestType {
        ValidateBlock {
            request: ValidateBlockRequest,
            token: String,
        },
        GetBlockByHash {
            request: GetBlockByHashRequest,
            token: String,
        },
        GetMetrics {
            request: GetMetricsRequest,
            token: String,
        },
        GetAgedBlocks(GetAgedBlocksRequest),
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum BlockResponseType {
        ValidateBlock(ValidateBlockResponse),
        GetBlockByHash(GetBlockByHashResponse),
        GetMetrics(GetMetricsResponse),
        GetAgedBlocks(GetAgedBlocksResponse),
    }
}

// ---- transaction_service/src/main.rs -----------------------------------------------------
mod transaction {
    use super::{GetMetricsRequest, GetMetricsResponse};
    use serde::{Deserialize, Serialize};
    #[derive(Serialize, Deserialize, Debug)]
    pub struct ValidateTransactionRequest {
        pub tx_hex: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct ValidateTransactionResponse {
        pub success: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct ProcessTransactionRequest {
        pub tx_hex: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct ProcessTransactionResponse {
        pub success: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct BatchValidateTransactionRequest {
        pub tx_hexes: Vec<String>,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct BatchValidateTransactionResponse {
        pub results: Vec<ValidateTransactionResponse>,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct IndexTransactionRequest {
        pub tx_hex: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct IndexTransactionResponse {
        pub success: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum TransactionRequestType {
        ValidateTransaction {
            request: ValidateTransactionRequest,
            token: String,
        },
        ProcessTransaction {
            request: ProcessTransactionRequest,
            token: String,
        },
        BatchValidateTransaction {
            request: BatchValidateTransactionRequest,
            token: String,
        },
        IndexTransaction {
            request: IndexTransactionRequest,
            token: String,
        },
        GetMetrics {
            request: GetMetricsRequest,
            token: String,
        },
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum TransactionResponseType {
        ValidateTransaction(ValidateTransactionResponse),
        ProcessTransaction(ProcessTransactionResponse),
        BatchValidateTransaction(BatchValidateTransactionResponse),
        IndexTransaction(IndexTransactionResponse),
        GetMetrics(GetMetricsResponse),
    }
}

// ---- validation_service/src/main.rs ------------------------------------------------------
mod validation {
    use super::{GetMetricsRequest, GetMetricsResponse};
    use serde::{Deserialize, Serialize};
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GenerateSPVProofRequest {
        pub txid: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct GenerateSPVProofResponse {
        pub success: bool,
        pub merkle_path: String,
        pub block_headers: Vec<String>,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct VerifySPVProofRequest {
        pub txid: String,
        pub merkle_path: String,
        pub block_headers: Vec<String>,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct VerifySPVProofResponse {
        pub success: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct BatchGenerateSPVProofRequest {
        pub txids: Vec<String>,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct BatchGenerateSPVProofResponse {
        pub results: Vec<GenerateSPVProofResponse>,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct StreamSPVProofsRequest {
        pub txid: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct StreamSPVProofsResponse {
        pub success: bool,
        pub merkle_path: String,
        pub block_headers: Vec<String>,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum ValidationRequestType {
        GenerateSPVProof {
            request: GenerateSPVProofRequest,
            token: String,
        },
        VerifySPVProof {
            request: VerifySPVProofRequest,
            token: String,
        },
        BatchGenerateSPVProof {
            request: BatchGenerateSPVProofRequest,
            token: String,
        },
        StreamSPVProofs {
            request: StreamSPVProofsRequest,
            token: String,
        },
        GetMetrics {
            request: GetMetricsRequest,
            token: String,
        },
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum ValidationResponseType {
        GenerateSPVProof(GenerateSPVProofResponse),
        VerifySPVProof(VerifySPVProofResponse),
        BatchGenerateSPVProof(BatchGenerateSPVProofResponse),
        StreamSPVProofs(StreamSPVProofsResponse),
        GetMetrics(GetMetricsResponse),
    }
}

// ---- auth_service/src/main.rs, alert_service/src/main.rs ---------------------------------
mod auth {
    use super::{GetMetricsRequest, GetMetricsResponse};
    use serde::{Deserialize, Serialize};
    #[derive(Serialize, Deserialize, Debug)]
    pub struct AuthenticateRequest {
        pub token: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct AuthenticateResponse {
        pub success: bool,
        pub user_id: String,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct AuthorizeRequest {
        pub user_id: String,
        pub service: String,
        pub method: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct AuthorizeResponse {
        pub allowed: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum AuthRequestType {
        Authenticate { request: AuthenticateRequest },
        Authorize { request: AuthorizeRequest },
        GetMetrics { request: GetMetricsRequest },
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum AuthResponseType {
        Authenticate(AuthenticateResponse),
        Authorize(AuthorizeResponse),
        GetMetrics(GetMetricsResponse),
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct SendAlertRequest {
        pub event_type: String,
        pub message: String,
        pub severity: u32,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub struct SendAlertResponse {
        pub success: bool,
        pub error: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum AlertRequestType {
        SendAlert {
            request: SendAlertRequest,
            token: String,
        },
        GetMetrics {
            request: GetMetricsRequest,
            token: String,
        },
    }
    #[derive(Serialize, Deserialize, Debug)]
    pub enum AlertResponseType {
        SendAlert(SendAlertResponse),
        GetMetrics(GetMetricsResponse),
    }
}

const TOKEN: &str = "galaxy-jwt";
const TXID: &str = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16";
const HASH: &str = "00000000d1145790a8694403d4063f323d499e655c83426834d4ce2f8dd4a2ee";

fn t() -> String {
    TOKEN.to_string()
}

/// A small block in both forms.
fn blocks() -> (Block, ours::SvBlock) {
    let theirs = Block {
        header: BlockHeader {
            version: 1,
            prev_hash: Hash256([1; 32]),
            merkle_root: Hash256([2; 32]),
            timestamp: 1_231_006_505,
            bits: 0x1d00_ffff,
            nonce: 7,
        },
        txns: vec![Tx {
            version: 1,
            inputs: vec![TxIn {
                prev_output: OutPoint {
                    hash: Hash256([0; 32]),
                    index: u32::MAX,
                },
                unlock_script: Script(vec![4, 0xff, 0xff, 0, 0x1d]),
                sequence: u32::MAX,
            }],
            outputs: vec![TxOut {
                satoshis: 5_000_000_000,
                lock_script: Script(vec![0x76, 0xa9]),
            }],
            lock_time: 0,
        }],
    };
    let ours = ours::SvBlock {
        header: ours::SvBlockHeader {
            version: 1,
            prev_hash: [1; 32],
            merkle_root: [2; 32],
            timestamp: 1_231_006_505,
            bits: 0x1d00_ffff,
            nonce: 7,
        },
        txns: vec![ours::SvTx {
            version: 1,
            inputs: vec![ours::SvTxIn {
                prev_output: ours::SvOutPoint {
                    hash: [0; 32],
                    index: u32::MAX,
                },
                unlock_script: vec![4, 0xff, 0xff, 0, 0x1d],
                sequence: u32::MAX,
            }],
            outputs: vec![ours::SvTxOut {
                satoshis: 5_000_000_000,
                lock_script: vec![0x76, 0xa9],
            }],
            lock_time: 0,
        }],
    };
    (theirs, ours)
}

fn metrics() -> (GetMetricsResponse, ours::GetMetricsResponse) {
    (
        GetMetricsResponse {
            service_name: "storage_service".into(),
            requests_total: 42,
            avg_latency_ms: 1.5,
            errors_total: 1,
            cache_hits: 9,
            alert_count: 0,
            index_throughput: 12.25,
        },
        ours::GetMetricsResponse {
            service_name: "storage_service".into(),
            requests_total: 42,
            avg_latency_ms: 1.5,
            errors_total: 1,
            cache_hits: 9,
            alert_count: 0,
            index_throughput: 12.25,
        },
    )
}

#[test]
fn torrent_service_messages() {
    use torrent::*;
    golden(
        "torrent-offload",
        &TorrentRequestType::OffloadAgedBlocks { token: t() },
        ours::TorrentRequestType::OffloadAgedBlocks { token: t() },
    );
    golden(
        "torrent-get-proof",
        &TorrentRequestType::GetProof {
            txid: TXID.into(),
            block_hash: HASH.into(),
            token: t(),
        },
        ours::TorrentRequestType::GetProof {
            txid: TXID.into(),
            block_hash: HASH.into(),
            token: t(),
        },
    );
    golden(
        "torrent-get-metrics",
        &TorrentRequestType::GetMetrics { token: t() },
        ours::TorrentRequestType::GetMetrics { token: t() },
    );
    golden(
        "torrent-offload-success",
        &TorrentResponseType::OffloadSuccess {
            success: true,
            error: String::new(),
        },
        ours::TorrentResponseType::OffloadSuccess {
            success: true,
            error: String::new(),
        },
    );
    golden(
        "torrent-proof-bundle",
        &TorrentResponseType::ProofBundle {
            proof: "fe7f4f0600".into(),
            error: String::new(),
        },
        ours::TorrentResponseType::ProofBundle {
            proof: "fe7f4f0600".into(),
            error: String::new(),
        },
    );
    golden(
        "torrent-metrics",
        &TorrentResponseType::Metrics {
            metrics: GetMetricsResponse {
                service_name: "torrent_service".into(),
                requests_total: 3,
                avg_latency_ms: 0.25,
                errors_total: 0,
                alert_count: 1,
            },
        },
        ours::TorrentResponseType::Metrics {
            metrics: ours::TorrentMetrics {
                service_name: "torrent_service".into(),
                requests_total: 3,
                avg_latency_ms: 0.25,
                errors_total: 0,
                alert_count: 1,
            },
        },
    );
}

#[test]
fn storage_service_messages() {
    use storage::*;
    let (block, sv) = blocks();
    let (m, om) = metrics();
    golden(
        "storage-query-utxo",
        &StorageRequestType::QueryUtxo {
            request: QueryUtxoRequest {
                txid: TXID.into(),
                vout: 1,
            },
            token: t(),
        },
        ours::StorageRequestType::QueryUtxo {
            request: ours::QueryUtxoRequest {
                txid: TXID.into(),
                vout: 1,
            },
            token: t(),
        },
    );
    golden(
        "storage-query-utxo-reply",
        &StorageResponseType::QueryUtxo(QueryUtxoResponse {
            exists: true,
            script_pubkey: "76a9".into(),
            amount: 1000,
            error: String::new(),
        }),
        ours::StorageResponseType::QueryUtxo(ours::QueryUtxoResponse {
            exists: true,
            script_pubkey: "76a9".into(),
            amount: 1000,
            error: String::new(),
        }),
    );
    golden(
        "storage-blocks-by-height",
        &StorageRequestType::GetBlocksByHeight {
            request: GetBlocksByHeightRequest {
                max_height: 413_567,
            },
            token: t(),
        },
        ours::StorageRequestType::GetBlocksByHeight {
            request: ours::GetBlocksByHeightRequest {
                max_height: 413_567,
            },
            token: t(),
        },
    );
    golden(
        "storage-blocks-by-timestamp",
        &StorageRequestType::GetBlocksByTimestamp {
            request: GetBlocksByTimestampRequest {
                before_timestamp: 1_600_000_000,
            },
            token: t(),
        },
        ours::StorageRequestType::GetBlocksByTimestamp {
            request: ours::GetBlocksByTimestampRequest {
                before_timestamp: 1_600_000_000,
            },
            token: t(),
        },
    );
    golden(
        "storage-block-by-hash",
        &StorageRequestType::GetBlockByHash {
            request: GetBlockByHashRequest {
                block_hash: HASH.into(),
            },
            token: t(),
        },
        ours::StorageRequestType::GetBlockByHash {
            request: ours::GetBlockByHashRequest {
                block_hash: HASH.into(),
            },
            token: t(),
        },
    );
    golden(
        "storage-blocks-reply",
        &StorageResponseType::GetBlocksByHeight(GetBlocksByHeightResponse {
            blocks: vec![block.clone()],
            error: String::new(),
        }),
        ours::StorageResponseType::GetBlocksByHeight(ours::BlocksResponse {
            blocks: vec![sv.clone()],
            error: String::new(),
        }),
    );
    golden(
        "storage-block-by-hash-reply",
        &StorageResponseType::GetBlockByHash(GetBlockByHashResponse {
            block,
            error: String::new(),
        }),
        ours::StorageResponseType::GetBlockByHash(ours::StorageBlockByHashResponse {
            block: sv,
            error: String::new(),
        }),
    );
    golden(
        "storage-metrics",
        &StorageRequestType::GetMetrics {
            request: GetMetricsRequest {},
            token: t(),
        },
        ours::StorageRequestType::GetMetrics {
            request: ours::GetMetricsRequest {},
            token: t(),
        },
    );
    golden(
        "storage-metrics-reply",
        &StorageResponseType::GetMetrics(m),
        ours::StorageResponseType::GetMetrics(om),
    );
}

#[test]
fn block_transaction_validation_auth_and_alert_messages() {
    let (block, sv) = blocks();
    golden(
        "block-by-hash",
        &block::BlockRequestType::GetBlockByHash {
            request: block::GetBlockByHashRequest {
                block_hash: HASH.into(),
            },
            token: t(),
        },
        ours::BlockRequestType::GetBlockByHash {
            request: ours::GetBlockByHashRequest {
                block_hash: HASH.into(),
            },
            token: t(),
        },
    );
    golden(
        "block-by-hash-reply",
        &block::BlockResponseType::GetBlockByHash(block::GetBlockByHashResponse {
            block: Some(block.clone()),
            error: String::new(),
        }),
        ours::BlockResponseType::GetBlockByHash(ours::BlockByHashResponse {
            block: Some(sv.clone()),
            error: String::new(),
        }),
    );
    golden(
        "block-aged",
        &block::BlockRequestType::GetAgedBlocks(block::GetAgedBlocksRequest {
            threshold: AgedThreshold::Months(60),
            token: t(),
        }),
        ours::BlockRequestType::GetAgedBlocks(ours::GetAgedBlocksRequest {
            threshold: ours::AgedThreshold::Months(60),
            token: t(),
        }),
    );
    golden(
        "block-aged-reply",
        &block::BlockResponseType::GetAgedBlocks(block::GetAgedBlocksResponse {
            blocks: vec![block],
            error: String::new(),
        }),
        ours::BlockResponseType::GetAgedBlocks(ours::BlocksResponse {
            blocks: vec![sv],
            error: String::new(),
        }),
    );
    golden(
        "transaction-process",
        &transaction::TransactionRequestType::ProcessTransaction {
            request: transaction::ProcessTransactionRequest {
                tx_hex: "0100".into(),
            },
            token: t(),
        },
        ours::TransactionRequestType::ProcessTransaction {
            request: ours::TxHexRequest {
                tx_hex: "0100".into(),
            },
            token: t(),
        },
    );
    golden(
        "transaction-process-reply",
        &transaction::TransactionResponseType::ProcessTransaction(
            transaction::ProcessTransactionResponse {
                success: false,
                error: "bad-txns".into(),
            },
        ),
        ours::TransactionResponseType::ProcessTransaction(ours::Outcome {
            success: false,
            error: "bad-txns".into(),
        }),
    );
    let headers = vec!["01000000".to_string()];
    golden(
        "validation-verify",
        &validation::ValidationRequestType::VerifySPVProof {
            request: validation::VerifySPVProofRequest {
                txid: TXID.into(),
                merkle_path: "fe7f".into(),
                block_headers: headers.clone(),
            },
            token: t(),
        },
        ours::ValidationRequestType::VerifySPVProof {
            request: ours::VerifySPVProofRequest {
                txid: TXID.into(),
                merkle_path: "fe7f".into(),
                block_headers: headers,
            },
            token: t(),
        },
    );
    golden(
        "validation-verify-reply",
        &validation::ValidationResponseType::VerifySPVProof(validation::VerifySPVProofResponse {
            success: true,
            error: String::new(),
        }),
        ours::ValidationResponseType::VerifySPVProof(ours::Outcome {
            success: true,
            error: String::new(),
        }),
    );
    golden(
        "auth-authenticate",
        &auth::AuthRequestType::Authenticate {
            request: auth::AuthenticateRequest { token: t() },
        },
        ours::AuthRequestType::Authenticate {
            request: ours::AuthenticateRequest { token: t() },
        },
    );
    golden(
        "auth-authenticate-reply",
        &auth::AuthResponseType::Authenticate(auth::AuthenticateResponse {
            success: true,
            user_id: "miner".into(),
            error: String::new(),
        }),
        ours::AuthResponseType::Authenticate(ours::AuthenticateResponse {
            success: true,
            user_id: "miner".into(),
            error: String::new(),
        }),
    );
    golden(
        "auth-authorize",
        &auth::AuthRequestType::Authorize {
            request: auth::AuthorizeRequest {
                user_id: "miner".into(),
                service: "torrent_service".into(),
                method: "Prefetch".into(),
            },
        },
        ours::AuthRequestType::Authorize {
            request: ours::AuthorizeRequest {
                user_id: "miner".into(),
                service: "torrent_service".into(),
                method: "Prefetch".into(),
            },
        },
    );
    golden(
        "auth-authorize-reply",
        &auth::AuthResponseType::Authorize(auth::AuthorizeResponse {
            allowed: false,
            error: "no role".into(),
        }),
        ours::AuthResponseType::Authorize(ours::AuthorizeResponse {
            allowed: false,
            error: "no role".into(),
        }),
    );
    golden(
        "alert-send",
        &auth::AlertRequestType::SendAlert {
            request: auth::SendAlertRequest {
                event_type: "seeder_slashed".into(),
                message: "seeder 7 failed an audit".into(),
                severity: 2,
            },
            token: t(),
        },
        ours::AlertRequestType::SendAlert {
            request: ours::SendAlertRequest {
                event_type: "seeder_slashed".into(),
                message: "seeder 7 failed an audit".into(),
                severity: 2,
            },
            token: t(),
        },
    );
    golden(
        "alert-send-reply",
        &auth::AlertResponseType::SendAlert(auth::SendAlertResponse {
            success: true,
            error: String::new(),
        }),
        ours::AlertResponseType::SendAlert(ours::Outcome {
            success: true,
            error: String::new(),
        }),
    );
}
