//! The UDP tracker wire format: BEP 15 connect/announce/scrape with connection ids, and
//! BEP 41 URL data (where a passkey can ride along).
//!
//! Connection ids are not stored: an id is a keyed hash of the client's address and a
//! two-minute time bucket, so the tracker checks it statelessly and a spoofed source
//! address cannot obtain one (it never sees the reply).

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use sha2::{Digest, Sha256};

use super::swarm::{Announce, AnnounceReply, Event, ScrapeStats};
use crate::encode::Reader;
use crate::metainfo::InfoHashV1;
use crate::time::UnixMillis;

/// The BEP 15 protocol id of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Seconds a connection id stays valid (one bucket, plus the previous one).
pub const CONNECTION_BUCKET_S: u64 = 120;
/// Most info-hashes per UDP scrape (BEP 15 allows about 74 in one packet).
pub const MAX_SCRAPE: usize = 74;

/// Why a datagram is refused, and whether the client can be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UdpError {
    /// Too short or unknown action before a transaction id could be read: drop silently.
    #[error("unparseable datagram")]
    Unsendable,
    /// Parsed far enough to answer with an error message.
    #[error("{message}")]
    Sendable {
        /// The request's transaction id.
        transaction_id: u32,
        /// Text for the error response.
        message: &'static str,
    },
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpRequest {
    /// Connect.
    Connect {
        /// Transaction id.
        transaction_id: u32,
    },
    /// Announce.
    Announce {
        /// Connection id to check.
        connection_id: u64,
        /// Transaction id.
        transaction_id: u32,
        /// The announce (address filled from the datagram's source).
        announce: Announce,
        /// BEP 41 URL data, e.g. `/announce?passkey=K`.
        url_data: Option<String>,
    },
    /// Scrape.
    Scrape {
        /// Connection id to check.
        connection_id: u64,
        /// Transaction id.
        transaction_id: u32,
        /// Swarms asked about.
        info_hashes: Vec<InfoHashV1>,
    },
}

