//! The UDP tracker (BEP 15, BEP 41): one blocking thread reads datagrams in batches
//! (`recvmmsg`) and answers them (`sendmmsg`); the connection id is checked before anything
//! else (limits, errors), so spoofed datagrams cost the service one hash and no state.

use super::Tracker;
use crate::clock::now;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use torrent_core::time::UnixMillis;
use torrent_core::tracker::udp::{self, UdpError, UdpRequest};

/// Datagrams read, and replies sent, per system call.
const UDP_BATCH: usize = 32;

/// Serves BEP 15 on `socket` from the calling thread until `stop` is set.
///
/// Blocking receives on a plain thread cost far less per datagram than an async task, and
/// reading in batches (`recvmmsg`, replies through `sendmmsg`) costs less again: under a
/// flood most datagrams are refused after the connection-id check, and a refusal must cost
/// far less than the answer the attacker wanted, or the flood outruns the reader and a
/// well-behaved client's announce waits behind it in the socket queue (DESIGN §16). The
/// swarm lock is held only for the announce itself.
pub(crate) fn run_udp_blocking(
    t: &Tracker,
    socket: &std::net::UdpSocket,
    stop: &std::sync::atomic::AtomicBool,
) {
    use nix::errno::Errno;
    use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
    use std::io::{IoSlice, IoSliceMut};
    use std::os::fd::AsRawFd;

    let fd = socket.as_raw_fd();
    // The timeout bounds how long a stop waits; MSG_WAITFORONE makes only the first
    // datagram of a batch wait.
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let mut bufs = vec![[0u8; 2048]; UDP_BATCH];
    let mut rx = MultiHeaders::<SockaddrStorage>::preallocate(UDP_BATCH, None);
    let mut tx = MultiHeaders::<SockaddrStorage>::preallocate(UDP_BATCH, None);
    let mut got: Vec<(usize, usize, SocketAddr)> = Vec::with_capacity(UDP_BATCH);
    let mut replies: Vec<Vec<u8>> = Vec::with_capacity(UDP_BATCH);
    let mut to: Vec<Option<SockaddrStorage>> = Vec::with_capacity(UDP_BATCH);
    while !stop.load(Ordering::Relaxed) {
        got.clear();
        {
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
                .iter_mut()
                .map(|b| [IoSliceMut::new(&mut b[..])])
                .collect();
            match recvmmsg(fd, &mut rx, iovs.iter_mut(), MsgFlags::MSG_WAITFORONE, None) {
                Ok(msgs) => got.extend(msgs.enumerate().filter_map(|(i, m)| {
                    let src = m.address.as_ref().and_then(std_addr)?;
                    Some((i, m.bytes, src))
                })),
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                Err(e) => {
                    tracing::debug!("udp recv: {e}");
                    continue;
                }
            }
        }
        replies.clear();
        to.clear();
        for &(i, n, src) in &got {
            if let Some(reply) = handle_udp(t, &bufs[i][..n], src) {
                replies.push(reply);
                to.push(Some(SockaddrStorage::from(src)));
            }
        }
        if replies.is_empty() {
            continue;
        }
        let iov: Vec<[IoSlice<'_>; 1]> = replies.iter().map(|r| [IoSlice::new(r)]).collect();
        if let Err(e) = sendmmsg(fd, &mut tx, &iov, &to, [], MsgFlags::empty()) {
            tracing::debug!("udp send: {e}");
        }
    }
}

fn std_addr(a: &nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(std::net::SocketAddrV4::from(*v4)));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(std::net::SocketAddrV6::from(*v6)))
}

/// Handles one datagram; `None` means drop it silently.
///
/// Against reflection (DESIGN §16): only a connect is answered before the connection id
/// checks out (its reply is as long as the request), a datagram with a bad connection id
/// gets nothing, and no error reply is longer than the datagram that caused it. The rate
/// limit runs after the connection-id check, so a spoofed source can neither spend its
/// victim's quota nor add keys to the limiter.
pub(crate) fn handle_udp(t: &Tracker, packet: &[u8], src: SocketAddr) -> Option<Vec<u8>> {
    handle_udp_inner(t, packet, src).map(|mut reply| {
        if reply.len() > packet.len() && reply.len() >= 8 && reply[..4] == [0, 0, 0, 3] {
            reply.truncate(packet.len().max(8));
        }
        reply
    })
}

/// Whether the datagram carries a connection id this tracker handed to `src` lately.
fn connection_ok(t: &Tracker, packet: &[u8], src: SocketAddr, now: UnixMillis) -> bool {
    packet
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .is_some_and(|id| {
            udp::connection_id_valid(&t.udp_secret, src.ip(), now, u64::from_be_bytes(id))
        })
}

fn handle_udp_inner(t: &Tracker, packet: &[u8], src: SocketAddr) -> Option<Vec<u8>> {
    let now = now();
    let parsed = udp::parse(packet, src);
    if !matches!(parsed, Ok(UdpRequest::Connect { .. })) {
        if !connection_ok(t, packet, src, now) {
            t.metrics.announce("udp", "bad_connection_id");
            return None;
        }
        if !t.allowed(src.ip()) {
            t.metrics.announce("udp", "rate_limited");
            return None;
        }
    }
    match parsed {
        Err(UdpError::Sendable {
            transaction_id,
            message,
        }) => {
            t.metrics.announce("udp", "malformed");
            Some(udp::error_response(transaction_id, message))
        }
        Err(_) => {
            t.metrics.announce("udp", "malformed");
            None
        }
        Ok(UdpRequest::Connect { transaction_id }) => Some(udp::connect_response(
            transaction_id,
            udp::connection_id(&t.udp_secret, src.ip(), now, false),
        )),
        Ok(UdpRequest::Announce {
            connection_id,
            transaction_id,
            announce,
            url_data,
        }) => {
            debug_assert!(udp::connection_id_valid(
                &t.udp_secret,
                src.ip(),
                now,
                connection_id
            ));
            let passkey = url_data.as_deref().and_then(udp::passkey_from_url_data);
            match t.announce(announce, passkey.as_deref()) {
                Ok(reply) => {
                    t.metrics.announce("udp", "ok");
                    Some(udp::announce_response(
                        transaction_id,
                        &reply,
                        src.is_ipv6() && src.ip().to_canonical().is_ipv6(),
                    ))
                }
                Err(reason) => {
                    t.metrics.announce("udp", "refused");
                    Some(udp::error_response(transaction_id, &reason))
                }
            }
        }
        Ok(UdpRequest::Scrape {
            connection_id,
            transaction_id,
            info_hashes,
        }) => {
            debug_assert!(udp::connection_id_valid(
                &t.udp_secret,
                src.ip(),
                now,
                connection_id
            ));
            t.metrics.scrape("udp");
            let stats: Vec<_> = t.scrape(&info_hashes).into_iter().map(|(_, s)| s).collect();
            Some(udp::scrape_response(transaction_id, &stats))
        }
    }
}
