//! The txid index's run files (ADR 0003): where a transaction is, for every transaction of
//! the aged chain, in about 10 bytes per txid.
//!
//! A **run** covers some blocks. Its transactions are numbered in (height, position) order:
//! the *ordinal* of transaction `i` of the run's `j`-th block is the number of transactions
//! in the blocks before it plus `i`. The run keeps, per transaction, the txid's first 48
//! bits (its *key*) and the ordinal, sorted by (key, ordinal), with a directory of buckets
//! over the key's leading bits:
//!
//! ```text
//!  header (64 B) │ blocks: (height u64, tx_count u32) × n │ entries: (key 6 B, ordinal u32) × m │ directory: u64 × (2^b + 1)
//! ```
//!
//! The key's leading `b` bits pick a bucket (`b` is chosen so that a bucket holds 32 to 64
//! entries on average). A lookup reads one bucket (hundreds of bytes: one page) and yields
//! the ordinals whose key matches: the transaction's own, those of a duplicate txid (BIP 30:
//! the coinbases of blocks 91812 and 91842, and of 91722 and 91880, share txids, and both
//! copies stay), and with probability about `m / 2^48` (4·10⁻⁶ at a billion transactions) a
//! false candidate. The host checks each candidate against the block's txid file, which it
//! reads anyway to build the proof, so a false candidate costs one read and is never an
//! answer.
//!
//! Why a fixed 48-bit key rather than fewer bits after the bucket's: every run then holds
//! the same bits of every txid, whatever its size, so runs merge exactly ([`merge`]) and the
//! bytes of a run are a function of its blocks and txids alone: built at once or from
//! chunks merged later, the same blocks give the same file.
//!
//! Sans-IO like the rest of the core: the host reads and writes the bytes; this module
//! encodes, decodes, sorts and searches them.

use alloc::vec::Vec;
use core::ops::Range;

/// The file's first 8 bytes (the last two are the format version).
pub const MAGIC: [u8; 8] = *b"TSTXIX01";
/// Bits of a txid a run keeps.
pub const KEY_BITS: u32 = 48;
/// Bytes of the header.
pub const HEADER_LEN: usize = 64;
/// Bytes per block in the block table.
pub const BLOCK_LEN: usize = 12;
/// Bytes per entry: the key's 6 bytes, then the ordinal.
pub const ENTRY_LEN: usize = 10;
/// Most entries one run may hold (ordinals are 32 bits).
pub const MAX_ENTRIES: u64 = 1 << 32;

/// Why bytes are not a run, or a run cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Not a run file of this version.
    #[error("not a txid index run (bad magic or version)")]
    Magic,
    /// The header's sizes disagree with each other or with the file.
    #[error("malformed run: {0}")]
    Malformed(&'static str),
    /// The blocks are not in ascending height order, or one height appears twice with
    /// different transaction counts.
    #[error("blocks must be in ascending height order, each once (height {0})")]
    Blocks(u64),
    /// More transactions than 32-bit ordinals can number.
    #[error("{0} transactions: a run holds at most 2^32")]
    TooLarge(u64),
    /// An entry's ordinal is past the run's transactions.
    #[error("ordinal {ordinal} past the run's {total} transactions")]
    Ordinal {
        /// The ordinal.
        ordinal: u64,
        /// Transactions in the run.
        total: u64,
    },
    /// Entries were pushed out of order, or a different number than announced.
    #[error("entries out of order or miscounted")]
    Order,
}

/// One block of a run: its height and how many transactions it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunBlock {
    /// Height.
    pub height: u64,
    /// Transactions in the block.
    pub tx_count: u32,
}

/// The first 6 bytes of a txid (internal byte order) as a big-endian number below 2^48:
/// uniform, since txids are SHA-256d outputs, so its leading bits make even buckets.
pub fn key_of(txid: &[u8; 32]) -> u64 {
    let mut k = [0u8; 8];
    k[2..].copy_from_slice(&txid[..6]);
    u64::from_be_bytes(k)
}

