//! [`DockerProvider`]: connects to the daemon, probes it, and makes a
//! container per sandbox.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agentkit_core::environment::SnapshotRestore;
use agentkit_core::sandbox::{ResourceLimits, Sandbox, SandboxError, SandboxProvider, SandboxSpec};
use async_trait::async_trait;
use bollard::Docker;
use bollard::query_parameters::CreateContainerOptions;

use super::binds::{self, HostBind};
use super::container::{self, ContainerPlan};
use super::daemon::{self, Support};
use super::exec::Shared;
use super::helper::{CONTROL_DIR, Control, WORKSPACE};
use super::network;
use super::sandbox::{DockerSandbox, Parts};
use super::teardown::Teardown;
use crate::local::provider::temp_dir;
use crate::net::{GateConfig, NetNamespace, NetworkGate};
use crate::snapshot::{ScratchDir, SnapshotKey, SnapshotStore};

/// Creates [`DockerSandbox`]es: a host-side clone of the spec's repository
/// (exactly like the local backend: hooks disabled, argv only), a container
/// with that workspace bind-mounted, then the setup script inside it.
///
/// Build one with [`DockerProvider::builder`] (or
/// [`from_env`](Self::from_env)); connecting probes the daemon and the image
/// and fails loudly when either is missing. [`create`](SandboxProvider::create)
/// refuses, with [`SandboxError::Unsupported`], any policy the daemon cannot
/// enforce. See the [module docs](super) for what is isolated.
#[derive(Debug, Clone)]
pub struct DockerProvider {
    docker: Docker,
    host: String,
    image: String,
    host_binds: Vec<HostBind>,
    defaults: ResourceLimits,
    cpus: Option<f64>,
    full_network: String,
    temp_root: Option<PathBuf>,
    clone_timeout: Duration,
    user: String,
    support: Support,
    /// Whether allow-lists can be enforced (why not, otherwise).
    can_gate: Result<(), String>,
    snapshots: Option<SnapshotStore>,
    /// With [`DockerProviderBuilder::host_toolchains`]: the home directory
    /// made a writable tmpfs under the toolchain binds.
    toolchain_home: Option<PathBuf>,
}

/// Configures a [`DockerProvider`]; [`connect`](Self::connect) builds it.
#[derive(Debug, Clone)]
#[must_use]
pub struct DockerProviderBuilder {
    host: Option<String>,
    image: String,
    host_binds: Vec<HostBind>,
    defaults: ResourceLimits,
    cpus: Option<f64>,
    full_network: Option<String>,
    temp_root: Option<PathBuf>,
    clone_timeout: Duration,
    user: Option<String>,
    snapshots: Option<SnapshotStore>,
    toolchains: bool,
}

impl DockerProvider {
    /// The image `.ci/docker.sh` builds (a skeleton for the host binds).
    pub const DEFAULT_IMAGE: &'static str = "agentkit-sandbox:local";

    /// Default time allowed for each git step of the clone: ten minutes.
    pub const DEFAULT_CLONE_TIMEOUT: Duration = crate::local::clone::DEFAULT_CLONE_TIMEOUT;

    /// A builder for sandboxes from `image`, with the
    /// [default host binds](super::default_host_binds).
    pub fn builder(image: impl Into<String>) -> DockerProviderBuilder {
        DockerProviderBuilder {
            host: None,
            image: image.into(),
            host_binds: binds::default_host_binds(),
            defaults: ResourceLimits::default(),
            cpus: None,
            full_network: None,
            temp_root: None,
            clone_timeout: Self::DEFAULT_CLONE_TIMEOUT,
            snapshots: None,
            toolchains: false,
            user: None,
        }
    }

    /// Connects with the defaults: the image named by
    /// `AGENTKIT_DOCKER_IMAGE` (else [`DEFAULT_IMAGE`](Self::DEFAULT_IMAGE)),
    /// the daemon named by `DOCKER_HOST` (else `/var/run/docker.sock`), the
    /// default host binds, no default limits.
    pub async fn from_env() -> Result<Self, SandboxError> {
        Self::builder_from_env().connect().await
    }

    /// A builder for the image named by `AGENTKIT_DOCKER_IMAGE` (else
    /// [`DEFAULT_IMAGE`](Self::DEFAULT_IMAGE)), to adjust before connecting.
    pub fn builder_from_env() -> DockerProviderBuilder {
        let image = std::env::var("AGENTKIT_DOCKER_IMAGE")
            .ok()
            .filter(|image| !image.is_empty())
            .unwrap_or_else(|| Self::DEFAULT_IMAGE.to_string());
        Self::builder(image)
    }

