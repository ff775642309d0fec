//! Host-side git against the bare origin: argv only, hooks off, no outside configuration.
//!
//! Every command runs as `git --git-dir <origin> -c core.hooksPath=/dev/null ...`
//! with `GIT_CONFIG_NOSYSTEM=1`, `GIT_CONFIG_GLOBAL=/dev/null` and
//! `GIT_TERMINAL_PROMPT=0`, and without the inherited `GIT_*` variables that
//! could point git at another repository or inject configuration. Command-line
//! `-c` settings take precedence over the origin's own config, so a hook or
//! hooks path configured in the origin cannot run either.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use agentkit_core::forge::ForgeError;

/// Environment variables removed before running git: each could redirect git
/// to another repository or smuggle configuration (and so hooks) in.
const SCRUBBED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_SYSTEM",
    "GIT_EXTERNAL_DIFF",
    "GIT_PAGER",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_SSH_COMMAND",
    "GIT_PROXY_COMMAND",
];

/// Settings passed with `-c` to every command.
const SAFE_CONFIG: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "gc.auto=0",
    "maintenance.auto=false",
    "fetch.fsckObjects=true",
    "transfer.fsckObjects=true",
];

/// How a git command ended.
struct RawOutput {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl RawOutput {
    /// The error for a command that did not succeed: its status and what it said.
    fn failure(&self, operation: &str) -> ForgeError {
        let said = if self.stderr.trim().is_empty() {
            self.stdout.trim()
        } else {
            self.stderr.trim()
        };
        let status = match self.code {
            Some(code) => format!("exit {code}"),
            None => "killed by a signal".to_string(),
        };
        ForgeError::Git {
            operation: operation.to_string(),
            output: format!("{status}: {said}"),
        }
    }
}

/// Runs git commands against one git directory.
#[derive(Debug, Clone)]
pub(crate) struct HostGit {
    git_dir: PathBuf,
    timeout: Duration,
}

impl HostGit {
    pub(crate) fn new(git_dir: PathBuf, timeout: Duration) -> Self {
        Self { git_dir, timeout }
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Runs `git <args>`; returns stdout, or [`ForgeError::Git`] naming
    /// `operation` with what git printed when it fails.
    pub(crate) async fn run<I, S>(&self, operation: &str, args: I) -> Result<String, ForgeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.run_with_env(operation, args, &[]).await
    }

    /// [`run`](Self::run) with extra environment variables for this one
    /// command (how a credential reaches git without appearing in argv).
    pub(crate) async fn run_with_env<I, S>(
        &self,
        operation: &str,
        args: I,
        env: &[(&str, &str)],
    ) -> Result<String, ForgeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let out = self.exec(operation, args, env).await?;
        if out.code == Some(0) {
            return Ok(out.stdout);
        }
        Err(out.failure(operation))
    }

