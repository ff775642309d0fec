//! The disk limit: the workspace lives on a size-limited tmpfs, mounted on
//! the host (which needs root, `CAP_SYS_ADMIN` in the host's mount
//! namespace) before the clone and unmounted when the sandbox closes.
//!
//! The mount is in the agent's mount namespace, so it is visible host-wide
//! while the sandbox lives; if the agent dies without closing, it stays
//! mounted until someone unmounts it (`umount <temp>/workspace`). Its pages
//! live in memory and are charged to the cgroup of whoever wrote them.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

/// A tmpfs mounted by us; unmounted on [`TmpfsMount::unmount`] or drop.
#[derive(Debug)]
pub(crate) struct TmpfsMount {
    path: PathBuf,
    mounted: bool,
}

impl TmpfsMount {
    /// Mounts a tmpfs of at most `bytes` on the existing directory `path`
    /// (`nosuid`, `nodev`, mode 0755).
    pub(crate) fn mount(path: &Path, bytes: u64) -> io::Result<TmpfsMount> {
        let target = crate::snapshot::overlay::c_path(path)?;
        let options = CString::new(format!("size={bytes},mode=0755"))
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: every pointer is a NUL-terminated string that outlives the
        // call; mount(2) only reads them.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(TmpfsMount {
            path: path.to_path_buf(),
            mounted: true,
        })
    }

    /// The mount point.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Unmounts (lazily: a sandbox process still holding it cannot keep the
    /// mount point busy). Idempotent.
    pub(crate) fn unmount(&mut self) -> io::Result<()> {
        if !self.mounted {
            return Ok(());
        }
        crate::snapshot::overlay::detach(&self.path)?;
        self.mounted = false;
        Ok(())
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        if let Err(err) = self.unmount() {
            tracing::warn!(path = %self.path.display(), error = %err, "could not unmount the workspace tmpfs; unmount it by hand");
        }
    }
}

/// Whether this process can mount a size-limited tmpfs (tries it on a
/// scratch directory); the error says why not.
pub(crate) fn can_mount() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("mounting the workspace's size-limited tmpfs needs root".into());
    }
    let scratch = tempfile::Builder::new()
        .prefix("agentkit-bwrap-probe-")
        .tempdir()
        .map_err(|e| format!("could not make a scratch directory: {e}"))?;
    let mut mount = TmpfsMount::mount(scratch.path(), 1 << 20).map_err(|e| {
        format!("mounting a tmpfs failed even as root ({e}); the agent lacks CAP_SYS_ADMIN")
    })?;
    mount
        .unmount()
        .map_err(|e| format!("unmounting the probe tmpfs failed: {e}"))
}
