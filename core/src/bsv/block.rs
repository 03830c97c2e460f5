//! Blocks: an in-memory decoder for small blocks and a push decoder for any size.
//!
//! [`BlockDecoder`] is fed a block in chunks of any size and yields the header, the
//! transaction count and, for each transaction, its txid and byte range. It holds a fixed
//! amount of state (a partial CompactSize, a SHA-256 state, the `O(log n)` merkle builder)
//! whatever the block or transaction size, so a 4 GB block streams through in bounded
//! memory. At the end it checks the header's merkle root, rejecting mutated trees.
//!
//! ```
//! use torrent_core::bsv::block::{BlockDecoder, BlockEvent, BlockLimits};
//! # fn demo(chunks: &[&[u8]]) -> Result<(), torrent_core::bsv::block::BlockDecodeError> {
//! let mut dec = BlockDecoder::new(BlockLimits::default());
//! for chunk in chunks {
//!     let mut input = *chunk;
//!     while let Some(event) = dec.decode(&mut input)? {
//!         if let BlockEvent::Tx(tx) = event {
//!             // tx.txid, tx.offset, tx.len
//!         }
//!     }
//! }
//! let summary = dec.finish()?;
//! # Ok(()) }
//! ```

use alloc::vec::Vec;

use super::hash::{BlockHash, MerkleRoot, Sha256dEngine, Txid};
use super::header::Header;
use super::merkle::{MerkleError, MerkleRootBuilder};
use super::tx::{Transaction, TxLimits};
use crate::encode::{DecodeError, Reader, bounded_capacity, compact_size_len, write_compact_size};

/// Limits applied while decoding a block from untrusted bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLimits {
    /// Largest block accepted, in bytes.
    pub max_block_size: u64,
    /// Most transactions accepted.
    pub max_tx_count: u64,
    /// Per-transaction limits.
    pub tx: TxLimits,
}

impl Default for BlockLimits {
    /// 16 GiB blocks: four times the largest mined so far; smallest tx is 10 bytes.
    fn default() -> Self {
        Self {
            max_block_size: 16 << 30,
            max_tx_count: (16 << 30) / 10,
            tx: TxLimits::default(),
        }
    }
}

/// Why a block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockDecodeError {
    /// Bad encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A block has at least the coinbase.
    #[error("block declares zero transactions")]
    NoTransactions,
    /// The transactions' merkle tree is mutated (CVE-2012-2459).
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// The transactions do not hash to the header's merkle root.
    #[error("merkle root mismatch: header has {expected}, transactions give {computed}")]
    MerkleRootMismatch {
        /// The header's merkle root.
        expected: MerkleRoot,
        /// The root of the decoded txids.
        computed: MerkleRoot,
    },
    /// The input ended in the middle of the block.
    #[error("block truncated after {consumed} bytes")]
    Truncated {
        /// Bytes consumed before the input ended.
        consumed: u64,
    },
}

/// One transaction as seen by [`BlockDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxInfo {
    /// Position in the block (0 = coinbase).
    pub index: u64,
    /// The txid.
    pub txid: Txid,
    /// Byte offset of the transaction from the start of the block.
    pub offset: u64,
    /// Serialized length.
    pub len: u64,
}

/// What a fully decoded block looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSummary {
    /// The block hash.
    pub hash: BlockHash,
    /// The header.
    pub header: Header,
    /// Number of transactions.
    pub tx_count: u64,
    /// Serialized size in bytes.
    pub size: u64,
}

/// An event from [`BlockDecoder::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockEvent {
    /// The header (first event).
    Header(Header),
    /// The transaction count (second event).
    TxCount(u64),
    /// A complete transaction.
    Tx(TxInfo),
    /// The block is complete and its merkle root checked (last event).
    End(BlockSummary),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Version,
    InCount,
    Prevout,
    ScriptSigLen,
    ScriptSig,
    Sequence,
    OutCount,
    Value,
    ScriptPubkeyLen,
    ScriptPubkey,
    LockTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Header,
    TxCount,
    Tx(Phase),
    End,
    Done(BlockSummary),
    Failed(BlockDecodeError),
}

