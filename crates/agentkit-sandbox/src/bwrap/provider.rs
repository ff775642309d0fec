//! [`BwrapProvider`]: probes the host once, then clones each task's
//! repository host-side and runs its setup script inside the sandbox.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::environment::SnapshotRestore;
use agentkit_core::sandbox::{NetworkPolicy, Sandbox, SandboxError, SandboxProvider, SandboxSpec};
use async_trait::async_trait;

use super::cgroup::SandboxCgroup;
use super::disk::TmpfsMount;
use super::init::InitHelper;
use super::network::NetworkSetup;
use super::probe::BwrapProbe;
use super::sandbox::{BwrapSandbox, Owned, Plan, next_id};
use super::view::{self, HostEnv, ViewConfig};
use crate::local::limits::Rlimits;
use crate::local::provider::temp_dir;
use crate::net::{GateConfig, NetworkGate};
use crate::snapshot::{ScratchDir, SnapshotKey, SnapshotStore};

/// Creates [`BwrapSandbox`]es: a temp directory, a host-side clone of the
/// spec's repository in `<temp>/workspace` (hooks disabled, argv only, as
/// in the local backend), then the setup script **inside** the sandbox.
///
/// [`BwrapProvider::new`] probes the host once (bubblewrap present and
/// working, user namespaces, cgroups, root for the disk limit); the result
/// is [`BwrapProvider::probe`]. [`create`](SandboxProvider::create) refuses
/// any policy asking for something the probe found unavailable, with
/// [`SandboxError::Unsupported`]: it never runs with less isolation than
/// asked. See the [module docs](super) for what is isolated.
#[derive(Debug, Clone)]
pub struct BwrapProvider {
    probe: Arc<BwrapProbe>,
    init: Arc<InitHelper>,
    view: ViewConfig,
    temp_root: Option<PathBuf>,
    clone_timeout: Duration,
    snapshots: Option<SnapshotStore>,
}

impl BwrapProvider {
    /// Default time allowed for cloning and checking out: ten minutes.
    pub const DEFAULT_CLONE_TIMEOUT: Duration = crate::local::clone::DEFAULT_CLONE_TIMEOUT;

    /// Probes the host and returns a provider with the default view (an
    /// allow-list: system directories, a secret-free `/etc`, an empty home,
    /// and the toolchains from the agent's `RUSTUP_HOME`, `CARGO_HOME`
    /// (`bin`, `registry`, `git`) and `PYENV_ROOT` (or their defaults under
    /// `HOME`) bound read-only).
    ///
    /// Blocking (it runs a few test sandboxes, tens of milliseconds): make
    /// one provider at start-up and clone it. Fails with
    /// [`SandboxError::Unsupported`] when bubblewrap is missing or cannot
    /// create namespaces here, saying what to install or enable.
    pub fn new() -> Result<Self, SandboxError> {
        let init = InitHelper::install()?;
        let probe = BwrapProbe::detect(&init)?;
        tracing::info!(probe = %probe, "bwrap backend probed the host");
        Ok(Self {
            probe: Arc::new(probe),
            init: Arc::new(init),
            view: ViewConfig {
                env: HostEnv::from_process(),
                default_toolchains: true,
                read_only: Vec::new(),
                hidden: Vec::new(),
            },
            temp_root: None,
            clone_timeout: Self::DEFAULT_CLONE_TIMEOUT,
            snapshots: None,
        })
    }

    /// What the host lets this backend enforce.
    pub fn probe(&self) -> &BwrapProbe {
        &self.probe
    }

    /// Also makes `path` (an absolute host file or directory) visible
    /// read-only inside, at the same path, even inside the empty home. Paths
    /// that do not exist when a sandbox is made are skipped. A sandbox's
    /// policy can add more (`SandboxPolicy::read_only_paths`).
    #[must_use]
    pub fn with_read_only(mut self, path: impl Into<PathBuf>) -> Self {
        self.view.read_only.push(path.into());
        self
    }

