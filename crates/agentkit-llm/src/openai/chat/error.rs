//! Classifying Chat Completions errors, from an error status or from an
//! `{"error": …}` object inside a 200 stream.
//!
//! The provider's own codes win over the status: OpenAI answers an empty
//! account with `429 insufficient_quota`, which is not a rate limit and must
//! not be retried. Context overflows are recognised by code and, because
//! compatible servers have no common code for them, by their wording.
//! Everything else is classified by status ([`classify_status`]), and the
//! server's `x-should-retry` has the last word ([`apply_should_retry`]).

use agentkit_core::model::{ModelError, ModelErrorKind};
use serde_json::Value;

use crate::classify::{apply_should_retry, classify_status};

/// Codes (`error.code` or `error.type`) that mean the account is out of credit.
const QUOTA_CODES: &[&str] = &["insufficient_quota", "billing_hard_limit_reached"];

/// Codes that mean the prompt does not fit the context window (OpenAI, llama.cpp).
const CONTEXT_CODES: &[&str] = &["context_length_exceeded", "exceed_context_size_error"];

/// Lower-case phrases of context overflows: OpenAI, vLLM ("This model's
/// maximum context length is…", "The decoder prompt (length 5000) is longer
/// than the maximum model length of 4096"), llama.cpp ("the request exceeds
/// the available context size"), and others.
const CONTEXT_PHRASES: &[&str] = &[
    "maximum context length",
    "maximum model length",
    "context length exceeded",
    "context window",
    "too many tokens",
    "exceeds the available context size",
    "prompt is too long",
];

/// How much of a body that is not JSON goes into the error message.
const SNIPPET_CHARS: usize = 200;

/// What the provider said went wrong, from any of the shapes servers use.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct ProviderError {
    message: String,
    kind: Option<String>,
    code: Option<String>,
    param: Option<String>,
    /// A numeric `code` that is an HTTP status (vLLM, OpenRouter).
    status: Option<u16>,
}

impl ProviderError {
    /// Reads `{"error": {message, type, code, param}}`, `{"error": "text"}`,
    /// a top-level `{message, type, code}`, FastAPI's `{"detail": "text"}`
    /// (vLLM's answer to an unknown path), or a one-element array of any of
    /// those. `None` when `value` holds no error.
    pub(super) fn from_value(value: &Value) -> Option<Self> {
        if let Value::Array(items) = value {
            return items.first().and_then(Self::from_value);
        }
        let object = value.as_object()?;
        match object.get("error") {
            Some(Value::Null) | None if object.contains_key("message") => {
                Some(Self::from_object(object))
            }
            Some(Value::Null) | None => match object.get("detail") {
                Some(Value::String(text)) => Some(Self {
                    message: text.clone(),
                    ..Self::default()
                }),
                _ => None,
            },
            Some(field) => Some(Self::from_error_field(field)),
        }
    }

    /// Reads the value of an `error` field: an object with message, type,
    /// code and param; a string; anything else as its text (`null`: nothing).
    pub(super) fn from_error_field(value: &Value) -> Self {
        match value {
            Value::Object(inner) => Self::from_object(inner),
            Value::String(text) => Self {
                message: text.clone(),
                ..Self::default()
            },
            Value::Null => Self::default(),
            other => Self {
                message: other.to_string(),
                ..Self::default()
            },
        }
    }

    fn from_object(object: &serde_json::Map<String, Value>) -> Self {
        let text = |name: &str| match object.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let status = object
            .get("code")
            .and_then(Value::as_u64)
            .filter(|code| (100..=599).contains(code))
            .and_then(|code| u16::try_from(code).ok());
        Self {
            message: text("message").unwrap_or_default(),
            kind: text("type"),
            code: text("code"),
            param: text("param"),
            status,
        }
    }

