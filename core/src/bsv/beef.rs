//! BEEF (BRC-62, with the BRC-96 V2 layout and the BRC-95 atomic wrapper): transactions with
//! the merkle paths that prove them, as wallets hand them around. Used here to prove a
//! seeder's stake payment by SPV.
//!
//! V1: `0100BEEF`, BUMP count and BUMPs, tx count, then each raw tx followed by a flag byte
//! (1: a BUMP index follows). V2: `0200BEEF`, the same BUMPs, then each tx as a format byte
//! (0 raw tx, 1 BUMP index then raw tx, 2 txid only) and its data. Atomic: `01010101` and the
//! subject txid, then a V1 or V2 BEEF.

use alloc::vec::Vec;

use super::amount::Satoshis;
use super::hash::{MerkleRoot, Txid};
use super::keys::Address;
use super::tx::{Transaction, TxLimits, txid_of};
use crate::encode::{DecodeError, Reader, bounded_capacity, write_compact_size};
use crate::proof::ProofError;
use crate::proof::bump::{Bump, BumpError};

const V1: u32 = 0xEFBE_0001;
const V2: u32 = 0xEFBE_0002;
const ATOMIC: u32 = 0x0101_0101;

/// A payment proven mined by [`Beef::verify_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The paying transaction.
    pub txid: Txid,
    /// Satoshis it pays to the address asked about.
    pub paid: Satoshis,
    /// The transaction itself (its other outputs may carry a stake commitment,
    /// [`super::stake`]).
    pub tx: Transaction,
}

/// Why a BEEF is not acceptable, or does not prove the payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BeefError {
    /// Bad encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A malformed BUMP inside.
    #[error("bump: {0}")]
    Bump(#[from] BumpError),
    /// Neither V1 nor V2 (nor atomic).
    #[error("unknown BEEF version {0:#010x}")]
    Version(u32),
    /// A transaction's BUMP index is out of range.
    #[error("transaction {index} refers to BUMP {bump} of {count}")]
    BumpIndex {
        /// Transaction position.
        index: usize,
        /// The index given.
        bump: u64,
        /// BUMPs present.
        count: usize,
    },
    /// An unknown V2 transaction format byte.
    #[error("unknown transaction format {0}")]
    TxFormat(u8),
    /// No transactions.
    #[error("BEEF holds no transaction")]
    Empty,
    /// The atomic BEEF's subject is not its last transaction.
    #[error("atomic BEEF subject is not in the BEEF")]
    Subject,
    /// The subject transaction carries no merkle path (not mined, or not proven here).
    #[error("transaction {0} has no merkle path")]
    Unproven(Txid),
    /// The merkle path does not reach a header the verifier knows.
    #[error("merkle path of {txid} at height {height} does not match a known header: {reason}")]
    UnknownBlock {
        /// The transaction.
        txid: Txid,
        /// The height its path claims.
        height: u64,
        /// What did not match.
        reason: &'static str,
    },
    /// The path does not prove the transaction.
    #[error("merkle path: {0}")]
    Proof(#[from] ProofError),
    /// A transaction of at most 64 bytes (could be mistaken for a merkle node).
    #[error("subject transaction is too short to be trusted ({0} bytes)")]
    TooShort(usize),
}

/// One transaction of a BEEF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeefTx {
    /// The txid.
    pub txid: Txid,
    /// Raw bytes (`None` for a V2 txid-only entry).
    pub raw: Option<Vec<u8>>,
    /// Index of its BUMP, if it is proven.
    pub bump: Option<usize>,
}

/// A parsed BEEF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beef {
    /// Merkle paths.
    pub bumps: Vec<Bump>,
    /// Transactions, ancestors first; the last is the subject unless atomic says otherwise.
    pub txs: Vec<BeefTx>,
    /// The atomic wrapper's subject txid.
    pub subject: Option<Txid>,
}

fn read_raw_tx<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], BeefError> {
    let start = r.rest();
    let before = r.remaining();
    Transaction::read(r, &TxLimits::default())?;
    Ok(&start[..before - r.remaining()])
}