    /// Drops the default toolchain directories; only paths given to
    /// [`with_read_only`](Self::with_read_only) are re-bound.
    #[must_use]
    pub fn without_default_toolchains(mut self) -> Self {
        self.view.default_toolchains = false;
        self
    }

    /// Also hides `path` (a host file or directory): covered by `/dev/null`
    /// or an empty read-only tmpfs, even inside a read-only path.
    #[must_use]
    pub fn with_hidden(mut self, path: impl Into<PathBuf>) -> Self {
        self.view.hidden.push(path.into());
        self
    }

    /// The paths re-bound read-only (before checking that they exist).
    pub fn read_only_paths(&self) -> Vec<PathBuf> {
        self.view.read_only_paths()
    }

    /// Creates workspaces under `root` instead of the system temp directory
    /// (it must exist).
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

    /// Keeps the workspace after a successful setup script in `store` and
    /// starts later sandboxes of the same repository, commit, setup and
    /// policy from it, without cloning or running the script (see
    /// [`crate::snapshot`]; the key includes the backend, so `local`
    /// snapshots are never reused here).
    #[must_use]
    pub fn with_snapshots(mut self, store: SnapshotStore) -> Self {
        self.snapshots = Some(store);
        self
    }

    /// A provider with a made-up probe (nothing is run), for tests of the
    /// policy check.
    #[cfg(test)]
    pub(crate) fn with_probe(probe: BwrapProbe) -> Self {
        Self {
            probe: Arc::new(probe),
            init: Arc::new(InitHelper::install().expect("the init helper installs")),
            view: ViewConfig {
                env: HostEnv::default(),
                default_toolchains: false,
                read_only: Vec::new(),
                hidden: Vec::new(),
            },
            temp_root: None,
            clone_timeout: Self::DEFAULT_CLONE_TIMEOUT,
            snapshots: None,
        }
    }

    /// Everything up to a ready sandbox but the setup script. `restore`
    /// names a snapshot to start from instead of a clone; the result says
    /// whether it was used (then the setup script must not run again).
    async fn build(
        &self,
        spec: &SandboxSpec,
        restore: Option<(SnapshotStore, SnapshotKey)>,
    ) -> Result<(BwrapSandbox, Option<SnapshotRestore>), SandboxError> {
        let network = self.probe.check(&spec.policy)?;
        let policy = &spec.policy;
        let temp = temp_dir("agentkit-bwrap-", self.temp_root.as_deref())?;
        let io = |path: &std::path::Path| {
            let shown = path.display().to_string();
            move |source| SandboxError::Io {
                path: shown,
                source,
            }
        };
        let root = temp.path().canonicalize().map_err(io(temp.path()))?;
        let workspace = root.join("workspace");
        std::fs::create_dir(&workspace).map_err(io(&workspace))?;
        let disk = match policy.limits.disk_bytes {
            Some(bytes) => Some(TmpfsMount::mount(&workspace, bytes).map_err(|source| {
                SandboxError::Unsupported {
                    what: "`limits.disk_bytes` in the bwrap backend".into(),
                    hint: format!(
                        "mounting a {bytes}-byte tmpfs at {} failed ({source}) though the probe could; check the agent still runs as root",
                        workspace.display()
                    ),
                }
            })?),
            None => None,
        };
        let id = next_id();
        let gate = match (&policy.network, network) {
            (NetworkPolicy::AllowList(hosts), NetworkSetup::Gated) => {
                Some(NetworkGate::start(hosts, GateConfig::default().label(id.clone())).await?)
            }
            _ => None,
        };
        let cgroup = if policy.limits.pids.is_some() || policy.limits.memory_bytes.is_some() {
            Some(Arc::new(SandboxCgroup::create(
                &self.probe.cgroups,
                &format!("agentkit-{id}"),
                &policy.limits,
            )?))
        } else {
            None
        };
        // From here on, dropping `owned` (or the sandbox) undoes all of it.
        let gate_view = gate
            .as_ref()
            .map(|gate| (gate.namespace().clone(), gate.env()));
        let mut owned = Owned {
            gate,
            cgroup: cgroup.clone(),
            disk,
            temp: Some(ScratchDir::new(temp)),
        };
        let fill = crate::setup::Fill {
            clone_timeout: self.clone_timeout,
            // A disk limit makes the workspace a tmpfs of its own: copy
            // into it, so that everything the sandbox sees counts.
            overlay: owned.disk.is_none(),
            inside: None,
        };
        let scratch = owned.temp.as_mut().ok_or_else(|| SandboxError::Setup {
            reason: "the bwrap sandbox's temp directory went away before its workspace was filled"
                .into(),
        })?;
        let warm =
            crate::setup::fill_workspace(spec, restore.as_ref(), scratch, &workspace, fill).await?;
        view::create_missing_hooks(&workspace, &policy.protected_paths)?;
        let mut mounts = self.view.mounts(
            workspace,
            self.init.path().to_path_buf(),
            &policy.read_only_paths,
        );
        mounts.writable.extend(spec.environment.cache_dir.clone());
        let plan = Plan {
            bwrap: self.probe.bwrap.clone(),
            mounts,
            _init: Arc::clone(&self.init),
            network,
            gate: gate_view,
            disable_userns: self.probe.nested_user_namespaces_blocked,
            tmpfs_bytes: policy.limits.disk_bytes,
            rlimits: Rlimits::from_policy(&agentkit_core::sandbox::ResourceLimits {
                cpu_seconds: policy.limits.cpu_seconds,
                ..Default::default()
            }),
            protected: policy.protected_paths.clone(),
            cgroup,
        };
        let sandbox = BwrapSandbox::new(id, plan, policy.clone(), spec.env.clone(), owned)?;
        Ok((sandbox, warm))
    }
}

