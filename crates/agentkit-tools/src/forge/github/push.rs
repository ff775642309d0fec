//! Pushing the agent's branch host-side, over HTTPS, from the handed-over bundle.
//!
//! The forge keeps a bare scratch repository per GitHub repository (its
//! cache: later fetches are incremental). For one publish, with every git
//! command run by argv, hooks off and no outside configuration
//! ([`HostGit`]):
//!
//! 1. `ls-remote` the agent branch and the target branch;
//! 2. fetch those that exist (the bundle's prerequisites are among them);
//! 3. verify the bundle and check its `HEAD` is the claimed head commit;
//! 4. fetch it into `refs/heads/<branch>` of the scratch repository;
//! 5. push that branch. Revision 1 pushes with `--force-with-lease` against
//!    the tip seen in step 1 (a retried first attempt replaces the earlier
//!    attempt's commits, but never a commit pushed since we looked); a
//!    follow-up revision must fast-forward the branch (it started from it),
//!    so a concurrent revision is never overwritten.
//!
//! **The token** reaches git only through the environment of the one git
//! process (`AGENTKIT_GITHUB_TOKEN`), read by a fixed credential helper given
//! with `-c` (the helper text holds no secret and nothing from the model).
//! It is not in argv, not in a remote URL, not in any file, and git's output
//! is redacted before it is reported.

use std::ffi::OsString;
use std::path::PathBuf;

use agentkit_core::forge::{ChangeSet, ForgeError};
use agentkit_core::redact::Redactor;

use super::auth::Secret;
use crate::forge::git::HostGit;

/// The environment variable the credential helper reads the token from.
const TOKEN_ENV: &str = "AGENTKIT_GITHUB_TOKEN";

/// A credential helper that answers `get` with the token from the
/// environment and ignores `store`/`erase`.
const CREDENTIAL_HELPER: &str = "credential.helper=!f() { test \"$1\" = get || exit 0; \
     echo username=x-access-token; printf 'password=%s\\n' \"$AGENTKIT_GITHUB_TOKEN\"; }; f";

/// Host-side git for one GitHub repository.
#[derive(Debug)]
pub(crate) struct Pusher {
    scratch: PathBuf,
    remote: String,
    git: HostGit,
    lock: tokio::sync::Mutex<()>,
}

