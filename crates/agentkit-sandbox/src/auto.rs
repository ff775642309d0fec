//! Choosing the strongest sandbox backend this host supports.
//!
//! [`strongest`] tries, in order: `bwrap` (when built with the `bwrap`
//! feature and its probe passes), `docker` (when built with the `docker`
//! feature and a daemon answers within [`DOCKER_CONNECT_TIMEOUT`]), and
//! falls back to `local` — which isolates nothing — with a
//! [`Choice::warning`] that says so loudly and why each stronger backend
//! was not used. Programs print that warning where an operator will see it;
//! choosing `local` explicitly (e.g. `--sandbox local`) is the way to accept
//! it. [`by_name`] builds one named backend and fails instead of falling back.
//!
//! ```no_run
//! # async fn run() {
//! let choice = agentkit_sandbox::auto::strongest(&agentkit_sandbox::auto::Options::default()).await;
//! if let Some(warning) = &choice.warning {
//!     eprintln!("{warning}");
//! }
//! println!("sandbox backend: {}", choice.backend);
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::sandbox::{SandboxError, SandboxProvider};

use crate::local::LocalProvider;
use crate::snapshot::SnapshotStore;

/// How long [`strongest`] waits for a Docker daemon to answer.
pub const DOCKER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What every backend is built with.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep warm-start snapshots here.
    pub snapshots: Option<SnapshotStore>,
}

/// The backend [`strongest`] or [`by_name`] chose.
pub struct Choice {
    /// The provider.
    pub provider: Arc<dyn SandboxProvider>,
    /// Its name: `bwrap`, `docker` or `local`.
    pub backend: &'static str,
    /// Set when the choice isolates nothing although the caller did not ask
    /// for `local`: print it where the operator sees it.
    pub warning: Option<String>,
}

impl std::fmt::Debug for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Choice")
            .field("backend", &self.backend)
            .field("warning", &self.warning)
            .finish_non_exhaustive()
    }
}

/// The backends this build can make, strongest first.
pub fn available() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(all(feature = "bwrap", target_os = "linux")) {
        names.push("bwrap");
    }
    if cfg!(all(feature = "docker", target_os = "linux")) {
        names.push("docker");
    }
    names.push("local");
    names
}

/// The strongest backend that works here; `local` with a warning when none
/// that isolates does.
pub async fn strongest(options: &Options) -> Choice {
    let mut refused: Vec<String> = Vec::new();
    for name in available() {
        if name == "local" {
            break;
        }
        match build(name, options).await {
            Ok(provider) => {
                return Choice {
                    provider,
                    backend: name,
                    warning: None,
                };
            }
            Err(err) => {
                tracing::info!(backend = name, error = %err, "sandbox backend unavailable");
                refused.push(format!("{name}: {err}"));
            }
        }
    }
    unconfined(refused, options)
}

/// `local`, with the warning saying why each stronger backend was refused.
fn unconfined(mut refused: Vec<String>, options: &Options) -> Choice {
    if refused.is_empty() {
        refused.push(
            "this build has no isolating backend (enable the `sandbox-bwrap` or `sandbox-docker` feature)"
                .into(),
        );
    }
    Choice {
        provider: local(options),
        backend: "local",
        warning: Some(format!(
            "WARNING: no isolating sandbox is available, so the agent's commands run UNCONFINED \
             on this host with your user's rights (files, network, processes). Why: {}. \
             Install bubblewrap (`apt-get install bubblewrap`) or start a Docker daemon; \
             choose the `local` sandbox explicitly to accept this for trusted code.",
            refused.join("; ")
        )),
    }
}

/// The backend called `name` (`bwrap`, `docker` or `local`), or the reason
/// it cannot be made here. Never falls back to another backend.
pub async fn by_name(name: &str, options: &Options) -> Result<Choice, SandboxError> {
    let backend = available()
        .into_iter()
        .find(|available| *available == name)
        .ok_or_else(|| SandboxError::Unsupported {
            what: format!("the sandbox backend `{name}`"),
            hint: format!(
                "this build has: {} (the `sandbox-bwrap` and `sandbox-docker` features add the others)",
                available().join(", ")
            ),
        })?;
    Ok(Choice {
        provider: build(backend, options).await?,
        backend,
        warning: None,
    })
}

fn local(options: &Options) -> Arc<dyn SandboxProvider> {
    let mut provider = LocalProvider::new();
    if let Some(store) = &options.snapshots {
        provider = provider.with_snapshots(store.clone());
    }
    Arc::new(provider)
}

async fn build(name: &str, options: &Options) -> Result<Arc<dyn SandboxProvider>, SandboxError> {
    match name {
        #[cfg(all(feature = "bwrap", target_os = "linux"))]
        "bwrap" => {
            // The probe runs a few test sandboxes: keep it off the runtime's threads.
            let made = tokio::task::spawn_blocking(crate::bwrap::BwrapProvider::new)
                .await
                .map_err(|err| SandboxError::Setup {
                    reason: format!("the bwrap probe did not finish: {err}"),
                })??;
            let mut provider = made;
            if let Some(store) = &options.snapshots {
                provider = provider.with_snapshots(store.clone());
            }
            Ok(Arc::new(provider))
        }
        #[cfg(all(feature = "docker", target_os = "linux"))]
        "docker" => {
            // The host's toolchains, read-only, so the agent can build and test.
            let mut builder = crate::docker::DockerProvider::builder_from_env().host_toolchains();
            if let Some(store) = &options.snapshots {
                builder = builder.snapshots(store.clone());
            }
            let connected = tokio::time::timeout(DOCKER_CONNECT_TIMEOUT, builder.connect())
                .await
                .map_err(|_| SandboxError::Unsupported {
                    what: "the docker backend".into(),
                    hint: format!(
                        "the Docker daemon did not answer within {}s; check DOCKER_HOST",
                        DOCKER_CONNECT_TIMEOUT.as_secs()
                    ),
                })??;
            Ok(Arc::new(connected))
        }
        _ => Ok(local(options)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unknown_backend_is_refused_with_what_this_build_has() {
        let err = by_name("firecracker", &Options::default())
            .await
            .unwrap_err();
        let SandboxError::Unsupported { what, hint } = err else {
            panic!("expected Unsupported");
        };
        assert_eq!(what, "the sandbox backend `firecracker`");
        assert!(
            hint.starts_with(&format!("this build has: {}", available().join(", "))),
            "{hint}"
        );
    }

    #[test]
    fn the_fallback_to_local_says_loudly_why_and_what_to_do() {
        let choice = unconfined(
            vec!["bwrap: no user namespaces".into()],
            &Options::default(),
        );
        assert_eq!(choice.backend, "local");
        let warning = choice.warning.unwrap();
        assert!(
            warning.starts_with(
                "WARNING: no isolating sandbox is available, so the agent's commands run UNCONFINED"
            ),
            "{warning}"
        );
        assert!(
            warning.contains("Why: bwrap: no user namespaces."),
            "{warning}"
        );
        assert!(warning.contains("apt-get install bubblewrap"), "{warning}");
        let none = unconfined(Vec::new(), &Options::default()).warning.unwrap();
        assert!(
            none.contains("this build has no isolating backend"),
            "{none}"
        );
    }

    #[tokio::test]
    async fn local_is_always_available_and_never_warns_when_asked_for() {
        let choice = by_name("local", &Options::default()).await.unwrap();
        assert_eq!((choice.backend, choice.warning), ("local", None));
        assert_eq!(available().last(), Some(&"local"));
    }
}
