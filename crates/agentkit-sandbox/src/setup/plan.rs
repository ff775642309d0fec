//! Deciding a repository's setup: the operator's script, else the
//! repository's declaration, else detection — read host-side from the
//! commit the work starts from (never from the sandbox, where the agent
//! could change it).
//!
//! | where | source | runs when |
//! | --- | --- | --- |
//! | [`SetupOptions::script`] (`--setup`, `sandbox.setup_script`) | operator | always |
//! | `script` of `[setup]` in the operator's policy file | operator | always |
//! | `script` of `[setup]` in `.agentkit/policy.toml` | repository | unless the operator forbids repository setups |
//! | `.agentkit/setup.sh` | repository | unless the operator forbids repository setups |
//! | [`detect`](agentkit_core::environment::detect) | detection | only with [`SetupOptions::auto`] |
//!
//! The rest of `[setup]` applies whatever the script's source: the
//! variables the script may use (values only from
//! [`SetupOptions::env`]: a repository names what it wants, the operator
//! decides what exists), the script's network (default: the package
//! registries), its timeout, the toolchains needed (default: detection's),
//! and the inputs that key warm starts (default: the manifests and
//! lockfiles at the root, and `.agentkit/setup.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agentkit_core::environment::{
    Detected, EnvironmentSpec, SetupInput, SetupSource, detect, lockfile_names, registries,
};
use agentkit_core::policy::file::{Policy, PolicyLayer, REPO_POLICY_PATH, SetupPolicy};
use agentkit_core::sandbox::{SandboxError, SandboxSpec};
use sha2::{Digest, Sha256};

use crate::local::clone::{DEFAULT_CLONE_TIMEOUT, file_at, root_names};

/// Where a repository keeps its setup script.
pub const REPO_SETUP_SCRIPT: &str = ".agentkit/setup.sh";

/// The operator's say over setups. Library default: repository setups
/// allowed, detection shown but not applied, caches under
/// [`default_cache_root`](super::default_cache_root).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SetupOptions {
    /// The operator's own script; it wins over the repository's.
    pub script: Option<String>,
    /// Whether a repository's `.agentkit/setup.sh` or `[setup] script` may run.
    pub allow_repo: bool,
    /// Whether a detected setup runs when nothing is declared.
    pub auto: bool,
    /// Values of the variables a setup may ask for by name.
    pub env: BTreeMap<String, String>,
    /// Where per-repository caches live (`None`: no shared caches).
    pub cache_root: Option<PathBuf>,
}

impl Default for SetupOptions {
    fn default() -> Self {
        Self {
            script: None,
            allow_repo: true,
            auto: false,
            env: BTreeMap::new(),
            cache_root: Some(super::default_cache_root()),
        }
    }
}

impl SetupOptions {
    /// Forbids repository setups (`false`) or allows them.
    pub fn allow_repo(mut self, allow: bool) -> Self {
        self.allow_repo = allow;
        self
    }

    /// Applies detected setups (`true`) or only shows them.
    pub fn auto(mut self, auto: bool) -> Self {
        self.auto = auto;
        self
    }

    /// Sets the operator's script.
    pub fn script(mut self, script: impl Into<String>) -> Self {
        self.script = Some(script.into());
        self
    }

    /// Offers `value` for the variable `name`.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Keeps per-repository caches under `root` (`None`: none).
    pub fn cache_root(mut self, root: Option<PathBuf>) -> Self {
        self.cache_root = root;
        self
    }
}

/// The decided setup of one repository at one commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupPlan {
    /// The script that runs (`None`: no setup).
    pub script: Option<String>,
    /// Its time limit, when the table set one.
    pub timeout: Option<Duration>,
    /// Everything else the spec needs.
    pub environment: EnvironmentSpec,
    /// What detection proposed, when nothing was declared.
    pub proposed: Option<Detected>,
    /// Things the operator should know (a forbidden repository setup, a
    /// variable asked for that nobody provides).
    pub warnings: Vec<String>,
}

impl SetupPlan {
    /// Puts the plan into `spec`.
    pub fn apply(&self, spec: &mut SandboxSpec) {
        spec.setup_script = self.script.clone();
        if let Some(timeout) = self.timeout {
            spec.setup_timeout = timeout;
        }
        spec.environment = self.environment.clone();
    }
}

