//! Walking the workspace on the host, for `list_files` and `grep`.
//!
//! The walk starts at the workspace root, never above it, so `.gitignore`
//! files from the root down to the searched directory all apply (even without
//! a `.git` directory) and nothing outside the root is read. When the model
//! asks for a subdirectory, directories off the path to it are pruned instead
//! of read. Symlinks are listed but never followed, `.git` is skipped, other
//! hidden files are included, and the host's global git excludes are ignored
//! (they describe the operator's machine, not the repository).

use std::path::{Component, Path, PathBuf};

use agentkit_core::sandbox::join_relative;
use agentkit_core::tool::ToolError;
use globset::{GlobBuilder, GlobMatcher};
use ignore::{DirEntry, WalkBuilder};

/// A workspace-relative path resolved on the host.
#[derive(Debug, Clone)]
pub(crate) struct HostTarget {
    /// The workspace root on the host.
    pub root: PathBuf,
    /// The target relative to the root, normalized (empty for the root itself).
    pub rel: PathBuf,
}

impl HostTarget {
    /// Resolves `path` under `root`: refuses escapes, missing paths and paths
    /// that pass through a symlink.
    pub fn resolve(root: &Path, path: &str) -> Result<Self, ToolError> {
        let joined = join_relative(root, path)?;
        let rel = joined
            .strip_prefix(root)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut probe = root.to_path_buf();
        for component in rel.components() {
            if let Component::Normal(name) = component {
                probe.push(name);
            }
            match std::fs::symlink_metadata(&probe) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(ToolError::failed(format!(
                        "`{path}` goes through the symlink `{}`, which is not followed; \
                         give the path of the link's target inside the workspace instead",
                        slash_path(probe.strip_prefix(root).unwrap_or(&probe))
                    )));
                }
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ToolError::failed(format!(
                        "no such file or directory: `{path}`; call list_files to see what exists"
                    )));
                }
                Err(err) => {
                    return Err(ToolError::failed(format!("cannot read `{path}`: {err}")));
                }
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            rel,
        })
    }

    /// A gitignore-aware walker over the target (see the module doc).
    pub fn walker(&self) -> WalkBuilder {
        let mut builder = WalkBuilder::new(&self.root);
        builder
            .hidden(false)
            .ignore(true)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(false)
            .require_git(false)
            .parents(false)
            .follow_links(false);
        let root = self.root.clone();
        let target = self.rel.clone();
        builder.filter_entry(move |entry| {
            if entry.depth() > 0 && entry.file_name() == ".git" {
                return false;
            }
            let rel = entry.path().strip_prefix(&root).unwrap_or(entry.path());
            rel.starts_with(&target) || target.starts_with(rel)
        });
        builder
    }

    /// The path of `entry` relative to the workspace root (`/`-separated), when
    /// the entry is inside the target; `None` for the target's ancestors.
    pub fn relative(&self, entry: &DirEntry) -> Option<(String, String)> {
        let rel = entry.path().strip_prefix(&self.root).ok()?;
        let in_target = rel.strip_prefix(&self.rel).ok()?;
        Some((slash_path(rel), slash_path(in_target)))
    }
}

/// `path` with `/` separators.
pub(crate) fn slash_path(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A glob over file paths. A pattern with a `/` must match the whole path
/// (relative to the workspace root or to the searched directory); one without
/// matches the file name. `*` does not cross `/`; `**` does.
#[derive(Debug, Clone)]
pub(crate) struct PathGlob {
    matcher: GlobMatcher,
    name_only: bool,
}

impl PathGlob {
    /// Compiles `pattern`; `field` names the argument in the error message.
    pub fn new(pattern: &str, field: &str) -> Result<Self, ToolError> {
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|err| ToolError::InvalidArguments {
                message: format!(
                    "at `{field}`: `{pattern}` is not a valid glob ({err}); \
                     use e.g. `*.rs` or `src/**/*.ts`"
                ),
            })?;
        Ok(Self {
            matcher: glob.compile_matcher(),
            name_only: !pattern.contains('/'),
        })
    }

    /// Whether a file matches, given its path relative to the workspace root
    /// and relative to the searched directory.
    pub fn matches(&self, from_root: &str, from_target: &str) -> bool {
        if self.name_only {
            let name = from_root.rsplit('/').next().unwrap_or(from_root);
            return self.matcher.is_match(name);
        }
        self.matcher.is_match(from_root) || self.matcher.is_match(from_target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_without_a_slash_match_file_names() {
        let glob = PathGlob::new("*.rs", "pattern").unwrap();
        assert!(glob.matches("src/deep/lib.rs", "deep/lib.rs"));
        assert!(!glob.matches("src/lib.rsx", "lib.rsx"));
    }

    #[test]
    fn globs_with_a_slash_match_from_the_root_or_the_target() {
        let glob = PathGlob::new("src/**/*.rs", "pattern").unwrap();
        assert!(glob.matches("src/a/b.rs", "a/b.rs"));
        assert!(glob.matches("src/b.rs", "b.rs"));
        assert!(!glob.matches("tests/b.rs", "b.rs"));
        let single = PathGlob::new("src/*.rs", "pattern").unwrap();
        assert!(!single.matches("src/a/b.rs", "a/b.rs"));
    }

    #[test]
    fn invalid_globs_name_the_field() {
        let err = PathGlob::new("src/[", "glob").unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArguments { message } if message.starts_with("at `glob`: `src/[` is not a valid glob")),
            "{err:?}"
        );
    }
}