    /// The message with the type, code and param appended, for operators.
    fn describe(&self) -> String {
        let mut extras = Vec::new();
        for (label, value) in [
            ("type", &self.kind),
            ("code", &self.code),
            ("param", &self.param),
        ] {
            if let Some(value) = value {
                extras.push(format!("{label} `{value}`"));
            }
        }
        match (self.message.is_empty(), extras.is_empty()) {
            (_, true) => self.message.clone(),
            (true, false) => extras.join(", "),
            (false, false) => format!("{} ({})", self.message, extras.join(", ")),
        }
    }

    fn has_code(&self, codes: &[&str]) -> bool {
        [&self.code, &self.kind]
            .into_iter()
            .flatten()
            .any(|c| codes.contains(&c.as_str()))
    }

    /// Out of credit: a quota code, or a numeric code 402 (OpenRouter's
    /// "Insufficient credits").
    fn is_quota(&self) -> bool {
        self.has_code(QUOTA_CODES) || self.status == Some(402)
    }

    fn is_context_length(&self, status: u16) -> bool {
        if self.has_code(CONTEXT_CODES) {
            return true;
        }
        // Rate-limit messages talk about tokens too; only trust wording elsewhere.
        let message = self.message.to_ascii_lowercase();
        status != 429 && CONTEXT_PHRASES.iter().any(|p| message.contains(p))
    }

    /// The status an error inside a 200 stream would have had.
    fn implied_status(&self) -> u16 {
        if let Some(status) = self.status {
            return status;
        }
        let names = [&self.code, &self.kind];
        let mentions = |needle: &str| {
            names
                .iter()
                .any(|n| n.as_ref().is_some_and(|n| n.contains(needle)))
        };
        if mentions("rate_limit") || self.is_quota() {
            429
        } else if mentions("authentication") || mentions("api_key") || mentions("permission") {
            401
        } else if mentions("invalid_request") || self.has_code(CONTEXT_CODES) {
            400
        } else {
            // A server that fails mid-reply is most likely at fault itself.
            500
        }
    }
}

/// Classifies a non-2xx response.
pub(super) fn classify_response(
    status: u16,
    headers: &[(String, String)],
    body: &str,
) -> ModelError {
    let json = serde_json::from_str::<Value>(body).ok();
    let parsed = json.as_ref().and_then(ProviderError::from_value);
    let message = match (&parsed, &json) {
        (Some(error), _) => error.describe(),
        (None, _) if body.trim().is_empty() => String::new(),
        (None, Some(_)) => format!(
            "the provider answered with JSON that holds no error message: {}",
            snippet(body)
        ),
        (None, None) => format!(
            "the provider answered with a body that is not JSON: {}",
            snippet(body)
        ),
    };
    let base = classify_status(status, headers, &message, body);
    let error = match &parsed {
        // 402 Payment Required: OpenRouter's answer to an account without credit.
        _ if status == 402 => base.with_kind(ModelErrorKind::Quota),
        Some(e) if e.is_quota() => base.with_kind(ModelErrorKind::Quota),
        Some(e) if e.is_context_length(status) => base.with_kind(ModelErrorKind::ContextLength),
        _ => base,
    };
    apply_should_retry(error, headers)
}

/// Classifies an error object sent inside a 200 stream (or a 200 body):
/// its code implies the status it would have had.
pub(super) fn classify_in_band(error: &ProviderError, raw: &str) -> ModelError {
    let status = error.implied_status();
    let base = classify_status(status, &[], &error.describe(), raw);
    let mut error = if error.is_quota() {
        base.with_kind(ModelErrorKind::Quota)
    } else if error.is_context_length(status) {
        base.with_kind(ModelErrorKind::ContextLength)
    } else {
        base
    };
    let detail = error.detail_mut();
    detail.status = Some(200);
    detail.message = format!(
        "the provider reported an error inside its reply: {}",
        detail.message
    );
    error
}

/// The first characters of `text`, whitespace collapsed, for messages.
pub(super) fn snippet(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = collapsed.chars().take(SNIPPET_CHARS).collect();
    if collapsed.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}