/// Bucket bits for a run of `entries`: buckets of 32 to 64 entries on average.
pub fn bucket_bits(entries: u64) -> u8 {
    let mut b = 0u8;
    while b < 32 && (entries >> (b + 6)) > 0 {
        b += 1;
    }
    b
}

/// The bucket of `key` under `b` bucket bits.
fn bucket_of(key: u64, b: u8) -> u64 {
    key >> (KEY_BITS - u32::from(b))
}

/// The block table of a run: heights ascending, with the ordinal each block starts at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Blocks {
    blocks: Vec<RunBlock>,
    starts: Vec<u64>,
    total: u64,
}

impl Blocks {
    /// The table of `blocks`, which must be in strictly ascending height order.
    ///
    /// # Errors
    /// [`RunError::Blocks`] out of order; [`RunError::TooLarge`] past 2^32 transactions.
    pub fn new(blocks: Vec<RunBlock>) -> Result<Self, RunError> {
        let mut starts = Vec::with_capacity(blocks.len());
        let mut total = 0u64;
        for (i, b) in blocks.iter().enumerate() {
            if i > 0 && blocks[i - 1].height >= b.height {
                return Err(RunError::Blocks(b.height));
            }
            starts.push(total);
            total += u64::from(b.tx_count);
        }
        if total > MAX_ENTRIES {
            return Err(RunError::TooLarge(total));
        }
        Ok(Self {
            blocks,
            starts,
            total,
        })
    }

    /// The union of several tables: every height once, ascending (a height in two tables
    /// must have the same transaction count in both).
    ///
    /// # Errors
    /// As [`Blocks::new`], and [`RunError::Blocks`] for a height with two counts.
    pub fn union<'a>(tables: impl IntoIterator<Item = &'a Blocks>) -> Result<Self, RunError> {
        let mut all: Vec<RunBlock> = tables
            .into_iter()
            .flat_map(|t| t.blocks.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        if let Some(w) = all.windows(2).find(|w| w[0].height == w[1].height) {
            return Err(RunError::Blocks(w[1].height));
        }
        Self::new(all)
    }

    /// The blocks.
    pub fn blocks(&self) -> &[RunBlock] {
        &self.blocks
    }

    /// Transactions in all the blocks.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The ordinal of transaction `index` of the block at `height`, if the table has it.
    pub fn ordinal(&self, height: u64, index: u32) -> Option<u32> {
        let j = self
            .blocks
            .binary_search_by_key(&height, |b| b.height)
            .ok()?;
        (index < self.blocks[j].tx_count)
            .then(|| u32::try_from(self.starts[j] + u64::from(index)).ok())
            .flatten()
    }

    /// The number to add to this table's ordinals to get `union`'s, when this table's blocks
    /// sit together in `union` (no other block between its first and last, as a bundle's
    /// blocks in a merge of bundles); `None` otherwise, or when `union` lacks one of them.
    pub fn shift_into(&self, union: &Blocks) -> Option<u64> {
        let (first, last) = (self.blocks.first()?, self.blocks.last()?);
        let at = |h: u64| union.blocks.binary_search_by_key(&h, |b| b.height).ok();
        let (j0, j1) = (at(first.height)?, at(last.height)?);
        (j1 - j0 + 1 == self.blocks.len() && union.blocks[j0..=j1] == self.blocks[..])
            .then(|| union.starts[j0])
    }

    /// The (height, index) of `ordinal`, if it is one of the table's transactions.
    pub fn locate(&self, ordinal: u32) -> Option<(u64, u32)> {
        let o = u64::from(ordinal);
        if o >= self.total {
            return None;
        }
        let j = self.starts.partition_point(|s| *s <= o) - 1;
        // A block of zero transactions starts where the next one does: skip to the last
        // block starting at or before `o` that has transactions.
        let j = (0..=j).rev().find(|&j| self.blocks[j].tx_count > 0)?;
        let index = u32::try_from(o - self.starts[j]).ok()?;
        Some((self.blocks[j].height, index))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for b in &self.blocks {
            out.extend_from_slice(&b.height.to_le_bytes());
            out.extend_from_slice(&b.tx_count.to_le_bytes());
        }
    }
}

