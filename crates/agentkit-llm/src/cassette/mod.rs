//! Cassettes: real HTTP exchanges with a provider, recorded once and replayed
//! in tests without a network.
//!
//! A [`Recorder`] is a [`Transport`](crate::Transport) that passes every
//! request on to a real transport and writes the exchange — the request we
//! sent and the status, headers and body that came back, byte for byte — to a
//! cassette file. A [`Player`] is a transport that serves those exchanges back
//! and never opens a connection. Put a player under any backend and the
//! backend's whole stack (request building, SSE parsing, decoding, error
//! classification, retries) runs exactly as it ran against the provider:
//!
//! ```no_run
//! use std::sync::Arc;
//! use agentkit_core::model::Model;
//! use agentkit_llm::HttpModel;
//! use agentkit_llm::cassette::{Player, ReplayMode};
//! use agentkit_llm::openai::chat::{OpenAiChat, OpenAiChatConfig};
//!
//! let player = Player::open("tests/cassettes/plain.json", ReplayMode::Strict)?;
//! let protocol = OpenAiChat::new(OpenAiChatConfig::compatible("http://127.0.0.1:8080/v1", "smollm2", None));
//! let model = HttpModel::new(protocol, Arc::new(player));
//! # Ok::<(), agentkit_llm::cassette::CassetteError>(())
//! ```
//!
//! The model spec `replay:PATH` does the same from the spec the cassette was
//! recorded with (see [`crate::ModelSpec`]).
//!
//! # The file
//!
//! One JSON document ([`Cassette`]): a format version, the model spec it was
//! recorded with (when known), and the exchanges in the order they happened.
//! Request bodies are kept as JSON when they are JSON, so a cassette diffs
//! well in review. Response bodies are kept as text (or, when they are not
//! UTF-8, as a byte array).
//!
//! **Secrets.** The values of credential headers (`authorization`,
//! `x-api-key`, `api-key`, `proxy-authorization`, `cookie`, `set-cookie`, and
//! any header whose name contains `token`, `secret` or `key`) are replaced
//! with `<redacted>` before anything is written, and every body is passed
//! through [`agentkit_core::redact::Redactor`] with the secrets of the
//! environment. Review a cassette before committing it all the same.
//!
//! # Matching on replay
//!
//! [`ReplayMode::Strict`] serves the first unused exchange whose method, URL
//! path and body equal the request's (JSON bodies compare as JSON); a request
//! with no such exchange fails with [`TransportError::NotRecorded`](crate::TransportError::NotRecorded), naming
//! the first place where it differs from the next unused exchange.
//! [`ReplayMode::InOrder`] serves the exchanges in recorded order, checking
//! only method and path: for agent runs whose requests carry output that
//! changes from run to run (timings, temporary paths).

mod record;
mod replay;

use std::path::Path;

use agentkit_core::redact::Redactor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use record::Recorder;
pub use replay::{Player, ReplayMode};

/// The cassette format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// What credential headers are replaced with.
pub const REDACTED_HEADER: &str = "<redacted>";

/// A recorded session with a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cassette {
    /// The format version ([`FORMAT_VERSION`]).
    pub agentkit_cassette: u32,
    /// The model spec the exchanges were recorded with, e.g.
    /// `openai-compatible:http://127.0.0.1:8080/v1#smollm2`; `replay:PATH`
    /// rebuilds that backend on top of the cassette.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// The exchanges, in the order the requests were sent.
    pub exchanges: Vec<Exchange>,
}

/// One request and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// What was sent.
    pub request: RecordedRequest,
    /// What came back, when a response (headers at least) arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<RecordedResponse>,
    /// The transport failure that ended the exchange: no response at all
    /// (`response` is absent) or a body that broke off part-way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A request as it was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// `POST`, ...
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Header names and values, credentials redacted.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

/// A response as it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// The status code.
    pub status: u16,
    /// Header names and values, credentials redacted.
    pub headers: Vec<(String, String)>,
    /// The body (as much of it as was read).
    pub body: Body,
    /// Whether the reader read the body to its end. A streaming reader
    /// stops at the provider's end-of-reply marker (`[DONE]`,
    /// `message_stop`) and leaves the rest unread, so this is often `false`;
    /// a replay serves `body` and then ends the body normally (or with
    /// [`Exchange::error`] when one was recorded).
    #[serde(default)]
    pub read_to_end: bool,
}

/// A body, kept in its most readable faithful form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// A JSON document (request bodies).
    Json(Value),
    /// UTF-8 text (event streams, error pages).
    Text(String),
    /// Anything else.
    Bytes(Vec<u8>),
}

impl Body {
    /// The most readable form of `bytes`: JSON when `json` is allowed and
    /// the bytes parse, else text, else bytes.
    pub fn from_bytes(bytes: &[u8], json: bool) -> Self {
        if json
            && let Ok(value) = serde_json::from_slice::<Value>(bytes)
            && (value.is_object() || value.is_array())
        {
            return Body::Json(value);
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_owned()),
            Err(_) => Body::Bytes(bytes.to_vec()),
        }
    }

    /// The bytes to send or serve.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Body::Json(value) => value.to_string().into_bytes(),
            Body::Text(text) => text.clone().into_bytes(),
            Body::Bytes(bytes) => bytes.clone(),
        }
    }

    /// The body with secrets removed.
    fn redacted(self, redactor: &Redactor) -> Self {
        match self {
            Body::Json(value) => Body::Json(redact_value(value, redactor)),
            Body::Text(text) => Body::Text(redactor.redact(&text).into_owned()),
            Body::Bytes(bytes) => Body::Bytes(bytes),
        }
    }
}

