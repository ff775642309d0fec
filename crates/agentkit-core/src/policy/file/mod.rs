//! One policy file: tool allow-list, command rules, path rules, network
//! allow-list, completion contract and budgets, in TOML.
//!
//! A policy comes in layers, later ones winning key by key (lists are
//! replaced, not joined): the built-in defaults, then the repository's
//! `.agentkit/policy.toml` (read host-side from the commit the work starts
//! from — never from the sandbox, where the agent could edit it), then the
//! operator's file. **The operator wins.** Every key is optional:
//!
//! ```toml
//! [tools]
//! allow = ["read_file", "list_files", "grep", "edit_file", "write_file", "shell", "finish"]
//!
//! [commands]
//! builtin_rules = true          # keep the built-in deny rules (git push, curl | sh, sudo, …)
//! deny = [{ pattern = '\bnpm\s+publish\b', reason = "publishing packages is not allowed" }]
//!
//! [paths]
//! deny = ["secrets/**"]         # write_file/edit_file refused there (besides .git/**)
//!
//! [network]
//! mode = "allow_list"           # "deny" | "allow_list" | "full"
//! allow = ["pypi.org", "files.pythonhosted.org"]
//!
//! [budgets]
//! max_steps = 50
//! max_tokens = 2000000
//! max_cost_usd = 5.0
//! max_wall_time_secs = 1800
//!
//! [contract]
//! enabled = true
//! feedback_rounds = 1
//! allow_test_changes = false
//! test_globs = ["tests/**", "**/test_*.py"]   # replaces the defaults
//! max_files = 50                # 0: no limit
//! max_lines = 2000              # 0: no limit
//! required_checks = ["tests"]
//!
//! [contract.secrets]
//! entropy_threshold = 4.0
//!
//! [setup]                       # see `SetupPolicy`: the repository's environment
//! script = "cargo fetch --locked"
//! env = ["CARGO_REGISTRIES_INTERNAL_TOKEN"]
//! network = "registries"        # "deny" | "registries" | "full" | ["host", ...]
//! timeout_secs = 900
//! needs = ["cargo"]
//! ```
//!
//! Errors name the file, the line and the key
//! (`ops/policy.toml:12:1: contract.max_filez: unknown field …`).
//!
//! ```
//! use agentkit_core::policy::file::{Policy, PolicyLayer};
//!
//! let repo = PolicyLayer::parse(".agentkit/policy.toml", "[contract]\nallow_test_changes = true\nmax_files = 10\n").unwrap();
//! let operator = PolicyLayer::parse("operator.toml", "[contract]\nmax_files = 20\n").unwrap();
//! let policy = Policy::from_layers([repo, operator]).unwrap();
//! let contract = policy.contract.unwrap();
//! assert_eq!(contract.max_files, Some(20));
//! assert!(contract.tests.allowed);
//!
//! let err = PolicyLayer::parse("operator.toml", "[contract]\nmax_files = \"ten\"\n").unwrap_err();
//! assert_eq!((err.line, err.key.as_str()), (2, "contract.max_files"));
//! ```

mod raw;
mod setup;

pub use setup::SetupPolicy;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use raw::{RawNetworkMode, RawPolicy, Text};

use super::contract::{CompletionContract, GlobList};
use super::{CommandPolicy, PathPolicy, ToolAllowList};
use crate::engine::Budgets;
use crate::hook::Hook;
use crate::sandbox::NetworkPolicy;

/// Where the repository's policy file lives, relative to its root.
pub const REPO_POLICY_PATH: &str = ".agentkit/policy.toml";

