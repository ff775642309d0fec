//! Network namespaces: creating one, entering it, binding sockets in it.
//!
//! A [`NetNamespace`] is an owned file descriptor of a network namespace
//! (`/proc/thread-self/ns/net` of the thread that created it, or
//! `/proc/<pid>/ns/net` of a process that lives in it). The namespace lives
//! as long as that descriptor or any process inside it; it has no global
//! name (nothing under `/run/netns`) and nothing to clean up.
//!
//! Threads, not the process, change namespaces here: [`NetNamespace::create`]
//! calls `unshare(CLONE_NEWNET)` and [`NetNamespace::run`] calls `setns` on a
//! **fresh thread that ends when the work is done**, so no thread of the
//! caller (and no tokio worker) ever leaves the host namespace. A socket
//! belongs to the namespace of the thread that created it, for its whole
//! life: a listener bound by [`NetNamespace::listen`] accepts connections
//! made inside the namespace while the tokio task serving it runs on host
//! threads, and the outbound sockets that task opens are in the host
//! namespace.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentkit_core::sandbox::SandboxError;

/// What [`probe`] and [`NetNamespace::create`] report when the host cannot
/// make network namespaces.
const WHAT: &str = "network namespaces (needed to enforce NetworkPolicy::Deny and ::AllowList)";

/// An owned handle on a network namespace. Cloning shares the handle.
///
/// See the [module docs](self) for how threads and sockets relate to it.
#[derive(Debug, Clone)]
pub struct NetNamespace {
    fd: Arc<OwnedFd>,
}

impl NetNamespace {
    /// Creates a fresh network namespace whose only interface is `lo`, up
    /// (127.0.0.1 and ::1 answer inside it; nothing else is reachable).
    ///
    /// Blocking (a short-lived thread; a few milliseconds): call it from
    /// `spawn_blocking` in async code.
    ///
    /// Fails with [`SandboxError::Unsupported`] when the host does not allow
    /// it (not root / no `CAP_SYS_ADMIN`, a seccomp filter, a kernel without
    /// network namespaces, the namespace limit reached).
    pub fn create() -> Result<NetNamespace, SandboxError> {
        let fd = on_fresh_thread("create a network namespace", || -> io::Result<OwnedFd> {
            // SAFETY: unshare takes a flag word and touches only the calling
            // thread's namespace membership; this thread is ours and ends
            // right after, so no other code runs in the new namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = open_ns_file(Path::new("/proc/thread-self/ns/net"))?;
            loopback_up()?;
            Ok(fd)
        })?
        .map_err(create_error)?;
        tracing::debug!(fd = fd.as_raw_fd(), "created a network namespace");
        Ok(NetNamespace { fd: Arc::new(fd) })
    }

    /// Opens the network namespace file at `path`: `/proc/<pid>/ns/net`, a
    /// bind mount such as `/run/netns/NAME`, or another handle's
    /// [`path`](NetNamespace::path).
    pub fn open(path: impl AsRef<Path>) -> Result<NetNamespace, SandboxError> {
        let path = path.as_ref();
        let fd = open_ns_file(path).map_err(|err| SandboxError::Setup {
            reason: format!(
                "could not open the network namespace `{}`: {err}; the process must exist and \
                 this process needs permission to inspect it (root, or the same user with ptrace access)",
                path.display()
            ),
        })?;
        let ns = NetNamespace { fd: Arc::new(fd) };
        ns.check_is_net_namespace(path)?;
        Ok(ns)
    }

    /// Opens the network namespace process `pid` lives in
    /// (`/proc/<pid>/ns/net`), for example a container's init process.
    pub fn of_process(pid: u32) -> Result<NetNamespace, SandboxError> {
        Self::open(format!("/proc/{pid}/ns/net"))
    }

