//! The config of what connects agentd to where teams work: `[forge.github]`
//! (the GitHub forge) and `[triggers.*]` (GitHub, Slack and Linear
//! webhooks, cron schedules, generic signed webhooks).
//!
//! Secrets are never written into the file: every secret key takes a
//! [`SecretSource`], `"env:NAME"` (an environment variable) or
//! `"file:PATH"` (a file, e.g. a mounted secret; one trailing newline is
//! dropped), read when agentd starts. Their `Debug` shows where the value
//! comes from, never the value.

use std::path::PathBuf;

use serde::Deserialize;

/// Where a secret is read from: `env:NAME` or `file:PATH`.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file.
    File(PathBuf),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl std::str::FromStr for SecretSource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("env:") {
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "`env:{name}` does not name an environment variable (letters, digits, `_`)"
                ));
            }
            return Ok(Self::Env(name.to_string()));
        }
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err("`file:` needs a path, e.g. `file:/run/secrets/github`".into());
            }
            return Ok(Self::File(PathBuf::from(path)));
        }
        Err(
            "secrets are not written into the config file: write `env:NAME` (an environment \
             variable) or `file:PATH` (a file holding the secret)"
                .into(),
        )
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl SecretSource {
    /// The secret's value, read now. `key` (e.g. `triggers.github.webhook_secret`)
    /// names the config key in errors; `env` looks variables up.
    pub fn read(&self, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let value = match self {
            Self::Env(name) => env(name).ok_or_else(|| {
                format!("{key}: the environment variable {name} is not set (or is empty)")
            })?,
            Self::File(path) => std::fs::read_to_string(path).map_err(|err| {
                format!(
                    "{key}: cannot read the secret file `{}`: {err}",
                    path.display()
                )
            })?,
        };
        let value = value.strip_suffix('\n').unwrap_or(&value);
        let value = value.strip_suffix('\r').unwrap_or(value);
        if value.trim().is_empty() {
            return Err(format!("{key}: the secret from {self:?} is empty"));
        }
        Ok(value.to_string())
    }
}

/// `[forge.github]`: publish to GitHub. Either a GitHub App (`app_id` +
/// `private_key_path`, optionally `installation_id`) or `token`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubForgeConfig {
    /// The App's id.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The App's private key (PEM), a file.
    #[serde(default)]
    pub private_key_path: Option<PathBuf>,
    /// The installation (looked up per repository when not given).
    #[serde(default)]
    pub installation_id: Option<u64>,
    /// A personal access token instead of an App.
    #[serde(default)]
    pub token: Option<SecretSource>,
    /// Repositories (`owner/repo`) tasks may work on; at least one.
    pub repos: Vec<String>,
    /// The REST API (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Where git is served.
    #[serde(default = "default_git_base")]
    pub git_base: String,
    /// Open new pull requests as drafts.
    #[serde(default)]
    pub draft: bool,
    /// Labels added to every pull request.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Host-side scratch repositories (default `<data_dir>/github`).
    #[serde(default)]
    pub scratch_dir: Option<PathBuf>,
}

fn default_api_base() -> String {
    "https://api.github.com".into()
}

fn default_git_base() -> String {
    "https://github.com".into()
}

impl GitHubForgeConfig {
    /// `owner/repo` of a repository URL under `git_base`
    /// (`<git_base>/owner/repo` with or without `.git`), if it is one.
    pub fn repository_of(&self, url: &str) -> Option<String> {
        let base = self.git_base.trim_end_matches('/');
        let rest = url.strip_prefix(base)?.strip_prefix('/')?;
        let rest = rest.trim_end_matches('/');
        let rest = rest.strip_suffix(".git").unwrap_or(rest);
        let (owner, repo) = rest.split_once('/')?;
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (valid(owner) && valid(repo)).then(|| format!("{owner}/{repo}"))
    }

    /// The clone URL of `owner/repo`.
    pub fn url_of(&self, repository: &str) -> String {
        format!("{}/{repository}.git", self.git_base.trim_end_matches('/'))
    }

    /// Whether `repository` (`owner/repo`) is one of `repos`.
    pub fn allows(&self, repository: &str) -> bool {
        self.repos
            .iter()
            .any(|r| r.eq_ignore_ascii_case(repository))
    }