impl Pusher {
    pub(crate) fn new(scratch: PathBuf, remote: String, timeout: std::time::Duration) -> Self {
        Self {
            git: HostGit::new(scratch.clone(), timeout),
            scratch,
            remote,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The URL pushed to (no credentials in it).
    pub(crate) fn remote(&self) -> &str {
        &self.remote
    }

    /// Pushes `changes` to `branch` (see the [module docs](self)).
    pub(crate) async fn push(
        &self,
        branch: &str,
        base_branch: &str,
        changes: &ChangeSet,
        follow_up: bool,
        token: &Secret,
    ) -> Result<(), ForgeError> {
        let _serial = self.lock.lock().await;
        let redactor = Redactor::new().with_secret(token.expose());
        let result = self
            .push_locked(branch, base_branch, changes, follow_up, token)
            .await;
        result.map_err(|err| redact_error(err, &redactor))
    }

    async fn push_locked(
        &self,
        branch: &str,
        base_branch: &str,
        changes: &ChangeSet,
        follow_up: bool,
        token: &Secret,
    ) -> Result<(), ForgeError> {
        self.ensure_repository().await?;
        let env = [(TOKEN_ENV, token.expose())];

        let branch_ref = format!("refs/heads/{branch}");
        let base_ref = format!("refs/heads/{base_branch}");
        let listed = self.ls_remote(&[&branch_ref, &base_ref], &env).await?;
        let tip_of = |name: &str| {
            listed.lines().find_map(|line| {
                let (id, reference) = line.split_once('\t')?;
                (reference.trim() == name).then(|| id.trim().to_string())
            })
        };
        let remote_tip = tip_of(&branch_ref);
        let mut refspecs = Vec::new();
        if tip_of(&base_ref).is_some() {
            refspecs.push(format!("+{base_ref}:refs/remotes/origin/{base_branch}"));
        }
        if remote_tip.is_some() {
            refspecs.push(format!("+{branch_ref}:refs/remotes/origin/{branch}"));
        }
        if !refspecs.is_empty() {
            let mut args: Vec<String> = [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                self.remote.as_str(),
            ]
            .map(String::from)
            .to_vec();
            args.extend(refspecs);
            self.git
                .run_with_env("fetch", self.with_credentials(args), &env)
                .await?;
        }

        let file = write_bundle(&self.scratch, &changes.bundle).await?;
        let path = file.path().as_os_str().to_owned();
        self.git
            .check_bundle(&path, &changes.head_commit)
            .await
            .map_err(|err| match err {
                ForgeError::Git { output, .. } => ForgeError::Refused {
                    reason: format!(
                        "the bundle does not apply to `{base_branch}` or `{branch}` as they are \
                         on GitHub ({}); nothing was pushed",
                        output.trim()
                    ),
                },
                other => other,
            })?;
        let local = format!("+HEAD:{branch_ref}");
        self.git
            .run(
                "fetch",
                [
                    OsString::from("fetch"),
                    "--quiet".into(),
                    "--no-tags".into(),
                    "--no-write-fetch-head".into(),
                    path,
                    local.into(),
                ],
            )
            .await?;
        drop(file);

        let mut push: Vec<String> = ["push", "--quiet", "--porcelain", "--no-verify"]
            .map(String::from)
            .to_vec();
        if !follow_up {
            let expected = remote_tip.clone().unwrap_or_default();
            push.push(format!("--force-with-lease={branch_ref}:{expected}"));
        }
        push.push(self.remote.clone());
        push.push(format!("{branch_ref}:{branch_ref}"));
        let pushed = self
            .git
            .run_with_env("push", self.with_credentials(push), &env)
            .await;
        if let Err(err) = pushed {
            // A concurrent publish of the same commits may have won the race
            // (the branch was created between our look and our push): then
            // the branch already holds exactly this work.
            let now = self
                .ls_remote(&[&branch_ref], &env)
                .await
                .unwrap_or_default();
            let tip = now.split_whitespace().next().unwrap_or_default();
            if !tip.eq_ignore_ascii_case(&changes.head_commit) {
                return Err(match err {
                    ForgeError::Git { output, .. }
                        if output.contains("rejected")
                            || output.contains("failed to push some refs") =>
                    {
                        ForgeError::Refused {
                            reason: format!(
                                "GitHub rejected the push to `{branch}`: it moved since this \
                                 revision started (another revision or a person pushed to it); \
                                 run the task again from the branch's new tip. git said: {}",
                                output.trim()
                            ),
                        }
                    }
                    other => other,
                });
            }
            tracing::info!(
                forge = "github",
                branch,
                "the branch already holds this work"
            );
        }
        tracing::info!(forge = "github", branch, head = %changes.head_commit, follow_up, "pushed");
        Ok(())
    }

    /// Brings the scratch repository's copy of revision `name` up to date
    /// with GitHub and returns the repository's path, for sandboxes to clone
    /// from: the token stays on the host. `is_default`: `name` is the
    /// default branch, which also becomes the mirror's `HEAD`.
    ///
    /// `name` keeps its meaning in the mirror: a branch or tag is fetched
    /// under its own name (the default branch also becomes the mirror's
    /// `HEAD`), a full ref (`refs/pull/7/head`) too, and a commit id under
    /// `refs/heads/agentkit-rev/<id>` so that a clone carries it.
    pub(crate) async fn mirror(
        &self,
        name: &str,
        is_default: bool,
        token: &Secret,
    ) -> Result<PathBuf, ForgeError> {
        let _serial = self.lock.lock().await;
        let redactor = Redactor::new().with_secret(token.expose());
        let result = self.mirror_locked(name, is_default, token).await;
        result.map_err(|err| redact_error(err, &redactor))
    }

    async fn mirror_locked(
        &self,
        name: &str,
        is_default: bool,
        token: &Secret,
    ) -> Result<PathBuf, ForgeError> {
        self.ensure_repository().await?;
        let env = [(TOKEN_ENV, token.expose())];
        if name.starts_with('-') || name.contains("..") || name.chars().any(char::is_whitespace) {
            return Err(ForgeError::Refused {
                reason: format!("`{name}` is not a revision git can fetch; nothing was fetched"),
            });
        }
        let (branch, tag) = (format!("refs/heads/{name}"), format!("refs/tags/{name}"));
        let listed = if name.starts_with("refs/") {
            String::new()
        } else {
            let args = ["ls-remote", "--refs", self.remote.as_str(), &branch, &tag];
            self.git
                .run_with_env("ls-remote", self.with_credentials(args), &env)
                .await?
        };
        let has = |wanted: &str| {
            listed
                .lines()
                .any(|line| line.split('\t').nth(1).map(str::trim) == Some(wanted))
        };
        let refspec = if has(&branch) {
            format!("+{branch}:{branch}")
        } else if has(&tag) {
            format!("+{tag}:{tag}")
        } else if name.starts_with("refs/") {
            format!("+{name}:{name}")
        } else if name.len() >= 7 && name.chars().all(|c| c.is_ascii_hexdigit()) {
            format!("+{name}:refs/heads/agentkit-rev/{name}")
        } else {
            return Err(ForgeError::NotFound {
                what: format!(
                    "revision `{name}` of {} (no such branch or tag on GitHub)",
                    self.remote
                ),
            });
        };
        let args = [
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            self.remote.as_str(),
            refspec.as_str(),
        ];
        self.git
            .run_with_env("fetch", self.with_credentials(args), &env)
            .await?;
        if is_default {
            self.git
                .run("symbolic-ref", ["symbolic-ref", "HEAD", branch.as_str()])
                .await?;
        }
        Ok(self.scratch.clone())
    }

    /// `git ls-remote --heads <remote> <refs>…`: `<id>\t<ref>` lines.
    async fn ls_remote(&self, refs: &[&str], env: &[(&str, &str)]) -> Result<String, ForgeError> {
        let mut args = vec!["ls-remote", "--heads", self.remote.as_str()];
        args.extend_from_slice(refs);
        self.git
            .run_with_env("ls-remote", self.with_credentials(args), env)
            .await
    }

    /// `-c` settings that give git the credential helper, before `args`.
    fn with_credentials<I, S>(&self, args: I) -> Vec<OsString>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut all: Vec<OsString> = vec![
            "-c".into(),
            "credential.helper=".into(),
            "-c".into(),
            CREDENTIAL_HELPER.into(),
            "-c".into(),
            "protocol.ext.allow=never".into(),
        ];
        all.extend(args.into_iter().map(Into::into));
        all
    }

    async fn ensure_repository(&self) -> Result<(), ForgeError> {
        if self.scratch.join("HEAD").is_file() {
            return Ok(());
        }
        tokio::fs::create_dir_all(&self.scratch)
            .await
            .map_err(|err| ForgeError::Other {
                message: format!(
                    "could not create the scratch repository `{}`: {err}",
                    self.scratch.display()
                ),
            })?;
        self.git.run("init", ["init", "--bare", "--quiet"]).await?;
        Ok(())
    }
}

async fn write_bundle(
    dir: &std::path::Path,
    bundle: &[u8],
) -> Result<tempfile::NamedTempFile, ForgeError> {
    let (dir, bundle) = (dir.to_path_buf(), bundle.to_vec());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let fail = |err: std::io::Error| ForgeError::Other {
            message: format!(
                "could not write the bundle under `{}`: {err}",
                dir.display()
            ),
        };
        let mut file = tempfile::Builder::new()
            .prefix("handover-")
            .suffix(".bundle")
            .tempfile_in(&dir)
            .map_err(fail)?;
        file.write_all(&bundle).map_err(fail)?;
        file.flush().map_err(fail)?;
        Ok(file)
    })
    .await
    .map_err(|err| ForgeError::Other {
        message: format!("writing the bundle did not finish: {err}"),
    })?
}

/// `err` with every occurrence of a secret removed.
pub(crate) fn redact_error(err: ForgeError, redactor: &Redactor) -> ForgeError {
    let clean = |text: String| redactor.redact(&text).into_owned();
    match err {
        ForgeError::NotFound { what } => ForgeError::NotFound { what: clean(what) },
        ForgeError::Refused { reason } => ForgeError::Refused {
            reason: clean(reason),
        },
        ForgeError::Auth { reason } => ForgeError::Auth {
            reason: clean(reason),
        },
        ForgeError::Git { operation, output } => ForgeError::Git {
            operation,
            output: clean(output),
        },
        ForgeError::Other { message } => ForgeError::Other {
            message: clean(message),
        },
    }
}
