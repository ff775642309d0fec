//! What commands see of the host filesystem besides the workspace: an
//! **allow-list** (see `crate::hostview`). The root is bubblewrap's own
//! empty tmpfs, made read-only once everything is mounted; onto it go the
//! system directories and a secret-free `/etc` (read-only), an empty
//! writable home, the toolchains and any extra read-only paths, and the
//! workspace. Nothing else of the host exists inside: not the other homes,
//! `/srv`, `/opt`, `/var`, `/run`, other checkouts or other sandboxes'
//! workspaces.
//!
//! The configuration is fixed when the provider is made (the toolchain
//! locations come from the agent's own environment then); the host is
//! inspected for each sandbox, so only paths that exist are mounted.

use std::fs;
use std::path::{Component, Path, PathBuf};

use agentkit_core::sandbox::{SandboxError, join_relative};

use super::args::{Mounts, SystemEntry};
use crate::hostview::{ETC_ENTRIES, ETC_IDENTITY, SYSTEM_DIRS};

/// Files always covered by `/dev/null` when they exist and an extra
/// read-only path would otherwise show them.
const SECRET_FILES: [&str; 4] = [
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
];

/// Directories always covered by an empty read-only tmpfs when an extra
/// read-only path would otherwise show them.
const SECRET_DIRS: [&str; 1] = ["/etc/ssl/private"];

/// Where host SSH keys live; every entry whose name contains `key` is
/// covered (host private keys and their public halves alike).
const SSH_DIR: &str = "/etc/ssh";

/// Writable scratch directories every sandbox gets empty (besides `/tmp`).
const SCRATCH: [&str; 1] = ["/var/tmp"];

/// Home directories get an empty tmpfs only when they are not a system
/// directory (some service users live in `/usr/sbin` or `/var`).
const NOT_A_HOME: [&str; 15] = [
    "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/opt", "/proc", "/sbin",
    "/srv", "/sys", "/tmp", "/var",
];

pub(crate) use crate::toolchains::HostEnv;

/// The provider's view configuration.
#[derive(Debug, Clone)]
pub(crate) struct ViewConfig {
    pub(crate) env: HostEnv,
    pub(crate) default_toolchains: bool,
    /// Extra read-only paths (`with_read_only`).
    pub(crate) read_only: Vec<PathBuf>,
    /// Extra hidden paths (`with_hidden`).
    pub(crate) hidden: Vec<PathBuf>,
}

impl ViewConfig {
    /// Every read-only path configured, defaults first.
    pub(crate) fn read_only_paths(&self) -> Vec<PathBuf> {
        let mut paths = if self.default_toolchains {
            self.env.toolchains()
        } else {
            Vec::new()
        };
        paths.extend(self.read_only.iter().cloned());
        paths
    }

    /// The mounts of a sandbox whose workspace is `workspace` and whose init
    /// helper is `init`, for the host as it is now, with the policy's
    /// `extra` read-only paths. Protected paths are added per command
    /// ([`protected_mounts`]).
    pub(crate) fn mounts(&self, workspace: PathBuf, init: PathBuf, extra: &[String]) -> Mounts {
        let system = system_entries();

        let mut scratch: Vec<PathBuf> = Vec::new();
        let homes = self.env.home.clone().filter(|h| may_mask_home(h));
        for dir in homes.into_iter().chain(SCRATCH.iter().map(PathBuf::from)) {
            if existing_dir(&dir).is_some() && !scratch.contains(&dir) {
                scratch.push(dir);
            }
        }

        // Bound at the path given (the source's symlinks are followed), so
        // programs find them where the environment says they are.
        let mut read_only: Vec<PathBuf> = Vec::new();
        let wanted = self
            .read_only_paths()
            .into_iter()
            .chain(extra.iter().map(PathBuf::from));
        for path in wanted {
            if path.is_absolute() && path.exists() && !read_only.contains(&path) {
                read_only.push(path);
            }
        }

        // Secrets are covered only where something bound shows them.
        let shown = |p: &Path| {
            let bound = |b: &PathBuf| {
                p.starts_with(b) || fs::canonicalize(b).is_ok_and(|c| p.starts_with(c))
            };
            system
                .iter()
                .any(|e| matches!(e, SystemEntry::Bind(b) if bound(b)))
                || read_only.iter().any(bound)
        };
        let mut hidden_dirs = Vec::new();
        let mut hidden_files = Vec::new();
        let mut secrets: Vec<PathBuf> = SECRET_FILES
            .iter()
            .chain(SECRET_DIRS.iter())
            .map(PathBuf::from)
            .collect();
        secrets.extend(ssh_keys());
        if let Some(cargo) = &self.env.cargo_home {
            secrets.extend(["credentials", "credentials.toml"].map(|f| cargo.join(f)));
        }
        secrets.extend(self.hidden.iter().cloned());
        for path in secrets {
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if !shown(&path) {
                continue;
            }
            let list = if meta.is_dir() {
                &mut hidden_dirs
            } else {
                &mut hidden_files
            };
            if !list.contains(&path) {
                list.push(path);
            }
        }

        Mounts {
            system,
            scratch,
            read_only,
            hidden_dirs,
            hidden_files,
            writable: Vec::new(),
            workspace,
            pinned: Vec::new(),
            protected: Vec::new(),
            init,
        }
    }
}

