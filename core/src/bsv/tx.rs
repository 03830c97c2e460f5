//! Transactions: decoding with limits, encoding, txids.

use alloc::vec::Vec;

use super::amount::Satoshis;
use super::hash::{Txid, sha256d};
use crate::encode::{DecodeError, Reader, bounded_capacity, write_compact_size};

/// Limits applied while decoding a transaction from untrusted bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLimits {
    /// Most inputs accepted.
    pub max_inputs: u64,
    /// Most outputs accepted.
    pub max_outputs: u64,
    /// Longest script accepted, in bytes.
    pub max_script_len: u64,
}

impl Default for TxLimits {
    /// Generous enough for any mined BSV transaction (scripts up to 4 GiB are decoded by the
    /// streaming block decoder without being held; here a script is held in memory).
    fn default() -> Self {
        Self {
            max_inputs: 10_000_000,
            max_outputs: 10_000_000,
            max_script_len: 1 << 32,
        }
    }
}

/// A reference to a previous transaction's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutPoint {
    /// The transaction holding the output.
    pub txid: Txid,
    /// The output's index.
    pub vout: u32,
}

/// A transaction input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxIn {
    /// The output spent.
    pub prevout: OutPoint,
    /// The unlocking script.
    pub script_sig: Vec<u8>,
    /// Sequence number.
    pub sequence: u32,
}

/// A transaction output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOut {
    /// Value in satoshis.
    pub value: Satoshis,
    /// The locking script.
    pub script_pubkey: Vec<u8>,
}

/// A transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Version.
    pub version: u32,
    /// Inputs.
    pub inputs: Vec<TxIn>,
    /// Outputs.
    pub outputs: Vec<TxOut>,
    /// Lock time.
    pub lock_time: u32,
}

/// Smallest possible encoded input: outpoint, empty script, sequence.
const MIN_INPUT_SIZE: usize = 32 + 4 + 1 + 4;
/// Smallest possible encoded output: value, empty script.
const MIN_OUTPUT_SIZE: usize = 8 + 1;

impl Transaction {
    /// Reads a transaction.
    ///
    /// # Errors
    /// [`DecodeError`] for truncated input, non-canonical counts or limits exceeded.
    pub fn read(r: &mut Reader<'_>, limits: &TxLimits) -> Result<Self, DecodeError> {
        let version = r.u32_le()?;
        let n_in = r.compact_size_max("input count", limits.max_inputs)?;
        let mut inputs = Vec::with_capacity(bounded_capacity(n_in, r.remaining(), MIN_INPUT_SIZE));
        for _ in 0..n_in {
            let txid = Txid::from_byte_array(r.array()?);
            let vout = r.u32_le()?;
            let script_sig = r
                .var_bytes("script length", limits.max_script_len)?
                .to_vec();
            let sequence = r.u32_le()?;
            inputs.push(TxIn {
                prevout: OutPoint { txid, vout },
                script_sig,
                sequence,
            });
        }
        let n_out = r.compact_size_max("output count", limits.max_outputs)?;
        let mut outputs =
            Vec::with_capacity(bounded_capacity(n_out, r.remaining(), MIN_OUTPUT_SIZE));
        for _ in 0..n_out {
            let value = r.u64_le()?;
            let script_pubkey = r
                .var_bytes("script length", limits.max_script_len)?
                .to_vec();
            outputs.push(TxOut {
                value: Satoshis(value),
                script_pubkey,
            });
        }
        let lock_time = r.u32_le()?;
        Ok(Self {
            version,
            inputs,
            outputs,
            lock_time,
        })
    }

    /// Decodes exactly one transaction from `bytes`.
    ///
    /// # Errors
    /// As [`Transaction::read`], plus [`DecodeError::TrailingBytes`].
    pub fn decode(bytes: &[u8], limits: &TxLimits) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let tx = Self::read(&mut r, limits)?;
        r.finish()?;
        Ok(tx)
    }

    /// Appends the serialized transaction to `out`.
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        write_compact_size(out, self.inputs.len() as u64);
        for i in &self.inputs {
            out.extend_from_slice(i.prevout.txid.as_byte_array());
            out.extend_from_slice(&i.prevout.vout.to_le_bytes());
            write_compact_size(out, i.script_sig.len() as u64);
            out.extend_from_slice(&i.script_sig);
            out.extend_from_slice(&i.sequence.to_le_bytes());
        }
        write_compact_size(out, self.outputs.len() as u64);
        for o in &self.outputs {
            out.extend_from_slice(&o.value.to_sat().to_le_bytes());
            write_compact_size(out, o.script_pubkey.len() as u64);
            out.extend_from_slice(&o.script_pubkey);
        }
        out.extend_from_slice(&self.lock_time.to_le_bytes());
    }

    /// Returns the serialized transaction.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }

    /// Returns the txid.
    pub fn txid(&self) -> Txid {
        Txid::from_byte_array(sha256d(&self.encode()))
    }

    /// Returns true for a coinbase: one input spending the null outpoint.
    pub fn is_coinbase(&self) -> bool {
        matches!(self.inputs.as_slice(), [i] if i.prevout.vout == u32::MAX && i.prevout.txid == Txid::default())
    }
}

/// Returns the txid of serialized transaction bytes (no parsing).
pub fn txid_of(raw: &[u8]) -> Txid {
    Txid::from_byte_array(sha256d(raw))
}
