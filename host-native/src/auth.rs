//! Operator authorization: who may call `/admin/*` and the gRPC `Prefetch`.
//!
//! With `auth = "local"` the bearer token must equal the configured `auth_token` (an empty
//! one turns operator calls off). With `auth = "galaxy"` Galaxy's Auth service (50060)
//! decides; its positive answers are cached for the TTL it gives (at most five minutes), so
//! a busy operator console costs one round trip per token and TTL.
//!
//! An Auth service that is down fails closed: operator calls get 503 (gRPC `unavailable`)
//! naming the service, an alert is raised, and everything public (announces, proofs, the
//! web seed) keeps serving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::galaxy::{AuthRequest, AuthResponse, GalaxyClient};

/// The scope operator calls ask the Auth service for.
pub(crate) const ADMIN_SCOPE: &str = "torrent_service.admin";

/// Longest a positive Auth answer is reused.
const MAX_TTL: Duration = Duration::from_secs(300);

/// Why an operator call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No bearer token, or not the configured one.
    #[error("missing or wrong bearer token")]
    Missing,
    /// The Auth service refused the token.
    #[error("token refused by Galaxy Auth: {0}")]
    Denied(String),
    /// The Auth service could not answer.
    #[error("Galaxy Auth unavailable: {0}")]
    Unavailable(String),
    /// Too many failed operator calls from this client lately; not checked.
    #[error("too many failed operator calls from this address; retry in a minute")]
    Limited,
}

impl AuthError {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Denied(_) => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Limited => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

enum Mode {
    Local(String),
    Galaxy(GalaxyClient),
}

/// How long Galaxy Auth's refusal of a token is reused.
const NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// Most entries of either Galaxy answer cache and of the failure table (expired entries are
/// dropped first; past that, new entries are not remembered).
const MAX_ENTRIES: usize = 4096;

/// Failed operator calls per client in its current minute (DESIGN §16): past the limit, its
/// calls are refused unchecked until the minute is over, so a token cannot be guessed
/// faster than that, and with `auth = "galaxy"` a flood of wrong tokens never reaches Galaxy.
#[derive(Debug, Default)]
struct Failures {
    per_min: u32,
    map: Mutex<HashMap<std::net::IpAddr, (Instant, u32)>>,
}

impl Failures {
    fn blocked(&self, ip: std::net::IpAddr) -> bool {
        let key = crate::net::conn::client_key(ip);
        self.per_min > 0
            && self.map.lock().is_ok_and(|m| {
                m.get(&key).is_some_and(|(since, n)| {
                    since.elapsed() < Duration::from_secs(60) && *n >= self.per_min
                })
            })
    }

    fn record(&self, ip: std::net::IpAddr) {
        let Ok(mut m) = self.map.lock() else { return };
        let now = Instant::now();
        if m.len() >= MAX_ENTRIES {
            m.retain(|_, (since, _)| now.duration_since(*since) < Duration::from_secs(60));
        }
        let key = crate::net::conn::client_key(ip);
        if m.len() >= MAX_ENTRIES && !m.contains_key(&key) {
            return;
        }
        let e = m.entry(key).or_insert((now, 0));
        if now.duration_since(e.0) >= Duration::from_secs(60) {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

/// Decides operator tokens (see the module docs).
pub struct Authorizer {
    mode: Mode,
    /// Token → (valid until, subject), Galaxy mode only.
    cache: Mutex<HashMap<String, (Instant, String)>>,
    /// Token → (valid until, reason) for tokens Galaxy refused, Galaxy mode only.
    refused: Mutex<HashMap<String, (Instant, String)>>,
    failures: Failures,
    alerts: Option<Arc<crate::alerts::Alerts>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.mode {
            Mode::Local(_) => "Authorizer(local)",
            Mode::Galaxy(_) => "Authorizer(galaxy)",
        })
    }
}

/// Equal length and bytes, in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authorizer {
    /// Tokens must equal `token`; empty refuses every operator call.
    pub fn local(token: &str) -> Self {
        Self {
            mode: Mode::Local(token.to_string()),
            cache: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            failures: Failures::default(),
            alerts: None,
        }
    }

    /// Galaxy's Auth service decides; `alerts` hears when it is down.
    pub fn galaxy(client: GalaxyClient, alerts: Option<Arc<crate::alerts::Alerts>>) -> Self {
        Self {
            mode: Mode::Galaxy(client),
            cache: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            failures: Failures::default(),
            alerts,
        }
    }

    /// The authorizer the config asks for.
    pub fn from_config(
        c: &crate::config::Config,
        alerts: Option<Arc<crate::alerts::Alerts>>,
    ) -> Self {
        let mut a = match c.auth {
            crate::config::AuthKind::Local => Self::local(c.auth_token.expose()),
            crate::config::AuthKind::Galaxy => {
                Self::galaxy(crate::galaxy::Galaxy::from_config(c).auth, alerts)
            }
        };
        a.failures.per_min = c.write_rate_limit_per_ip_per_min;
        a
    }

