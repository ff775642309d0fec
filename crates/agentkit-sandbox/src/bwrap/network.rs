//! How a policy's network access becomes bubblewrap arguments: the one
//! place that decides, so the allow-list proxy (being built in `src/net/`)
//! has a single seam to plug into.
//!
//! - [`NetworkPolicy::Deny`] → a new, empty network namespace
//!   (`--unshare-net`): only its own loopback, nothing of the host's.
//! - [`NetworkPolicy::Full`] → the host's network namespace (no
//!   `--unshare-net`; the other namespaces are unshared one by one, so
//!   bubblewrap's `--share-net` is not needed).
//! - [`NetworkPolicy::AllowList`] → refused for now with
//!   [`SandboxError::Unsupported`]. Wiring in the proxy means returning a
//!   new [`NetworkSetup`] variant here (an isolated namespace plus the
//!   proxy's socket bound in and `HTTP(S)_PROXY` set) and handling it in
//!   [`NetworkSetup::args`]; nothing else changes.
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
}

impl NetworkSetup {
    /// The bubblewrap arguments for this setup.
    pub(crate) fn args(self) -> Vec<OsString> {
        match self {
            NetworkSetup::Isolated => vec!["--unshare-net".into()],
            NetworkSetup::Host => Vec::new(),
        }
    }
}

/// Decides the network of a sandbox for `policy`.
pub(crate) fn network_setup(policy: &NetworkPolicy) -> Result<NetworkSetup, SandboxError> {
    match policy {
        NetworkPolicy::Deny => Ok(NetworkSetup::Isolated),
        NetworkPolicy::Full => Ok(NetworkSetup::Host),
        NetworkPolicy::AllowList(_) => Err(allow_list_unsupported()),
    }
}

/// The error for an allow-list policy until the proxy is wired in.
pub(crate) fn allow_list_unsupported() -> SandboxError {
    SandboxError::Unsupported {
        what: "network allow-lists in the bwrap backend".into(),
        hint: "the allow-list proxy is not wired into this backend yet; use NetworkPolicy::Deny \
               (no network) or NetworkPolicy::Full (unrestricted) for now"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_isolates_full_shares_and_allow_lists_are_refused() {
        assert_eq!(
            network_setup(&NetworkPolicy::Deny).unwrap().args(),
            vec![OsString::from("--unshare-net")]
        );
        assert_eq!(
            network_setup(&NetworkPolicy::Full).unwrap().args(),
            Vec::<OsString>::new()
        );
        let err = network_setup(&NetworkPolicy::AllowList(vec!["crates.io".into()])).unwrap_err();
        assert!(
            matches!(&err, SandboxError::Unsupported { what, .. } if what.contains("allow-lists")),
            "{err:?}"
        );
    }
}