    /// The image sandboxes are made from.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The network mode `NetworkPolicy::Full` gets (`bridge` or `host`
    /// unless configured; see the [module docs](super)).
    pub fn full_network_mode(&self) -> &str {
        &self.full_network
    }

    /// The daemon's version, as it reports it.
    pub fn server_version(&self) -> &str {
        &self.support.server_version
    }
}

impl DockerProviderBuilder {
    /// The daemon's unix socket (`unix:///run/docker.sock` or a plain path).
    /// Default: `DOCKER_HOST`, else `unix:///var/run/docker.sock`. The daemon
    /// must run on this machine (the workspace is a host directory).
    pub fn docker_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Replaces the host binds (mounted read-only into every container).
    /// Give an empty list for a self-contained image.
    pub fn host_binds(mut self, binds: Vec<HostBind>) -> Self {
        self.host_binds = binds;
        self
    }

    /// Adds one read-only host bind (a toolchain, a cache, ...).
    pub fn bind(mut self, bind: HostBind) -> Self {
        self.host_binds.push(bind);
        self
    }

    /// Limits for sandboxes whose policy leaves them unset.
    pub fn default_limits(mut self, limits: ResourceLimits) -> Self {
        self.defaults = limits;
        self
    }

    /// A CPU quota for every container (`1.5` = one and a half CPUs).
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// The network mode for `NetworkPolicy::Full` (a network name, `bridge`
    /// or `host`). Default: `bridge` when the daemon has it, else `host`.
    pub fn full_network_mode(mut self, mode: impl Into<String>) -> Self {
        self.full_network = Some(mode.into());
        self
    }

    /// Creates workspaces under `root` instead of the system temp directory.
    pub fn temp_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.temp_root = Some(root.into());
        self
    }

    /// The limit for each git step of the clone.
    pub fn clone_timeout(mut self, limit: Duration) -> Self {
        self.clone_timeout = limit;
        self
    }

    /// Keeps the workspace after a successful setup script in `store` and
    /// starts later sandboxes of the same repository, commit, setup and
    /// policy from it, without cloning or running the script (see
    /// [`crate::snapshot`]). The container's root filesystem is read-only,
    /// so the workspace is all a setup script can leave behind: there is no
    /// image to commit.
    pub fn snapshots(mut self, store: SnapshotStore) -> Self {
        self.snapshots = Some(store);
        self
    }

    /// Mounts the host's toolchains read-only, as the bwrap backend does by
    /// default: rustup's home, cargo's `bin`, `registry` and `git` (never its
    /// credentials), pyenv's root, over a writable tmpfs home (cargo takes
    /// its locks there), so that `cargo test --offline` and the like run
    /// inside. Paths come from `HOME`, `RUSTUP_HOME`, `CARGO_HOME`,
    /// `PYENV_ROOT`; missing ones are skipped. Commands can read them.
    pub fn host_toolchains(mut self) -> Self {
        self.toolchains = true;
        self
    }

    /// `uid:gid` commands run as. Default: this process's effective ids, so
    /// files in the workspace keep one owner on both sides.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Connects and probes: the daemon answers, the image is there, the host
    /// binds exist, and the default limits can be enforced.
    pub async fn connect(self) -> Result<DockerProvider, SandboxError> {
        let host = self
            .host
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| daemon::DEFAULT_HOST.to_string());
        let docker = daemon::connect(&host).await?;
        let support = daemon::probe(&docker, &host).await?;
        match docker.inspect_image(&self.image).await {
            Ok(_) => {}
            Err(err) if daemon::status(&err) == Some(404) => {
                return Err(missing_image(&self.image, &host));
            }
            Err(err) => {
                return Err(SandboxError::Unsupported {
                    what: format!("the sandbox image `{}`", self.image),
                    hint: format!(
                        "the Docker daemon could not inspect it: {}",
                        daemon::message(&err)
                    ),
                });
            }
        }
        let mut host_binds = self.host_binds;
        let mut toolchain_home = None;
        if self.toolchains {
            let env = crate::toolchains::HostEnv::from_process();
            toolchain_home = env.home.clone().filter(|home| home.is_dir());
            host_binds.extend(
                env.toolchains()
                    .into_iter()
                    .filter(|dir| dir.is_dir())
                    .map(HostBind::same),
            );
        }
        binds::check_host_binds(&host_binds)?;
        container::limits(
            &ResourceLimits::default(),
            &self.defaults,
            self.cpus,
            &support,
        )?;
        let full_network = self.full_network.unwrap_or_else(|| {
            if support.bridge_network {
                "bridge".into()
            } else {
                "host".into()
            }
        });
        // SAFETY: geteuid and getegid only read the process's credentials.
        let user = self
            .user
            .unwrap_or_else(|| unsafe { format!("{}:{}", libc::geteuid(), libc::getegid()) });
        if !support.seccomp {
            tracing::warn!(
                host = %host,
                "the Docker daemon applies no seccomp profile: containers get the whole syscall \
                 surface of the kernel; run dockerd with its default profile"
            );
        }
        tracing::info!(
            host = %host,
            server = %support.server_version,
            api = %support.api_version,
            image = %self.image,
            full_network = %full_network,
            "docker sandbox provider connected"
        );
        let can_gate = network::can_gate().await;
        Ok(DockerProvider {
            docker,
            host,
            image: self.image,
            host_binds,
            defaults: self.defaults,
            cpus: self.cpus,
            full_network,
            temp_root: self.temp_root,
            clone_timeout: self.clone_timeout,
            user,
            support,
            can_gate,
            snapshots: self.snapshots,
            toolchain_home,
        })
    }
}

