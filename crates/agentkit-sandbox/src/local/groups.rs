//! Process groups of running commands, and killing them.
//!
//! Every command is the leader of its own process group, so everything it
//! starts (a test runner's workers, a backgrounded server, a grandchild
//! `sleep`) can be killed at once with `killpg`. A [`GroupGuard`] kills the
//! group when it is dropped while still armed: on timeout, when the exec
//! future is dropped (cancellation), or when the sandbox is closed while the
//! command runs ([`LiveGroups::kill_all`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// The process groups of the commands a sandbox is running right now.
#[derive(Debug, Default, Clone)]
pub(crate) struct LiveGroups {
    groups: Arc<Mutex<HashSet<i32>>>,
}

impl LiveGroups {
    /// Tracks the group `pgid` until the returned guard is dropped.
    pub(crate) fn register(&self, pgid: Option<u32>) -> GroupGuard {
        let pgid = pgid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 0);
        if let Some(pgid) = pgid {
            self.lock().insert(pgid);
        }
        GroupGuard {
            groups: self.clone(),
            pgid,
            armed: true,
        }
    }

    /// Kills every group still running (used when the sandbox closes).
    pub(crate) fn kill_all(&self) {
        for pgid in self.lock().iter() {
            kill_group(*pgid);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<i32>> {
        // A panic while holding this lock leaves a plain set behind; keep going.
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Kills its process group on drop unless disarmed.
#[derive(Debug)]
pub(crate) struct GroupGuard {
    groups: LiveGroups,
    pgid: Option<i32>,
    armed: bool,
}

impl GroupGuard {
    /// Kills the whole group now. Later drops do not kill again (the group
    /// id could be reused once everything in it is dead and reaped).
    pub(crate) fn kill(&mut self) {
        if self.armed
            && let Some(pgid) = self.pgid
        {
            kill_group(pgid);
        }
        self.armed = false;
    }

    /// The command ended on its own and its pipes closed: leave whatever it
    /// deliberately detached alone.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
        if let Some(pgid) = self.pgid {
            self.groups.lock().remove(&pgid);
        }
    }
}

/// Sends SIGKILL to every process in group `pgid`.
fn kill_group(pgid: i32) {
    // SAFETY: killpg only sends a signal; it touches no memory of ours.
    let rc = unsafe { libc::killpg(pgid, libc::SIGKILL) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // ESRCH: the group is already gone, which is what we wanted.
        if err.raw_os_error() != Some(libc::ESRCH) {
            tracing::warn!(pgid, error = %err, "could not kill the command's process group");
        }
    }
}
