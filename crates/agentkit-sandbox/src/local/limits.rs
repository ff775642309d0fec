//! Resource limits applied with `setrlimit` in the child before `exec`.
//!
//! - `cpu_seconds` → `RLIMIT_CPU`: CPU time per process; the kernel sends
//!   `SIGXCPU` at the limit and `SIGKILL` one second later (the hard limit).
//! - `memory_bytes` → `RLIMIT_AS`: address space per process. Runtimes that
//!   reserve large virtual ranges (the JVM, Go, some allocators) may need
//!   more than their resident size.
//! - `pids` → `RLIMIT_NPROC`: on Linux this counts **all processes of the
//!   user**, not of the command, and does not apply to root (or to anything
//!   with `CAP_SYS_RESOURCE`/`CAP_SYS_ADMIN`). It is a weak guard; use the
//!   `bwrap` or `docker` backend for a real pids limit.
//!
//! Limits are per process and inherited by children; they never raise an
//! existing hard limit. `disk_bytes` is not enforced by the local backend.

use std::io;

use agentkit_core::sandbox::ResourceLimits;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

/// The limits to apply, copied out of the policy so the `pre_exec` closure
/// owns plain numbers and allocates nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rlimits {
    cpu_seconds: Option<u64>,
    memory_bytes: Option<u64>,
    pids: Option<u64>,
}

impl Rlimits {
    /// The rlimits for `limits`.
    pub(crate) fn from_policy(limits: &ResourceLimits) -> Self {
        Self {
            cpu_seconds: limits.cpu_seconds,
            memory_bytes: limits.memory_bytes,
            pids: limits.pids,
        }
    }

    /// Whether any limit is set.
    pub(crate) fn any(&self) -> bool {
        self.cpu_seconds.is_some() || self.memory_bytes.is_some() || self.pids.is_some()
    }

    /// Applies the limits to the current process. Called between `fork` and
    /// `exec`: only async-signal-safe calls (`getrlimit`, `setrlimit`), no
    /// allocation.
    pub(crate) fn apply(&self) -> io::Result<()> {
        if let Some(v) = self.cpu_seconds {
            // Soft limit first (SIGXCPU says what happened), hard a second later.
            set(libc::RLIMIT_CPU, v, v.saturating_add(1))?;
        }
        if let Some(v) = self.memory_bytes {
            set(libc::RLIMIT_AS, v, v)?;
        }
        if let Some(v) = self.pids {
            set(libc::RLIMIT_NPROC, v, v)?;
        }
        Ok(())
    }
}

fn set(resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and pass by pointer.
    if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let clamp = |v: u64| libc::rlim_t::try_from(v).unwrap_or(libc::RLIM_INFINITY);
    // Lowering is always allowed; raising a hard limit is not, so never try.
    let rlim_max = clamp(hard).min(current.rlim_max);
    let new = libc::rlimit {
        rlim_cur: clamp(soft).min(rlim_max),
        rlim_max,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(resource, &new) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