/// A policy file is wrong: which file, where, which key, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {key}: {message}")]
pub struct PolicyFileError {
    /// The file, as named by whoever loaded it.
    pub file: String,
    /// 1-based line (0 when the file could not be read at all).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The dotted key (`contract.max_files`, `paths.deny[2]`).
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// One parsed and checked policy file.
#[derive(Debug, Clone)]
pub struct PolicyLayer {
    source: String,
    raw: RawPolicy,
}

impl PolicyLayer {
    /// Parses `text`, naming it `source` in errors. Every glob, pattern and
    /// host is checked here, so a bad one is reported against its own file.
    pub fn parse(source: &str, text: &str) -> Result<Self, PolicyFileError> {
        let error = |key: String, span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = span.map_or((1, 1), |s| line_column(text, s.start));
            PolicyFileError {
                file: source.to_string(),
                line,
                column,
                key,
                message,
            }
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| error(String::new(), e.span(), e.message().to_string()))?;
        let raw: RawPolicy = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // A `Spanned` value shows up as a private field in the path.
            let key = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "");
            let inner = e.into_inner();
            error(key, inner.span(), inner.message().to_string())
        })?;
        let layer = Self {
            source: source.to_string(),
            raw,
        };
        layer.validate(text)?;
        Ok(layer)
    }

    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Self, PolicyFileError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyFileError {
            file: source.clone(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the policy file: {e}"),
        })?;
        Self::parse(&source, &text)
    }

    /// The name given when it was parsed.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn validate(&self, text: &str) -> Result<(), PolicyFileError> {
        let fail = |key: String, spanned: &Text, message: String| {
            let (line, column) = line_column(text, spanned.span().start);
            Err(PolicyFileError {
                file: self.source.clone(),
                line,
                column,
                key,
                message,
            })
        };
        let globs = |key: &str, list: &Option<Vec<Text>>| -> Result<(), PolicyFileError> {
            for (i, glob) in list.iter().flatten().enumerate() {
                if let Err(e) = GlobList::new([glob.get_ref()]) {
                    return fail(
                        format!("{key}[{i}]"),
                        glob,
                        format!("{e}; globs use `*`, `**`, `?`, `[…]` and `{{a,b}}`"),
                    );
                }
            }
            Ok(())
        };
        let r = &self.raw;
        if let Some(commands) = &r.commands {
            for (i, rule) in commands.deny.iter().flatten().enumerate() {
                if let Err(e) = regex::Regex::new(rule.pattern.get_ref()) {
                    return fail(
                        format!("commands.deny[{i}].pattern"),
                        &rule.pattern,
                        format!("not a valid regular expression: {e}"),
                    );
                }
            }
        }
        if let Some(paths) = &r.paths {
            globs("paths.deny", &paths.deny)?;
        }
        if let Some(network) = &r.network {
            for (i, host) in network.allow.iter().flatten().enumerate() {
                let h = host.get_ref();
                let bad = h.is_empty()
                    || h.contains("://")
                    || h.contains('/')
                    || h.chars().any(char::is_whitespace);
                if bad {
                    return fail(
                        format!("network.allow[{i}]"),
                        host,
                        format!(
                            "`{h}` is not a host: write `host`, `host:port` or `*.domain`, without a scheme or path"
                        ),
                    );
                }
            }
        }
        if let Some(s) = &r.setup
            && let Err((key, entry, message)) = setup::check(s)
        {
            return fail(key, &entry, message);
        }
        if let Some(c) = &r.contract {
            globs("contract.test_globs", &c.test_globs)?;
            globs("contract.ci_globs", &c.ci_globs)?;
            globs("contract.lockfile_globs", &c.lockfile_globs)?;
            globs("contract.generated_globs", &c.generated_globs)?;
            if let Some(s) = &c.secrets {
                globs("contract.secrets.entropy_ignore", &s.entropy_ignore)?;
            }
        }
        Ok(())
    }
}

/// The effective policy: defaults overridden by each layer in turn.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The tools the model may call (`None`: every tool the agent has).
    pub allowed_tools: Option<Vec<String>>,
    /// Shell command rules.
    pub commands: CommandPolicy,
    /// Paths file-writing tools may not touch.
    pub paths: PathPolicy,
    /// The sandbox's network (`None`: the job's own setting).
    pub network: Option<NetworkPolicy>,
    /// Run limits.
    pub budgets: Budgets,
    /// The completion contract (`None` when `contract.enabled = false`).
    pub contract: Option<CompletionContract>,
    /// The `[setup]` table (`None` when no layer has one).
    pub setup: Option<SetupPolicy>,
    /// The files it was made from, in order.
    pub sources: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_tools: None,
            commands: CommandPolicy::default(),
            paths: PathPolicy::default(),
            network: None,
            budgets: Budgets::default(),
            contract: Some(CompletionContract::default()),
            setup: None,
            sources: Vec::new(),
        }
    }
}

impl Policy {
    /// The defaults overridden by `layers` in order (the last wins).
    pub fn from_layers(
        layers: impl IntoIterator<Item = PolicyLayer>,
    ) -> Result<Self, PolicyFileError> {
        Self::layered_over(Policy::default(), layers)
    }

