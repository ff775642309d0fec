//! The `local` backend: the workspace is a plain directory on the host and
//! commands run as ordinary host processes.
//!
//! # What it does
//!
//! - [`LocalProvider::create`](agentkit_core::sandbox::SandboxProvider::create)
//!   makes a temp directory, clones the spec's repository into
//!   `<temp>/workspace` with the host's git (argv only, hooks disabled, no
//!   prompts), checks out the revision and runs the setup script. The temp
//!   directory is deleted on [`close`](agentkit_core::sandbox::Sandbox::close)
//!   and when the sandbox is dropped.
//! - [`LocalSandbox::attach`] wraps an existing directory and never deletes it.
//! - `exec` runs an argv directly or a script with `bash -c` (`sh -c` where
//!   bash is missing), in a workspace-relative working directory, with an
//!   environment that **starts empty**: only the host variables named in
//!   `policy.env_allow`, then the spec's `env`, then the request's. Each
//!   command leads its own process group; on timeout, on cancellation (the
//!   future dropped) and on close the whole group is SIGKILLed. Output is
//!   capped per stream, keeping head and tail. CPU, memory and process-count
//!   limits are applied as rlimits (see the notes on `RLIMIT_NPROC` below).
//! - The file operations are those of
//!   [`HostWorkspace`](crate::workspace::HostWorkspace), shared with the
//!   isolating backends: every path is resolved beneath a handle on the
//!   workspace root, race-free against concurrent commands; `..`, absolute
//!   paths and symlinks leading out are refused (absolute symlinks always),
//!   nothing is written through a symlink, and the policy's protected paths
//!   (`.git/hooks`, `.git/config` by default) cannot be changed. A command's
//!   working directory is resolved the same way, then handed to the command
//!   as a host path.
//!
//! # What it does NOT isolate
//!
//! **None of the following is enforced.** Use it for trusted code, tests, and
//! development; use the `bwrap` or `docker` backends for untrusted work.
//!
//! - **Network**: commands have the host's full network access whatever
//!   `policy.network` says (a `tracing::warn!` says so for every sandbox
//!   whose policy is not `Full`).
//! - **Filesystem**: the path checks apply to the sandbox's *file API* only.
//!   A command can read and write anything the host user can, including
//!   outside the workspace and the protected paths.
//! - **Processes**: commands run as the host user, see the host's processes
//!   and can signal them. A command that detaches itself with `setsid`
//!   escapes the process-group kill.
//! - **Limits**: rlimits are per process; `RLIMIT_NPROC` counts every process
//!   of the user and does not bind root. `disk_bytes` is ignored.
//! - **Secrets on disk**: the empty environment keeps host variables out, but
//!   files such as `~/.ssh` or `~/.config` stay readable.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use agentkit_core::sandbox::{ExecRequest, Sandbox, SandboxPolicy};
//! use agentkit_sandbox::local::LocalSandbox;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let sandbox = LocalSandbox::attach(dir.path(), SandboxPolicy::default(), BTreeMap::new()).unwrap();
//! sandbox.write("notes/hello.txt", b"hi\n").await.unwrap();
//! let out = sandbox.exec(ExecRequest::argv(["cat", "notes/hello.txt"])).await.unwrap();
//! assert_eq!(out.stdout.text, "hi\n");
//! # });
//! ```

// Shared with the isolating backends: output capture, host-side clone,
// the exec supervisor, process groups, rlimits, the setup step.
pub(crate) mod capture;
pub(crate) mod clone;
pub(crate) mod exec;
pub(crate) mod groups;
pub(crate) mod limits;
pub(crate) mod provider;
mod sandbox;

pub use provider::LocalProvider;
pub use sandbox::LocalSandbox;
