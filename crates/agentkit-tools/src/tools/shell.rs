//! `shell`: runs a bash script in the sandbox and shows how it ended.

use std::time::Duration;

use agentkit_core::sandbox::{CapturedOutput, ExecOutput, ExecRequest};
use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

/// Timeout when `timeout_secs` is not given.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// The longest timeout allowed.
pub const MAX_TIMEOUT_SECS: u64 = 1800;

/// Arguments of the `shell` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellArgs {
    /// The command to run, as a bash script (pipes, `&&` and redirections work). It runs
    /// non-interactively: nothing can be typed into it, so pass flags such as `-y`.
    pub command: String,
    /// Seconds before the command and everything it started are killed (default 120, at most 1800).
    #[schemars(range(min = 1))]
    pub timeout_secs: Option<u64>,
    /// Directory to run in, relative to the repository root. Defaults to the repository root.
    pub cwd: Option<String>,
}

/// Runs a shell command in the sandbox.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shell;

#[async_trait]
impl Tool for Shell {
    type Args = ShellArgs;

    fn name(&self) -> &str {
        "shell"
    }

    fn description(&self) -> &str {
        "Run a bash command in the repository's sandbox, e.g. to build, run tests, or use git \
         and other command-line tools. Shows the exit code, then stdout and stderr (long \
         output keeps its start and end). A non-zero exit code is reported, not an error. \
         Each call starts a fresh shell in the repository root (or cwd): `cd` and exported \
         variables do not carry over to the next call. Prefer read_file, grep and list_files \
         for reading and searching."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::destructive()
    }

    async fn call(&self, args: ShellArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        if args.command.trim().is_empty() {
            return Err(ToolError::InvalidArguments {
                message: "at `command`: the command is empty".into(),
            });
        }
        let secs = match args.timeout_secs {
            Some(0) => {
                return Err(ToolError::InvalidArguments {
                    message: "at `timeout_secs`: must be at least 1".into(),
                });
            }
            Some(s) if s > MAX_TIMEOUT_SECS => {
                return Err(ToolError::InvalidArguments {
                    message: format!(
                        "at `timeout_secs`: {s} is more than the maximum of {MAX_TIMEOUT_SECS}; \
                         split the work or run it in the background and poll"
                    ),
                });
            }
            Some(s) => s,
            None => DEFAULT_TIMEOUT_SECS,
        };
        let mut request = ExecRequest::script(args.command).timeout(Duration::from_secs(secs));
        if let Some(cwd) = args.cwd {
            request = request.cwd(cwd);
        }
        let out = tokio::select! {
            out = cx.sandbox.exec(request) => out?,
            () = cx.cancel.cancelled() => {
                return Err(ToolError::failed("the command was cancelled because the run is stopping"));
            }
        };
        Ok(ToolOutput::text(render(&out, secs)))
    }
}

/// The model-facing report of a finished command.
pub(crate) fn render(out: &ExecOutput, timeout_secs: u64) -> String {
    let mut text = if out.timed_out {
        format!(
            "Timed out after {timeout_secs}s; the command and its child processes were killed. \
             Raise timeout_secs (at most {MAX_TIMEOUT_SECS}) or make the command faster \
             (e.g. run fewer tests).\n"
        )
    } else if let Some(code) = out.exit_code {
        format!("Exit code: {code}\n")
    } else if let Some(signal) = out.signal {
        format!("Killed by signal {signal}\n")
    } else {
        "Ended without an exit status\n".to_string()
    };
    section(&mut text, "stdout", &out.stdout);
    section(&mut text, "stderr", &out.stderr);
    if out.stdout.text.is_empty() && out.stderr.text.is_empty() {
        text.push_str("(no output)\n");
    }
    text
}

fn section(text: &mut String, name: &str, captured: &CapturedOutput) {
    if captured.text.is_empty() {
        return;
    }
    if captured.truncated {
        text.push_str(&format!(
            "--- {name} (truncated: {} bytes in all; the start and end are kept) ---\n",
            captured.total_bytes
        ));
    } else {
        text.push_str(&format!("--- {name} ---\n"));
    }
    text.push_str(&captured.text);
    if !captured.text.ends_with('\n') {
        text.push('\n');
    }
}
