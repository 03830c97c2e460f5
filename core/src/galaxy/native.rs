//! Galaxy's own messages, as its services declare them (murphsicles/Galaxy v0.3.0, commit
//! 00c4706cf4eb79d28cddf91031357184243873ff): the request and response enums each service
//! reads and writes, with the token inside each variant, and Galaxy's encoding, bincode
//! 1.3's `serialize` defaults: little endian, fixed-width integers, `u64` lengths, `u32`
//! variant indexes (bincode 2 calls that `config::legacy()`). One message per exchange,
//! read by Galaxy in one socket read into a 1 MiB buffer, so nothing larger crosses its
//! wire ([`MAX_MESSAGE`]).
//!
//! Names, fields, field order and variant order are Galaxy's, service by service (each of
//! its services keeps a private copy of these types, and the copies disagree: the server's
//! copy is the one declared here, since a request must decode where it is answered).
//! Where Galaxy's source leaves a form undefined, this module has to choose, and says so:
//! Galaxy puts rust-sv's `Block` into messages, but rust-sv derives no serde form for it at
//! any tag, so [`SvBlock`] is the form serde's derive would give rust-sv's own fields
//! (`header`, `txns`; hashes as 32 bytes, scripts as byte vectors).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::FrameError;

/// The largest message Galaxy reads (one read into `vec![0u8; 1024 * 1024]`).
pub const MAX_MESSAGE: usize = 1 << 20;

/// Encodes `msg` as Galaxy does (`bincode::serialize`, bincode 1.3).
///
/// # Errors
/// [`FrameError::TooLarge`] past [`MAX_MESSAGE`] (Galaxy would read it cut short), or a
/// value serde cannot encode.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let bytes = bincode::serde::encode_to_vec(msg, bincode::config::legacy())
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    if bytes.len() > MAX_MESSAGE {
        return Err(FrameError::TooLarge {
            len: bytes.len() as u64,
            max: MAX_MESSAGE as u32,
        });
    }
    Ok(bytes)
}

/// Decodes one message as Galaxy encodes it: exactly one value, at most [`MAX_MESSAGE`]
/// bytes of it (a length inside that claims more fails before anything is allocated).
///
/// # Errors
/// [`FrameError::Decode`] or [`FrameError::Trailing`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FrameError> {
    let config = bincode::config::legacy().with_limit::<MAX_MESSAGE>();
    let (v, used) = bincode::serde::decode_from_slice(bytes, config)
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(FrameError::Trailing(bytes.len() - used));
    }
    Ok(v)
}

/// `torrent_service/src/utils.rs`: how old a block must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgedThreshold {
    /// Older than this many months.
    Months(u32),
    /// More than this many blocks below the tip.
    Blocks(u64),
}

/// Every service's `GetMetricsRequest {}` (no bytes on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetMetricsRequest {}

/// The metrics every service but the torrent service answers (7 fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetMetricsResponse {
    /// Service name.
    pub service_name: String,
    /// Requests served.
    pub requests_total: u64,
    /// Mean latency, ms.
    pub avg_latency_ms: f64,
    /// Failed requests.
    pub errors_total: u64,
    /// Cache hits.
    pub cache_hits: u64,
    /// Alerts raised.
    pub alert_count: u64,
    /// Indexing throughput.
    pub index_throughput: f64,
}

// ---- torrent_service (50062), `torrent_service/src/main.rs` ---------------------------

/// What Galaxy's services ask its torrent service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TorrentRequestType {
    /// Offload the aged blocks now.
    OffloadAgedBlocks {
        /// Caller's token.
        token: String,
    },
    /// The proof of a transaction.
    GetProof {
        /// Txid, display hex.
        txid: String,
        /// The block's hash, display hex.
        block_hash: String,
        /// Caller's token.
        token: String,
    },
    /// The service's figures.
    GetMetrics {
        /// Caller's token.
        token: String,
    },
}

/// The torrent service's metrics (its own 5-field `GetMetricsResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentMetrics {
    /// Service name.
    pub service_name: String,
    /// Requests served.
    pub requests_total: u64,
    /// Mean latency, ms.
    pub avg_latency_ms: f64,
    /// Failed requests.
    pub errors_total: u64,
    /// Alerts raised.
    pub alert_count: u64,
}

/// What the torrent service answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TorrentResponseType {
    /// The offload (and any failure: Galaxy answers every error with this variant).
    OffloadSuccess {
        /// Whether it worked.
        success: bool,
        /// Why not.
        error: String,
    },
    /// A proof.
    ProofBundle {
        /// The proof.
        proof: String,
        /// Why there is none.
        error: String,
    },
    /// The figures.
    Metrics {
        /// They.
        metrics: TorrentMetrics,
    },
}

