//! Turning host IO errors into [`SandboxError`]s that name the path the
//! caller gave (never the host path, which means nothing to the model).

use std::io;

use agentkit_core::sandbox::SandboxError;

/// Maps an IO error on `path` (as the caller gave it) to a sandbox error:
/// missing things are [`SandboxError::NotFound`], a path of the wrong kind is
/// [`SandboxError::WrongKind`], an escape refused by cap-std is
/// [`SandboxError::OutsideWorkspace`], the rest is [`SandboxError::Io`].
pub(crate) fn io_error(path: &str, err: io::Error) -> SandboxError {
    if is_escape(&err) {
        return outside(path);
    }
    match err.kind() {
        io::ErrorKind::NotFound => SandboxError::NotFound {
            path: path.to_string(),
        },
        io::ErrorKind::IsADirectory => {
            wrong_kind(path, "is a directory; give the path of a file inside it")
        }
        io::ErrorKind::NotADirectory => wrong_kind(path, NOT_A_DIRECTORY),
        io::ErrorKind::DirectoryNotEmpty => {
            wrong_kind(path, "directory is not empty; remove its entries first")
        }
        _ => SandboxError::Io {
            path: path.to_string(),
            source: err,
        },
    }
}

/// The reason given when a component of a path is not a directory.
pub(crate) const NOT_A_DIRECTORY: &str = "a component of the path is a file, not a directory";

/// A [`SandboxError::WrongKind`] for `path`.
pub(crate) fn wrong_kind(path: &str, reason: impl Into<String>) -> SandboxError {
    SandboxError::WrongKind {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// The error for a path that resolves outside the workspace.
pub(crate) fn outside(path: &str) -> SandboxError {
    SandboxError::OutsideWorkspace {
        path: path.to_string(),
    }
}

/// Whether cap-std refused to leave the directory it resolves beneath.
///
/// cap-std reports an escape (an absolute path, a `..` above its handle, a
/// symlink leading out, or the kernel's `EXDEV` from `RESOLVE_BENEATH`) as
/// `PermissionDenied` *without* an OS error code; a real `EACCES` carries
/// one. The walker in this module never hands cap-std a path that could
/// escape, so this is a second line of defence, not the main one.
fn is_escape(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::PermissionDenied && err.raw_os_error().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_sandbox_errors() {
        let err = |kind| io_error("p", io::Error::from(kind));
        assert!(matches!(
            err(io::ErrorKind::NotFound),
            SandboxError::NotFound { .. }
        ));
        assert!(matches!(
            err(io::ErrorKind::IsADirectory),
            SandboxError::WrongKind { .. }
        ));
        // cap-std's escape error has no OS code; a real EACCES has one.
        assert!(matches!(
            io_error(
                "p",
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "a path led outside of the filesystem"
                )
            ),
            SandboxError::OutsideWorkspace { .. }
        ));
        assert!(matches!(
            io_error("p", io::Error::from_raw_os_error(libc::EACCES)),
            SandboxError::Io { .. }
        ));
    }
}
