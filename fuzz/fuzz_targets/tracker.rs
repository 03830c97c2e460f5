//! Fuzz the tracker wire parsers (UDP datagrams, HTTP queries) and BEEF.
#![cfg_attr(fuzzing, no_main)]

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use torrent_core::bsv::beef::Beef;
use torrent_core::tracker::{http, udp};

fn run(data: &[u8]) {
    let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6881);
    let _ = udp::parse(data, src);
    if let Ok(q) = std::str::from_utf8(data) {
        let _ = http::parse_announce(q, src.ip(), None);
        let _ = http::parse_scrape(q);
        let _ = udp::passkey_from_url_data(q);
    }
    if let Ok(b) = Beef::decode(data) {
        let _ = b.subject_tx();
    }
}

include!("common.rs");
fuzz_main!(run);
