//! Host-side file operations on a workspace directory that untrusted
//! processes may be changing at the same time.
//!
//! [`HostWorkspace`] opens the workspace root **once**, as a directory
//! handle, and resolves every workspace-relative path beneath that handle.
//! The `local` backend uses it for its file API, and the isolating backends
//! (bubblewrap, Docker) use it on the host directory they bind-mount into
//! the sandbox, where the commands are hostile and run concurrently with the
//! host's operations.
//!
//! # What is guaranteed
//!
//! **Containment, race-free.** No operation reads, writes, creates, lists,
//! removes or stats anything outside the workspace, whatever a concurrent
//! process does to the workspace meanwhile (swapping a directory for a
//! symlink, renaming, deleting). A swap can make an operation fail or act on
//! another place *inside* the workspace, never outside. This holds because:
//!
//! - no path is ever resolved by host path: every call is relative to a
//!   directory handle that was itself opened beneath the root handle;
//! - each call names **one** component and never follows a symlink in the
//!   kernel (`O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`); symlinks are followed by
//!   this module one at a time, a target's `..` goes back to the directory
//!   handle held one level up (never the kernel's `..`), and an absolute
//!   target is refused;
//! - every call goes through [`cap_std::fs::Dir`], which resolves beneath
//!   its handle (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`
//!   where the kernel has it, a careful `O_NOFOLLOW` walk otherwise): a
//!   second line of defence, since the names given to it cannot escape.
//!
//! It assumes the workspace's directories cannot be moved *out of* the
//! workspace by the untrusted side. That holds for a bind-mounted workspace
//! (a rename across mounts fails with `EXDEV`); the root itself is chosen by
//! the host and trusted.
//!
//! **The rules of the file API**, the same for every backend:
//!
//! - `..` above the root, absolute paths, and symlinks leading outside are
//!   [`SandboxError::OutsideWorkspace`].
//! - `read` follows symlinks that stay inside; `list` follows them to the
//!   directory but describes its entries without following them; `stat`
//!   describes the last component itself.
//! - `write` never writes through a symlink, dangling or not: a last
//!   component that is a symlink is refused (naming where it points, so the
//!   model can write there), and a missing directory is never created at a
//!   symlink's target. Missing parent directories are created.
//! - Protected paths (`.git/hooks`, `.git/config` by default, and anything
//!   beneath them) cannot be written, created, replaced or removed: checked
//!   on the path as given, on the resolved path of every directory before it
//!   is created and of the final entry, and against where each protected
//!   path currently resolves (a symlinked `.git` protects its target too).
//!   Writing *through* a symlink into a protected path, or to a symlink that
//!   points at one, is [`SandboxError::Protected`]. Reading them is allowed.
//! - `read` and `write` handle regular files only. FIFOs, sockets and
//!   devices are refused before they are opened, and the opened handle is
//!   checked again (opens are `O_NONBLOCK | O_NOCTTY`). An untrusted process
//!   can plant such nodes (a container with `CAP_MKNOD` can create a block
//!   device of the host's disk), and the host must not block on them or
//!   write into them.
//!
//! # Stricter than plain path resolution
//!
//! - **Absolute symlinks are never followed**, even when they point inside
//!   the workspace: an absolute target names one place on the host and
//!   another inside an isolating sandbox, where the workspace is mounted at
//!   a different path. They are [`SandboxError::OutsideWorkspace`]; relative
//!   symlinks mean the same on both sides and work. Whether an absolute
//!   target exists on the host is therefore neither checked nor revealed.
//! - A chain of more than 40 symlinks (Linux's limit) is
//!   [`SandboxError::WrongKind`].
//!
//! # What is not guaranteed
//!
//! - **Protected paths against renames.** A concurrent process that
//!   *renames* a directory already resolved (say `a`, being written into)
//!   to `.git/hooks` can steer that write there. Symlink swaps cannot. An
//!   isolating backend must also make protected paths read-only inside the
//!   sandbox (a read-only bind mount cannot be renamed over).
//! - [`HostWorkspace::resolve`] returns a path, for a command's working
//!   directory: the process started there resolves it again.

mod errors;
mod guard;
mod shared;
mod walk;

