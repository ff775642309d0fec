//! Resolving a workspace-relative path one component at a time, beneath the
//! workspace's directory handle.
//!
//! The [`Walker`] stands in a directory it holds open (the root at first) and
//! only ever asks the kernel about *one name in a held directory*, never
//! following a symlink there: `open_dir_nofollow`, `symlink_metadata`,
//! `read_link_contents`, `create_dir`. Symlinks are followed here, in user
//! space: a relative target is spliced into the steps still to walk, its
//! `..` goes back to the directory handle held one level up (never to the
//! kernel's `..`), and an absolute target is refused. So whatever a
//! concurrent process renames or swaps, each step lands in a child of a
//! directory already inside the workspace.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Component, Path, PathBuf};

use agentkit_core::sandbox::{SandboxError, join_relative};
use cap_fs_ext::DirExt;
use cap_std::fs::{Dir, Metadata};

use super::errors::{NOT_A_DIRECTORY, io_error, outside, wrong_kind};
use super::guard::Guard;

/// How many symlinks one resolution may follow (Linux's `MAXSYMLINKS`).
pub(super) const MAX_HOPS: usize = 40;

/// How often one component is retried when it keeps changing under us
/// (created, removed or swapped between two calls).
const MAX_ATTEMPTS: usize = 8;

/// One step of a path still to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Enter the entry `name` (or, as the last step, stop at it).
    Name {
        /// The entry's name: one component, never `.` or `..`.
        name: OsString,
        /// Whether it comes from a symlink's target (such directories are
        /// never created).
        from_link: bool,
    },
    /// Go back to the directory held one level up (only symlink targets
    /// produce this; the caller's path is normalized lexically first).
    Up,
}

/// Normalizes the caller's path lexically (`.` dropped, `..` applied):
/// absolute paths and a `..` above the root are
/// [`SandboxError::OutsideWorkspace`]. `""` is the root.
pub(super) fn normalize(path: &str) -> Result<PathBuf, SandboxError> {
    join_relative(Path::new(""), path)
}

/// The steps of a normalized relative path.
pub(super) fn steps_of(rel: &Path) -> VecDeque<Step> {
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(Step::Name {
                name: name.to_os_string(),
                from_link: false,
            }),
            _ => None,
        })
        .collect()
}

/// `rel` as a `/`-separated string (`""` for the root).
pub(super) fn rel_string(rel: &Path) -> String {
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

/// Where a walk stopped.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a short-lived return value; boxing would allocate on every operation"
)]
pub(super) enum End {
    /// The path leads to the directory the walker stands in (the root, or a
    /// symlink target ending in `..`).
    Here,
    /// The path names `name` in the directory the walker stands in.
    Entry {
        /// The last component.
        name: OsString,
        /// Its metadata, the entry itself (not followed); `None` when there
        /// is nothing by that name.
        meta: Option<Metadata>,
    },
}

/// What a walk does besides resolving.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mode<'g> {
    /// Follow a symlink in the last component (read, list, resolve) or stop
    /// at it (write, remove, stat).
    pub(super) follow_last: bool,
    /// Create missing directories on the way, each checked against the
    /// guard first (write); `None`: a missing directory is `NotFound`.
    pub(super) create_dirs: Option<&'g Guard>,
}

/// A resolution in progress: the directories entered from the root, held
/// open, and their names.
#[derive(Debug)]
pub(super) struct Walker<'a> {
    root: &'a Dir,
    /// The path as the caller gave it, for errors.
    given: &'a str,
    dirs: Vec<Dir>,
    names: Vec<OsString>,
    hops: usize,
}

impl<'a> Walker<'a> {
    /// A walker standing in `root`; errors name `given`.
    pub(super) fn new(root: &'a Dir, given: &'a str) -> Self {
        Self {
            root,
            given,
            dirs: Vec::new(),
            names: Vec::new(),
            hops: 0,
        }
    }

    /// The directory the walker stands in.
    pub(super) fn dir(&self) -> &Dir {
        self.dirs.last().unwrap_or(self.root)
    }

    /// The resolved path of the directory the walker stands in, relative to
    /// the root (no symlinks in it).
    pub(super) fn here(&self) -> PathBuf {
        self.names.iter().collect()
    }

    /// The resolved path of `name` in the directory the walker stands in.
    pub(super) fn child(&self, name: &OsStr) -> PathBuf {
        let mut path = self.here();
        path.push(name);
        path
    }

    /// Resolves `pending`: every step but the last must be a directory
    /// (symlinks followed); the last is followed or not as `mode` says.
    pub(super) fn walk(
        &mut self,
        mut pending: VecDeque<Step>,
        mode: Mode<'_>,
    ) -> Result<End, SandboxError> {
        while let Some(step) = pending.pop_front() {
            let (name, from_link) = match step {
                Step::Up => {
                    self.up()?;
                    continue;
                }
                Step::Name { name, from_link } => (name, from_link),
            };
            if !pending.is_empty() {
                self.enter(name, from_link, mode.create_dirs, &mut pending)?;
                continue;
            }
            let meta = self.lstat(&name)?;
            if mode.follow_last
                && let Some(meta) = &meta
                && meta.file_type().is_symlink()
            {
                self.follow(&name, &mut pending)?;
                continue;
            }
            return Ok(End::Entry { name, meta });
        }
        Ok(End::Here)
    }

