//! Capturing the workspace's changes for a checkpoint, and putting them back
//! into a fresh sandbox.
//!
//! A worker resumes a run in a *new* sandbox, which is a fresh clone. So a
//! checkpoint that a run is resumed from also carries what the agent changed
//! so far: a binary `git diff` from the run's base commit to the working tree,
//! taken *inside* the sandbox through its exec and file API.
//!
//! [`capture`] runs one `sh` command in the sandbox (a fixed script; nothing
//! from the model is interpolated, the base commit is an argument): it stages
//! the whole working tree into a *temporary* index (a copy of the real one, so
//! unchanged files are not hashed again and the agent's own index is left
//! alone), writes that tree, and diffs the base commit against it into a file
//! under `.git/`, which is read out through the file API (binary-safe) and
//! removed. [`restore`] writes the diff into the new sandbox, moves the clone
//! to the base commit if it is elsewhere, and applies it with `git apply`.
//!
//! What comes back, and what does not:
//! - **Restored**: the content of every tracked file and of every untracked
//!   file that is not ignored (added, changed, deleted, renamed; binary files;
//!   the executable bit; symlinks).
//! - **Not restored**: ignored files (build output, `node_modules`, virtual
//!   environments: a setup script rebuilds them), empty directories, the
//!   agent's own commits *as commits* (their changes come back uncommitted,
//!   squashed into one diff from the base), the index, stashes, other branches,
//!   submodule contents, processes the agent started, and anything outside the
//!   workspace.

use std::time::Duration;

use crate::sandbox::{ExecRequest, Sandbox};

/// The diff's file inside the sandbox while it is captured or applied.
const PATCH_PATH: &str = ".git/agentkit-checkpoint.patch";

/// Diffs larger than this are not checkpointed (the run then cannot resume in
/// a fresh sandbox, and starts over instead).
pub const MAX_PATCH_BYTES: u64 = 32 * 1024 * 1024;

/// Runs git with hooks, external diff drivers, fsmonitor and pagers off.
const GIT_FN: &str = "g() { git -c core.hooksPath=/dev/null -c core.fsmonitor=false \
    -c diff.external= -c core.pager=cat -c color.ui=false \"$@\"; }";

const CAPTURE_SCRIPT: &str = r#"set -e
idx="$(pwd)/.git/agentkit-checkpoint.index"
rm -f "$idx" .git/agentkit-checkpoint.patch
if [ -f .git/index ]; then cp .git/index "$idx"; fi
GIT_INDEX_FILE="$idx" g add -A
tree=$(GIT_INDEX_FILE="$idx" g write-tree)
rm -f "$idx"
g diff --binary --full-index --no-renames --no-ext-diff --no-textconv --output=.git/agentkit-checkpoint.patch "$1" "$tree""#;

const RESTORE_SCRIPT: &str = r#"set -e
g cat-file -e "$1^{commit}"
if [ "$(g rev-parse HEAD)" != "$1" ]; then g reset -q --hard "$1"; fi
if [ -s .git/agentkit-checkpoint.patch ]; then g apply --binary --whitespace=nowarn .git/agentkit-checkpoint.patch; fi
rm -f .git/agentkit-checkpoint.patch"#;

/// Why the workspace could not be captured or restored.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WorkspaceError(String);

async fn run(sandbox: &dyn Sandbox, script: &str, base_commit: &str) -> Result<(), WorkspaceError> {
    let request = ExecRequest::argv([
        "sh".to_string(),
        "-c".to_string(),
        format!("{GIT_FN}\n{script}"),
        "agentkit-checkpoint".to_string(),
        base_commit.to_string(),
    ])
    .timeout(Duration::from_secs(120))
    .output_limit(16 * 1024)
    .env("GIT_TERMINAL_PROMPT", "0");
    let out = sandbox
        .exec(request)
        .await
        .map_err(|e| WorkspaceError(format!("the sandbox could not run git: {e}")))?;
    if !out.success() {
        return Err(WorkspaceError(format!(
            "git in the sandbox failed ({}): {}",
            out.status_line(),
            out.stderr.text.trim()
        )));
    }
    Ok(())
}

/// The workspace's changes since `base_commit`, as a binary diff (empty when
/// there are none).
pub async fn capture(sandbox: &dyn Sandbox, base_commit: &str) -> Result<Vec<u8>, WorkspaceError> {
    run(sandbox, CAPTURE_SCRIPT, base_commit).await?;
    let size = sandbox
        .stat(PATCH_PATH)
        .await
        .map_err(|e| WorkspaceError(format!("the captured diff is missing: {e}")))?
        .size;
    let patch = if size > MAX_PATCH_BYTES {
        Err(WorkspaceError(format!(
            "the workspace's changes are a {size}-byte diff, over the {MAX_PATCH_BYTES}-byte \
             checkpoint limit (is build output not ignored?)"
        )))
    } else {
        sandbox
            .read(PATCH_PATH)
            .await
            .map_err(|e| WorkspaceError(format!("reading the captured diff: {e}")))
    };
    if let Err(err) = sandbox.remove(PATCH_PATH).await {
        tracing::debug!(error = %err, "could not remove the checkpoint diff from the sandbox");
    }
    patch
}

/// Puts `patch` (from [`capture`]) back into a fresh sandbox whose repository
/// has `base_commit`.
pub async fn restore(
    sandbox: &dyn Sandbox,
    base_commit: &str,
    patch: &[u8],
) -> Result<(), WorkspaceError> {
    sandbox
        .write(PATCH_PATH, patch)
        .await
        .map_err(|e| WorkspaceError(format!("writing the diff into the sandbox: {e}")))?;
    run(sandbox, RESTORE_SCRIPT, base_commit).await
}