pub(crate) use shared::{SharedWorkspace, task_failed};

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use agentkit_core::sandbox::{FileKind, FileStat, SandboxError};
use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::fs::{Dir, File, Metadata, OpenOptions, OpenOptionsExt};

use errors::{io_error, outside, wrong_kind};
use guard::{Guard, normalize_protected};
use walk::{End, Mode, Walker, normalize, rel_string, steps_of};

const READ_A_DIRECTORY: &str = "is a directory; use list to see its entries";
const WRITE_A_DIRECTORY: &str = "is a directory; give the path of a file inside it";
const LIST_A_FILE: &str = "is not a directory; use read or stat instead";
const NOT_REGULAR: &str =
    "is not a regular file (a fifo, socket or device); only regular files can be read or written";

/// A workspace directory on the host, held open as a directory handle; every
/// path is resolved beneath it. See the [module docs](self) for the
/// guarantees.
///
/// The operations are blocking; async callers run them on a blocking pool.
///
/// ```
/// use agentkit_sandbox::workspace::HostWorkspace;
///
/// let dir = tempfile::tempdir().unwrap();
/// let ws = HostWorkspace::open(dir.path(), &[".git/hooks".to_string()]).unwrap();
/// ws.write("src/lib.rs", b"pub fn f() {}\n").unwrap();
/// assert_eq!(ws.read("src/lib.rs").unwrap(), b"pub fn f() {}\n");
/// assert!(ws.write(".git/hooks/pre-commit", b"#!/bin/sh\n").is_err());
/// assert!(ws.read("../etc/passwd").is_err());
/// ```
#[derive(Debug)]
pub struct HostWorkspace {
    root: Dir,
    root_path: PathBuf,
    protected: Vec<PathBuf>,
}

/// Where a path leads once every symlink is followed: the answer of
/// [`HostWorkspace::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The resolved path relative to the root, without symlinks (empty for
    /// the root itself).
    pub relative: PathBuf,
    /// What is there (never [`FileKind::Symlink`]); `None` when nothing is.
    pub kind: Option<FileKind>,
}

