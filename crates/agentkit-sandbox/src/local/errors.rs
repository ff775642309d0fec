//! Turning host IO errors into [`SandboxError`]s that name the path the
//! caller gave (never the host path, which means nothing to the model).

use std::io;

use agentkit_core::sandbox::SandboxError;

/// Maps an IO error on `path` (as the caller gave it) to a sandbox error:
/// missing things are [`SandboxError::NotFound`], a path of the wrong kind is
/// [`SandboxError::WrongKind`], the rest is [`SandboxError::Io`].
pub(crate) fn io_error(path: &str, err: io::Error) -> SandboxError {
    let wrong_kind = |reason: &str| SandboxError::WrongKind {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    match err.kind() {
        io::ErrorKind::NotFound => SandboxError::NotFound {
            path: path.to_string(),
        },
        io::ErrorKind::IsADirectory => {
            wrong_kind("is a directory; give the path of a file inside it")
        }
        io::ErrorKind::NotADirectory => {
            wrong_kind("a component of the path is a file, not a directory")
        }
        io::ErrorKind::DirectoryNotEmpty => {
            wrong_kind("directory is not empty; remove its entries first")
        }
        _ => SandboxError::Io {
            path: path.to_string(),
            source: err,
        },
    }
}

/// The error for a path that resolves outside the workspace.
pub(crate) fn outside(path: &str) -> SandboxError {
    SandboxError::OutsideWorkspace {
        path: path.to_string(),
    }
}

/// The error for an operation whose blocking task died (panicked or was
/// cancelled by runtime shutdown).
pub(crate) fn task_failed(path: &str, err: tokio::task::JoinError) -> SandboxError {
    SandboxError::Io {
        path: path.to_string(),
        source: io::Error::other(format!("the file operation task failed: {err}")),
    }
}
