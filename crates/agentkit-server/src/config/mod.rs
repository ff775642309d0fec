//! agentd's configuration: one TOML file plus `AGENTD_*` environment
//! variables, which override the file.
//!
//! Every key is optional; an empty file (or none at all) gives the embedded
//! defaults: listen on `127.0.0.1:7878`, an SQLite queue under `.agentkit/`,
//! the `local` sandbox, the local forge, and the scripted demo model when no
//! model is configured. Unknown keys are errors (a typo must not silently
//! fall back to a default), and every error names the file, the line and the
//! key. The keys, with their environment variables:
//!
//! ```toml
//! listen = "127.0.0.1:7878"     # AGENTD_LISTEN. Anything but loopback needs `token`.
//! token = "…"                   # AGENTD_TOKEN. Bearer token for the API and the web view.
//! data_dir = ".agentkit"        # AGENTD_DATA_DIR. The SQLite file, demo repository, forge records.
//!
//! [store]
//! kind = "sqlite"               # sqlite | postgres | memory.  AGENTD_STORE=sqlite:PATH | postgres://… | memory
//! path = ".agentkit/agentd.sqlite3"   # sqlite only (default: <data_dir>/agentd.sqlite3)
//! url = "postgres://…"          # postgres only
//!
//! [model]
//! spec = "openai:gpt-4.1"       # AGENTD_MODEL. Any `agentkit_llm::from_spec` spec; none: the demo model.
//! fallbacks = ["anthropic:claude-sonnet-4-5"]  # tried in order when the first fails
//!
//! [sandbox]
//! backend = "auto"              # AGENTD_SANDBOX. auto (strongest available) | local | bwrap | docker
//! network = "deny"              # deny | allow-list | full
//! allow = ["crates.io", "*.crates.io"]   # the allow-list (network = "allow-list")
//! setup_script = "cargo fetch"  # run once in every fresh sandbox (wins over the repository's)
//! repo_setup = true             # the repository's .agentkit/setup.sh / [setup] may run
//! auto_setup = false            # run the detected setup when a repository declares none
//! setup_env = ["NPM_TOKEN"]     # host variables a setup may ask for by name
//! cache_dir = "/var/cache/agentkit/repos"  # per-repository dependency caches
//! env_allow = ["PATH", "HOME"]  # host variables passed into commands (default: the core policy's list)
//!
//! [forge]
//! kind = "local"                # local | github (github: only [forge.github] repositories)
//! repos = ["/srv/git/app"]      # local repositories tasks may name; empty: any local git repository
//! state_dir = "…"               # pull-request records (default: <repo git dir>/agentkit-forge)
//!
//! [forge.github]                # tasks on <git_base>/<owner>/<repo> publish to GitHub (feature `github`)
//! app_id = "123456"             # a GitHub App: app_id + private_key_path (+ installation_id)
//! private_key_path = "/etc/agentkit/github-app.pem"
//! installation_id = 4242        # optional: looked up per repository
//! # token = "env:GITHUB_TOKEN"  # or a personal access token instead of the App
//! repos = ["acme/app"]          # repositories the agent may work on
//! api_base = "https://api.github.com"
//! git_base = "https://github.com"
//! draft = false
//! labels = ["agent"]
//! scratch_dir = "…"             # host-side push repositories (default: <data_dir>/github)
//!
//! [triggers.github]             # POST /triggers/github
//! webhook_secret = "env:GITHUB_WEBHOOK_SECRET"   # secrets: "env:NAME" or "file:PATH", never inline
//! label = "agent"               # issues labelled so are picked up
//! bot_login = "agentkit"        # `@agentkit` in a comment is a mention
//! associations = ["OWNER", "MEMBER", "COLLABORATOR"]  # whose comments count
//! repos = ["acme/app"]          # accepted repositories (default: forge.github.repos)
//! progress_comment = true       # one comment on the issue, edited as the task moves
//!
//! [triggers.slack]              # POST /triggers/slack/commands, /triggers/slack/events
//! signing_secret = "env:SLACK_SIGNING_SECRET"
//! bot_token = "env:SLACK_BOT_TOKEN"   # replies in the thread with the pull-request link
//! repo = "https://github.com/acme/app.git"   # default: the first configured repository
//! users = ["U024BE7LH"]         # who may ask (default: anyone in the workspace)
//! channels = ["C0123ABCD"]      # where (default: any channel)
//!
//! [triggers.linear]             # POST /triggers/linear
//! webhook_secret = "env:LINEAR_WEBHOOK_SECRET"
//! api_key = "env:LINEAR_API_KEY"      # comments the pull-request link back
//! agent_user_id = "…"           # issues assigned to this user, and/or
//! label = "agent"               # issues with this label
//!
//! [[triggers.cron]]
//! name = "deps"
//! schedule = "0 3 * * 1-5"      # 5 fields, in `timezone`
//! timezone = "Europe/Paris"
//! title = "Update dependencies"
//! body = "Run cargo update; fix what breaks."
//!
//! [[triggers.webhooks]]         # POST /triggers/webhooks/<name>, HMAC-SHA256 of the body
//! name = "sentry"
//! secret = "env:SENTRY_HOOK_SECRET"
//! signature_header = "X-Signature-256"
//! signature_prefix = "sha256="
//! id_pointer = "/issue/id"
//! title = "Fix {{/issue/title}}"
//! body = "{{/issue/culprit}}"
//!
//! [checks]                      # verification: name = shell command, run in the sandbox
//! tests = "cargo test --offline"
//!
//! [workers]
//! concurrency = 4               # AGENTD_CONCURRENCY. Sessions run at once.
//! lease_ttl_secs = 60
//! retry_delay_secs = 30
//! shutdown_grace_secs = 30
//! max_attempts = 3              # leases a task gets in total
//!
//! [budgets]                     # per run
//! max_steps = 50                # AGENTD_MAX_STEPS
//! max_tokens = 2000000
//! max_cost_usd = 5.0            # AGENTD_MAX_COST_USD
//! max_wall_secs = 1800
//! ```