// ---- rust-sv's block, in the serde form Galaxy would need ------------------------------

/// rust-sv `messages::BlockHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvBlockHeader {
    /// Version.
    pub version: u32,
    /// Previous block hash (internal byte order).
    pub prev_hash: [u8; 32],
    /// Merkle root (internal byte order).
    pub merkle_root: [u8; 32],
    /// Time.
    pub timestamp: u32,
    /// Compact target.
    pub bits: u32,
    /// Nonce.
    pub nonce: u32,
}

/// rust-sv `messages::OutPoint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvOutPoint {
    /// Txid (internal byte order).
    pub hash: [u8; 32],
    /// Output index.
    pub index: u32,
}

/// rust-sv `messages::TxIn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvTxIn {
    /// The output spent.
    pub prev_output: SvOutPoint,
    /// Unlocking script.
    pub unlock_script: Vec<u8>,
    /// Sequence.
    pub sequence: u32,
}

/// rust-sv `messages::TxOut`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvTxOut {
    /// Value.
    pub satoshis: i64,
    /// Locking script.
    pub lock_script: Vec<u8>,
}

/// rust-sv `messages::Tx`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvTx {
    /// Version.
    pub version: u32,
    /// Inputs.
    pub inputs: Vec<SvTxIn>,
    /// Outputs.
    pub outputs: Vec<SvTxOut>,
    /// Lock time.
    pub lock_time: u32,
}

/// rust-sv `messages::Block`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvBlock {
    /// Header.
    pub header: SvBlockHeader,
    /// Transactions.
    pub txns: Vec<SvTx>,
}

// ---- storage_service (50053), `storage_service/src/main.rs` ----------------------------

/// `QueryUtxoRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryUtxoRequest {
    /// Txid, display hex.
    pub txid: String,
    /// Output index.
    pub vout: u32,
}

/// `QueryUtxoResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryUtxoResponse {
    /// Whether it is unspent.
    pub exists: bool,
    /// Locking script, hex.
    pub script_pubkey: String,
    /// Value.
    pub amount: u64,
    /// Why not.
    pub error: String,
}

/// `AddUtxoRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddUtxoRequest {
    /// Txid, display hex.
    pub txid: String,
    /// Output index.
    pub vout: u32,
    /// Locking script, hex.
    pub script_pubkey: String,
    /// Value.
    pub amount: u64,
}

/// `AddUtxoResponse`, `RemoveUtxoResponse`, `StoreBlockResponse` and the other `{success,
/// error}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Whether it worked.
    pub success: bool,
    /// Why not.
    pub error: String,
}

/// `RemoveUtxoRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveUtxoRequest {
    /// Txid, display hex.
    pub txid: String,
    /// Output index.
    pub vout: u32,
}

/// `BatchAddUtxoRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAddUtxoRequest {
    /// The outputs.
    pub utxos: Vec<AddUtxoRequest>,
}

/// `BatchAddUtxoResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAddUtxoResponse {
    /// One per output.
    pub results: Vec<Outcome>,
}

/// `GetBlocksByTimestampRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBlocksByTimestampRequest {
    /// Blocks before this Unix time.
    pub before_timestamp: i64,
}

/// `GetBlocksByHeightRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBlocksByHeightRequest {
    /// Blocks up to this height.
    pub max_height: u64,
}

/// `GetBlocksByTimestampResponse`, `GetBlocksByHeightResponse`, `GetAgedBlocksResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlocksResponse {
    /// The blocks.
    pub blocks: Vec<SvBlock>,
    /// Why none.
    pub error: String,
}

/// `GetBlockByHashRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBlockByHashRequest {
    /// Block hash, display hex.
    pub block_hash: String,
}

/// Storage's `GetBlockByHashResponse` (a block, not an option, as declared there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageBlockByHashResponse {
    /// The block.
    pub block: SvBlock,
    /// Why none.
    pub error: String,
}

/// `StoreBlockRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreBlockRequest {
    /// The block.
    pub block: SvBlock,
    /// Its height.
    pub height: u64,
    /// Its time.
    pub timestamp: i64,
}

