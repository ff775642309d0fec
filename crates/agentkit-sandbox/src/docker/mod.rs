//! The `docker` backend (cargo feature `docker`): every sandbox is its own
//! container, driven through the Docker Engine API.
//!
//! # What it does
//!
//! - [`DockerProvider::builder`] (or [`DockerProvider::from_env`]) connects
//!   to the daemon's unix socket and **refuses loudly** when the daemon does
//!   not answer or the image is missing (with how to build it).
//! - [`create`](agentkit_core::sandbox::SandboxProvider::create) clones the
//!   spec's repository on the host exactly like the local backend (host git,
//!   argv only, hooks disabled, `ext::` refused) into a temp directory,
//!   starts a container with that workspace bind-mounted read-write at
//!   `/workspace`, and runs the setup script inside it. It refuses, with
//!   [`SandboxError::Unsupported`](agentkit_core::sandbox::SandboxError::Unsupported),
//!   any policy the daemon cannot enforce (memory without swap accounting,
//!   pids without the pids cgroup, a disk limit, a network allow-list where
//!   network namespaces cannot be entered).
//! - `exec` runs each command through the Docker exec API under a small
//!   wrapper (perl, see `helper.rs`) with an environment that **starts
//!   empty**: the host variables named in `policy.env_allow`, the spec's
//!   `env`, the request's. stdin is written then closed; stdout and stderr
//!   are captured with the local backend's head-and-tail cap; the exit code
//!   is read from the daemon only after the output is drained. On timeout,
//!   on cancellation (the future dropped) and on close, the command's
//!   **whole process tree** dies — background jobs, grandchildren, `nohup`,
//!   double forks and `setsid` included (the wrapper is a child subreaper,
//!   so nothing the command starts can leave its tree while it lives). A
//!   command killed by a signal reports the signal; a missing program is
//!   [`SandboxError::Spawn`](agentkit_core::sandbox::SandboxError::Spawn).
//! - The file operations run on the host side of the workspace, resolved
//!   beneath it like every backend's ([`crate::workspace`]): `..`, absolute
//!   paths and symlinks leading out are refused, and the protected paths
//!   cannot be written.
//! - [`close`](agentkit_core::sandbox::Sandbox::close) removes the container
//!   (everything in it dies) and deletes the workspace. Dropping a sandbox
//!   that was not closed does the same, synchronously on a helper thread, so
//!   a panicking test leaks nothing. Containers carry the label
//!   `agentkit.sandbox=<id>`.
//!
//! # What it isolates
//!
//! - **Filesystem.** The root filesystem is read-only. Writable: the
//!   workspace, a private tmpfs `/tmp` (capped at the memory limit, else
//!   1 GiB), `/dev/shm`. The policy's protected paths (`.git/hooks`,
//!   `.git/config`) are bind-mounted **read-only on top of the workspace**,
//!   so commands cannot write, replace, rename or remove them (a missing one
//!   is created empty first; one that is a symlink in the repository is
//!   refused). Nothing else of the host is visible except the host binds.
//! - **Processes.** Own PID namespace: host processes are invisible and out
//!   of reach. No capabilities at all (`cap_drop: ALL`), `no-new-privileges`
//!   (set-uid binaries do not elevate), the daemon's default seccomp
//!   profile, no `mount`.
//! - **Network.** `NetworkPolicy::Deny` → network mode `none`: only the
//!   container's own loopback, nothing leaves it (the host's 127.0.0.1
//!   included). `NetworkPolicy::Full` → the `bridge` network when the daemon
//!   has one, else **the host's network namespace** (`host`): with
//!   `dockerd --bridge=none`, as `.ci/docker.sh` runs it, `Full` means the
//!   host's interfaces, its loopback services and its abstract unix sockets
//!   are all reachable. `NetworkPolicy::AllowList` → network mode `none`,
//!   then the allow-list proxy ([`crate::net::NetworkGate`]) listens inside
//!   the container's namespace and commands get its address: listed hosts
//!   only, through the host (needs a daemon on this machine and the right
//!   to enter its namespaces; refused otherwise).
//! - **Limits.** `memory_bytes` → memory cgroup with memory + swap equal
//!   (the whole container, `/tmp` included); `pids` → pids cgroup (the whole
//!   container, root included); `cpu_seconds` → `RLIMIT_CPU` per command;
//!   the provider's [`cpus`](DockerProviderBuilder::cpus) → a CFS quota.
//!   `disk_bytes` is refused: the workspace is a host directory and the
//!   daemon's storage quotas do not cover bind mounts.
//! - **Secrets.** The host environment is dropped (only allow-listed
//!   variables pass), and the host's home, `/etc/shadow`, SSH keys and the
//!   like are not mounted.
//!
//! # What it does NOT isolate
//!
//! - **The kernel is shared.** A container is namespaces, cgroups, seccomp
//!   and dropped capabilities on the host's kernel; a kernel exploit escapes
//!   it. For hostile code that may carry kernel exploits, run the daemon in
//!   a VM (or a gVisor/Kata runtime). A daemon without a seccomp profile
//!   (the provider warns) leaves the whole syscall surface open.
//! - **Root inside.** Commands run as this process's uid:gid (root when the
//!   worker runs as root, as in CI) — root **without capabilities**, which
//!   owns the writable places anyway. There is no user namespace unless the
//!   daemon is configured with `userns-remap`. (A worker with another uid
//!   has no `/etc/passwd` entry in the default image; programs that look
//!   the user up, such as `whoami`, fail.)
//! - **The host binds are readable.** By default the host's `/usr` (every
//!   installed program and library, `/usr/local` included), `/bin`, `/sbin`
//!   and `/lib*` where they are real directories, and a secret-free part of
//!   `/etc` (`ld.so.cache`, `ssl/certs` — never `ssl/private` —,
//!   `ca-certificates`, `alternatives`, `nsswitch.conf`, `services`,
//!   `protocols`, `localtime`, `timezone`, `mime.types`, `os-release`) are
//!   mounted **read-only** (see
//!   [`default_host_binds`]). Read-only binds are not recursive: a mount
//!   *under* `/usr` on the host would stay writable inside. Do not put
//!   secrets there.
//! - **Kernel facts.** `/proc/cpuinfo`, `/proc/version`, the host's
//!   hostname under `Full` = `host`, and so on.
//! - **A command that kills its own wrapper** and detaches (`setsid`) from
//!   its process tree survives its timeout until the sandbox is closed.
//! - **Disk.** A command can fill the host filesystem holding the workspace.
//!
//! # The image and the daemon
//!
//! The default image `agentkit-sandbox:local` is built **without a
//! registry** by `.ci/docker.sh start`: `docker import` of a skeleton (the
//! host's merged-`/usr` symlinks, `/etc/passwd` and `/etc/group` with root
//! and nobody, empty mount points); the programs come from the host binds.
//! The same script starts a private `dockerd --bridge=none --iptables=false
//! --ip6tables=false` (overlay2 where an overlay mount works, vfs
//! otherwise) and prints `DOCKER_HOST` and `AGENTKIT_DOCKER_IMAGE`:
//!
//! ```sh
//! eval "$(.ci/docker.sh start)"
//! cargo test -p agentkit-sandbox --features docker --test conformance_docker
//! ```
//!
//! Any image works that has perl (Debian's `perl-base`: the helper) and a
//! shell; with a self-contained image give
//! [`host_binds(Vec::new())`](DockerProviderBuilder::host_binds).
//!
//! # Example
//!
//! ```no_run
//! use agentkit_core::sandbox::{ExecRequest, ResourceLimits, SandboxProvider, SandboxSpec};
//! use agentkit_sandbox::docker::DockerProvider;
//!
//! # async fn run() -> Result<(), agentkit_core::sandbox::SandboxError> {
//! let provider = DockerProvider::builder("agentkit-sandbox:local")
//!     .default_limits(ResourceLimits {
//!         memory_bytes: Some(2 << 30),
//!         pids: Some(512),
//!         ..ResourceLimits::default()
//!     })
//!     .connect()
//!     .await?; // fails here when the daemon or the image is missing
//! let sandbox = provider.create(&SandboxSpec::new("/path/to/repo")).await?;
//! let out = sandbox.exec(ExecRequest::script("git log --oneline | head -3")).await?;
//! println!("{}\n{}", out.status_line(), out.stdout.text);
//! sandbox.close().await?; // removes the container and the workspace
//! # Ok(())
//! # }
//! ```

mod binds;
mod container;
mod daemon;
mod exec;
mod helper;
mod network;
mod provider;
mod sandbox;
mod teardown;

pub use binds::{HostBind, default_host_binds};
pub use provider::{DockerProvider, DockerProviderBuilder};
pub use sandbox::DockerSandbox;