    pub(super) fn check(&self) -> Result<(), String> {
        match (&self.app_id, &self.private_key_path, &self.token) {
            (Some(_), Some(_), None) | (None, None, Some(_)) => {}
            (Some(_), None, _) => {
                return Err("forge.github.app_id needs forge.github.private_key_path".into());
            }
            (None, Some(_), _) => {
                return Err("forge.github.private_key_path needs forge.github.app_id".into());
            }
            (Some(_), Some(_), Some(_)) => {
                return Err("forge.github has both an App (app_id) and a token: keep one".into());
            }
            (None, None, None) => {
                return Err(
                    "forge.github needs app_id + private_key_path (a GitHub App) or \
                     token = \"env:NAME\" (a personal access token)"
                        .into(),
                );
            }
        }
        if self.repos.is_empty() {
            return Err(
                "forge.github.repos is empty: list the repositories the agent may work on \
                 (\"owner/repo\")"
                    .into(),
            );
        }
        for (i, repo) in self.repos.iter().enumerate() {
            if self.repository_of(&self.url_of(repo)).as_deref() != Some(repo.as_str()) {
                return Err(format!(
                    "forge.github.repos[{i}]: `{repo}` is not `owner/repo`"
                ));
            }
        }
        Ok(())
    }
}

/// `[triggers]`: where tasks come from besides the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriggersConfig {
    /// `POST /triggers/github`.
    pub github: Option<GitHubTriggerConfig>,
    /// `POST /triggers/slack/commands` and `/triggers/slack/events`.
    pub slack: Option<SlackConfig>,
    /// `POST /triggers/linear`.
    pub linear: Option<LinearConfig>,
    /// `[[triggers.cron]]` schedules.
    pub cron: Vec<CronConfig>,
    /// `[[triggers.webhooks]]`: `POST /triggers/webhooks/<name>`.
    pub webhooks: Vec<WebhookConfig>,
}

impl TriggersConfig {
    /// Whether any trigger is configured.
    pub fn any(&self) -> bool {
        self.github.is_some()
            || self.slack.is_some()
            || self.linear.is_some()
            || !self.cron.is_empty()
            || !self.webhooks.is_empty()
    }
}

/// `[triggers.github]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubTriggerConfig {
    /// The webhook secret.
    pub webhook_secret: SecretSource,
    /// Issues labelled with this are picked up.
    #[serde(default = "default_label")]
    pub label: String,
    /// The bot's login: `@login` in a comment is a mention.
    #[serde(default = "default_bot")]
    pub bot_login: String,
    /// Repositories (`owner/repo`) whose events are accepted (empty: those
    /// of `forge.github.repos`, or any when there is no GitHub forge).
    #[serde(default)]
    pub repos: Vec<String>,
    /// Priority of the tasks enqueued.
    #[serde(default)]
    pub priority: i32,
    /// The `author_association`s whose comments and reviews may ask the
    /// agent for work (default `["OWNER", "MEMBER", "COLLABORATOR"]`; add
    /// `"CONTRIBUTOR"` to trust anyone with a merged pull request).
    #[serde(default = "default_associations")]
    pub associations: Vec<String>,
    /// One progress comment on the issue, edited as the task moves.
    #[serde(default = "yes")]
    pub progress_comment: bool,
}

fn default_label() -> String {
    "agent".into()
}

fn default_associations() -> Vec<String> {
    crate::triggers::github::DEFAULT_ASSOCIATIONS
        .map(String::from)
        .to_vec()
}

fn default_bot() -> String {
    "agentkit".into()
}

fn yes() -> bool {
    true
}

/// `[triggers.slack]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The app's signing secret.
    pub signing_secret: SecretSource,
    /// The bot token (`xoxb-…`, scope `chat:write`): replies in the thread.
    #[serde(default)]
    pub bot_token: Option<SecretSource>,
    /// The repository Slack tasks work on (default: the first configured one).
    #[serde(default)]
    pub repo: Option<String>,
    /// Its base branch.
    #[serde(default)]
    pub base: Option<String>,
    /// The user ids (`U…`) who may ask the agent (empty: anyone in the
    /// workspace).
    #[serde(default)]
    pub users: Vec<String>,
    /// The channel ids (`C…`) requests are taken in (empty: any).
    #[serde(default)]
    pub channels: Vec<String>,
    /// The Web API base.
    #[serde(default = "default_slack_api")]
    pub api_base: String,
}

fn default_slack_api() -> String {
    "https://slack.com/api".into()
}

/// `[triggers.linear]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    /// The webhook's signing secret.
    pub webhook_secret: SecretSource,
    /// An API key: comments the pull-request link back.
    #[serde(default)]
    pub api_key: Option<SecretSource>,
    /// Issues assigned to this user id are picked up.
    #[serde(default)]
    pub agent_user_id: Option<String>,
    /// Issues with this label are picked up.
    #[serde(default)]
    pub label: Option<String>,
    /// The repository Linear tasks work on (default: the first configured one).
    #[serde(default)]
    pub repo: Option<String>,
    /// Its base branch.
    #[serde(default)]
    pub base: Option<String>,
    /// The GraphQL endpoint.
    #[serde(default = "default_linear_api")]
    pub api_url: String,
}

