//! Cloning the task's repository into a fresh workspace, host side.
//!
//! Git runs on the host by argv (never through a shell), with hooks disabled
//! (`core.hooksPath=/dev/null`), the `ext::` transport refused (it runs
//! arbitrary commands), and `GIT_TERMINAL_PROMPT=0` so a missing credential
//! fails instead of waiting for a password nobody will type. The host's own
//! git configuration (credential helpers, SSH setup) still applies.
//!
//! A revision is resolved in this order: as given (`main`, a tag, a commit
//! id), as a branch of `origin` (`origin/<rev>`), and finally by fetching it
//! from `origin` (a pull-request ref or an unadvertised commit, where the
//! server allows it). The workspace is left on a detached `HEAD` at that
//! commit.
//!
//! # The clone has no way back to its origin
//!
//! The agent's work leaves the sandbox only as a bundle the forge reads
//! (see `agentkit_core::handover`); nothing in the sandbox may write to the
//! repository it came from. So the clone is made with `--no-hardlinks`
//! (a local origin's object files are copied, never hard-linked into its
//! store); if the origin borrows objects through `objects/info/alternates`
//! (which a clone inherits), the clone is repacked to hold every object
//! itself and the alternates file is removed. Once the revision is checked
//! out the `origin` remote is removed,
//! with its remote-tracking refs and the branch settings naming it. A
//! command such as `git push origin HEAD:refs/heads/release` then has no
//! remote to push to, whatever the command policy lets through.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use agentkit_core::sandbox::SandboxError;

/// How long each git step of a clone may take, by default: ten minutes.
pub(crate) const DEFAULT_CLONE_TIMEOUT: Duration = Duration::from_secs(600);

/// Options that make host-side git safe to run on untrusted repositories.
const SAFE_CONFIG: [&str; 4] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "protocol.ext.allow=never",
];

/// How many bytes of git's stderr an error keeps.
const ERROR_TAIL: usize = 2000;

/// Clones `repo` into `dest` (which must not exist) and checks out `rev`.
pub(crate) async fn clone_repo(
    repo: &str,
    rev: Option<&str>,
    dest: &Path,
    limit: Duration,
) -> Result<(), SandboxError> {
    if repo.is_empty() {
        return Err(SandboxError::Setup {
            reason: "the spec names no repository; set `SandboxSpec::repo` to a path or URL".into(),
        });
    }
    // No template: its sample hooks never run here (hooks are disabled)
    // and copying them is a dozen writes per sandbox.
    let args: Vec<&OsStr> = ["clone", "--quiet", "--no-hardlinks", "--template=", "--"]
        .iter()
        .map(OsStr::new)
        .chain([OsStr::new(repo), dest.as_os_str()])
        .collect();
    let out = git(&args, None, limit).await?;
    if !out.status.success() {
        return Err(failed(&format!("`git clone` of `{repo}`"), &out));
    }
    if let Some(rev) = rev {
        check_rev(rev)?;
        let commit = resolve_rev(rev, dest, limit).await?;
        let out = git(
            &["checkout", "--quiet", "--detach", commit.as_str()].map(OsStr::new),
            Some(dest),
            limit,
        )
        .await?;
        if !out.status.success() {
            return Err(failed(
                &format!("`git checkout {commit}` (for `{rev}`)"),
                &out,
            ));
        }
    }
    own_every_object(dest, limit).await?;
    cut_off_origin(dest, limit).await
}

/// Makes the clone hold every object itself when it borrows some through
/// `objects/info/alternates` (inherited from an origin that uses them).
async fn own_every_object(dest: &Path, limit: Duration) -> Result<(), SandboxError> {
    let alternates = dest.join(".git/objects/info/alternates");
    if !alternates.exists() {
        return Ok(());
    }
    let out = git(
        &["repack", "-a", "-d", "-q"].map(OsStr::new),
        Some(dest),
        limit,
    )
    .await?;
    if !out.status.success() {
        return Err(failed("`git repack -a -d` of the new clone", &out));
    }
    std::fs::remove_file(&alternates).map_err(|source| SandboxError::Io {
        path: alternates.display().to_string(),
        source,
    })
}

/// Removes the `origin` remote (its URL, remote-tracking refs and the
/// branch settings naming it), so nothing run in the workspace can push
/// back to the repository it was cloned from.
async fn cut_off_origin(dest: &Path, limit: Duration) -> Result<(), SandboxError> {
    let out = git(
        &["remote", "remove", "origin"].map(OsStr::new),
        Some(dest),
        limit,
    )
    .await?;
    if !out.status.success() {
        return Err(failed("`git remote remove origin` in the new clone", &out));
    }
    Ok(())
}

/// The commit id `rev` names in the clone at `dest`.
async fn resolve_rev(rev: &str, dest: &Path, limit: Duration) -> Result<String, SandboxError> {
    for candidate in [rev.to_string(), format!("origin/{rev}")] {
        if let Some(commit) = rev_parse(&candidate, dest, limit).await? {
            return Ok(commit);
        }
    }
    let out = git(
        &["fetch", "--quiet", "origin", rev].map(OsStr::new),
        Some(dest),
        limit,
    )
    .await?;
    if out.status.success()
        && let Some(commit) = rev_parse("FETCH_HEAD", dest, limit).await?
    {
        return Ok(commit);
    }
    Err(SandboxError::Setup {
        reason: format!(
            "revision `{rev}` was not found in the repository (not a local or remote branch, tag or commit, and `git fetch origin {rev}` failed: {}); check the spelling",
            tail(&out.stderr).trim()
        ),
    })
}

