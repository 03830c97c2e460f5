//! What the HTTP port serves besides proofs: the bundle registry ([`registry`]), the
//! BEP 19 web seed ([`webseed`]) and the web-spv page ([`page`]).
//!
//! May use `store`, `tracker` (a bundle's seeders), `net` and `config`; it serves files and
//! lists, and decides nothing about money or pruning.

pub(crate) mod page;
pub(crate) mod registry;
pub(crate) mod webseed;