/// A run's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bucket bits.
    pub bucket_bits: u8,
    /// Blocks in the block table.
    pub blocks: u32,
    /// Entries.
    pub entries: u64,
}

impl Header {
    /// Where the block table starts.
    pub fn blocks_offset(&self) -> u64 {
        HEADER_LEN as u64
    }

    /// Where the entries start.
    pub fn entries_offset(&self) -> u64 {
        self.blocks_offset() + u64::from(self.blocks) * BLOCK_LEN as u64
    }

    /// Where the directory starts.
    pub fn directory_offset(&self) -> u64 {
        self.entries_offset() + self.entries * ENTRY_LEN as u64
    }

    /// Bytes of the directory.
    pub fn directory_len(&self) -> u64 {
        ((1u64 << self.bucket_bits) + 1) * 8
    }

    /// Bytes of the whole file.
    pub fn file_len(&self) -> u64 {
        self.directory_offset() + self.directory_len()
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[8] = self.bucket_bits;
        h[12..16].copy_from_slice(&self.blocks.to_le_bytes());
        h[16..24].copy_from_slice(&self.entries.to_le_bytes());
        h
    }

    /// Reads a header from the file's first [`HEADER_LEN`] bytes, checking it against the
    /// file's length.
    ///
    /// # Errors
    /// [`RunError`].
    pub fn decode(bytes: &[u8], file_len: u64) -> Result<Self, RunError> {
        let h = bytes.get(..HEADER_LEN).ok_or(RunError::Magic)?;
        if h[..8] != MAGIC {
            return Err(RunError::Magic);
        }
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let header = Self {
            bucket_bits: h[8],
            blocks: u32_at(12),
            entries: u64::from(u32_at(16)) | (u64::from(u32_at(20)) << 32),
        };
        if header.bucket_bits > 32 || h[9..12] != [0, 0, 0] || h[24..].iter().any(|b| *b != 0) {
            return Err(RunError::Malformed("reserved header bytes"));
        }
        if header.entries > MAX_ENTRIES {
            return Err(RunError::TooLarge(header.entries));
        }
        if header.bucket_bits != bucket_bits(header.entries) {
            return Err(RunError::Malformed(
                "bucket bits do not fit the entry count",
            ));
        }
        if header.file_len() != file_len {
            return Err(RunError::Malformed("file length"));
        }
        Ok(header)
    }
}

/// Reads the block table (the bytes from [`Header::blocks_offset`] to
/// [`Header::entries_offset`]).
///
/// # Errors
/// [`RunError`].
pub fn decode_blocks(header: &Header, bytes: &[u8]) -> Result<Blocks, RunError> {
    if bytes.len() as u64 != u64::from(header.blocks) * BLOCK_LEN as u64 {
        return Err(RunError::Malformed("block table length"));
    }
    let blocks = bytes
        .chunks_exact(BLOCK_LEN)
        .map(|c| {
            let mut h = [0u8; 8];
            h.copy_from_slice(&c[..8]);
            RunBlock {
                height: u64::from_le_bytes(h),
                tx_count: u32::from_le_bytes([c[8], c[9], c[10], c[11]]),
            }
        })
        .collect();
    let blocks = Blocks::new(blocks)?;
    if blocks.total() < header.entries {
        return Err(RunError::Malformed("more entries than transactions"));
    }
    Ok(blocks)
}

/// The bucket directory: where each bucket's entries are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    bits: u8,
    starts: Vec<u64>,
}