fn missing_image(image: &str, host: &str) -> SandboxError {
    SandboxError::Unsupported {
        what: format!("the sandbox image `{image}` on the Docker daemon at `{host}`"),
        hint: "it is not there; build the default one without a registry with \
               `eval \"$(.ci/docker.sh start)\"` (it prints AGENTKIT_DOCKER_IMAGE), or name an \
               image that has perl (Debian's perl-base) and a shell"
            .into(),
    }
}

#[async_trait]
impl SandboxProvider for DockerProvider {
    fn name(&self) -> &str {
        "docker"
    }

    async fn create(&self, spec: &SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        // Refuse what cannot be enforced before doing any work.
        network::plan(&spec.policy.network, &self.full_network, &self.can_gate)?;
        if let Some(setup) = &spec.environment.setup_network {
            network::plan(setup, &self.full_network, &self.can_gate)?;
        }
        let name = format!("docker:{}", self.image);
        let backend = crate::setup::Backend {
            name: &name,
            store: self.snapshots.as_ref(),
            clone_timeout: self.clone_timeout,
            enforces_network: true,
            inside: Some(Path::new(WORKSPACE)),
        };
        let sandbox = crate::setup::create(backend, spec, |spec, restore| async move {
            self.build(&spec, restore).await
        })
        .await?;
        tracing::info!(sandbox = sandbox.id(), container = sandbox.container_id(), repo = %spec.repo, "docker sandbox ready");
        Ok(Arc::new(sandbox))
    }
}

impl DockerProvider {
    /// A started container for `spec` with its workspace cloned, or copied
    /// from the snapshot `restore` names (the result says whether it was).
    async fn build(
        &self,
        spec: &SandboxSpec,
        restore: Option<(SnapshotStore, SnapshotKey)>,
    ) -> Result<(DockerSandbox, Option<SnapshotRestore>), SandboxError> {
        let limits = container::limits(
            &spec.policy.limits,
            &self.defaults,
            self.cpus,
            &self.support,
        )?;
        let network = network::plan(&spec.policy.network, &self.full_network, &self.can_gate)?;
        // The policy's extra read-only paths, checked like the provider's own.
        let policy_binds: Vec<HostBind> = spec
            .policy
            .read_only_paths
            .iter()
            .map(HostBind::same)
            .collect();
        binds::check_host_binds(&policy_binds)?;

        let mut scratch = ScratchDir::new(temp_dir("agentkit-docker-", self.temp_root.as_deref())?);
        let workspace = scratch.path().join("workspace");
        let fill = crate::setup::Fill {
            clone_timeout: self.clone_timeout,
            // The daemon binds the workspace; it may not see host mounts
            // (another mount namespace, a remote host): copy.
            overlay: false,
            inside: Some(Path::new(WORKSPACE)),
        };
        let warm =
            crate::setup::fill_workspace(spec, restore.as_ref(), &mut scratch, &workspace, fill)
                .await?;
        let temp = scratch.into_temp();
        let root = std::fs::canonicalize(&workspace).map_err(|source| SandboxError::Io {
            path: workspace.display().to_string(),
            source,
        })?;
        let protected = binds::protected_mounts(&root, &spec.policy.protected_paths)?;
        let control_dir = temp.path().join("control");
        let control = Control::install(control_dir.clone()).map_err(|source| SandboxError::Io {
            path: control_dir.display().to_string(),
            source,
        })?;

        let mut mounts: Vec<_> = self
            .host_binds
            .iter()
            .chain(&policy_binds)
            .map(|bind| binds::read_only(&bind.source, &bind.target.display().to_string()))
            .collect();
        mounts.push(binds::read_write(&root, WORKSPACE));
        if let Some(cache) = &spec.environment.cache_dir {
            mounts.push(binds::read_write(cache, &cache.display().to_string()));
        }
        mounts.extend(
            protected
                .iter()
                .map(|(source, target)| binds::read_only(source, target)),
        );
        mounts.push(binds::read_only(control.dir(), CONTROL_DIR));

        let id = next_id();
        let plan = ContainerPlan {
            image: self.image.clone(),
            user: self.user.clone(),
            labels: HashMap::from([
                ("agentkit.sandbox".to_string(), id.clone()),
                ("agentkit.pid".to_string(), std::process::id().to_string()),
            ]),
            mounts,
            network_mode: network.mode.clone(),
            limits,
            tmpfs: self
                .toolchain_home
                .iter()
                .map(|h| h.display().to_string())
                .collect(),
        };
        let name = format!("agentkit-{id}");
        // From here on the container (by its name, before it even exists)
        // and the temp directory go however this ends: an error, a panic,
        // this future dropped half-way.
        let mut teardown = Teardown::new(self.host.clone(), name.clone(), temp);
        let options = CreateContainerOptions {
            name: Some(name),
            platform: String::new(),
        };
        teardown.in_flight(true);
        let created = self
            .docker
            .create_container(Some(options), plan.body())
            .await;
        teardown.in_flight(false);
        let created = match created {
            Ok(created) => created,
            Err(err) => {
                let error = create_error(&self.image, &self.host, &err);
                clean_up(teardown, &self.docker).await;
                return Err(error);
            }
        };
        if let Err(err) = self.docker.start_container(&created.id, None).await {
            let error = start_error(&self.image, &err);
            clean_up(teardown, &self.docker).await;
            return Err(error);
        }
        let gate = match &network.gate {
            Some(hosts) => match self.gate(&created.id, &id, hosts).await {
                Ok(gate) => Some(gate),
                Err(error) => {
                    clean_up(teardown, &self.docker).await;
                    return Err(error);
                }
            },
            None => None,
        };
        let network_env = gate.as_ref().map(NetworkGate::env).unwrap_or_default();
        let sandbox = DockerSandbox::new(Parts {
            id,
            shared: Arc::new(Shared {
                docker: self.docker.clone(),
                container: created.id,
                control,
            }),
            root,
            policy: spec.policy.clone(),
            env: spec.env.clone(),
            network_env,
            gate,
            cpu_seconds: limits.cpu_seconds,
            teardown,
        })?;
        Ok((sandbox, warm))
    }
}

