//! Whole archived blocks, for the SV Node REST routes (`rpc::rest`): the bundle's block
//! file, served only once it decodes to the header the service holds (merkle root and
//! transaction count), and fetched again from the swarm when it does not (gone, or
//! incomplete: a download that stopped leaves zeros). A file that passed is remembered by
//! its path, length and modification time, so a block is hashed once, not per request.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use torrent_core::Header;
use torrent_core::bsv::block::BlockEvent;

use super::{ProofFailure, Proofs, internal};
use crate::store::HeaderRecord;

/// Checked files remembered at once (past it the set starts again).
const MAX_CHECKED: usize = 4096;

/// Block files that decoded to their header: (path, length, modification time).
pub(crate) type Checked = HashSet<(PathBuf, u64, SystemTime)>;

/// One archived block's file, checked.
#[derive(Debug)]
pub(crate) struct ArchivedBlock {
    /// The block file.
    pub path: PathBuf,
    /// Its length.
    pub len: u64,
}

impl Proofs {
    /// Block `height`'s file, checked against its header, fetched from the swarm when the
    /// local one is missing or does not decode to it; within the proof limits.
    ///
    /// # Errors
    /// A height not offloaded, a block no peer delivers, busy, past the deadline.
    pub(crate) async fn block(
        &self,
        height: u64,
        from: Option<std::net::IpAddr>,
    ) -> Result<ArchivedBlock, ProofFailure> {
        let deadline = Instant::now() + self.deadline;
        self.limited(from, deadline, self.block_held(height)).await
    }

    async fn block_held(&self, height: u64) -> Result<ArchivedBlock, ProofFailure> {
        let rec = self
            .store
            .header(height)
            .map_err(internal)?
            .ok_or_else(|| ProofFailure::NotFound(format!("block {height} is not offloaded")))?;
        let path = self.bundles.join(&rec.bundle).join(&rec.block_file);
        if let Some(len) = self.checked_file(&path, &rec).await? {
            return Ok(ArchivedBlock { path, len });
        }
        self.fetch_file(&rec, &rec.block_file).await?;
        match self.checked_file(&path, &rec).await? {
            Some(len) => Ok(ArchivedBlock { path, len }),
            None => Err(ProofFailure::Unavailable(format!(
                "block {height}: the swarm's copy does not decode to its header"
            ))),
        }
    }

    /// The length of the file at `path` when it holds `rec`'s block (remembered once
    /// checked), `None` when it is missing or holds something else.
    async fn checked_file(
        &self,
        path: &Path,
        rec: &HeaderRecord,
    ) -> Result<Option<u64>, ProofFailure> {
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(None);
        };
        let key = (
            path.to_path_buf(),
            meta.len(),
            meta.modified().map_err(internal)?,
        );
        let known = self
            .blocks_checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&key);
        if known {
            return Ok(Some(key.1));
        }
        let (p, r) = (path.to_path_buf(), rec.clone());
        let good = tokio::task::spawn_blocking(move || decodes_to(&p, &r))
            .await
            .map_err(internal)?;
        if !good {
            tracing::warn!(file = %path.display(), "block file does not decode to its header (incomplete or damaged)");
            return Ok(None);
        }
        let mut checked = self
            .blocks_checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if checked.len() >= MAX_CHECKED {
            checked.clear();
        }
        let len = key.1;
        checked.insert(key);
        Ok(Some(len))
    }
}

/// Whether the file at `path` decodes whole to `rec`'s block: its header, transaction
/// count and merkle root.
fn decodes_to(path: &Path, rec: &HeaderRecord) -> bool {
    let Ok(header) = Header::decode(&rec.header) else {
        return false;
    };
    crate::blockfile::walk(
        path,
        |ev| !matches!(ev, BlockEvent::Header(h) if *h != header),
    )
    .ok()
    .flatten()
    .is_some_and(|s| s.header == header && s.tx_count == rec.tx_count)
}
