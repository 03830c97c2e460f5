//! Checkpoints: block hashes of the best chain compiled into the code, so that a header a
//! server hands over can be tied to the best chain without trusting that server.
//!
//! A header at height `h` is on the best chain when the headers `h ..= c`, for the first
//! checkpoint `c ≥ h`, link one to the next and the last one's hash is the checkpoint's.
//! That is hash linkage backward from a known hash: forging it means a SHA-256d preimage
//! (or second preimage), whatever the difficulty, so a header invented at difficulty 1
//! (about 2^32 hashes) does not pass, while the proof of work of each header alone would.
//! Each header's proof of work is checked as well (cheap, and it names the failing block).
//!
//! Mainnet only: a height past the last checkpoint (or another network) has no anchor
//! here, and the caller has to say so or ask an independent chain tracker.

mod mainnet;

use super::hash::BlockHash;
use super::header::{Header, HeaderError, check_chain};
use super::network::Network;

/// Why a header could not be tied to the best chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// No checkpoint at or above the height.
    #[error("no checkpoint at or above height {height} on {network} (the last is at {last:?})")]
    NoCheckpoint {
        /// The header's height.
        height: u64,
        /// The network.
        network: Network,
        /// The highest checkpoint, if the network has any.
        last: Option<u64>,
    },
    /// The chain given stops before the checkpoint.
    #[error(
        "the headers from {height} stop at {stops_at} (got {got}), before the checkpoint at {checkpoint}: the chain cannot be tied to it"
    )]
    Short {
        /// The header's height.
        height: u64,
        /// The last height given.
        stops_at: u64,
        /// Headers given.
        got: usize,
        /// The checkpoint's height.
        checkpoint: u64,
    },
    /// A header of the chain fails (linkage or proof of work).
    #[error("block {height}: {source}")]
    Header {
        /// Height of the failing header.
        height: u64,
        /// Why.
        source: HeaderError,
    },
    /// The chain reaches the checkpoint's height with another block.
    #[error(
        "block {height} is {got}, but the checkpoint there is {expected}: this chain is not the best chain"
    )]
    Mismatch {
        /// The checkpoint's height.
        height: u64,
        /// The checkpoint's hash.
        expected: BlockHash,
        /// The chain's block at that height.
        got: BlockHash,
    },
}

/// The checkpoints of `network`, heights ascending (none but on mainnet).
pub fn checkpoints(network: Network) -> impl Iterator<Item = (u64, BlockHash)> {
    let list: &[(u64, &str)] = match network {
        Network::Mainnet => mainnet::MAINNET,
        _ => &[],
    };
    list.iter()
        .filter_map(|(h, x)| x.parse::<BlockHash>().ok().map(|b| (*h, b)))
}

/// The first checkpoint at or above `height`.
pub fn next_checkpoint(network: Network, height: u64) -> Option<(u64, BlockHash)> {
    checkpoints(network).find(|(h, _)| *h >= height)
}

/// Ties the header at `height` (`chain[0]`) to the best chain: `chain` holds the headers
/// from `height` on, up to (at least) the first checkpoint at or above it; they must link
/// one to the next, each meet its target, and the one at the checkpoint's height be the
/// checkpoint. Returns the checkpoint used.
///
/// # Errors
/// [`AnchorError`].
pub fn anchor(
    network: Network,
    height: u64,
    chain: &[Header],
) -> Result<(u64, BlockHash), AnchorError> {
    let Some((c, hash)) = next_checkpoint(network, height) else {
        return Err(AnchorError::NoCheckpoint {
            height,
            network,
            last: checkpoints(network).last().map(|(h, _)| h),
        });
    };
    let need = usize::try_from(c - height + 1).unwrap_or(usize::MAX);
    if chain.len() < need {
        return Err(AnchorError::Short {
            height,
            stops_at: (height + chain.len() as u64).saturating_sub(1),
            got: chain.len(),
            checkpoint: c,
        });
    }
    let chain = &chain[..need];
    check_chain(chain, network, None).map_err(|source| {
        let at = match source {
            HeaderError::BrokenLink { index, .. } => index as u64,
            _ => chain
                .iter()
                .position(|h| h.check_pow(network).is_err())
                .unwrap_or(0) as u64,
        };
        AnchorError::Header {
            height: height + at,
            source,
        }
    })?;
    let got = chain[need - 1].block_hash();
    if got != hash {
        return Err(AnchorError::Mismatch {
            height: c,
            expected: hash,
            got,
        });
    }
    Ok((c, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_ascending_parses_and_starts_at_genesis() {
        let all: alloc::vec::Vec<_> = checkpoints(Network::Mainnet).collect();
        assert_eq!(all.len(), mainnet::MAINNET.len(), "every hash parses");
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(all[0], (0, Network::Mainnet.genesis_hash()));
        assert_eq!(next_checkpoint(Network::Mainnet, 1).map(|c| c.0), Some(170));
        assert_eq!(
            next_checkpoint(Network::Mainnet, 256).map(|c| c.0),
            Some(2015)
        );
        assert_eq!(next_checkpoint(Network::Regtest, 0), None);
        // Period ends are every 2016 blocks up to the fork.
        let ends = all.iter().filter(|(h, _)| h % 2016 == 2015).count();
        assert_eq!(ends, 237);
    }
}