impl DockerProvider {
    /// Starts the allow-list gate in the network namespace of `container`'s
    /// init process.
    async fn gate(
        &self,
        container: &str,
        id: &str,
        hosts: &[String],
    ) -> Result<NetworkGate, SandboxError> {
        let inspect = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|err| daemon::sandbox_call(container, "inspect the container", &err))?;
        let pid = inspect
            .state
            .and_then(|state| state.pid)
            .and_then(|pid| u32::try_from(pid).ok())
            .filter(|pid| *pid > 0)
            .ok_or_else(|| SandboxError::Setup {
                reason: format!(
                    "container `{container}` has no running init process to attach the allow-list proxy to"
                ),
            })?;
        let namespace = tokio::task::spawn_blocking(move || NetNamespace::of_process(pid))
            .await
            .map_err(|err| SandboxError::Setup {
                reason: format!("opening the container's network namespace failed: {err}"),
            })??;
        NetworkGate::start_in(namespace, hosts, GateConfig::default().label(id)).await
    }
}

/// Removes what a failed `create` made; a failure to do so is only logged
/// (the caller reports the original error).
async fn clean_up(teardown: Teardown, docker: &Docker) {
    if let Err(err) = teardown.run(docker).await {
        tracing::warn!(error = %err, "cleaning up after a failed create failed");
    }
}

fn next_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // The random part keeps container names unique across reused pids.
    let salt = RandomState::new().hash_one(n) & 0xffff;
    format!("docker-{}-{n}-{salt:04x}", std::process::id())
}

fn create_error(image: &str, host: &str, err: &bollard::errors::Error) -> SandboxError {
    match daemon::status(err) {
        Some(404) => missing_image(image, host),
        _ => SandboxError::Setup {
            reason: format!(
                "the Docker daemon refused to create the sandbox's container: {}",
                daemon::message(err)
            ),
        },
    }
}

fn start_error(image: &str, err: &bollard::errors::Error) -> SandboxError {
    let message = daemon::message(err);
    if message.contains("executable file not found") || message.contains("no such file") {
        return SandboxError::Unsupported {
            what: format!("perl in the sandbox image `{image}`"),
            hint: format!(
                "the container's init is a perl script and perl could not be started ({message}); \
                 use an image with perl (Debian's perl-base), or the default host binds of /usr"
            ),
        };
    }
    SandboxError::Setup {
        reason: format!("the sandbox's container did not start: {message}"),
    }
}
