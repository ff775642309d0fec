//! The container a sandbox runs in: its limits and its create request.
//!
//! Every container gets a read-only root filesystem, a private tmpfs `/tmp`,
//! no capabilities (`cap_drop: ALL`), `no-new-privileges`, the daemon's
//! default seccomp profile (the provider warns when the daemon has none),
//! its own PID, IPC and mount namespaces (and UTS, except with the host's
//! network), a network mode from [`network`](super::network), no logging,
//! and the helper as PID 1. Limits map as follows:
//!
//! - `memory_bytes` → the memory cgroup, with memory + swap capped at the
//!   same value (so no swap); `/tmp` is tmpfs and counts against it too;
//! - `pids` → the pids cgroup (every process and thread of the container,
//!   root included);
//! - `cpu_seconds` → `RLIMIT_CPU` on each command (soft limit, hard a second
//!   later), set by the wrapper, like the local backend; the provider's
//!   `cpus` → a CFS quota (`nano_cpus`) for the whole container;
//! - `disk_bytes` → refused: the workspace is a host directory, and the
//!   daemon's storage quotas do not cover bind mounts.
//!
//! A limit the daemon cannot enforce is refused with
//! [`SandboxError::Unsupported`] before anything is created.

use std::collections::HashMap;

use agentkit_core::sandbox::{ResourceLimits, SandboxError};
use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, ResourcesUlimits,
};

use super::daemon::Support;
use super::helper::{self, WORKSPACE};

/// Size of `/tmp` when there is no memory limit.
pub(crate) const DEFAULT_TMP_BYTES: u64 = 1 << 30;

/// Architectures whose syscall numbers the helper knows (for `RLIMIT_CPU`).
const CPU_LIMIT_ARCHITECTURES: [&str; 3] = ["x86_64", "aarch64", "riscv64"];

/// The limits of one container.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Limits {
    /// Memory (and memory + swap) in bytes.
    pub(crate) memory: Option<i64>,
    /// Processes and threads.
    pub(crate) pids: Option<i64>,
    /// CPU seconds per command (applied by the wrapper).
    pub(crate) cpu_seconds: Option<u64>,
    /// CPUs for the whole container, in billionths.
    pub(crate) nano_cpus: Option<i64>,
}