    /// A path naming the namespace for other programs while this handle is
    /// alive: `/proc/<this pid>/fd/<fd>`, e.g. for `nsenter --net=PATH` or
    /// `ip netns exec`-style tools. Only processes allowed to look into this
    /// process's `/proc` entry can open it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.fd.as_raw_fd()
        ))
    }

    /// Runs `f` on a new thread that has joined this namespace, and returns
    /// its result. Sockets `f` creates belong to the namespace for good;
    /// the thread ends with `f`, so the namespace change never leaks to
    /// other code. A panic in `f` is passed on to the caller.
    ///
    /// Blocking: call it from `spawn_blocking` in async code.
    pub fn run<F, T>(&self, f: F) -> Result<T, SandboxError>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let fd = self.fd.as_raw_fd();
        on_fresh_thread("enter the network namespace", move || {
            enter(fd)?;
            Ok(f())
        })?
        .map_err(|err: io::Error| SandboxError::Setup {
            reason: format!(
                "could not enter the network namespace: {err}; joining a namespace needs root or CAP_SYS_ADMIN"
            ),
        })
    }

    /// Binds a TCP listener at `addr` inside the namespace (blocking; see
    /// [`NetNamespace::listen`] for the async form). Port 0 picks a free
    /// port; read it back with `local_addr`.
    pub fn listen_std(&self, addr: SocketAddr) -> Result<std::net::TcpListener, SandboxError> {
        self.run(move || std::net::TcpListener::bind(addr))?
            .map_err(|err| SandboxError::Setup {
                reason: format!(
                    "could not listen on {addr} inside the sandbox's network namespace: {err}; \
                     pick another port or 0 for any free one"
                ),
            })
    }

    /// Binds a tokio TCP listener at `addr` inside the namespace. Must be
    /// called inside a tokio runtime. The listener accepts connections made
    /// inside the namespace only.
    pub async fn listen(&self, addr: SocketAddr) -> Result<tokio::net::TcpListener, SandboxError> {
        let ns = self.clone();
        let std_listener = tokio::task::spawn_blocking(move || ns.listen_std(addr))
            .await
            .map_err(|err| SandboxError::Setup {
                reason: format!("the task binding the proxy listener failed: {err}"),
            })??;
        let setup = |err: io::Error| SandboxError::Setup {
            reason: format!("could not register the listener on {addr} with tokio: {err}"),
        };
        std_listener.set_nonblocking(true).map_err(setup)?;
        tokio::net::TcpListener::from_std(std_listener).map_err(setup)
    }

    /// Brings `lo` up inside the namespace (idempotent). [`create`] does
    /// this already; useful for namespaces made elsewhere.
    ///
    /// [`create`]: NetNamespace::create
    pub fn loopback_up(&self) -> Result<(), SandboxError> {
        self.run(loopback_up)?.map_err(|err| SandboxError::Setup {
            reason: format!("could not bring `lo` up in the network namespace: {err}"),
        })
    }

    /// The names of the namespace's network interfaces, sorted
    /// (`["lo"]` for a namespace from [`create`](NetNamespace::create)).
    pub fn interfaces(&self) -> Result<Vec<String>, SandboxError> {
        let dev = self
            .run(|| std::fs::read_to_string("/proc/thread-self/net/dev"))?
            .map_err(|err| SandboxError::Setup {
                reason: format!("could not list the namespace's interfaces: {err}"),
            })?;
        let mut names: Vec<String> = dev
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(name, _)| name.trim().to_string())
            .filter(|name| !name.is_empty() && !name.contains(' ') && !name.contains('|'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Makes `command` start inside this namespace: its child calls
    /// `setns` between `fork` and `exec`. Works for `tokio::process::Command`
    /// too, through `tokio::process::Command::from(std_command)`. The
    /// command keeps the namespace handle alive until it is dropped.
    ///
    /// If joining fails, spawning fails (the program never runs outside
    /// the namespace).
    pub fn enter_on_spawn<'c>(
        &self,
        command: &'c mut std::process::Command,
    ) -> &'c mut std::process::Command {
        let hook = self.setns_hook();
        // SAFETY: the hook only calls `setns` (a raw syscall, async-signal-
        // safe) and reads errno; it allocates nothing and takes no locks, so
        // it is sound between fork and exec.
        unsafe { command.pre_exec(hook) }
    }

    /// The `pre_exec` hook [`enter_on_spawn`](NetNamespace::enter_on_spawn)
    /// installs, for commands built another way (e.g.
    /// `unsafe { tokio_command.pre_exec(ns.setns_hook()) }`). It owns a
    /// clone of the handle, and is async-signal-safe.
    pub fn setns_hook(&self) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
        let fd = Arc::clone(&self.fd);
        move || enter(fd.as_raw_fd())
    }

    fn check_is_net_namespace(&self, path: &Path) -> Result<(), SandboxError> {
        // A namespace file's inode number identifies the namespace; setns
        // with CLONE_NEWNET on a fresh thread checks the type for us.
        self.run(|| ()).map_err(|_| SandboxError::Setup {
            reason: format!(
                "`{}` is not a network namespace this process can join; \
                 give /proc/<pid>/ns/net of a running process (joining needs root or CAP_SYS_ADMIN)",
                path.display()
            ),
        })
    }
}

