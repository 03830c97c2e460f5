//! The BitTorrent peer wire protocol (BEP 3, with the BEP 6 fast extension and BEP 10
//! extension messages carried opaquely): a handshake codec and a push decoder for the
//! length-prefixed messages. The audit client in the host speaks it to seeders.

pub mod wire;