/// Refuses a revision git would read as an option, or an empty one.
fn check_rev(rev: &str) -> Result<(), SandboxError> {
    if rev.starts_with('-') || rev.is_empty() {
        return Err(SandboxError::Setup {
            reason: format!("`{rev}` is not a revision; give a branch, tag or commit id"),
        });
    }
    Ok(())
}

/// The commit `rev` names in the repository at `dest`, if it names one.
pub(crate) async fn rev_parse(
    rev: &str,
    dest: &Path,
    limit: Duration,
) -> Result<Option<String>, SandboxError> {
    let spec = format!("{rev}^{{commit}}");
    let out = git(
        &["rev-parse", "--verify", "--quiet", spec.as_str()].map(OsStr::new),
        Some(dest),
        limit,
    )
    .await?;
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok((out.status.success() && !commit.is_empty()).then_some(commit))
}

/// Brings the clone at `dest` (no `origin`: see the module docs) to
/// `commit` of `repo`, fetched by id, checked out detached with `--force`.
/// Files git ignores (a venv, `target/`, `node_modules/`) are kept: this is
/// how a snapshot made at another commit with the same lockfiles is reused.
pub(crate) async fn move_to(
    dest: &Path,
    repo: &str,
    commit: &str,
    limit: Duration,
) -> Result<(), SandboxError> {
    check_rev(commit)?;
    if rev_parse(commit, dest, limit).await?.is_none() {
        let out = git(
            &["fetch", "--quiet", "--no-tags", "--", repo, commit].map(OsStr::new),
            Some(dest),
            limit,
        )
        .await?;
        if !out.status.success() {
            return Err(failed(
                &format!("`git fetch` of {commit} from `{repo}`"),
                &out,
            ));
        }
    }
    let out = git(
        &["checkout", "--quiet", "--force", "--detach", commit].map(OsStr::new),
        Some(dest),
        limit,
    )
    .await?;
    if !out.status.success() {
        return Err(failed(&format!("`git checkout {commit}`"), &out));
    }
    Ok(())
}

/// The names at the root of `rev` in the local repository `repo`.
pub(crate) async fn root_names(
    repo: &Path,
    rev: &str,
    limit: Duration,
) -> Result<Vec<String>, SandboxError> {
    check_rev(rev)?;
    let out = git(
        &["ls-tree", "--name-only", rev, "--"].map(OsStr::new),
        Some(repo),
        limit,
    )
    .await?;
    if !out.status.success() {
        return Err(failed(
            &format!("`git ls-tree {rev}` in `{}`", repo.display()),
            &out,
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// The content of `path` at `rev` in the local repository `repo`
/// (`None`: no such file there).
pub(crate) async fn file_at(
    repo: &Path,
    rev: &str,
    path: &str,
    limit: Duration,
) -> Result<Option<Vec<u8>>, SandboxError> {
    check_rev(rev)?;
    let object = format!("{rev}:{path}");
    let out = git(
        &["cat-file", "blob", object.as_str()].map(OsStr::new),
        Some(repo),
        limit,
    )
    .await?;
    Ok(out.status.success().then_some(out.stdout))
}

/// Runs host git with the safe options, no stdin, no prompts, within `limit`.
async fn git(args: &[&OsStr], cwd: Option<&Path>, limit: Duration) -> Result<Output, SandboxError> {
    let mut cmd = tokio::process::Command::new("git");
    if let Some(cwd) = cwd {
        cmd.arg("-C").arg(cwd);
    }
    cmd.args(SAFE_CONFIG)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(SandboxError::Unsupported {
                what: "git".into(),
                hint:
                    "the local sandbox clones with the host's git; install git and put it on PATH"
                        .into(),
            })
        }
        Ok(Err(err)) => Err(SandboxError::Setup {
            reason: format!("could not run `git {what}`: {err}"),
        }),
        Err(_) => Err(SandboxError::Setup {
            reason: format!(
                "`git {what}` did not finish within {}s; raise the clone timeout or use a smaller repository",
                limit.as_secs()
            ),
        }),
    }
}

fn failed(what: &str, out: &Output) -> SandboxError {
    let status = match out.status.code() {
        Some(code) => format!("exit {code}"),
        None => "killed".to_string(),
    };
    SandboxError::Setup {
        reason: format!("{what} failed ({status}): {}", tail(&out.stderr).trim()),
    }
}

/// The last [`ERROR_TAIL`] bytes of `bytes`, as text.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(ERROR_TAIL);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The commit `rev` (default: `HEAD`) names in `repo`, without cloning:
/// `git rev-parse` for a local repository, `git ls-remote` for a URL. Used
/// to key workspace snapshots (a moved branch must not reuse an old one).
pub(crate) async fn resolve_commit(
    repo: &str,
    rev: Option<&str>,
    limit: Duration,
) -> Result<String, SandboxError> {
    let rev = rev.unwrap_or("HEAD");
    check_rev(rev)?;
    if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(rev.to_ascii_lowercase());
    }
    let path = Path::new(repo);
    if path.exists() {
        if let Some(commit) = rev_parse(rev, path, limit).await? {
            return Ok(commit);
        }
    } else {
        let out = git(&["ls-remote", "--", repo, rev].map(OsStr::new), None, limit).await?;
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.success()
            && let Some(commit) = text.split_whitespace().next().filter(|c| c.len() == 40)
        {
            return Ok(commit.to_string());
        }
    }
    Err(SandboxError::Setup {
        reason: format!("revision `{rev}` of `{repo}` could not be resolved to a commit"),
    })
}