/// A push decoder for blocks of any size; see the [module docs](self).
///
/// Driving contract: call [`decode`](Self::decode) with the next chunk until it returns
/// `Ok(None)` (the chunk is used up), then feed the next chunk; after the last chunk call
/// [`finish`](Self::finish). The first error is sticky: every later call returns it.
#[derive(Debug, Clone)]
pub struct BlockDecoder {
    limits: BlockLimits,
    state: State,
    pos: u64,
    header_buf: [u8; 80],
    header_have: usize,
    header: Option<Header>,
    varint: [u8; 9],
    varint_have: usize,
    tx_count: u64,
    tx_index: u64,
    tx_start: u64,
    items_left: u64,
    skip_left: u64,
    hasher: Sha256dEngine,
    /// Offset in the current input slice from which transaction bytes are not hashed yet.
    mark: usize,
    merkle: MerkleRootBuilder,
}

impl BlockDecoder {
    /// Returns a decoder waiting for the first byte of a block.
    pub fn new(limits: BlockLimits) -> Self {
        Self {
            limits,
            state: State::Header,
            pos: 0,
            header_buf: [0; 80],
            header_have: 0,
            header: None,
            varint: [0; 9],
            varint_have: 0,
            tx_count: 0,
            tx_index: 0,
            tx_start: 0,
            items_left: 0,
            skip_left: 0,
            hasher: Sha256dEngine::new(),
            mark: 0,
            merkle: MerkleRootBuilder::new(),
        }
    }

    /// Returns the number of bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Returns the summary once the block is complete.
    ///
    /// # Errors
    /// The sticky error, or [`BlockDecodeError::Truncated`] if the block is incomplete.
    pub fn finish(&self) -> Result<BlockSummary, BlockDecodeError> {
        match &self.state {
            State::Done(s) => Ok(*s),
            State::Failed(e) => Err(e.clone()),
            _ => Err(BlockDecodeError::Truncated { consumed: self.pos }),
        }
    }

