//! Classifying the Responses API's failures: error bodies of non-2xx
//! answers, and failures reported inside a 200 stream (`response.failed`,
//! `error` events, a failed whole body).
//!
//! An HTTP error is classified by status ([`classify_status`]) except for the
//! two codes whose meaning the status hides: `insufficient_quota` (sent with
//! 429, but waiting will not help) and `context_length_exceeded` (a 400 that
//! compaction can fix). A failure inside a stream has no useful status, so
//! its code decides, through [`KNOWN_CODES`]; an unknown code is treated as
//! transient, as the official clients do.

use std::time::Duration;

use agentkit_core::model::{ErrorDetail, ModelError, ModelErrorKind};
use serde::Deserialize;

use super::wire::WireError;
use crate::classify::{apply_should_retry, classify_status, truncate};

/// Error codes and error `type`s the Responses API sends, and their class.
const KNOWN_CODES: &[(&str, ModelErrorKind)] = &[
    ("insufficient_quota", ModelErrorKind::Quota),
    ("context_length_exceeded", ModelErrorKind::ContextLength),
    ("rate_limit_exceeded", ModelErrorKind::RateLimited),
    ("rate_limit_error", ModelErrorKind::RateLimited),
    ("tokens", ModelErrorKind::RateLimited),
    ("requests", ModelErrorKind::RateLimited),
    ("server_error", ModelErrorKind::Transient),
    ("server_is_overloaded", ModelErrorKind::Transient),
    ("overloaded_error", ModelErrorKind::Transient),
    ("slow_down", ModelErrorKind::Transient),
    ("vector_store_timeout", ModelErrorKind::Transient),
    ("invalid_api_key", ModelErrorKind::Auth),
    ("authentication_error", ModelErrorKind::Auth),
    ("permission_error", ModelErrorKind::Auth),
    ("invalid_request_error", ModelErrorKind::InvalidRequest),
    ("invalid_prompt", ModelErrorKind::InvalidRequest),
    ("not_found_error", ModelErrorKind::InvalidRequest),
    ("model_not_found", ModelErrorKind::InvalidRequest),
];

/// Code families that all mean "this request is wrong" (`invalid_image`,
/// `image_too_large`, `unsupported_image_media_type`, ...).
const INVALID_REQUEST_PREFIXES: &[&str] = &[
    "invalid_",
    "image_",
    "unsupported_",
    "empty_image",
    "failed_to_download",
];

/// Phrases of context-window errors from servers that send no code.
const CONTEXT_PHRASES: &[&str] = &[
    "context window",
    "context length",
    "maximum context",
    "context_length_exceeded",
];

/// An error body: `{"error": {"message", "type", "code", "param"}}`, or
/// `{"error": "text"}` from some proxies.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    error: Option<serde_json::Value>,
}

/// The class of a code or error type, when it is one we know.
fn class_of(code: &str) -> Option<ModelErrorKind> {
    if let Some((_, class)) = KNOWN_CODES.iter().find(|(known, _)| *known == code) {
        return Some(*class);
    }
    INVALID_REQUEST_PREFIXES
        .iter()
        .any(|prefix| code.starts_with(prefix))
        .then_some(ModelErrorKind::InvalidRequest)
}

fn mentions_context_window(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    CONTEXT_PHRASES
        .iter()
        .any(|phrase| message.contains(phrase))
}

/// Classifies a non-2xx answer.
pub(super) fn classify_http(status: u16, headers: &[(String, String)], body: &str) -> ModelError {
    let error = parse_error_body(body);
    let message = error.message.clone().unwrap_or_default();
    let base = classify_status(status, headers, &message, body);
    let codes = [error.code.as_deref(), error.kind.as_deref()];
    let has = |class| codes.iter().flatten().any(|c| class_of(c) == Some(class));
    let classified = if has(ModelErrorKind::Quota) {
        base.with_kind(ModelErrorKind::Quota)
    } else if has(ModelErrorKind::ContextLength)
        || (matches!(status, 400 | 413) && mentions_context_window(&message))
    {
        base.with_kind(ModelErrorKind::ContextLength)
    } else {
        base
    };
    apply_should_retry(classified, headers)
}

