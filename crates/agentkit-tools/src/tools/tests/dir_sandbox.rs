//! A real-directory sandbox for tests: `LocalSandbox` attached to a temp
//! directory, optionally hiding its host path so the tools take their
//! in-sandbox fallbacks (`rg`, `grep`, `find` via `exec`).

use std::collections::BTreeMap;
use std::path::Path;

use agentkit_core::sandbox::{
    ExecOutput, ExecRequest, FileStat, Sandbox, SandboxError, SandboxPolicy,
};
use agentkit_sandbox::local::LocalSandbox;
use async_trait::async_trait;

/// A `LocalSandbox` over its own temp directory.
pub(crate) struct DirSandbox {
    inner: LocalSandbox,
    host_visible: bool,
    _dir: tempfile::TempDir,
}

impl DirSandbox {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let inner =
            LocalSandbox::attach(dir.path(), SandboxPolicy::default(), BTreeMap::new()).unwrap();
        Self {
            inner,
            host_visible: true,
            _dir: dir,
        }
    }

    /// Hides the host path: `host_workspace()` answers `None`.
    pub(crate) fn without_host_path(mut self) -> Self {
        self.host_visible = false;
        self
    }

    pub(crate) fn root(&self) -> &Path {
        self.inner.root()
    }

    /// Writes `contents` to `rel`, creating parents.
    pub(crate) fn put(&self, rel: &str, contents: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

#[async_trait]
impl Sandbox for DirSandbox {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn host_workspace(&self) -> Option<&Path> {
        self.host_visible.then(|| self.inner.root())
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, SandboxError> {
        self.inner.exec(request).await
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        self.inner.read(path).await
    }

    async fn write(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        self.inner.write(path, contents).await
    }

    async fn list(&self, path: &str) -> Result<Vec<FileStat>, SandboxError> {
        self.inner.list(path).await
    }

    async fn remove(&self, path: &str) -> Result<(), SandboxError> {
        self.inner.remove(path).await
    }

    async fn stat(&self, path: &str) -> Result<FileStat, SandboxError> {
        self.inner.stat(path).await
    }

    async fn close(&self) -> Result<(), SandboxError> {
        self.inner.close().await
    }
}
