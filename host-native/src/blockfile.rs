//! A block file read through the core's push decoder in 1 MiB reads: how the host looks at a
//! block's transactions (their offsets, one of them, the whole block against its header)
//! without loading the block, whatever its size.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use torrent_core::bsv::block::{BlockDecoder, BlockEvent, BlockLimits, BlockSummary};

/// Feeds the block file at `path` to a [`BlockDecoder`], handing each event to `on`, which
/// returns `false` to stop there. Returns the block's summary when it was read to its end
/// (every transaction decoded, the merkle root checked), `None` when `on` stopped first.
///
/// # Errors
/// A file that cannot be read, or bytes that are not one whole block.
pub(crate) fn walk(
    path: &Path,
    mut on: impl FnMut(&BlockEvent) -> bool,
) -> Result<Option<BlockSummary>> {
    let what = || format!("decoding {}", path.display());
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut dec = BlockDecoder::new(BlockLimits::default());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).with_context(what)?;
        if n == 0 {
            break;
        }
        let mut input = &buf[..n];
        while let Some(ev) = dec.decode(&mut input).with_context(what)? {
            if !on(&ev) {
                return Ok(None);
            }
        }
    }
    dec.finish().with_context(what).map(Some)
}
