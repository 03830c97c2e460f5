//! Tracker logic without sockets: seeder registration messages (DESIGN §5) and the swarm
//! state machine. The host (`torrent_service`) owns HTTP/UDP, the database and the clock.

pub mod http;
pub mod register;
pub mod swarm;
pub mod udp;
