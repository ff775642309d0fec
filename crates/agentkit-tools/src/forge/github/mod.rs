//! [`GitHubForge`]: tickets from GitHub issues, pull requests on GitHub
//! (cargo feature `github`).
//!
//! - **Client.** reqwest with typed serde models (lenient wire types):
//!   the same HTTP stack the model backends use, and full control of
//!   GitHub's rate limits (see [`RateLimits`]). The API base is configurable
//!   (GitHub Enterprise Server: `https://HOST/api/v3`).
//! - **Auth** ([`GitHubAuth`]): a GitHub App (an RS256 JWT buys an
//!   installation token for this one repository with contents, pull requests
//!   and issues write and metadata read; cached, refreshed at least five
//!   minutes before it expires, also in the middle of a run), or a personal
//!   access token.
//! - **`task`** reads an issue: title, body, labels and every comment
//!   (paginated), the agent's own progress comment left out. Task ids are
//!   `gh:<owner>/<repo>#<number>` ([`GitHubForge::task_id`]).
//! - **`publish`** refuses branches outside the agent prefix, protected
//!   branches, the target branch and the repository's default branch; pushes
//!   host-side from the handed-over bundle (`push` module: the token only in
//!   the git process's environment); then finds the open pull request for the
//!   branch and updates it, or creates one (optionally draft, with labels;
//!   the body says `Fixes #N` for an issue task). A per-branch lock and the
//!   handling of GitHub's 422 "A pull request already exists" make concurrent
//!   publishes of one task end with one pull request.
//! - **`comment`** keeps one progress comment per task, found by a hidden
//!   marker and edited in place.
//! - **`pull_request`** reads state for metrics: merged, merge time, review
//!   rounds (submitted reviews), revisions (from the body's marker).
//!
//! ```no_run
//! use agentkit_tools::forge::github::{GitHubAuth, GitHubForge};
//!
//! # fn main() -> Result<(), agentkit_core::forge::ForgeError> {
//! let key = std::fs::read("/etc/agentkit/app.pem").expect("the App key");
//! let forge = GitHubForge::builder("acme", "app", GitHubAuth::app("123456", &key, None)?)
//!     .draft(true)
//!     .labels(vec!["agent".into()])
//!     .build()?;
//! # Ok(()) }
//! ```

mod api;
mod auth;
mod comments;
mod pulls;
mod push;
mod wire;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::forge::{
    DEFAULT_BRANCH_PREFIX, Forge, ForgeError, PublishRequest, PullRequest, split_revision,
};
use agentkit_core::task::{RepoRef, Task, TaskId, TaskSource};
use async_trait::async_trait;
use reqwest::Method;

pub use api::RateLimits;
pub use auth::{Clock, GitHubAuth, REFRESH_MARGIN, REQUESTED_PERMISSIONS, Secret, SystemClock};

use api::Api;
use auth::TokenSource;
use push::Pusher;

/// The public GitHub API.
pub const DEFAULT_API_BASE: &str = "https://api.github.com";
/// Where public GitHub serves git.
pub const DEFAULT_GIT_BASE: &str = "https://github.com";

/// Builds a [`GitHubForge`]; see [`GitHubForge::builder`].
#[derive(Debug)]
pub struct GitHubForgeBuilder {
    owner: String,
    repo: String,
    auth: GitHubAuth,
    api_base: String,
    git_base: String,
    branch_prefix: String,
    protected: Vec<String>,
    draft: bool,
    labels: Vec<String>,
    scratch_dir: Option<PathBuf>,
    limits: RateLimits,
    clock: Arc<dyn Clock>,
    git_timeout: Duration,
}

impl GitHubForgeBuilder {
    /// The REST API base (default [`DEFAULT_API_BASE`]; GitHub Enterprise
    /// Server: `https://HOST/api/v3`).
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Where git is served (default [`DEFAULT_GIT_BASE`]); the remote is
    /// `<git_base>/<owner>/<repo>.git`.
    pub fn git_base(mut self, url: impl Into<String>) -> Self {
        self.git_base = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Agents push only to branches starting with `prefix` (default `agent/`).
    pub fn branch_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.branch_prefix = prefix.into();
        self
    }

    /// Branches never pushed to, besides each pull request's target and the
    /// repository's default branch (default: `main`, `master`).
    pub fn protected_branches(mut self, branches: Vec<String>) -> Self {
        self.protected = branches;
        self
    }

    /// Opens new pull requests as drafts.
    pub fn draft(mut self, draft: bool) -> Self {
        self.draft = draft;
        self
    }

    /// Labels added to every pull request the agent opens or updates.
    pub fn labels(mut self, labels: Vec<String>) -> Self {
        self.labels = labels;
        self
    }

