//! The embedded demo (DESIGN §10): `cargo run -p torrent_service` with no config file and
//! no `block_source` runs the whole flow on the real mainnet blocks shipped in the
//! repository. On the first run it imports blocks 0–255 (the genesis block and
//! `blocks-000001-000255.blk`, 58 KiB, compiled into the binary so that the demo runs
//! wherever the binary is copied) into `<data_dir>/sample-blocks`, one raw file per height,
//! and offloads them in bundles of 128 blocks, so that the 256 samples make two whole
//! bundles (ranges are fixed multiples of `bundle_blocks`; a partial range is never
//! bundled, or miners would not agree on its info-hash). Everything else is the normal
//! service: tracker, seeding, proofs, JSON API, metrics and the SPV page.

use std::path::Path;

use anyhow::{Context, Result, bail};
use torrent_core::Network;
use torrent_core::bsv::blk::BlkFrames;

use crate::config::Config;

/// Mainnet's genesis block, raw.
const GENESIS: &[u8] = include_bytes!("../../../tests/vectors/blocks/block-000000-genesis.bin");

/// Mainnet blocks 1–255 in `blk` framing, as a node writes them.
const BLOCKS_1_255: &[u8] =
    include_bytes!("../../../tests/vectors/blocks/blocks-000001-000255.blk");

/// Blocks per bundle in the demo: 256 samples, two whole bundles.
pub(crate) const DEMO_BUNDLE_BLOCKS: u64 = 128;

/// Whether `run` should be the demo: no config file, no block source and no bundle size
/// chosen through the environment.
pub(crate) fn wanted(config_file: Option<&Path>, config: &Config) -> bool {
    config_file.is_none()
        && config.block_source.is_none()
        && std::env::var_os("TORRENT_SERVICE_BUNDLE_BLOCKS").is_none()
}

/// Imports the samples once (into a temporary folder renamed into place, so that a killed
/// import is redone, never half taken), then points the config at them.
///
/// # Errors
/// The data directory cannot be written.
pub(crate) fn prepare(config: &mut Config) -> Result<()> {
    let dir = config.data_dir.join("sample-blocks");
    if !dir.exists() {
        let part = config.data_dir.join("sample-blocks.part");
        let _ = std::fs::remove_dir_all(&part);
        std::fs::create_dir_all(&part).with_context(|| format!("creating {}", part.display()))?;
        std::fs::write(part.join("000000000.bin"), GENESIS)?;
        let mut height = 0u64;
        for frame in BlkFrames::new(BLOCKS_1_255, Network::Mainnet.disk_magic()) {
            let block = frame.map_err(|e| anyhow::anyhow!("sample blk file: {e}"))?;
            height += 1;
            std::fs::write(part.join(format!("{height:09}.bin")), block)?;
        }
        if height != 255 {
            bail!("the sample blk file holds {height} blocks, 255 expected");
        }
        std::fs::rename(&part, &dir).with_context(|| format!("renaming to {}", dir.display()))?;
        tracing::info!(blocks = height + 1, dir = %dir.display(), "demo: imported the sample mainnet blocks 0-255");
    }
    config.block_source = Some(format!("dir:{}", dir.display()));
    config.bundle_blocks = DEMO_BUNDLE_BLOCKS;
    tracing::info!(
        source = %dir.display(),
        bundle_blocks = DEMO_BUNDLE_BLOCKS,
        "demo: no config file and no block_source, so offloading the sample blocks (set block_source for your own)"
    );
    Ok(())
}
