//! Removing a sandbox's container and its host directory: on `close`, on
//! drop, and when `create` fails or is cancelled half-way.
//!
//! A [`Teardown`] exists from before the container is created (it names the
//! container by the name it is created with) until the container and the
//! temp directory are gone; whoever holds it owns the cleanup.
//! [`run`](Teardown::run) removes the container with the caller's client
//! (`force`: the daemon SIGKILLs PID 1, and the kernel every other process of
//! the PID namespace), then deletes the temp directory. **Dropping** a
//! teardown that has not finished does the same **synchronously** on a
//! helper thread with its own runtime and its own connection, and waits for
//! it (up to [`DROP_WAIT`]): the caller's runtime may be shutting down, or be
//! the single thread now blocked in `drop`, and a detached removal could be
//! cut short when the process exits. Nothing is left behind but what the
//! daemon refuses to remove, which is logged with the command to do it.

use std::sync::mpsc;
use std::time::Duration;

use agentkit_core::sandbox::SandboxError;
use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptions;
use tempfile::TempDir;

use super::daemon;

/// How long `drop` waits for the removal.
const DROP_WAIT: Duration = Duration::from_secs(30);

/// After a create request was cut off: how often and how long to look for
/// the container the daemon may still be making.
const IN_FLIGHT_CHECKS: u32 = 10;
const IN_FLIGHT_INTERVAL: Duration = Duration::from_millis(200);

/// What must go when a sandbox goes. Cleans up on drop unless
/// [`run`](Self::run) finished.
#[derive(Debug)]
pub(crate) struct Teardown {
    /// The daemon's address, to reconnect from another thread.
    host: String,
    /// The container's name (it need not exist yet).
    container: String,
    /// The temp directory holding the workspace and the control directory;
    /// `None` once the cleanup has run.
    temp: Option<TempDir>,
    /// A create request was sent and its answer not (yet) received.
    in_flight: bool,
}

impl Teardown {
    /// Takes charge of container `container` (by name) and of `temp`.
    pub(crate) fn new(host: String, container: String, temp: TempDir) -> Self {
        Self {
            host,
            container,
            temp: Some(temp),
            in_flight: false,
        }
    }

    /// Marks the create request as sent (`true`) or answered (`false`).
    /// While it is in flight, a cleanup also removes a container that the
    /// daemon finishes making after the first removal found nothing.
    pub(crate) fn in_flight(&mut self, in_flight: bool) {
        self.in_flight = in_flight;
    }

    /// Removes the container, then the temp directory. If this future is
    /// dropped before the container is gone, the drop cleans up.
    pub(crate) async fn run(mut self, docker: &Docker) -> Result<(), SandboxError> {
        let removed = remove(docker, &self.container, self.in_flight).await;
        let Some(temp) = self.temp.take() else {
            return removed;
        };
        removed.and(delete(temp).await)
    }

    /// What `drop` does: [`run`](Self::run) on a helper thread, waited for.
    fn run_blocking(&mut self) {
        let Some(temp) = self.temp.take() else {
            return;
        };
        let host = self.host.clone();
        let container = self.container.clone();
        let in_flight = self.in_flight;
        let (done, finished) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("agentkit-docker-teardown".into())
            .spawn({
                let container = container.clone();
                move || {
                    let result = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|err| SandboxError::Gone {
                            reason: format!(
                                "could not start a runtime to remove the container: {err}"
                            ),
                        })
                        .and_then(|runtime| {
                            runtime.block_on(async {
                                let docker = daemon::connect(&host).await?;
                                let removed = remove(&docker, &container, in_flight).await;
                                removed.and(delete(temp).await)
                            })
                        });
                    let _ = done.send(result);
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(container = %container, error = %err, "could not start a thread to remove the container; remove it with `docker rm -f {container}`");
            return;
        }
        match finished.recv_timeout(DROP_WAIT) {
            Ok(Ok(())) => tracing::debug!(container = %container, "removed on drop"),
            Ok(Err(err)) => {
                tracing::warn!(container = %container, error = %err, "removing a dropped sandbox failed");
            }
            Err(_) => {
                tracing::warn!(container = %container, "removing a dropped sandbox takes longer than {}s; leaving it to finish in the background", DROP_WAIT.as_secs());
            }
        }
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if self.temp.is_some() {
            tracing::debug!(container = %self.container, "sandbox dropped without close; removing its container");
            self.run_blocking();
        }
    }
}

/// Force-removes `container` (a name or id); one that does not exist is
/// fine, but when its create request was cut off (`in_flight`) the daemon
/// may still be making it, so it is looked for a little longer.
async fn remove(docker: &Docker, container: &str, in_flight: bool) -> Result<(), SandboxError> {
    if remove_once(docker, container).await? || !in_flight {
        return Ok(());
    }
    for _ in 0..IN_FLIGHT_CHECKS {
        tokio::time::sleep(IN_FLIGHT_INTERVAL).await;
        if remove_once(docker, container).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// One forced removal; `true` when there was a container to remove.
async fn remove_once(docker: &Docker, container: &str) -> Result<bool, SandboxError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    match docker.remove_container(container, Some(options)).await {
        Ok(()) => Ok(true),
        Err(err) if daemon::status(&err) == Some(404) => Ok(false),
        // "removal of container ... is already in progress"
        Err(err) if daemon::status(&err) == Some(409) => Ok(true),
        Err(err) => Err(SandboxError::Gone {
            reason: format!(
                "the Docker daemon could not remove container `{container}`: {}; remove it with `docker rm -f {container}`",
                daemon::message(&err)
            ),
        }),
    }
}

/// Deletes the temp directory on the blocking pool.
async fn delete(temp: TempDir) -> Result<(), SandboxError> {
    let shown = temp.path().display().to_string();
    tokio::task::spawn_blocking(move || temp.close())
        .await
        .map_err(|err| SandboxError::Io {
            path: shown.clone(),
            source: std::io::Error::other(format!("the cleanup task failed: {err}")),
        })?
        .map_err(|source| SandboxError::Io {
            path: shown,
            source,
        })
}
