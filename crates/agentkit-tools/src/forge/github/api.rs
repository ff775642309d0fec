//! The REST client: authentication, GitHub's rate limits, retries, pagination
//! and error classification, in one place every call goes through.
//!
//! - **Primary rate limit.** Every reply's `x-ratelimit-remaining` and
//!   `x-ratelimit-reset` are read; when the remaining count is 0, the next
//!   request waits until the reset time. A 403/429 with a remaining count of
//!   0 waits the same way, then retries.
//! - **Secondary rate limits.** A 403/429 with `retry-after` waits that many
//!   seconds; without it (GitHub's docs: "wait at least one minute") it waits
//!   [`RateLimits::secondary_wait`]. Every wait is bounded by
//!   [`RateLimits::max_wait`]: a longer one fails at once, saying until when.
//! - **Server errors** (5xx) and connection failures are retried with
//!   exponential backoff, at most [`RateLimits::max_retries`] times.
//! - **401** with App authentication drops the cached installation token and
//!   retries once with a new one.
//! - Everything else becomes a [`ForgeError`] naming the request, GitHub's
//!   `message` and what to do.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentkit_core::forge::ForgeError;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::auth::{
    CachedToken, GitHubAuth, Secret, TokenSource, app_jwt, parse_timestamp, token_request_body,
};
use super::wire;

/// How the client copes with rate limits and failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// The longest the client waits for a rate limit before failing.
    pub max_wait: Duration,
    /// The wait after a secondary rate limit without `retry-after`.
    pub secondary_wait: Duration,
    /// Retries of one request (server errors, connection failures, rate limits).
    pub max_retries: u32,
    /// The first backoff after a server error; doubled each time.
    pub backoff: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_secs(15 * 60),
            secondary_wait: Duration::from_secs(60),
            max_retries: 5,
            backoff: Duration::from_secs(1),
        }
    }
}

/// Which credential a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// The installation token (or the personal token).
    Installation,
    /// The App's JWT (token minting, installation lookup).
    AppJwt,
}

/// A successful reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ForgeError> {
        serde_json::from_slice(&self.body).map_err(|err| ForgeError::Other {
            message: format!("GitHub answered {what} with JSON we cannot read: {err}"),
        })
    }
}

/// The GitHub REST API for one repository.
#[derive(Debug)]
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    /// `owner/repo`.
    repo: String,
    pub(crate) tokens: TokenSource,
    limits: RateLimits,
    blocked_until: std::sync::Mutex<Option<SystemTime>>,
}