fn default_linear_api() -> String {
    "https://api.linear.app/graphql".into()
}

/// `[[triggers.cron]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronConfig {
    /// Unique; part of every task id.
    pub name: String,
    /// Five fields: minute hour day-of-month month day-of-week.
    pub schedule: String,
    /// An IANA time zone.
    #[serde(default = "default_zone")]
    pub timezone: String,
    /// The ticket's title.
    pub title: String,
    /// The ticket's body.
    #[serde(default)]
    pub body: String,
    /// The repository (default: the first configured one).
    #[serde(default)]
    pub repo: Option<String>,
    /// Its base branch.
    #[serde(default)]
    pub base: Option<String>,
}

fn default_zone() -> String {
    "UTC".into()
}

/// `[[triggers.webhooks]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The path segment: `POST /triggers/webhooks/<name>`.
    pub name: String,
    /// The HMAC-SHA256 secret.
    pub secret: SecretSource,
    /// The header carrying the signature.
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    /// What precedes the hex digest.
    #[serde(default = "default_signature_prefix")]
    pub signature_prefix: String,
    /// The header identifying a delivery, if the sender sends one.
    #[serde(default)]
    pub delivery_header: Option<String>,
    /// JSON pointer to the ticket's id in the payload.
    #[serde(default)]
    pub id_pointer: Option<String>,
    /// Title template (`{{/json/pointer}}` placeholders).
    pub title: String,
    /// Body template.
    #[serde(default)]
    pub body: String,
    /// The repository (default: the first configured one).
    #[serde(default)]
    pub repo: Option<String>,
    /// Its base branch.
    #[serde(default)]
    pub base: Option<String>,
}

fn default_signature_header() -> String {
    "X-Signature-256".into()
}

fn default_signature_prefix() -> String {
    "sha256=".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_environment_or_a_file_never_the_config() {
        let env = |name: &str| (name == "HOOK").then(|| "s3cret".to_string());
        let from_env: SecretSource = "env:HOOK".parse().unwrap();
        assert_eq!(from_env.read("k", &env).unwrap(), "s3cret");
        assert_eq!(
            "env:MISSING"
                .parse::<SecretSource>()
                .unwrap()
                .read("triggers.x", &env),
            Err("triggers.x: the environment variable MISSING is not set (or is empty)".into())
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").unwrap();
        let from_file: SecretSource = format!("file:{}", path.display()).parse().unwrap();
        assert_eq!(from_file.read("k", &env).unwrap(), "from-file");
        assert_eq!(format!("{from_env:?}"), "env:HOOK");
        assert!(
            "plain-secret"
                .parse::<SecretSource>()
                .unwrap_err()
                .starts_with("secrets are not written into the config file")
        );
        assert!("env:A-B".parse::<SecretSource>().is_err());
    }

    #[test]
    fn repository_urls_under_the_git_base_name_their_repository() {
        let config = GitHubForgeConfig {
            app_id: None,
            private_key_path: None,
            installation_id: None,
            token: Some(SecretSource::Env("T".into())),
            repos: vec!["acme/app".into()],
            api_base: default_api_base(),
            git_base: "https://github.com/".into(),
            draft: false,
            labels: vec![],
            scratch_dir: None,
        };
        assert_eq!(
            config.repository_of("https://github.com/acme/app.git"),
            Some("acme/app".into())
        );
        assert_eq!(
            config.repository_of("https://github.com/acme/app"),
            Some("acme/app".into())
        );
        assert_eq!(
            config.repository_of("https://gitlab.com/acme/app.git"),
            None
        );
        assert_eq!(config.repository_of("/srv/git/app"), None);
        assert_eq!(config.url_of("acme/app"), "https://github.com/acme/app.git");
        assert!(config.allows("ACME/app"));
        assert_eq!(config.check(), Ok(()));
        let no_auth = GitHubForgeConfig {
            token: None,
            ..config.clone()
        };
        assert!(
            no_auth
                .check()
                .unwrap_err()
                .contains("app_id + private_key_path")
        );
        let bad_repo = GitHubForgeConfig {
            repos: vec!["app".into()],
            ..config
        };
        assert_eq!(
            bad_repo.check(),
            Err("forge.github.repos[0]: `app` is not `owner/repo`".into())
        );
    }
}
