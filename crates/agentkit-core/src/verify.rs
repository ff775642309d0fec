//! Verification: the checks that gate a pull request.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::sandbox::{Sandbox, SandboxError};

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's name (`tests`, `clippy`, ...).
    pub name: String,
    /// The command as run, for humans.
    pub command: String,
    /// Whether it passed.
    pub passed: bool,
    /// `exit 1`, `timed out after 300.0s`, ...
    pub status: String,
    /// The relevant output, truncated to a budget.
    pub output: String,
    /// How long it took.
    pub duration: Duration,
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Whether every check passed.
    pub passed: bool,
    /// Each check, in order.
    pub checks: Vec<CheckResult>,
}

impl Verification {
    /// Builds a verification from checks; passed when all passed.
    pub fn from_checks(checks: Vec<CheckResult>) -> Self {
        Self {
            passed: checks.iter().all(|c| c.passed),
            checks,
        }
    }

    /// Feedback for the model: every failed check with its output.
    pub fn feedback(&self) -> String {
        if self.passed {
            return "All checks passed.".to_string();
        }
        let mut out = String::from(
            "Verification failed. Fix the problems below, then call `finish` again.\n",
        );
        for check in self.checks.iter().filter(|c| !c.passed) {
            out.push_str(&format!(
                "\n### `{}` ({}) — {}\n```\n{}\n```\n",
                check.name,
                check.command,
                check.status,
                check.output.trim_end()
            ));
        }
        out
    }

    /// One line per check, for pull-request bodies and logs.
    pub fn summary(&self) -> String {
        self.checks
            .iter()
            .map(|c| {
                format!(
                    "- {} `{}`: {} ({:.1}s)",
                    if c.passed { "✅" } else { "❌" },
                    c.command,
                    c.status,
                    c.duration.as_secs_f64()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The verifier could not run its checks (distinct from checks failing).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The sandbox failed.
    #[error("verification could not run: {0}")]
    Sandbox(#[from] SandboxError),
}

/// Runs checks in the sandbox.
#[async_trait]
pub trait Verifier: Send + Sync {
    /// Runs every check and reports.
    async fn verify(&self, sandbox: &dyn Sandbox) -> Result<Verification, VerifyError>;
}
