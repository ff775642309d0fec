//! What the host lets the `bwrap` backend enforce, found once when the
//! provider is made, and the check of a policy against it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use agentkit_core::sandbox::{ResourceLimits, SandboxError, SandboxPolicy};

use super::args::{Invocation, Mounts, bwrap_args};
use super::cgroup::{self, CgroupHost, CgroupVersion};
use super::disk;
use super::init::InitHelper;
use super::invocation;
use super::network::{self, NetworkSetup};
use super::report::Report;
use crate::local::exec::is_executable;
use crate::local::limits::Rlimits;

/// How long the probe's test sandbox may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Tries per combination of optional options.
const ATTEMPTS: usize = 3;

/// Whether one part of a policy can be enforced on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Enforced; how.
    Enforced(String),
    /// Not available here; why, and what to do about it.
    Unavailable(String),
}

impl Support {
    /// Whether it is enforced.
    pub fn is_enforced(&self) -> bool {
        matches!(self, Support::Enforced(_))
    }
}

impl fmt::Display for Support {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Support::Enforced(how) => write!(f, "enforced: {how}"),
            Support::Unavailable(why) => write!(f, "NOT available: {why}"),
        }
    }
}

/// What [`BwrapProvider`](super::BwrapProvider) found the host can do.
/// Filesystem, process, IPC, hostname and privilege isolation are what a
/// provider exists for: when they do not work, there is no provider. The
/// rest varies by host and is listed here; `create` refuses a policy that
/// asks for anything [`Support::Unavailable`].
///
/// `Display` prints one line per item, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BwrapProbe {
    /// The bubblewrap binary.
    pub bwrap: PathBuf,
    /// What `bwrap --version` said.
    pub version: String,
    /// Commands cannot create user namespaces of their own
    /// (`--disable-userns`, bubblewrap 0.8+); this shrinks the kernel
    /// surface they reach.
    pub nested_user_namespaces_blocked: bool,
    /// `NetworkPolicy::Deny`.
    pub network_deny: Support,
    /// `NetworkPolicy::Full`.
    pub network_full: Support,
    /// `NetworkPolicy::AllowList`.
    pub network_allow_list: Support,
    /// `limits.pids`.
    pub pids: Support,
    /// `limits.memory_bytes`.
    pub memory: Support,
    /// `limits.cpu_seconds`.
    pub cpu_seconds: Support,
    /// `limits.disk_bytes`.
    pub disk: Support,
    /// Where cgroups are made.
    pub(crate) cgroups: CgroupHost,
}

impl fmt::Display for BwrapProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} at {}", self.version, self.bwrap.display())?;
        writeln!(
            f,
            "isolation: enforced: user, pid, ipc, uts, cgroup and mount namespaces; read-only host root; capabilities dropped; no_new_privs"
        )?;
        writeln!(
            f,
            "nested user namespaces: {}",
            if self.nested_user_namespaces_blocked {
                "blocked (--disable-userns)"
            } else {
                "allowed (bubblewrap older than 0.8 or the kernel refused --disable-userns)"
            }
        )?;
        writeln!(f, "network deny: {}", self.network_deny)?;
        writeln!(f, "network full: {}", self.network_full)?;
        writeln!(f, "network allow-list: {}", self.network_allow_list)?;
        writeln!(f, "pids: {}", self.pids)?;
        writeln!(f, "memory: {}", self.memory)?;
        writeln!(f, "cpu seconds: {}", self.cpu_seconds)?;
        write!(f, "disk: {}", self.disk)
    }
}

