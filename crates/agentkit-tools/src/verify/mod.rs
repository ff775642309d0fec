//! Verifiers: the checks that gate a pull request.
//!
//! [`CommandVerifier`] runs named checks — shell scripts from the *operator's*
//! configuration (`cargo test`, `npm run lint`, …), never from the model — in
//! the sandbox, in order, each with its own time limit, and reports every
//! check as a [`CheckResult`]:
//!
//! - **passed** when the script exits 0 in time; its output is reduced to a
//!   short tail;
//! - **failed** otherwise, with `status` saying how (`exit 101`,
//!   `killed by signal 9`, `timed out after 900.0s`) and `output` holding the
//!   part of stdout and stderr that matters, within the check's output budget
//!   ([`diagnostics`]: the failing tests with `file:line` and message, read
//!   from cargo, pytest, go test, tsc or ESLint output; for anything else
//!   [`relevant_output`]: lines around failure markers plus the tail, with a
//!   note of what was left out).
//!
//! A failing check is data; only a failure of the sandbox itself (it could
//! not run the command at all) is an error, [`VerifyError::Sandbox`]. All
//! checks run even when an earlier one failed, so the model sees every
//! problem at once.
//!
//! ```
//! use std::time::Duration;
//! use agentkit_tools::verify::{Check, CommandVerifier};
//!
//! let verifier = CommandVerifier::new()
//!     .check("tests", "cargo test --workspace")
//!     .with_check(Check::new("clippy", "cargo clippy -- -D warnings").timeout(Duration::from_secs(600)));
//! assert_eq!(verifier.checks().len(), 2);
//! ```

pub mod diagnostics;
mod extract;

use std::collections::BTreeMap;
use std::time::Duration;

use agentkit_core::sandbox::{ExecOutput, ExecRequest, Sandbox};
use agentkit_core::verify::{CheckResult, Verification, Verifier, VerifyError};
use async_trait::async_trait;
use tracing::Instrument;

pub use extract::relevant_output;
pub(crate) use extract::tail;

use diagnostics::Format;

/// Bytes of output kept for a check that passed.
const PASSED_OUTPUT: usize = 1024;
/// Extra time the sandbox gets beyond a check's limit to report the timeout itself.
const SANDBOX_GRACE: Duration = Duration::from_secs(30);

/// One named check: a script run in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    name: String,
    script: String,
    cwd: Option<String>,
    env: BTreeMap<String, String>,
    timeout: Option<Duration>,
    output_budget: Option<usize>,
    format: Format,
}

impl Check {
    /// A check called `name` running `script` with the sandbox's shell, from
    /// the workspace root, with the verifier's default limits.
    pub fn new(name: impl Into<String>, script: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            script: script.into(),
            cwd: None,
            env: BTreeMap::new(),
            timeout: None,
            output_budget: None,
            format: Format::Auto,
        }
    }

    /// How a failure's output is read (default [`Format::Auto`]: guessed;
    /// [`Format::Text`]: always the text windows of [`relevant_output`]).
    pub fn diagnostics(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Runs the script in `dir` (relative to the workspace root).
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable for the script.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// This check's time limit (overrides the verifier's default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Bytes of output this check may report (overrides the verifier's default).
    pub fn output_budget(mut self, bytes: usize) -> Self {
        self.output_budget = Some(bytes);
        self
    }

    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The script it runs.
    pub fn script(&self) -> &str {
        &self.script
    }
}

/// Runs configured checks in the sandbox. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandVerifier {
    checks: Vec<Check>,
    timeout: Duration,
    output_budget: usize,
    capture_limit: usize,
}

impl Default for CommandVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandVerifier {
    /// Default time limit of a check: 15 minutes.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
    /// Default bytes of output reported per check: 8 KiB.
    pub const DEFAULT_OUTPUT_BUDGET: usize = 8 * 1024;
    /// Default bytes captured per stream before extraction: 512 KiB (the
    /// sandbox keeps the head and tail of anything longer).
    pub const DEFAULT_CAPTURE_LIMIT: usize = 512 * 1024;

    /// A verifier without checks (it passes trivially until checks are added).
    pub fn new() -> Self {
        Self {
            checks: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            output_budget: Self::DEFAULT_OUTPUT_BUDGET,
            capture_limit: Self::DEFAULT_CAPTURE_LIMIT,
        }
    }

    /// Adds a check called `name` running `script` with the default limits.
    pub fn check(self, name: impl Into<String>, script: impl Into<String>) -> Self {
        self.with_check(Check::new(name, script))
    }

