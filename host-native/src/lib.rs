//! # torrent_service
//!
//! The native host: offloads aged Bitcoin SV blocks into deterministic BitTorrent bundles,
//! seeds them, runs the tracker and the proof server, and pays seeders. It owns sockets,
//! files, time, randomness, configuration and logging; every decision that can be made
//! without them lives in [`torrent_core`] (bundle layout, proofs, tracker wire formats and
//! swarms, the ledger's arithmetic, the prune gate). It does not verify proofs for clients
//! (the core does, natively, in wasmtime and in the browser) and it does not run a node:
//! blocks come from a block source (a folder, `blk*.dat` files or Galaxy).
//!
//! Commands (DESIGN §12, `--help` on each): `run` (the service), `bundle`, `inspect`,
//! `proof`, `verify`, `register`, `seed`, `ledger`, `config` and `audit`.
//!
//! ## Data flow
//!
//! ```text
//!  block source ──▶ offload ──▶ bundle files + .torrent ──▶ swarm (librqbit seeds them)
//!  (dir, blk,        │  index: txid → (height, position)      │        ▲
//!   Galaxy)          ▼                                         ▼        │ audits (swarm::audit)
//!                  store (redb) ◀── tracker (announces, registration, stakes) ◀── seeders
//!                    │   ▲                   │
//!                    │   └── ledger ◀────────┘ rewards, slashes, payouts (signed BSV txs)
//!                    ▼
//!                  proofs ──▶ rpc (gRPC, gRPC-web, JSON) ──▶ wallets, browsers
//!                    └── seeders' proof servers when the block's data is pruned here
//!  the prune gate (offload) deletes a block from the source only once enough staked,
//!  audited seeders on independent hosts hold it.
//! ```
//!
//! ## Floors
//!
//! Modules are listed bottom to top; each may use the ones above it in this list, never one
//! below it (a circle is a design question, not a `use` to add). Each folder's `mod.rs`
//! says what it owns and what it must not reach. Little is public: `cli` (for `main`),
//! `service` (to run the whole service in a test), and what the integration tests drive
//! directly (`proto`, `galaxy`, `store`, `offload::inspect`).

// Bottom to top (blank lines keep rustfmt from sorting them).

// One wall clock.
pub(crate) mod clock;

// stdout lines that survive a closed pipe.
pub(crate) mod output;

// "Every N until shutdown".
pub(crate) mod periodic;

// A block file through the core's decoder, without loading it.
pub(crate) mod blockfile;

// The one metrics registry.
pub(crate) mod metrics;

// Generated gRPC types.
pub mod proto;

// The TOML file and its environment overrides.
pub mod config;

// Connection caps, timeouts, rate limits, public addresses.
pub(crate) mod net;

// The redb database.
pub mod store;

// Galaxy's services: messages, client, streamed blocks.
pub mod galaxy;

// Operator alerts.
pub(crate) mod alerts;

// Who may make operator calls.
pub(crate) mod auth;

// The BitTorrent engine and the audit client.
pub(crate) mod swarm;

// Stakes, rewards, slashes, payouts.
pub(crate) mod ledger;

// The HTTP and UDP tracker.
pub(crate) mod tracker;

// Registry, web seed, page.
pub(crate) mod http;

// Proofs from the index, the txid files, the swarm and seeders.
pub(crate) mod proofs;

// gRPC and JSON over `proofs`.
pub(crate) mod rpc;

// Aging, bundling, indexing, the prune gate.
pub mod offload;

// `run`: every part wired together.
pub mod service;

// The commands.
pub mod cli;
