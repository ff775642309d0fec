//! The conformance and escape suite against the `docker` backend.
//!
//! Needs a Docker daemon and the image: `eval "$(.ci/docker.sh start)"`
//! (it prints `DOCKER_HOST` and `AGENTKIT_DOCKER_IMAGE`). Without them every
//! case says why on stderr and passes, except under `CI`, where they fail.
#![cfg(all(feature = "docker", target_os = "linux"))]

mod common;
#[macro_use]
mod conformance;

use std::sync::Arc;

use agentkit_sandbox::docker::DockerProvider;
use conformance::{Harness, Isolation};

async fn docker() -> Option<Harness> {
    let provider = common::available(
        "docker",
        DockerProvider::from_env().await,
        common::DOCKER_FIX,
    )?;
    Some(Harness {
        name: "docker",
        provider: Arc::new(provider),
        isolation: Isolation {
            // Read-only root, only the workspace and tmpfs writable, host
            // binds read-only, protected paths mounted read-only on top.
            filesystem: true,
            // Network mode `none` for Deny.
            network: true,
            // Network mode `none` plus the allow-list proxy's listener
            // placed in the container's namespace.
            allow_list: true,
            // pids and memory cgroups.
            pids: true,
            memory: true,
            // Refused with Unsupported.
            disk: false,
            // cap_drop ALL, no-new-privileges.
            privileges: true,
            // Own PID namespace.
            processes: true,
        },
    })
}

conformance_suite!(docker);