fn redact_value(value: Value, redactor: &Redactor) -> Value {
    match value {
        Value::String(s) => Value::String(redactor.redact(&s).into_owned()),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| redact_value(v, redactor))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, redact_value(v, redactor)))
                .collect(),
        ),
        other => other,
    }
}

/// Whether a header's value is a credential.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "api-key"
    ) || ["token", "secret", "key"]
        .iter()
        .any(|part| name.contains(part))
}

/// `headers` with credential values replaced by [`REDACTED_HEADER`].
pub fn redact_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if is_secret_header(name) {
                REDACTED_HEADER.to_owned()
            } else {
                value.clone()
            };
            (name.to_ascii_lowercase(), value)
        })
        .collect()
}

/// A cassette that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    /// The file could not be read or written.
    #[error("cassette `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a cassette this build understands.
    #[error("cassette `{path}` is not a valid agentkit cassette: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
}

impl Cassette {
    /// An empty cassette for `spec`.
    pub fn new(spec: Option<String>) -> Self {
        Self {
            agentkit_cassette: FORMAT_VERSION,
            spec,
            exchanges: Vec::new(),
        }
    }

    /// Reads a cassette file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CassetteError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CassetteError::Io {
            path: shown.clone(),
            source,
        })?;
        let cassette: Cassette =
            serde_json::from_str(&text).map_err(|e| CassetteError::Invalid {
                path: shown.clone(),
                message: format!("{e}; re-record it with the current agentkit"),
            })?;
        if cassette.agentkit_cassette != FORMAT_VERSION {
            return Err(CassetteError::Invalid {
                path: shown,
                message: format!(
                    "format version {} is not {FORMAT_VERSION}, the one this build reads; \
                     re-record it",
                    cassette.agentkit_cassette
                ),
            });
        }
        Ok(cassette)
    }

    /// Writes the cassette to `path` atomically (a temporary file renamed
    /// into place), so a crash never leaves half a cassette.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CassetteError> {
        let path = path.as_ref();
        let io = |source| CassetteError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut text = serde_json::to_string_pretty(self).map_err(|e| io(e.into()))?;
        text.push('\n');
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// The path of `url` (`/v1/chat/completions`), for matching across hosts
/// and ports: a cassette recorded against `127.0.0.1:41234` replays
/// anywhere.
pub(crate) fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(at) => &after_scheme[at..],
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_redacted_and_others_kept() {
        let headers = vec![
            ("Authorization".to_owned(), "Bearer sk-abc".to_owned()),
            ("x-api-key".to_owned(), "sk-ant-abc".to_owned()),
            ("x-goog-api-key".to_owned(), "k".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("anthropic-version".to_owned(), "2023-06-01".to_owned()),
        ];
        assert_eq!(
            redact_headers(&headers),
            vec![
                ("authorization".to_owned(), REDACTED_HEADER.to_owned()),
                ("x-api-key".to_owned(), REDACTED_HEADER.to_owned()),
                ("x-goog-api-key".to_owned(), REDACTED_HEADER.to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
                ("anthropic-version".to_owned(), "2023-06-01".to_owned()),
            ]
        );
    }

    #[test]
    fn bodies_keep_their_most_readable_faithful_form() {
        assert_eq!(
            Body::from_bytes(br#"{"a":1}"#, true),
            Body::Json(serde_json::json!({"a": 1}))
        );
        assert_eq!(
            Body::from_bytes(br#"{"a":1}"#, false),
            Body::Text(r#"{"a":1}"#.into())
        );
        assert_eq!(Body::from_bytes(b"42", true), Body::Text("42".into()));
        assert_eq!(
            Body::from_bytes(&[0xff, 0x00], true),
            Body::Bytes(vec![0xff, 0x00])
        );
        let text = Body::Text("data: é\n\n".into());
        assert_eq!(text.to_bytes(), "data: é\n\n".as_bytes());
    }

    #[test]
    fn url_paths_ignore_scheme_host_and_port() {
        assert_eq!(
            url_path("http://127.0.0.1:41234/v1/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(url_path("https://api.anthropic.com"), "/");
        assert_eq!(url_path("/v1/messages"), "/v1/messages");
    }

    #[test]
    fn bodies_are_scrubbed_of_key_shaped_secrets() {
        let redactor = Redactor::new();
        let body = Body::Json(serde_json::json!({
            "messages": [{"content": "my key is sk-proj-abcdefghijklmnopqrstuvwxyz"}]
        }))
        .redacted(&redactor);
        assert_eq!(
            body,
            Body::Json(serde_json::json!({
                "messages": [{"content": "my key is [REDACTED]"}]
            }))
        );
    }
}
