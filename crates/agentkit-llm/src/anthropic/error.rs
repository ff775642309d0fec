//! Classifying Anthropic's errors, from an HTTP status or mid-stream.
//!
//! Errors arrive as `{"type": "error", "error": {"type": ..., "message": ...}}`,
//! either as a non-2xx body or as an `error` event inside a 200 stream. The
//! error type and message decide first:
//!
//! | Anthropic says                                     | Kind             |
//! |----------------------------------------------------|------------------|
//! | "prompt is too long", "exceed context limit"       | `ContextLength`  |
//! | `request_too_large` (413: the body is too big)     | `ContextLength`  |
//! | `billing_error`, "credit balance", "usage limits"  | `Quota`          |
//! | `details.error_code` `enforced_spend_limit_reached` | `Quota`         |
//! | `authentication_error`, `permission_error`         | `Auth`           |
//! | `rate_limit_error`                                 | `RateLimited`    |
//! | `overloaded_error` (529), `api_error`, `timeout_error` | `Transient`  |
//! | `invalid_request_error`, `not_found_error`         | `InvalidRequest` |
//!
//! A 413 becomes `ContextLength` rather than `InvalidRequest` because the
//! cure is the same: compact the conversation and send less. A monthly spend
//! cap arrives as a 429 `rate_limit_error` without `retry-after`; only its
//! `details.error_code` (and its wording) tell it from a rate limit, and
//! retrying it fails until the next month, so it is `Quota`.
//!
//! Anything else falls back to [`classify_status`] for HTTP errors, and to
//! `Transient` for stream errors (the request was accepted, so the failure
//! happened on the provider's side). HTTP errors finally pass through
//! [`apply_should_retry`]. Bodies that are not JSON are tolerated.

use agentkit_core::model::{ErrorDetail, ModelError, ModelErrorKind};

use crate::classify::{apply_should_retry, classify_status, retry_after};

use super::wire::{ApiError, MessageBody};

/// Classifies a non-2xx response.
pub(crate) fn classify_http(status: u16, headers: &[(String, String)], body: &str) -> ModelError {
    let error = serde_json::from_str::<MessageBody>(body)
        .ok()
        .and_then(|b| b.error)
        .unwrap_or_default();
    let fallback = classify_status(status, headers, &error.message, body);
    let detail = fallback.detail().clone();
    let classified = match recognise(&error) {
        Some(ModelErrorKind::RateLimited) => ModelError::RateLimited {
            retry_after: retry_after(headers),
            detail,
        },
        Some(kind) => ModelError::from_kind(kind, detail),
        None => fallback,
    };
    apply_should_retry(classified, headers)
}

/// Classifies an `error` event received inside a 200 stream. `raw` is the
/// event's data.
pub(crate) fn classify_stream_error(error: &ApiError, raw: &str) -> ModelError {
    let kind = if error.kind.is_empty() {
        "unnamed".to_owned()
    } else {
        format!("`{}`", error.kind)
    };
    let explanation = if error.message.trim().is_empty() {
        "no explanation"
    } else {
        error.message.as_str()
    };
    let detail = ErrorDetail {
        status: None,
        body: raw.chars().take(4096).collect(),
        message: format!("the provider reported an error inside its reply ({kind}): {explanation}"),
    };
    match recognise(error) {
        Some(ModelErrorKind::RateLimited) => ModelError::RateLimited {
            retry_after: None,
            detail,
        },
        Some(kind) => ModelError::from_kind(kind, detail),
        None => ModelError::Transient { detail },
    }
}

/// The kind Anthropic's error type and message name, if they name one.
fn recognise(error: &ApiError) -> Option<ModelErrorKind> {
    let message = error.message.to_ascii_lowercase();
    if error.kind == "request_too_large"
        || message.contains("prompt is too long")
        || message.contains("exceed context limit")
    {
        return Some(ModelErrorKind::ContextLength);
    }
    if error.kind == "billing_error"
        || error.error_code() == Some("enforced_spend_limit_reached")
        || message.contains("credit balance")
        || message.contains("usage limits")
    {
        return Some(ModelErrorKind::Quota);
    }
    match error.kind.as_str() {
        "authentication_error" | "permission_error" => Some(ModelErrorKind::Auth),
        "rate_limit_error" => Some(ModelErrorKind::RateLimited),
        "overloaded_error" | "api_error" | "timeout_error" => Some(ModelErrorKind::Transient),
        "invalid_request_error" | "not_found_error" => Some(ModelErrorKind::InvalidRequest),
        _ => None,
    }
}
