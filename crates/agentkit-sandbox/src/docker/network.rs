//! From the policy's [`NetworkPolicy`] to the container's network mode.
//!
//! - `Deny` → network mode `none`: the container has only its own loopback.
//! - `Full` → the provider's *full network mode*: `bridge` when the daemon
//!   has a bridge network (NAT, the host's loopback is not reachable),
//!   otherwise `host` (the container shares the host's network namespace:
//!   every interface, the host's loopback services and abstract unix
//!   sockets). A daemon started with `--bridge=none` (as `.ci/docker.sh`
//!   does) has no bridge, so there `Full` means `host`.
//! - `AllowList` → network mode `none` too, and then, once the container
//!   runs, a [`NetworkGate`](crate::net::NetworkGate) places the allow-list
//!   proxy's listener inside the container's network namespace
//!   (`/proc/<pid of its init>/ns/net`); every command gets the proxy
//!   variables. Nothing else leads out, so without the gate nothing gets out.
//!   This needs the daemon on this machine and the right to enter its
//!   namespaces (root); otherwise the policy is refused.

use agentkit_core::sandbox::{NetworkPolicy, SandboxError};

/// How a sandbox's container is attached to the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkPlan {
    /// The container's network mode (`none`, `bridge`, `host`, a network name).
    pub(crate) mode: String,
    /// With an allow-list: the hosts the gate lets through.
    pub(crate) gate: Option<Vec<String>>,
}

/// The plan for `policy`; `full_mode` is what `Full` maps to; `can_gate`
/// says whether allow-lists can be enforced here (and why not).
pub(crate) fn plan(
    policy: &NetworkPolicy,
    full_mode: &str,
    can_gate: &Result<(), String>,
) -> Result<NetworkPlan, SandboxError> {
    Ok(match policy {
        NetworkPolicy::Deny => NetworkPlan {
            mode: "none".to_string(),
            gate: None,
        },
        NetworkPolicy::Full => NetworkPlan {
            mode: full_mode.to_string(),
            gate: None,
        },
        NetworkPolicy::AllowList(hosts) => {
            if let Err(why) = can_gate {
                return Err(SandboxError::Unsupported {
                    what: format!(
                        "a network allow-list ({} host(s)) in the docker backend",
                        hosts.len()
                    ),
                    hint: why.clone(),
                });
            }
            crate::net::parse_allow_list(hosts)?;
            NetworkPlan {
                mode: "none".to_string(),
                gate: Some(hosts.clone()),
            }
        }
    })
}

/// Whether this process can enforce allow-lists: it must be able to enter
/// the containers' network namespaces. (The daemon is on this machine:
/// `daemon::connect` takes local sockets only.) The probe creates a
/// namespace on fresh threads, so it runs on the blocking pool.
pub(crate) async fn can_gate() -> Result<(), String> {
    match tokio::task::spawn_blocking(crate::net::probe).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(err) => Err(format!("probing network namespaces failed: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_is_no_network_full_is_the_providers_mode_allow_lists_are_gated() {
        let yes = Ok(());
        assert_eq!(
            plan(&NetworkPolicy::Deny, "host", &yes).unwrap().mode,
            "none"
        );
        assert_eq!(
            plan(&NetworkPolicy::Full, "host", &yes).unwrap().mode,
            "host"
        );
        assert_eq!(
            plan(&NetworkPolicy::Full, "bridge", &yes).unwrap().mode,
            "bridge"
        );
        let gated = plan(
            &NetworkPolicy::AllowList(vec!["crates.io".into()]),
            "host",
            &yes,
        )
        .unwrap();
        assert_eq!(
            gated,
            NetworkPlan {
                mode: "none".into(),
                gate: Some(vec!["crates.io".into()])
            }
        );
        let refused = plan(
            &NetworkPolicy::AllowList(vec!["crates.io".into()]),
            "host",
            &Err("no namespaces here".into()),
        );
        assert!(
            matches!(&refused, Err(SandboxError::Unsupported { hint, .. }) if hint == "no namespaces here"),
            "{refused:?}"
        );
    }
}
