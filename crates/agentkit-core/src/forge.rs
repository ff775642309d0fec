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

/// The branch a task publishes to: `prefix` + the task id's slug.
pub fn branch_for(task: &TaskId, prefix: &str) -> String {
    format!("{prefix}{}", task.slug())
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
}
