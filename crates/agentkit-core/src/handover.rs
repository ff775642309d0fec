//! Taking the agent's work out of the sandbox as commits.
//!
//! Runs git *inside* the sandbox (argv only, hooks disabled): commits any
//! uncommitted changes (leaving out build output, binaries and oversized new
//! files: [`export_changes_with`]), then writes a bundle of `base..HEAD` into `.git/`,
//! reads it out through the sandbox's file API and removes it. The host never
//! runs git in the sandbox's directory and the sandbox never sees a forge
//! credential.

use std::time::Duration;

use crate::forge::{ChangeSet, LeftOut};
use crate::policy::contract::LeaveOut;
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
/// One `git` process answers both (the commit, then the branch name, or
/// `HEAD` when detached).
pub async fn current_base(sandbox: &dyn Sandbox) -> Result<(String, String), HandoverError> {
    let out = git(
        sandbox,
        &["rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
        None,
    )
    .await?;
    let mut lines = out.stdout.text.lines().map(str::trim);
    match (lines.next(), lines.next()) {
        (Some(commit), Some(branch)) if !commit.is_empty() && !branch.is_empty() => {
            Ok((commit.to_string(), branch.to_string()))
        }
        _ => Err(HandoverError::Git {
            command: "rev-parse".into(),
            status: out.status_line(),
            stderr: format!(
                "expected the commit and the branch on two lines, got {:?}",
                out.stdout.text
            ),
        }),
    }
}

/// Commits uncommitted work with `message` and bundles `base..HEAD`, leaving
/// out what [`LeaveOut::default`] names (see [`export_changes_with`]).
/// Returns `None` when there is nothing new since `base`.
pub async fn export_changes(
    sandbox: &dyn Sandbox,
    base_commit: &str,
    message: &str,
) -> Result<Option<ChangeSet>, HandoverError> {
    export_changes_with(sandbox, base_commit, message, &LeaveOut::default()).await
}

/// Commits uncommitted work with `message` and bundles `base..HEAD`.
/// Returns `None` when there is nothing new since `base`.
///
/// What never belongs in a pull request stays out of the commit:
/// 1. paths matching `leave_out.generated` are not staged (`git add -A` with
///    `:(exclude,glob)` pathspecs), so `__pycache__/`, `node_modules/`,
///    `target/` … are never committed, ignored by the repository or not;
/// 2. files the change *adds* since `base` that are generated, binary (unless
///    allowed) or over the size limit are removed from the index, also when
///    the agent committed them itself: then its commits are squashed into
///    one (`git reset --soft base`), so no commit of the range carries them.
///
/// They stay in the sandbox's work tree, untracked, and are listed in
/// [`ChangeSet::left_out`].
pub async fn export_changes_with(
    sandbox: &dyn Sandbox,
    base_commit: &str,
    message: &str,
    leave_out: &LeaveOut,
) -> Result<Option<ChangeSet>, HandoverError> {
    let excludes: Vec<String> = leave_out
        .generated
        .patterns()
        .iter()
        .map(|glob| format!(":(exclude,glob){glob}"))
        .collect();
    let mut add = vec!["add", "-A", "--", "."];
    add.extend(excludes.iter().map(String::as_str));
    git(sandbox, &add, None).await?;
    let mut left_out = new_files_left_out(sandbox, base_commit, leave_out).await?;
    if !left_out.is_empty() {
        let committed = git(
            sandbox,
            &[
                "diff",
                "--name-only",
                "-z",
                "--no-renames",
                base_commit,
                "HEAD",
            ],
            None,
        )
        .await?;
        let committed: Vec<&str> = committed.stdout.text.split('\0').collect();
        if left_out
            .iter()
            .any(|l| committed.contains(&l.path.as_str()))
        {
            git(sandbox, &["reset", "-q", "--soft", base_commit], None).await?;
        }
        let mut paths = String::new();
        for file in &left_out {
            paths.push_str(&file.path);
            paths.push('\0');
        }
        git(
            sandbox,
            &["update-index", "--force-remove", "-z", "--stdin"],
            Some(&paths),
        )
        .await?;
    }
    for file in untracked_generated(sandbox, leave_out).await? {
        if !left_out.iter().any(|l| l.path == file.path) {
            left_out.push(file);
        }
    }
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
        left_out,
    }))
}

