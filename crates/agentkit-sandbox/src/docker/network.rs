//! From the policy's [`NetworkPolicy`] to the container's network mode.
//!
//! - `Deny` → network mode `none`: the container has only its own loopback.
//! - `Full` → the provider's *full network mode*: `bridge` when the daemon
//!   has a bridge network (NAT, the host's loopback is not reachable),
//!   otherwise `host` (the container shares the host's network namespace:
//!   every interface, the host's loopback services and abstract unix
//!   sockets). A daemon started with `--bridge=none` (as `.ci/docker.sh`
//!   does) has no bridge, so there `Full` means `host`.
//! - `AllowList` → refused for now.
//!
//! **The seam for allow-lists.** A host-side proxy that enforces an
//! allow-list will be wired in here: the container keeps network mode
//! `none`, the proxy places a listener inside the container's network
//! namespace ([`DockerSandbox::network_namespace`](super::DockerSandbox::network_namespace)
//! gives its path) and [`NetworkPlan::env`] carries `HTTP_PROXY`/`HTTPS_PROXY`
//! into every command.

use std::collections::BTreeMap;

use agentkit_core::sandbox::{NetworkPolicy, SandboxError};

/// How a sandbox's container is attached to the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkPlan {
    /// The container's network mode (`none`, `bridge`, `host`, a network name).
    pub(crate) mode: String,
    /// Variables added to every command's environment (proxy settings).
    pub(crate) env: BTreeMap<String, String>,
}

/// The plan for `policy`; `full_mode` is what `Full` maps to.
pub(crate) fn plan(policy: &NetworkPolicy, full_mode: &str) -> Result<NetworkPlan, SandboxError> {
    let mode = match policy {
        NetworkPolicy::Deny => "none".to_string(),
        NetworkPolicy::Full => full_mode.to_string(),
        NetworkPolicy::AllowList(hosts) => {
            return Err(SandboxError::Unsupported {
                what: format!(
                    "a network allow-list ({} host(s)) in the docker backend",
                    hosts.len()
                ),
                hint: "the host-side allow-list proxy is not wired into this backend yet; use \
                       NetworkPolicy::Deny (and fetch dependencies in the setup script of a \
                       sandbox with NetworkPolicy::Full), or another backend"
                    .into(),
            });
        }
    };
    Ok(NetworkPlan {
        mode,
        env: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_is_no_network_full_is_the_providers_mode_allow_lists_are_refused() {
        assert_eq!(plan(&NetworkPolicy::Deny, "host").unwrap().mode, "none");
        assert_eq!(plan(&NetworkPolicy::Full, "host").unwrap().mode, "host");
        assert_eq!(plan(&NetworkPolicy::Full, "bridge").unwrap().mode, "bridge");
        let refused = plan(&NetworkPolicy::AllowList(vec!["crates.io".into()]), "host");
        assert!(
            matches!(refused, Err(SandboxError::Unsupported { .. })),
            "{refused:?}"
        );
    }
}
