//! Removing a sandbox's container and its host directory, on `close` and
//! on drop.
//!
//! `close` removes the container with the caller's client (`force`: the
//! daemon SIGKILLs PID 1, and the kernel every other process of the PID
//! namespace), then deletes the temp directory. Dropping a sandbox that was
//! not closed (a panic, an early return) does the same **synchronously** on a
//! helper thread with its own runtime and its own connection, and waits for
//! it (up to [`DROP_WAIT`]): the caller's runtime may be shutting down, or be
//! the single thread that is now blocked in `drop`, and a detached removal
//! could be cut short when the process exits. Nothing is left behind but
//! what the daemon refuses to remove, which is logged.

use std::sync::mpsc;
use std::time::Duration;

use agentkit_core::sandbox::SandboxError;
use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptions;
use tempfile::TempDir;

use super::daemon;

/// How long `drop` waits for the removal.
const DROP_WAIT: Duration = Duration::from_secs(30);

/// What must go when a sandbox goes.
#[derive(Debug)]
pub(crate) struct Teardown {
    /// The daemon's address, to reconnect from another thread.
    pub(crate) host: String,
    /// The container id.
    pub(crate) container: String,
    /// The temp directory holding the workspace and the control directory.
    pub(crate) temp: TempDir,
}

impl Teardown {
    /// Removes the container, then the temp directory.
    pub(crate) async fn run(self, docker: &Docker) -> Result<(), SandboxError> {
        let removed = remove(docker, &self.container).await;
        let shown = self.temp.path().display().to_string();
        let deleted = tokio::task::spawn_blocking(move || self.temp.close())
            .await
            .map_err(|err| SandboxError::Io {
                path: shown.clone(),
                source: std::io::Error::other(format!("the cleanup task failed: {err}")),
            })?
            .map_err(|source| SandboxError::Io {
                path: shown,
                source,
            });
        removed.and(deleted)
    }

    /// [`run`](Self::run) from a non-async context, on a helper thread;
    /// waits for it to finish (see the module docs).
    pub(crate) fn run_blocking(self) {
        let container = self.container.clone();
        let (done, finished) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("agentkit-docker-teardown".into())
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|err| SandboxError::Gone {
                        reason: format!("could not start a runtime to remove the container: {err}"),
                    })
                    .and_then(|runtime| {
                        runtime.block_on(async {
                            let docker = daemon::connect(&self.host).await?;
                            self.run(&docker).await
                        })
                    });
                let _ = done.send(result);
            });
        if let Err(err) = spawned {
            tracing::warn!(container = %container, error = %err, "could not start a thread to remove the container; remove it with `docker rm -f`");
            return;
        }
        match finished.recv_timeout(DROP_WAIT) {
            Ok(Ok(())) => tracing::debug!(container = %container, "removed on drop"),
            Ok(Err(err)) => {
                tracing::warn!(container = %container, error = %err, "removing the dropped sandbox failed; remove it with `docker rm -f`")
            }
            Err(_) => {
                tracing::warn!(container = %container, "removing the dropped sandbox takes longer than {}s; leaving it to finish in the background", DROP_WAIT.as_secs())
            }
        }
    }
}

/// Force-removes `container`; one that is already gone is fine.
pub(crate) async fn remove(docker: &Docker, container: &str) -> Result<(), SandboxError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    match docker.remove_container(container, Some(options)).await {
        Ok(()) => Ok(()),
        Err(err) if daemon::status(&err) == Some(404) => Ok(()),
        // "removal of container ... is already in progress"
        Err(err) if daemon::status(&err) == Some(409) => Ok(()),
        Err(err) => Err(SandboxError::Gone {
            reason: format!(
                "the Docker daemon could not remove container `{container}`: {}; remove it with `docker rm -f {container}`",
                daemon::message(&err)
            ),
        }),
    }
}
