//! Removing secrets from text that leaves the process (transcripts, logs, PR bodies).

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

/// The replacement for a redacted secret.
pub const REDACTED: &str = "[REDACTED]";

/// Environment variables whose values are secrets in most setups.
pub const SECRET_ENV_VARS: &[&str] = &[
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENROUTER_API_KEY",
    "OPENAI_COMPATIBLE_API_KEY",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "AGENTKIT_FORGE_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

fn patterns() -> &'static [Regex] {
    static PATTERNS: OnceLock<Vec<Regex>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            // OpenAI / Anthropic / OpenRouter style keys.
            r"\bsk-(?:ant-|proj-|or-)?[A-Za-z0-9_\-]{20,}",
            // GitHub tokens.
            r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}",
            r"\bgithub_pat_[A-Za-z0-9_]{40,}",
            // AWS access key ids.
            r"\bAKIA[0-9A-Z]{16}\b",
            // Bearer headers.
            r"(?i)\bbearer\s+[A-Za-z0-9_\-\.=]{20,}",
        ]
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
    })
}

/// Replaces known secret values and common token shapes with [`REDACTED`].
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that only knows the built-in token shapes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also redacts this exact value (ignored when shorter than 8 bytes, to
    /// avoid shredding ordinary text).
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        let secret = secret.into();
        if secret.len() >= 8 {
            self.secrets.push(secret);
        }
        self
    }

    /// Also redacts the current values of [`SECRET_ENV_VARS`].
    pub fn with_env_secrets(mut self) -> Self {
        for name in SECRET_ENV_VARS {
            if let Ok(value) = std::env::var(name) {
                self = self.with_secret(value);
            }
        }
        self
    }

    /// The first exact secret value this redactor knows that occurs in
    /// `text` (token *shapes* are not considered here).
    pub fn known_secret_in(&self, text: &str) -> Option<&str> {
        self.secrets
            .iter()
            .find(|s| text.contains(s.as_str()))
            .map(String::as_str)
    }

    /// `text` with secrets replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        for re in patterns() {
            if re.is_match(&out) {
                out = Cow::Owned(re.replace_all(&out, REDACTED).into_owned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_known_values_and_token_shapes() {
        let r = Redactor::new().with_secret("hunter2-very-secret");
        assert_eq!(
            r.redact("key=hunter2-very-secret and sk-proj-abcdefghijklmnopqrstuvwxyz0123 ok"),
            "key=[REDACTED] and [REDACTED] ok"
        );
        assert_eq!(
            r.redact("token ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            "token [REDACTED]"
        );
        assert_eq!(r.redact("nothing to see"), "nothing to see");
    }

    #[test]
    fn short_values_are_not_treated_as_secrets() {
        let r = Redactor::new().with_secret("a");
        assert_eq!(r.redact("a banana"), "a banana");
    }
}
