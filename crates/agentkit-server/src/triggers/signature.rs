//! Webhook signatures: HMAC-SHA256 over the raw body, compared in constant
//! time, checked before anything parses the payload.
//!
//! | sender | header | signed bytes | encoding |
//! | --- | --- | --- | --- |
//! | GitHub | `X-Hub-Signature-256` | body | `sha256=` + hex |
//! | Slack | `X-Slack-Signature`, `X-Slack-Request-Timestamp` | `v0:{ts}:{body}` | `v0=` + hex; `ts` within 5 minutes |
//! | Linear | `Linear-Signature` | body | hex (the payload's `webhookTimestamp` is checked after) |
//! | generic | configured | body | configured prefix + hex |

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a Slack request timestamp may be from now.
pub const SLACK_WINDOW_SECS: i64 = 5 * 60;

/// Why a request was not accepted as signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature header is absent.
    #[error("the `{header}` header is missing; is the webhook secret configured on the sender?")]
    Missing {
        /// The header looked for.
        header: String,
    },
    /// The header is there but not in the expected form.
    #[error("the `{header}` header is malformed (expected `{expected}`)")]
    Malformed {
        /// The header.
        header: String,
        /// Its expected form.
        expected: String,
    },
    /// The signature does not match the body and secret.
    #[error(
        "the signature does not match; the secret differs from the sender's, or the body was altered"
    )]
    Mismatch,
    /// The timestamp is outside the accepted window (a replay, or a skewed clock).
    #[error("the request timestamp is {skew_secs}s from now, outside the {window_secs}s window")]
    Stale {
        /// Distance from now.
        skew_secs: i64,
        /// The window.
        window_secs: i64,
    },
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Checks `signature` (`prefix` + hex) against HMAC-SHA256(`secret`, parts…)
/// in constant time.
pub fn verify_hex(
    secret: &[u8],
    parts: &[&[u8]],
    signature: Option<&str>,
    header: &str,
    prefix: &str,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or_else(|| SignatureError::Missing {
        header: header.to_string(),
    })?;
    let malformed = || SignatureError::Malformed {
        header: header.to_string(),
        expected: format!("{prefix}<hex HMAC-SHA256>"),
    };
    let hex_part = signature
        .trim()
        .strip_prefix(prefix)
        .ok_or_else(malformed)?;
    let expected = hex::decode(hex_part).map_err(|_| malformed())?;
    let mut mac = mac(secret);
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body.
pub fn verify_github(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    verify_hex(secret, &[body], header, "X-Hub-Signature-256", "sha256=")
}

/// Slack, signing secret v0: `v0=<hex>` over `v0:{timestamp}:{body}`, the
/// timestamp (seconds) within [`SLACK_WINDOW_SECS`] of `now_secs`.
pub fn verify_slack(
    secret: &[u8],
    body: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    now_secs: i64,
) -> Result<(), SignatureError> {
    let header = "X-Slack-Request-Timestamp";
    let ts = timestamp.ok_or_else(|| SignatureError::Missing {
        header: header.into(),
    })?;
    let seconds: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed {
        header: header.into(),
        expected: "seconds since the Unix epoch".into(),
    })?;
    let skew = (now_secs - seconds).abs();
    if skew > SLACK_WINDOW_SECS {
        return Err(SignatureError::Stale {
            skew_secs: skew,
            window_secs: SLACK_WINDOW_SECS,
        });
    }
    let ts = ts.trim();
    verify_hex(
        secret,
        &[b"v0:", ts.as_bytes(), b":", body],
        signature,
        "X-Slack-Signature",
        "v0=",
    )
}

/// Linear: `Linear-Signature: <hex>` over the body.
pub fn verify_linear(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    verify_hex(secret, &[body], header, "Linear-Signature", "")
}

/// `prefix` + hex HMAC-SHA256 of `parts` (for senders in tests and docs).
pub fn sign_hex(secret: &[u8], parts: &[&[u8]], prefix: &str) -> String {
    let mut mac = mac(secret);
    for part in parts {
        mac.update(part);
    }
    format!("{prefix}{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signatures_match_githubs_documented_example() {
        // The example of GitHub's "Validating webhook deliveries" page.
        let body = b"Hello, World!";
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            verify_github(b"It's a Secret to Everybody", body, Some(sig)),
            Ok(())
        );
        assert_eq!(
            verify_github(b"another secret", body, Some(sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_github(b"It's a Secret to Everybody", body, None),
            Err(SignatureError::Missing {
                header: "X-Hub-Signature-256".into()
            })
        );
        assert!(matches!(
            verify_github(b"s", body, Some("sha1=abcd")),
            Err(SignatureError::Malformed { .. })
        ));
        assert!(matches!(
            verify_github(b"s", body, Some("sha256=zz")),
            Err(SignatureError::Malformed { .. })
        ));
    }

    #[test]
    fn slack_signatures_match_slacks_documented_example_within_the_window() {
        // The example of Slack's "Verifying requests from Slack" page.
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let ts = 1531420618;
        assert_eq!(
            verify_slack(secret, body, Some("1531420618"), Some(sig), ts + 10),
            Ok(())
        );
        assert_eq!(
            verify_slack(secret, body, Some("1531420618"), Some(sig), ts + 301),
            Err(SignatureError::Stale {
                skew_secs: 301,
                window_secs: 300
            })
        );
        assert_eq!(
            verify_slack(secret, b"tampered", Some("1531420618"), Some(sig), ts),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn linear_and_generic_signatures_round_trip() {
        let sig = sign_hex(b"lin", &[b"{}"], "");
        assert_eq!(verify_linear(b"lin", b"{}", Some(&sig)), Ok(()));
        assert_eq!(
            verify_linear(b"other", b"{}", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }
}