/// Returns the connection id of `ip` in the bucket of `now` (`previous` for the one before).
pub fn connection_id(secret: &[u8; 32], ip: IpAddr, now: UnixMillis, previous: bool) -> u64 {
    let bucket = (now.as_secs() / CONNECTION_BUCKET_S).saturating_sub(u64::from(previous));
    let mut h = Sha256::new();
    h.update(secret);
    h.update(bucket.to_be_bytes());
    match ip {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
    let d = h.finalize();
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    u64::from_be_bytes(id)
}

/// Checks a connection id against the current and the previous bucket.
pub fn connection_id_valid(secret: &[u8; 32], ip: IpAddr, now: UnixMillis, id: u64) -> bool {
    id == connection_id(secret, ip, now, false) || id == connection_id(secret, ip, now, true)
}

fn be_u32(r: &mut Reader<'_>) -> Option<u32> {
    r.array::<4>().ok().map(u32::from_be_bytes)
}

fn be_u64(r: &mut Reader<'_>) -> Option<u64> {
    r.array::<8>().ok().map(u64::from_be_bytes)
}

/// Parses a datagram from `source`.
///
/// # Errors
/// [`UdpError`].
pub fn parse(packet: &[u8], source: SocketAddr) -> Result<UdpRequest, UdpError> {
    let mut r = Reader::new(packet);
    let connection_id = be_u64(&mut r).ok_or(UdpError::Unsendable)?;
    let action = be_u32(&mut r).ok_or(UdpError::Unsendable)?;
    let transaction_id = be_u32(&mut r).ok_or(UdpError::Unsendable)?;
    let bad = |message| UdpError::Sendable {
        transaction_id,
        message,
    };
    match action {
        0 => {
            if connection_id != PROTOCOL_ID {
                return Err(bad("bad protocol id"));
            }
            Ok(UdpRequest::Connect { transaction_id })
        }
        1 => {
            let info_hash = InfoHashV1(r.array().map_err(|_| bad("truncated announce"))?);
            let peer_id: [u8; 20] = r.array().map_err(|_| bad("truncated announce"))?;
            let downloaded = be_u64(&mut r).ok_or(bad("truncated announce"))?;
            let left = be_u64(&mut r).ok_or(bad("truncated announce"))?;
            let uploaded = be_u64(&mut r).ok_or(bad("truncated announce"))?;
            let event = match be_u32(&mut r).ok_or(bad("truncated announce"))? {
                0 => Event::None,
                1 => Event::Completed,
                2 => Event::Started,
                3 => Event::Stopped,
                _ => return Err(bad("bad event")),
            };
            let _ip = be_u32(&mut r).ok_or(bad("truncated announce"))?;
            let _key = be_u32(&mut r).ok_or(bad("truncated announce"))?;
            let num_want = be_u32(&mut r).ok_or(bad("truncated announce"))? as i32;
            let port = r
                .array::<2>()
                .map(u16::from_be_bytes)
                .map_err(|_| bad("truncated announce"))?;
            if port == 0 {
                return Err(bad("bad port"));
            }
            // BEP 41 options: 0 end, 1 no-op, 2 URL data (length byte, bytes; concatenated).
            let mut url = Vec::new();
            let mut saw_url = false;
            while let Ok(kind) = r.u8() {
                match kind {
                    0 => break,
                    1 => {}
                    2 => {
                        let len = r.u8().map_err(|_| bad("truncated option"))?;
                        url.extend_from_slice(
                            r.take(usize::from(len))
                                .map_err(|_| bad("truncated option"))?,
                        );
                        saw_url = true;
                    }
                    _ => break,
                }
            }
            let url_data = if saw_url {
                Some(String::from_utf8(url).map_err(|_| bad("URL data is not UTF-8"))?)
            } else {
                None
            };
            Ok(UdpRequest::Announce {
                connection_id,
                transaction_id,
                announce: Announce {
                    info_hash,
                    peer_id,
                    addr: SocketAddr::new(source.ip(), port),
                    event,
                    left,
                    uploaded,
                    downloaded,
                    numwant: (num_want >= 0).then_some(num_want as u32),
                    account: None,
                },
                url_data,
            })
        }
        2 => {
            let rest = r.rest();
            if rest.is_empty() || !rest.len().is_multiple_of(20) {
                return Err(bad("scrape needs whole info-hashes"));
            }
            if rest.len() / 20 > MAX_SCRAPE {
                return Err(bad("too many info-hashes"));
            }
            let info_hashes = rest
                .chunks_exact(20)
                .map(|c| {
                    let mut h = [0u8; 20];
                    h.copy_from_slice(c);
                    InfoHashV1(h)
                })
                .collect();
            Ok(UdpRequest::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            })
        }
        _ => Err(bad("unknown action")),
    }
}

/// Returns the passkey in BEP 41 URL data such as `/announce?passkey=K` or `/K/announce`.
pub fn passkey_from_url_data(url: &str) -> Option<String> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if let Some(k) = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "passkey")
        .map(|(_, v)| v)
    {
        return Some(String::from(k));
    }
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some(k), Some("announce")) if !k.is_empty() => Some(String::from(k)),
        _ => None,
    }
}

/// Returns a connect response.
pub fn connect_response(transaction_id: u32, connection_id: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&transaction_id.to_be_bytes());
    v.extend_from_slice(&connection_id.to_be_bytes());
    v
}

/// Returns an announce response; peers of the other IP family than `v6` are left out, as
/// BEP 15 has one address size per packet.
pub fn announce_response(transaction_id: u32, reply: &AnnounceReply, v6: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(20 + reply.peers.len() * 18);
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(&transaction_id.to_be_bytes());
    v.extend_from_slice(&reply.interval.to_be_bytes());
    v.extend_from_slice(&reply.incomplete.to_be_bytes());
    v.extend_from_slice(&reply.complete.to_be_bytes());
    for p in &reply.peers {
        match (p.ip(), v6) {
            (IpAddr::V4(ip), false) => v.extend_from_slice(&ip.octets()),
            (IpAddr::V6(ip), false) => match ip.to_ipv4_mapped() {
                Some(m) => v.extend_from_slice(&m.octets()),
                None => continue,
            },
            (IpAddr::V6(ip), true) => v.extend_from_slice(&ip.octets()),
            (IpAddr::V4(ip), true) => v.extend_from_slice(&ip.to_ipv6_mapped().octets()),
        }
        v.extend_from_slice(&p.port().to_be_bytes());
    }
    v
}