impl BwrapProbe {
    /// Probes the host with `init` as the helper. Fails when bubblewrap is
    /// missing or cannot make a sandbox at all.
    pub(crate) fn detect(init: &InitHelper) -> Result<BwrapProbe, SandboxError> {
        let bwrap = find_bwrap().ok_or_else(|| SandboxError::Unsupported {
            what: "bubblewrap (`bwrap`)".into(),
            hint: "install it (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: `dnf install bubblewrap`, Arch: `pacman -S bubblewrap`) and put `bwrap` on PATH".into(),
        })?;
        let version = version(&bwrap);
        let (nested_user_namespaces_blocked, tmpfs_size) = try_sandboxes(&bwrap, init.path())?;
        let cgroups = cgroup::detect();
        let via = |dir: &Result<PathBuf, String>, what: &str| match dir {
            Ok(dir) => Support::Enforced(format!(
                "{what} on a cgroup {} per sandbox (each command in a child cgroup, emptied when it ends), under {}",
                match cgroups.version {
                    CgroupVersion::V1 => "v1",
                    CgroupVersion::V2 => "v2",
                },
                dir.display()
            )),
            Err(why) => Support::Unavailable(why.clone()),
        };
        let pids = via(&cgroups.pids, "pids.max");
        let memory = via(
            &cgroups.memory,
            match (cgroups.version, cgroups.memsw) {
                (CgroupVersion::V2, _) => "memory.max and memory.swap.max=0",
                (CgroupVersion::V1, true) => {
                    "memory.limit_in_bytes and memory.memsw.limit_in_bytes"
                }
                (CgroupVersion::V1, false) => {
                    "memory.limit_in_bytes (swap not accounted: the kernel has no memsw)"
                }
            },
        );
        let disk = match (tmpfs_size, disk::can_mount()) {
            (false, _) => Support::Unavailable(format!(
                "{version} does not take `--size` for a tmpfs, so /tmp inside could grow without bound; install bubblewrap 0.7 or newer"
            )),
            (true, Err(why)) => Support::Unavailable(format!(
                "{why}; run the agent as root or drop `limits.disk_bytes`"
            )),
            (true, Ok(())) => Support::Enforced(
                "the workspace is a size-limited tmpfs mounted on the host; /tmp, /dev/shm, /var/tmp and the home inside are capped at the same size".into(),
            ),
        };
        Ok(BwrapProbe {
            bwrap,
            version,
            nested_user_namespaces_blocked,
            network_deny: Support::Enforced(
                "a new network namespace per command, with only its own loopback".into(),
            ),
            network_full: Support::Enforced("the host's network namespace".into()),
            network_allow_list: match crate::net::probe() {
                Ok(()) => Support::Enforced(
                    "the sandbox's own network namespace; only the host-side allow-list proxy inside it leads out".into(),
                ),
                Err(SandboxError::Unsupported { what, hint }) => {
                    Support::Unavailable(format!("{what}: {hint}"))
                }
                Err(other) => Support::Unavailable(other.to_string()),
            },
            pids,
            memory,
            cpu_seconds: Support::Enforced(
                "RLIMIT_CPU on every process of the command (SIGXCPU, then SIGKILL a second later)"
                    .into(),
            ),
            disk,
            cgroups,
        })
    }

    /// Refuses `policy` when it asks for something this host cannot
    /// enforce, naming what and what to do; otherwise returns its network.
    pub(crate) fn check(&self, policy: &SandboxPolicy) -> Result<NetworkSetup, SandboxError> {
        let network = network::network_setup(&policy.network)?;
        if let (NetworkSetup::Gated, Support::Unavailable(why)) =
            (network, &self.network_allow_list)
        {
            return Err(SandboxError::Unsupported {
                what: "network allow-lists in the bwrap backend".into(),
                hint: why.clone(),
            });
        }
        let ResourceLimits {
            cpu_seconds,
            memory_bytes,
            pids,
            disk_bytes,
        } = &policy.limits;
        let asked = [
            (pids.is_some(), &self.pids, "limits.pids"),
            (memory_bytes.is_some(), &self.memory, "limits.memory_bytes"),
            (
                cpu_seconds.is_some(),
                &self.cpu_seconds,
                "limits.cpu_seconds",
            ),
            (disk_bytes.is_some(), &self.disk, "limits.disk_bytes"),
        ];
        for (wanted, support, what) in asked {
            if let (true, Support::Unavailable(why)) = (wanted, support) {
                return Err(SandboxError::Unsupported {
                    what: format!("`{what}` in the bwrap backend"),
                    hint: why.clone(),
                });
            }
        }
        Ok(network)
    }
}

/// `bwrap` on PATH, else `/usr/bin/bwrap`.
fn find_bwrap() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("bwrap"))
        .chain([PathBuf::from("/usr/bin/bwrap")])
        .find(|candidate| is_executable(candidate))
}

fn version(bwrap: &Path) -> String {
    std::process::Command::new(bwrap)
        .arg("--version")
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "bubblewrap (unknown version)".into())
}