    /// Consumes bytes from the front of `input` until an event is ready (returned) or the
    /// input is used up (`Ok(None)`).
    ///
    /// # Errors
    /// A [`BlockDecodeError`]; bytes after the end of the block are
    /// [`DecodeError::TrailingBytes`].
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<BlockEvent>, BlockDecodeError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let orig = *input;
        self.mark = 0;
        let r = self.step(input, orig);
        // Hash the bytes of the current transaction consumed in this call in one go: one
        // `update` per chunk instead of one per field keeps small transactions cheap.
        if matches!(self.state, State::Tx(_)) {
            let done = orig.len() - input.len();
            self.hasher.update(&orig[self.mark..done]);
        }
        if let Err(e) = &r {
            self.state = State::Failed(e.clone());
        }
        r
    }

    fn advance(&mut self, input: &mut &[u8], n: usize) -> Result<(), BlockDecodeError> {
        *input = &input[n..];
        self.pos += n as u64;
        if self.pos > self.limits.max_block_size {
            return Err(DecodeError::LimitExceeded {
                what: "block size",
                got: self.pos,
                max: self.limits.max_block_size,
                offset: 0,
            }
            .into());
        }
        Ok(())
    }

    /// Skips `self.skip_left` hashed bytes; returns true once they are all consumed.
    fn skip(&mut self, input: &mut &[u8]) -> Result<bool, BlockDecodeError> {
        let n = usize::try_from(self.skip_left)
            .unwrap_or(usize::MAX)
            .min(input.len());
        self.advance(input, n)?;
        self.skip_left -= n as u64;
        Ok(self.skip_left == 0)
    }

    /// Accumulates a CompactSize; returns it once complete.
    fn varint(&mut self, input: &mut &[u8]) -> Result<Option<u64>, BlockDecodeError> {
        loop {
            let need = match self.varint_have {
                0 => 1,
                _ => match self.varint[0] {
                    0xfd => 3,
                    0xfe => 5,
                    0xff => 9,
                    _ => 1,
                },
            };
            if self.varint_have == need {
                let start = self.pos - need as u64;
                self.varint_have = 0;
                let mut r = Reader::new(&self.varint[..need]);
                return match r.compact_size() {
                    Ok(v) => Ok(Some(v)),
                    Err(_) => Err(DecodeError::NonCanonicalCompactSize {
                        offset: usize::try_from(start).unwrap_or(usize::MAX),
                    }
                    .into()),
                };
            }
            let Some(&b) = input.first() else {
                return Ok(None);
            };
            self.varint[self.varint_have] = b;
            self.varint_have += 1;
            self.advance(input, 1)?;
        }
    }

    fn limit(&self, what: &'static str, got: u64, max: u64) -> Result<u64, BlockDecodeError> {
        if got > max {
            return Err(DecodeError::LimitExceeded {
                what,
                got,
                max,
                offset: usize::try_from(self.pos).unwrap_or(usize::MAX),
            }
            .into());
        }
        Ok(got)
    }

    fn step(
        &mut self,
        input: &mut &[u8],
        orig: &[u8],
    ) -> Result<Option<BlockEvent>, BlockDecodeError> {
        loop {
            match self.state.clone() {
                State::Header => {
                    let n = (80 - self.header_have).min(input.len());
                    self.header_buf[self.header_have..self.header_have + n]
                        .copy_from_slice(&input[..n]);
                    self.header_have += n;
                    self.advance(input, n)?;
                    if self.header_have < 80 {
                        return Ok(None);
                    }
                    let h = Header::from_bytes(&self.header_buf);
                    self.header = Some(h);
                    self.state = State::TxCount;
                    return Ok(Some(BlockEvent::Header(h)));
                }
                State::TxCount => {
                    let Some(n) = self.varint(input)? else {
                        return Ok(None);
                    };
                    if n == 0 {
                        return Err(BlockDecodeError::NoTransactions);
                    }
                    self.tx_count = self.limit("transaction count", n, self.limits.max_tx_count)?;
                    self.begin_tx(orig.len() - input.len());
                    return Ok(Some(BlockEvent::TxCount(n)));
                }
                State::Tx(phase) => {
                    if let Some(info) = self.tx_phase(phase, input, orig)? {
                        return Ok(Some(BlockEvent::Tx(info)));
                    }
                    if matches!(self.state, State::Tx(p) if p == phase) {
                        // The phase needs more input.
                        return Ok(None);
                    }
                }
                State::End => {
                    let header = self
                        .header
                        .ok_or(BlockDecodeError::Truncated { consumed: 0 })?;
                    let computed = self.merkle.finish()?;
                    if computed != header.merkle_root {
                        return Err(BlockDecodeError::MerkleRootMismatch {
                            expected: header.merkle_root,
                            computed,
                        });
                    }
                    let summary = BlockSummary {
                        hash: header.block_hash(),
                        header,
                        tx_count: self.tx_count,
                        size: self.pos,
                    };
                    self.state = State::Done(summary);
                    return Ok(Some(BlockEvent::End(summary)));
                }
                State::Done(_) => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    return Err(DecodeError::TrailingBytes {
                        offset: usize::try_from(self.pos).unwrap_or(usize::MAX),
                        count: input.len(),
                    }
                    .into());
                }
                State::Failed(e) => return Err(e),
            }
        }
    }

    /// Starts a transaction at `at`, its offset in the current input slice.
    fn begin_tx(&mut self, at: usize) {
        self.mark = at;
        self.tx_start = self.pos;
        self.skip_left = 4;
        self.state = State::Tx(Phase::Version);
    }

    fn fixed(&mut self, next: Phase, len: u64) {
        self.skip_left = len;
        self.state = State::Tx(next);
    }

    /// Runs one phase as far as the input allows; returns a finished transaction.
    fn tx_phase(
        &mut self,
        phase: Phase,
        input: &mut &[u8],
        orig: &[u8],
    ) -> Result<Option<TxInfo>, BlockDecodeError> {
        let limits = self.limits.tx;
        match phase {
            Phase::Version => {
                if self.skip(input)? {
                    self.state = State::Tx(Phase::InCount);
                }
            }
            Phase::InCount => {
                if let Some(n) = self.varint(input)? {
                    self.items_left = self.limit("input count", n, limits.max_inputs)?;
                    if n > 0 {
                        self.fixed(Phase::Prevout, 36);
                    } else {
                        self.state = State::Tx(Phase::OutCount);
                    }
                }
            }
            Phase::Prevout => {
                if self.skip(input)? {
                    self.state = State::Tx(Phase::ScriptSigLen);
                }
            }
            Phase::ScriptSigLen => {
                if let Some(n) = self.varint(input)? {
                    let n = self.limit("script length", n, limits.max_script_len)?;
                    self.fixed(Phase::ScriptSig, n);
                }
            }
            Phase::ScriptSig => {
                if self.skip(input)? {
                    self.fixed(Phase::Sequence, 4);
                }
            }
            Phase::Sequence => {
                if self.skip(input)? {
                    self.items_left -= 1;
                    if self.items_left > 0 {
                        self.fixed(Phase::Prevout, 36);
                    } else {
                        self.state = State::Tx(Phase::OutCount);
                    }
                }
            }
            Phase::OutCount => {
                if let Some(n) = self.varint(input)? {
                    self.items_left = self.limit("output count", n, limits.max_outputs)?;
                    if n > 0 {
                        self.fixed(Phase::Value, 8);
                    } else {
                        self.fixed(Phase::LockTime, 4);
                    }
                }
            }
            Phase::Value => {
                if self.skip(input)? {
                    self.state = State::Tx(Phase::ScriptPubkeyLen);
                }
            }
            Phase::ScriptPubkeyLen => {
                if let Some(n) = self.varint(input)? {
                    let n = self.limit("script length", n, limits.max_script_len)?;
                    self.fixed(Phase::ScriptPubkey, n);
                }
            }
            Phase::ScriptPubkey => {
                if self.skip(input)? {
                    self.items_left -= 1;
                    if self.items_left > 0 {
                        self.fixed(Phase::Value, 8);
                    } else {
                        self.fixed(Phase::LockTime, 4);
                    }
                }
            }
            Phase::LockTime => {
                if self.skip(input)? {
                    let done = orig.len() - input.len();
                    self.hasher.update(&orig[self.mark..done]);
                    self.mark = done;
                    let txid = Txid::from_byte_array(self.hasher.finalize_reset());
                    self.merkle.push(txid)?;
                    let info = TxInfo {
                        index: self.tx_index,
                        txid,
                        offset: self.tx_start,
                        len: self.pos - self.tx_start,
                    };
                    self.tx_index += 1;
                    if self.tx_index == self.tx_count {
                        self.state = State::End;
                    } else {
                        self.begin_tx(done);
                    }
                    return Ok(Some(info));
                }
            }
        }
        Ok(None)
    }
}