/// Untracked files the repository does not ignore but `leave_out` kept from
/// being staged (listed for the pull request: at most
/// [`LISTED_UNTRACKED`], the last entry counting the rest).
async fn untracked_generated(
    sandbox: &dyn Sandbox,
    leave_out: &LeaveOut,
) -> Result<Vec<LeftOut>, HandoverError> {
    let globs: Vec<String> = leave_out
        .generated
        .patterns()
        .iter()
        .map(|glob| format!(":(glob){glob}"))
        .collect();
    if globs.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["ls-files", "--others", "--exclude-standard", "-z", "--"];
    args.extend(globs.iter().map(String::as_str));
    let out = git(sandbox, &args, None).await?;
    let paths: Vec<&str> = out
        .stdout
        .text
        .split('\0')
        .filter(|p| !p.is_empty())
        .collect();
    let mut listed: Vec<LeftOut> = paths
        .iter()
        .take(LISTED_UNTRACKED)
        .map(|path| LeftOut {
            path: path.to_string(),
            reason: leave_out
                .reason(path, false, 0)
                .unwrap_or_else(|| "generated or build output".into()),
        })
        .collect();
    if (paths.len() > LISTED_UNTRACKED || out.stdout.truncated)
        && let Some(last) = listed.last_mut()
    {
        let more = paths.len().saturating_sub(LISTED_UNTRACKED);
        let plus = if out.stdout.truncated { "+" } else { "" };
        last.reason
            .push_str(&format!("; and {more}{plus} more such files"));
    }
    Ok(listed)
}

/// Untracked generated files listed by name at most.
const LISTED_UNTRACKED: usize = 20;

/// Files the index adds since `base` that `leave_out` keeps out, with why.
async fn new_files_left_out(
    sandbox: &dyn Sandbox,
    base_commit: &str,
    leave_out: &LeaveOut,
) -> Result<Vec<LeftOut>, HandoverError> {
    let common = [
        "--cached",
        "-z",
        "--no-renames",
        "--diff-filter=A",
        base_commit,
    ];
    let mut raw_args = vec!["diff", "--raw", "--no-abbrev"];
    raw_args.extend(common);
    let raw = git(sandbox, &raw_args, None).await?;
    let mut numstat_args = vec!["diff", "--numstat"];
    numstat_args.extend(common);
    let numstat = git(sandbox, &numstat_args, None).await?;
    if raw.stdout.truncated || numstat.stdout.truncated {
        return Err(HandoverError::TooLarge {
            what: "more new files than can be listed".into(),
        });
    }
    // `:000000 100644 000… <blob> A` NUL `path` NUL …
    let mut added: Vec<(String, String)> = Vec::new();
    let mut fields = raw.stdout.text.split('\0');
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        if let Some(blob) = meta.split_whitespace().nth(3) {
            added.push((path.to_string(), blob.to_string()));
        }
    }
    if added.is_empty() {
        return Ok(Vec::new());
    }
    let binary: std::collections::HashSet<&str> = numstat
        .stdout
        .text
        .split('\0')
        .filter_map(|entry| entry.strip_prefix("-\t-\t"))
        .collect();
    let blobs: String = added.iter().map(|(_, blob)| format!("{blob}\n")).collect();
    let sizes = git(sandbox, &["cat-file", "--batch-check"], Some(&blobs)).await?;
    let sizes: std::collections::HashMap<&str, u64> = sizes
        .stdout
        .text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let blob = parts.next()?;
            let size = parts.nth(1)?.parse().ok()?;
            Some((blob, size))
        })
        .collect();
    Ok(added
        .iter()
        .filter_map(|(path, blob)| {
            let size = sizes.get(blob.as_str()).copied().unwrap_or(0);
            let reason = leave_out.reason(path, binary.contains(path.as_str()), size)?;
            Some(LeftOut {
                path: path.clone(),
                reason,
            })
        })
        .collect())
}