impl Directory {
    /// Reads the directory (the file's last [`Header::directory_len`] bytes).
    ///
    /// # Errors
    /// [`RunError::Malformed`] for a directory that does not rise to the entry count.
    pub fn decode(header: &Header, bytes: &[u8]) -> Result<Self, RunError> {
        if bytes.len() as u64 != header.directory_len() {
            return Err(RunError::Malformed("directory length"));
        }
        let starts: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut v = [0u8; 8];
                v.copy_from_slice(c);
                u64::from_le_bytes(v)
            })
            .collect();
        if starts.first() != Some(&0)
            || starts.last() != Some(&header.entries)
            || starts.windows(2).any(|w| w[0] > w[1])
        {
            return Err(RunError::Malformed("directory"));
        }
        Ok(Self {
            bits: header.bucket_bits,
            starts,
        })
    }

    /// The entries (by index) that may hold `txid`: read these
    /// (`ENTRY_LEN` bytes each, from [`Header::entries_offset`]) and pass them to
    /// [`candidates`].
    pub fn bucket(&self, txid: &[u8; 32]) -> Range<u64> {
        let b = usize::try_from(bucket_of(key_of(txid), self.bits)).unwrap_or(usize::MAX);
        match (self.starts.get(b), self.starts.get(b.saturating_add(1))) {
            (Some(s), Some(e)) => *s..*e,
            _ => 0..0,
        }
    }

    /// Bytes this directory takes in memory.
    pub fn memory(&self) -> usize {
        self.starts.len() * 8
    }
}

fn decode_entry(e: &[u8]) -> (u64, u32) {
    let mut k = [0u8; 8];
    k[2..].copy_from_slice(&e[..6]);
    (
        u64::from_be_bytes(k),
        u32::from_le_bytes([e[6], e[7], e[8], e[9]]),
    )
}

/// The ordinals among a bucket's `entries` whose key matches `txid` (candidates: check
/// each against the txid file).
pub fn candidates<'a>(entries: &'a [u8], txid: &[u8; 32]) -> impl Iterator<Item = u32> + 'a {
    let key = key_of(txid);
    entries.chunks_exact(ENTRY_LEN).filter_map(move |e| {
        let (k, o) = decode_entry(e);
        (k == key).then_some(o)
    })
}

/// Writes a run as a stream: the header and block table first, then each entry in order,
/// then the directory. Entries must arrive in the run's order (as [`encode`] and [`merge`]
/// produce them) and number exactly as announced.
#[derive(Debug)]
pub struct RunWriter {
    header: Header,
    total: u64,
    pushed: u64,
    last: Option<(u64, u32)>,
    starts: Vec<u64>,
}

impl RunWriter {
    /// A writer of `entries` entries over `blocks`; returns it and the bytes that open the
    /// file (header and block table).
    ///
    /// # Errors
    /// [`RunError::TooLarge`] for more entries than transactions allow.
    pub fn new(blocks: &Blocks, entries: u64) -> Result<(Self, Vec<u8>), RunError> {
        if entries > blocks.total() {
            return Err(RunError::TooLarge(entries));
        }
        let header = Header {
            bucket_bits: bucket_bits(entries),
            blocks: u32::try_from(blocks.blocks.len())
                .map_err(|_| RunError::TooLarge(blocks.blocks.len() as u64))?,
            entries,
        };
        let mut head = Vec::with_capacity(HEADER_LEN + blocks.blocks.len() * BLOCK_LEN);
        head.extend_from_slice(&header.encode());
        blocks.encode(&mut head);
        let buckets = 1usize << header.bucket_bits;
        Ok((
            Self {
                header,
                total: blocks.total(),
                pushed: 0,
                last: None,
                starts: alloc::vec![0u64; buckets + 1],
            },
            head,
        ))
    }

    /// The header this writer announced.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The bytes of one entry: the transaction with `key` (see [`key_of`]) at `ordinal`.
    ///
    /// # Errors
    /// [`RunError::Order`] out of order, past the count or a key of more than 48 bits;
    /// [`RunError::Ordinal`] past the run's transactions.
    pub fn push(&mut self, key: u64, ordinal: u32) -> Result<[u8; ENTRY_LEN], RunError> {
        let at = (key, ordinal);
        if self.pushed >= self.header.entries
            || self.last.is_some_and(|l| l >= at)
            || key >> KEY_BITS != 0
        {
            return Err(RunError::Order);
        }
        if u64::from(ordinal) >= self.total {
            return Err(RunError::Ordinal {
                ordinal: u64::from(ordinal),
                total: self.total,
            });
        }
        self.last = Some(at);
        self.pushed += 1;
        // Counted into the next bucket's start, summed at the end.
        self.starts[bucket_of(key, self.header.bucket_bits) as usize + 1] += 1;
        let mut e = [0u8; ENTRY_LEN];
        e[..6].copy_from_slice(&key.to_be_bytes()[2..]);
        e[6..].copy_from_slice(&ordinal.to_le_bytes());
        Ok(e)
    }

