//! Forges: where tickets come from and pull requests go.
//!
//! [`LocalForge`] is a forge made of files and a bare git repository, for
//! running agents without a code host (demos, tests, air-gapped setups):
//!
//! - **Tickets** are files ([`load_ticket`]): `task(reference)` takes a path to
//!   a ticket file, or an id looked up as `<state_dir>/tickets/<id>.json` or
//!   `<id>.md`.
//! - **Publishing** takes the agent's [`ChangeSet`] (a git bundle of
//!   `base..HEAD` made inside the sandbox) and, on the host:
//!   1. refuses a branch outside the agent prefix, a protected branch (the
//!      origin's default branch, `main`, `master`, the pull request's target)
//!      or a malformed name, before git runs at all
//!      ([`check_agent_branch`]);
//!   2. writes the bundle to a temporary file, `git bundle verify`s it against
//!      the origin and checks that its `HEAD` is the claimed `head_commit`;
//!   3. fetches it into the origin with `+HEAD:refs/heads/<branch>` and checks
//!      the branch tip again;
//!   4. records the pull request in `<state_dir>/pulls/<n>.json` (numbered 1, 2,
//!      3, …, rendered next to it as `<n>.md`). An open pull request for the
//!      same branch is updated (`revisions` + 1), never duplicated.
//! - **Comments** are appended to `<state_dir>/comments/<task-slug>.jsonl`.
//! - **Review** ([`LocalForge::merge`], [`LocalForge::close`],
//!   [`LocalForge::request_changes`]) moves a pull request to merged (the
//!   target branch of the origin really moves) or closed, or counts a review
//!   round; [`Forge::pull_request`] reports the state, `merged_at_ms` and
//!   `review_rounds` for metrics.
//!
//! Git runs host-side by argv, never through a shell, with hooks disabled
//! (`-c core.hooksPath=/dev/null`), no system or global configuration, no
//! terminal prompts and object checking on fetch; a hook planted in the origin
//! does not run. Publishes and comments are serialized: by a mutex inside the
//! forge and, on Unix, by an `flock(2)` on `<state_dir>/forge.lock` so two
//! processes sharing a state directory take turns.
//!
//! [`BundleInspector`] reads a [`ChangeSet`] the same way (a throw-away
//! repository borrowing the origin's objects) for the completion contract.
//!
//! ```no_run
//! use agentkit_tools::forge::LocalForge;
//!
//! let forge = LocalForge::new("/srv/git/app.git".into(), "/var/lib/agentkit".into())
//!     .with_branch_prefix("bot/");
//! ```

mod git;
#[cfg(feature = "github")]
pub mod github;
mod inspect;
mod review;
mod store;
mod ticket;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentkit_core::event::now_ms;
use agentkit_core::forge::{
    ChangeSet, DEFAULT_BRANCH_PREFIX, Forge, ForgeError, PublishRequest, PullRequest,
    PullRequestState, check_agent_branch,
};
use agentkit_core::task::{RepoRef, Task, TaskId};
use async_trait::async_trait;

pub use inspect::BundleInspector;
pub use store::render_pull_request;
pub use ticket::load_ticket;

use git::{HostGit, check_change_set};

/// Branches protected by default, besides the origin's default branch.
const DEFAULT_PROTECTED: &[&str] = &["main", "master"];

/// A forge backed by a bare git repository (the "origin") and a state
/// directory of tickets and pull-request records. See the [module docs](self).
#[derive(Debug)]
pub struct LocalForge {
    origin: PathBuf,
    state_dir: PathBuf,
    branch_prefix: String,
    protected: Vec<String>,
    git: HostGit,
    lock: tokio::sync::Mutex<()>,
}

impl LocalForge {
    /// Default limit for one git command: five minutes.
    pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(300);

