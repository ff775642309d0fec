//! The host's developer toolchains (rustup, cargo, pyenv), which isolating
//! backends mount read-only so that commands can build code without seeing
//! the rest of the host's home directory.

use std::ffi::OsString;
use std::path::PathBuf;

/// Where the agent's toolchains live, read once from its environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostEnv {
    pub(crate) home: Option<PathBuf>,
    pub(crate) rustup_home: Option<PathBuf>,
    pub(crate) cargo_home: Option<PathBuf>,
    pub(crate) pyenv_root: Option<PathBuf>,
}

impl HostEnv {
    /// Reads the variables of this process.
    pub(crate) fn from_process() -> Self {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// Reads the variables through `var` (for tests). Relative or empty
    /// values are ignored.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let path = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
        let home = path("HOME");
        let under_home = |dir: &str| home.as_ref().map(|h| h.join(dir));
        Self {
            rustup_home: path("RUSTUP_HOME").or_else(|| under_home(".rustup")),
            cargo_home: path("CARGO_HOME").or_else(|| under_home(".cargo")),
            pyenv_root: path("PYENV_ROOT").or_else(|| under_home(".pyenv")),
            home,
        }
    }

    /// The toolchain directories re-bound read-only by default: rustup's
    /// home, cargo's `bin`, `registry` and `git` (never cargo's
    /// `credentials*`), pyenv's root.
    pub(crate) fn toolchains(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        dirs.extend(self.rustup_home.clone());
        if let Some(cargo) = &self.cargo_home {
            dirs.extend(["bin", "registry", "git"].map(|d| cargo.join(d)));
        }
        dirs.extend(self.pyenv_root.clone());
        dirs
    }
}