    /// The directory, which closes the file.
    ///
    /// # Errors
    /// [`RunError::Order`] when fewer entries came than announced.
    pub fn finish(mut self) -> Result<Vec<u8>, RunError> {
        if self.pushed != self.header.entries {
            return Err(RunError::Order);
        }
        for i in 1..self.starts.len() {
            self.starts[i] += self.starts[i - 1];
        }
        let mut out = Vec::with_capacity(self.starts.len() * 8);
        for s in &self.starts {
            out.extend_from_slice(&s.to_le_bytes());
        }
        Ok(out)
    }
}

/// Encodes a whole run in memory from `(key, ordinal)` pairs (sorted here).
///
/// # Errors
/// [`RunError`].
pub fn encode(blocks: &Blocks, mut entries: Vec<(u64, u32)>) -> Result<Vec<u8>, RunError> {
    let (mut w, mut out) = RunWriter::new(blocks, entries.len() as u64)?;
    entries.sort_unstable();
    out.reserve(entries.len() * ENTRY_LEN);
    for (key, ordinal) in entries {
        out.extend_from_slice(&w.push(key, ordinal)?);
    }
    out.extend_from_slice(&w.finish()?);
    Ok(out)
}

/// Reads entries of a run (any whole number of them, e.g. the bytes from
/// [`Header::entries_offset`] to [`Header::directory_offset`]) back as `(key, ordinal)`.
pub fn decode_entries(bytes: &[u8]) -> impl Iterator<Item = (u64, u32)> + '_ {
    bytes.chunks_exact(ENTRY_LEN).map(decode_entry)
}

