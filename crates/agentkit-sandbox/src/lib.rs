//! # agentkit-sandbox
//!
//! Sandbox backends for agentkit: implementations of
//! [`SandboxProvider`](agentkit_core::sandbox::SandboxProvider) and
//! [`Sandbox`](agentkit_core::sandbox::Sandbox), the place where an agent's
//! commands run and its files live.
//!
//! - [`local`]: the workspace is a temp directory on the host and commands
//!   are host processes. Process groups, timeouts, output caps, an empty
//!   environment and path containment for the file API, but **no
//!   isolation** (network, filesystem, processes): read the
//!   [module docs](local) before using it for untrusted work.
//! - [`auto`]: the strongest backend this host supports (`bwrap`, else
//!   `docker`, else `local` with a loud warning), or one named backend.
//! - [`snapshot`]: warm starts — the workspace after a successful setup
//!   script, kept and copied into later sandboxes of the same repository,
//!   commit and setup.
//! - [`setup`]: the environment a repository needs — the setup script
//!   (with its own variables and network), per-repository dependency
//!   caches, the toolchain report every sandbox carries.
//! - `net` (Linux): network namespaces and the allow-list proxy that
//!   isolating backends use to enforce the sandbox's network policy; its
//!   module docs state the threat model.
//! - [`workspace`]: [`HostWorkspace`](workspace::HostWorkspace), the
//!   host-side file operations on a workspace directory (read, write, list,
//!   remove, stat), resolved beneath a directory handle so that a process
//!   changing the workspace at the same time cannot make them act outside
//!   it. Every backend whose workspace is a host directory uses it.
//! - `bwrap` (feature `bwrap`, Linux): every command in its own
//!   [bubblewrap](https://github.com/containers/bubblewrap) sandbox over a
//!   host workspace: an allow-listed view of the host (system directories,
//!   a secret-free `/etc`, the toolchains, read-only), no network by default, own pid/IPC/UTS/user/cgroup namespaces, no
//!   capabilities, cgroup limits. The provider probes the host and refuses
//!   policies it cannot enforce. Read its module docs for what it does
//!   *not* isolate (same kernel; uid 0 inside is the agent's uid outside).
//! - `docker` (cargo feature `docker`, Linux: its allow-lists enter network
//!   namespaces): a container per sandbox through the
//!   Docker Engine API: read-only root, no capabilities, `no-new-privileges`,
//!   own PID namespace, no network under `NetworkPolicy::Deny`, memory and
//!   pids cgroups, protected paths mounted read-only. It shares the host's
//!   kernel and mounts the host's `/usr` read-only; read its module docs for
//!   exactly what is and is not isolated. Providers probe the daemon and
//!   refuse policies it cannot enforce.
//!
//! The smallest complete use: clone a repository, run a command, close.
//!
//! ```no_run
//! use agentkit_core::sandbox::{ExecRequest, SandboxProvider, SandboxSpec};
//! use agentkit_sandbox::local::LocalProvider;
//!
//! # async fn run() -> Result<(), agentkit_core::sandbox::SandboxError> {
//! let provider = LocalProvider::new();
//! let sandbox = provider
//!     .create(&SandboxSpec::new("/path/to/repo").setup_script("cargo fetch"))
//!     .await?;
//! let out = sandbox.exec(ExecRequest::argv(["cargo", "test"])).await?;
//! println!("{}\n{}", out.status_line(), out.stdout.text);
//! sandbox.close().await?; // deletes the temp directory
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod auto;
#[cfg(all(feature = "bwrap", target_os = "linux"))]
pub mod bwrap;
#[cfg(all(feature = "docker", target_os = "linux"))]
pub mod docker;
#[cfg(all(target_os = "linux", any(feature = "bwrap", feature = "docker")))]
mod hostview;
pub mod local;
#[cfg(target_os = "linux")]
pub mod net;
pub mod setup;
pub mod snapshot;
#[cfg(all(target_os = "linux", any(feature = "bwrap", feature = "docker")))]
mod toolchains;
pub mod workspace;
