//! The blocking Galaxy client: connect and I/O timeouts, a frame limit checked before any
//! allocation, and retries with backoff on transport failures (never on an answer).

use super::{Envelope, GalaxyError, read_frame, write_frame};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Connection settings for one Galaxy service.
#[derive(Debug, Clone)]
pub struct GalaxyClient {
    /// Service name, for messages.
    pub service: &'static str,
    /// `host:port`.
    pub addr: String,
    /// Sent with every request.
    pub auth_token: String,
    /// Largest frame accepted or sent.
    pub max_frame: u32,
    /// Connect, read and write timeout.
    pub timeout: Duration,
    /// Attempts on transport failure (at least 1).
    pub attempts: u32,
    /// First backoff; doubled after each failure.
    pub backoff: Duration,
}

impl GalaxyClient {
    /// Connects and sends `req` in its envelope; the caller reads the answer frames.
    ///
    /// # Errors
    /// Transport errors, or a request over the frame limit.
    pub fn send<Q: Serialize>(&self, req: &Q) -> std::io::Result<TcpStream> {
        let mut last = None;
        for sa in self.addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&sa, self.timeout) {
                Ok(mut s) => {
                    s.set_read_timeout(Some(self.timeout))?;
                    s.set_write_timeout(Some(self.timeout))?;
                    s.set_nodelay(true)?;
                    let env = Envelope {
                        auth_token: self.auth_token.clone(),
                        request: req,
                    };
                    write_frame(&mut s, &env, self.max_frame)?;
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "address resolves to nothing")
        }))
    }

    fn once<Q: Serialize, A: DeserializeOwned>(&self, req: &Q) -> std::io::Result<A> {
        let mut s = self.send(req)?;
        read_frame(&mut s, self.max_frame)
    }

    /// One request, one answer; transport failures are retried with backoff.
    ///
    /// # Errors
    /// [`GalaxyError`].
    pub fn call<Q: Serialize, A: DeserializeOwned>(&self, req: &Q) -> Result<A, GalaxyError> {
        let attempts = self.attempts.max(1);
        let mut wait = self.backoff;
        let mut message = String::new();
        for n in 1..=attempts {
            match self.once(req) {
                Ok(a) => return Ok(a),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(GalaxyError::Protocol {
                        service: self.service,
                        addr: self.addr.clone(),
                        message: e.to_string(),
                    });
                }
                Err(e) => {
                    message = e.to_string();
                    tracing::debug!(service = self.service, addr = %self.addr, attempt = n, "galaxy call failed: {e}");
                    if n < attempts {
                        std::thread::sleep(wait);
                        wait = wait.saturating_mul(2).min(Duration::from_secs(30));
                    }
                }
            }
        }
        Err(GalaxyError::Unreachable {
            service: self.service,
            addr: self.addr.clone(),
            message,
            attempts,
        })
    }
}