impl AsFd for NetNamespace {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Whether this host can create and enter network namespaces, tried for
/// real (create one, bind a socket inside it, drop it). Backends call it
/// before accepting a policy that needs a namespace and pass the error on:
/// it is [`SandboxError::Unsupported`], naming what is missing and what to do.
///
/// Blocking (two short-lived threads): call it from `spawn_blocking` in
/// async code.
pub fn probe() -> Result<(), SandboxError> {
    let ns = NetNamespace::create()?;
    let listener = ns
        .listen_std(SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(|err| SandboxError::Unsupported {
            what: WHAT.into(),
            hint: format!(
                "a namespace was created but could not be used ({err}); \
                 run as root or with CAP_SYS_ADMIN, or use NetworkPolicy::Full"
            ),
        })?;
    drop(listener);
    Ok(())
}

/// Runs `f` on a new thread and waits for it. Errors if the thread cannot
/// be started; passes a panic of `f` on.
fn on_fresh_thread<F, T>(doing: &str, f: F) -> Result<T, SandboxError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("agentkit-netns".into())
            .spawn_scoped(scope, f)
            .map_err(|err| SandboxError::Setup {
                reason: format!("could not start a thread to {doing}: {err}"),
            })?;
        match handle.join() {
            Ok(value) => Ok(value),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Joins the network namespace `fd` on the calling thread.
/// Async-signal-safe: used in `pre_exec` hooks.
fn enter(fd: libc::c_int) -> io::Result<()> {
    // SAFETY: setns only reads its two integer arguments; a bad fd or a fd
    // of another namespace type is reported as an error (EBADF / EINVAL).
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn open_ns_file(path: &Path) -> io::Result<OwnedFd> {
    // std opens with O_CLOEXEC, so children never inherit the handle.
    let file = std::fs::File::open(path)?;
    Ok(OwnedFd::from(file))
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    // SAFETY: socket takes integer arguments and returns a new descriptor
    // or -1.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just created and own exclusively.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };

    let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (dst, src) in name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    let mut req = libc::ifreq {
        ifr_name: name,
        ifr_ifru: libc::__c_anonymous_ifr_ifru { ifru_flags: 0 },
    };
    // SAFETY: SIOCGIFFLAGS reads `ifr_name` and writes `ifr_flags` of the
    // ifreq we own and pass by pointer; the socket is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS succeeded, so the union holds `ifru_flags`.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own; the socket is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Turns a failed `unshare` into an error that says what to do.
fn create_error(err: io::Error) -> SandboxError {
    let unsupported = |hint: String| SandboxError::Unsupported {
        what: WHAT.into(),
        hint,
    };
    match err.raw_os_error() {
        Some(libc::EPERM) => unsupported(format!(
            "creating one was refused ({err}); it needs root or CAP_SYS_ADMIN in the host's user \
             namespace and no seccomp filter blocking unshare/setns (in a container: \
             `--cap-add SYS_ADMIN` and a seccomp profile allowing them); otherwise use \
             NetworkPolicy::Full or the local backend"
        )),
        Some(libc::EINVAL) | Some(libc::ENOSYS) => unsupported(format!(
            "the kernel refused ({err}); it was probably built without CONFIG_NET_NS"
        )),
        Some(libc::ENOSPC) | Some(libc::EUSERS) => unsupported(format!(
            "the namespace limit is reached ({err}); close unused sandboxes or raise \
             /proc/sys/user/max_net_namespaces"
        )),
        _ => SandboxError::Setup {
            reason: format!("could not create a network namespace: {err}"),
        },
    }
}
