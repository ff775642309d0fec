//! `git_diff`: the changes in the working tree (or index), untracked files included.
//!
//! Read-only: untracked files are shown with `git diff --no-index /dev/null
//! <file>` rather than `git add -N`, which would change the index. Git runs
//! with hooks disabled, no pager, no colour and no external diff driver.

use agentkit_core::sandbox::{ExecOutput, ExecRequest};
use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::fallback::workspace_path;
use super::text::prefix_at_boundary;

/// The most bytes of diff shown.
pub const MAX_DIFF_BYTES: usize = 100 * 1024;
/// The most untracked files shown in full.
pub const MAX_UNTRACKED_SHOWN: usize = 20;

/// Arguments of the `git_diff` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitDiffArgs {
    /// Show the staged changes (index against HEAD) instead of the unstaged ones (working
    /// tree against the index, plus untracked files). Default false.
    #[serde(default)]
    pub staged: bool,
    /// Only show changes to this file or directory, relative to the repository root.
    pub path: Option<String>,
}

/// Shows the uncommitted changes as a unified diff.
#[derive(Debug, Clone, Copy, Default)]
pub struct GitDiff;

#[async_trait]
impl Tool for GitDiff {
    type Args = GitDiffArgs;

    fn name(&self) -> &str {
        "git_diff"
    }

    fn description(&self) -> &str {
        "Show your uncommitted changes as a unified diff, after a --stat summary: by default \
         the working tree against the index, with untracked (new) files shown as additions; \
         with staged=true, the index against HEAD. Use it to review your work before finishing."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }

    async fn call(&self, args: GitDiffArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let scope = args.path.as_deref().map(workspace_path).transpose()?;
        let mut diff = vec!["diff", "--no-ext-diff", "--no-color"];
        if args.staged {
            diff.push("--cached");
        }
        let with_scope = |argv: Vec<&str>| -> Vec<String> {
            let mut argv: Vec<String> = argv.into_iter().map(String::from).collect();
            argv.push("--".into());
            argv.extend(scope.clone());
            argv
        };
        let probe = run_git(cx, vec!["rev-parse".into(), "--is-inside-work-tree".into()]).await?;
        if !probe.success() {
            let reason = probe
                .stderr
                .text
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            return Err(ToolError::failed(format!(
                "git_diff needs a git repository, and the workspace is not one ({reason}). \
                 Review your changes with read_file instead."
            )));
        }
        let stat = git(cx, with_scope([diff.clone(), vec!["--stat"]].concat())).await?;
        let patch = git(cx, with_scope(diff.clone())).await?;
        let untracked = if args.staged {
            Vec::new()
        } else {
            let listed = git(
                cx,
                with_scope(vec!["ls-files", "--others", "--exclude-standard", "-z"]),
            )
            .await?;
            listed
                .stdout
                .text
                .split('\0')
                .filter(|f| !f.is_empty())
                .map(String::from)
                .collect()
        };

        let mut out = String::new();
        let what = if args.staged { "staged" } else { "unstaged" };
        if patch.stdout.text.trim().is_empty() && untracked.is_empty() {
            out.push_str(&format!("No {what} changes"));
            if let Some(scope) = &scope {
                out.push_str(&format!(" in `{scope}`"));
            }
            out.push_str(".\n");
            if !args.staged {
                out.push_str("(Pass staged=true to see changes already staged with git add.)\n");
            }
            return Ok(ToolOutput::text(out));
        }
        out.push_str(&stat.stdout.text);
        if !untracked.is_empty() {
            let names: Vec<&str> = untracked.iter().take(50).map(String::as_str).collect();
            let more = untracked.len() - names.len();
            out.push_str(&format!(
                "Untracked files ({}): {}{}\n",
                untracked.len(),
                names.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        out.push('\n');
        out.push_str(&patch.stdout.text);
        for file in untracked.iter().take(MAX_UNTRACKED_SHOWN) {
            let argv = [
                "diff",
                "--no-index",
                "--no-ext-diff",
                "--no-color",
                "--",
                "/dev/null",
            ];
            let mut argv: Vec<String> = argv.map(String::from).to_vec();
            argv.push(file.clone());
            let new_file = run_git(cx, argv).await?;
            out.push_str(&new_file.stdout.text);
        }
        if untracked.len() > MAX_UNTRACKED_SHOWN {
            out.push_str(&format!(
                "[{} more untracked files not shown; read them with read_file.]\n",
                untracked.len() - MAX_UNTRACKED_SHOWN
            ));
        }
        Ok(ToolOutput::text(cap(out)))
    }
}

/// Runs `git <args>` and insists on exit 0.
async fn git(cx: &ToolContext, args: Vec<String>) -> Result<ExecOutput, ToolError> {
    let out = run_git(cx, args.clone()).await?;
    if out.success() {
        return Ok(out);
    }
    Err(ToolError::failed(format!(
        "`git {}` failed ({}): {}",
        args.join(" "),
        out.status_line(),
        out.stderr.text.trim()
    )))
}

/// Runs `git <args>` (hooks off, no pager) and returns whatever it did.
async fn run_git(cx: &ToolContext, args: Vec<String>) -> Result<ExecOutput, ToolError> {
    let mut argv: Vec<String> = ["git", "--no-pager", "-c", "core.hooksPath=/dev/null"]
        .map(String::from)
        .to_vec();
    argv.extend(args);
    let request = ExecRequest::argv(argv)
        .env("GIT_PAGER", "cat")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output_limit(4 * MAX_DIFF_BYTES);
    Ok(cx.sandbox.exec(request).await?)
}

fn cap(out: String) -> String {
    if out.len() <= MAX_DIFF_BYTES {
        return out;
    }
    let mut kept = prefix_at_boundary(&out, MAX_DIFF_BYTES).to_string();
    if !kept.ends_with('\n') {
        kept.push('\n');
    }
    kept.push_str(&format!(
        "[Diff truncated: {MAX_DIFF_BYTES} of {} bytes shown. Pass path to see one file or \
         directory at a time.]\n",
        out.len()
    ));
    kept
}
