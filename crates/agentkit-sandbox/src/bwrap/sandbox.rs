//! [`BwrapSandbox`]: a host workspace whose commands each run in their own
//! bubblewrap sandbox.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use agentkit_core::sandbox::{
    ExecOutput, ExecRequest, FileStat, Sandbox, SandboxError, SandboxPolicy,
};
use async_trait::async_trait;

use super::args::{Invocation, Mounts, bwrap_args};
use super::cgroup::CommandCgroup;
use super::cgroup::SandboxCgroup;
use super::disk::TmpfsMount;
use super::init::InitHelper;
use super::invocation::{self, Pending};
use super::network::NetworkSetup;
use super::report::{self, Verdict};
use super::view;
use crate::local::exec;
use crate::local::groups::LiveGroups;
use crate::local::limits::Rlimits;
use crate::workspace::SharedWorkspace;

/// A sandbox whose workspace is a host directory and whose every command is
/// a separate bubblewrap sandbox: an allow-listed, read-only view of the
/// host (system directories, a secret-free `/etc`, the toolchains), private
/// `/tmp` and home, no network (unless the policy says
/// `Full`), its own pid, IPC, UTS, user and cgroup namespaces, no
/// capabilities. Made by [`BwrapProvider`](super::BwrapProvider); see the
/// [module docs](super) for exactly what is and is not isolated.
///
/// File operations run host-side through the shared workspace file API (the
/// workspace (same containment rules as the `local` backend).
pub struct BwrapSandbox {
    id: String,
    workspace: SharedWorkspace,
    plan: Arc<Plan>,
    policy: SandboxPolicy,
    env: BTreeMap<String, String>,
    groups: LiveGroups,
    closed: AtomicBool,
    /// Host resources released on close or drop, in this order.
    owned: Mutex<Option<Owned>>,
    /// What making it found.
    environment: Option<agentkit_core::environment::EnvironmentReport>,
}

/// Everything a command needs that does not change for the sandbox's life.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) bwrap: PathBuf,
    /// Keeps the helper at `mounts.init` on disk while the sandbox lives.
    pub(crate) _init: Arc<InitHelper>,
    pub(crate) mounts: Mounts,
    pub(crate) network: NetworkSetup,
    /// With [`NetworkSetup::Gated`]: the gate's namespace, entered before
    /// bubblewrap starts, and the proxy variables every command gets.
    pub(crate) gate: Option<(crate::net::NetNamespace, BTreeMap<String, String>)>,
    pub(crate) disable_userns: bool,
    pub(crate) tmpfs_bytes: Option<u64>,
    pub(crate) rlimits: Rlimits,
    pub(crate) protected: Vec<String>,
    pub(crate) cgroup: Option<Arc<SandboxCgroup>>,
}

/// Host resources owned by a provider-made sandbox; released on
/// [`Owned::release`] or, failing that, on drop.
#[derive(Debug)]
pub(crate) struct Owned {
    /// The allow-list proxy; dropping it stops the proxy and cuts its connections.
    pub(crate) gate: Option<crate::net::NetworkGate>,
    pub(crate) cgroup: Option<Arc<SandboxCgroup>>,
    pub(crate) disk: Option<TmpfsMount>,
    pub(crate) temp: Option<crate::snapshot::ScratchDir>,
}

impl Owned {
    /// Removes the cgroups (killing what is left in them), unmounts the
    /// workspace tmpfs, deletes the temp directory, in that order.
    /// Blocking; idempotent.
    fn release(&mut self) -> Result<(), SandboxError> {
        drop(self.gate.take());
        if let Some(cgroup) = self.cgroup.take() {
            cgroup.remove();
        }
        if let Some(mut disk) = self.disk.take() {
            disk.unmount().map_err(|source| SandboxError::Io {
                path: disk.path().display().to_string(),
                source,
            })?;
        }
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        let shown = temp.path().display().to_string();
        temp.close().map_err(|source| SandboxError::Io {
            path: shown,
            source,
        })
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Err(err) = self.release() {
            tracing::warn!(error = %err, "cleaning up a bwrap sandbox failed");
        }
    }
}

impl crate::setup::Prepared for BwrapSandbox {
    fn environment_slot(&mut self) -> &mut Option<agentkit_core::environment::EnvironmentReport> {
        &mut self.environment
    }
}

impl BwrapSandbox {
    /// Wraps the prepared workspace `plan.mounts.workspace`; `id` comes
    /// from [`next_id`].
    pub(crate) fn new(
        id: String,
        plan: Plan,
        policy: SandboxPolicy,
        env: BTreeMap<String, String>,
        owned: Owned,
    ) -> Result<BwrapSandbox, SandboxError> {
        let workspace = SharedWorkspace::open(&plan.mounts.workspace, &policy.protected_paths)?;
        Ok(BwrapSandbox {
            id,
            workspace,
            plan: Arc::new(plan),
            policy,
            env,
            groups: LiveGroups::default(),
            closed: AtomicBool::new(false),
            owned: Mutex::new(Some(owned)),
            environment: None,
        })
    }

    /// The workspace root on the host (the same path inside).
    pub fn root(&self) -> &Path {
        &self.plan.mounts.workspace
    }

    /// The policy this sandbox enforces.
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
    /// then the request's (as in the local backend).
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
        // The proxy's address last: a command cannot point itself elsewhere
        // by accident (and there is no other way out on purpose).
        if let Some((_, proxy_env)) = &self.plan.gate {
            for (key, value) in proxy_env {
                env.insert(OsString::from(key), OsString::from(value));
            }
        }
        env
    }
}

