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
pub const ADMIN_SCOPE: &str = "torrent_service.admin";

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
}

impl AuthError {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Denied(_) => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

enum Mode {
    Local(String),
    Galaxy(GalaxyClient),
}

/// Decides operator tokens (see the module docs).
pub struct Authorizer {
    mode: Mode,
    /// Token → (valid until, subject), Galaxy mode only.
    cache: Mutex<HashMap<String, (Instant, String)>>,
    book: Option<Arc<crate::ledger::Book>>,
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
            book: None,
        }
    }

    /// Galaxy's Auth service decides; `book` receives the alert when it is down.
    pub fn galaxy(client: GalaxyClient, book: Option<Arc<crate::ledger::Book>>) -> Self {
        Self {
            mode: Mode::Galaxy(client),
            cache: Mutex::new(HashMap::new()),
            book,
        }
    }

    /// The authorizer the config asks for.
    pub fn from_config(c: &crate::config::Config, book: Option<Arc<crate::ledger::Book>>) -> Self {
        match c.auth {
            crate::config::AuthKind::Local => Self::local(&c.auth_token),
            crate::config::AuthKind::Galaxy => {
                Self::galaxy(crate::galaxy::Galaxy::from_config(c).auth, book)
            }
        }
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
        if let Some(book) = &self.book {
            let problem = answer
                .as_ref()
                .err()
                .map(|e| format!("operator calls refused: {e}"));
            book.metrics
                .condition("auth_unavailable", "auth", problem.as_deref());
        }
        match answer {
            Ok(AuthResponse::Allowed { subject, ttl_s }) => {
                let ttl = Duration::from_secs(u64::from(ttl_s)).min(MAX_TTL);
                if let Ok(mut cache) = self.cache.lock() {
                    let now = Instant::now();
                    cache.retain(|_, (until, _)| *until > now);
                    cache.insert(token.to_string(), (now + ttl, subject.clone()));
                }
                Ok(subject)
            }
            Ok(AuthResponse::Denied { reason }) => Err(AuthError::Denied(reason)),
            Ok(AuthResponse::Error { message }) | Err(message) => {
                Err(AuthError::Unavailable(message))
            }
        }
    }
}

/// The bearer token of an `authorization: Bearer <token>` value.
pub fn bearer(value: Option<&str>) -> Option<&str> {
    value.and_then(|v| v.strip_prefix("Bearer "))
}

/// Axum middleware for operator routes: the call goes on only with an accepted token.
pub async fn guard(State(auth): State<Arc<Authorizer>>, req: Request, next: Next) -> Response {
    let token = bearer(
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    match auth.check(token).await {
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
