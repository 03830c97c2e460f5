//! The HTTP tracker wire format: BEP 3 announce (BEP 23 compact and non-compact peers, BEP 7
//! `peers6`) and BEP 48 scrape. Query strings in, bencoded bodies out; the host owns the
//! sockets.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use super::swarm::{Announce, AnnounceReply, Event, ScrapeStats, is_v6};
use crate::bencode::{Value, dict, text};
use crate::metainfo::InfoHashV1;

/// Most info-hashes one scrape may ask about.
pub const MAX_SCRAPE: usize = 64;

/// Why a request is refused; [`TrackerError::failure_reason`] is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackerError {
    /// A required parameter is missing.
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// A parameter with a bad value (e.g. an info_hash that is not 20 bytes).
    #[error("invalid parameter {0}")]
    Invalid(&'static str),
    /// Bad percent-encoding.
    #[error("invalid percent-encoding")]
    Encoding,
    /// Too many info-hashes in a scrape.
    #[error("too many info_hash parameters (at most {MAX_SCRAPE})")]
    TooMany,
}

impl TrackerError {
    /// Returns the text for a bencoded `failure reason`.
    pub fn failure_reason(&self) -> String {
        alloc::format!("{self}")
    }
}

fn unhex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a query component (`+` is a space).
///
/// # Errors
/// [`TrackerError::Encoding`].
pub fn percent_decode(s: &str) -> Result<Vec<u8>, TrackerError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b
                    .get(i + 1)
                    .copied()
                    .and_then(unhex)
                    .ok_or(TrackerError::Encoding)?;
                let lo = b
                    .get(i + 2)
                    .copied()
                    .and_then(unhex)
                    .ok_or(TrackerError::Encoding)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Splits a query into decoded `(key, value)` pairs.
///
/// # Errors
/// [`TrackerError::Encoding`].
pub fn query_pairs(query: &str) -> Result<Vec<(String, Vec<u8>)>, TrackerError> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let k = String::from_utf8(percent_decode(k)?).map_err(|_| TrackerError::Encoding)?;
            Ok((k, percent_decode(v)?))
        })
        .collect()
}

fn get<'a>(pairs: &'a [(String, Vec<u8>)], key: &str) -> Option<&'a [u8]> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

fn num(pairs: &[(String, Vec<u8>)], key: &'static str) -> Result<Option<u64>, TrackerError> {
    match get(pairs, key) {
        None => Ok(None),
        Some(v) => core::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Some)
            .ok_or(TrackerError::Invalid(key)),
    }
}

/// An announce as the HTTP request gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnnounce {
    /// The announce for the swarm (no account yet: the host resolves the passkey).
    pub announce: Announce,
    /// The passkey from the query (or the path, passed in by the host).
    pub passkey: Option<String>,
    /// Compact peer lists wanted (BEP 23; default yes).
    pub compact: bool,
}

/// Parses an announce query; `remote` is the connection's address (the `ip` parameter is
/// ignored, so nobody can point a swarm at a third party).
///
/// # Errors
/// [`TrackerError`].
pub fn parse_announce(
    query: &str,
    remote: IpAddr,
    path_passkey: Option<&str>,
) -> Result<HttpAnnounce, TrackerError> {
    let pairs = query_pairs(query)?;
    let ih: [u8; 20] = get(&pairs, "info_hash")
        .ok_or(TrackerError::Missing("info_hash"))?
        .try_into()
        .map_err(|_| TrackerError::Invalid("info_hash"))?;
    let peer_id: [u8; 20] = get(&pairs, "peer_id")
        .ok_or(TrackerError::Missing("peer_id"))?
        .try_into()
        .map_err(|_| TrackerError::Invalid("peer_id"))?;
    let port = num(&pairs, "port")?.ok_or(TrackerError::Missing("port"))?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or(TrackerError::Invalid("port"))?;
    let event = match get(&pairs, "event") {
        None | Some(b"") | Some(b"empty") => Event::None,
        Some(b"started") => Event::Started,
        Some(b"completed") => Event::Completed,
        Some(b"stopped") => Event::Stopped,
        Some(_) => return Err(TrackerError::Invalid("event")),
    };
    let numwant = num(&pairs, "numwant")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let passkey = match path_passkey {
        Some(p) => Some(String::from(p)),
        None => get(&pairs, "passkey")
            .map(|p| String::from_utf8(p.to_vec()).map_err(|_| TrackerError::Invalid("passkey")))
            .transpose()?,
    };
    Ok(HttpAnnounce {
        announce: Announce {
            info_hash: InfoHashV1(ih),
            peer_id,
            addr: SocketAddr::new(remote, port),
            event,
            left: num(&pairs, "left")?.ok_or(TrackerError::Missing("left"))?,
            uploaded: num(&pairs, "uploaded")?.unwrap_or(0),
            downloaded: num(&pairs, "downloaded")?.unwrap_or(0),
            numwant,
            account: None,
        },
        passkey,
        compact: get(&pairs, "compact") != Some(b"0"),
    })
}

/// Parses a scrape query: every `info_hash` parameter.
///
/// # Errors
/// [`TrackerError`].
pub fn parse_scrape(query: &str) -> Result<Vec<InfoHashV1>, TrackerError> {
    let pairs = query_pairs(query)?;
    let hashes: Vec<InfoHashV1> = pairs
        .iter()
        .filter(|(k, _)| k == "info_hash")
        .map(|(_, v)| {
            <[u8; 20]>::try_from(v.as_slice())
                .map(InfoHashV1)
                .map_err(|_| TrackerError::Invalid("info_hash"))
        })
        .collect::<Result<_, _>>()?;
    if hashes.len() > MAX_SCRAPE {
        return Err(TrackerError::TooMany);
    }
    Ok(hashes)
}