impl fmt::Debug for BwrapSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values of `env` may be secrets; show only the names.
        f.debug_struct("BwrapSandbox")
            .field("id", &self.id)
            .field("root", &self.plan.mounts.workspace)
            .field("policy", &self.policy)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("closed", &self.closed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Sandbox for BwrapSandbox {
    fn id(&self) -> &str {
        &self.id
    }

    fn host_workspace(&self) -> Option<&Path> {
        Some(&self.plan.mounts.workspace)
    }

    fn environment(&self) -> Option<&agentkit_core::environment::EnvironmentReport> {
        self.environment.as_ref()
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, SandboxError> {
        self.ensure_open()?;
        let (program, args) = exec::program_and_args(&request.command)?;
        let env = Arc::new(self.command_env(&request));
        let cwd = request.cwd.clone().unwrap_or_default();
        let dir = self.root().join(self.workspace.working_dir(&cwd).await?);
        let plan = Arc::clone(&self.plan);
        let (command, pending, cgroup) = {
            let env = Arc::clone(&env);
            let program = program.clone();
            tokio::task::spawn_blocking(move || prepare(&plan, dir, &env, &program, &args))
                .await
                .map_err(|err| SandboxError::Spawn {
                    reason: format!("preparing the sandbox for the command failed: {err}"),
                })??
        };
        let bwrap = &self.plan.bwrap;
        let raw = exec::supervise(command, request, &self.groups, |err| {
            bwrap_failed(bwrap, err)
        })
        .await;
        let report = pending.report().await;
        if let Some(cgroup) = cgroup {
            cgroup.finish().await;
        }
        match report::interpret(raw?, report) {
            Verdict::Ran(output) => Ok(output),
            Verdict::NotStarted(errno) => Err(exec::spawn_error(
                &program,
                &env,
                io::Error::from_raw_os_error(errno),
            )),
            Verdict::SetupFailed(reason) => Err(SandboxError::Spawn { reason }),
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

    /// Kills running commands (their whole namespaces), removes the cgroups,
    /// unmounts the workspace tmpfs and deletes the temp directory. Closing
    /// twice is not an error.
    async fn close(&self) -> Result<(), SandboxError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.groups.kill_all();
        let owned = self
            .owned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut owned) = owned else {
            return Ok(());
        };
        let shown = self.plan.mounts.workspace.display().to_string();
        tokio::task::spawn_blocking(move || owned.release())
            .await
            .map_err(|err| SandboxError::Io {
                path: shown,
                source: io::Error::other(format!("the cleanup task failed: {err}")),
            })?
    }
}

impl Drop for BwrapSandbox {
    /// Kills running commands; `Owned`'s own drop then releases the host
    /// resources.
    fn drop(&mut self) {
        self.groups.kill_all();
    }
}

/// Host-side preparation of one command (blocking): the working directory,
/// the protected paths as they are now, the command's cgroup, the
/// bubblewrap process.
fn prepare(
    plan: &Plan,
    dir: PathBuf,
    env: &BTreeMap<OsString, OsString>,
    program: &OsString,
    args: &[String],
) -> Result<(std::process::Command, Pending, Option<CommandCgroup>), SandboxError> {
    if let Some(name) = env.iter().find_map(|(k, v)| {
        let bad = k.is_empty()
            || k.as_bytes().iter().any(|b| *b == b'=' || *b == 0)
            || v.as_bytes().contains(&0);
        bad.then(|| k.to_string_lossy().into_owned())
    }) {
        return Err(SandboxError::Spawn {
            reason: format!(
                "environment variable `{name}` has an empty name, or a `=` or NUL byte in its name or a NUL byte in its value; fix the variable"
            ),
        });
    }
    let workspace = &plan.mounts.workspace;
    let (pinned, protected) = view::protected_mounts(workspace, &plan.protected)?;
    let mounts = Mounts {
        pinned,
        protected,
        ..plan.mounts.clone()
    };
    let cgroup = plan.cgroup.as_ref().map(|c| c.command()).transpose()?;
    let procs = cgroup.as_ref().map(|c| c.procs_fds()).unwrap_or_default();
    let (command, pending) = invocation::prepare(
        &plan.bwrap,
        |fd| {
            bwrap_args(&Invocation {
                mounts: &mounts,
                network: plan.network,
                disable_userns: plan.disable_userns,
                tmpfs_bytes: plan.tmpfs_bytes,
                cwd: &dir,
                env,
                status_fd: fd,
                program,
                args,
            })
        },
        procs,
        plan.rlimits,
    )
    .map_err(|err| SandboxError::Spawn {
        reason: format!("could not prepare the bubblewrap invocation: {err}"),
    })?;
    let mut command = command;
    if let Some((namespace, _)) = &plan.gate {
        // bubblewrap starts inside the gate's namespace, or not at all.
        namespace.enter_on_spawn(&mut command);
    }
    Ok((command, pending, cgroup))
}

fn bwrap_failed(bwrap: &Path, err: io::Error) -> SandboxError {
    let reason = match err.kind() {
        io::ErrorKind::NotFound => format!(
            "bubblewrap is gone from {} since the provider probed it; reinstall it",
            bwrap.display()
        ),
        _ => format!(
            "could not start bubblewrap ({}): {err} (joining the command's cgroup or handing over descriptors failed)",
            bwrap.display()
        ),
    };
    SandboxError::Spawn { reason }
}

/// A unique sandbox id (`bwrap-<pid>-<n>`), also naming its cgroups.
pub(crate) fn next_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "bwrap-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
