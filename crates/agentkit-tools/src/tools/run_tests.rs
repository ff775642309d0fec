//! `run_tests`: runs a test (or build, type-check, lint) command and reports
//! the failures as a compact list — test, `file:line`, message — read out of
//! the tool's own output by [`crate::verify::diagnostics`].

use std::time::Duration;

use agentkit_core::sandbox::ExecRequest;
use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::shell::{DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS};
use crate::verify::diagnostics::{Format, parse, render};
use crate::verify::{combined_output, relevant_output, tail};

/// Bytes of report the model reads at most.
const REPORT_BUDGET: usize = 6 * 1024;

/// Arguments of the `run_tests` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunTestsArgs {
    /// The test command, as a bash script, e.g. `python3 -m pytest -rA tests/test_calc.py`,
    /// `cargo test --message-format=json`, `go test -json ./...`, `npx tsc --pretty false`,
    /// `npx eslint -f json src`. Those output forms give the most precise report.
    pub command: String,
    /// Which tool's output to read (`auto` by default: guessed from the output).
    pub format: Option<Format>,
    /// Seconds before the command is killed (default 120, at most 1800).
    #[schemars(range(min = 1))]
    pub timeout_secs: Option<u64>,
    /// Directory to run in, relative to the repository root.
    pub cwd: Option<String>,
}

/// Runs tests and reports failures compactly.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunTests;

#[async_trait]
impl Tool for RunTests {
    type Args = RunTestsArgs;

    fn name(&self) -> &str {
        "run_tests"
    }

    fn description(&self) -> &str {
        "Run the project's tests (or a build, type check or linter) and get the failures as a \
         short list: the failing test, file:line and the message. Understands cargo (best with \
         --message-format=json), pytest (best with -rA), go test -json, tsc --pretty false and \
         eslint -f json; other output is shortened to the parts around errors."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::destructive()
    }

    async fn call(&self, args: RunTestsArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        if args.command.trim().is_empty() {
            return Err(ToolError::InvalidArguments {
                message: "at `command`: the command is empty".into(),
            });
        }
        let secs = args.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if secs == 0 || secs > MAX_TIMEOUT_SECS {
            return Err(ToolError::InvalidArguments {
                message: format!("at `timeout_secs`: must be between 1 and {MAX_TIMEOUT_SECS}"),
            });
        }
        let mut request = ExecRequest::script(args.command)
            .timeout(Duration::from_secs(secs))
            .output_limit(512 * 1024);
        if let Some(cwd) = args.cwd {
            request = request.cwd(cwd);
        }
        let out = tokio::select! {
            out = cx.sandbox.exec(request) => out?,
            () = cx.cancel.cancelled() => {
                return Err(ToolError::failed("the tests were cancelled because the run is stopping"));
            }
        };
        let combined = combined_output(&out);
        let mut text = if out.timed_out {
            format!("Timed out after {secs}s. Output before that:\n")
        } else {
            format!("{}\n", out.status_line())
        };
        if out.success() {
            text.push_str("Passed.\n");
            text.push_str(&tail(&combined, 1024));
        } else if let Some(found) = parse(args.format.unwrap_or_default(), &combined) {
            text.push_str(&render(&found, REPORT_BUDGET * 3 / 4));
            text.push_str("--- end of output ---\n");
            text.push_str(&tail(&combined, REPORT_BUDGET / 4));
        } else {
            text.push_str(&relevant_output(&combined, REPORT_BUDGET));
        }
        Ok(ToolOutput::text(text))
    }
}