/// The system directories (bound, or recreated as symlinks) and the
/// secret-free `/etc` entries that exist on this host.
pub(crate) fn system_entries() -> Vec<SystemEntry> {
    let mut entries = Vec::new();
    for dir in SYSTEM_DIRS {
        let Ok(meta) = fs::symlink_metadata(dir) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(target) = fs::read_link(dir) {
                entries.push(SystemEntry::Symlink {
                    target,
                    link: dir.into(),
                });
            }
        } else if meta.is_dir() {
            entries.push(SystemEntry::Bind(dir.into()));
        }
    }
    for entry in ETC_ENTRIES.iter().chain(ETC_IDENTITY.iter()) {
        if Path::new(entry).exists() {
            entries.push(SystemEntry::Bind(entry.into()));
        }
    }
    entries
}

fn may_mask_home(home: &Path) -> bool {
    home.is_absolute()
        && !NOT_A_HOME.iter().any(|d| home == Path::new(d))
        && !home.starts_with("/usr")
        && !home.starts_with("/proc")
        && !home.starts_with("/sys")
        && !home.starts_with("/dev")
        && !home.starts_with("/etc")
}

fn existing_dir(path: &Path) -> Option<PathBuf> {
    let meta = fs::symlink_metadata(path).ok()?;
    (meta.is_dir() && !meta.file_type().is_symlink()).then(|| path.to_path_buf())
}

fn ssh_keys() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(SSH_DIR) else {
        return Vec::new();
    };
    let mut keys: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("key"))
        .map(|e| e.path())
        .collect();
    keys.sort();
    keys
}

/// For each protected path (relative to `workspace`) that exists: its
/// ancestors inside the workspace (to pin) and itself (to bind read-only).
/// Refuses to go on when any of them is a symlink: nothing in the sandbox
/// can make one (they are mount points while commands run, and the file API
/// refuses them), so one means the workspace was tampered with.
pub(crate) fn protected_mounts(
    workspace: &Path,
    protected: &[String],
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), SandboxError> {
    let mut pinned: Vec<PathBuf> = Vec::new();
    let mut bound: Vec<PathBuf> = Vec::new();
    for rel in protected {
        let Ok(rel_path) = join_relative(Path::new(""), rel.trim_start_matches('/')) else {
            continue;
        };
        let parts: Vec<Component<'_>> = rel_path.components().collect();
        let mut host = workspace.to_path_buf();
        for (i, part) in parts.iter().enumerate() {
            host.push(part);
            let meta = match fs::symlink_metadata(&host) {
                Ok(meta) => meta,
                Err(_) => break,
            };
            if meta.file_type().is_symlink() {
                return Err(SandboxError::Gone {
                    reason: format!(
                        "the protected path `{rel}` leads through a symlink at `{}`; the workspace was tampered with, so no more commands run in it",
                        host.strip_prefix(workspace).unwrap_or(&host).display()
                    ),
                });
            }
            let last = i + 1 == parts.len();
            let list = if last { &mut bound } else { &mut pinned };
            if !last && !meta.is_dir() {
                break;
            }
            if !list.contains(&host) {
                list.push(host.clone());
            }
        }
    }
    let depth = |p: &PathBuf| p.components().count();
    pinned.sort_by_key(depth);
    bound.sort_by_key(depth);
    Ok((pinned, bound))
}