    /// `base` (e.g. a job's own settings) overridden by `layers` in order:
    /// a key no layer sets keeps `base`'s value.
    pub fn layered_over(
        base: Policy,
        layers: impl IntoIterator<Item = PolicyLayer>,
    ) -> Result<Self, PolicyFileError> {
        let mut sources = Vec::new();
        let mut raw = RawPolicy::default();
        let mut script_from = None;
        for layer in layers {
            if layer.raw.setup.as_ref().is_some_and(|s| s.script.is_some()) {
                script_from = Some(layer.source.clone());
            }
            sources.push(layer.source);
            raw = raw.layered(layer.raw);
        }
        let source = sources.last().cloned().unwrap_or_default();
        let invalid = |key: &str, e: super::PolicyError| PolicyFileError {
            file: source.clone(),
            line: 0,
            column: 0,
            key: key.to_string(),
            message: e.to_string(),
        };
        let mut policy = Policy { sources, ..base };
        if let Some(tools) = raw.tools {
            policy.allowed_tools = tools.allow;
        }
        if let Some(commands) = raw.commands {
            let mut rules = match commands.builtin_rules {
                Some(true) => CommandPolicy::default(),
                Some(false) => CommandPolicy::empty(),
                None => policy.commands.clone(),
            };
            for rule in commands.deny.into_iter().flatten() {
                rules = rules
                    .deny(rule.pattern.get_ref(), &rule.reason)
                    .map_err(|e| invalid("commands.deny", e))?;
            }
            policy.commands = rules;
        }
        if let Some(paths) = raw.paths {
            for glob in paths.deny.into_iter().flatten() {
                policy.paths = policy
                    .paths
                    .deny(glob.get_ref())
                    .map_err(|e| invalid("paths.deny", e))?;
            }
        }
        if let Some(network) = raw.network {
            let allow: Vec<String> = network
                .allow
                .into_iter()
                .flatten()
                .map(Text::into_inner)
                .collect();
            policy.network = match network.mode {
                Some(RawNetworkMode::Deny) => Some(NetworkPolicy::Deny),
                Some(RawNetworkMode::Full) => Some(NetworkPolicy::Full),
                Some(RawNetworkMode::AllowList) => Some(NetworkPolicy::AllowList(allow)),
                None if !allow.is_empty() => Some(NetworkPolicy::AllowList(allow)),
                None => None,
            };
        }
        if let Some(b) = raw.budgets {
            let budgets = &mut policy.budgets;
            budgets.max_steps = b.max_steps.unwrap_or(budgets.max_steps);
            budgets.max_tokens = b.max_tokens.or(budgets.max_tokens);
            budgets.max_cost_usd = b.max_cost_usd.or(budgets.max_cost_usd);
            if let Some(secs) = b.max_wall_time_secs {
                budgets.max_wall_time = Some(Duration::from_secs(secs));
            }
        }
        if let Some(s) = raw.setup {
            policy.setup = Some(SetupPolicy::from_raw(s, script_from));
        }
        if let Some(c) = raw.contract {
            policy.contract = if c.enabled == Some(false) {
                None
            } else {
                let start = policy.contract.take().unwrap_or_default();
                Some(contract_of(start, c).map_err(|(key, e)| invalid(key, e))?)
            };
        }
        Ok(policy)
    }

    /// The policy hooks: the tool allow-list (when set), command rules, path rules.
    pub fn hooks(&self) -> Vec<Arc<dyn Hook>> {
        let mut hooks: Vec<Arc<dyn Hook>> = Vec::new();
        if let Some(tools) = &self.allowed_tools {
            hooks.push(Arc::new(ToolAllowList::new(tools.iter().cloned())));
        }
        hooks.push(Arc::new(self.commands.clone()));
        hooks.push(Arc::new(self.paths.clone()));
        hooks
    }
}

fn contract_of(
    mut contract: CompletionContract,
    c: raw::RawContract,
) -> Result<CompletionContract, (&'static str, super::PolicyError)> {
    let globs = |list: Option<Vec<Text>>, key: &'static str, current: &mut GlobList| {
        if let Some(list) = list {
            let patterns: Vec<String> = list.into_iter().map(Text::into_inner).collect();
            *current = GlobList::new(&patterns).map_err(|e| (key, e))?;
        }
        Ok(())
    };
    globs(
        c.test_globs,
        "contract.test_globs",
        &mut contract.tests.globs,
    )?;
    globs(c.ci_globs, "contract.ci_globs", &mut contract.ci.globs)?;
    globs(
        c.lockfile_globs,
        "contract.lockfile_globs",
        &mut contract.lockfiles.globs,
    )?;
    globs(
        c.generated_globs,
        "contract.generated_globs",
        &mut contract.leave_out.generated,
    )?;
    let flag = |value: Option<bool>, current: &mut bool| *current = value.unwrap_or(*current);
    flag(c.allow_test_changes, &mut contract.tests.allowed);
    flag(c.allow_ci_changes, &mut contract.ci.allowed);
    flag(c.allow_lockfile_changes, &mut contract.lockfiles.allowed);
    flag(c.forbid_skip_markers, &mut contract.forbid_skip_markers);
    flag(c.forbid_deleted_tests, &mut contract.forbid_deleted_tests);
    flag(c.allow_binary, &mut contract.leave_out.allow_binary);
    let limit = |value: Option<usize>, current: &mut Option<usize>| {
        if let Some(v) = value {
            *current = (v > 0).then_some(v);
        }
    };
    limit(c.max_files, &mut contract.max_files);
    limit(c.max_lines, &mut contract.max_lines);
    contract.leave_out.max_file_bytes = c
        .max_file_bytes
        .unwrap_or(contract.leave_out.max_file_bytes);
    contract.feedback_rounds = c.feedback_rounds.unwrap_or(contract.feedback_rounds);
    if let Some(checks) = c.required_checks {
        contract.required_checks = checks;
    }
    if let Some(s) = c.secrets {
        let secrets = &mut contract.secrets;
        flag(s.enabled, &mut secrets.enabled);
        flag(s.entropy, &mut secrets.entropy);
        secrets.entropy_min_length = s.entropy_min_length.unwrap_or(secrets.entropy_min_length);
        secrets.entropy_threshold = s.entropy_threshold.unwrap_or(secrets.entropy_threshold);
        globs(
            s.entropy_ignore,
            "contract.secrets.entropy_ignore",
            &mut secrets.entropy_ignore,
        )?;
    }
    Ok(contract)
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
