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
//! - Without a token, only requests addressed to this machine's loopback
//!   (`Host: localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`, any port) are
//!   served: a web page on another name that DNS-rebinds that name to
//!   127.0.0.1 would otherwise be same-origin with agentd, read every
//!   transcript and enqueue tasks. With a token, the token is the defence.
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
    if !check.enabled()
        && let Some(host) = request_host(&request)
        && !is_loopback_host(host)
    {
        let shown: String = host.chars().take(100).collect();
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!(
                "agentd has no token, so it only answers requests addressed to localhost or a \
                 loopback address, and this one was addressed to `{shown}` (a web page can reach \
                 a token-less agentd under its own name through DNS rebinding). Use \
                 http://127.0.0.1:<port>/, or set a token (AGENTD_TOKEN) to reach agentd under \
                 another name"
            ),
        )
        .into_response();
    }
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

/// The host a request is addressed to: its `Host` header, else the URI's
/// authority (HTTP/2), else `None` (an HTTP/1.0 client that sent neither).
fn request_host(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
}

/// Whether `host` (a `Host` header: a name or an address, with an optional
/// port) names this machine's loopback: `localhost` or a name under it
/// (RFC 6761), an IPv4 address in `127.0.0.0/8`, or `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        let Some((address, port)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        return port_ok
            && address
                .parse::<std::net::Ipv6Addr>()
                .is_ok_and(|a| a.is_loopback());
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return false,
        None => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts_are_told_from_other_names() {
        let loopback = [
            "localhost",
            "localhost:7878",
            "LocalHost.:7878",
            "agentd.localhost:80",
            "127.0.0.1",
            "127.0.0.1:7878",
            "127.1.2.3:9",
            "[::1]",
            "[::1]:7878",
        ];
        let other = [
            "evil.example",
            "evil.example:7878",
            "localhost.evil.example:7878",
            "127.0.0.1.nip.io:7878",
            "10.0.0.1:7878",
            "0.0.0.0:7878",
            "[::]:7878",
            "[::ffff:127.0.0.1]:7878",
            "[::1",
            "[::1]x",
            "localhost:",
            "localhost:78a",
            "127.0.0.1:7878:1",
            "",
        ];
        let judged =
            |hosts: &[&str]| -> Vec<bool> { hosts.iter().map(|h| is_loopback_host(h)).collect() };
        assert_eq!(judged(&loopback), vec![true; loopback.len()]);
        assert_eq!(judged(&other), vec![false; other.len()]);
    }
}
