//! [`DockerSandbox`]: a container per sandbox, the workspace a host
//! directory bind-mounted into it.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use agentkit_core::sandbox::{
    ExecOutput, ExecRequest, FileStat, Sandbox, SandboxError, SandboxPolicy,
};
use async_trait::async_trait;

use super::exec::{self, Launch, Shared};
use super::helper::WORKSPACE;
use super::teardown::Teardown;
use crate::workspace::SharedWorkspace;

/// A sandbox whose commands run in their own Docker container.
///
/// Made by [`DockerProvider`](super::DockerProvider). Commands run in the
/// container (see the [module docs](super) for what that isolates); the
/// file operations work on the host side of the bind-mounted workspace,
/// with the same containment checks as the local backend. [`close`](Sandbox::close) and drop remove the
/// container and delete the workspace.
pub struct DockerSandbox {
    id: String,
    shared: Arc<Shared>,
    workspace: SharedWorkspace,
    env_allow: Vec<String>,
    env: BTreeMap<String, String>,
    network_env: BTreeMap<String, String>,
    /// The allow-list proxy, when the policy has one; dropped on close.
    gate: Mutex<Option<crate::net::NetworkGate>>,
    cpu_seconds: Option<u64>,
    nonce: u64,
    commands: AtomicU64,
    closed: AtomicBool,
    teardown: Mutex<Option<Teardown>>,
    /// What making it found.
    environment: Option<agentkit_core::environment::EnvironmentReport>,
}

/// What the provider hands over to make a sandbox.
pub(crate) struct Parts {
    pub(crate) id: String,
    pub(crate) shared: Arc<Shared>,
    /// The canonical host workspace.
    pub(crate) root: PathBuf,
    pub(crate) policy: SandboxPolicy,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) network_env: BTreeMap<String, String>,
    pub(crate) gate: Option<crate::net::NetworkGate>,
    pub(crate) cpu_seconds: Option<u64>,
    pub(crate) teardown: Teardown,
}

impl crate::setup::Prepared for DockerSandbox {
    fn environment_slot(&mut self) -> &mut Option<agentkit_core::environment::EnvironmentReport> {
        &mut self.environment
    }
}

impl DockerSandbox {
    /// Wraps a started container. On error the teardown runs (it is dropped).
    pub(crate) fn new(parts: Parts) -> Result<Self, SandboxError> {
        Ok(Self {
            id: parts.id,
            shared: parts.shared,
            workspace: SharedWorkspace::open(&parts.root, &parts.policy.protected_paths)?,
            env_allow: parts.policy.env_allow,
            env: parts.env,
            network_env: parts.network_env,
            gate: Mutex::new(parts.gate),
            cpu_seconds: parts.cpu_seconds,
            nonce: RandomState::new().hash_one(std::process::id()),
            commands: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            teardown: Mutex::new(Some(parts.teardown)),
            environment: None,
        })
    }

    /// The container's id.
    pub fn container_id(&self) -> &str {
        &self.shared.container
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

    /// A token no other command of this container has.
    fn token(&self) -> String {
        format!(
            "{:016x}{:x}",
            self.nonce,
            self.commands.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The container path of the workspace-relative directory `cwd`,
    /// resolved on the host like the local backend does (it must exist and
    /// stay inside, symlinks included).
    async fn container_cwd(&self, cwd: &str) -> Result<String, SandboxError> {
        let rel = self.workspace.working_dir(cwd).await?;
        let rel = rel.to_string_lossy();
        Ok(if rel.is_empty() {
            WORKSPACE.to_string()
        } else {
            format!("{WORKSPACE}/{rel}")
        })
    }

    /// The command environment: allowed host variables, the sandbox's, the
    /// network's, then the request's. Nothing else reaches the command.
    fn command_env(&self, request: &ExecRequest) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for name in &self.env_allow {
            match std::env::var(name) {
                Ok(value) => {
                    env.insert(name.clone(), value);
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    tracing::debug!(variable = %name, "not passing a host variable that is not UTF-8");
                }
                Err(std::env::VarError::NotPresent) => {}
            }
        }
        for (key, value) in self.env.iter().chain(&self.network_env).chain(&request.env) {
            env.insert(key.clone(), value.clone());
        }
        env
    }
}

impl fmt::Debug for DockerSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values of `env` may be secrets; show only the names.
        f.debug_struct("DockerSandbox")
            .field("id", &self.id)
            .field("container", &self.shared.container)
            .field("root", &self.workspace.root())
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("closed", &self.closed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Sandbox for DockerSandbox {
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
        let cwd = self
            .container_cwd(request.cwd.as_deref().unwrap_or_default())
            .await?;
        let launch = Launch {
            token: self.token(),
            cwd,
            env: self.command_env(&request),
            cpu_seconds: self.cpu_seconds,
        };
        let result = exec::run(&self.shared, request, launch).await;
        // A command cut short by `close` reports the closing, not the daemon.
        match result {
            Err(err) if self.closed.load(Ordering::SeqCst) && err.is_infrastructure() => {
                Err(SandboxError::Gone {
                    reason: format!(
                        "sandbox `{}` was closed while the command ran ({err})",
                        self.id
                    ),
                })
            }
            other => other,
        }
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

    /// Removes the container (killing everything in it) and deletes the
    /// workspace. Closing twice is not an error.
    async fn close(&self) -> Result<(), SandboxError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        drop(
            self.gate
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let teardown = self
            .teardown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match teardown {
            Some(teardown) => teardown.run(&self.shared.docker).await,
            None => Ok(()),
        }
    }
}