    /// Where the host-side scratch repository lives (default: under the
    /// system temporary directory, `agentkit-github/<owner>/<repo>.git`).
    /// Keep it on persistent storage to make fetches incremental.
    pub fn scratch_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scratch_dir = Some(dir.into());
        self
    }

    /// Rate-limit and retry behaviour.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The clock deciding when a token needs refreshing (tests move it).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Limit for one host-side git command (default five minutes).
    pub fn git_timeout(mut self, timeout: Duration) -> Self {
        self.git_timeout = timeout;
        self
    }

    /// The forge. Fails on an owner or repository name GitHub would not
    /// accept, or when the HTTP client cannot be built.
    pub fn build(self) -> Result<GitHubForge, ForgeError> {
        for (what, name) in [("owner", &self.owner), ("repository", &self.repo)] {
            let valid = !name.is_empty()
                && !name.starts_with('.')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(ForgeError::Other {
                    message: format!(
                        "`{name}` is not a GitHub {what} name (letters, digits, `-`, `_`, `.`)"
                    ),
                });
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|err| ForgeError::Other {
                message: format!("could not build the HTTP client for GitHub: {err}"),
            })?;
        let full = format!("{}/{}", self.owner, self.repo);
        let scratch = self.scratch_dir.unwrap_or_else(|| {
            std::env::temp_dir()
                .join("agentkit-github")
                .join(&self.owner)
                .join(format!("{}.git", self.repo))
        });
        let remote = format!("{}/{full}.git", self.git_base);
        Ok(GitHubForge {
            api: Arc::new(Api::new(
                http,
                self.api_base,
                full,
                TokenSource::new(self.auth, self.clock),
                self.limits,
            )),
            pusher: Pusher::new(scratch, remote, self.git_timeout),
            owner: self.owner,
            repo: self.repo,
            branch_prefix: self.branch_prefix,
            protected: self.protected,
            draft: self.draft,
            labels: self.labels,
            default_branch: tokio::sync::OnceCell::new(),
            locks: std::sync::Mutex::new(HashMap::new()),
            progress_comments: std::sync::Mutex::new(HashMap::new()),
        })
    }
}

/// A forge on GitHub (or GitHub Enterprise Server). See the [module docs](self).
#[derive(Debug)]
pub struct GitHubForge {
    api: Arc<Api>,
    pusher: Pusher,
    owner: String,
    repo: String,
    branch_prefix: String,
    protected: Vec<String>,
    draft: bool,
    labels: Vec<String>,
    default_branch: tokio::sync::OnceCell<String>,
    /// One lock per branch (publishes) and per task (progress comments).
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Progress comment id per task, once known.
    progress_comments: std::sync::Mutex<HashMap<String, u64>>,
}

impl GitHubForge {
    /// A builder for the forge on `owner/repo`, authenticated with `auth`.
    pub fn builder(
        owner: impl Into<String>,
        repo: impl Into<String>,
        auth: GitHubAuth,
    ) -> GitHubForgeBuilder {
        GitHubForgeBuilder {
            owner: owner.into(),
            repo: repo.into(),
            auth,
            api_base: DEFAULT_API_BASE.into(),
            git_base: DEFAULT_GIT_BASE.into(),
            branch_prefix: DEFAULT_BRANCH_PREFIX.into(),
            protected: vec!["main".into(), "master".into()],
            draft: false,
            labels: Vec::new(),
            scratch_dir: None,
            limits: RateLimits::default(),
            clock: Arc::new(SystemClock),
            git_timeout: Duration::from_secs(300),
        }
    }

    /// The task id of issue `number`: `gh:<owner>/<repo>#<number>`.
    pub fn task_id(&self, number: u64) -> TaskId {
        TaskId(format!("gh:{}/{}#{number}", self.owner, self.repo))
    }

    /// The git remote pushed to, `<git_base>/<owner>/<repo>.git`.
    pub fn remote_url(&self) -> &str {
        self.pusher.remote()
    }

    /// The repository tasks run against: the remote, on its default branch.
    pub fn repo_ref(&self) -> RepoRef {
        RepoRef::new(self.remote_url())
    }

    /// The current API token (an installation token, refreshed when needed,
    /// or the personal token). For host-side use only, e.g. a host-side
    /// clone of a private repository; never pass it into a sandbox.
    pub async fn token(&self) -> Result<Secret, ForgeError> {
        self.api.token().await
    }

    /// The repository's default branch (asked once, then remembered).
    pub async fn default_branch(&self) -> Result<String, ForgeError> {
        self.default_branch
            .get_or_try_init(|| async {
                let reply = self
                    .api
                    .call(Method::GET, &self.api.repo_path(""), None)
                    .await?;
                let repo: wire::Repository = reply.json("the repository lookup")?;
                Ok(repo.default_branch)
            })
            .await
            .cloned()
    }

