//! The BitTorrent peer wire protocol (BEP 3, with the BEP 6 fast extension and BEP 10
//! extension messages carried opaquely): a handshake codec and a push decoder for the
//! length-prefixed messages ([`wire`]), and the audit session that speaks it to a seeder
//! ([`session`]); the host only moves its bytes.

pub mod session;
pub mod wire;
