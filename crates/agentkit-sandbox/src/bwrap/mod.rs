//! The `bwrap` backend: every command runs in its own
//! [bubblewrap](https://github.com/containers/bubblewrap) sandbox over a
//! workspace directory on the host. Linux only; behind the `bwrap` feature.
//!
//! # What one command gets
//!
//! Each [`exec`](agentkit_core::sandbox::Sandbox::exec) is a separate
//! `bwrap` invocation (the setup script too):
//!
//! - **Filesystem, an allow-list**: the root is an empty tmpfs (made
//!   read-only) holding only what is mounted onto it: the host's system
//!   directories (`/usr`, `/bin`, `/sbin`, `/lib*`; merged-`/usr` symlinks
//!   recreated) and a secret-free part of `/etc` (the linker cache, CA
//!   certificates but not `/etc/ssl/private`, alternatives, name-service
//!   tables, `passwd`/`group` (names only: no `shadow`), `hosts`,
//!   `resolv.conf`, the time zone, the OS release), **read-only**; the
//!   workspace read-write at its host path; a private `/tmp`, `/var/tmp`
//!   and `/dev/shm`; a fresh `/proc` for its pid namespace and a minimal
//!   `/dev` (`null`, `zero`, `random`, `urandom`, `tty`, `pts`…); an empty
//!   writable `$HOME` (unless it is a system directory), over which the
//!   toolchains are bound read-only — by default `RUSTUP_HOME`,
//!   `CARGO_HOME/{bin,registry,git}` (never `CARGO_HOME/credentials*`) and
//!   `PYENV_ROOT`, configurable with [`BwrapProvider::with_read_only`],
//!   [`BwrapProvider::without_default_toolchains`] and per sandbox with
//!   `SandboxPolicy::read_only_paths`. **Nothing else of the host exists
//!   inside**: not `/root`, `/home`, `/run` (the host's Unix sockets:
//!   Docker, D-Bus, systemd), `/srv`, `/opt`, `/var`, `/sys`, other
//!   checkouts, nor other sandboxes' workspaces. Where an extra read-only
//!   path would show a secret, `/dev/null` covers `/etc/shadow`,
//!   `/etc/gshadow` (and their `-` backups), every `/etc/ssh/*key*` and
//!   cargo's credentials, and an empty read-only tmpfs covers
//!   `/etc/ssl/private`; [`BwrapProvider::with_hidden`] adds more.
//! - **Protected paths** (`policy.protected_paths`, `.git/hooks` and
//!   `.git/config` by default) are bound read-only onto themselves, and
//!   their ancestors (`.git`) onto themselves read-write: writing, replacing,
//!   renaming or removing them fails (`EROFS`/`EBUSY`). A missing
//!   `.git/hooks` is created empty first.
//! - **Namespaces**: new user, pid, IPC, UTS (host name `agentkit`) and
//!   cgroup namespaces, each required (no `-try` fallbacks); the mount
//!   namespace is bubblewrap's own.
//! - **Network** ([`NetworkPolicy`](agentkit_core::sandbox::NetworkPolicy)):
//!   `Deny` → a new network namespace with only its own loopback; `Full` →
//!   the host's network; `AllowList` → the sandbox's own namespace made by
//!   a [`NetworkGate`](crate::net::NetworkGate): bubblewrap starts inside
//!   it, the only way out is the host-side proxy on its loopback, which
//!   forwards to the listed hosts only (refused with
//!   [`SandboxError::Unsupported`](agentkit_core::sandbox::SandboxError)
//!   where namespaces cannot be created).
//! - **Privileges**: all capabilities dropped (`--cap-drop ALL`),
//!   `no_new_privs` set (setuid binaries do not elevate), a new session (no
//!   terminal to inject keystrokes into), and — with bubblewrap 0.8+ — no
//!   user namespaces of its own (`--disable-userns`).
//! - **Environment**: cleared, then only the host variables
//!   `policy.env_allow` names, the spec's `env` and the request's `env`.
//!   Options reach bubblewrap through a memfd (`--args`), so environment
//!   values never show in `/proc/<pid>/cmdline`. Descriptors the agent's
//!   process left inheritable are closed before bubblewrap starts.
//! - **Limits**: `pids` and `memory_bytes` through cgroups (v2, else v1;
//!   one cgroup per sandbox holding the limits, one per command inside it,
//!   emptied and removed when the command ends); `cpu_seconds` through
//!   `RLIMIT_CPU` on every process; `disk_bytes` through a size-limited
//!   tmpfs mounted on the host where the workspace lives (needs root), with
//!   `/tmp`, `/dev/shm`, `/var/tmp` and the home inside capped at the same size.
//! - **Lifetime**: bubblewrap's `--die-with-parent` and the pid namespace
//!   tie everything the command starts to it. When the command ends, times
//!   out, is cancelled (the exec future dropped) or the sandbox closes, the
//!   whole namespace dies — background jobs, grandchildren and `nohup`ed or
//!   `setsid`ed processes included, and **also after a normal exit**:
//!   unlike the local backend, nothing outlives its command.
//!
//! Output capture, stdin, timeouts, exit codes and signals are exactly the
//! local backend's (the same pipeline runs both). A small init helper,
//! built with the crate and started by bubblewrap first, starts the
//! program the way the local backend does and reports its raw wait status
//! and any `exec` error on a descriptor the command never sees: bubblewrap
//! alone would report a command killed by signal `n` as exit `128 + n`.
//!
//! The [`BwrapProvider`] probes the host once ([`BwrapProvider::probe`],
//! printable for operators) and refuses, at `create`, any policy asking
//! for something the host cannot enforce — never running with less
//! isolation than asked.
//!
//! # What it does NOT isolate
//!
//! Be precise about the boundary:
//!
//! - **Same kernel.** Namespaces are not a VM: a kernel bug reachable from
//!   an unprivileged process is an escape. There is no seccomp filter.
//! - **uid 0 inside maps to the agent's uid outside.** When the agent runs
//!   as root, sandboxed processes are host root *without capabilities*:
//!   anything that trusts uid 0 by credentials alone and is still reachable
//!   is exposed — a Unix socket inside the system directories or the
//!   extra read-only paths (filesystem sockets ignore read-only mounts),
//!   and with `Full` network every abstract Unix socket of the host. Run the agent as a dedicated
//!   unprivileged user where possible.
//! - **The system directories are readable.** Everything the agent's user
//!   can read under `/usr`, `/bin`, `/lib*`, the listed `/etc` entries and
//!   the toolchain directories is readable inside (a cargo git checkout of
//!   a private dependency is readable). Do not keep secrets there.
//! - **`Full` network is the host's network**, loopback services included.
//! - **Resources not covered by a limit** are shared: without
//!   `memory_bytes` the tmpfs mounts (`/tmp`, `/dev/shm`, `/var/tmp`, the home) can grow to
//!   half the host's memory each; without `cpu_seconds` a command can spin
//!   until its timeout; disk I/O bandwidth is never limited.
//! - **Limits are per sandbox** (`pids`, `memory_bytes`, shared by the
//!   commands running in it at once) and **per process** (`cpu_seconds`).
//! - **The workspace is the host's**: files are owned by the agent's user;
//!   host-side readers must not follow symlinks a command created (the file
//!   API does not).
//! - **Leftovers on a crash**: if the agent process dies without closing,
//!   its sandboxes' processes die with it (`--die-with-parent`), but the
//!   temp directory, the disk tmpfs mount and empty cgroups stay behind.
//!   `--die-with-parent` follows the *thread* that spawned bubblewrap: run
//!   commands from runtime worker threads (the normal case), not from a
//!   short-lived thread.
//! - The setup script runs under the sandbox's own policy, network
//!   included: with `Deny` it cannot download dependencies, and the
//!   read-only toolchain directories cannot be written (point `CARGO_HOME`
//!   into the workspace through the spec's `env`, or use `Full` for setup).
//!
//! # Example
//!
//! ```no_run
//! use agentkit_core::sandbox::{ExecRequest, SandboxProvider, SandboxSpec};
//! use agentkit_sandbox::bwrap::BwrapProvider;
//!
//! # async fn run() -> Result<(), agentkit_core::sandbox::SandboxError> {
//! let provider = BwrapProvider::new()?; // probes the host; fails loudly
//! println!("{}", provider.probe());
//! let sandbox = provider.create(&SandboxSpec::new("/path/to/repo")).await?;
//! let out = sandbox.exec(ExecRequest::argv(["cargo", "test", "--offline"])).await?;
//! println!("{}\n{}", out.status_line(), out.stdout.text);
//! sandbox.close().await?;
//! # Ok(())
//! # }
//! ```

mod args;
mod cgroup;
mod disk;
mod init;
mod invocation;
mod network;
mod probe;
mod provider;
mod report;
mod sandbox;
mod view;

pub use probe::{BwrapProbe, Support};
pub use provider::BwrapProvider;
pub use sandbox::BwrapSandbox;