/// The limits for a policy: each of its limits, else the provider's
/// default; refused when the daemon cannot enforce one.
pub(crate) fn limits(
    policy: &ResourceLimits,
    defaults: &ResourceLimits,
    cpus: Option<f64>,
    support: &Support,
) -> Result<Limits, SandboxError> {
    if policy.disk_bytes.or(defaults.disk_bytes).is_some() {
        return Err(SandboxError::Unsupported {
            what: "a disk limit (`limits.disk_bytes`) in the docker backend".into(),
            hint: "the workspace is a host directory bind-mounted into the container and the \
                   daemon's storage quotas do not cover bind mounts; leave disk_bytes unset"
                .into(),
        });
    }
    let memory = policy.memory_bytes.or(defaults.memory_bytes);
    if memory.is_some() && !(support.memory && support.swap) {
        return Err(SandboxError::Unsupported {
            what: format!(
                "a memory limit on this Docker daemon (memory cgroup: {}, swap accounting: {})",
                yes_no(support.memory),
                yes_no(support.swap)
            ),
            hint: "enable the memory cgroup and swap accounting (`cgroup_enable=memory \
                   swapaccount=1` on the kernel command line, or cgroup v2), or leave \
                   memory_bytes unset"
                .into(),
        });
    }
    let pids = policy.pids.or(defaults.pids);
    if pids.is_some() && !support.pids {
        return Err(SandboxError::Unsupported {
            what: "a process limit on this Docker daemon (no pids cgroup)".into(),
            hint: "enable the pids cgroup controller, or leave limits.pids unset".into(),
        });
    }
    let cpu_seconds = policy.cpu_seconds.or(defaults.cpu_seconds);
    if cpu_seconds.is_some() && !CPU_LIMIT_ARCHITECTURES.contains(&support.architecture.as_str()) {
        return Err(SandboxError::Unsupported {
            what: format!(
                "a CPU-time limit on {} in the docker backend",
                support.architecture
            ),
            hint: format!(
                "the in-container helper sets RLIMIT_CPU only on {}; leave cpu_seconds unset",
                CPU_LIMIT_ARCHITECTURES.join(", ")
            ),
        });
    }
    let nano_cpus = match cpus {
        None => None,
        Some(_) if !support.cpu_quota => {
            return Err(SandboxError::Unsupported {
                what: "a CPU quota on this Docker daemon (no CFS quota support)".into(),
                hint: "enable CFS bandwidth control in the kernel, or do not set `cpus`".into(),
            });
        }
        Some(cpus) if cpus.is_finite() && cpus > 0.0 => Some((cpus * 1e9).round() as i64),
        Some(cpus) => {
            return Err(SandboxError::Setup {
                reason: format!("`cpus` must be a positive number of CPUs, not {cpus}"),
            });
        }
    };
    Ok(Limits {
        memory: memory
            .map(|bytes| to_i64(bytes, "memory_bytes"))
            .transpose()?,
        pids: pids.map(|n| to_i64(n, "pids")).transpose()?,
        cpu_seconds,
        nano_cpus,
    })
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn to_i64(value: u64, name: &str) -> Result<i64, SandboxError> {
    i64::try_from(value).map_err(|_| SandboxError::Setup {
        reason: format!("limits.{name} = {value} is too large for Docker"),
    })
}

/// Everything that makes up one sandbox's container.
#[derive(Debug, Clone)]
pub(crate) struct ContainerPlan {
    /// The image.
    pub(crate) image: String,
    /// `uid:gid` the processes run as.
    pub(crate) user: String,
    /// Labels (sandbox id, owner).
    pub(crate) labels: HashMap<String, String>,
    /// Bind mounts, in any order (the daemon sorts them by depth).
    pub(crate) mounts: Vec<Mount>,
    /// The network mode.
    pub(crate) network_mode: String,
    /// Limits.
    pub(crate) limits: Limits,
    /// More writable tmpfs mounts besides `/tmp` (a home for toolchains),
    /// with the same size cap.
    pub(crate) tmpfs: Vec<String>,
}

impl ContainerPlan {
    /// The create request.
    pub(crate) fn body(&self) -> ContainerCreateBody {
        let tmp_bytes = self
            .limits
            .memory
            .and_then(|m| u64::try_from(m).ok())
            .map_or(DEFAULT_TMP_BYTES, |m| m.min(DEFAULT_TMP_BYTES));
        let host_config = HostConfig {
            mounts: Some(self.mounts.clone()),
            tmpfs: Some(
                std::iter::once(("/tmp".to_string(), "mode=1777"))
                    .chain(self.tmpfs.iter().map(|dir| (dir.clone(), "mode=0755")))
                    .map(|(dir, mode)| {
                        (dir, format!("rw,nosuid,nodev,exec,size={tmp_bytes},{mode}"))
                    })
                    .collect(),
            ),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            network_mode: Some(self.network_mode.clone()),
            privileged: Some(false),
            init: Some(false),
            ipc_mode: Some("private".into()),
            memory: self.limits.memory,
            memory_swap: self.limits.memory,
            pids_limit: self.limits.pids,
            nano_cpus: self.limits.nano_cpus,
            // No core files in the workspace.
            ulimits: Some(vec![ResourcesUlimits {
                name: Some("core".into()),
                soft: Some(0),
                hard: Some(0),
            }]),
            log_config: Some(HostConfigLogConfig {
                typ: Some("none".into()),
                config: None,
            }),
            auto_remove: Some(false),
            ..HostConfig::default()
        };
        ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint: Some(helper::init_argv()),
            cmd: Some(Vec::new()),
            user: Some(self.user.clone()),
            working_dir: Some(WORKSPACE.into()),
            // The daemon refuses a hostname with the host's network namespace.
            hostname: (self.network_mode != "host").then(|| "agentkit".to_string()),
            labels: Some(self.labels.clone()),
            attach_stdin: Some(false),
            attach_stdout: Some(false),
            attach_stderr: Some(false),
            open_stdin: Some(false),
            tty: Some(false),
            host_config: Some(host_config),
            ..ContainerCreateBody::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn support() -> Support {
        Support {
            server_version: "20.10".into(),
            api_version: "1.41".into(),
            architecture: "x86_64".into(),
            memory: true,
            swap: true,
            pids: true,
            cpu_quota: true,
            bridge_network: false,
            seccomp: true,
        }
    }

    #[test]
    fn policy_limits_win_over_defaults() {
        let policy = ResourceLimits {
            memory_bytes: Some(256 << 20),
            ..ResourceLimits::default()
        };
        let defaults = ResourceLimits {
            memory_bytes: Some(1 << 30),
            pids: Some(512),
            cpu_seconds: Some(60),
            disk_bytes: None,
        };
        assert_eq!(
            limits(&policy, &defaults, Some(1.5), &support()).unwrap(),
            Limits {
                memory: Some(256 << 20),
                pids: Some(512),
                cpu_seconds: Some(60),
                nano_cpus: Some(1_500_000_000),
            }
        );
    }

    #[test]
    fn limits_the_daemon_cannot_enforce_are_refused() {
        let none = ResourceLimits::default();
        let memory = ResourceLimits {
            memory_bytes: Some(1 << 30),
            ..none.clone()
        };
        let pids = ResourceLimits {
            pids: Some(64),
            ..none.clone()
        };
        let disk = ResourceLimits {
            disk_bytes: Some(1 << 30),
            ..none.clone()
        };
        let cpu = ResourceLimits {
            cpu_seconds: Some(10),
            ..none.clone()
        };
        let no_swap = Support {
            swap: false,
            ..support()
        };
        let no_pids = Support {
            pids: false,
            ..support()
        };
        let other_arch = Support {
            architecture: "s390x".into(),
            ..support()
        };
        let no_quota = Support {
            cpu_quota: false,
            ..support()
        };
        let refused = [
            limits(&memory, &none, None, &no_swap),
            limits(&none, &memory, None, &no_swap),
            limits(&pids, &none, None, &no_pids),
            limits(&disk, &none, None, &support()),
            limits(&cpu, &none, None, &other_arch),
            limits(&none, &none, Some(1.0), &no_quota),
        ];
        for result in refused {
            assert!(
                matches!(result, Err(SandboxError::Unsupported { .. })),
                "{result:?}"
            );
        }
        assert!(limits(&none, &none, Some(-1.0), &support()).is_err());
        assert_eq!(
            limits(&none, &none, None, &no_swap).unwrap(),
            Limits::default()
        );
    }

    #[test]
    fn the_container_is_locked_down() {
        let plan = ContainerPlan {
            image: "agentkit-sandbox:local".into(),
            user: "0:0".into(),
            labels: HashMap::new(),
            mounts: Vec::new(),
            network_mode: "none".into(),
            limits: Limits {
                memory: Some(256 << 20),
                pids: Some(64),
                ..Limits::default()
            },
            tmpfs: vec!["/root".into()],
        };
        let body = plan.body();
        let host = body.host_config.clone().unwrap();
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_string()])
        );
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.privileged, Some(false));
        assert_eq!(
            (host.memory, host.memory_swap, host.pids_limit),
            (Some(256 << 20), Some(256 << 20), Some(64))
        );
        let tmpfs = host.tmpfs.unwrap();
        assert_eq!(
            tmpfs["/tmp"],
            format!("rw,nosuid,nodev,exec,size={},mode=1777", 256 << 20)
        );
        assert_eq!(
            tmpfs["/root"],
            format!("rw,nosuid,nodev,exec,size={},mode=0755", 256 << 20)
        );
        assert_eq!(
            body.entrypoint,
            Some(vec![
                "perl".to_string(),
                "/run/agentkit/helper.pl".into(),
                "init".into()
            ])
        );
        assert_eq!(body.hostname.as_deref(), Some("agentkit"));
        let host_mode = ContainerPlan {
            network_mode: "host".into(),
            ..plan
        };
        assert_eq!(host_mode.body().hostname, None);
    }
}