mod env;
mod file;
mod integrations;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use env::{ENV_VARS, apply_env};
pub use integrations::{
    CronConfig, GitHubForgeConfig, GitHubTriggerConfig, LinearConfig, SecretSource, SlackConfig,
    TriggersConfig, WebhookConfig,
};

/// The whole configuration. See the [module documentation](self) for every key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// The bearer token (required unless `listen` is a loopback address).
    pub token: Option<String>,
    /// Where agentd keeps its files.
    pub data_dir: PathBuf,
    /// The task store.
    pub store: StoreConfig,
    /// The model.
    pub model: ModelConfig,
    /// The sandbox backend and policy.
    pub sandbox: SandboxConfig,
    /// The forge.
    pub forge: ForgeConfig,
    /// Verification checks: name → shell command.
    pub checks: BTreeMap<String, String>,
    /// The worker pool.
    pub workers: WorkersConfig,
    /// Per-run budgets.
    pub budgets: BudgetsConfig,
    /// Webhooks and schedules that enqueue tasks.
    pub triggers: TriggersConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            token: None,
            data_dir: PathBuf::from(".agentkit"),
            store: StoreConfig::default(),
            model: ModelConfig::default(),
            sandbox: SandboxConfig::default(),
            forge: ForgeConfig::default(),
            checks: BTreeMap::new(),
            workers: WorkersConfig::default(),
            budgets: BudgetsConfig::default(),
            triggers: TriggersConfig::default(),
        }
    }
}

/// Which task store backs the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// One SQLite file (the default).
    #[default]
    Sqlite,
    /// A PostgreSQL database (`url`).
    Postgres,
    /// In memory: lost at exit (tests, trying things out).
    Memory,
}

/// `[store]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The backend.
    pub kind: StoreKind,
    /// The SQLite file (default `<data_dir>/agentd.sqlite3`).
    pub path: Option<PathBuf>,
    /// The PostgreSQL URL.
    pub url: Option<String>,
}

