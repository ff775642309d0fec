//! Classification of error replies (non-2xx statuses).

use std::time::Duration;

use agentkit_core::model::{ErrorDetail, ModelError, ModelErrorKind};
use agentkit_llm::Protocol;
use serde_json::json;

use crate::support::wire::headers;
use crate::{protocol, vllm};

fn error_body(kind: &str, code: Option<&str>, message: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}}).to_string()
}

#[test]
fn http_errors_are_classified_by_code_wording_then_status() {
    /// Status, headers, body, and the kind the error must be classified as.
    type Case = (u16, Vec<(String, String)>, String, ModelErrorKind);
    let none = headers(&[]);
    let cases: Vec<Case> = vec![
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                None,
                "Invalid type for 'messages[2].content'.",
            ),
            ModelErrorKind::InvalidRequest,
        ),
        (
            401,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided: sk-abc***.",
            ),
            ModelErrorKind::Auth,
        ),
        (
            403,
            none.clone(),
            error_body(
                "request_forbidden",
                Some("unsupported_country_region_territory"),
                "Country, region, or territory not supported",
            ),
            ModelErrorKind::Auth,
        ),
        (
            404,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("model_not_found"),
                "The model `gpt-9` does not exist or you do not have access to it.",
            ),
            ModelErrorKind::InvalidRequest,
        ),
        (
            404,
            none.clone(),
            r#"{"error":{"message":"model \"llama9\" not found, try pulling it first","type":"api_error","param":null,"code":null}}"#.into(),
            ModelErrorKind::InvalidRequest,
        ),
        (408, none.clone(), String::new(), ModelErrorKind::Transient),
        (
            409,
            none.clone(),
            error_body("conflict", None, "Conflict."),
            ModelErrorKind::Transient,
        ),
        (
            500,
            none.clone(),
            error_body("server_error", None, "The server had an error."),
            ModelErrorKind::Transient,
        ),
        (
            503,
            none.clone(),
            error_body(
                "service_unavailable",
                None,
                "The engine is currently overloaded.",
            ),
            ModelErrorKind::Transient,
        ),
        (
            429,
            none.clone(),
            error_body(
                "requests",
                Some("rate_limit_exceeded"),
                "Rate limit reached for gpt-4.1 on requests per min (RPM): Limit 500.",
            ),
            ModelErrorKind::RateLimited,
        ),
        (
            429,
            none.clone(),
            error_body(
                "tokens",
                Some("rate_limit_exceeded"),
                "Request too large for gpt-4.1 on tokens per min (TPM): Limit 30000, \
                 Requested 45000. The input or output tokens must be reduced.",
            ),
            ModelErrorKind::RateLimited,
        ),
        (
            429,
            none.clone(),
            error_body(
                "insufficient_quota",
                Some("insufficient_quota"),
                "You exceeded your current quota, please check your plan and billing details.",
            ),
            ModelErrorKind::Quota,
        ),
        (
            429,
            headers(&[("x-should-retry", "true")]),
            error_body("insufficient_quota", Some("insufficient_quota"), "no credit"),
            ModelErrorKind::Quota,
        ),
        (
            402,
            none.clone(),
            r#"{"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits"}}"#.into(),
            ModelErrorKind::Quota,
        ),
        (
            400,
            none.clone(),
            error_body(
                "invalid_request_error",
                Some("context_length_exceeded"),
                "This model's maximum context length is 128000 tokens. However, your \
                 messages resulted in 130000 tokens.",
            ),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            // vLLM before 0.10: the error object at the top level.
            r#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            r#"{"error":{"message":"The decoder prompt (length 5000) is longer than the maximum model length of 4096. Make sure that `max_model_len` is no smaller than the number of text tokens.","type":"BadRequestError","param":null,"code":400}}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            r#"{"error":{"code":400,"message":"request (4476 tokens) exceeds the available context size (4096 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4476,"n_ctx":4096}}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            // llama.cpp before `exceed_context_size_error` existed.
            r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing the context size or enable context shift","type":"invalid_request_error"}}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            400,
            none.clone(),
            r#"{"error":{"message":"This endpoint's maximum context length is 131072 tokens. However, you requested about 200000 tokens. Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically.","code":400,"metadata":{"provider_name":null}}}"#.into(),
            ModelErrorKind::ContextLength,
        ),
        (
            413,
            none.clone(),
            "request entity too large".into(),
            ModelErrorKind::ContextLength,
        ),
        (
            502,
            none.clone(),
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n".into(),
            ModelErrorKind::Transient,
        ),
        (
            503,
            headers(&[("x-should-retry", "false")]),
            String::new(),
            ModelErrorKind::Permanent,
        ),
        (
            400,
            headers(&[("x-should-retry", "true")]),
            "{}".into(),
            ModelErrorKind::Transient,
        ),
    ];
    for (status, headers, body, kind) in cases {
        let error = vllm().classify_error(status, &headers, &body);
        assert_eq!(error.kind(), kind, "{status} {body}: {error}");
        assert_eq!(error.detail().status, Some(status), "{body}");
        assert_eq!(error.detail().body, body);
    }
}

