//! The init helper (`init/main.rs`): built by `build.rs`, embedded here,
//! written once per provider into a private temp directory, and bound
//! read-only into every command's sandbox at the same path.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use agentkit_core::sandbox::SandboxError;
use tempfile::TempDir;

/// The helper's file name.
const FILE_NAME: &str = "agentkit-bwrap-init";

/// The helper program for the target, built by `build.rs`.
static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/agentkit-bwrap-init"));

/// Compiled with the library too, so tests and lints cover it.
#[cfg(test)]
#[allow(dead_code)]
#[path = "init/main.rs"]
mod program;

/// The helper on disk; the directory is deleted on drop.
#[derive(Debug)]
pub(crate) struct InitHelper {
    _dir: TempDir,
    path: PathBuf,
}

impl InitHelper {
    /// Writes the helper (read-only, executable) into a new temp directory.
    /// Written once and never again, so no later `exec` of it can meet a
    /// descriptor still open for writing (`ETXTBSY`).
    pub(crate) fn install() -> Result<InitHelper, SandboxError> {
        let dir = tempfile::Builder::new()
            .prefix("agentkit-bwrap-init-")
            .tempdir()
            .map_err(|source| SandboxError::Io {
                path: std::env::temp_dir().display().to_string(),
                source,
            })?;
        let root = dir
            .path()
            .canonicalize()
            .unwrap_or_else(|_| dir.path().to_path_buf());
        let path = root.join(FILE_NAME);
        let io = |source| SandboxError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o555)
            .open(&path)
            .map_err(io)?;
        file.write_all(PROGRAM).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        Ok(InitHelper { _dir: dir, path })
    }

    /// Where it is (the same path inside every sandbox).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