/// `[model]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// The model spec (`None`: the scripted demo model).
    pub spec: Option<String>,
    /// Specs tried in order when the main model fails.
    pub fallbacks: Vec<String>,
}

/// The sandbox's network, as written in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkMode {
    /// No network.
    #[default]
    Deny,
    /// Only `allow`.
    AllowList,
    /// Unrestricted.
    Full,
}

/// `[sandbox]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// `auto` (the strongest this host supports), `local`, `bwrap` or `docker`.
    pub backend: String,
    /// The network mode.
    pub network: NetworkMode,
    /// The allow-list for `network = "allow-list"`.
    pub allow: Vec<String>,
    /// Run once in every fresh sandbox.
    pub setup_script: Option<String>,
    /// Host variables passed into commands (`None`: the core policy's list).
    pub env_allow: Option<Vec<String>>,
    /// Whether a repository's own setup (`.agentkit/setup.sh`, `[setup]
    /// script` in `.agentkit/policy.toml`) may run. Default: true.
    pub repo_setup: bool,
    /// Whether a detected setup (`cargo fetch`, a venv, `npm ci`, `go mod
    /// download`) runs when a repository declares none. Default: false
    /// (it is only shown in the transcript).
    pub auto_setup: bool,
    /// Host variables a setup may ask for by name (`[setup] env`).
    pub setup_env: Vec<String>,
    /// Where per-repository dependency caches live (default:
    /// `~/.cache/agentkit/repo-caches`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            backend: "auto".into(),
            network: NetworkMode::Deny,
            allow: Vec::new(),
            setup_script: None,
            env_allow: None,
            repo_setup: true,
            auto_setup: false,
            setup_env: Vec::new(),
            cache_dir: None,
        }
    }
}

/// `[forge]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForgeConfig {
    /// `local` (local repositories, and GitHub ones when `[forge.github]`
    /// is set) or `github` (GitHub repositories only).
    pub kind: String,
    /// Repositories tasks may name (empty: any local git repository).
    pub repos: Vec<PathBuf>,
    /// Where pull-request records go (default: inside each repository's git directory).
    pub state_dir: Option<PathBuf>,
    /// The GitHub forge.
    pub github: Option<GitHubForgeConfig>,
}

impl Default for ForgeConfig {
    fn default() -> Self {
        Self {
            kind: "local".into(),
            repos: Vec::new(),
            state_dir: None,
            github: None,
        }
    }
}

/// `[workers]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersConfig {
    /// Sessions run at once.
    pub concurrency: usize,
    /// Lease TTL in seconds.
    pub lease_ttl_secs: u64,
    /// Seconds before a failed attempt is retried.
    pub retry_delay_secs: u64,
    /// Seconds running sessions get to checkpoint at shutdown.
    pub shutdown_grace_secs: u64,
    /// Leases a task gets in total.
    pub max_attempts: u32,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease_ttl_secs: 60,
            retry_delay_secs: 30,
            shutdown_grace_secs: 30,
            max_attempts: 3,
        }
    }
}

/// `[budgets]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetsConfig {
    /// Model calls per run.
    pub max_steps: u32,
    /// Tokens per run.
    pub max_tokens: Option<u64>,
    /// Dollars per run.
    pub max_cost_usd: Option<f64>,
    /// Seconds per run.
    pub max_wall_secs: Option<u64>,
}

impl Default for BudgetsConfig {
    fn default() -> Self {
        Self {
            max_steps: 50,
            max_tokens: None,
            max_cost_usd: None,
            max_wall_secs: Some(30 * 60),
        }
    }
}

