//! Forges: where tickets come from and pull requests go.
//!
//! Credentials live on the host side only. The sandbox hands over its commits
//! as a git bundle ([`ChangeSet`]); the forge pushes them to the agent's own
//! branch and opens or updates one pull request per task.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::task::{Task, TaskId};

/// The branch prefix agents may push to unless configured otherwise.
pub const DEFAULT_BRANCH_PREFIX: &str = "agent/";

/// The agent's commits, taken out of the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    /// A git bundle holding `base..head`.
    #[serde(skip)]
    pub bundle: Vec<u8>,
    /// The commit the work started from.
    pub base_commit: String,
    /// The last commit of the work.
    pub head_commit: String,
    /// `git diff --stat base..head` output.
    pub diff_stat: String,
    /// New files the handover kept out of the commit (build output,
    /// binaries, oversized files); they stay in the sandbox, untracked.
    #[serde(default)]
    pub left_out: Vec<LeftOut>,
}

/// A file the handover kept out of the commit, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// Path relative to the repository root.
    pub path: String,
    /// Why (`generated or build output (matches `**/*.pyc`)`).
    pub reason: String,
}

/// A request to publish a task's work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The task.
    pub task: Task,
    /// The branch to push to (must start with the forge's agent prefix).
    pub branch: String,
    /// The branch the pull request targets.
    pub base_branch: String,
    /// Pull-request title.
    pub title: String,
    /// Pull-request body (markdown).
    pub body: String,
    /// The commits.
    pub changes: ChangeSet,
}

/// State of a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestState {
    /// Open for review.
    Open,
    /// Merged.
    Merged,
    /// Closed without merging.
    Closed,
}

/// A pull request as the forge reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// The forge's id for it (a number on most forges).
    pub id: String,
    /// A link or path a human can open.
    pub url: String,
    /// The task it resolves.
    pub task_id: TaskId,
    /// Source branch.
    pub branch: String,
    /// Target branch.
    pub base_branch: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// The head commit.
    pub head_commit: String,
    /// State.
    pub state: PullRequestState,
    /// How many times the agent pushed to it (1 on creation).
    pub revisions: u32,
    /// Review rounds so far (for metrics).
    pub review_rounds: u32,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Last update, milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
    /// Merge time, when merged.
    pub merged_at_ms: Option<u64>,
}

impl PullRequest {
    /// A new open pull request for `request`, at revision 1.
    pub fn opened(id: String, url: String, request: PublishRequest, now_ms: u64) -> Self {
        Self {
            id,
            url,
            task_id: request.task.id,
            branch: request.branch,
            base_branch: request.base_branch,
            title: request.title,
            body: request.body,
            head_commit: request.changes.head_commit,
            state: PullRequestState::Open,
            revisions: 1,
            review_rounds: 0,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            merged_at_ms: None,
        }
    }

    /// This pull request after the agent pushed `request` to it again:
    /// new title, body and head, one more revision.
    pub fn revised(&self, request: PublishRequest, now_ms: u64) -> Self {
        Self {
            title: request.title,
            body: request.body,
            head_commit: request.changes.head_commit,
            revisions: self.revisions.saturating_add(1),
            updated_at_ms: now_ms,
            ..self.clone()
        }
    }
}

/// Errors from a forge.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// No such ticket or pull request.
    #[error("not found on the forge: {what}")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// The forge refused by policy (protected branch, wrong prefix, ...).
    #[error("refused: {reason}")]
    Refused {
        /// Why.
        reason: String,
    },
    /// Credentials were missing or refused.
    #[error("forge authentication failed: {reason}")]
    Auth {
        /// Why.
        reason: String,
    },
    /// A git operation failed.
    #[error("git {operation} failed: {output}")]
    Git {
        /// What was being done.
        operation: String,
        /// What git said.
        output: String,
    },
    /// The forge's data or API failed.
    #[error("forge error: {message}")]
    Other {
        /// What happened.
        message: String,
    },
}

/// A code host: tickets in, pull requests out.
#[async_trait]
pub trait Forge: Send + Sync {
    /// The forge's name (`local`, `github`).
    fn name(&self) -> &str;

    /// Fetches a ticket by its reference on this forge.
    async fn task(&self, reference: &str) -> Result<Task, ForgeError>;

    /// Pushes the branch and opens or updates the pull request. Idempotent:
    /// publishing the same task again updates its pull request.
    async fn publish(&self, request: PublishRequest) -> Result<PullRequest, ForgeError>;

    /// Adds a comment to a task's ticket or pull request.
    async fn comment(&self, task: &TaskId, body: &str) -> Result<(), ForgeError>;

    /// Reads a pull request by id.
    async fn pull_request(&self, id: &str) -> Result<PullRequest, ForgeError>;

    /// Where a sandbox should clone `repo` at `rev` from. `None` (the
    /// default): from `repo` itself. A forge that holds the repository's
    /// credentials host-side answers with a local mirror it has just brought
    /// up to date with them, so a private repository is cloned without any
    /// credential entering the sandbox; `rev` then resolves in the mirror as
    /// it would have in `repo`. A `repo` the forge does not serve gets `None`.
    async fn source(&self, repo: &str, rev: Option<&str>) -> Result<Option<String>, ForgeError> {
        let _ = (repo, rev);
        Ok(None)
    }
}