/// What the Storage service reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageRequestType {
    /// Variant 0.
    QueryUtxo {
        /// The output.
        request: QueryUtxoRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 1.
    AddUtxo {
        /// The output.
        request: AddUtxoRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 2.
    RemoveUtxo {
        /// The output.
        request: RemoveUtxoRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 3.
    BatchAddUtxo {
        /// The outputs.
        request: BatchAddUtxoRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 4.
    GetMetrics {
        /// Nothing.
        request: GetMetricsRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 5.
    GetBlocksByTimestamp {
        /// Before when.
        request: GetBlocksByTimestampRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 6.
    GetBlocksByHeight {
        /// Up to which height.
        request: GetBlocksByHeightRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 7.
    GetBlockByHash {
        /// Which block.
        request: GetBlockByHashRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 8.
    StoreBlock {
        /// The block.
        request: StoreBlockRequest,
        /// Caller's token.
        token: String,
    },
}

/// What the Storage service answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StorageResponseType {
    /// To `QueryUtxo` (and to any failure).
    QueryUtxo(QueryUtxoResponse),
    /// To `AddUtxo`.
    AddUtxo(Outcome),
    /// To `RemoveUtxo`.
    RemoveUtxo(Outcome),
    /// To `BatchAddUtxo`.
    BatchAddUtxo(BatchAddUtxoResponse),
    /// To `GetMetrics`.
    GetMetrics(GetMetricsResponse),
    /// To `GetBlocksByTimestamp`.
    GetBlocksByTimestamp(BlocksResponse),
    /// To `GetBlocksByHeight`.
    GetBlocksByHeight(BlocksResponse),
    /// To `GetBlockByHash`.
    GetBlockByHash(StorageBlockByHashResponse),
    /// To `StoreBlock`.
    StoreBlock(Outcome),
}

// ---- block_service (50054), `block_service/src/main.rs` --------------------------------

/// `ValidateBlockRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateBlockRequest {
    /// The block, hex.
    pub block_hex: String,
}

/// `GetAgedBlocksRequest` as the Block service declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAgedBlocksRequest {
    /// How old.
    pub threshold: AgedThreshold,
    /// Caller's token.
    pub token: String,
}

/// The Block service's `GetBlockByHashResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockByHashResponse {
    /// The block, if known.
    pub block: Option<SvBlock>,
    /// Why none.
    pub error: String,
}

/// What the Block service reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockRequestType {
    /// Variant 0.
    ValidateBlock {
        /// The block.
        request: ValidateBlockRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 1.
    GetBlockByHash {
        /// Which block.
        request: GetBlockByHashRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 2.
    GetMetrics {
        /// Nothing.
        request: GetMetricsRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 3.
    GetAgedBlocks(GetAgedBlocksRequest),
}

/// What the Block service answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BlockResponseType {
    /// To `ValidateBlock` (and to any failure).
    ValidateBlock(Outcome),
    /// To `GetBlockByHash`.
    GetBlockByHash(BlockByHashResponse),
    /// To `GetMetrics`.
    GetMetrics(GetMetricsResponse),
    /// To `GetAgedBlocks`.
    GetAgedBlocks(BlocksResponse),
}

// ---- transaction_service (50052) --------------------------------------------------------

/// `ValidateTransactionRequest`, `ProcessTransactionRequest`, `IndexTransactionRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxHexRequest {
    /// The transaction, hex.
    pub tx_hex: String,
}

/// `BatchValidateTransactionRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchValidateTransactionRequest {
    /// The transactions, hex.
    pub tx_hexes: Vec<String>,
}

/// `BatchValidateTransactionResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchValidateTransactionResponse {
    /// One per transaction.
    pub results: Vec<Outcome>,
}

/// What the Transaction service reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionRequestType {
    /// Variant 0.
    ValidateTransaction {
        /// The transaction.
        request: TxHexRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 1.
    ProcessTransaction {
        /// The transaction.
        request: TxHexRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 2.
    BatchValidateTransaction {
        /// The transactions.
        request: BatchValidateTransactionRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 3.
    IndexTransaction {
        /// The transaction.
        request: TxHexRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 4.
    GetMetrics {
        /// Nothing.
        request: GetMetricsRequest,
        /// Caller's token.
        token: String,
    },
}

/// What the Transaction service answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TransactionResponseType {
    /// To `ValidateTransaction`.
    ValidateTransaction(Outcome),
    /// To `ProcessTransaction`.
    ProcessTransaction(Outcome),
    /// To `BatchValidateTransaction`.
    BatchValidateTransaction(BatchValidateTransactionResponse),
    /// To `IndexTransaction`.
    IndexTransaction(Outcome),
    /// To `GetMetrics`.
    GetMetrics(GetMetricsResponse),
}

// ---- validation_service (50057) ---------------------------------------------------------

/// `GenerateSPVProofRequest`, `StreamSPVProofsRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxidRequest {
    /// Txid, display hex.
    pub txid: String,
}

/// `GenerateSPVProofResponse`, `StreamSPVProofsResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpvProofResponse {
    /// Whether there is one.
    pub success: bool,
    /// The merkle path.
    pub merkle_path: String,
    /// The headers.
    pub block_headers: Vec<String>,
    /// Why not.
    pub error: String,
}

/// `VerifySPVProofRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifySPVProofRequest {
    /// Txid, display hex.
    pub txid: String,
    /// The merkle path.
    pub merkle_path: String,
    /// The headers.
    pub block_headers: Vec<String>,
}

/// `BatchGenerateSPVProofRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchGenerateSPVProofRequest {
    /// Txids, display hex.
    pub txids: Vec<String>,
}

/// `BatchGenerateSPVProofResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchGenerateSPVProofResponse {
    /// One per txid.
    pub results: Vec<SpvProofResponse>,
}

/// What the Validation service reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidationRequestType {
    /// Variant 0.
    GenerateSPVProof {
        /// Which txid.
        request: TxidRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 1.
    VerifySPVProof {
        /// The proof.
        request: VerifySPVProofRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 2.
    BatchGenerateSPVProof {
        /// Which txids.
        request: BatchGenerateSPVProofRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 3.
    StreamSPVProofs {
        /// Which txid.
        request: TxidRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 4.
    GetMetrics {
        /// Nothing.
        request: GetMetricsRequest,
        /// Caller's token.
        token: String,
    },
}

/// What the Validation service answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ValidationResponseType {
    /// To `GenerateSPVProof` (and to any failure).
    GenerateSPVProof(SpvProofResponse),
    /// To `VerifySPVProof`.
    VerifySPVProof(Outcome),
    /// To `BatchGenerateSPVProof`.
    BatchGenerateSPVProof(BatchGenerateSPVProofResponse),
    /// To `StreamSPVProofs` (one answer).
    StreamSPVProofs(SpvProofResponse),
    /// To `GetMetrics`.
    GetMetrics(GetMetricsResponse),
}

// ---- auth_service (50060) and alert_service (50061) -------------------------------------

/// `AuthenticateRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticateRequest {
    /// The token to check (an HS256 JWT).
    pub token: String,
}

/// `AuthenticateResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticateResponse {
    /// Whether it is valid.
    pub success: bool,
    /// Its subject.
    pub user_id: String,
    /// Why not.
    pub error: String,
}

/// `AuthorizeRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    /// Who.
    pub user_id: String,
    /// Which service.
    pub service: String,
    /// Which method.
    pub method: String,
}

/// `AuthorizeResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeResponse {
    /// Whether it may.
    pub allowed: bool,
    /// Why not.
    pub error: String,
}

/// What the Auth service reads (no token in its variants: the token is what it checks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthRequestType {
    /// Variant 0.
    Authenticate {
        /// The token.
        request: AuthenticateRequest,
    },
    /// Variant 1.
    Authorize {
        /// Who, where, what.
        request: AuthorizeRequest,
    },
    /// Variant 2.
    GetMetrics {
        /// Nothing.
        request: GetMetricsRequest,
    },
}

/// What the Auth service answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AuthResponseType {
    /// To `Authenticate` (and to any failure).
    Authenticate(AuthenticateResponse),
    /// To `Authorize`.
    Authorize(AuthorizeResponse),
    /// To `GetMetrics`.
    GetMetrics(GetMetricsResponse),
}

/// `SendAlertRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAlertRequest {
    /// Kind of event.
    pub event_type: String,
    /// What happened.
    pub message: String,
    /// How bad.
    pub severity: u32,
}

/// What the Alert service reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertRequestType {
    /// Variant 0.
    SendAlert {
        /// The alert.
        request: SendAlertRequest,
        /// Caller's token.
        token: String,
    },
    /// Variant 1.
    GetMetrics {
        /// Nothing.
        request: GetMetricsRequest,
        /// Caller's token.
        token: String,
    },
}

/// What the Alert service answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlertResponseType {
    /// To `SendAlert`.
    SendAlert(Outcome),
    /// To `GetMetrics`.
    GetMetrics(GetMetricsResponse),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_bincode_1_3_defaults() {
        // From the Galaxy notes: u32 variant index, u64 string length, bytes.
        let m = TorrentRequestType::GetMetrics {
            token: "abc".to_string(),
        };
        let b = encode(&m).unwrap();
        assert_eq!(b, [2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, b'a', b'b', b'c']);
        assert_eq!(decode::<TorrentRequestType>(&b).unwrap(), m);
        // A length past the 1 MiB Galaxy reads fails before allocating; trailing bytes fail.
        let huge = [2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(decode::<TorrentRequestType>(&huge).is_err());
        let mut trailing = b.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<TorrentRequestType>(&trailing),
            Err(FrameError::Trailing(1))
        ));
        assert!(decode::<TorrentRequestType>(&[9, 0, 0, 0]).is_err());
    }
}