/// A configuration could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong key or value.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong (names the key).
        message: String,
    },
    /// An environment variable has a bad value.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The values are each valid but do not go together.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads `path` (when given), then applies the `AGENTD_*` variables of the
    /// process environment, then checks the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &vars)
    }

    /// Like [`load`](Self::load) with the environment given as pairs (tests).
    pub fn load_with_env(
        path: Option<&Path>,
        vars: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Self::parse(path, &text)?
            }
            None => Self::default(),
        };
        apply_env(&mut config, vars)?;
        config.check()?;
        Ok(config)
    }

    /// Parses TOML `text` read from `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        file::parse(path, text)
    }

    /// Checks what each field alone cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.workers.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "workers.concurrency is 0: no task would ever run; set it to 1 or more".into(),
            ));
        }
        if let Some(token) = &self.token
            && token.trim().len() < 16
        {
            return Err(ConfigError::Invalid(
                "token is shorter than 16 characters: use a long random value \
                 (e.g. `openssl rand -hex 32`)"
                    .into(),
            ));
        }
        self.check_integrations().map_err(ConfigError::Invalid)?;
        match self.store.kind {
            StoreKind::Postgres if self.store.url.is_none() => Err(ConfigError::Invalid(
                "store.kind is \"postgres\" but store.url is missing".into(),
            )),
            _ if self.sandbox.network != NetworkMode::AllowList
                && !self.sandbox.allow.is_empty() =>
            {
                Err(ConfigError::Invalid(
                    "sandbox.allow is set but sandbox.network is not \"allow-list\"".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    fn check_integrations(&self) -> Result<(), String> {
        match (self.forge.kind.as_str(), &self.forge.github) {
            ("local", _) | ("github", Some(_)) => {}
            ("github", None) => {
                return Err("forge.kind is \"github\" but [forge.github] is missing".into());
            }
            (other, _) => {
                return Err(format!(
                    "forge.kind `{other}` is not a forge: use \"local\" or \"github\""
                ));
            }
        }
        if let Some(github) = &self.forge.github {
            github.check()?;
        }
        let triggers = &self.triggers;
        if triggers.github.is_some() && self.forge.github.is_none() {
            return Err(
                "[triggers.github] needs [forge.github]: its tasks are GitHub issues and \
                 publish pull requests on GitHub"
                    .into(),
            );
        }
        if let (Some(hook), Some(forge)) = (&triggers.github, &self.forge.github) {
            for (i, repo) in hook.repos.iter().enumerate() {
                if !forge.allows(repo) {
                    return Err(format!(
                        "triggers.github.repos[{i}]: `{repo}` is not in forge.github.repos, \
                         so its tasks could not publish"
                    ));
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, hook) in triggers.webhooks.iter().enumerate() {
            let valid = !hook.name.is_empty()
                && hook
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
            if !valid {
                return Err(format!(
                    "triggers.webhooks[{i}].name `{}`: use letters, digits, `-` and `_` \
                     (it is a URL path segment)",
                    hook.name
                ));
            }
            if !names.insert(hook.name.as_str()) {
                return Err(format!(
                    "triggers.webhooks[{i}].name `{}` is used twice",
                    hook.name
                ));
            }
        }
        let schedules = triggers
            .cron
            .iter()
            .map(|c| {
                crate::triggers::cron::Schedule::new(
                    &c.name,
                    &c.schedule,
                    &c.timezone,
                    &c.title,
                    &c.body,
                    agentkit_core::task::RepoRef::new("check"),
                )
            })
            .collect();
        crate::triggers::cron::Scheduler::new(schedules)
            .map(|_| ())
            .map_err(|err| format!("triggers.cron: {err}"))
    }

    /// The repository of tickets that name none: `forge.github.repos[0]`'s
    /// URL, else `forge.repos[0]`.
    pub fn first_repo(&self) -> Option<String> {
        if let Some(github) = &self.forge.github
            && let Some(repo) = github.repos.first()
        {
            return Some(github.url_of(repo));
        }
        self.forge.repos.first().map(|p| p.display().to_string())
    }

    /// The SQLite file: `store.path`, or `<data_dir>/agentd.sqlite3`.
    pub fn sqlite_path(&self) -> PathBuf {
        self.store
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("agentd.sqlite3"))
    }
}

#[cfg(test)]
mod tests;
