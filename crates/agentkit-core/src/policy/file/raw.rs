//! The policy file as written: every key optional, unknown keys refused.

use serde::Deserialize;
use toml::Spanned;

/// A glob or pattern with where it was written.
pub(super) type Text = Spanned<String>;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub tools: Option<RawTools>,
    pub commands: Option<RawCommands>,
    pub paths: Option<RawPaths>,
    pub network: Option<RawNetwork>,
    pub budgets: Option<RawBudgets>,
    pub contract: Option<RawContract>,
    pub setup: Option<RawSetup>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawSetupMode {
    Deny,
    Registries,
    Full,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "\"deny\", \"registries\", \"full\" or a list of hosts"
)]
pub(super) enum RawSetupNetwork {
    Mode(RawSetupMode),
    Hosts(Vec<String>),
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSetup {
    pub script: Option<String>,
    pub env: Option<Vec<Text>>,
    pub network: Option<Spanned<RawSetupNetwork>>,
    pub timeout_secs: Option<u64>,
    pub needs: Option<Vec<Text>>,
    pub inputs: Option<Vec<Text>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTools {
    pub allow: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDenyRule {
    pub pattern: Text,
    pub reason: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCommands {
    pub builtin_rules: Option<bool>,
    pub deny: Option<Vec<RawDenyRule>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPaths {
    pub deny: Option<Vec<Text>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawNetworkMode {
    Deny,
    AllowList,
    Full,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub mode: Option<RawNetworkMode>,
    pub allow: Option<Vec<Text>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudgets {
    pub max_steps: Option<u32>,
    pub max_tokens: Option<u64>,
    pub max_cost_usd: Option<f64>,
    pub max_wall_time_secs: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContract {
    pub enabled: Option<bool>,
    pub feedback_rounds: Option<u32>,
    pub test_globs: Option<Vec<Text>>,
    pub allow_test_changes: Option<bool>,
    pub ci_globs: Option<Vec<Text>>,
    pub allow_ci_changes: Option<bool>,
    pub lockfile_globs: Option<Vec<Text>>,
    pub allow_lockfile_changes: Option<bool>,
    pub forbid_skip_markers: Option<bool>,
    pub forbid_deleted_tests: Option<bool>,
    pub max_files: Option<usize>,
    pub max_lines: Option<usize>,
    pub generated_globs: Option<Vec<Text>>,
    pub max_file_bytes: Option<u64>,
    pub allow_binary: Option<bool>,
    pub required_checks: Option<Vec<String>>,
    pub secrets: Option<RawSecrets>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecrets {
    pub enabled: Option<bool>,
    pub entropy: Option<bool>,
    pub entropy_min_length: Option<usize>,
    pub entropy_threshold: Option<f64>,
    pub entropy_ignore: Option<Vec<Text>>,
}

/// `over`'s value where it has one, else `base`'s.
macro_rules! layered {
    ($ty:ident: $base:expr, $over:expr, $($field:ident),+) => {{
        let (base, over) = ($base, $over);
        $ty { $($field: over.$field.or(base.$field)),+ }
    }};
}

/// Sections merge key by key; a table present in both merges recursively.
fn merge_section<T>(base: Option<T>, over: Option<T>, merge: fn(T, T) -> T) -> Option<T> {
    match (base, over) {
        (Some(b), Some(o)) => Some(merge(b, o)),
        (b, o) => o.or(b),
    }
}

impl RawPolicy {
    /// `self` overridden key by key by `over` (lists are replaced, not joined).
    pub(super) fn layered(self, over: Self) -> Self {
        Self {
            tools: merge_section(
                self.tools,
                over.tools,
                |b, o| layered!(RawTools: b, o, allow),
            ),
            commands: merge_section(
                self.commands,
                over.commands,
                |b, o| layered!(RawCommands: b, o, builtin_rules, deny),
            ),
            paths: merge_section(
                self.paths,
                over.paths,
                |b, o| layered!(RawPaths: b, o, deny),
            ),
            network: merge_section(
                self.network,
                over.network,
                |b, o| layered!(RawNetwork: b, o, mode, allow),
            ),
            budgets: merge_section(
                self.budgets,
                over.budgets,
                |b, o| layered!(RawBudgets: b, o, max_steps, max_tokens, max_cost_usd, max_wall_time_secs),
            ),
            contract: merge_section(self.contract, over.contract, RawContract::layered),
            setup: merge_section(
                self.setup,
                over.setup,
                |b, o| layered!(RawSetup: b, o, script, env, network, timeout_secs, needs, inputs),
            ),
        }
    }
}

impl RawContract {
    fn layered(base: Self, over: Self) -> Self {
        let secrets = merge_section(base.secrets.clone(), over.secrets.clone(), |b, o| {
            RawSecrets::layered(b, o)
        });
        let mut merged = layered!(
            RawContract: base,
            over,
            enabled,
            feedback_rounds,
            test_globs,
            allow_test_changes,
            ci_globs,
            allow_ci_changes,
            lockfile_globs,
            allow_lockfile_changes,
            forbid_skip_markers,
            forbid_deleted_tests,
            max_files,
            max_lines,
            generated_globs,
            max_file_bytes,
            allow_binary,
            required_checks,
            secrets
        );
        merged.secrets = secrets;
        merged
    }
}

impl RawSecrets {
    fn layered(base: Self, over: Self) -> Self {
        layered!(
            RawSecrets: base,
            over,
            enabled,
            entropy,
            entropy_min_length,
            entropy_threshold,
            entropy_ignore
        )
    }
}