/// Checks that `branch` is an agent branch under `prefix` and not `protected`.
/// Forges call this before anything leaves the host.
pub fn check_agent_branch(
    branch: &str,
    prefix: &str,
    protected: &[String],
) -> Result<(), ForgeError> {
    let refuse = |reason: String| Err(ForgeError::Refused { reason });
    if protected.iter().any(|p| p == branch) {
        return refuse(format!(
            "branch `{branch}` is protected; agents push only to their own branches"
        ));
    }
    let Some(rest) = branch.strip_prefix(prefix) else {
        return refuse(format!(
            "branch `{branch}` is outside the agent prefix `{prefix}`"
        ));
    };
    let valid = !rest.is_empty()
        && !branch.contains("..")
        && !branch.contains("//")
        && !branch.ends_with('/')
        && !branch.ends_with(".lock")
        && branch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
    if !valid {
        return refuse(format!("`{branch}` is not a valid agent branch name"));
    }
    Ok(())
}

/// The branch a task publishes to: `prefix` + the slug of the task id without
/// its revision suffix, so every [revision](revision_id) of a ticket
/// publishes to the same branch and so updates the same pull request.
pub fn branch_for(task: &TaskId, prefix: &str) -> String {
    let (base, _) = split_revision(task);
    format!("{prefix}{}", TaskId(base.to_string()).slug())
}

/// What separates a task id from its revision number (`gh:o/r#7@rev2`).
pub const REVISION_SEPARATOR: &str = "@rev";

/// The id of revision `revision` of the ticket whose first task is `task`:
/// `task` itself for revision 1 (or 0), `<task>@rev<n>` after that.
///
/// A follow-up (a review comment asking for changes) is a new task in the
/// store, so it needs a new id, but it continues the same work: it publishes
/// to the same branch ([`branch_for`] ignores the suffix) and starts from that
/// branch ([`start_revision`]).
pub fn revision_id(task: &TaskId, revision: u32) -> TaskId {
    let (base, _) = split_revision(task);
    if revision <= 1 {
        TaskId(base.to_string())
    } else {
        TaskId(format!("{base}{REVISION_SEPARATOR}{revision}"))
    }
}

/// The ticket's first task id and the revision number of `task` (1 when
/// the id has no revision suffix).
pub fn split_revision(task: &TaskId) -> (&str, u32) {
    if let Some((base, n)) = task.0.rsplit_once(REVISION_SEPARATOR)
        && !base.is_empty()
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = n.parse::<u32>()
        && n >= 2
    {
        return (base, n);
    }
    (&task.0, 1)
}

/// The revision the sandbox of `task` should check out: the agent's branch
/// for a follow-up revision (so revision 2 builds on revision 1's commits),
/// otherwise the task's base branch (`None`: the repository's default).
/// A worker's sandbox spec uses it as `SandboxSpec::rev`.
pub fn start_revision(task: &Task, prefix: &str) -> Option<String> {
    match split_revision(&task.id) {
        (_, 1) => task.repo.base.clone(),
        _ => Some(branch_for(&task.id, prefix)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_policy() {
        let protected = vec!["main".to_string()];
        assert!(check_agent_branch("agent/fix-1", "agent/", &protected).is_ok());
        assert!(check_agent_branch("main", "agent/", &protected).is_err());
        assert!(check_agent_branch("feature/x", "agent/", &protected).is_err());
        assert!(check_agent_branch("agent/", "agent/", &protected).is_err());
        assert!(check_agent_branch("agent/../main", "agent/", &protected).is_err());
        assert!(check_agent_branch("agent/a b", "agent/", &protected).is_err());
        assert_eq!(branch_for(&TaskId("gh#7".into()), "agent/"), "agent/gh-7");
    }

    #[test]
    fn revisions_share_the_branch_and_start_from_it() {
        let first = TaskId("gh:o/r#7".into());
        let second = revision_id(&first, 2);
        assert_eq!(second, TaskId("gh:o/r#7@rev2".into()));
        assert_eq!(revision_id(&second, 3), TaskId("gh:o/r#7@rev3".into()));
        assert_eq!(revision_id(&second, 1), first);
        assert_eq!(split_revision(&second), ("gh:o/r#7", 2));
        assert_eq!(split_revision(&first), ("gh:o/r#7", 1));
        assert_eq!(split_revision(&TaskId("x@rev".into())), ("x@rev", 1));
        assert_eq!(split_revision(&TaskId("x@rev1".into())), ("x@rev1", 1));
        assert_eq!(split_revision(&TaskId("@rev4".into())), ("@rev4", 1));
        assert_eq!(branch_for(&second, "agent/"), "agent/gh-o-r-7");
        assert_eq!(branch_for(&first, "agent/"), "agent/gh-o-r-7");

        let repo = crate::task::RepoRef::new("https://example.invalid/o/r.git").with_base("main");
        let task = Task::new("gh:o/r#7", "t", "b", repo);
        assert_eq!(start_revision(&task, "agent/"), Some("main".into()));
        let follow_up = Task { id: second, ..task };
        assert_eq!(
            start_revision(&follow_up, "agent/"),
            Some("agent/gh-o-r-7".into())
        );
    }
}