    /// A forge pushing to the bare repository `origin` and keeping tickets and
    /// pull requests under `state_dir` (created when first written). Relative
    /// paths are made absolute against the current directory.
    pub fn new(origin: PathBuf, state_dir: PathBuf) -> Self {
        let origin = std::path::absolute(&origin).unwrap_or(origin);
        let state_dir = std::path::absolute(&state_dir).unwrap_or(state_dir);
        Self {
            git: HostGit::new(origin.clone(), Self::DEFAULT_GIT_TIMEOUT),
            origin,
            state_dir,
            branch_prefix: DEFAULT_BRANCH_PREFIX.to_string(),
            protected: DEFAULT_PROTECTED.iter().map(|b| b.to_string()).collect(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Agents may push only to branches starting with `prefix` (default
    /// [`DEFAULT_BRANCH_PREFIX`], `agent/`).
    pub fn with_branch_prefix(mut self, prefix: &str) -> Self {
        self.branch_prefix = prefix.to_string();
        self
    }

    /// Branches that may never be pushed to, replacing the default `main` and
    /// `master`. The origin's default branch (its `HEAD`) and each pull
    /// request's target branch are protected regardless.
    pub fn with_protected_branches(mut self, branches: Vec<String>) -> Self {
        self.protected = branches;
        self
    }

    /// Limit for one host-side git command (default
    /// [`DEFAULT_GIT_TIMEOUT`](Self::DEFAULT_GIT_TIMEOUT)).
    pub fn with_git_timeout(mut self, timeout: Duration) -> Self {
        self.git.set_timeout(timeout);
        self
    }

    /// The bare repository pushed to.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The directory holding tickets, pull-request records and comments.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The agent branch prefix.
    pub fn branch_prefix(&self) -> &str {
        &self.branch_prefix
    }

    /// The repository tickets refer to when they name none: the origin, on
    /// its default branch.
    pub fn default_repo(&self) -> RepoRef {
        RepoRef::new(self.origin.display().to_string())
    }

    /// Every branch publishing refuses: the configured list plus the origin's
    /// default branch (when it has one).
    pub async fn protected_branches(&self) -> Vec<String> {
        let mut protected = self.protected.clone();
        if let Some(head) = self.git.head_branch().await
            && !protected.contains(&head)
        {
            protected.push(head);
        }
        protected
    }

    /// Every pull request, sorted by number.
    pub async fn list_pull_requests(&self) -> Result<Vec<PullRequest>, ForgeError> {
        let state_dir = self.state_dir.clone();
        blocking(move || store::list_pulls(&state_dir)).await
    }

    /// The pull request's changes: `git diff <base>...<branch>` in the origin
    /// (what the branch adds since it forked from its target).
    pub async fn diff(&self, pr: &PullRequest) -> Result<String, ForgeError> {
        for branch in [&pr.branch, &pr.base_branch] {
            if branch.is_empty() || branch.contains("..") || branch.starts_with('-') {
                return Err(ForgeError::Other {
                    message: format!("pull request #{} names a bad branch `{branch}`", pr.id),
                });
            }
        }
        let range = format!("refs/heads/{}...refs/heads/{}", pr.base_branch, pr.branch);
        self.git
            .run(
                "diff",
                [
                    "diff",
                    "--no-ext-diff",
                    "--no-textconv",
                    "--no-color",
                    &range,
                    "--",
                ],
            )
            .await
    }

    /// Fetches the bundle into `refs/heads/<branch>` of the origin, after
    /// checking it carries `changes.head_commit`.
    async fn push_bundle(&self, branch: &str, changes: &ChangeSet) -> Result<(), ForgeError> {
        let head = changes.head_commit.to_ascii_lowercase();
        let bundle = changes.bundle.clone();
        let state_dir = self.state_dir.clone();
        let file = blocking(move || write_bundle(&state_dir, &bundle)).await?;
        let path = file.path().as_os_str().to_owned();

        self.git.check_bundle(&path, &head).await?;

        let refspec = format!("+HEAD:refs/heads/{branch}");
        self.git
            .run(
                "fetch",
                [
                    "fetch".into(),
                    "--quiet".into(),
                    "--no-tags".into(),
                    "--no-write-fetch-head".into(),
                    path,
                    refspec.into(),
                ],
            )
            .await?;
        drop(file);

        match self.git.branch_tip(branch).await? {
            Some(tip) if tip.eq_ignore_ascii_case(&head) => Ok(()),
            tip => Err(ForgeError::Refused {
                reason: format!(
                    "after the fetch `{branch}` points at {}, not {head}; \
                     another writer may have moved it",
                    tip.as_deref().unwrap_or("nothing")
                ),
            }),
        }
    }

    /// Creates or updates the pull request for `request.branch`.
    fn record(
        state_dir: &Path,
        request: PublishRequest,
        now: u64,
    ) -> Result<PullRequest, ForgeError> {
        let pulls = store::list_pulls(state_dir)?;
        let existing = pulls
            .iter()
            .find(|p| p.branch == request.branch && p.state == PullRequestState::Open);
        let pull = match existing {
            Some(open) => open.revised(request, now),
            None => {
                let id = store::next_number(&pulls).to_string();
                let url = store::record_path(state_dir, &id).display().to_string();
                PullRequest::opened(id, url, request, now)
            }
        };
        store::write_pull(state_dir, &pull)?;
        Ok(pull)
    }

    /// Takes the in-process mutex and the state directory's lock file.
    async fn exclusive(
        &self,
    ) -> Result<(tokio::sync::MutexGuard<'_, ()>, store::StateLock), ForgeError> {
        let guard = self.lock.lock().await;
        let state_dir = self.state_dir.clone();
        let file_lock = blocking(move || store::lock_state(&state_dir)).await?;
        Ok((guard, file_lock))
    }
}

#[async_trait]
impl Forge for LocalForge {
    fn name(&self) -> &str {
        "local"
    }

    async fn task(&self, reference: &str) -> Result<Task, ForgeError> {
        let reference = reference.trim();
        let default_repo = self.default_repo();
        let direct = PathBuf::from(reference);
        let mut candidates = Vec::new();
        if !reference.is_empty() {
            candidates.push(direct);
        }
        if is_ticket_id(reference) {
            let tickets = self.state_dir.join("tickets");
            candidates.push(tickets.join(format!("{reference}.json")));
            candidates.push(tickets.join(format!("{reference}.md")));
        }
        let state_dir = self.state_dir.clone();
        let reference = reference.to_string();
        blocking(move || {
            for path in &candidates {
                if path.is_file() {
                    return load_ticket(path, &default_repo);
                }
            }
            Err(ForgeError::NotFound {
                what: format!(
                    "ticket `{reference}`: no such file, and no `{0}/tickets/{reference}.json` \
                     or `.md`",
                    state_dir.display()
                ),
            })
        })
        .await
    }

    async fn publish(&self, request: PublishRequest) -> Result<PullRequest, ForgeError> {
        // Refuse before git runs at all, then again with the origin's default branch.
        let mut protected = self.protected.clone();
        protected.push(request.base_branch.clone());
        check_agent_branch(&request.branch, &self.branch_prefix, &protected)?;
        check_change_set(&request.changes)?;
        if let Some(default) = self.git.head_branch().await {
            protected.push(default);
            check_agent_branch(&request.branch, &self.branch_prefix, &protected)?;
        }

        let _locks = self.exclusive().await?;
        self.push_bundle(&request.branch, &request.changes).await?;
        let state_dir = self.state_dir.clone();
        let pull = blocking(move || Self::record(&state_dir, request, now_ms())).await?;
        tracing::info!(
            forge = "local",
            pull_request = %pull.id,
            branch = %pull.branch,
            revisions = pull.revisions,
            "published"
        );
        Ok(pull)
    }

    async fn comment(&self, task: &TaskId, body: &str) -> Result<(), ForgeError> {
        let _locks = self.exclusive().await?;
        let state_dir = self.state_dir.clone();
        let (task, body) = (task.clone(), body.to_string());
        blocking(move || store::append_comment(&state_dir, &task, &body, now_ms())).await
    }

    async fn pull_request(&self, id: &str) -> Result<PullRequest, ForgeError> {
        let id = id.trim().trim_start_matches('#');
        if !store::is_pull_number(id) {
            return Err(ForgeError::NotFound {
                what: format!("pull request `{id}` (local pull requests are numbered 1, 2, 3…)"),
            });
        }
        let state_dir = self.state_dir.clone();
        let id = id.to_string();
        blocking(move || store::read_pull(&state_dir, &id)).await
    }
}

/// Whether `reference` can name a ticket file in the tickets directory.
fn is_ticket_id(reference: &str) -> bool {
    !reference.is_empty()
        && !reference.starts_with('.')
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '#'))
}

/// Writes the bundle into a temporary file under the state directory.
fn write_bundle(state_dir: &Path, bundle: &[u8]) -> Result<tempfile::NamedTempFile, ForgeError> {
    use std::io::Write;
    let fail = |err: std::io::Error| ForgeError::Other {
        message: format!(
            "could not write the bundle under `{}`: {err}",
            state_dir.display()
        ),
    };
    std::fs::create_dir_all(state_dir).map_err(fail)?;
    let mut file = tempfile::Builder::new()
        .prefix(".bundle-")
        .suffix(".bundle")
        .tempfile_in(state_dir)
        .map_err(fail)?;
    file.write_all(bundle).map_err(fail)?;
    file.flush().map_err(fail)?;
    Ok(file)
}

/// Runs blocking file work off the async threads.
async fn blocking<T, F>(f: F) -> Result<T, ForgeError>
where
    F: FnOnce() -> Result<T, ForgeError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| ForgeError::Other {
            message: format!("a file operation of the local forge did not finish: {err}"),
        })?
}