/// A whole block in memory (for small blocks and tests; stream big ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions, coinbase first.
    pub txs: Vec<Transaction>,
}

impl Block {
    /// Decodes a block and checks its merkle root.
    ///
    /// # Errors
    /// [`BlockDecodeError`].
    pub fn decode(bytes: &[u8], limits: &BlockLimits) -> Result<Self, BlockDecodeError> {
        let mut r = Reader::new(bytes);
        let header = Header::read(&mut r)?;
        let n = r.compact_size_max("transaction count", limits.max_tx_count)?;
        if n == 0 {
            return Err(BlockDecodeError::NoTransactions);
        }
        let mut txs = Vec::with_capacity(bounded_capacity(n, r.remaining(), 10));
        for _ in 0..n {
            txs.push(Transaction::read(&mut r, &limits.tx)?);
        }
        r.finish()?;
        let block = Self { header, txs };
        let computed = super::merkle::root(&block.txids())?;
        if computed != header.merkle_root {
            return Err(BlockDecodeError::MerkleRootMismatch {
                expected: header.merkle_root,
                computed,
            });
        }
        Ok(block)
    }

    /// Returns the txids in block order.
    pub fn txids(&self) -> Vec<Txid> {
        self.txs.iter().map(Transaction::txid).collect()
    }

    /// Returns the serialized block.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80 + compact_size_len(self.txs.len() as u64));
        out.extend_from_slice(&self.header.to_bytes());
        write_compact_size(&mut out, self.txs.len() as u64);
        for tx in &self.txs {
            tx.encode_to(&mut out);
        }
        out
    }
}
