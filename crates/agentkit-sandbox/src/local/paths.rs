//! Keeping workspace-relative paths inside the workspace.
//!
//! Every path from the caller goes through two checks:
//!
//! 1. **Lexical**: [`join_relative`] refuses absolute paths and any `..`
//!    that climbs above the root.
//! 2. **Resolved**: the deepest part of the path that exists is
//!    canonicalized (following symlinks) and must still start with the
//!    canonical root. This catches a symlink inside the workspace that points
//!    outside, and a symlinked parent directory.
//!
//! Operations that must not follow the final component (`stat`, `list`
//! entries, `remove`, `write`) resolve only the parent. `write` also refuses
//! a final component that is a symlink, dangling or not, so nothing is ever
//! written through a link.
//!
//! The checks are not atomic with respect to commands running in the same
//! workspace at the same time (a command could swap a directory for a
//! symlink between check and use); the local backend does not isolate
//! commands, so it does not pretend otherwise.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use agentkit_core::sandbox::{SandboxError, join_relative};

use super::errors::{io_error, outside};

/// A path checked to stay inside the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The host path to operate on.
    pub(crate) host: PathBuf,
    /// The path relative to the workspace root, normalized, `/`-separated
    /// (`""` for the root itself).
    pub(crate) rel: String,
}

/// A workspace root and its protected paths.
#[derive(Debug)]
pub(crate) struct Workspace {
    root: PathBuf,
    protected: Vec<PathBuf>,
}

impl Workspace {
    /// A workspace at `root`, which must already be canonical.
    pub(crate) fn new(root: PathBuf, protected: &[String]) -> Self {
        let protected = protected
            .iter()
            .filter_map(|p| {
                let trimmed = p.trim_start_matches('/');
                match join_relative(Path::new(""), trimmed) {
                    Ok(rel) if !rel.as_os_str().is_empty() => Some(rel),
                    _ => {
                        tracing::warn!(path = %p, "ignoring protected path that does not name anything inside the workspace");
                        None
                    }
                }
            })
            .collect();
        Self { root, protected }
    }

    /// The canonical root.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Joins `path` lexically; returns the host path and the normalized
    /// relative form.
    fn lexical(&self, path: &str) -> Result<Resolved, SandboxError> {
        let host = join_relative(&self.root, path)?;
        let rel = relative_string(&self.root, &host);
        Ok(Resolved { host, rel })
    }

    fn contain(&self, path: &str, canonical: PathBuf) -> Result<PathBuf, SandboxError> {
        if canonical.starts_with(&self.root) {
            Ok(canonical)
        } else {
            Err(outside(path))
        }
    }

    /// Resolves `path` following every symlink; it must exist and lie inside.
    pub(crate) fn resolve_existing(&self, path: &str) -> Result<Resolved, SandboxError> {
        let lexical = self.lexical(path)?;
        let canonical = fs::canonicalize(&lexical.host).map_err(|e| io_error(path, e))?;
        let host = self.contain(path, canonical)?;
        Ok(Resolved {
            host,
            rel: lexical.rel,
        })
    }

    /// Resolves the parent of `path` (which must exist and lie inside) but
    /// not its final component, so a symlink there names the link itself.
    pub(crate) fn resolve_entry(&self, path: &str) -> Result<Resolved, SandboxError> {
        let lexical = self.lexical(path)?;
        if lexical.host == self.root {
            return Ok(lexical);
        }
        let (Some(parent), Some(name)) = (lexical.host.parent(), lexical.host.file_name()) else {
            return Ok(lexical);
        };
        let parent = fs::canonicalize(parent).map_err(|e| io_error(path, e))?;
        let parent = self.contain(path, parent)?;
        Ok(Resolved {
            host: parent.join(name),
            rel: lexical.rel,
        })
    }

    /// Resolves `path` for writing: the deepest existing ancestor must lie
    /// inside, missing directories are appended as given (they are created
    /// later, after this check), and the final component must not be a
    /// symlink.
    pub(crate) fn resolve_for_write(&self, path: &str) -> Result<Resolved, SandboxError> {
        let lexical = self.lexical(path)?;
        if lexical.host == self.root {
            return Err(SandboxError::WrongKind {
                path: path.to_string(),
                reason: "is the workspace root; give the path of a file".into(),
            });
        }
        let mut existing = lexical.host.clone();
        let mut missing: Vec<OsString> = Vec::new();
        let canonical = loop {
            match fs::canonicalize(&existing) {
                Ok(canonical) => break canonical,
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    // It exists as a link but does not resolve: a dangling
                    // symlink (or a loop). Whatever it points at cannot be
                    // shown to stay inside, so refuse.
                    if fs::symlink_metadata(&existing).is_ok() {
                        return Err(outside(path));
                    }
                    let Some(name) = existing.file_name() else {
                        return Err(outside(path));
                    };
                    missing.push(name.to_os_string());
                    existing.pop();
                }
                Err(err) => return Err(io_error(path, err)),
            }
        };
        let canonical = self.contain(path, canonical)?;
        if !missing.is_empty() {
            let mut host = canonical;
            host.extend(missing.iter().rev());
            return Ok(Resolved {
                host,
                rel: lexical.rel,
            });
        }
        // The whole path exists; refuse to write through a final symlink.
        let meta = fs::symlink_metadata(&lexical.host).map_err(|e| io_error(path, e))?;
        if meta.file_type().is_symlink() {
            return Err(SandboxError::WrongKind {
                path: path.to_string(),
                reason: format!(
                    "is a symbolic link to `{}`; write to that path instead",
                    relative_string(&self.root, &canonical)
                ),
            });
        }
        Ok(Resolved {
            host: canonical,
            rel: lexical.rel,
        })
    }

    /// Refuses changes to a protected path or anything beneath it, by the
    /// path as given and by where it resolves to.
    pub(crate) fn check_writable(
        &self,
        path: &str,
        resolved: &Resolved,
    ) -> Result<(), SandboxError> {
        let rel = Path::new(&resolved.rel);
        let hit = self
            .protected
            .iter()
            .any(|p| rel.starts_with(p) || resolved.host.starts_with(self.root.join(p)));
        if hit {
            Err(SandboxError::Protected {
                path: path.to_string(),
            })
        } else {
            Ok(())
        }
    }
}

/// `path` relative to `root`, `/`-separated (`""` for the root itself).
pub(crate) fn relative_string(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_strings_are_slash_separated() {
        let root = Path::new("/ws");
        assert_eq!(relative_string(root, Path::new("/ws")), "");
        assert_eq!(relative_string(root, Path::new("/ws/a/b.rs")), "a/b.rs");
    }

    #[test]
    fn protected_paths_are_normalized_and_bad_ones_dropped() {
        let ws = Workspace::new(
            PathBuf::from("/ws"),
            &[
                "/.git/hooks".into(),
                "./.git/config".into(),
                "../up".into(),
                "".into(),
            ],
        );
        assert_eq!(
            ws.protected,
            vec![PathBuf::from(".git/hooks"), PathBuf::from(".git/config")]
        );
    }
}
