//! The proof transports (DESIGN §8): gRPC with gRPC-web ([`grpc`]) and JSON ([`json`]),
//! with the Block Headers Service's chain-tracker routes ([`chain`]) and SV Node's REST
//! interface ([`rest`]), all thin over [`crate::proofs::Proofs`]: they parse a request, check its limits, and
//! map the answer or the typed failure to their wire (status codes live here, not in
//! `proofs`).
//!
//! May use `proofs`, `http::registry` (GetBundle), `auth` (Prefetch), `net` and `proto`.

pub(crate) mod chain;
pub(crate) mod grpc;
pub(crate) mod json;
pub(crate) mod rest;
