//! The bearer token: who may use the API and the web view.
//!
//! - Bound to a loopback address, agentd may run without a token.
//! - Bound to anything else, it refuses to start without one
//!   ([`check_listen`]).
//! - With a token, every route except `/healthz` (and routes merged with
//!   [`App::with_routes`](super::App::with_routes)) needs it: API clients
//!   send `Authorization: Bearer <token>`; browsers sign in once at `/login`,
//!   which sets an `HttpOnly`, `SameSite=Strict` cookie holding the token.
//!   Tokens are compared in constant time.
//! - Refusals: `/api/…` and `/metrics` answer 401 with a JSON error; web
//!   pages redirect to `/login`.
//! - With or without a token, a request that changes state (any method but
//!   GET and HEAD) coming from another site's page (`Sec-Fetch-Site`,
//!   `Origin`) gets 403, and JSON bodies must be sent as
//!   `application/json` (which a cross-site form cannot do).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use crate::api::ApiError;

/// The name of the cookie the login form sets.
pub const COOKIE: &str = "agentd_token";

/// Refuses to listen on a non-loopback address without a token.
pub fn check_listen(listen: SocketAddr, token: Option<&str>) -> Result<(), String> {
    if listen.ip().is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {listen} without a bearer token: anyone who can reach that \
         address could run agents on your repositories. Set `token` in the config file or \
         AGENTD_TOKEN (e.g. `export AGENTD_TOKEN=$(openssl rand -hex 32)`), or listen on \
         127.0.0.1"
    ))
}

/// The configured token, if any.
#[derive(Clone, Default)]
pub struct TokenCheck {
    token: Option<Arc<str>>,
}

impl TokenCheck {
    /// Checks against `token` (`None`: everything passes).
    pub fn new(token: Option<String>) -> Self {
        Self {
            token: token.map(Arc::from),
        }
    }

    /// Whether a token is required.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` is the token (constant time in the token's contents).
    pub fn matches(&self, given: &str) -> bool {
        match &self.token {
            None => true,
            Some(token) => bool::from(token.as_bytes().ct_eq(given.as_bytes())),
        }
    }

    /// Whether the request's headers carry the token (bearer or cookie).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        if !self.enabled() {
            return true;
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if let Some(given) = bearer {
            return self.matches(given);
        }
        cookie(headers, COOKIE).is_some_and(|given| self.matches(&given))
    }
}

/// The value of cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_string())
        })
}

/// The middleware: passes requests carrying the token, refuses the rest;
/// refuses state-changing requests sent by another site's page (a browser on
/// the same machine could otherwise be made to enqueue or cancel tasks on a
/// token-less loopback agentd).
pub async fn require_token(
    State(check): State<TokenCheck>,
    request: Request,
    next: Next,
) -> Response {
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD);
    if changes_state && crate::web::cross_site(request.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site",
            "requests from another site's pages are refused",
        )
        .into_response();
    }
    if check.allows(request.headers()) {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if path.starts_with("/api/") || path == "/metrics" {
        return ApiError::unauthorized().into_response();
    }
    let next_page = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    Redirect::to(&format!(
        "/login?next={}",
        crate::web::url_encode(&next_page)
    ))
    .into_response()
}
