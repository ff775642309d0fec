//! What is mounted into a container: the host's programs (read-only), the
//! workspace (read-write), the protected paths on top of it (read-only) and
//! the helper's control directory (read-only).

use std::path::{Component, Path, PathBuf};

use agentkit_core::sandbox::{SandboxError, join_relative};
use bollard::models::{Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountType};

use super::helper::{CONTROL_DIR, WORKSPACE};
use crate::hostview::{ETC_ENTRIES, SYSTEM_DIRS};

/// A host path mounted **read-only** into every container of a
/// [`DockerProvider`](super::DockerProvider).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBind {
    /// The path on the host (symlinks are followed by the daemon).
    pub source: PathBuf,
    /// Where it appears in the container (absolute).
    pub target: PathBuf,
}

impl HostBind {
    /// Mounts `source` at `target`.
    pub fn new(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        Self {
            source: source.into(),
            target: target.into(),
        }
    }

    /// Mounts `path` at the same path in the container.
    pub fn same(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            source: path.clone(),
            target: path,
        }
    }
}

/// The host binds a [`DockerProvider`](super::DockerProvider) uses unless
/// told otherwise: `/usr` (and `/bin`, `/sbin`, `/lib*` where they are real
/// directories) and a safe part of `/etc` (see the module docs), each only
/// when it exists. Everything in them is **readable** by commands.
pub fn default_host_binds() -> Vec<HostBind> {
    // On a merged-`/usr` system `/bin` & co. are symlinks into `/usr`, which
    // the image built by `.ci/docker.sh` reproduces: only real directories
    // are bound. See `hostview` for what the `/etc` entries are.
    let dirs = SYSTEM_DIRS.iter().filter(|dir| {
        std::fs::symlink_metadata(dir)
            .map(|meta| meta.is_dir())
            .unwrap_or(false)
    });
    let etc = ETC_ENTRIES.iter().filter(|entry| Path::new(entry).exists());
    dirs.chain(etc).map(HostBind::same).collect()
}

/// Checks the host side of `binds`: sources exist, targets are absolute and
/// do not cover the paths the backend mounts itself.
pub(crate) fn check_host_binds(binds: &[HostBind]) -> Result<(), SandboxError> {
    for bind in binds {
        if !bind.source.exists() {
            return Err(SandboxError::Unsupported {
                what: format!("the host bind source `{}`", bind.source.display()),
                hint: "it does not exist on this machine; remove it from the provider's host binds"
                    .into(),
            });
        }
        let target = &bind.target;
        let reserved = [WORKSPACE, CONTROL_DIR, "/tmp"]
            .iter()
            .any(|own| Path::new(own).starts_with(target) || target.starts_with(own));
        if !target.is_absolute() || target == Path::new("/") || reserved {
            return Err(SandboxError::Unsupported {
                what: format!("the host bind target `{}`", target.display()),
                hint: format!(
                    "targets must be absolute and must not be `/` or contain or lie under {WORKSPACE}, {CONTROL_DIR} or /tmp"
                ),
            });
        }
    }
    Ok(())
}

/// A read-only bind mount.
pub(crate) fn read_only(source: &Path, target: &str) -> Mount {
    bind(source, target, true)
}

/// A read-write bind mount.
pub(crate) fn read_write(source: &Path, target: &str) -> Mount {
    bind(source, target, false)
}

fn bind(source: &Path, target: &str, read_only: bool) -> Mount {
    Mount {
        target: Some(target.to_string()),
        source: Some(source.display().to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        bind_options: Some(MountBindOptions {
            propagation: Some(MountBindOptionsPropagationEnum::RPRIVATE),
            ..MountBindOptions::default()
        }),
        ..Mount::default()
    }
}

/// The read-only mounts that protect the policy's protected paths inside the
/// workspace at `root` (canonical): host path and container path for each.
///
/// A protected path that does not exist yet is created as an empty
/// directory first (so a command cannot create it either). A protected path
/// that is, or lies under, a symbolic link is refused: the daemon would
/// follow it on the host, and it could point anywhere.
pub(crate) fn protected_mounts(
    root: &Path,
    protected: &[String],
) -> Result<Vec<(PathBuf, String)>, SandboxError> {
    let mut mounts: Vec<(PathBuf, String)> = Vec::new();
    for given in protected {
        let rel = match join_relative(Path::new(""), given.trim_start_matches('/')) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel,
            _ => {
                tracing::warn!(path = %given, "ignoring protected path that does not name anything inside the workspace");
                continue;
            }
        };
        let mut host = root.to_path_buf();
        for component in rel.components() {
            let Component::Normal(part) = component else {
                continue;
            };
            host.push(part);
            match std::fs::symlink_metadata(&host) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(SandboxError::Setup {
                        reason: format!(
                            "the protected path `{given}` is or lies under a symbolic link in the repository; \
                             the docker backend cannot mount it read-only safely. Remove the link or the path from the policy"
                        ),
                    });
                }
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(root.join(&rel)).map_err(|source| {
                        SandboxError::Io {
                            path: given.clone(),
                            source,
                        }
                    })?;
                    break;
                }
                Err(source) => {
                    return Err(SandboxError::Io {
                        path: given.clone(),
                        source,
                    });
                }
            }
        }
        let target = format!(
            "{WORKSPACE}/{}",
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        );
        if !mounts.iter().any(|(_, existing)| existing == &target) {
            mounts.push((root.join(&rel), target));
        }
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_paths_become_read_only_mounts_and_missing_ones_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        std::fs::write(root.join(".git/config"), "[core]\n").unwrap();
        let mounts = protected_mounts(
            &root,
            &[
                ".git/hooks".into(),
                "/.git/config".into(),
                "./.git/config".into(),
                "ci/secrets".into(),
                "../up".into(),
                "".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            mounts,
            vec![
                (root.join(".git/hooks"), "/workspace/.git/hooks".to_string()),
                (
                    root.join(".git/config"),
                    "/workspace/.git/config".to_string()
                ),
                (root.join("ci/secrets"), "/workspace/ci/secrets".to_string()),
            ]
        );
        assert!(root.join("ci/secrets").is_dir());
    }

    #[test]
    fn a_protected_path_through_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink("/etc", root.join("conf")).unwrap();
        for path in ["conf", "conf/passwd"] {
            let result = protected_mounts(&root, &[path.to_string()]);
            assert!(
                matches!(result, Err(SandboxError::Setup { .. })),
                "{path}: {result:?}"
            );
        }
    }

    #[test]
    fn host_bind_targets_must_stay_clear_of_the_backends_own_mounts() {
        for target in [
            "/",
            "relative",
            "/workspace",
            "/workspace/x",
            "/run",
            "/tmp/x",
        ] {
            let result = check_host_binds(&[HostBind::new("/usr", target)]);
            assert!(
                matches!(result, Err(SandboxError::Unsupported { .. })),
                "{target}: {result:?}"
            );
        }
        assert!(check_host_binds(&[HostBind::same("/usr")]).is_ok());
        assert!(check_host_binds(&[HostBind::same("/definitely/not/here")]).is_err());
    }
}