/// Decides the setup of `repo` (a local repository) at `rev` (`None`:
/// `HEAD`) from `table` (the effective `[setup]`, if any) and the
/// operator's `options`. The script, first found wins: the operator's
/// ([`SetupOptions::script`], or `script` in the operator's `[setup]`),
/// the repository's `[setup] script`, `.agentkit/setup.sh` (those two
/// unless [`SetupOptions::allow_repo`] is off), detection (run only with
/// [`SetupOptions::auto`]). The rest of `[setup]` applies whatever the
/// script's source; variable values come only from [`SetupOptions::env`].
pub async fn plan(
    repo: &Path,
    rev: Option<&str>,
    table: Option<&SetupPolicy>,
    options: &SetupOptions,
) -> Result<SetupPlan, SandboxError> {
    let rev = rev.unwrap_or("HEAD");
    let limit = DEFAULT_CLONE_TIMEOUT;
    let names = root_names(repo, rev, limit).await?;
    let detected = detect(&names);
    let empty = SetupPolicy::default();
    let table = table.unwrap_or(&empty);
    let mut out = SetupPlan::default();
    let from_repo = table
        .script_from
        .as_deref()
        .is_some_and(|f| f.starts_with(REPO_POLICY_PATH));
    // The root listing says whether `.agentkit/` exists: no git process for
    // the script when it does not (most repositories).
    let has_dir = names.iter().any(|n| n == ".agentkit");
    let script_file = if has_dir {
        file_at(repo, rev, REPO_SETUP_SCRIPT, limit).await?
    } else {
        None
    };
    let repo_script = match script_file {
        Some(bytes) => Some(String::from_utf8(bytes).map_err(|_| SandboxError::Setup {
            reason: format!("`{REPO_SETUP_SCRIPT}` at `{rev}` is not UTF-8 text"),
        })?),
        None => None,
    };
    // Read once: hashed below when it is the setup's input.
    let script_digest = repo_script
        .as_deref()
        .map(|s| hex(&Sha256::digest(s.as_bytes())));
    let forbidden = |what: &str| {
        format!(
            "the repository declares a setup ({what}) but the operator forbids repository setups; it does not run"
        )
    };
    let (script, source) = if let Some(script) = &options.script {
        (Some(script.clone()), SetupSource::Operator)
    } else if let Some(script) = table.script.as_ref().filter(|_| !from_repo) {
        (Some(script.clone()), SetupSource::Operator)
    } else if let Some(script) = table.script.as_ref() {
        if options.allow_repo {
            (Some(script.clone()), SetupSource::RepoPolicy)
        } else {
            out.warnings.push(forbidden("[setup] script"));
            (None, SetupSource::RepoPolicy)
        }
    } else if let Some(script) = repo_script {
        if options.allow_repo {
            (Some(script), SetupSource::RepoScript)
        } else {
            out.warnings.push(forbidden(REPO_SETUP_SCRIPT));
            (None, SetupSource::RepoScript)
        }
    } else if let Some(found) = &detected {
        out.proposed = Some(found.clone());
        (
            options.auto.then(|| found.script.clone()),
            SetupSource::Detected,
        )
    } else {
        (None, SetupSource::Operator)
    };
    out.script = script;
    out.timeout = table.timeout;
    let env = &mut out.environment;
    env.source = source;
    env.needs = if table.needs.is_empty() {
        detected
            .as_ref()
            .map(|d| d.needs.clone())
            .unwrap_or_default()
    } else {
        table.needs.clone()
    };
    if out.script.is_none() {
        return Ok(out);
    }
    for name in &table.env {
        match options.env.get(name) {
            Some(value) => {
                env.setup_env.insert(name.clone(), value.clone());
            }
            None => out.warnings.push(format!(
                "the setup asks for `{name}`, which the operator does not provide; it runs without it"
            )),
        }
    }
    env.setup_network = Some(table.network.clone().unwrap_or_else(registries));
    let mut paths: Vec<String> = match &table.inputs {
        Some(paths) => paths.clone(),
        None => names
            .iter()
            .filter(|n| lockfile_names(n))
            .cloned()
            .collect(),
    };
    if source == SetupSource::RepoScript {
        paths.push(REPO_SETUP_SCRIPT.to_string());
    }
    paths.sort();
    paths.dedup();
    for path in paths {
        let known = (path == REPO_SETUP_SCRIPT)
            .then(|| script_digest.clone())
            .flatten();
        let sha256 = match known {
            Some(digest) => digest,
            None => match file_at(repo, rev, &path, limit).await? {
                Some(bytes) => hex(&Sha256::digest(&bytes)),
                None => "absent".to_string(),
            },
        };
        env.inputs.push(SetupInput { path, sha256 });
    }
    env.cache_dir = options
        .cache_root
        .as_ref()
        .map(|root| super::repo_cache_dir(root, &repo.display().to_string()));
    Ok(out)
}

/// The `[setup]` table of the repository's own `.agentkit/policy.toml` at
/// `rev` (`None`: no file, or no table), for callers that do not layer
/// policy files themselves. A malformed file is an error naming file, line
/// and key.
pub async fn repo_table(
    repo: &Path,
    rev: Option<&str>,
) -> Result<Option<SetupPolicy>, SandboxError> {
    let rev = rev.unwrap_or("HEAD");
    let Some(bytes) = file_at(repo, rev, REPO_POLICY_PATH, DEFAULT_CLONE_TIMEOUT).await? else {
        return Ok(None);
    };
    let source = format!("{REPO_POLICY_PATH} (at {rev})");
    let invalid = |message: String| SandboxError::Setup {
        reason: format!("invalid repository policy: {message}"),
    };
    let text = String::from_utf8(bytes).map_err(|_| invalid(format!("{source} is not UTF-8")))?;
    let layer = PolicyLayer::parse(&source, &text).map_err(|e| invalid(e.to_string()))?;
    let policy = Policy::from_layers([layer]).map_err(|e| invalid(e.to_string()))?;
    Ok(policy.setup)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