    /// Runs `git <args>` and returns how it ended, whatever the exit code.
    async fn exec<I, S>(
        &self,
        operation: &str,
        args: I,
        env: &[(&str, &str)],
    ) -> Result<RawOutput, ForgeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let fail = |output: String| ForgeError::Git {
            operation: operation.to_string(),
            output,
        };
        let mut command = tokio::process::Command::new("git");
        command.arg("--git-dir").arg(&self.git_dir);
        for setting in SAFE_CONFIG {
            command.arg("-c").arg(setting);
        }
        command.args(args.into_iter().map(Into::into));
        for var in SCRUBBED_ENV {
            command.env_remove(var);
        }
        command
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().map_err(|err| {
            fail(format!(
                "could not start `git` on the host ({err}); is git installed and on PATH?"
            ))
        })?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(err)) => return Err(fail(format!("waiting for git failed: {err}"))),
            Err(_) => {
                return Err(fail(format!(
                    "timed out after {:.0}s in `{}`",
                    self.timeout.as_secs_f64(),
                    self.git_dir.display()
                )));
            }
        };
        Ok(RawOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// The full name of the branch `HEAD` points at (`refs/heads/main`), if any.
    pub(crate) async fn head_branch(&self) -> Option<String> {
        let out = self
            .run("symbolic-ref", ["symbolic-ref", "--quiet", "HEAD"])
            .await
            .ok()?;
        let name = out.trim().strip_prefix("refs/heads/")?;
        (!name.is_empty()).then(|| name.to_string())
    }

    /// The commit `refs/heads/<branch>` points at, if the branch exists.
    pub(crate) async fn branch_tip(&self, branch: &str) -> Result<Option<String>, ForgeError> {
        let spec = format!("refs/heads/{branch}^{{commit}}");
        let args = ["rev-parse", "--verify", "--quiet", spec.as_str()];
        let out = self.exec("rev-parse", args, &[]).await?;
        match out.code {
            Some(0) => Ok(Some(out.stdout.trim().to_string())),
            // `--verify --quiet` exits 1 without output when the ref is missing.
            Some(1) if out.stderr.trim().is_empty() => Ok(None),
            _ => Err(out.failure("rev-parse")),
        }
    }
}

impl HostGit {
    /// Verifies the bundle at `path` against this repository (its
    /// prerequisites must be here) and checks that its `HEAD` is `head`.
    pub(crate) async fn check_bundle(&self, path: &OsStr, head: &str) -> Result<(), ForgeError> {
        self.run(
            "bundle verify",
            [OsStr::new("bundle"), OsStr::new("verify"), path],
        )
        .await?;
        let heads = self
            .run(
                "bundle list-heads",
                [OsStr::new("bundle"), OsStr::new("list-heads"), path],
            )
            .await?;
        let bundled = heads.lines().find_map(|line| {
            let (id, name) = line.trim().split_once(' ')?;
            (name == "HEAD").then(|| id.to_ascii_lowercase())
        });
        match bundled {
            Some(id) if id.eq_ignore_ascii_case(head) => Ok(()),
            Some(id) => Err(ForgeError::Refused {
                reason: format!(
                    "the bundle's HEAD is {id}, not the claimed head commit {head}; \
                     nothing was pushed"
                ),
            }),
            None => Err(ForgeError::Refused {
                reason: "the bundle has no HEAD ref (expected one made with \
                         `git bundle create FILE base..HEAD`); nothing was pushed"
                    .into(),
            }),
        }
    }

    /// Whether commit `ancestor` is an ancestor of (or equal to) `descendant`.
    pub(crate) async fn is_ancestor(
        &self,
        ancestor: &str,
        descendant: &str,
    ) -> Result<bool, ForgeError> {
        let args = ["merge-base", "--is-ancestor", ancestor, descendant];
        let out = self.exec("merge-base", args, &[]).await?;
        match out.code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(out.failure("merge-base")),
        }
    }

    /// Whether the repository is bare.
    pub(crate) async fn is_bare(&self) -> Result<bool, ForgeError> {
        let out = self
            .run("rev-parse", ["rev-parse", "--is-bare-repository"])
            .await?;
        Ok(out.trim() == "true")
    }
}

/// Refuses a change set that cannot be what the handover made: a head that
/// is not a full commit id, or no bundle.
pub(crate) fn check_change_set(
    changes: &agentkit_core::forge::ChangeSet,
) -> Result<(), ForgeError> {
    let head = &changes.head_commit;
    if !is_object_id(head) {
        return Err(ForgeError::Refused {
            reason: format!("`{head}` is not a full commit id; nothing was pushed"),
        });
    }
    if changes.bundle.is_empty() {
        return Err(ForgeError::Refused {
            reason: "the change set carries no bundle; nothing was pushed".into(),
        });
    }
    Ok(())
}

/// Whether `id` looks like a full git object id (SHA-1 or SHA-256, hex).
pub(crate) fn is_object_id(id: &str) -> bool {
    matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit())
}