/// Merges runs into one over the union of their blocks: their entries (each as
/// [`decode_entries`] yields them, with its run's block table), ordinals renumbered into the
/// union's, sorted. Returns the union and the merged entries, in order, for a [`RunWriter`];
/// the same transaction held by two inputs (one block in two runs) is kept once. The result
/// is what [`encode`] writes from the union's txids.
///
/// This one sorts in memory (10 bytes an entry); a host merging more than memory holds
/// merges sorted streams itself, in the same order.
///
/// # Errors
/// [`RunError::Blocks`] for tables that disagree on a block.
pub fn merge<I>(inputs: Vec<(Blocks, I)>) -> Result<(Blocks, Vec<(u64, u32)>), RunError>
where
    I: Iterator<Item = (u64, u32)>,
{
    let union = Blocks::union(inputs.iter().map(|(b, _)| b))?;
    let mut all = Vec::new();
    for (blocks, entries) in inputs {
        for (key, ordinal) in entries {
            let (height, index) = blocks.locate(ordinal).ok_or(RunError::Ordinal {
                ordinal: u64::from(ordinal),
                total: blocks.total(),
            })?;
            let o = union
                .ordinal(height, index)
                .ok_or(RunError::Blocks(height))?;
            all.push((key, o));
        }
    }
    all.sort_unstable();
    all.dedup();
    Ok((union, all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn txid(n: u64) -> [u8; 32] {
        // Uniform enough for tests: a splitmix64 of n in the key bytes.
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let mut t = [0u8; 32];
        t[..8].copy_from_slice(&z.to_be_bytes());
        t[8..16].copy_from_slice(&n.to_le_bytes());
        t
    }

    struct Open {
        header: Header,
        blocks: Blocks,
        dir: Directory,
        bytes: Vec<u8>,
    }

    fn open(bytes: Vec<u8>) -> Open {
        let header = Header::decode(&bytes, bytes.len() as u64).unwrap();
        let blocks = decode_blocks(
            &header,
            &bytes[header.blocks_offset() as usize..header.entries_offset() as usize],
        )
        .unwrap();
        let dir = Directory::decode(&header, &bytes[header.directory_offset() as usize..]).unwrap();
        Open {
            header,
            blocks,
            dir,
            bytes,
        }
    }

    impl Open {
        fn find(&self, t: &[u8; 32]) -> Vec<(u64, u32)> {
            let r = self.dir.bucket(t);
            let base = self.header.entries_offset() as usize;
            let e =
                &self.bytes[base + r.start as usize * ENTRY_LEN..base + r.end as usize * ENTRY_LEN];
            candidates(e, t)
                .filter_map(|o| self.blocks.locate(o))
                .collect()
        }
    }

    #[test]
    fn every_txid_is_found_where_it_is_and_duplicates_keep_both_blocks() {
        let blocks = Blocks::new(vec![
            RunBlock {
                height: 91_812,
                tx_count: 3,
            },
            RunBlock {
                height: 91_813,
                tx_count: 0,
            },
            RunBlock {
                height: 91_842,
                tx_count: 2000,
            },
        ])
        .unwrap();
        let mut entries = Vec::new();
        for o in 0..blocks.total() as u32 {
            let (h, i) = blocks.locate(o).unwrap();
            // The coinbase of 91842 repeats the coinbase of 91812 (BIP 30).
            let t = if h == 91_842 && i == 0 {
                txid(0)
            } else {
                txid(u64::from(o))
            };
            entries.push((key_of(&t), o));
        }
        let run = open(encode(&blocks, entries).unwrap());
        assert_eq!(run.header.entries, 2003);
        assert_eq!(run.header.bucket_bits, 5);
        let mut dup = run.find(&txid(0));
        dup.sort_unstable();
        assert_eq!(dup, vec![(91_812, 0), (91_842, 0)]);
        assert_eq!(run.find(&txid(2)), vec![(91_812, 2)]);
        assert_eq!(run.find(&txid(2002)), vec![(91_842, 1999)]);
        assert!(run.find(&txid(1 << 40)).is_empty(), "not a member");
        assert_eq!(
            blocks.locate(3),
            Some((91_842, 0)),
            "the empty block is skipped"
        );
        assert_eq!(blocks.ordinal(91_842, 1999), Some(2002));
        assert_eq!(blocks.ordinal(91_813, 0), None);
        assert_eq!(blocks.locate(2003), None);
    }

    #[test]
    fn chunks_merged_give_the_bytes_of_the_whole() {
        let blocks = Blocks::new(
            (0..40)
                .map(|h| RunBlock {
                    height: 700_000 + h,
                    tx_count: (h as u32 * 37) % 300,
                })
                .collect(),
        )
        .unwrap();
        let all: Vec<(u64, u32)> = (0..blocks.total() as u32)
            .map(|o| (key_of(&txid(u64::from(o))), o))
            .collect();
        let whole = encode(&blocks, all.clone()).unwrap();
        // Three chunks over the same blocks, and two runs over halves of the blocks.
        let mut inputs = Vec::new();
        let mut runs = Vec::new();
        for chunk in all.chunks(2500) {
            runs.push(open(encode(&blocks, chunk.to_vec()).unwrap()));
        }
        for r in &runs {
            let e =
                &r.bytes[r.header.entries_offset() as usize..r.header.directory_offset() as usize];
            inputs.push((
                r.blocks.clone(),
                decode_entries(e).collect::<Vec<_>>().into_iter(),
            ));
        }
        let (union, merged) = merge(inputs).unwrap();
        let (mut w, mut out) = RunWriter::new(&union, merged.len() as u64).unwrap();
        for (k, o) in merged {
            out.extend_from_slice(&w.push(k, o).unwrap());
        }
        out.extend_from_slice(&w.finish().unwrap());
        assert_eq!(out, whole, "chunks merged");

        let (lo, hi) = blocks.blocks().split_at(17);
        let part = |bs: &[RunBlock]| {
            let t = Blocks::new(bs.to_vec()).unwrap();
            let e: Vec<(u64, u32)> = (0..t.total() as u32)
                .map(|o| {
                    let (h, i) = t.locate(o).unwrap();
                    (key_of(&txid(u64::from(blocks.ordinal(h, i).unwrap()))), o)
                })
                .collect();
            open(encode(&t, e).unwrap())
        };
        let halves = [part(hi), part(lo)];
        let inputs: Vec<_> = halves
            .iter()
            .map(|r| {
                let e = &r.bytes
                    [r.header.entries_offset() as usize..r.header.directory_offset() as usize];
                (
                    r.blocks.clone(),
                    decode_entries(e).collect::<Vec<_>>().into_iter(),
                )
            })
            .collect();
        let (union, merged) = merge(inputs).unwrap();
        assert_eq!(union, blocks);
        let (mut w, mut out) = RunWriter::new(&union, merged.len() as u64).unwrap();
        for (k, o) in merged {
            out.extend_from_slice(&w.push(k, o).unwrap());
        }
        out.extend_from_slice(&w.finish().unwrap());
        assert_eq!(out, whole, "runs of other blocks merged");
    }

    #[test]
    fn damaged_or_foreign_bytes_are_refused() {
        let blocks = Blocks::new(vec![RunBlock {
            height: 1,
            tx_count: 100,
        }])
        .unwrap();
        let good = encode(
            &blocks,
            (0..100).map(|o| (key_of(&txid(o)), o as u32)).collect(),
        )
        .unwrap();
        let len = good.len() as u64;
        assert!(Header::decode(&good, len).is_ok());
        assert_eq!(
            Header::decode(&good, len + 1),
            Err(RunError::Malformed("file length"))
        );
        assert_eq!(Header::decode(&good[..10], len), Err(RunError::Magic));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Header::decode(&bad, len), Err(RunError::Magic));
        let mut bad = good.clone();
        bad[8] = 7;
        assert!(Header::decode(&bad, len).is_err(), "bucket bits");
        let h = Header::decode(&good, len).unwrap();
        let mut dir = good[h.directory_offset() as usize..].to_vec();
        dir[8] = 0xff;
        assert!(
            Directory::decode(&h, &dir).is_err(),
            "a directory that falls"
        );
        assert_eq!(
            Blocks::new(vec![
                RunBlock {
                    height: 5,
                    tx_count: 1
                },
                RunBlock {
                    height: 5,
                    tx_count: 1
                }
            ]),
            Err(RunError::Blocks(5))
        );
        let (mut w, _) = RunWriter::new(&blocks, 2).unwrap();
        w.push(10, 1).unwrap();
        assert_eq!(w.push(9, 0), Err(RunError::Order), "out of order");
        assert_eq!(
            w.push(11, 100),
            Err(RunError::Ordinal {
                ordinal: 100,
                total: 100
            })
        );
        assert_eq!(w.finish(), Err(RunError::Order), "one entry short");
    }

    #[test]
    fn a_contiguous_table_shifts_into_a_union_by_one_number() {
        let t = |hs: &[(u64, u32)]| {
            Blocks::new(
                hs.iter()
                    .map(|&(height, tx_count)| RunBlock { height, tx_count })
                    .collect(),
            )
            .unwrap()
        };
        let a = t(&[(1, 3), (2, 0), (3, 5)]);
        let b = t(&[(7, 2), (9, 4)]);
        let union = Blocks::union([&a, &b]).unwrap();
        assert_eq!(a.shift_into(&union), Some(0));
        assert_eq!(b.shift_into(&union), Some(8));
        for (table, shift) in [(&a, 0u64), (&b, 8)] {
            for o in 0..table.total() as u32 {
                let (h, i) = table.locate(o).unwrap();
                assert_eq!(
                    u64::from(union.ordinal(h, i).unwrap()),
                    u64::from(o) + shift
                );
            }
        }
        // Interleaved: block 5 of another table sits between 3 and 7.
        let c = t(&[(3, 5), (7, 2)]);
        let d = t(&[(5, 1)]);
        let u2 = Blocks::union([&c, &d]).unwrap();
        assert_eq!(c.shift_into(&u2), None);
        assert_eq!(d.shift_into(&u2), Some(5));
        assert_eq!(a.shift_into(&b), None);
    }
}
