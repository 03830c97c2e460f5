//! The service's tests, one binary (linking the service once instead of once per file).
//!
//! Most run the whole service in this process (`common::Service::start`: the library's
//! `Service::start` on port 0); what only a process can show (the CLI, SIGKILL, the demo,
//! real torrent clients talking to the binary) spawns it. The abuse tests, which measure the
//! process's file descriptors and memory, are their own binary (`tests/abuse.rs`).

#[path = "../common/mod.rs"]
mod common;

mod alerts;
mod audit;
mod browser;
mod bundle;
mod cli;
mod clients;
mod demo;
mod galaxy;
mod index;
mod integrity;
mod ledger;
mod proofs;
mod prune;
mod spv;
mod tracker;