/// Creates the protected `hooks` directories that are missing (in an
/// existing parent), so there is something to bind read-only.
pub(crate) fn create_missing_hooks(
    workspace: &Path,
    protected: &[String],
) -> Result<(), SandboxError> {
    for rel in protected {
        let Ok(rel_path) = join_relative(Path::new(""), rel.trim_start_matches('/')) else {
            continue;
        };
        if rel_path.file_name() != Some("hooks".as_ref()) {
            continue;
        }
        let host = workspace.join(&rel_path);
        let parent_is_dir = host
            .parent()
            .and_then(|p| fs::symlink_metadata(p).ok())
            .is_some_and(|m| m.is_dir() && !m.file_type().is_symlink());
        if parent_is_dir && fs::symlink_metadata(&host).is_err() {
            fs::create_dir(&host).map_err(|source| SandboxError::Io {
                path: rel.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> HostEnv {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HostEnv::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn toolchains_default_to_the_home_and_never_include_cargo_credentials() {
        assert_eq!(
            env(&[("HOME", "/root")]).toolchains(),
            [
                "/root/.rustup",
                "/root/.cargo/bin",
                "/root/.cargo/registry",
                "/root/.cargo/git",
                "/root/.pyenv"
            ]
            .map(PathBuf::from)
            .to_vec()
        );
        assert_eq!(
            env(&[
                ("HOME", "/home/agent"),
                ("RUSTUP_HOME", "/opt/rustup"),
                ("CARGO_HOME", "/opt/cargo"),
                ("PYENV_ROOT", "relative/ignored"),
            ])
            .toolchains(),
            [
                "/opt/rustup",
                "/opt/cargo/bin",
                "/opt/cargo/registry",
                "/opt/cargo/git",
                "/home/agent/.pyenv"
            ]
            .map(PathBuf::from)
            .to_vec()
        );
        assert_eq!(env(&[]).toolchains(), Vec::<PathBuf>::new());
    }

    #[test]
    fn system_directories_are_never_masked_as_homes() {
        for home in ["/", "/usr/sbin", "/var", "/bin", "/etc/x"] {
            assert!(!may_mask_home(Path::new(home)), "{home}");
        }
        for home in ["/root", "/home/agent", "/var/lib/agent", "/srv/agent"] {
            assert!(may_mask_home(Path::new(home)), "{home}");
        }
    }

    #[test]
    fn protected_paths_pin_their_ancestors_and_refuse_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(ws.join(".git/hooks")).unwrap();
        std::fs::write(ws.join(".git/config"), "").unwrap();
        let protected = vec![
            ".git/hooks".to_string(),
            ".git/config".to_string(),
            "missing/file".to_string(),
            "../outside".to_string(),
        ];
        assert_eq!(
            protected_mounts(&ws, &protected).unwrap(),
            (
                vec![ws.join(".git")],
                vec![ws.join(".git/hooks"), ws.join(".git/config")]
            )
        );
        std::fs::remove_dir(ws.join(".git/hooks")).unwrap();
        std::os::unix::fs::symlink("/etc", ws.join(".git/hooks")).unwrap();
        assert!(matches!(
            protected_mounts(&ws, &protected),
            Err(SandboxError::Gone { .. })
        ));
    }

    #[test]
    fn missing_hooks_directories_are_created_only_inside_an_existing_git_dir() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let protected = vec![".git/hooks".to_string(), ".git/config".to_string()];
        create_missing_hooks(ws, &protected).unwrap();
        assert!(!ws.join(".git").exists());
        std::fs::create_dir(ws.join(".git")).unwrap();
        create_missing_hooks(ws, &protected).unwrap();
        assert!(ws.join(".git/hooks").is_dir());
        assert!(!ws.join(".git/config").exists());
    }
}
