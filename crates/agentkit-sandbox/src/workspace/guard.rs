//! Protected paths: normalizing the policy's list and checking paths
//! against it.

use std::path::{Path, PathBuf};

use agentkit_core::sandbox::SandboxError;

use super::walk::normalize;

/// The policy's protected paths, normalized to workspace-relative form
/// (`/.git/hooks` and `./.git/hooks` are `.git/hooks`). Entries that name
/// nothing inside the workspace (`""`, `../x`) are dropped with a warning.
pub(super) fn normalize_protected(paths: &[String]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter_map(|p| match normalize(p.trim_start_matches('/')) {
            Ok(rel) if !rel.as_os_str().is_empty() => Some(rel),
            _ => {
                tracing::warn!(path = %p, "ignoring protected path that does not name anything inside the workspace");
                None
            }
        })
        .collect()
}

/// The protected prefixes in force for one operation: the policy's paths as
/// written plus where each currently resolves (so `.git` being a symlink to
/// `realgit` also protects `realgit/hooks`).
#[derive(Debug, Clone, Default)]
pub(super) struct Guard {
    prefixes: Vec<PathBuf>,
}

impl Guard {
    /// A guard over these workspace-relative prefixes.
    pub(super) fn new(prefixes: Vec<PathBuf>) -> Self {
        Self { prefixes }
    }

    /// Whether `rel` (workspace-relative) is a protected path or lies
    /// beneath one. Whole components are compared: `.git/configured` is not
    /// under `.git/config`.
    pub(super) fn covers(&self, rel: &Path) -> bool {
        self.prefixes.iter().any(|p| rel.starts_with(p))
    }

    /// [`SandboxError::Protected`] (naming `given`) when `rel` is covered.
    pub(super) fn check(&self, given: &str, rel: &Path) -> Result<(), SandboxError> {
        if self.covers(rel) {
            Err(SandboxError::Protected {
                path: given.to_string(),
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_paths_are_normalized_and_bad_ones_dropped() {
        let protected = normalize_protected(&[
            "/.git/hooks".into(),
            "./.git/config".into(),
            "../up".into(),
            "".into(),
        ]);
        assert_eq!(
            protected,
            vec![PathBuf::from(".git/hooks"), PathBuf::from(".git/config")]
        );
    }

    #[test]
    fn prefixes_match_whole_components() {
        let guard = Guard::new(vec![".git/config".into(), ".git/hooks".into()]);
        assert!(guard.covers(Path::new(".git/config")));
        assert!(guard.covers(Path::new(".git/hooks/pre-commit")));
        assert!(!guard.covers(Path::new(".git/configured")));
        assert!(!guard.covers(Path::new(".git")));
        assert!(matches!(
            guard.check("x", Path::new(".git/hooks")),
            Err(SandboxError::Protected { path }) if path == "x"
        ));
    }
}
