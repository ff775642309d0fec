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
//! - `docker` (cargo feature `docker`): a container per sandbox through the
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

#[cfg(feature = "docker")]
pub mod docker;
pub mod local;