#[test]
fn a_rate_limit_keeps_the_message_and_the_wait_from_either_header() {
    let body = error_body(
        "requests",
        Some("rate_limit_exceeded"),
        "Rate limit reached for gpt-4.1 on requests per min (RPM): Limit 500.",
    );
    let message = "Rate limit reached for gpt-4.1 on requests per min (RPM): Limit 500. \
                   (type `requests`, code `rate_limit_exceeded`)";
    assert_eq!(
        protocol().classify_error(429, &headers(&[("retry-after", "2")]), &body),
        ModelError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            detail: ErrorDetail::http(429, body.clone(), message),
        }
    );
    assert_eq!(
        protocol().classify_error(
            429,
            &headers(&[("retry-after-ms", "1500"), ("retry-after", "2")]),
            &body
        ),
        ModelError::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
            detail: ErrorDetail::http(429, body.clone(), message),
        }
    );
    assert_eq!(
        protocol().classify_error(429, &[], &body),
        ModelError::RateLimited {
            retry_after: None,
            detail: ErrorDetail::http(429, body.clone(), message),
        }
    );
}

#[test]
fn an_exhausted_quota_is_never_retried_even_when_the_server_says_so() {
    let body = error_body(
        "insufficient_quota",
        Some("insufficient_quota"),
        "You exceeded your current quota.",
    );
    let error = protocol().classify_error(
        429,
        &headers(&[("x-should-retry", "true"), ("retry-after", "1")]),
        &body,
    );
    assert_eq!(
        error,
        ModelError::Quota {
            detail: ErrorDetail::http(
                429,
                body.clone(),
                "You exceeded your current quota. (type `insufficient_quota`, code \
                 `insufficient_quota`)"
            ),
        }
    );
    assert!(!error.is_retryable());
}

#[test]
fn x_should_retry_false_makes_a_server_error_final() {
    let error = protocol().classify_error(503, &headers(&[("x-should-retry", "false")]), "");
    assert_eq!(
        error,
        ModelError::Permanent {
            detail: ErrorDetail::http(
                503,
                "",
                "the provider answered HTTP 503 with no explanation"
            ),
        }
    );
    assert!(!error.is_retryable());
}

#[test]
fn a_proxy_html_page_is_transient_with_a_bounded_message_and_body() {
    let nginx = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                 <center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
    assert_eq!(
        protocol().classify_error(502, &[], nginx),
        ModelError::Transient {
            detail: ErrorDetail::http(
                502,
                nginx,
                "the provider answered with a body that is not JSON: <html> <head><title>502 \
                 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> \
                 </body> </html>"
            ),
        }
    );

    let page = format!(
        "<!DOCTYPE html><html><head><title>Cloudflare</title></head><body>{}</body></html>",
        "<p>Error 524: a timeout occurred</p>".repeat(400)
    );
    let error = protocol().classify_error(524, &[], &page);
    assert_eq!(error.kind(), ModelErrorKind::Transient);
    let prefix = "the provider answered with a body that is not JSON: ";
    let message = &error.detail().message;
    assert!(message.starts_with(prefix), "{message}");
    assert_eq!(
        message[prefix.len()..].chars().count(),
        201,
        "200 characters and an ellipsis"
    );
    assert!(message.ends_with('…'));
    let body = &error.detail().body;
    assert_eq!(
        body.strip_suffix(&format!("… ({} bytes in all)", page.len())),
        Some(&page[..4096])
    );
}

#[test]
fn json_without_an_error_object_is_described_as_such() {
    // vLLM (FastAPI) answering a wrong path, e.g. a base URL without `/v1`.
    let not_found = r#"{"detail":"Not Found"}"#;
    assert_eq!(
        vllm().classify_error(404, &[], not_found),
        ModelError::InvalidRequest {
            detail: ErrorDetail::http(404, not_found, "Not Found"),
        }
    );
    let odd = r#"{"status":"error","reason":42}"#;
    assert_eq!(
        vllm().classify_error(500, &[], odd),
        ModelError::Transient {
            detail: ErrorDetail::http(
                500,
                odd,
                r#"the provider answered with JSON that holds no error message: {"status":"error","reason":42}"#
            ),
        }
    );
}
