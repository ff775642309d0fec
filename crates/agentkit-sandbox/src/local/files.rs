//! The file operations of [`LocalSandbox`](super::LocalSandbox), as blocking
//! functions (the sandbox runs them on tokio's blocking pool).
//!
//! All paths are workspace-relative and resolved through
//! [`Workspace`](super::paths::Workspace); `stat` and the entries of `list`
//! describe symlinks themselves (they are never followed), and nothing is
//! written through a symlink.

use std::fs::{self, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;

use agentkit_core::sandbox::{FileKind, FileStat, SandboxError};

use super::errors::{io_error, outside};
use super::paths::Workspace;

/// Reads a whole file (symlinks followed, as long as they stay inside).
pub(crate) fn read(ws: &Workspace, path: &str) -> Result<Vec<u8>, SandboxError> {
    let resolved = ws.resolve_existing(path)?;
    let meta = fs::metadata(&resolved.host).map_err(|e| io_error(path, e))?;
    if meta.is_dir() {
        return Err(SandboxError::WrongKind {
            path: path.to_string(),
            reason: "is a directory; use list to see its entries".into(),
        });
    }
    fs::read(&resolved.host).map_err(|e| io_error(path, e))
}

/// Writes a whole file, creating missing parent directories.
pub(crate) fn write(ws: &Workspace, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
    let resolved = ws.resolve_for_write(path)?;
    ws.check_writable(path, &resolved)?;
    if let Some(parent) = resolved.host.parent() {
        fs::create_dir_all(parent).map_err(|e| io_error(path, e))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        // A symlink swapped in after the check is refused, not followed.
        .custom_flags(libc::O_NOFOLLOW)
        .open(&resolved.host)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => outside(path),
            _ => io_error(path, e),
        })?;
    file.write_all(contents).map_err(|e| io_error(path, e))
}

/// Lists a directory, sorted by path; entries are not followed.
pub(crate) fn list(ws: &Workspace, path: &str) -> Result<Vec<FileStat>, SandboxError> {
    let resolved = ws.resolve_existing(path)?;
    let meta = fs::metadata(&resolved.host).map_err(|e| io_error(path, e))?;
    if !meta.is_dir() {
        return Err(SandboxError::WrongKind {
            path: path.to_string(),
            reason: "is not a directory; use read or stat instead".into(),
        });
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(&resolved.host).map_err(|e| io_error(path, e))? {
        let entry = entry.map_err(|e| io_error(path, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if resolved.rel.is_empty() {
            name
        } else {
            format!("{}/{name}", resolved.rel)
        };
        match entry.metadata() {
            Ok(meta) => out.push(file_stat(rel, &meta)),
            // Deleted between readdir and stat: it is simply gone.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_error(&rel, err)),
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Removes a file, a symlink (not its target) or an empty directory.
pub(crate) fn remove(ws: &Workspace, path: &str) -> Result<(), SandboxError> {
    let resolved = ws.resolve_entry(path)?;
    if resolved.host == ws.root() {
        return Err(SandboxError::WrongKind {
            path: path.to_string(),
            reason: "is the workspace root and cannot be removed".into(),
        });
    }
    ws.check_writable(path, &resolved)?;
    let meta = fs::symlink_metadata(&resolved.host).map_err(|e| io_error(path, e))?;
    if meta.is_dir() {
        fs::remove_dir(&resolved.host).map_err(|e| io_error(path, e))
    } else {
        fs::remove_file(&resolved.host).map_err(|e| io_error(path, e))
    }
}

/// Metadata of a path; a symlink is described, not followed.
pub(crate) fn stat(ws: &Workspace, path: &str) -> Result<FileStat, SandboxError> {
    let resolved = ws.resolve_entry(path)?;
    let meta = fs::symlink_metadata(&resolved.host).map_err(|e| io_error(path, e))?;
    Ok(file_stat(resolved.rel, &meta))
}

fn file_stat(path: String, meta: &Metadata) -> FileStat {
    let file_type = meta.file_type();
    let kind = if file_type.is_symlink() {
        FileKind::Symlink
    } else if file_type.is_dir() {
        FileKind::Dir
    } else if file_type.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    };
    FileStat {
        path,
        kind,
        size: meta.len(),
    }
}
