//! Secret scanning of added lines.
//!
//! Three detectors, in this order (the first hit on a line wins):
//!
//! 1. **values the [`Redactor`] knows** (API keys and forge tokens of this
//!    process, secrets configured by the operator);
//! 2. **token formats**: GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`,
//!    `github_pat_`), AWS access key ids (`AKIA…`, `ASIA…`) and secret keys
//!    assigned to an `aws…secret…` name, Slack tokens (`xox[abprs]-`) and
//!    webhooks, OpenAI (`sk-…`, `sk-proj-…`), Anthropic (`sk-ant-…`), Google
//!    API keys (`AIza…`), PEM private-key headers;
//! 3. **high-entropy quoted strings**: a quoted token of at least
//!    `min_length` characters from the base64/hex alphabet, mixing lower
//!    case, upper case and digits, whose Shannon entropy is at least
//!    `threshold` bits per character. Hex-only strings (hashes, commit ids)
//!    and files matched by `ignore_paths` (lockfiles by default) are skipped.
//!
//! Findings carry a masked preview only ([`mask`]): the secret itself never
//! reaches logs, events or the model.

use std::sync::OnceLock;

use regex::Regex;

use super::globs::GlobList;
use crate::redact::Redactor;

/// Settings of the entropy detector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntropySettings {
    pub enabled: bool,
    pub min_length: usize,
    pub threshold: f64,
}

/// A secret found on an added line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub kind: &'static str,
    pub masked: String,
}

fn token_patterns() -> &'static [(&'static str, Regex)] {
    static PATTERNS: OnceLock<Vec<(&'static str, Regex)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            (
                "a GitHub token",
                r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}",
            ),
            ("a GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
            ("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
            (
                "an AWS secret access key",
                r#"(?i)aws.{0,20}secret.{0,20}?['"=:\s]\s*['"]?([A-Za-z0-9/+=]{40})\b"#,
            ),
            ("a Slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
            (
                "a Slack webhook",
                r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+",
            ),
            ("an Anthropic API key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
            (
                "an OpenAI API key",
                r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
            ),
            ("a Google API key", r"\bAIza[0-9A-Za-z_\-]{35}"),
            (
                "a private key",
                r"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----",
            ),
        ]
        .into_iter()
        .filter_map(|(kind, p)| Regex::new(p).ok().map(|re| (kind, re)))
        .collect()
    })
}

fn quoted_token() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r#"["'`]([A-Za-z0-9+/=_\-]{8,})["'`]"#).expect("built-in pattern"))
}

/// `ghp_…(40 chars)`: the first four characters and the length.
pub(crate) fn mask(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    format!("{head}…({} chars)", secret.chars().count())
}

/// Shannon entropy of `s` in bits per character.
pub(crate) fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    let mut total = 0usize;
    for b in s.bytes() {
        counts[b as usize] += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// Scans one added line of `path`.
pub(crate) fn scan_line(
    path: &str,
    text: &str,
    redactor: &Redactor,
    entropy: &EntropySettings,
    entropy_ignore: &GlobList,
) -> Option<Finding> {
    if let Some(secret) = redactor.known_secret_in(text) {
        return Some(Finding {
            kind: "a secret this agent knows (an API key or token of its environment)",
            masked: mask(secret),
        });
    }
    for (kind, re) in token_patterns() {
        if let Some(caps) = re.captures(text) {
            let secret = caps.get(1).or_else(|| caps.get(0))?.as_str();
            return Some(Finding {
                kind,
                masked: mask(secret),
            });
        }
    }
    if !entropy.enabled || entropy_ignore.matching(path).is_some() {
        return None;
    }
    for caps in quoted_token().captures_iter(text) {
        let token = caps.get(1)?.as_str();
        if token.len() < entropy.min_length || token.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let classes = [
            token.bytes().any(|b| b.is_ascii_lowercase()),
            token.bytes().any(|b| b.is_ascii_uppercase()),
            token.bytes().any(|b| b.is_ascii_digit()),
        ];
        if classes.iter().all(|c| *c) && shannon_entropy(token) >= entropy.threshold {
            return Some(Finding {
                kind: "a high-entropy string (it looks like a key or token)",
                masked: mask(token),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::contract::globs::DEFAULT_LOCKFILE_GLOBS;

    fn scan(path: &str, text: &str) -> Option<Finding> {
        let settings = EntropySettings {
            enabled: true,
            min_length: 24,
            threshold: 4.0,
        };
        scan_line(
            path,
            text,
            &Redactor::new().with_secret("operator-secret-value-123"),
            &settings,
            &GlobList::builtin(DEFAULT_LOCKFILE_GLOBS),
        )
    }

    fn kind(path: &str, text: &str) -> Option<&'static str> {
        scan(path, text).map(|f| f.kind)
    }

    #[test]
    fn every_token_format_is_recognised() {
        // Test tokens are assembled at run time so this file holds no token-shaped literal.
        let gh = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z57");
        let cases = [
            (format!("token = \"{gh}\""), "a GitHub token"),
            (
                format!(
                    "github_pat_{}",
                    "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
                ),
                "a GitHub token",
            ),
            (
                format!("key: {}", "AKIA".to_owned() + "IOSFODNN7EXAMPLE"),
                "an AWS access key id",
            ),
            (
                format!(
                    "aws_secret_access_key = \"{}\"",
                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
                ),
                "an AWS secret access key",
            ),
            (
                format!("SLACK={}", "xoxb-".to_owned() + "1234567890-abcdefghij"),
                "a Slack token",
            ),
            (
                format!(
                    "url = \"https://hooks.slack.com/services/{}\"",
                    "T000/B000/XXXXXXXXXXXXXXXX"
                ),
                "a Slack webhook",
            ),
            (
                format!("{}{}", "sk-ant-", "api03-abcdefghijklmnopqrstuv"),
                "an Anthropic API key",
            ),
            (
                format!("{}{}", "sk-proj-", "abcdefghijklmnopqrstuvwx"),
                "an OpenAI API key",
            ),
            (
                format!("{}{}", "AIza", "SyA-abcdefghijklmnopqrstuvwxyz0123456"),
                "a Google API key",
            ),
            (
                format!("-----BEGIN {}PRIVATE KEY-----", "OPENSSH "),
                "a private key",
            ),
            (
                "password = 'operator-secret-value-123'".to_string(),
                "a secret this agent knows (an API key or token of its environment)",
            ),
            (
                "API = \"q8Xz4LmN2pR7vT1wY6bC9dF3hJ5k\"".to_string(),
                "a high-entropy string (it looks like a key or token)",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(kind("src/config.py", &line), Some(expected), "{line}");
        }
    }

    #[test]
    fn ordinary_code_hashes_and_lockfiles_are_not_secrets() {
        for line in [
            "let name = \"SomeLongIdentifierWithoutDigits\";",
            "checksum = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"",
            "rev = \"e83c5163316f89bfbde7d9ab23ca2e25604af290\"",
            "url = \"https://example.com/a/b\"",
            "assert add(2, 3) == 5",
        ] {
            assert_eq!(kind("src/a.py", line), None, "{line}");
        }
        assert_eq!(
            kind("Cargo.lock", "x = \"q8Xz4LmN2pR7vT1wY6bC9dF3hJ5k\""),
            None
        );
    }

    #[test]
    fn findings_are_masked() {
        let gh = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z57");
        let finding = scan("a.rs", &gh).unwrap();
        assert_eq!(finding.masked, "ghp_…(40 chars)");
        assert!(!finding.masked.contains(&gh[4..]));
    }
}
