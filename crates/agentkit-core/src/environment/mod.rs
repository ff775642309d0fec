//! The environment a repository needs before an agent can work in it:
//! its setup (install dependencies), the dependency caches it shares
//! between runs, and the toolchains the sandbox offers.
//!
//! The parts, and who owns each:
//!
//! - [`EnvironmentSpec`] (a field of [`SandboxSpec`](crate::sandbox::SandboxSpec)):
//!   what the setup may use besides its script — the variables passed
//!   into it (and only those), its own network (registries, typically,
//!   while the agent gets none), the files whose content decides its result
//!   (lockfiles: the warm-start key), where the repository's dependency
//!   caches live on the host, and which toolchains the repository needs.
//!   Whoever builds the spec fills it in (the root package's `FixIssue`
//!   from `.agentkit/setup.sh`, the `[setup]` table of
//!   `.agentkit/policy.toml`, or [`detect`]ion).
//! - The sandbox backend runs the setup and probes the toolchains
//!   ([`TOOLCHAIN_PROBE`], [`parse_toolchains`]); the sandbox then carries
//!   an [`EnvironmentReport`] ([`Sandbox::environment`](crate::sandbox::Sandbox::environment)).
//!   A setup that fails or times out is a
//!   [`SandboxError::SetupFailed`](crate::sandbox::SandboxError::SetupFailed)
//!   with the same report.
//! - The driver puts the report in the transcript
//!   ([`Event::EnvironmentReady`](crate::event::Event::EnvironmentReady)) and
//!   in the pull request body, and ends the run with
//!   [`StopReason::EnvironmentBroken`](crate::outcome::StopReason::EnvironmentBroken)
//!   — before any model call, never as an agent failure — when the setup
//!   failed or a toolchain the repository needs is missing
//!   ([`broken_outcome`], [`EnvironmentReport::check`]).
//!
//! ```
//! use agentkit_core::environment::{EnvironmentPhase, EnvironmentReport, Toolchain};
//!
//! let mut report = EnvironmentReport::default();
//! report.needs = vec!["cargo".into(), "go".into()];
//! report.toolchains = vec![Toolchain::found("cargo", "/usr/bin/cargo", "cargo 1.88.0")];
//! let broken = report.check().unwrap_err();
//! assert_eq!(broken.phase, EnvironmentPhase::Toolchains);
//! assert_eq!(report.missing(), vec!["go".to_string()]);
//! ```

mod detect;
pub mod live;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use detect::{Detected, NodeManager, Stack, detect, lockfile_names};
pub use report::{
    Broken, EnvironmentReport, OUTPUT_TAIL_CHARS, SnapshotRestore, TOOLCHAIN_PROBE, Toolchain,
    broken_outcome, parse_toolchains,
};

/// The package registries a setup may reach by default: crates.io, PyPI,
/// npm (and yarn's mirror of it), the Go module proxy and checksum database.
pub const REGISTRY_HOSTS: [&str; 9] = [
    "index.crates.io",
    "static.crates.io",
    "crates.io",
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    "proxy.golang.org",
    "sum.golang.org",
];

/// The setup network used when a setup declares none: [`REGISTRY_HOSTS`].
pub fn registries() -> NetworkPolicy {
    NetworkPolicy::AllowList(REGISTRY_HOSTS.iter().map(|h| h.to_string()).collect())
}

use crate::sandbox::NetworkPolicy;

/// Where the setup script came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SetupSource {
    /// The operator's configuration (`--setup`, `sandbox.setup_script`).
    #[default]
    Operator,
    /// The repository's `.agentkit/setup.sh`.
    RepoScript,
    /// The `[setup]` table of the repository's `.agentkit/policy.toml`.
    RepoPolicy,
    /// Proposed from the repository's manifests and lockfiles.
    Detected,
}

impl std::fmt::Display for SetupSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SetupSource::Operator => "the operator's configuration",
            SetupSource::RepoScript => "the repository's .agentkit/setup.sh",
            SetupSource::RepoPolicy => "the [setup] table of .agentkit/policy.toml",
            SetupSource::Detected => "detection (manifests and lockfiles)",
        })
    }
}

/// A phase of making the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentPhase {
    /// The setup script.
    Setup,
    /// The toolchain check that follows it.
    Toolchains,
}

impl std::fmt::Display for EnvironmentPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EnvironmentPhase::Setup => "setup",
            EnvironmentPhase::Toolchains => "toolchains",
        })
    }
}

/// One file whose content decides what the setup produces (a lockfile, a
/// manifest, the setup script itself), by content hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SetupInput {
    /// Path relative to the repository root.
    pub path: String,
    /// Hex SHA-256 of its content at the commit the work starts from.
    pub sha256: String,
}

/// What a setup may use besides its script. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvironmentSpec {
    /// Where the setup script came from.
    pub source: SetupSource,
    /// Variables set for the setup script only (names the setup declared,
    /// values the operator provided). Nothing else of the host passes in.
    pub setup_env: BTreeMap<String, String>,
    /// The setup script's network, when it differs from the agent's
    /// (`None`: the sandbox policy's). Backends that enforce networks run
    /// the setup under this policy and the agent under its own.
    pub setup_network: Option<NetworkPolicy>,
    /// The files that decide the setup's result. When present, warm starts
    /// are keyed by them (and the script, environment, backend) instead of
    /// the commit: a new commit with the same lockfiles starts warm, a
    /// changed lockfile starts cold.
    pub inputs: Vec<SetupInput>,
    /// The host directory holding this repository's dependency caches
    /// (cargo registry, pip, npm, go modules), mounted read-write into its
    /// sandboxes only. `None`: no shared caches.
    pub cache_dir: Option<PathBuf>,
    /// The toolchains the repository needs (`cargo`, `python3`, `node`,
    /// `go`, ...). One missing from the sandbox stops the run before the
    /// model is called.
    pub needs: Vec<String>,
    /// Sees the setup's output while it runs (the agent turns it into
    /// [`Event::SetupOutput`](crate::event::Event::SetupOutput)); not
    /// serialized, not part of a snapshot key.
    #[serde(skip)]
    pub setup_output: Option<crate::sandbox::OutputTap>,
}