    /// Adds a configured check.
    pub fn with_check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// The time limit of checks that set none (default
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The output budget of checks that set none (default
    /// [`DEFAULT_OUTPUT_BUDGET`](Self::DEFAULT_OUTPUT_BUDGET)).
    pub fn output_budget(mut self, bytes: usize) -> Self {
        self.output_budget = bytes;
        self
    }

    /// Bytes captured per stream from the sandbox before extraction (default
    /// [`DEFAULT_CAPTURE_LIMIT`](Self::DEFAULT_CAPTURE_LIMIT)).
    pub fn capture_limit(mut self, bytes: usize) -> Self {
        self.capture_limit = bytes;
        self
    }

    /// The configured checks, in the order they run.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// Runs one check.
    async fn run(&self, sandbox: &dyn Sandbox, check: &Check) -> Result<CheckResult, VerifyError> {
        let limit = check.timeout.unwrap_or(self.timeout);
        let budget = check.output_budget.unwrap_or(self.output_budget);
        let mut request = ExecRequest::script(check.script.clone())
            .timeout(limit)
            .output_limit(self.capture_limit);
        if let Some(dir) = &check.cwd {
            request = request.cwd(dir.clone());
        }
        for (key, value) in &check.env {
            request = request.env(key.clone(), value.clone());
        }
        let span = tracing::info_span!("verify.check", check = %check.name);
        let exec = sandbox.exec(request).instrument(span);
        let result = tokio::time::timeout(limit + SANDBOX_GRACE, exec).await;
        let out = match result {
            Ok(out) => out?,
            Err(_) => {
                return Ok(CheckResult {
                    name: check.name.clone(),
                    command: check.script.clone(),
                    passed: false,
                    status: format!(
                        "timed out after {:.1}s (the sandbox did not stop it)",
                        (limit + SANDBOX_GRACE).as_secs_f64()
                    ),
                    output: format!(
                        "The check did not finish within its {} limit and the sandbox did not \
                         report back; no output is available.",
                        human(limit)
                    ),
                    duration: limit + SANDBOX_GRACE,
                });
            }
        };
        let passed = out.success();
        let status = out.status_line();
        let combined = combined_output(&out);
        let output = if passed {
            extract::tail(&combined, PASSED_OUTPUT.min(budget))
        } else if out.timed_out {
            let note = format!(
                "The check was stopped after its {} time limit. Output before it was stopped:\n",
                human(limit)
            );
            let rest = budget.saturating_sub(note.len());
            format!("{note}{}", relevant_output(&combined, rest))
        } else if let Some(found) = diagnostics::parse(check.format, &combined) {
            let list = diagnostics::render(&found, budget * 3 / 4);
            let rest = budget.saturating_sub(list.len() + 40).min(1024);
            format!(
                "{list}--- end of output ---\n{}",
                extract::tail(&combined, rest)
            )
        } else {
            relevant_output(&combined, budget)
        };
        tracing::info!(
            check = %check.name,
            passed,
            status = %status,
            duration_ms = out.duration.as_millis() as u64,
            "check finished"
        );
        Ok(CheckResult {
            name: check.name.clone(),
            command: check.script.clone(),
            passed,
            status,
            output,
            duration: out.duration,
        })
    }
}

#[async_trait]
impl Verifier for CommandVerifier {
    async fn verify(&self, sandbox: &dyn Sandbox) -> Result<Verification, VerifyError> {
        if self.checks.is_empty() {
            tracing::warn!("the verifier has no checks configured; nothing was verified");
        }
        let mut results = Vec::with_capacity(self.checks.len());
        for check in &self.checks {
            results.push(self.run(sandbox, check).await?);
        }
        Ok(Verification::from_checks(results))
    }
}

/// Stdout, then stderr under a separator when both have something.
pub(crate) fn combined_output(out: &ExecOutput) -> String {
    let stdout = out.stdout.text.trim_end();
    let stderr = out.stderr.text.trim_end();
    match (stdout.is_empty(), stderr.is_empty()) {
        (_, true) => stdout.to_string(),
        (true, false) => stderr.to_string(),
        (false, false) => format!("{stdout}\n--- stderr ---\n{stderr}"),
    }
}

/// `15 min`, `90s`, `1.5s`.
fn human(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if duration.as_secs() >= 60 && duration.as_secs().is_multiple_of(60) {
        format!("{} min", duration.as_secs() / 60)
    } else if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{secs:.1}s")
    }
}

#[cfg(test)]
mod tests;
