//! Credentials for the GitHub API and for host-side git: a GitHub App's
//! installation token (bought with an RS256 JWT, cached, refreshed early) or
//! a personal access token.
//!
//! An installation token lives one hour. [`TokenSource::token`] hands out the
//! cached one while it has more than [`REFRESH_MARGIN`] left and buys a new
//! one otherwise, so a long run (a publish an hour after the task started)
//! never uses a token that is about to expire. A 401 from the API drops the
//! cached token ([`TokenSource::invalidate`]) so a revoked one is replaced.
//! The token request asks for exactly one repository and the permissions
//! the forge uses ([`REQUESTED_PERMISSIONS`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentkit_core::forge::ForgeError;
use serde::Serialize;

/// A token is replaced when less than this is left of its life.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The permissions an installation token is asked for: what publishing,
/// commenting and reading tickets need, nothing more.
pub const REQUESTED_PERMISSIONS: &[(&str, &str)] = &[
    ("contents", "write"),
    ("pull_requests", "write"),
    ("issues", "write"),
    ("metadata", "read"),
];

/// The time as the token cache sees it; injectable so tests can move it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A secret string: its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value. Pass it only to what must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// How the forge authenticates.
#[derive(Clone)]
pub enum GitHubAuth {
    /// A personal access token (classic or fine-grained) or any other fixed
    /// token. It is used as it is, for the API and for git.
    Token(Secret),
    /// A GitHub App installed on the repository.
    App {
        /// The App's id (or its client id): the JWT's issuer.
        app_id: String,
        /// The App's private key (PKCS#1 or PKCS#8 PEM), parsed.
        key: Arc<jsonwebtoken::EncodingKey>,
        /// The installation to buy tokens for; looked up from the repository
        /// (`GET /repos/{owner}/{repo}/installation`) when `None`.
        installation_id: Option<u64>,
    },
}

impl fmt::Debug for GitHubAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(_) => f.write_str("GitHubAuth::Token([REDACTED])"),
            Self::App {
                app_id,
                installation_id,
                ..
            } => f
                .debug_struct("GitHubAuth::App")
                .field("app_id", app_id)
                .field("installation_id", installation_id)
                .field("key", &"[REDACTED]")
                .finish(),
        }
    }
}

impl GitHubAuth {
    /// A personal access token.
    pub fn token(token: impl Into<String>) -> Self {
        Self::Token(Secret::new(token))
    }

    /// A GitHub App with its RSA private key in PEM form.
    pub fn app(
        app_id: impl Into<String>,
        private_key_pem: &[u8],
        installation_id: Option<u64>,
    ) -> Result<Self, ForgeError> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem).map_err(|err| {
            ForgeError::Auth {
                reason: format!(
                    "the GitHub App private key is not a usable RSA PEM key ({err}); \
                     download a new one from the App's settings page"
                ),
            }
        })?;
        Ok(Self::App {
            app_id: app_id.into(),
            key: Arc::new(key),
            installation_id,
        })
    }
}

/// The claims of the JWT an App signs (GitHub allows at most 10 minutes).
#[derive(Debug, Serialize)]
struct AppClaims<'a> {
    iat: u64,
    exp: u64,
    iss: &'a str,
}

/// Signs the App JWT for `now`: issued 60 s in the past (clock drift, as
/// GitHub recommends), valid 9 minutes.
pub(crate) fn app_jwt(
    app_id: &str,
    key: &jsonwebtoken::EncodingKey,
    now: SystemTime,
) -> Result<Secret, ForgeError> {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let claims = AppClaims {
        iat: now.saturating_sub(60),
        exp: now + 9 * 60,
        iss: app_id,
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    jsonwebtoken::encode(&header, &claims, key)
        .map(Secret::new)
        .map_err(|err| ForgeError::Auth {
            reason: format!("could not sign the GitHub App JWT: {err}"),
        })
}

/// The body of `POST /app/installations/{id}/access_tokens`: one repository,
/// the [`REQUESTED_PERMISSIONS`].
pub(crate) fn token_request_body(repo: &str) -> serde_json::Value {
    let permissions: serde_json::Map<String, serde_json::Value> = REQUESTED_PERMISSIONS
        .iter()
        .map(|(name, level)| (name.to_string(), serde_json::Value::from(*level)))
        .collect();
    serde_json::json!({ "repositories": [repo], "permissions": permissions })
}

/// A token and when it stops working.
#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    pub(crate) token: Secret,
    pub(crate) expires_at: SystemTime,
}

impl CachedToken {
    /// Whether it still has more than the [`REFRESH_MARGIN`] left at `now`.
    pub(crate) fn fresh_at(&self, now: SystemTime) -> bool {
        self.expires_at
            .duration_since(now)
            .is_ok_and(|left| left > REFRESH_MARGIN)
    }
}

/// Parses GitHub's `expires_at` (`2016-07-11T22:14:10Z`).
pub(crate) fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let ms = u64::try_from(parsed.timestamp_millis()).ok()?;
    Some(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Milliseconds since the epoch of a GitHub timestamp.
pub(crate) fn timestamp_ms(text: &str) -> Option<u64> {
    parse_timestamp(text)?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

/// Where tokens come from; shared by the API client and host-side git.
#[derive(Debug)]
pub(crate) struct TokenSource {
    pub(crate) auth: GitHubAuth,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cached: tokio::sync::Mutex<Option<CachedToken>>,
    pub(crate) installation: std::sync::Mutex<Option<u64>>,
}

impl TokenSource {
    pub(crate) fn new(auth: GitHubAuth, clock: Arc<dyn Clock>) -> Self {
        let installation = match &auth {
            GitHubAuth::App {
                installation_id, ..
            } => *installation_id,
            GitHubAuth::Token(_) => None,
        };
        Self {
            auth,
            clock,
            cached: tokio::sync::Mutex::new(None),
            installation: std::sync::Mutex::new(installation),
        }
    }

    /// Drops the cached installation token (after a 401).
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    pub(crate) fn known_installation(&self) -> Option<u64> {
        *self
            .installation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn set_installation(&self, id: u64) {
        *self
            .installation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(id);
    }
}
