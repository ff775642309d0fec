//! Taking the agent's work out of the sandbox as commits.
//!
//! Runs git *inside* the sandbox (argv only, hooks disabled): commits any
//! uncommitted changes, then writes a bundle of `base..HEAD` into `.git/`,
//! reads it out through the sandbox's file API and removes it. The host never
//! runs git in the sandbox's directory and the sandbox never sees a forge
//! credential.

use std::time::Duration;

use crate::forge::ChangeSet;
use crate::sandbox::{ExecOutput, ExecRequest, Sandbox, SandboxError};

const BUNDLE_PATH: &str = ".git/agentkit-handover.bundle";

/// The identity used for commits the agent makes.
pub const AGENT_NAME: &str = "agentkit";
/// The e-mail used for commits the agent makes.
pub const AGENT_EMAIL: &str = "agentkit@localhost";

/// Changes larger than this many files are refused (usually build output
/// that the repository does not ignore).
pub const MAX_CHANGED_FILES: usize = 2_000;
/// Bundles larger than this are refused.
pub const MAX_BUNDLE_BYTES: usize = 100 * 1024 * 1024;

/// A handover failure.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// The sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A git command failed.
    #[error("`git {command}` failed in the sandbox ({status}): {stderr}")]
    Git {
        /// The git subcommand.
        command: String,
        /// How it ended.
        status: String,
        /// What it printed.
        stderr: String,
    },
    /// The change is too large to be a reviewable pull request.
    #[error(
        "the change is too large to publish: {what}; if build output or dependencies are not ignored, add them to .gitignore"
    )]
    TooLarge {
        /// What exceeded the limit.
        what: String,
    },
}

pub(crate) async fn git(
    sandbox: &dyn Sandbox,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<ExecOutput, HandoverError> {
    let mut argv = vec![
        "git",
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "core.pager=cat",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "diff.external=",
    ];
    argv.extend_from_slice(args);
    let mut request = ExecRequest::argv(argv)
        .timeout(Duration::from_secs(120))
        .output_limit(1 << 20)
        .env("GIT_AUTHOR_NAME", AGENT_NAME)
        .env("GIT_AUTHOR_EMAIL", AGENT_EMAIL)
        .env("GIT_COMMITTER_NAME", AGENT_NAME)
        .env("GIT_COMMITTER_EMAIL", AGENT_EMAIL)
        .env("GIT_TERMINAL_PROMPT", "0");
    if let Some(input) = stdin {
        request = request.stdin(input.as_bytes().to_vec());
    }
    let out = sandbox.exec(request).await?;
    if !out.success() {
        return Err(HandoverError::Git {
            command: args.first().copied().unwrap_or_default().to_string(),
            status: out.status_line(),
            stderr: out.stderr.text.trim().to_string(),
        });
    }
    Ok(out)
}

/// The current commit and branch of the sandbox's repository.
pub async fn current_base(sandbox: &dyn Sandbox) -> Result<(String, String), HandoverError> {
    let commit = git(sandbox, &["rev-parse", "HEAD"], None).await?;
    let branch = git(sandbox, &["rev-parse", "--abbrev-ref", "HEAD"], None).await?;
    Ok((
        commit.stdout.text.trim().to_string(),
        branch.stdout.text.trim().to_string(),
    ))
}

/// Commits uncommitted work with `message` and bundles `base..HEAD`.
/// Returns `None` when there is nothing new since `base`.
pub async fn export_changes(
    sandbox: &dyn Sandbox,
    base_commit: &str,
    message: &str,
) -> Result<Option<ChangeSet>, HandoverError> {
    git(sandbox, &["add", "-A"], None).await?;
    let staged = git(sandbox, &["diff", "--cached", "--name-only", "-z"], None).await?;
    let staged_files = staged
        .stdout
        .text
        .split('\0')
        .filter(|p| !p.is_empty())
        .count();
    if staged_files > MAX_CHANGED_FILES || staged.stdout.truncated {
        git(sandbox, &["reset", "-q"], None).await?;
        return Err(HandoverError::TooLarge {
            what: format!(
                "{staged_files} or more changed files (the limit is {MAX_CHANGED_FILES})"
            ),
        });
    }
    if staged_files > 0 {
        git(
            sandbox,
            &["commit", "-q", "--no-verify", "-F", "-"],
            Some(message),
        )
        .await?;
    }
    let head = git(sandbox, &["rev-parse", "HEAD"], None).await?;
    let head = head.stdout.text.trim().to_string();
    if head == base_commit {
        return Ok(None);
    }
    let range = format!("{base_commit}..HEAD");
    let stat = git(
        sandbox,
        &["diff", "--no-ext-diff", "--stat", base_commit, "HEAD"],
        None,
    )
    .await?;
    git(
        sandbox,
        &["bundle", "create", "-q", BUNDLE_PATH, &range],
        None,
    )
    .await?;
    let size = sandbox.stat(BUNDLE_PATH).await?.size;
    if size > MAX_BUNDLE_BYTES as u64 {
        sandbox.remove(BUNDLE_PATH).await?;
        return Err(HandoverError::TooLarge {
            what: format!("a {size}-byte git bundle (the limit is {MAX_BUNDLE_BYTES} bytes)"),
        });
    }
    let bundle = sandbox.read(BUNDLE_PATH).await?;
    sandbox.remove(BUNDLE_PATH).await?;
    Ok(Some(ChangeSet {
        bundle,
        base_commit: base_commit.to_string(),
        head_commit: head,
        diff_stat: stat.stdout.text.trim_end().to_string(),
    }))
}