/// Returns the bencoded announce reply.
pub fn announce_body(reply: &AnnounceReply, compact: bool) -> Vec<u8> {
    let (v6, v4): (Vec<&SocketAddr>, Vec<&SocketAddr>) = reply.peers.iter().partition(|a| is_v6(a));
    let mut d = dict([
        ("complete", Value::Int(i64::from(reply.complete))),
        ("incomplete", Value::Int(i64::from(reply.incomplete))),
        ("interval", Value::Int(i64::from(reply.interval))),
        ("min interval", Value::Int(i64::from(reply.min_interval))),
    ]);
    let Value::Dict(map) = &mut d else {
        return Vec::new();
    };
    if compact {
        let mut p4 = Vec::with_capacity(v4.len() * 6);
        for a in v4 {
            if let IpAddr::V4(ip) = a.ip() {
                p4.extend_from_slice(&ip.octets());
            } else if let IpAddr::V6(ip) = a.ip()
                && let Some(m) = ip.to_ipv4_mapped()
            {
                p4.extend_from_slice(&m.octets());
            }
            p4.extend_from_slice(&a.port().to_be_bytes());
        }
        map.insert(b"peers".to_vec(), Value::Bytes(p4));
        if !v6.is_empty() {
            let mut p6 = Vec::with_capacity(v6.len() * 18);
            for a in v6 {
                if let IpAddr::V6(ip) = a.ip() {
                    p6.extend_from_slice(&ip.octets());
                    p6.extend_from_slice(&a.port().to_be_bytes());
                }
            }
            map.insert(b"peers6".to_vec(), Value::Bytes(p6));
        }
    } else {
        let list = reply
            .peers
            .iter()
            .map(|a| {
                dict([
                    ("ip", text(&alloc::format!("{}", a.ip()))),
                    ("port", Value::Int(i64::from(a.port()))),
                ])
            })
            .collect();
        map.insert(b"peers".to_vec(), Value::List(list));
    }
    d.encode()
}

/// Returns a bencoded failure.
pub fn failure_body(reason: &str) -> Vec<u8> {
    dict([("failure reason", text(reason))]).encode()
}

/// Returns the bencoded scrape reply.
pub fn scrape_body(stats: &[(InfoHashV1, ScrapeStats)]) -> Vec<u8> {
    let files = stats
        .iter()
        .map(|(ih, s)| {
            (
                ih.0.to_vec(),
                dict([
                    ("complete", Value::Int(i64::from(s.complete))),
                    ("downloaded", Value::Int(i64::from(s.downloaded))),
                    ("incomplete", Value::Int(i64::from(s.incomplete))),
                ]),
            )
        })
        .collect();
    dict([("files", Value::Dict(files))]).encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    const IH: &str = "%124Vx%9a%bc%de%f1%23Eg%89%ab%cd%ef%124Vx%9a";

    #[test]
    fn announce_round_trip() {
        let q = alloc::format!(
            "info_hash={IH}&peer_id=-TR3000-abcdefghijkl&port=51413&uploaded=0&downloaded=0&left=100&event=started&numwant=5&passkey=k1"
        );
        let a = parse_announce(&q, IpAddr::V4(Ipv4Addr::LOCALHOST), None).unwrap();
        assert_eq!(a.announce.info_hash.0[..4], [0x12, 0x34, 0x56, 0x78]);
        assert_eq!(a.passkey.as_deref(), Some("k1"));
        assert_eq!(a.announce.event, Event::Started);
        assert!(a.compact);
        let reply = AnnounceReply {
            interval: 1800,
            min_interval: 300,
            complete: 1,
            incomplete: 2,
            peers: alloc::vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)), 6881),
                SocketAddr::new(IpAddr::V6(core::net::Ipv6Addr::LOCALHOST), 6882),
            ],
        };
        let body = announce_body(&reply, true);
        let v = crate::bencode::decode(&body, &Default::default()).unwrap();
        assert_eq!(
            v.get("peers").unwrap().as_bytes().unwrap(),
            [1, 2, 3, 4, 0x1a, 0xe1]
        );
        assert_eq!(v.get("peers6").unwrap().as_bytes().unwrap().len(), 18);
        let body = announce_body(&reply, false);
        let v = crate::bencode::decode(&body, &Default::default()).unwrap();
        assert_eq!(v.get("peers").unwrap().as_list().unwrap().len(), 2);
    }

    #[test]
    fn strict_parsing() {
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for (q, want) in [
            (
                "peer_id=-TR3000-abcdefghijkl&port=1&left=0",
                TrackerError::Missing("info_hash"),
            ),
            (
                "info_hash=abc&peer_id=-TR3000-abcdefghijkl&port=1&left=0",
                TrackerError::Invalid("info_hash"),
            ),
            ("info_hash=%zz", TrackerError::Encoding),
        ] {
            assert_eq!(parse_announce(q, local, None), Err(want));
        }
        let q = alloc::format!("info_hash={IH}&peer_id=-TR3000-abcdefghijkl&port=0&left=0");
        assert_eq!(
            parse_announce(&q, local, None),
            Err(TrackerError::Invalid("port"))
        );
        let q = alloc::format!(
            "info_hash={IH}&peer_id=-TR3000-abcdefghijkl&port=1&left=0&numwant=99999999999999"
        );
        assert_eq!(
            parse_announce(&q, local, None).unwrap().announce.numwant,
            Some(u32::MAX)
        );
        let many = (0..=MAX_SCRAPE)
            .map(|_| alloc::format!("info_hash={IH}"))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(parse_scrape(&many), Err(TrackerError::TooMany));
    }
}
