//! [`BundleInspector`]: reading handed-over commits on the host, for the
//! completion contract.
//!
//! The bundle is unpacked into a throw-away bare repository whose
//! `objects/info/alternates` points at the repository holding the base
//! commit (read only: nothing is written there), then `base..head` is diffed
//! there. Git runs as everywhere in this module: argv only, hooks disabled,
//! no system or global configuration, objects checked on fetch. The sandbox's
//! own account of its work is never used.

use std::path::PathBuf;
use std::time::Duration;

use agentkit_core::forge::{ChangeSet, ForgeError};
use agentkit_core::policy::contract::{ChangeDiff, ChangeInspector, InspectError};
use async_trait::async_trait;

use super::git::{HostGit, is_object_id};

/// Builds a [`ChangeDiff`] from a [`ChangeSet`] against a host repository.
#[derive(Debug, Clone)]
pub struct BundleInspector {
    base_repo: PathBuf,
    timeout: Duration,
}

impl BundleInspector {
    /// An inspector for changes whose base commit is in the git directory
    /// `base_repo` (a bare repository, or the `.git` of a work tree).
    pub fn new(base_repo: impl Into<PathBuf>) -> Self {
        let base_repo = base_repo.into();
        let base_repo = std::path::absolute(&base_repo).unwrap_or(base_repo);
        Self {
            base_repo,
            timeout: Duration::from_secs(300),
        }
    }

    /// The limit for one git command (default five minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn diff(&self, changes: &ChangeSet) -> Result<ChangeDiff, ForgeError> {
        let fail = |message: String| ForgeError::Other { message };
        for id in [&changes.base_commit, &changes.head_commit] {
            if !is_object_id(id) {
                return Err(fail(format!("`{id}` is not a full commit id")));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("agentkit-inspect-")
            .tempdir()
            .map_err(|e| fail(format!("cannot create a temporary directory: {e}")))?;
        let repo = dir.path().join("repo.git");
        let git = HostGit::new(repo.clone(), self.timeout);
        let init_target = repo.as_os_str().to_owned();
        git.run(
            "init",
            ["init".into(), "--bare".into(), "-q".into(), init_target],
        )
        .await?;
        let objects = self.base_repo.join("objects");
        let alternates = format!("{}\n", objects.display());
        let bundle = dir.path().join("change.bundle");
        let (alt_path, bundle_path, bytes) = (
            repo.join("objects/info/alternates"),
            bundle.clone(),
            changes.bundle.clone(),
        );
        tokio::task::spawn_blocking(move || {
            std::fs::write(&alt_path, alternates)?;
            std::fs::write(&bundle_path, bytes)
        })
        .await
        .map_err(|e| fail(format!("writing the bundle did not finish: {e}")))?
        .map_err(|e| fail(format!("cannot write the bundle: {e}")))?;
        let bundle = bundle.as_os_str().to_owned();
        git.run(
            "bundle verify",
            ["bundle".into(), "verify".into(), bundle.clone()],
        )
        .await?;
        git.run(
            "fetch",
            [
                "fetch".into(),
                "--quiet".into(),
                "--no-tags".into(),
                "--no-write-fetch-head".into(),
                bundle,
                "+HEAD:refs/inspect/head".into(),
            ],
        )
        .await?;
        let tip = git
            .run(
                "rev-parse",
                ["rev-parse", "--verify", "refs/inspect/head^{commit}"],
            )
            .await?;
        if !tip.trim().eq_ignore_ascii_case(&changes.head_commit) {
            return Err(ForgeError::Refused {
                reason: format!(
                    "the bundle's HEAD is {}, not the claimed head commit {}",
                    tip.trim(),
                    changes.head_commit
                ),
            });
        }
        let (base, head) = (changes.base_commit.as_str(), changes.head_commit.as_str());
        let diff = |extra: &'static [&'static str]| {
            let mut args = vec!["diff", "--no-renames", "--no-ext-diff", "--no-textconv"];
            args.extend_from_slice(extra);
            args.extend([base, head, "--"]);
            args
        };
        let raw = git
            .run("diff --raw", diff(&["--raw", "-z", "--no-abbrev"]))
            .await?;
        let numstat = git
            .run("diff --numstat", diff(&["--numstat", "-z"]))
            .await?;
        let patch = git.run("diff", diff(&["-U0", "--no-color"])).await?;
        let tree = git
            .run("ls-tree", ["ls-tree", "-r", "-l", "-z", head])
            .await?;
        ChangeDiff::from_git(&raw, &numstat, &patch, &tree).map_err(|e| fail(e.to_string()))
    }
}

#[async_trait]
impl ChangeInspector for BundleInspector {
    async fn inspect(&self, changes: &ChangeSet) -> Result<ChangeDiff, InspectError> {
        self.diff(changes).await.map_err(|err| InspectError {
            message: err.to_string(),
        })
    }
}