    /// Goes back to the directory held one level up.
    fn up(&mut self) -> Result<(), SandboxError> {
        if self.names.pop().is_none() {
            return Err(outside(self.given));
        }
        self.dirs.pop();
        Ok(())
    }

    /// The entry `name` itself (not followed); `None` when missing.
    fn lstat(&self, name: &OsStr) -> Result<Option<Metadata>, SandboxError> {
        match self.dir().symlink_metadata(name) {
            Ok(meta) => Ok(Some(meta)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_error(self.given, err)),
        }
    }

    /// Puts the target of the symlink `name` in front of `pending`.
    fn follow(&mut self, name: &OsStr, pending: &mut VecDeque<Step>) -> Result<(), SandboxError> {
        self.hops += 1;
        if self.hops > MAX_HOPS {
            return Err(wrong_kind(
                self.given,
                format!(
                    "the symbolic links on the path form a loop or a chain of more than {MAX_HOPS} links"
                ),
            ));
        }
        let target = self
            .dir()
            .read_link_contents(name)
            .map_err(|e| io_error(self.given, e))?;
        let mut steps = Vec::new();
        for component in target.components() {
            match component {
                Component::Normal(part) => steps.push(Step::Name {
                    name: part.to_os_string(),
                    from_link: true,
                }),
                Component::CurDir => {}
                Component::ParentDir => steps.push(Step::Up),
                // An absolute target is never followed: it names one place
                // on the host and another inside an isolating sandbox.
                Component::RootDir | Component::Prefix(_) => return Err(outside(self.given)),
            }
        }
        for step in steps.into_iter().rev() {
            pending.push_front(step);
        }
        Ok(())
    }

    /// Enters the directory `name`, following it when it is a symlink and
    /// creating it when it is missing and `create` allows.
    fn enter(
        &mut self,
        name: OsString,
        from_link: bool,
        create: Option<&Guard>,
        pending: &mut VecDeque<Step>,
    ) -> Result<(), SandboxError> {
        for _ in 0..MAX_ATTEMPTS {
            let open_err = match self.dir().open_dir_nofollow(&name) {
                Ok(dir) => {
                    self.dirs.push(dir);
                    self.names.push(name);
                    return Ok(());
                }
                Err(err) => err,
            };
            // Why did it fail? Look at the entry itself.
            match self.lstat(&name)? {
                Some(meta) if meta.file_type().is_symlink() => return self.follow(&name, pending),
                Some(meta) if meta.is_dir() => {
                    // It was something else (or nothing) a moment ago: try
                    // again. Any other failure (permissions) is the answer.
                    if !matches!(
                        open_err.raw_os_error(),
                        Some(libc::ENOTDIR | libc::ELOOP | libc::ENOENT)
                    ) {
                        return Err(io_error(self.given, open_err));
                    }
                }
                Some(_) => return Err(wrong_kind(self.given, NOT_A_DIRECTORY)),
                None => {
                    let Some(guard) = create else {
                        return Err(SandboxError::NotFound {
                            path: self.given.to_string(),
                        });
                    };
                    let missing = self.child(&name);
                    if from_link {
                        return Err(wrong_kind(
                            self.given,
                            format!(
                                "goes through a symbolic link to `{}`, which does not exist; create that directory first or use a path without the link",
                                rel_string(&missing)
                            ),
                        ));
                    }
                    guard.check(self.given, &missing)?;
                    match self.dir().create_dir(&name) {
                        Ok(()) => {}
                        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(err) => return Err(io_error(self.given, err)),
                    }
                }
            }
        }
        Err(SandboxError::Io {
            path: self.given.to_string(),
            source: io::Error::other(
                "the path kept changing while it was being resolved; try again",
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_paths_become_name_steps() {
        let rel = normalize("./a/../b//c/").unwrap();
        assert_eq!(rel, PathBuf::from("b/c"));
        assert_eq!(rel_string(&rel), "b/c");
        let names: Vec<Step> = steps_of(&rel).into_iter().collect();
        assert_eq!(
            names,
            vec![
                Step::Name {
                    name: "b".into(),
                    from_link: false
                },
                Step::Name {
                    name: "c".into(),
                    from_link: false
                },
            ]
        );
        assert!(steps_of(&normalize("").unwrap()).is_empty());
        assert!(matches!(
            normalize("../x"),
            Err(SandboxError::OutsideWorkspace { .. })
        ));
        assert!(matches!(
            normalize("/etc"),
            Err(SandboxError::OutsideWorkspace { .. })
        ));
    }
}
