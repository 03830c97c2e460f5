//! Our side of the BitTorrent swarms: the engine that seeds and fetches bundles
//! ([`session`], librqbit behind a trait of ours) and the audit client that asks a seeder
//! for random pieces as an ordinary peer would ([`audit`]).
//!
//! Uses `config` only; it knows nothing of accounts, money or proofs (the callers turn an
//! audit's verdict into a reward or a slash).

pub(crate) mod audit;
pub(crate) mod session;