/// Returns a scrape response.
pub fn scrape_response(transaction_id: u32, stats: &[ScrapeStats]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + stats.len() * 12);
    v.extend_from_slice(&2u32.to_be_bytes());
    v.extend_from_slice(&transaction_id.to_be_bytes());
    for s in stats {
        v.extend_from_slice(&s.complete.to_be_bytes());
        v.extend_from_slice(&s.downloaded.to_be_bytes());
        v.extend_from_slice(&s.incomplete.to_be_bytes());
    }
    v
}

/// Returns an error response.
pub fn error_response(transaction_id: u32, message: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + message.len());
    v.extend_from_slice(&3u32.to_be_bytes());
    v.extend_from_slice(&transaction_id.to_be_bytes());
    v.extend_from_slice(message.as_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn src() -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000)
    }

    #[test]
    fn connect_announce_scrape() {
        let mut c = PROTOCOL_ID.to_be_bytes().to_vec();
        c.extend_from_slice(&0u32.to_be_bytes());
        c.extend_from_slice(&7u32.to_be_bytes());
        assert_eq!(
            parse(&c, src()),
            Ok(UdpRequest::Connect { transaction_id: 7 })
        );
        let secret = [9u8; 32];
        let now = UnixMillis::from_secs(1_000_000);
        let id = connection_id(&secret, src().ip(), now, false);
        assert!(connection_id_valid(
            &secret,
            src().ip(),
            UnixMillis::from_secs(1_000_000 + 120),
            id
        ));
        assert!(!connection_id_valid(
            &secret,
            src().ip(),
            UnixMillis::from_secs(1_000_000 + 400),
            id
        ));
        assert!(!connection_id_valid(
            &secret,
            IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)),
            now,
            id
        ));

        let mut a = id.to_be_bytes().to_vec();
        a.extend_from_slice(&1u32.to_be_bytes());
        a.extend_from_slice(&8u32.to_be_bytes());
        a.extend_from_slice(&[0xaa; 20]);
        a.extend_from_slice(&[0xbb; 20]);
        a.extend_from_slice(&0u64.to_be_bytes());
        a.extend_from_slice(&5u64.to_be_bytes());
        a.extend_from_slice(&0u64.to_be_bytes());
        a.extend_from_slice(&2u32.to_be_bytes());
        a.extend_from_slice(&[0; 8]);
        a.extend_from_slice(&(-1i32).to_be_bytes());
        a.extend_from_slice(&6881u16.to_be_bytes());
        let url = b"/announce?passkey=abc";
        a.push(2);
        a.push(url.len() as u8);
        a.extend_from_slice(url);
        a.push(0);
        match parse(&a, src()).unwrap() {
            UdpRequest::Announce {
                announce,
                url_data,
                transaction_id,
                ..
            } => {
                assert_eq!(transaction_id, 8);
                assert_eq!(announce.left, 5);
                assert_eq!(announce.event, Event::Started);
                assert_eq!(announce.numwant, None);
                assert_eq!(announce.addr.port(), 6881);
                assert_eq!(
                    passkey_from_url_data(url_data.as_deref().unwrap()).as_deref(),
                    Some("abc")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(passkey_from_url_data("/k9/announce").as_deref(), Some("k9"));
        assert_eq!(passkey_from_url_data("/announce"), None);
        // Truncations never panic, and answer when a transaction id was readable.
        for len in 0..a.len() - url.len() - 3 {
            let r = parse(&a[..len], src());
            if len < 16 {
                assert_eq!(r, Err(UdpError::Unsendable));
            } else {
                assert!(
                    matches!(
                        r,
                        Err(UdpError::Sendable {
                            transaction_id: 8,
                            ..
                        })
                    ),
                    "{len}"
                );
            }
        }
    }
}
