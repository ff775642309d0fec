//! [`LocalSandbox`]: a host directory used as the workspace.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::snapshot::ScratchDir;
use agentkit_core::sandbox::{
    ExecOutput, ExecRequest, FileStat, NetworkPolicy, Sandbox, SandboxError, SandboxPolicy,
};
use async_trait::async_trait;

use super::exec::{self, Launch};
use super::groups::LiveGroups;
use super::limits::Rlimits;
use crate::workspace::{SharedWorkspace, task_failed};

/// A sandbox whose workspace is a directory on the host.
///
/// Made by [`LocalProvider`](super::LocalProvider) (a fresh clone in a temp
/// directory that is deleted on [`close`](Sandbox::close) and on drop) or by
/// [`LocalSandbox::attach`] (an existing directory, never deleted).
///
/// **No isolation**: see the [module docs](super) for what this backend does
/// and does not protect.
pub struct LocalSandbox {
    id: String,
    workspace: SharedWorkspace,
    policy: SandboxPolicy,
    env: BTreeMap<String, String>,
    groups: LiveGroups,
    closed: AtomicBool,
    /// The temp directory owning the workspace (and the overlay mounted on
    /// it), for provider-made sandboxes.
    temp: Mutex<Option<ScratchDir>>,
    /// What making it found (provider-made sandboxes).
    environment: Option<agentkit_core::environment::EnvironmentReport>,
}

impl LocalSandbox {
    /// Uses the existing directory `root` as the workspace. Commands get
    /// `env` on top of the host variables that `policy.env_allow` names.
    /// The directory is left in place on close and on drop.
    ///
    /// Fails with [`SandboxError::NotFound`] when `root` does not exist and
    /// [`SandboxError::WrongKind`] when it is not a directory.
    pub fn attach(
        root: impl Into<PathBuf>,
        policy: SandboxPolicy,
        env: BTreeMap<String, String>,
    ) -> Result<LocalSandbox, SandboxError> {
        Self::open(root.into(), policy, env, None)
    }

    /// Opens `root` as a workspace; `temp`, when given, is deleted with it.
    pub(crate) fn open(
        root: PathBuf,
        policy: SandboxPolicy,
        env: BTreeMap<String, String>,
        temp: Option<ScratchDir>,
    ) -> Result<LocalSandbox, SandboxError> {
        let workspace = SharedWorkspace::open(&root, &policy.protected_paths)?;
        let id = next_id();
        warn_unenforced(&id, &policy);
        Ok(LocalSandbox {
            id,
            workspace,
            policy,
            env,
            groups: LiveGroups::default(),
            closed: AtomicBool::new(false),
            temp: Mutex::new(temp),
            environment: None,
        })
    }

    /// The workspace root (canonical).
    pub fn root(&self) -> &Path {
        self.workspace.root()
    }

    /// The policy this sandbox was made with.
    pub fn policy(&self) -> &SandboxPolicy {
        &self.policy
    }

    fn ensure_open(&self) -> Result<(), SandboxError> {
        if self.closed.load(Ordering::SeqCst) {
            Err(SandboxError::Gone {
                reason: format!("sandbox `{}` was closed; create a new one", self.id),
            })
        } else {
            Ok(())
        }
    }

    /// The command environment: allowed host variables, then the sandbox's,
    /// then the request's.
    fn command_env(&self, request: &ExecRequest) -> BTreeMap<OsString, OsString> {
        let mut env = BTreeMap::new();
        for name in &self.policy.env_allow {
            if let Some(value) = std::env::var_os(name) {
                env.insert(OsString::from(name), value);
            }
        }
        for (key, value) in self.env.iter().chain(&request.env) {
            env.insert(OsString::from(key), OsString::from(value));
        }
        env
    }
}

impl crate::setup::Prepared for LocalSandbox {
    fn environment_slot(&mut self) -> &mut Option<agentkit_core::environment::EnvironmentReport> {
        &mut self.environment
    }
}

impl fmt::Debug for LocalSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values of `env` may be secrets; show only the names.
        f.debug_struct("LocalSandbox")
            .field("id", &self.id)
            .field("root", &self.workspace.root())
            .field("policy", &self.policy)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("closed", &self.closed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Sandbox for LocalSandbox {
    fn id(&self) -> &str {
        &self.id
    }

    fn host_workspace(&self) -> Option<&Path> {
        Some(self.workspace.root())
    }

    fn environment(&self) -> Option<&agentkit_core::environment::EnvironmentReport> {
        self.environment.as_ref()
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, SandboxError> {
        self.ensure_open()?;
        let cwd = request.cwd.clone().unwrap_or_default();
        // The command resolves this path again: the local backend does not
        // isolate commands, so that is no loss here.
        let dir = self.root().join(self.workspace.working_dir(&cwd).await?);
        let launch = Launch {
            cwd: dir,
            env: self.command_env(&request),
            limits: Rlimits::from_policy(&self.policy.limits),
            groups: &self.groups,
        };
        exec::run(request, launch).await
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        self.ensure_open()?;
        self.workspace.read(path).await
    }

    async fn write(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        self.ensure_open()?;
        self.workspace.write(path, contents).await
    }

    async fn list(&self, path: &str) -> Result<Vec<FileStat>, SandboxError> {
        self.ensure_open()?;
        self.workspace.list(path).await
    }

    async fn remove(&self, path: &str) -> Result<(), SandboxError> {
        self.ensure_open()?;
        self.workspace.remove(path).await
    }

    async fn stat(&self, path: &str) -> Result<FileStat, SandboxError> {
        self.ensure_open()?;
        self.workspace.stat(path).await
    }

    /// Kills running commands and, for provider-made sandboxes, deletes the
    /// temp directory. Closing twice is not an error.
    async fn close(&self) -> Result<(), SandboxError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.groups.kill_all();
        let temp = self
            .temp
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(temp) = temp else {
            return Ok(());
        };
        let shown = temp.path().display().to_string();
        tokio::task::spawn_blocking(move || temp.close())
            .await
            .map_err(|e| task_failed(&shown, e))?
            .map_err(|source| SandboxError::Io {
                path: shown,
                source,
            })
    }
}

fn next_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "local-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Says, once per sandbox, which parts of the policy this backend ignores.
fn warn_unenforced(id: &str, policy: &SandboxPolicy) {
    if policy.network != NetworkPolicy::Full {
        tracing::warn!(
            sandbox = id,
            network = ?policy.network,
            "the local sandbox does not enforce the network policy: commands have the host's full network access; use the bwrap or docker backend to restrict it"
        );
    }
    if policy.limits.disk_bytes.is_some() {
        tracing::warn!(
            sandbox = id,
            "the local sandbox does not enforce the disk limit"
        );
    }
}
