//! Classifying HTTP failures into [`ModelError`] kinds.
//!
//! Every protocol first recognises its provider's own error codes (quota,
//! context length) and hands the rest to [`classify_status`], which follows
//! the official SDKs: 408, 409, 429 and 5xx are retryable, 401/403 are
//! credential problems, other 4xx are invalid requests.

use std::time::{Duration, SystemTime};

use agentkit_core::model::{ErrorDetail, ModelError, ModelErrorKind};

use crate::transport::header_value;

/// How long the provider asked us to wait: `retry-after-ms`, then
/// `retry-after` as seconds (fractions allowed) or as an HTTP date.
pub fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    if let Some(ms) = header_value(headers, "retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header_value(headers, "retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The provider's explicit retry advice from `x-should-retry`, when present.
pub fn should_retry(headers: &[(String, String)]) -> Option<bool> {
    match header_value(headers, "x-should-retry")?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Classifies a failed response by status alone. `message` is the
/// provider's explanation when one could be extracted from `body`.
pub fn classify_status(
    status: u16,
    headers: &[(String, String)],
    message: &str,
    body: &str,
) -> ModelError {
    let detail = ErrorDetail::http(status, truncate(body), message_or_status(status, message));
    match status {
        401 | 403 => ModelError::Auth { detail },
        429 => ModelError::RateLimited {
            retry_after: retry_after(headers),
            detail,
        },
        408 | 409 | 500..=599 => ModelError::Transient { detail },
        413 => ModelError::ContextLength { detail },
        400..=499 => ModelError::InvalidRequest { detail },
        _ => ModelError::Permanent { detail },
    }
}

/// Applies `x-should-retry`: the server's word overrides the status rules,
/// except that quota and context-length errors are never retried.
pub fn apply_should_retry(error: ModelError, headers: &[(String, String)]) -> ModelError {
    match (should_retry(headers), error) {
        (_, e @ (ModelError::Quota { .. } | ModelError::ContextLength { .. })) => e,
        (Some(true), e) if !e.is_retryable() => e.with_kind(ModelErrorKind::Transient),
        (Some(false), e) if e.is_retryable() => e.with_kind(ModelErrorKind::Permanent),
        (_, e) => e,
    }
}

fn message_or_status(status: u16, message: &str) -> String {
    if message.trim().is_empty() {
        format!("the provider answered HTTP {status} with no explanation")
    } else {
        message.to_owned()
    }
}

/// Error bodies are kept for operators but bounded: a proxy's HTML page must
/// not flood logs.
pub(crate) fn truncate(body: &str) -> String {
    const MAX: usize = 4096;
    if body.len() <= MAX {
        return body.to_owned();
    }
    let mut end = MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &body[..end], body.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentkit_core::model::ModelErrorKind;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn statuses_map_to_kinds_like_the_official_sdks() {
        let kind = |s| classify_status(s, &[], "", "").kind();
        assert_eq!(kind(400), ModelErrorKind::InvalidRequest);
        assert_eq!(kind(401), ModelErrorKind::Auth);
        assert_eq!(kind(403), ModelErrorKind::Auth);
        assert_eq!(kind(404), ModelErrorKind::InvalidRequest);
        assert_eq!(kind(408), ModelErrorKind::Transient);
        assert_eq!(kind(409), ModelErrorKind::Transient);
        assert_eq!(kind(429), ModelErrorKind::RateLimited);
        assert_eq!(kind(500), ModelErrorKind::Transient);
        assert_eq!(kind(529), ModelErrorKind::Transient);
        assert_eq!(kind(302), ModelErrorKind::Permanent);
    }

    #[test]
    fn retry_after_reads_ms_seconds_and_dates() {
        assert_eq!(
            retry_after(&h(&[("Retry-After", "3")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&h(&[("retry-after", "1.5")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&h(&[("retry-after-ms", "250"), ("retry-after", "9")])),
            Some(Duration::from_millis(250))
        );
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(
            retry_after(&h(&[("retry-after", past)])),
            Some(Duration::ZERO)
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = retry_after(&h(&[("retry-after", &later)])).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(retry_after(&h(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&h(&[("retry-after", "-1")])), None);
    }

    #[test]
    fn x_should_retry_overrides_the_status_but_not_quota() {
        let yes = h(&[("x-should-retry", "true")]);
        let no = h(&[("x-should-retry", "false")]);
        let bad = classify_status(400, &yes, "x", "");
        assert!(apply_should_retry(bad, &yes).is_retryable());
        let busy = classify_status(503, &no, "x", "");
        assert!(!apply_should_retry(busy, &no).is_retryable());
        let quota = ModelError::Quota {
            detail: ErrorDetail::message("no credit"),
        };
        assert_eq!(
            apply_should_retry(quota, &yes).kind(),
            ModelErrorKind::Quota
        );
    }

    #[test]
    fn long_bodies_are_bounded_on_a_char_boundary() {
        let body = "é".repeat(5000);
        let e = classify_status(500, &[], "", &body);
        assert!(e.detail().body.len() < 4200);
        assert!(e.detail().body.ends_with("(10000 bytes in all)"));
        assert_eq!(
            e.detail().message,
            "the provider answered HTTP 500 with no explanation"
        );
    }
}