/// The `error` object of an error body; empty when the body is not JSON or
/// has no such object.
fn parse_error_body(body: &str) -> WireError {
    let Ok(parsed) = serde_json::from_str::<ErrorBody>(body) else {
        return WireError::default();
    };
    match parsed.error {
        Some(serde_json::Value::String(message)) => WireError {
            message: Some(message),
            ..WireError::default()
        },
        Some(object) => serde_json::from_value(object).unwrap_or_default(),
        None => WireError::default(),
    }
}

/// Classifies a failure the provider reported inside a 200 response.
/// `raw` is the event data or body, kept (bounded) for operators.
pub(super) fn classify_in_stream(error: &WireError, raw: &str) -> ModelError {
    let code = error.code.as_deref().filter(|c| !c.is_empty());
    let message = error.message.as_deref().unwrap_or_default();
    let explanation = match (message.trim().is_empty(), code) {
        (false, Some(code)) => format!("{message} (code `{code}`)"),
        (false, None) => message.to_owned(),
        (true, Some(code)) => format!("the response failed with code `{code}` and no message"),
        (true, None) => "the response failed without a code or message".to_owned(),
    };
    let detail = ErrorDetail {
        status: None,
        body: truncate(raw),
        message: explanation,
    };
    let class = code
        .and_then(class_of)
        .or_else(|| error.kind.as_deref().and_then(class_of))
        .or_else(|| mentions_context_window(message).then_some(ModelErrorKind::ContextLength))
        .unwrap_or(ModelErrorKind::Transient);
    match class {
        ModelErrorKind::RateLimited => ModelError::RateLimited {
            retry_after: suggested_wait(message),
            detail,
        },
        other => ModelError::from_kind(other, detail),
    }
}

/// The wait a rate-limit message suggests: `... Please try again in 1.5s.`
/// or `... in 250ms.` (there is no `Retry-After` header inside a stream).
fn suggested_wait(message: &str) -> Option<Duration> {
    const MARKER: &str = "try again in ";
    let start = message.to_ascii_lowercase().find(MARKER)? + MARKER.len();
    let rest = message.get(start..)?;
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let value: f64 = rest[..number_len].parse().ok()?;
    let unit = &rest[number_len..];
    let secs = if unit.starts_with("ms") {
        value / 1000.0
    } else if unit.starts_with('s') {
        value
    } else {
        return None;
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_messages_suggest_a_wait() {
        let wait = |m| suggested_wait(m);
        assert_eq!(
            wait(
                "Rate limit reached for gpt-5 on tokens per min (TPM): Limit 30000. Please try again in 1.25s. Visit https://platform.openai.com/account/rate-limits"
            ),
            Some(Duration::from_millis(1250))
        );
        assert_eq!(
            wait("Please try again in 250ms."),
            Some(Duration::from_millis(250))
        );
        assert_eq!(wait("Please try again in 3 minutes."), None);
        assert_eq!(wait("Please try again later."), None);
        assert_eq!(wait(""), None);
    }

    #[test]
    fn long_raw_text_is_bounded_on_a_char_boundary() {
        let raw = "é".repeat(3000);
        let kept = truncate(&raw);
        assert!(kept.ends_with("(6000 bytes in all)"), "{kept}");
        assert!(kept.len() < 4200);
    }

    #[test]
    fn code_families_are_invalid_requests() {
        assert_eq!(
            class_of("invalid_image_url"),
            Some(ModelErrorKind::InvalidRequest)
        );
        assert_eq!(
            class_of("image_too_large"),
            Some(ModelErrorKind::InvalidRequest)
        );
        assert_eq!(
            class_of("unsupported_image_media_type"),
            Some(ModelErrorKind::InvalidRequest)
        );
        assert_eq!(class_of("something_new"), None);
    }
}