impl Beef {
    /// Parses a BEEF (V1, V2 or atomic).
    ///
    /// # Errors
    /// [`BeefError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, BeefError> {
        let mut r = Reader::new(bytes);
        let mut version = u32::from_le_bytes(r.array()?);
        let mut subject = None;
        if version == ATOMIC {
            subject = Some(Txid::from_byte_array(r.array()?));
            version = u32::from_le_bytes(r.array()?);
        }
        if version != V1 && version != V2 {
            return Err(BeefError::Version(version));
        }
        let n_bumps = r.compact_size()?;
        let mut bumps = Vec::with_capacity(bounded_capacity(n_bumps, r.remaining(), 4));
        for _ in 0..n_bumps {
            bumps.push(Bump::read(&mut r)?);
        }
        let n_txs = r.compact_size()?;
        let mut txs = Vec::with_capacity(bounded_capacity(n_txs, r.remaining(), 10));
        for index in 0..n_txs as usize {
            let check = |b: u64| -> Result<usize, BeefError> {
                usize::try_from(b)
                    .ok()
                    .filter(|i| *i < bumps.len())
                    .ok_or(BeefError::BumpIndex {
                        index,
                        bump: b,
                        count: bumps.len(),
                    })
            };
            let tx = if version == V1 {
                let raw = read_raw_tx(&mut r)?;
                let bump = match r.u8()? {
                    0 => None,
                    1 => Some(check(r.compact_size()?)?),
                    other => return Err(BeefError::TxFormat(other)),
                };
                BeefTx {
                    txid: txid_of(raw),
                    raw: Some(raw.to_vec()),
                    bump,
                }
            } else {
                match r.u8()? {
                    0 => {
                        let raw = read_raw_tx(&mut r)?;
                        BeefTx {
                            txid: txid_of(raw),
                            raw: Some(raw.to_vec()),
                            bump: None,
                        }
                    }
                    1 => {
                        let bump = Some(check(r.compact_size()?)?);
                        let raw = read_raw_tx(&mut r)?;
                        BeefTx {
                            txid: txid_of(raw),
                            raw: Some(raw.to_vec()),
                            bump,
                        }
                    }
                    2 => BeefTx {
                        txid: Txid::from_byte_array(r.array()?),
                        raw: None,
                        bump: None,
                    },
                    other => return Err(BeefError::TxFormat(other)),
                }
            };
            txs.push(tx);
        }
        r.finish()?;
        if txs.is_empty() {
            return Err(BeefError::Empty);
        }
        if let Some(s) = subject
            && !txs.iter().any(|t| t.txid == s)
        {
            return Err(BeefError::Subject);
        }
        Ok(Self {
            bumps,
            txs,
            subject,
        })
    }

    /// The atomic BEEF of one mined transaction: `raw` and the BUMP that proves it, the
    /// transaction as subject. Byte for byte what @bsv/sdk's `Transaction.toAtomicBEEF`
    /// writes for a transaction with a merkle path (V1 inside).
    ///
    /// # Errors
    /// [`BeefError::Decode`] when `raw` is not one transaction; [`BeefError::Unproven`]
    /// when the BUMP does not hold its txid.
    pub fn proven(raw: &[u8], bump: Bump) -> Result<Self, BeefError> {
        let mut r = Reader::new(raw);
        Transaction::read(&mut r, &TxLimits::default())?;
        r.finish()?;
        let txid = txid_of(raw);
        if !bump.txids().any(|(_, t)| t == txid) {
            return Err(BeefError::Unproven(txid));
        }
        Ok(Self {
            bumps: alloc::vec![bump],
            txs: alloc::vec![BeefTx {
                txid,
                raw: Some(raw.to_vec()),
                bump: Some(0),
            }],
            subject: Some(txid),
        })
    }

    /// Encodes the BEEF: V1 when every transaction is whole, else V2 (BRC-96), inside the
    /// atomic wrapper when it has a subject. [`Self::decode`] reads it back as it was.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(s) = self.subject {
            out.extend_from_slice(&ATOMIC.to_le_bytes());
            out.extend_from_slice(&s.to_byte_array());
        }
        let v1 = self.txs.iter().all(|t| t.raw.is_some());
        out.extend_from_slice(&(if v1 { V1 } else { V2 }).to_le_bytes());
        write_compact_size(&mut out, self.bumps.len() as u64);
        for b in &self.bumps {
            out.extend_from_slice(&b.encode());
        }
        write_compact_size(&mut out, self.txs.len() as u64);
        for t in &self.txs {
            match (&t.raw, t.bump, v1) {
                (Some(raw), bump, true) => {
                    out.extend_from_slice(raw);
                    match bump {
                        Some(i) => {
                            out.push(1);
                            write_compact_size(&mut out, i as u64);
                        }
                        None => out.push(0),
                    }
                }
                (Some(raw), Some(i), false) => {
                    out.push(1);
                    write_compact_size(&mut out, i as u64);
                    out.extend_from_slice(raw);
                }
                (Some(raw), None, false) => {
                    out.push(0);
                    out.extend_from_slice(raw);
                }
                (None, _, _) => {
                    out.push(2);
                    out.extend_from_slice(&t.txid.to_byte_array());
                }
            }
        }
        out
    }

    /// Returns the subject transaction: the atomic subject, else the last one.
    pub fn subject_tx(&self) -> Option<&BeefTx> {
        match self.subject {
            Some(s) => self.txs.iter().find(|t| t.txid == s),
            None => self.txs.last(),
        }
    }

    /// Checks that the subject transaction is mined in a block the caller knows and returns
    /// it with the satoshis it pays to `to`. `merkle_root_at(height)` answers from the verifier's
    /// header store.
    ///
    /// The BUMP is checked the SDK's way (its own tree height), since the verifier knows
    /// headers but not transaction counts. The 64-byte ambiguity that the count closes
    /// elsewhere cannot bite here: a payment to a P2PKH script is at least 85 bytes, and
    /// anything of 64 bytes or less is refused.
    ///
    /// # Errors
    /// [`BeefError`].
    pub fn verify_payment(
        &self,
        to: &Address,
        merkle_root_at: impl Fn(u64) -> Option<MerkleRoot>,
    ) -> Result<Payment, BeefError> {
        let subject = self.subject_tx().ok_or(BeefError::Empty)?;
        let raw = subject
            .raw
            .as_ref()
            .ok_or(BeefError::Unproven(subject.txid))?;
        if raw.len() <= 64 {
            return Err(BeefError::TooShort(raw.len()));
        }
        let bump = subject
            .bump
            .and_then(|i| self.bumps.get(i))
            .ok_or(BeefError::Unproven(subject.txid))?;
        let root = bump.compute_root(&subject.txid)?;
        let known = merkle_root_at(bump.block_height()).ok_or(BeefError::UnknownBlock {
            txid: subject.txid,
            height: bump.block_height(),
            reason: "no header at that height",
        })?;
        if known != root {
            return Err(BeefError::UnknownBlock {
                txid: subject.txid,
                height: bump.block_height(),
                reason: "merkle root differs",
            });
        }
        let tx = Transaction::decode(raw, &TxLimits::default())?;
        let script = to.script_pubkey();
        let paid = tx
            .outputs
            .iter()
            .filter(|o| o.script_pubkey == script)
            .map(|o| o.value)
            .sum();
        Ok(Payment {
            txid: subject.txid,
            paid,
            tx,
        })
    }
}