impl HostWorkspace {
    /// Opens the existing directory `root` as a workspace. `protected` are
    /// the policy's protected paths (workspace-relative).
    ///
    /// Fails with [`SandboxError::NotFound`] when `root` does not exist and
    /// [`SandboxError::WrongKind`] when it is not a directory.
    pub fn open(root: impl AsRef<Path>, protected: &[String]) -> Result<Self, SandboxError> {
        let root = root.as_ref();
        let shown = root.display().to_string();
        let root_path = std::fs::canonicalize(root).map_err(|e| io_error(&shown, e))?;
        let dir = Dir::open_ambient_dir(&root_path, cap_std::ambient_authority()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotADirectory {
                wrong_kind(
                    &shown,
                    "is not a directory; a workspace must be a directory",
                )
            } else {
                io_error(&shown, e)
            }
        })?;
        Ok(Self {
            root: dir,
            root_path,
            protected: normalize_protected(protected),
        })
    }

    /// The canonical host path of the root, as it was when opened.
    pub fn root(&self) -> &Path {
        &self.root_path
    }

    /// Reads a whole regular file. Symlinks are followed as long as they
    /// stay inside.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let rel = normalize(path)?;
        let mut walk = Walker::new(&self.root, path);
        let (name, meta) = match walk.walk(steps_of(&rel), follow_all())? {
            End::Here => return Err(wrong_kind(path, READ_A_DIRECTORY)),
            End::Entry { meta: None, .. } => return Err(not_found(path)),
            End::Entry {
                name,
                meta: Some(meta),
            } => (name, meta),
        };
        regular_file(path, &meta, READ_A_DIRECTORY)?;
        let mut options = OpenOptions::new();
        options.read(true);
        let mut file = open_checked(walk.dir(), &name, &mut options, path, READ_A_DIRECTORY)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io_error(path, e))?;
        Ok(bytes)
    }

    /// Writes a whole regular file (truncating it), creating missing parent
    /// directories. Never writes through a symlink.
    pub fn write(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let rel = normalize(path)?;
        if rel.as_os_str().is_empty() {
            return Err(wrong_kind(
                path,
                "is the workspace root; give the path of a file",
            ));
        }
        let guard = self.guard();
        guard.check(path, &rel)?;
        let mut walk = Walker::new(&self.root, path);
        let mode = Mode {
            follow_last: false,
            create_dirs: Some(&guard),
        };
        let (name, meta) = match walk.walk(steps_of(&rel), mode)? {
            End::Entry { name, meta } => (name, meta),
            // Only a followed last component can end on a directory.
            End::Here => return Err(wrong_kind(path, WRITE_A_DIRECTORY)),
        };
        guard.check(path, &walk.child(&name))?;
        if let Some(meta) = &meta {
            if meta.file_type().is_symlink() {
                return Err(self.symlink_refusal(path, &walk, &name, &guard));
            }
            regular_file(path, meta, WRITE_A_DIRECTORY)?;
        }
        // No O_TRUNC: the handle is checked to be a regular file first.
        let mut options = OpenOptions::new();
        options.write(true).create(true);
        let mut file = match open_checked(walk.dir(), &name, &mut options, path, WRITE_A_DIRECTORY)
        {
            Err(SandboxError::Io { source, .. }) if source.raw_os_error() == Some(libc::ELOOP) => {
                // A symlink was swapped in after the check: not followed.
                return Err(self.symlink_refusal(path, &walk, &name, &guard));
            }
            other => other?,
        };
        file.set_len(0).map_err(|e| io_error(path, e))?;
        file.write_all(contents).map_err(|e| io_error(path, e))
    }

    /// Lists a directory, sorted by path (symlinks on the way are followed,
    /// entries are described without following them). Entry paths are the
    /// given path plus the entry name.
    pub fn list(&self, path: &str) -> Result<Vec<FileStat>, SandboxError> {
        let rel = normalize(path)?;
        let mut walk = Walker::new(&self.root, path);
        let opened;
        let dir = match walk.walk(steps_of(&rel), follow_all())? {
            End::Here => walk.dir(),
            End::Entry { meta: None, .. } => return Err(not_found(path)),
            End::Entry {
                name,
                meta: Some(meta),
            } => {
                if !meta.is_dir() {
                    return Err(wrong_kind(path, LIST_A_FILE));
                }
                opened = walk
                    .dir()
                    .open_dir_nofollow(&name)
                    .map_err(|e| io_error(path, e))?;
                &opened
            }
        };
        let prefix = rel_string(&rel);
        let mut out = Vec::new();
        for entry in dir.entries().map_err(|e| io_error(path, e))? {
            let entry = entry.map_err(|e| io_error(path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let shown = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            match entry.metadata() {
                Ok(meta) => out.push(file_stat(shown, &meta)),
                // Deleted between readdir and stat: it is simply gone.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_error(&shown, err)),
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Removes a file, a symlink (not its target) or an empty directory.
    pub fn remove(&self, path: &str) -> Result<(), SandboxError> {
        let rel = normalize(path)?;
        if rel.as_os_str().is_empty() {
            return Err(wrong_kind(
                path,
                "is the workspace root and cannot be removed",
            ));
        }
        let guard = self.guard();
        guard.check(path, &rel)?;
        let mut walk = Walker::new(&self.root, path);
        let (name, meta) = match walk.walk(steps_of(&rel), follow_none())? {
            End::Entry { name, meta } => (name, meta),
            End::Here => {
                return Err(wrong_kind(
                    path,
                    "is the workspace root and cannot be removed",
                ));
            }
        };
        guard.check(path, &walk.child(&name))?;
        let Some(meta) = meta else {
            return Err(not_found(path));
        };
        if meta.is_dir() {
            walk.dir().remove_dir(&name)
        } else {
            walk.dir().remove_file(&name)
        }
        .map_err(|e| io_error(path, e))
    }

    /// Metadata of a path; a symlink in the last component is described,
    /// not followed.
    pub fn stat(&self, path: &str) -> Result<FileStat, SandboxError> {
        let rel = normalize(path)?;
        let shown = rel_string(&rel);
        let mut walk = Walker::new(&self.root, path);
        let meta = match walk.walk(steps_of(&rel), follow_none())? {
            End::Here => walk.dir().dir_metadata().map_err(|e| io_error(path, e))?,
            End::Entry { meta: None, .. } => return Err(not_found(path)),
            End::Entry {
                meta: Some(meta), ..
            } => meta,
        };
        Ok(file_stat(shown, &meta))
    }

    /// Where `path` leads once every symlink is followed (they must stay
    /// inside), and what is there. Only the last component may be missing.
    ///
    /// For handing a path to something that resolves it again (a command's
    /// working directory): the answer can be stale by the time it is used.
    pub fn resolve(&self, path: &str) -> Result<Resolution, SandboxError> {
        let rel = normalize(path)?;
        let mut walk = Walker::new(&self.root, path);
        Ok(match walk.walk(steps_of(&rel), follow_all())? {
            End::Here => Resolution {
                relative: walk.here(),
                kind: Some(FileKind::Dir),
            },
            End::Entry { name, meta } => Resolution {
                relative: walk.child(&name),
                kind: meta.map(|m| kind_of(&m)),
            },
        })
    }

    /// The protected prefixes for one operation: the policy's paths and
    /// where each of them resolves right now.
    fn guard(&self) -> Guard {
        let mut prefixes = self.protected.clone();
        for protected in &self.protected {
            let given = protected.to_string_lossy();
            let mut walk = Walker::new(&self.root, &given);
            let resolved = match walk.walk(steps_of(protected), follow_all()) {
                Ok(End::Here) => walk.here(),
                Ok(End::Entry { name, .. }) => walk.child(&name),
                // Missing parents, or leading outside: nothing more to protect.
                Err(_) => continue,
            };
            if !prefixes.contains(&resolved) {
                prefixes.push(resolved);
            }
        }
        Guard::new(prefixes)
    }

    /// The error for writing to `name`, a symlink: outside when it leads
    /// outside, protected when it leads into a protected path, otherwise a
    /// hint to write where it points.
    fn symlink_refusal(
        &self,
        path: &str,
        walk: &Walker<'_>,
        name: &OsStr,
        guard: &Guard,
    ) -> SandboxError {
        let mut probe = Walker::new(&self.root, path);
        let target = match probe.walk(steps_of(&walk.child(name)), follow_all()) {
            Ok(End::Here) => probe.here(),
            Ok(End::Entry { name, .. }) => probe.child(&name),
            Err(SandboxError::OutsideWorkspace { .. }) => return outside(path),
            Err(_) => {
                return wrong_kind(
                    path,
                    "is a symbolic link; write to the file it points to instead",
                );
            }
        };
        if guard.covers(&target) {
            return SandboxError::Protected {
                path: path.to_string(),
            };
        }
        wrong_kind(
            path,
            format!(
                "is a symbolic link to `{}`; write to that path instead",
                rel_string(&target)
            ),
        )
    }
}

fn follow_all() -> Mode<'static> {
    Mode {
        follow_last: true,
        create_dirs: None,
    }
}

fn follow_none() -> Mode<'static> {
    Mode {
        follow_last: false,
        create_dirs: None,
    }
}

fn not_found(path: &str) -> SandboxError {
    SandboxError::NotFound {
        path: path.to_string(),
    }
}

/// Refuses anything but a regular file: `dir_reason` for a directory,
/// [`NOT_REGULAR`] for the rest.
fn regular_file(path: &str, meta: &Metadata, dir_reason: &str) -> Result<(), SandboxError> {
    if meta.is_file() {
        Ok(())
    } else if meta.is_dir() {
        Err(wrong_kind(path, dir_reason))
    } else {
        Err(wrong_kind(path, NOT_REGULAR))
    }
}

/// Opens `name` in `dir` without following a symlink, without blocking on a
/// FIFO and without taking a terminal, then checks that the handle is a
/// regular file.
fn open_checked(
    dir: &Dir,
    name: &OsStr,
    options: &mut OpenOptions,
    path: &str,
    dir_reason: &str,
) -> Result<File, SandboxError> {
    options
        .follow(FollowSymlinks::No)
        .nonblock(true)
        .custom_flags(libc::O_NOCTTY);
    let file = dir
        .open_with(name, options)
        .map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    regular_file(path, &meta, dir_reason)?;
    Ok(file)
}

fn kind_of(meta: &Metadata) -> FileKind {
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        FileKind::Symlink
    } else if file_type.is_dir() {
        FileKind::Dir
    } else if file_type.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

fn file_stat(path: String, meta: &Metadata) -> FileStat {
    FileStat {
        path,
        kind: kind_of(meta),
        size: meta.len(),
    }
}
