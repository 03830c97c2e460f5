//! Cross-host tests, one binary: real mainnet blocks, the SDK's vectors, BSM signatures and
//! payouts checked by `@bsv/sdk`, the chain generator, and the wasm guest against the native
//! core.

mod bsm_sdk;
mod bump_vectors;
mod chain_gen;
mod galaxy_frames;
mod galaxy_native;
mod guest_native;
mod payout_sdk;
mod real_blocks;
mod tsc_vectors;