impl Api {
    pub(crate) fn new(
        http: reqwest::Client,
        base: String,
        repo: String,
        tokens: TokenSource,
        limits: RateLimits,
    ) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            repo,
            tokens,
            limits,
            blocked_until: std::sync::Mutex::new(None),
        }
    }

    /// `owner/repo`.
    pub(crate) fn repo(&self) -> &str {
        &self.repo
    }

    /// `/repos/{owner}/{repo}` + `rest`.
    pub(crate) fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.repo)
    }

    /// The token for API calls and git: the personal token, or a cached
    /// installation token with more than five minutes left, or a new one.
    pub(crate) async fn token(&self) -> Result<Secret, ForgeError> {
        if let GitHubAuth::Token(token) = &self.tokens.auth {
            return Ok(token.clone());
        }
        let mut cached = self.tokens.cached.lock().await;
        let now = self.tokens.clock.now();
        if let Some(token) = cached.as_ref().filter(|t| t.fresh_at(now)) {
            return Ok(token.token.clone());
        }
        let installation = match self.tokens.known_installation() {
            Some(id) => id,
            None => {
                let path = self.repo_path("/installation");
                let reply =
                    Box::pin(self.send(Credential::AppJwt, Method::GET, &path, None, &[])).await?;
                let found: wire::Installation = reply.json("the installation lookup")?;
                self.tokens.set_installation(found.id);
                found.id
            }
        };
        let name = self
            .repo
            .split('/')
            .nth(1)
            .unwrap_or(&self.repo)
            .to_string();
        let body = token_request_body(&name);
        let path = format!("/app/installations/{installation}/access_tokens");
        let reply =
            Box::pin(self.send(Credential::AppJwt, Method::POST, &path, Some(&body), &[])).await?;
        let minted: wire::InstallationToken = reply.json("the installation token request")?;
        let expires_at = parse_timestamp(&minted.expires_at).ok_or_else(|| ForgeError::Auth {
            reason: format!(
                "GitHub returned an installation token with an unreadable expiry `{}`",
                minted.expires_at
            ),
        })?;
        tracing::debug!(
            forge = "github",
            installation,
            expires_in_s = expires_at.duration_since(now).unwrap_or_default().as_secs(),
            "new installation token"
        );
        let token = Secret::new(minted.token);
        *cached = Some(CachedToken {
            token: token.clone(),
            expires_at,
        });
        Ok(token)
    }

    /// Sends a request with the installation token and returns a 2xx reply.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ForgeError> {
        self.send(Credential::Installation, method, path, body, &[])
            .await
    }

    /// [`call`](Self::call) that also returns replies with a status in
    /// `accept` (a 422 the caller knows how to handle) instead of failing.
    pub(crate) async fn call_accepting(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        accept: &[u16],
    ) -> Result<Reply, ForgeError> {
        self.send(Credential::Installation, method, path, body, accept)
            .await
    }

    /// `GET` of every page of a list (following `Link: rel="next"`, at most
    /// 100 pages), with `per_page=100`.
    pub(crate) async fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{separator}per_page=100"));
        let mut all = Vec::new();
        for _ in 0..100 {
            let Some(path) = next.take() else { break };
            let reply = self.call(Method::GET, &path, None).await?;
            let page: Vec<T> = reply.json(what)?;
            all.extend(page);
            next = next_page(&reply.headers).and_then(|url| self.relative(&url));
        }
        Ok(all)
    }

    /// `url` as a path under the API base; `None` for any other host (the
    /// token is never sent elsewhere).
    fn relative(&self, url: &str) -> Option<String> {
        let rest = url.strip_prefix(&self.base)?;
        rest.starts_with('/').then(|| rest.to_string())
    }

    async fn send(
        &self,
        credential: Credential,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        accept: &[u16],
    ) -> Result<Reply, ForgeError> {
        let what = format!("{method} {path}");
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            self.wait_for_primary_reset(&what).await?;
            let bearer = match credential {
                Credential::Installation => self.token().await?,
                Credential::AppJwt => match &self.tokens.auth {
                    GitHubAuth::App { app_id, key, .. } => {
                        app_jwt(app_id, key, self.tokens.clock.now())?
                    }
                    GitHubAuth::Token(token) => token.clone(),
                },
            };
            let mut auth =
                HeaderValue::from_str(&format!("Bearer {}", bearer.expose())).map_err(|_| {
                    ForgeError::Auth {
                        reason: "the GitHub token holds characters HTTP headers cannot carry"
                            .into(),
                    }
                })?;
            auth.set_sensitive(true);
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header(reqwest::header::AUTHORIZATION, auth)
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .header(reqwest::header::USER_AGENT, "agentkit");
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(err) if attempt < self.limits.max_retries => {
                    let wait = self.backoff(attempt);
                    tracing::warn!(forge = "github", request = %what, error = %err, wait_ms = wait.as_millis() as u64, "request failed; retrying");
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(err) => {
                    return Err(ForgeError::Other {
                        message: format!(
                            "{what} to GitHub failed after {attempt} retries: {err}; \
                             check the network and the API base URL `{}`",
                            self.base
                        ),
                    });
                }
            };
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = match response.bytes().await {
                Ok(bytes) => bytes.to_vec(),
                Err(err) if attempt < self.limits.max_retries => {
                    tracing::warn!(forge = "github", request = %what, error = %err, "reading the reply failed; retrying");
                    attempt += 1;
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
                Err(err) => {
                    return Err(ForgeError::Other {
                        message: format!("reading GitHub's reply to {what} failed: {err}"),
                    });
                }
            };
            self.note_primary(&headers);
            tracing::debug!(forge = "github", request = %what, status, "github api");
            if (200..300).contains(&status) || accept.contains(&status) {
                return Ok(Reply {
                    status,
                    headers,
                    body,
                });
            }
            let reply = Reply {
                status,
                headers,
                body,
            };
            let retry = attempt < self.limits.max_retries;
            match status {
                401 if credential == Credential::Installation
                    && !refreshed
                    && matches!(self.tokens.auth, GitHubAuth::App { .. }) =>
                {
                    tracing::info!(forge = "github", request = %what, "token refused; buying a new installation token");
                    self.tokens.invalidate().await;
                    refreshed = true;
                    continue;
                }
                403 | 429 if retry => {
                    if let Some(wait) = self.rate_limit_wait(&reply) {
                        let wait = self.bounded(wait, &what)?;
                        // This wait covers an exhausted primary limit too.
                        self.blocked_until
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .take();
                        tracing::warn!(forge = "github", request = %what, status, wait_ms = wait.as_millis() as u64, "rate limited; waiting");
                        attempt += 1;
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
                500..=599 if retry => {
                    let wait = self.backoff(attempt);
                    tracing::warn!(forge = "github", request = %what, status, wait_ms = wait.as_millis() as u64, "server error; retrying");
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                _ => {}
            }
            return Err(classify(&what, &reply));
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.limits
            .backoff
            .saturating_mul(1u32 << attempt.min(6))
            .min(self.limits.max_wait)
    }

    fn bounded(&self, wait: Duration, what: &str) -> Result<Duration, ForgeError> {
        if wait > self.limits.max_wait {
            return Err(ForgeError::Other {
                message: format!(
                    "GitHub rate-limited {what} for {}s, longer than the {}s this forge \
                     waits; try again later or raise RateLimits::max_wait",
                    wait.as_secs(),
                    self.limits.max_wait.as_secs()
                ),
            });
        }
        Ok(wait)
    }

    /// How long a 403/429 asks us to wait, or `None` when it is not a rate limit.
    fn rate_limit_wait(&self, reply: &Reply) -> Option<Duration> {
        if let Some(seconds) = header(&reply.headers, "retry-after").and_then(|v| v.parse().ok()) {
            return Some(Duration::from_secs(seconds));
        }
        if header(&reply.headers, "x-ratelimit-remaining") == Some("0") {
            let reset = reset_time(&reply.headers)?;
            let now = self.tokens.clock.now();
            return Some(reset.duration_since(now).unwrap_or_default() + Duration::from_secs(1));
        }
        let message = api_message(&reply.body).to_ascii_lowercase();
        (reply.status == 429 || message.contains("secondary rate limit"))
            .then_some(self.limits.secondary_wait)
    }

    /// Remembers an exhausted primary limit so the next request waits.
    fn note_primary(&self, headers: &HeaderMap) {
        if header(headers, "x-ratelimit-remaining") == Some("0")
            && let Some(reset) = reset_time(headers)
        {
            *self
                .blocked_until
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reset);
        }
    }

    async fn wait_for_primary_reset(&self, what: &str) -> Result<(), ForgeError> {
        let until = self
            .blocked_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some(until) = until else { return Ok(()) };
        if let Ok(wait) = until.duration_since(self.tokens.clock.now()) {
            let wait = self.bounded(wait, what)?;
            tracing::warn!(forge = "github", request = %what, wait_ms = wait.as_millis() as u64, "primary rate limit exhausted; waiting for the reset");
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn reset_time(headers: &HeaderMap) -> Option<SystemTime> {
    let seconds: u64 = header(headers, "x-ratelimit-reset")?.parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// The `rel="next"` URL of a `Link` header.
fn next_page(headers: &HeaderMap) -> Option<String> {
    header(headers, "link")?.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// GitHub's `message` from an error body (or the start of the body).
pub(crate) fn api_message(body: &[u8]) -> String {
    match serde_json::from_slice::<wire::ApiError>(body) {
        Ok(error) => {
            let details: Vec<String> = error
                .errors
                .iter()
                .filter_map(|e| {
                    e.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .collect();
            if details.is_empty() {
                error.message
            } else {
                format!("{} ({})", error.message, details.join("; "))
            }
        }
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    }
}

/// The error for a failed request, saying what to do.
fn classify(what: &str, reply: &Reply) -> ForgeError {
    let message = api_message(&reply.body);
    let status = reply.status;
    match status {
        401 => ForgeError::Auth {
            reason: format!(
                "GitHub refused the credentials for {what} (401: {message}); check the token, \
                 or the App id, private key and installation"
            ),
        },
        403 | 429 => ForgeError::Auth {
            reason: format!(
                "GitHub forbade {what} ({status}: {message}); the token or App lacks a \
                 permission (it needs contents, pull requests and issues read/write, \
                 metadata read), or a rate limit persisted"
            ),
        },
        404 => ForgeError::NotFound {
            what: format!(
                "{what} (404: {message}); check the owner, repository and number, and that \
                 the token can see the repository"
            ),
        },
        _ => ForgeError::Other {
            message: format!("GitHub answered {what} with {status}: {message}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_page_link_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "link",
            HeaderValue::from_static(
                "<https://api.github.com/repositories/1/issues/7/comments?page=1>; rel=\"prev\", \
                 <https://api.github.com/repositories/1/issues/7/comments?page=3>; rel=\"next\"",
            ),
        );
        assert_eq!(
            next_page(&headers).as_deref(),
            Some("https://api.github.com/repositories/1/issues/7/comments?page=3")
        );
        assert_eq!(next_page(&HeaderMap::new()), None);
    }

    #[test]
    fn error_messages_keep_github_details() {
        let body = br#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:agent/x."}]}"#;
        assert_eq!(
            api_message(body),
            "Validation Failed (A pull request already exists for o:agent/x.)"
        );
        assert_eq!(api_message(b"not json"), "not json");
    }
}