    /// [`Authorizer::check`] for a call from `from`: refused unchecked while that client is
    /// over its failure limit; a failure is logged with the client and counted.
    ///
    /// # Errors
    /// [`AuthError`].
    pub async fn check_from(
        &self,
        from: Option<std::net::IpAddr>,
        token: Option<&str>,
        what: &str,
    ) -> Result<String, AuthError> {
        if from.is_some_and(|ip| self.failures.blocked(ip)) {
            tracing::debug!(client = ?from, what, "operator call refused: too many failures");
            return Err(AuthError::Limited);
        }
        let r = self.check(token).await;
        if let Err(e @ (AuthError::Missing | AuthError::Denied(_))) = &r {
            tracing::warn!(client = ?from, what, "operator call refused: {e}");
            if let Some(ip) = from {
                self.failures.record(ip);
            }
        }
        r
    }

    /// Checks a presented token; returns who it belongs to.
    ///
    /// # Errors
    /// [`AuthError`].
    pub async fn check(&self, token: Option<&str>) -> Result<String, AuthError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        let client = match &self.mode {
            Mode::Local(want) => {
                return if !want.is_empty() && same(want.as_bytes(), token.as_bytes()) {
                    Ok("operator".into())
                } else {
                    Err(AuthError::Missing)
                };
            }
            Mode::Galaxy(c) => c.clone(),
        };
        if let Ok(cache) = self.cache.lock()
            && let Some((until, subject)) = cache.get(token)
            && *until > Instant::now()
        {
            return Ok(subject.clone());
        }
        if let Ok(refused) = self.refused.lock()
            && let Some((until, reason)) = refused.get(token)
            && *until > Instant::now()
        {
            return Err(AuthError::Denied(reason.clone()));
        }
        let req = AuthRequest::Check {
            token: token.to_string(),
            scope: ADMIN_SCOPE.to_string(),
        };
        let answer = tokio::task::spawn_blocking(move || client.call::<_, AuthResponse>(&req))
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let answer = match answer {
            Ok(AuthResponse::Error { message }) => Err(message),
            Ok(a) => Ok(a),
            Err(e) => Err(e.to_string()),
        };
        if let Some(alerts) = &self.alerts {
            let problem = answer
                .as_ref()
                .err()
                .map(|e| format!("operator calls refused: {e}"));
            alerts.condition("auth_unavailable", "auth", problem.as_deref());
        }
        match answer {
            Ok(AuthResponse::Allowed { subject, ttl_s }) => {
                let ttl = Duration::from_secs(u64::from(ttl_s)).min(MAX_TTL);
                remember(&self.cache, token, ttl, &subject);
                Ok(subject)
            }
            Ok(AuthResponse::Denied { reason }) => {
                remember(&self.refused, token, NEGATIVE_TTL, &reason);
                Err(AuthError::Denied(reason))
            }
            Ok(AuthResponse::Error { message }) | Err(message) => {
                Err(AuthError::Unavailable(message))
            }
        }
    }
}

/// Keeps `token → value` for `ttl` in a bounded cache.
fn remember(
    cache: &Mutex<HashMap<String, (Instant, String)>>,
    token: &str,
    ttl: Duration,
    value: &str,
) {
    if let Ok(mut cache) = cache.lock() {
        let now = Instant::now();
        if cache.len() >= MAX_ENTRIES {
            cache.retain(|_, (until, _)| *until > now);
        }
        if cache.len() < MAX_ENTRIES {
            cache.insert(token.to_string(), (now + ttl, value.to_string()));
        }
    }
}

/// The bearer token of an `authorization: Bearer <token>` value.
pub(crate) fn bearer(value: Option<&str>) -> Option<&str> {
    value.and_then(|v| v.strip_prefix("Bearer "))
}

/// Axum middleware for operator routes: the call goes on only with an accepted token.
pub(crate) async fn guard(
    State(auth): State<Arc<Authorizer>>,
    req: Request,
    next: Next,
) -> Response {
    let token = bearer(
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let from = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    match auth.check_from(from, token, req.uri().path()).await {
        Ok(subject) => {
            tracing::debug!(%subject, path = %req.uri().path(), "operator call");
            next.run(req).await
        }
        Err(e) => (
            e.status(),
            axum::Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_tokens_are_compared_whole_and_an_empty_one_refuses_all() {
        let a = Authorizer::local("s3cret");
        assert!(a.check(Some("s3cret")).await.is_ok());
        for bad in [
            None,
            Some(""),
            Some("s3cre"),
            Some("s3cret2"),
            Some("S3cret"),
        ] {
            assert_eq!(a.check(bad).await, Err(AuthError::Missing), "{bad:?}");
        }
        let off = Authorizer::local("");
        assert_eq!(off.check(Some("")).await, Err(AuthError::Missing));
        assert_eq!(off.check(Some("x")).await, Err(AuthError::Missing));
    }

    #[tokio::test]
    async fn an_unreachable_auth_service_fails_closed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let a = Authorizer::galaxy(
            GalaxyClient {
                service: "Auth",
                addr,
                auth_token: String::new(),
                max_frame: 1024,
                timeout: Duration::from_millis(200),
                attempts: 2,
                backoff: Duration::from_millis(5),
            },
            None,
        );
        let e = a.check(Some("t")).await.unwrap_err();
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.to_string().contains("Auth"), "{e}");
    }
}