    /// The issue number `task` refers to on this repository, if it is an
    /// issue task (`gh:<owner>/<repo>#<n>`, any revision).
    pub fn issue_number(&self, task: &TaskId) -> Option<u64> {
        let (base, _) = split_revision(task);
        let rest = base.strip_prefix("gh:")?;
        let (repo, number) = rest.rsplit_once('#')?;
        let same = repo.eq_ignore_ascii_case(&format!("{}/{}", self.owner, self.repo));
        same.then(|| number.parse().ok()).flatten()
    }

    /// Whether `repo` names this forge's repository: its remote URL (with or
    /// without `.git`), or `owner/repo`.
    pub fn serves(&self, repo: &str) -> bool {
        let repo = repo.trim().trim_end_matches('/');
        let remote = self.remote_url();
        let full = format!("{}/{}", self.owner, self.repo);
        repo == remote
            || Some(repo) == remote.strip_suffix(".git")
            || repo.eq_ignore_ascii_case(&full)
    }

    /// The lock for `key` (a branch or a task).
    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.entry(key.to_string()).or_default().clone()
    }

    /// Parses a ticket reference: `7`, `#7`, `owner/repo#7`,
    /// `gh:owner/repo#7` or an issue URL of this repository.
    fn parse_reference(&self, reference: &str) -> Result<u64, ForgeError> {
        let reference = reference.trim();
        let own = format!("{}/{}", self.owner, self.repo);
        let number = if let Some(n) = self.issue_number(&TaskId(reference.into())) {
            Some(n)
        } else if let Some((repo, n)) = reference.rsplit_once('#') {
            (repo.is_empty() || repo.eq_ignore_ascii_case(&own))
                .then(|| n.parse().ok())
                .flatten()
        } else if let Some((front, n)) = reference.rsplit_once("/issues/") {
            front
                .to_ascii_lowercase()
                .ends_with(&own.to_ascii_lowercase())
                .then(|| n.trim_end_matches('/').parse().ok())
                .flatten()
        } else {
            reference.parse().ok()
        };
        number.ok_or_else(|| ForgeError::NotFound {
            what: format!(
                "ticket `{reference}`: expected an issue number of {own} (`7`, `#7`, \
                 `{own}#7` or its URL)"
            ),
        })
    }
}

#[async_trait]
impl Forge for GitHubForge {
    fn name(&self) -> &str {
        "github"
    }

    async fn task(&self, reference: &str) -> Result<Task, ForgeError> {
        let number = self.parse_reference(reference)?;
        let path = self.api.repo_path(&format!("/issues/{number}"));
        let issue: wire::Issue = self
            .api
            .call(Method::GET, &path, None)
            .await?
            .json("the issue")?;
        let comments: Vec<wire::IssueComment> = self
            .api
            .get_all(&format!("{path}/comments"), "the issue comments")
            .await?;
        let mut body = issue.body.unwrap_or_default();
        let thread: Vec<String> = comments
            .iter()
            .filter(|c| !comments::is_progress(c.body.as_deref().unwrap_or_default()))
            .map(|c| {
                let who = c
                    .user
                    .as_ref()
                    .map(|u| u.login.as_str())
                    .unwrap_or("someone");
                format!(
                    "**@{who}** wrote:\n\n{}",
                    c.body.as_deref().unwrap_or_default().trim()
                )
            })
            .collect();
        if !thread.is_empty() {
            body = format!(
                "{}\n\n## Comments\n\n{}",
                body.trim_end(),
                thread.join("\n\n---\n\n")
            );
        }
        let mut task = Task::new(
            self.task_id(issue.number).0,
            issue.title,
            body,
            self.repo_ref(),
        );
        task.labels = issue.labels.into_iter().map(|l| l.name).collect();
        task.source = TaskSource::Forge {
            forge: "github".into(),
            number: issue.number.to_string(),
            url: issue.html_url,
        };
        if issue.pull_request.is_some() {
            tracing::debug!(forge = "github", number, "the ticket is a pull request");
        }
        Ok(task)
    }

    async fn publish(&self, request: PublishRequest) -> Result<PullRequest, ForgeError> {
        pulls::publish(self, request).await
    }

    async fn comment(&self, task: &TaskId, body: &str) -> Result<(), ForgeError> {
        comments::progress(self, task, body).await
    }

    async fn source(&self, repo: &str, rev: Option<&str>) -> Result<Option<String>, ForgeError> {
        if !self.serves(repo) {
            return Ok(None);
        }
        let (name, is_default) = match rev {
            Some(rev) => (rev.to_string(), false),
            None => (self.default_branch().await?, true),
        };
        let token = self.token().await?;
        let path = self.pusher.mirror(&name, is_default, &token).await?;
        Ok(Some(path.to_string_lossy().into_owned()))
    }

    async fn pull_request(&self, id: &str) -> Result<PullRequest, ForgeError> {
        let number: u64 =
            id.trim()
                .trim_start_matches('#')
                .parse()
                .map_err(|_| ForgeError::NotFound {
                    what: format!("pull request `{id}` (GitHub pull requests are numbered)"),
                })?;
        pulls::read(self, number).await
    }
}
