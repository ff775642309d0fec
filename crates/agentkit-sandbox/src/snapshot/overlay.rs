//! Warm starts in O(1): a snapshot as the read-only lower layer of an
//! overlay mounted on the sandbox's workspace.
//!
//! Copying a snapshot costs one file creation per file (a Python venv is
//! ~1,700 files: 0.3 s on a quiet ext4, 2–4 s when other builds keep the
//! journal busy). An overlay costs one `mount(2)`: the sandbox's writes go
//! to an upper directory of its own (`<scratch>/.layers/upper`), the
//! snapshot is never written. The merged view is mounted **on the host**
//! (in the agent's mount namespace), so everything that reads the
//! workspace host-side — file tools, `git diff` for the PR, checkpoints —
//! sees the real files, and isolating backends bind it like any directory.
//!
//! Mounting needs `CAP_SYS_ADMIN` in the host's mount namespace (root)
//! and overlayfs in the kernel. The first mount that fails says so once
//! in the log and every later restore copies instead
//! ([`SnapshotRestore::Copy`](agentkit_core::environment::SnapshotRestore)).
//!
//! A snapshot must not change while an overlay uses it: the store never
//! deletes a snapshot directory that a mount names as its lower layer
//! ([`in_use`]); it renames it aside and deletes it later.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tempfile::TempDir;

/// Set after a mount failed: overlays are not available here.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// An overlay mounted by us; unmounted on [`OverlayMount::unmount`] or drop.
#[derive(Debug)]
pub(crate) struct OverlayMount {
    target: PathBuf,
    mounted: bool,
}

impl OverlayMount {
    /// Mounts `lower` (read-only) under a fresh upper layer in `layers` on
    /// the existing empty directory `target`. `None` when overlays are not
    /// available here (then copy): no privilege, no overlayfs, or a path
    /// the mount options cannot carry (`,` `:` `\` or whitespace).
    pub(crate) fn mount(lower: &Path, layers: &Path, target: &Path) -> Option<OverlayMount> {
        if UNAVAILABLE.load(Ordering::Relaxed) {
            return None;
        }
        let (upper, work) = (layers.join("upper"), layers.join("work"));
        let paths = [lower, &upper, &work, target];
        if paths.iter().any(|p| !plain(p)) {
            tracing::debug!(lower = %lower.display(), "snapshot path unfit for overlay options; copying");
            return None;
        }
        let made = std::fs::create_dir_all(&upper).and_then(|()| std::fs::create_dir_all(&work));
        let mounted = made.and_then(|()| mount(lower, &upper, &work, target));
        match mounted {
            Ok(()) => Some(OverlayMount {
                target: target.to_path_buf(),
                mounted: true,
            }),
            Err(error) => {
                if !UNAVAILABLE.swap(true, Ordering::Relaxed) {
                    tracing::info!(%error, "workspace snapshots cannot be mounted as overlays here; restoring them by copying (slower for many files)");
                }
                let _ = std::fs::remove_dir_all(layers);
                None
            }
        }
    }

    /// The mount point (the workspace).
    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// Unmounts (lazily: a process still in the workspace cannot keep it
    /// busy). Idempotent.
    pub(crate) fn unmount(&mut self) -> io::Result<()> {
        if !self.mounted {
            return Ok(());
        }
        detach(&self.target)?;
        self.mounted = false;
        Ok(())
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if let Err(error) = self.unmount() {
            tracing::warn!(path = %self.target.display(), %error, "could not unmount the workspace overlay; unmount it by hand");
        }
    }
}

/// A sandbox's temp directory and the overlay mounted in it, if any: the
/// overlay is unmounted before the directory is deleted (on
/// [`close`](Self::close) and on drop).
#[derive(Debug)]
pub(crate) struct ScratchDir {
    // Declared first: dropped (unmounted) before `temp` is deleted.
    overlay: Option<OverlayMount>,
    temp: TempDir,
}

impl ScratchDir {
    /// Owns `temp`.
    pub(crate) fn new(temp: TempDir) -> Self {
        Self {
            overlay: None,
            temp,
        }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Where overlay layers for a workspace in this directory go.
    pub(crate) fn layers(&self) -> PathBuf {
        self.temp.path().join(".layers")
    }

    /// Keeps `overlay` until the directory is closed.
    pub(crate) fn hold(&mut self, overlay: OverlayMount) {
        self.overlay = Some(overlay);
    }

    #[cfg(feature = "docker")]
    /// The temp directory, for a workspace filled without an overlay (one
    /// held is unmounted first).
    pub(crate) fn into_temp(self) -> TempDir {
        let ScratchDir { overlay, temp } = self;
        drop(overlay);
        temp
    }

    /// Unmounts the overlay, then deletes the directory.
    pub(crate) fn close(mut self) -> io::Result<()> {
        if let Some(mut overlay) = self.overlay.take() {
            overlay.unmount().map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!(
                        "unmounting the workspace overlay {}: {error}",
                        overlay.target().display()
                    ),
                )
            })?;
        }
        self.temp.close()
    }
}

/// Whether an overlay mounted in this mount namespace names `lower` as a
/// lower layer. Unknown (no `/proc`) counts as in use.
pub(crate) fn in_use(lower: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return true;
    };
    let wanted = format!("lowerdir={}", lower.display());
    mounts.lines().any(|line| {
        line.contains(" - overlay ")
            && line
                .split(',')
                .flat_map(|o| o.split(' '))
                .any(|option| option == wanted)
    })
}

/// Paths the options string carries unescaped.
fn plain(path: &Path) -> bool {
    path.is_absolute()
        && path.to_str().is_some_and(|s| {
            !s.chars()
                .any(|c| matches!(c, ',' | ':' | '\\') || c.is_whitespace())
        })
}

#[cfg(target_os = "linux")]
fn mount(lower: &Path, upper: &Path, work: &Path, target: &Path) -> io::Result<()> {
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let options =
        CString::new(options).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let target = c_path(target)?;
    // SAFETY: every pointer is a NUL-terminated string that outlives the
    // call; mount(2) only reads them.
    let rc = unsafe {
        libc::mount(
            c"overlay".as_ptr(),
            target.as_ptr(),
            c"overlay".as_ptr(),
            libc::MS_NODEV,
            options.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn mount(_: &Path, _: &Path, _: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Unmounts `target` lazily (`MNT_DETACH`: a process still inside cannot
/// keep it busy). Shared with bwrap's disk-limit tmpfs.
pub(crate) fn detach(target: &Path) -> io::Result<()> {
    let target = c_path(target)?;
    // SAFETY: `target` is a NUL-terminated string that outlives the call.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `path` as a C string; a path with a NUL byte is invalid input.
pub(crate) fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} contains a NUL byte", path.display()),
        )
    })
}
