//! # torrent_core
//!
//! The sans-IO core of `torrent_service`: everything about Bitcoin SV data that can be
//! decided without a socket, a file, a clock or a random number generator.
//!
//! ```text
//!  host bytes ──► encode::Reader / bsv::block::BlockDecoder ──► txids, tx byte ranges
//!                                        │
//!                                        ▼
//!                 bsv::merkle (root, tree, CVE-2012-2459 checks)
//!                                        │
//!                                        ▼
//!        proof::bump (BRC-74) / proof::tsc (TSC) ──► verify against bsv::header::Header
//! ```
//!
//! Beside the proofs, the decisions every host would otherwise make on its own: the bundle
//! layout (`bundle`, `metainfo`), the tracker's codecs and swarms (`tracker`), the audit of a
//! seeder (`peer::session` over `peer::wire`, and `audit` for which pieces and when), the
//! prune gate (`prune`), the txid index's run files (`txindex`), the money (`incentive`,
//! `rewards`, and `settle`, which funds a payout; every amount a [`Satoshis`], with checked
//! arithmetic), and Galaxy's messages (`galaxy`).
//!
//! What it does **not** do: read files, open sockets, look at the time or draw randomness.
//! Hosts (`torrent_service`, `torrent_wasm_guest`, `web_spv`) own all of that and pass bytes,
//! timestamps and seeds in.
//!
//! ## Features
//!
//! - `std` (default): `std::error::Error` for the error types (through `thiserror/std`).
//!   Without it the crate is `no_std` and needs only `alloc`; it builds for
//!   `wasm32-unknown-unknown` and the resulting module imports nothing.
//!
//! ## Untrusted input
//!
//! Every decoder takes explicit limits, returns a typed error with the byte offset where
//! it stopped, and never panics: the property tests in `tests/` feed arbitrary bytes to each.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The core must build without std: import from `core`/`alloc` so that a std-only path never
// creeps in unnoticed (hosts are std crates and do not carry these lints).
#![warn(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod audit;
pub mod bencode;
pub mod bsv;
pub mod bundle;
pub mod encode;
pub mod galaxy;
pub mod hex;
pub mod incentive;
pub mod metainfo;
pub mod peer;
pub mod proof;
pub mod prune;
pub mod rewards;
pub mod settle;
pub mod time;
pub mod tracker;
pub mod txindex;
pub mod verdict;

pub use bsv::amount::Satoshis;
pub use bsv::hash::{BlockHash, MerkleNode, MerkleRoot, Txid};
pub use bsv::header::Header;
pub use bsv::network::Network;
