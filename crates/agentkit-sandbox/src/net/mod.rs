//! Network isolation for isolating backends (Linux): network namespaces and
//! the allow-list proxy that enforces
//! [`NetworkPolicy::AllowList`](agentkit_core::sandbox::NetworkPolicy::AllowList).
//!
//! # The design
//!
//! Every sandbox runs in its own network namespace whose only interface is
//! `lo`. Under `Deny` that is all. Under `AllowList(hosts)` a proxy task in
//! *this* process owns a TCP listener on `127.0.0.1:PORT` that was bound
//! **inside the sandbox's namespace** (a short-lived thread joins the
//! namespace, binds, and ends; the socket stays in that namespace for good).
//! The task itself runs on the host's tokio threads, so the connections it
//! opens to allowed destinations leave from the host namespace. Commands get
//! `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` (and lowercase) =
//! `http://127.0.0.1:PORT`.
//!
//! ```text
//!  sandbox netns (lo only)                  host netns
//!  ┌──────────────────────────┐            ┌───────────────────────────────┐
//!  │ curl ──► 127.0.0.1:PORT ─┼─ socket ──►│ proxy task ── allowed? ──► net │
//!  │ anything else ──► ✗      │  owned by  │            └─ no: 403          │
//!  └──────────────────────────┘  the host  └───────────────────────────────┘
//! ```
//!
//! It **fails closed**: the namespace has no route out, so with the proxy
//! gone (gate dropped, task ended, process dead) connections to the proxy
//! port are refused and nothing else exists to connect to.
//!
//! # Using it in a backend
//!
//! ```no_run
//! use agentkit_core::sandbox::NetworkPolicy;
//! use agentkit_sandbox::net::{GateConfig, SandboxNetwork};
//!
//! # async fn run() -> Result<(), agentkit_core::sandbox::SandboxError> {
//! let policy = NetworkPolicy::AllowList(vec!["crates.io".into(), "*.crates.io:443".into()]);
//! let net = SandboxNetwork::for_policy(&policy, GateConfig::default().label("sbx-1")).await?;
//! let mut cmd = std::process::Command::new("bwrap");
//! cmd.args(["--ro-bind", "/", "/", "--unshare-pid", "--", "cargo", "fetch"]); // no --unshare-net
//! cmd.envs(net.env());
//! if let Some(ns) = net.namespace() {
//!     ns.enter_on_spawn(&mut cmd);
//! }
//! let status = tokio::process::Command::from(cmd).status().await;
//! drop(net); // stops the proxy
//! # Ok(())
//! # }
//! ```
//!
//! - **bwrap**: spawn `bwrap` inside the namespace
//!   ([`NetNamespace::enter_on_spawn`]) and *without* `--unshare-net`, so the
//!   sandbox shares the namespace with the proxy's listener.
//! - **docker**: start the container with `--network none`, open its
//!   namespace with [`NetNamespace::of_process`] (the container's init pid)
//!   and [`NetworkGate::start_in`] it; pass [`NetworkGate::env`] to
//!   `docker exec`. Needs the Docker daemon on this host and this process
//!   allowed to open `/proc/<pid>/ns/net` (root).
//! - Before accepting a policy that needs a namespace, call [`probe`]; it
//!   returns [`SandboxError::Unsupported`](agentkit_core::sandbox::SandboxError::Unsupported)
//!   naming what is missing (root or `CAP_SYS_ADMIN`; an unprivileged
//!   process cannot do this, because joining a namespace it created in a new
//!   user namespace is impossible for a multi-threaded process).
//!
//! # Threat model
//!
//! The proxy protects against a sandboxed command **reaching destinations
//! outside the allow-list**, whatever it does inside the sandbox: it may
//! ignore the proxy variables, open raw sockets, send UDP or ICMP, query
//! DNS, or speak any protocol to the proxy. Concretely:
//!
//! - Only `127.0.0.1:PORT` leads out, and only by TCP through the proxy.
//!   No DNS server, no other interface, no route; UDP (DNS, QUIC) and ICMP
//!   go nowhere. Abstract Unix sockets are per namespace too.
//! - The proxy reads the destination from the request (`CONNECT host:port`
//!   or the absolute URL), checks it **before** resolving or connecting,
//!   and resolves names **on the host**. A refused destination receives
//!   nothing, not even a DNS query for its name. Names that resolve to
//!   loopback or link-local addresses (the host's own services, cloud
//!   metadata at 169.254.169.254) are refused unless the entry names that IP
//!   or `localhost`.
//! - Malformed, oversized and slow requests are answered and closed; the
//!   number of concurrent connections is bounded.
//!
//! It does **not** protect against:
//!
//! - **Exfiltration to allowed hosts.** Anything the sandbox can read it can
//!   send to an allowed destination (uploads, query strings, a git push, a
//!   package publish). Allow only what the task needs; hosts that accept
//!   user content (code forges, paste sites, object stores) are channels.
//! - **What happens inside TLS.** There is no TLS interception: a CONNECT
//!   tunnel is authorized by its `host:port` only. The SNI and `Host` inside
//!   it are not checked, so a destination shared by many sites (a CDN) may
//!   route the tunnel to another tenant ("domain fronting") if it allows
//!   that. Plain-HTTP requests get a `Host` taken from their URL.
//! - **Allowed names whose DNS is hostile.** Names are resolved on the host
//!   with the host's resolver; whoever controls an allowed name's DNS picks
//!   the address (local addresses excepted, see above; private ranges such
//!   as 10.0.0.0/8 are *not* excepted, so an internal service can be listed
//!   by name).
//! - **Other ways out the backend leaves open.** Host Unix sockets mounted
//!   into the sandbox (`docker.sock`, an SSH agent, D-Bus), shared files, a
//!   visible host `/proc` (this process's namespace handles are reachable as
//!   `/proc/<pid>/fd/N` by anything allowed to ptrace it), or capabilities
//!   in the host's user namespace (`CAP_SYS_ADMIN` could `setns` out). The
//!   backend must hide host processes (a PID namespace) and drop
//!   capabilities; bwrap and Docker do by default.
//! - **Resource use through allowed hosts** (bandwidth, long downloads):
//!   only idle connections are cut.
//!
//! # Limits of the proxy
//!
//! HTTP/1.x only; plain HTTP is served one request per connection
//! (`Connection: close`), bodies pass unchanged, pipelined requests after the
//! first go to the same destination or nowhere. Tools that resolve names
//! themselves before using a proxy, or ignore proxy variables, fail to
//! connect (with an error, never a leak). SOCKS is not offered: `ALL_PROXY`
//! is an HTTP proxy URL.

pub mod allow;
mod gate;
mod http;
mod idle;
pub mod netns;
pub mod proxy;

pub use allow::{AllowList, AllowListError, Decision, Host, Target, TargetError, is_local_address};
#[cfg(any(feature = "bwrap", feature = "docker"))]
pub(crate) use gate::parse as parse_allow_list;
pub use gate::{GateConfig, NetworkGate, SandboxNetwork};
pub use netns::{NetNamespace, probe};
pub use proxy::ProxyConfig;
