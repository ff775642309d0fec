//! How a policy's network access becomes bubblewrap arguments.
//!
//! - [`NetworkPolicy::Deny`] → a new, empty network namespace
//!   (`--unshare-net`): only its own loopback, nothing of the host's.
//! - [`NetworkPolicy::Full`] → the host's network namespace (no
//!   `--unshare-net`; the other namespaces are unshared one by one, so
//!   bubblewrap's `--share-net` is not needed).
//! - [`NetworkPolicy::AllowList`] → the sandbox's own network namespace
//!   made by a [`NetworkGate`](crate::net::NetworkGate): only loopback, plus
//!   the gate's proxy listening on `127.0.0.1` inside it and forwarding to
//!   the listed hosts only. bubblewrap is started *in* that namespace (a
//!   `setns` between fork and exec; if it fails, nothing starts) and is not
//!   asked to unshare it, and commands get the proxy variables.
//!
//! Fail closed: anything not understood is refused, never shared.

use std::ffi::OsString;

use agentkit_core::sandbox::{NetworkPolicy, SandboxError};

/// The network a sandbox's commands get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetworkSetup {
    /// A new network namespace with only a loopback interface.
    Isolated,
    /// The host's network namespace.
    Host,
    /// The namespace of the sandbox's allow-list gate, which bubblewrap is
    /// started in.
    Gated,
}

impl NetworkSetup {
    /// The bubblewrap arguments for this setup.
    pub(crate) fn args(self) -> Vec<OsString> {
        match self {
            NetworkSetup::Isolated => vec!["--unshare-net".into()],
            // Already in the gate's namespace; unsharing would leave the proxy behind.
            NetworkSetup::Host | NetworkSetup::Gated => Vec::new(),
        }
    }
}

/// Decides the network of a sandbox for `policy`.
pub(crate) fn network_setup(policy: &NetworkPolicy) -> Result<NetworkSetup, SandboxError> {
    match policy {
        NetworkPolicy::Deny => Ok(NetworkSetup::Isolated),
        NetworkPolicy::Full => Ok(NetworkSetup::Host),
        NetworkPolicy::AllowList(hosts) => {
            crate::net::parse_allow_list(hosts)?;
            Ok(NetworkSetup::Gated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_isolates_full_shares_and_allow_lists_go_through_the_gate() {
        assert_eq!(
            network_setup(&NetworkPolicy::Deny).unwrap().args(),
            vec![OsString::from("--unshare-net")]
        );
        assert_eq!(
            network_setup(&NetworkPolicy::Full).unwrap().args(),
            Vec::<OsString>::new()
        );
        let gated = network_setup(&NetworkPolicy::AllowList(vec!["crates.io".into()])).unwrap();
        assert_eq!(gated, NetworkSetup::Gated);
        assert_eq!(gated.args(), Vec::<OsString>::new());
        let err = network_setup(&NetworkPolicy::AllowList(vec!["http://x".into()])).unwrap_err();
        assert!(matches!(err, SandboxError::Setup { .. }), "{err:?}");
    }
}
