//! The Docker daemon: connecting, probing what it can enforce, and turning
//! its errors into [`SandboxError`]s that say what to do.

use agentkit_core::sandbox::SandboxError;
use bollard::Docker;
use bollard::errors::Error as DockerError;

/// The daemon address used when neither the builder nor `DOCKER_HOST` names one.
pub(crate) const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Seconds the client waits for a response to start (streams may last longer).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// What the daemon told us about itself at connect time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Support {
    /// `docker version`'s server version, for messages.
    pub(crate) server_version: String,
    /// The API version agreed on.
    pub(crate) api_version: String,
    /// The kernel architecture (`x86_64`, `aarch64`).
    pub(crate) architecture: String,
    /// The memory cgroup can limit containers.
    pub(crate) memory: bool,
    /// Swap is accounted, so memory + swap can be capped together.
    pub(crate) swap: bool,
    /// The pids cgroup can limit containers.
    pub(crate) pids: bool,
    /// CFS quotas (needed for a CPU-share limit).
    pub(crate) cpu_quota: bool,
    /// The daemon has a network called `bridge`.
    pub(crate) bridge_network: bool,
    /// The daemon applies a seccomp profile to containers.
    pub(crate) seccomp: bool,
}

/// Connects to `host` (`unix:///path` or a plain absolute path).
pub(crate) async fn connect(host: &str) -> Result<Docker, SandboxError> {
    let path = host.strip_prefix("unix://").unwrap_or(host);
    if !path.starts_with('/') {
        return Err(SandboxError::Unsupported {
            what: format!("the Docker daemon address `{host}`"),
            hint: "the docker backend bind-mounts host directories into its containers, so the \
                   daemon must run on this machine: give its unix socket (`unix:///var/run/docker.sock`); \
                   for the tests, `.ci/docker.sh start` starts one and prints DOCKER_HOST"
                .into(),
        });
    }
    let docker =
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(|err| unreachable_daemon(host, &err))?;
    docker
        .negotiate_version()
        .await
        .map_err(|err| unreachable_daemon(host, &err))
}

/// Asks the daemon what it supports.
pub(crate) async fn probe(docker: &Docker, host: &str) -> Result<Support, SandboxError> {
    docker
        .ping()
        .await
        .map_err(|err| unreachable_daemon(host, &err))?;
    let version = docker
        .version()
        .await
        .map_err(|err| unreachable_daemon(host, &err))?;
    let info = docker
        .info()
        .await
        .map_err(|err| unreachable_daemon(host, &err))?;
    let bridge_network = match docker.inspect_network("bridge", None).await {
        Ok(_) => true,
        Err(err) if status(&err) == Some(404) => false,
        Err(err) => return Err(unreachable_daemon(host, &err)),
    };
    Ok(Support {
        server_version: version.version.unwrap_or_else(|| "unknown".into()),
        api_version: docker.client_version().to_string(),
        architecture: info
            .architecture
            .or_else(|| version.arch.map(|arch| kernel_arch(&arch)))
            .unwrap_or_else(|| "unknown".into()),
        memory: info.memory_limit.unwrap_or(false),
        swap: info.swap_limit.unwrap_or(false),
        pids: info.pids_limit.unwrap_or(false),
        cpu_quota: info.cpu_cfs_quota.unwrap_or(false),
        bridge_network,
        seccomp: info
            .security_options
            .unwrap_or_default()
            .iter()
            .any(|option| option.starts_with("name=seccomp")),
    })
}

/// Go's architecture names (`docker version`) as the kernel's (`docker info`).
fn kernel_arch(go: &str) -> String {
    match go {
        "amd64" => "x86_64".into(),
        "arm64" => "aarch64".into(),
        other => other.into(),
    }
}

/// The HTTP status of a daemon error, if it was one.
pub(crate) fn status(err: &DockerError) -> Option<u16> {
    match err {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The daemon's own words for an error (without bollard's framing).
pub(crate) fn message(err: &DockerError) -> String {
    match err {
        DockerError::DockerResponseServerError { message, .. } => message.trim().to_string(),
        other => other.to_string(),
    }
}

fn unreachable_daemon(host: &str, err: &DockerError) -> SandboxError {
    SandboxError::Unsupported {
        what: format!("a reachable Docker daemon at `{host}` ({})", message(err)),
        hint: "start dockerd (for the tests: `eval \"$(.ci/docker.sh start)\"`, which also sets \
               DOCKER_HOST) or point DOCKER_HOST at its unix socket"
            .into(),
    }
}

/// An error of a call about a running sandbox: a container or exec that no
/// longer exists, or a daemon that stopped answering, means the sandbox is
/// gone; anything else is reported as `what` failing.
pub(crate) fn sandbox_call(container: &str, what: &str, err: &DockerError) -> SandboxError {
    match (status(err), err) {
        (Some(404), _) => SandboxError::Gone {
            reason: format!(
                "container `{container}` no longer exists ({}); create a new sandbox",
                message(err)
            ),
        },
        (Some(409), _) => SandboxError::Gone {
            reason: format!(
                "container `{container}` is not running ({}); create a new sandbox",
                message(err)
            ),
        },
        (Some(_), _) => SandboxError::Spawn {
            reason: format!("the Docker daemon refused to {what}: {}", message(err)),
        },
        (None, _) => SandboxError::Gone {
            reason: format!(
                "the Docker daemon did not answer while trying to {what} in container `{container}`: {}",
                message(err)
            ),
        },
    }
}
