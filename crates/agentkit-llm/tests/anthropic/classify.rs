//! Classification of error replies (non-2xx statuses).

use std::time::Duration;

use agentkit_core::model::{ErrorDetail, ModelError, ModelErrorKind};
use agentkit_llm::Protocol;
use serde_json::json;

use crate::protocol;
use crate::support::wire::headers;

fn error_body(kind: &str, message: &str) -> String {
    json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"
    })
    .to_string()
}

#[test]
fn http_errors_are_classified_by_type_and_message_then_status() {
    /// Status, headers, body, and the kind the error must be classified as.
    type Case = (u16, Vec<(String, String)>, String, ModelErrorKind);
    let none = headers(&[]);
    let cases: Vec<Case> = vec![
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "messages.1.content.0: unexpected `tool_use_id` found in `tool_result` blocks",
            ),
            ModelErrorKind::InvalidRequest,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "prompt is too long: 208310 tokens > 200000 maximum",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "input length and `max_tokens` exceed context limit: 197626 + 21333 > 200000, \
                 decrease input length or `max_tokens` and try again",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. Please go to \
                 Plans & Billing to upgrade or purchase credits.",
            ),
            ModelErrorKind::Quota,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                "You have reached your specified API usage limits. You will regain access on \
                 2025-11-01 at 00:00 UTC.",
            ),
            ModelErrorKind::Quota,
        ),
        (
            401,
            none.clone(),
            error_body("authentication_error", "invalid x-api-key"),
            ModelErrorKind::Auth,
        ),
        (
            402,
            none.clone(),
            error_body("billing_error", "Payment required."),
            ModelErrorKind::Quota,
        ),
        (
            403,
            none.clone(),
            error_body(
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            ModelErrorKind::Auth,
        ),
        (
            404,
            none.clone(),
            error_body("not_found_error", "model: claude-sonnet-9"),
            ModelErrorKind::InvalidRequest,
        ),
        (
            413,
            none.clone(),
            error_body(
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            413,
            none.clone(),
            "<html><head><title>413 Request Entity Too Large</title></head></html>".into(),
            ModelErrorKind::ContextLength,
        ),
        (
            429,
            none.clone(),
            error_body(
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests \
                 per minute.",
            ),
            ModelErrorKind::RateLimited,
        ),
        (
            // The monthly spend cap of a usage tier: told apart by its code.
            429,
            none.clone(),
            json!({
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "Your organization has paused API access until next month.",
                    "details": {"error_code": "enforced_spend_limit_reached"}
                }
            })
            .to_string(),
            ModelErrorKind::Quota,
        ),
        (
            429,
            headers(&[("x-should-retry", "true")]),
            error_body(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.",
            ),
            ModelErrorKind::Quota,
        ),
        (
            500,
            none.clone(),
            error_body("api_error", "Internal server error"),
            ModelErrorKind::Transient,
        ),
        (
            504,
            none.clone(),
            error_body("timeout_error", "Request timed out"),
            ModelErrorKind::Transient,
        ),
        (
            529,
            none.clone(),
            error_body("overloaded_error", "Overloaded"),
            ModelErrorKind::Transient,
        ),
        (
            529,
            headers(&[("x-should-retry", "false")]),
            error_body("overloaded_error", "Overloaded"),
            ModelErrorKind::Permanent,
        ),
        (
            400,
            headers(&[("x-should-retry", "true")]),
            error_body("invalid_request_error", "Try again."),
            ModelErrorKind::Transient,
        ),
        (
            400,
            headers(&[("x-should-retry", "true")]),
            error_body(
                "invalid_request_error",
                "prompt is too long: 208310 tokens > 200000 maximum",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            502,
            none.clone(),
            "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
            ModelErrorKind::Transient,
        ),
        (
            502,
            none.clone(),
            r#"{"error":"upstream connect error"}"#.into(),
            ModelErrorKind::Transient,
        ),
        (503, none.clone(), String::new(), ModelErrorKind::Transient),
    ];
    for (status, headers, body, kind) in cases {
        let error = protocol().classify_error(status, &headers, &body);
        assert_eq!(error.kind(), kind, "{status} {body}: {error}");
        assert_eq!(error.detail().status, Some(status));
        assert_eq!(error.detail().body, body);
    }
}

#[test]
fn http_error_details_keep_the_message_and_the_wait() {
    let body = error_body("rate_limit_error", "Slow down.");
    assert_eq!(
        protocol().classify_error(429, &headers(&[("retry-after", "17")]), &body),
        ModelError::RateLimited {
            retry_after: Some(Duration::from_secs(17)),
            detail: ErrorDetail::http(429, body.clone(), "Slow down."),
        }
    );
    assert_eq!(
        protocol().classify_error(429, &[], &body),
        ModelError::RateLimited {
            retry_after: None,
            detail: ErrorDetail::http(429, body.clone(), "Slow down."),
        }
    );
    let overloaded = error_body("overloaded_error", "Overloaded");
    assert_eq!(
        protocol().classify_error(529, &headers(&[("retry-after", "5")]), &overloaded),
        ModelError::Transient {
            detail: ErrorDetail::http(529, overloaded.clone(), "Overloaded"),
        }
    );
    let credit = error_body(
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & \
         Billing to upgrade or purchase credits.",
    );
    assert_eq!(
        protocol().classify_error(400, &[], &credit),
        ModelError::Quota {
            detail: ErrorDetail::http(
                400,
                credit.clone(),
                "Your credit balance is too low to access the Anthropic API. Please go to \
                 Plans & Billing to upgrade or purchase credits."
            ),
        }
    );
    let too_long = error_body(
        "invalid_request_error",
        "prompt is too long: 208310 tokens > 200000 maximum",
    );
    assert_eq!(
        protocol().classify_error(400, &[], &too_long),
        ModelError::ContextLength {
            detail: ErrorDetail::http(
                400,
                too_long.clone(),
                "prompt is too long: 208310 tokens > 200000 maximum"
            ),
        }
    );
}

#[test]
fn a_non_json_error_page_is_transient_with_a_bounded_body() {
    let page = format!(
        "<html><body><h1>502 Bad Gateway</h1>{}</body></html>",
        "<p>upstream</p>".repeat(500)
    );
    let error = protocol().classify_error(502, &[], &page);
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    assert_eq!(error.detail().status, Some(502));
    assert_eq!(
        error.detail().message,
        "the provider answered HTTP 502 with no explanation"
    );
    assert_eq!(
        error.detail().body,
        format!("{}… ({} bytes in all)", &page[..4096], page.len())
    );
}
