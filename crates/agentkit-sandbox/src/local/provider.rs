//! [`LocalProvider`]: clones the repository into a fresh temp directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::sandbox::{Sandbox, SandboxError, SandboxProvider, SandboxSpec};
use async_trait::async_trait;

use super::LocalSandbox;
use crate::snapshot::{ScratchDir, SnapshotStore};

/// Creates [`LocalSandbox`]es: a temp directory, a clone of the spec's
/// repository in `<temp>/workspace`, then the setup script.
///
/// Accepts every policy; what it cannot enforce (network, disk) is logged
/// with `tracing::warn!` for each sandbox. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct LocalProvider {
    temp_root: Option<PathBuf>,
    clone_timeout: Duration,
    snapshots: Option<SnapshotStore>,
}

impl Default for LocalProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalProvider {
    /// Default time allowed for cloning and checking out: ten minutes.
    pub const DEFAULT_CLONE_TIMEOUT: Duration = crate::local::clone::DEFAULT_CLONE_TIMEOUT;

    /// A provider creating workspaces under the system temp directory.
    #[must_use]
    pub fn new() -> Self {
        Self {
            temp_root: None,
            clone_timeout: Self::DEFAULT_CLONE_TIMEOUT,
            snapshots: None,
        }
    }

    /// Creates workspaces under `root` instead (it must exist).
    #[must_use]
    pub fn with_temp_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.temp_root = Some(root.into());
        self
    }

    /// Sets the limit for each git step of the clone (default
    /// [`DEFAULT_CLONE_TIMEOUT`](Self::DEFAULT_CLONE_TIMEOUT)).
    #[must_use]
    pub fn with_clone_timeout(mut self, limit: Duration) -> Self {
        self.clone_timeout = limit;
        self
    }

    /// Keeps the workspace after a successful setup script in `store`, and
    /// starts later sandboxes of the same repository, commit and setup from
    /// it (see [`crate::snapshot`]).
    #[must_use]
    pub fn with_snapshots(mut self, store: SnapshotStore) -> Self {
        self.snapshots = Some(store);
        self
    }
}

#[async_trait]
impl SandboxProvider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    async fn create(&self, spec: &SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let backend = crate::setup::Backend {
            name: "local",
            store: self.snapshots.as_ref(),
            clone_timeout: self.clone_timeout,
            enforces_network: false,
            inside: None,
        };
        let sandbox = crate::setup::create(backend, spec, |spec, restore| async move {
            let mut scratch =
                ScratchDir::new(temp_dir("agentkit-local-", self.temp_root.as_deref())?);
            let workspace = scratch.path().join("workspace");
            let fill = crate::setup::Fill {
                clone_timeout: self.clone_timeout,
                overlay: true,
                inside: None,
            };
            let restored = crate::setup::fill_workspace(
                &spec,
                restore.as_ref(),
                &mut scratch,
                &workspace,
                fill,
            )
            .await?;
            let sandbox = LocalSandbox::open(workspace, spec.policy, spec.env, Some(scratch))?;
            Ok((sandbox, restored))
        })
        .await?;
        let warm = sandbox.environment().is_some_and(|e| e.warm);
        tracing::info!(sandbox = sandbox.id(), repo = %spec.repo, warm, "local sandbox ready");
        Ok(Arc::new(sandbox))
    }
}

/// A fresh temp directory named `<prefix>…` under `root`, or the system temp
/// directory. Shared with the `bwrap` and `docker` backends.
pub(crate) fn temp_dir(
    prefix: &str,
    root: Option<&std::path::Path>,
) -> Result<tempfile::TempDir, SandboxError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    let made = match root {
        Some(root) => builder.tempdir_in(root),
        None => builder.tempdir(),
    };
    made.map_err(|source| SandboxError::Io {
        path: root
            .map(|r| r.to_path_buf())
            .unwrap_or_else(std::env::temp_dir)
            .display()
            .to_string(),
        source,
    })
}
