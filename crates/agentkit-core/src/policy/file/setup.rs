//! The `[setup]` table: how the repository's environment is made.
//!
//! ```toml
//! [setup]
//! script = """
//! python3 -m venv .venv
//! .venv/bin/python -m pip install -r requirements.txt
//! """
//! env = ["PIP_INDEX_URL"]        # variables passed into the script (values from the operator)
//! network = "registries"         # "deny" | "registries" (default) | "full" | ["host", "host:port"]
//! timeout_secs = 900
//! needs = ["python3"]            # toolchains checked before the model starts
//! inputs = ["requirements.txt"]  # files that decide the result (default: the known lockfiles)
//! ```
//!
//! A repository may also keep its script in `.agentkit/setup.sh`; a
//! `script` here wins over it. The operator's file overrides key by key,
//! and the operator's configuration can forbid repository setups entirely.

use std::time::Duration;

use super::raw::{RawSetup, RawSetupMode, RawSetupNetwork, Text};
use crate::sandbox::NetworkPolicy;

/// The effective `[setup]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupPolicy {
    /// The script (`None`: `.agentkit/setup.sh`, else detection).
    pub script: Option<String>,
    /// The file whose layer set `script` (to tell the repository's from the operator's).
    pub script_from: Option<String>,
    /// Names of the variables passed into the script.
    pub env: Vec<String>,
    /// The script's network (`None`: the package registries).
    pub network: Option<NetworkPolicy>,
    /// The script's time limit (`None`: the job's).
    pub timeout: Option<Duration>,
    /// Toolchains the repository needs.
    pub needs: Vec<String>,
    /// Files that decide the result (`None`: the known lockfiles).
    pub inputs: Option<Vec<String>>,
}

impl SetupPolicy {
    pub(super) fn from_raw(raw: RawSetup, script_from: Option<String>) -> Self {
        let list = |l: Option<Vec<Text>>| -> Vec<String> {
            l.into_iter().flatten().map(Text::into_inner).collect()
        };
        Self {
            script: raw.script,
            script_from,
            env: list(raw.env),
            network: raw.network.map(|n| match n.into_inner() {
                RawSetupNetwork::Mode(RawSetupMode::Deny) => NetworkPolicy::Deny,
                RawSetupNetwork::Mode(RawSetupMode::Full) => NetworkPolicy::Full,
                RawSetupNetwork::Mode(RawSetupMode::Registries) => crate::environment::registries(),
                RawSetupNetwork::Hosts(hosts) => NetworkPolicy::AllowList(hosts),
            }),
            timeout: raw.timeout_secs.map(Duration::from_secs),
            needs: list(raw.needs),
            inputs: raw
                .inputs
                .map(|l| l.into_iter().map(Text::into_inner).collect()),
        }
    }
}

/// What is wrong with one entry of the table, as `(key, entry, message)`.
pub(super) fn check(raw: &RawSetup) -> Result<(), (String, Text, String)> {
    let each = |key: &str, list: &Option<Vec<Text>>, ok: fn(&str) -> bool, what: &str| {
        for (i, item) in list.iter().flatten().enumerate() {
            if !ok(item.get_ref()) {
                return Err((
                    format!("setup.{key}[{i}]"),
                    item.clone(),
                    format!("`{}` is not {what}", item.get_ref()),
                ));
            }
        }
        Ok(())
    };
    each(
        "env",
        &raw.env,
        |n| {
            !n.is_empty()
                && !n.starts_with(|c: char| c.is_ascii_digit())
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        },
        "a variable name (letters, digits and `_`, not starting with a digit)",
    )?;
    each(
        "needs",
        &raw.needs,
        |n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        },
        "a program name (`cargo`, `python3`, `node`, `go`)",
    )?;
    each(
        "inputs",
        &raw.inputs,
        |p| {
            !p.is_empty()
                && !p.starts_with('/')
                && !p.split('/').any(|part| part == ".." || part.is_empty())
        },
        "a path relative to the repository root (no `..`, no leading `/`)",
    )?;
    if let Some(network) = &raw.network
        && let RawSetupNetwork::Hosts(hosts) = network.get_ref()
    {
        for (i, h) in hosts.iter().enumerate() {
            let bad = h.is_empty()
                || h.contains("://")
                || h.contains('/')
                || h.chars().any(char::is_whitespace);
            if bad {
                return Err((
                    format!("setup.network[{i}]"),
                    Text::new(network.span(), h.clone()),
                    format!(
                        "`{h}` is not a host: write `host`, `host:port` or `*.domain`, without a scheme or path"
                    ),
                ));
            }
        }
    }
    Ok(())
}
