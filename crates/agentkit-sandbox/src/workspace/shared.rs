//! [`SharedWorkspace`]: a [`HostWorkspace`] shared by a sandbox and its
//! blocking-pool tasks, with the file operations every backend exposes.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentkit_core::sandbox::{FileKind, FileStat, SandboxError};

use super::HostWorkspace;

/// The file API of a sandbox whose workspace is a host directory (every
/// backend here): each operation runs on tokio's blocking pool.
#[derive(Debug, Clone)]
pub(crate) struct SharedWorkspace(Arc<HostWorkspace>);

impl SharedWorkspace {
    /// Opens `root` with the policy's protected paths.
    pub(crate) fn open(root: &Path, protected: &[String]) -> Result<Self, SandboxError> {
        Ok(Self(Arc::new(HostWorkspace::open(root, protected)?)))
    }

    /// The canonical root.
    pub(crate) fn root(&self) -> &Path {
        self.0.root()
    }

    async fn blocking<T, F>(&self, path: &str, op: F) -> Result<T, SandboxError>
    where
        T: Send + 'static,
        F: FnOnce(&HostWorkspace, &str) -> Result<T, SandboxError> + Send + 'static,
    {
        let workspace = Arc::clone(&self.0);
        let owned = path.to_string();
        tokio::task::spawn_blocking(move || op(&workspace, &owned))
            .await
            .map_err(|e| task_failed(path, e))?
    }

    pub(crate) async fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        self.blocking(path, HostWorkspace::read).await
    }

    pub(crate) async fn write(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let contents = contents.to_vec();
        self.blocking(path, move |ws, p| ws.write(p, &contents))
            .await
    }

    pub(crate) async fn list(&self, path: &str) -> Result<Vec<FileStat>, SandboxError> {
        self.blocking(path, HostWorkspace::list).await
    }

    pub(crate) async fn remove(&self, path: &str) -> Result<(), SandboxError> {
        self.blocking(path, HostWorkspace::remove).await
    }

    pub(crate) async fn stat(&self, path: &str) -> Result<FileStat, SandboxError> {
        self.blocking(path, HostWorkspace::stat).await
    }

    /// A command's working directory `cwd`, relative to the root with every
    /// symlink resolved (empty for the root): it must be an existing
    /// directory inside the workspace. The command resolves it again, inside
    /// its sandbox.
    pub(crate) async fn working_dir(&self, cwd: &str) -> Result<PathBuf, SandboxError> {
        self.blocking(cwd, |ws, path| {
            let resolved = ws.resolve(path)?;
            match resolved.kind {
                Some(FileKind::Dir) => Ok(resolved.relative),
                None => Err(SandboxError::NotFound {
                    path: path.to_string(),
                }),
                Some(_) => Err(SandboxError::WrongKind {
                    path: path.to_string(),
                    reason: "is not a directory; the working directory must be one".into(),
                }),
            }
        })
        .await
    }
}

/// The error for a blocking task that died (panicked, or was cancelled by
/// runtime shutdown).
pub(crate) fn task_failed(path: &str, err: tokio::task::JoinError) -> SandboxError {
    SandboxError::Io {
        path: path.to_string(),
        source: io::Error::other(format!("the file operation task failed: {err}")),
    }
}
