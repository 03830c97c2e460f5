//! Which addresses count as public, and where a URL a client gave us leads: a proof URL is
//! only ever dialled at public addresses (no loopback, private range or cloud metadata
//! service), unless the operator allows private ones.

use std::net::{IpAddr, SocketAddr};

/// Whether `ip` is an address on the public internet: not loopback, private, shared (CGN),
/// link-local (169.254/16, the cloud metadata service), unspecified, multicast, broadcast,
/// documentation, benchmarking or reserved; IPv4-mapped IPv6 is judged as IPv4.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && v4.octets()[2] == 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0064 && s[1] == 0xff9b))
        }
    }
}

/// Resolves a proof URL (`http(s)://host[:port]`) to the addresses to connect to; with
/// `allow_private` false every one must be public ([`is_public`]).
///
/// # Errors
/// A URL without a host, a name that does not resolve, or a non-public address (named).
pub(crate) async fn resolve_proof_url(
    url: &str,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("proof url {url:?}: {e}"))?;
    let host = uri
        .host()
        .ok_or_else(|| format!("proof url {url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("proof url host {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("proof url host {host} has no address"));
    }
    if !allow_private && let Some(a) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "proof url host {host} resolves to {}, which is not a public address (allow_private_proof_urls = true allows it)",
            a.ip()
        ));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
