//! Bitcoin SV consensus data: hashes, headers, transactions, blocks, merkle trees.

pub mod amount;
pub mod beef;
pub mod blk;
pub mod block;
pub mod bsm;
pub mod checkpoints;
pub mod hash;
pub mod header;
pub mod keys;
pub mod merkle;
pub mod network;
pub mod p2pkh;
#[cfg(any(target_arch = "wasm32", test))]
mod sha256_pair;
pub mod stake;
pub mod tx;
pub mod u256;
