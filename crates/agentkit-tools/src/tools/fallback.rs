//! Running search commands inside the sandbox, for backends whose workspace
//! is not a host directory (`Sandbox::host_workspace` is `None`).
//!
//! Commands are argv, never shell strings built from model input; paths are
//! checked to stay inside the workspace first and passed after `--`.

use std::path::Path;

use agentkit_core::sandbox::{ExecOutput, ExecRequest, Sandbox, SandboxError, join_relative};
use agentkit_core::tool::ToolError;

use super::walk::slash_path;

/// Output cap for search commands; the tools cap their own output further.
pub(crate) const SEARCH_OUTPUT_LIMIT: usize = 8 * 1024 * 1024;

/// `path` normalized (`/`-separated, no `.` or `..`), or the error when it leaves the workspace.
/// The workspace root is `.`.
pub(crate) fn workspace_path(path: &str) -> Result<String, ToolError> {
    let joined = join_relative(Path::new("/"), path)?;
    let rel = slash_path(&joined);
    Ok(if rel.is_empty() { ".".to_string() } else { rel })
}

/// Whether `program` runs in the sandbox (`program --version` exits 0).
pub(crate) async fn has_program(sandbox: &dyn Sandbox, program: &str) -> Result<bool, ToolError> {
    match sandbox
        .exec(ExecRequest::argv([program, "--version"]).output_limit(4096))
        .await
    {
        Ok(out) => Ok(out.success()),
        Err(SandboxError::Spawn { .. }) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Runs a search command; exit 0 and 1 (nothing found) are results, anything else an error.
pub(crate) async fn run_search(
    sandbox: &dyn Sandbox,
    argv: Vec<String>,
) -> Result<ExecOutput, ToolError> {
    let program = argv.first().cloned().unwrap_or_default();
    let out = sandbox
        .exec(ExecRequest::argv(argv).output_limit(SEARCH_OUTPUT_LIMIT))
        .await?;
    match out.exit_code {
        Some(0) | Some(1) if !out.timed_out => Ok(out),
        _ => Err(ToolError::failed(format!(
            "`{program}` failed in the sandbox ({}): {}",
            out.status_line(),
            out.stderr.text.trim()
        ))),
    }
}

/// A path printed by a search command, without a leading `./`.
pub(crate) fn clean_output_path(line: &str) -> &str {
    line.strip_prefix("./").unwrap_or(line)
}

/// The part of `from_root` below `target` (`.` is the root).
pub(crate) fn below_target<'a>(from_root: &'a str, target: &str) -> &'a str {
    if target == "." {
        return from_root;
    }
    from_root
        .strip_prefix(target)
        .map(|rest| rest.trim_start_matches('/'))
        .unwrap_or(from_root)
}