#[async_trait]
impl SandboxProvider for BwrapProvider {
    fn name(&self) -> &str {
        "bwrap"
    }

    async fn create(&self, spec: &SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        // Refuse what cannot be enforced before doing any work.
        self.probe.check(&spec.policy)?;
        if let Some(network) = &spec.environment.setup_network {
            let mut setup = spec.policy.clone();
            setup.network = network.clone();
            self.probe.check(&setup)?;
        }
        let backend = crate::setup::Backend {
            name: "bwrap",
            store: self.snapshots.as_ref(),
            clone_timeout: self.clone_timeout,
            enforces_network: true,
            inside: None,
        };
        let sandbox = crate::setup::create(backend, spec, |spec, restore| async move {
            self.build(&spec, restore).await
        })
        .await?;
        let warm = sandbox.environment().is_some_and(|e| e.warm);
        tracing::info!(sandbox = sandbox.id(), repo = %spec.repo, warm, "bwrap sandbox ready");
        Ok(Arc::new(sandbox))
    }
}

#[cfg(test)]
mod tests {
    use agentkit_core::sandbox::ResourceLimits;

    use super::*;
    use crate::bwrap::probe::tests::bare_probe;

    #[tokio::test]
    async fn create_refuses_an_unenforceable_policy_before_touching_anything() {
        let root = tempfile::tempdir().unwrap();
        let provider = BwrapProvider::with_probe(bare_probe()).with_temp_root(root.path());
        let mut spec = SandboxSpec::new("/nonexistent/repository");
        spec.policy.limits = ResourceLimits {
            memory_bytes: Some(1 << 30),
            ..ResourceLimits::default()
        };
        let Err(err) = provider.create(&spec).await else {
            panic!("a policy the host cannot enforce made a sandbox");
        };
        assert!(
            matches!(&err, SandboxError::Unsupported { what, hint }
                if what == "`limits.memory_bytes` in the bwrap backend"
                    && hint == "no memory cgroup on this test host"),
            "{err:?}"
        );
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