/// Runs `true` in a test sandbox with everything a real one uses, first with
/// the optional features (`--disable-userns`, `--size`), then without the
/// ones that fail. Returns which optional features work.
fn try_sandboxes(bwrap: &Path, init: &Path) -> Result<(bool, bool), SandboxError> {
    let scratch = tempfile::Builder::new()
        .prefix("agentkit-bwrap-probe-")
        .tempdir()
        .map_err(|source| SandboxError::Io {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
    let root = scratch
        .path()
        .canonicalize()
        .unwrap_or_else(|_| scratch.path().to_path_buf());
    let workspace = root.join("workspace");
    std::fs::create_dir(&workspace).map_err(|source| SandboxError::Io {
        path: workspace.display().to_string(),
        source,
    })?;
    let mounts = Mounts {
        system: super::view::system_entries(),
        workspace: workspace.clone(),
        init: init.to_path_buf(),
        ..Mounts::default()
    };
    let mut last_error = String::new();
    for (disable_userns, size) in [(true, true), (false, true), (true, false), (false, false)] {
        // A few tries each: a transient failure (ETXTBSY while another
        // thread's child still holds the freshly written helper, EAGAIN)
        // must not pass for a missing feature.
        for attempt in 0..ATTEMPTS {
            match run_true(bwrap, &mounts, disable_userns, size) {
                Ok(()) => {
                    if !(disable_userns && size) {
                        tracing::warn!(
                            disable_userns,
                            tmpfs_size = size,
                            refused = %last_error,
                            "bubblewrap refused an optional hardening option; running without it"
                        );
                    }
                    return Ok((disable_userns, size));
                }
                Err(err) => last_error = err,
            }
            if attempt + 1 < ATTEMPTS {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    Err(SandboxError::Unsupported {
        what: "bubblewrap sandboxes on this host".into(),
        hint: format!(
            "a test sandbox failed: {last_error}. Check that user namespaces are enabled \
             (sysctl user.max_user_namespaces > 0; kernel.unprivileged_userns_clone = 1 on older Debian kernels; \
             on Ubuntu 23.10+ an AppArmor profile allowing bwrap, or kernel.apparmor_restrict_unprivileged_userns = 0) \
             and that the agent is not in a container that forbids them"
        ),
    })
}

fn run_true(bwrap: &Path, mounts: &Mounts, disable_userns: bool, size: bool) -> Result<(), String> {
    // `true` wherever the agent finds it (not every system has /usr/bin).
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let env = [("PATH".into(), path)].into_iter().collect();
    let (mut command, pending) = invocation::prepare(
        bwrap,
        |fd| {
            bwrap_args(&Invocation {
                mounts,
                network: NetworkSetup::Isolated,
                disable_userns,
                tmpfs_bytes: size.then_some(1 << 20),
                cwd: &mounts.workspace,
                env: &env,
                status_fd: fd,
                program: "true".as_ref(),
                args: &[],
            })
        },
        Vec::new(),
        Rlimits::default(),
    )
    .map_err(|e| format!("could not prepare bubblewrap: {e}"))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", bwrap.display()))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the test sandbox did not finish within {}s",
                    PROBE_TIMEOUT.as_secs()
                ));
            }
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    match pending.report_blocking() {
        Report::Ended(0) => Ok(()),
        report => Err(format!(
            "`{} …` ended with {status} (helper report {report:?}): {}",
            bwrap.display(),
            stderr.trim()
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use agentkit_core::sandbox::NetworkPolicy;

    use super::*;

    /// A probe for a host with nothing optional.
    pub(crate) fn bare_probe() -> BwrapProbe {
        let missing = |what: &str| Support::Unavailable(format!("no {what} on this test host"));
        BwrapProbe {
            bwrap: "/usr/bin/bwrap".into(),
            version: "bubblewrap 0.8.0".into(),
            nested_user_namespaces_blocked: true,
            network_deny: Support::Enforced("netns".into()),
            network_full: Support::Enforced("host".into()),
            network_allow_list: missing("proxy"),
            pids: missing("pids cgroup"),
            memory: missing("memory cgroup"),
            cpu_seconds: Support::Enforced("RLIMIT_CPU".into()),
            disk: missing("root"),
            cgroups: CgroupHost {
                version: CgroupVersion::V2,
                pids: Err("none".into()),
                memory: Err("none".into()),
                memsw: false,
            },
        }
    }

    fn policy(limits: ResourceLimits, network: NetworkPolicy) -> SandboxPolicy {
        SandboxPolicy {
            limits,
            network,
            ..SandboxPolicy::default()
        }
    }

    #[test]
    fn a_policy_asking_for_what_the_host_lacks_is_refused_by_name() {
        let probe = bare_probe();
        assert!(probe.check(&SandboxPolicy::default()).is_ok());
        assert!(
            probe
                .check(&policy(
                    ResourceLimits {
                        cpu_seconds: Some(5),
                        ..ResourceLimits::default()
                    },
                    NetworkPolicy::Full
                ))
                .is_ok()
        );
        let refused = |limits| match probe.check(&policy(limits, NetworkPolicy::Deny)) {
            Err(SandboxError::Unsupported { what, hint }) => (what, hint),
            other => panic!("expected Unsupported, got {other:?}"),
        };
        assert_eq!(
            refused(ResourceLimits {
                pids: Some(64),
                ..ResourceLimits::default()
            }),
            (
                "`limits.pids` in the bwrap backend".to_string(),
                "no pids cgroup on this test host".to_string()
            )
        );
        assert_eq!(
            refused(ResourceLimits {
                disk_bytes: Some(1 << 30),
                ..ResourceLimits::default()
            })
            .0,
            "`limits.disk_bytes` in the bwrap backend"
        );
        assert!(matches!(
            probe.check(&policy(
                ResourceLimits::default(),
                NetworkPolicy::AllowList(vec!["example.com".into()])
            )),
            Err(SandboxError::Unsupported { .. })
        ));
    }
}
