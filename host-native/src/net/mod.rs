//! The network edge every listener shares (DESIGN §16): connection caps and timeouts
//! ([`conn`]), request rate limits ([`limit`]), and which addresses count as public
//! ([`addr`]).
//!
//! Uses only `config`, `clock` and `periodic`; it knows no route, protocol or account.

pub(crate) mod addr;
pub(crate) mod conn;
pub(crate) mod limit;
