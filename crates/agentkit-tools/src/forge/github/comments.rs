//! The progress comment: one per task, edited in place.
//!
//! The comment ends with a hidden marker naming the task
//! (`<!-- agentkit:progress task=... -->`); the forge finds it by that marker
//! (remembering its id once known) and edits it, so a run that reports
//! progress ten times leaves one comment, not ten. It goes on the task's
//! issue, or on the task's open pull request when the task is not an issue.

use agentkit_core::forge::{ForgeError, branch_for, split_revision};
use agentkit_core::redact::Redactor;
use agentkit_core::task::TaskId;
use reqwest::Method;
use serde_json::json;

use super::{GitHubForge, wire};

const PROGRESS_MARKER: &str = "<!-- agentkit:progress task=";

/// Whether a comment body is an agent's progress comment.
pub(super) fn is_progress(body: &str) -> bool {
    body.contains(PROGRESS_MARKER)
}

fn marker(task: &str) -> String {
    format!("{PROGRESS_MARKER}{} -->", task.replace("-->", ""))
}

pub(super) async fn progress(
    forge: &GitHubForge,
    task: &TaskId,
    body: &str,
) -> Result<(), ForgeError> {
    let (base, _) = split_revision(task);
    let lock = forge.lock_for(&format!("comment:{base}"));
    let _one_at_a_time = lock.lock().await;
    let token = forge.api.token().await?;
    let text = format!(
        "{}\n\n{}",
        Redactor::new()
            .with_secret(token.expose())
            .redact(body.trim_end()),
        marker(base)
    );
    let payload = json!({ "body": text });

    let known = forge
        .progress_comments
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(base)
        .copied();
    let number = match forge.issue_number(task) {
        Some(number) => number,
        None => pull_number(forge, task).await?,
    };
    let existing = match known {
        Some(id) => Some(id),
        None => find(forge, number, base).await?,
    };
    if let Some(id) = existing {
        let path = forge.api.repo_path(&format!("/issues/comments/{id}"));
        let reply = forge
            .api
            .call_accepting(Method::PATCH, &path, Some(&payload), &[404])
            .await?;
        if reply.status != 404 {
            remember(forge, base, id);
            return Ok(());
        }
        // Deleted by someone: post a new one.
    }
    let path = forge.api.repo_path(&format!("/issues/{number}/comments"));
    let created: wire::IssueComment = forge
        .api
        .call(Method::POST, &path, Some(&payload))
        .await?
        .json("the new comment")?;
    remember(forge, base, created.id);
    Ok(())
}

fn remember(forge: &GitHubForge, task: &str, id: u64) {
    forge
        .progress_comments
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(task.to_string(), id);
}

/// The id of the task's progress comment on issue `number`, if there is one.
async fn find(forge: &GitHubForge, number: u64, task: &str) -> Result<Option<u64>, ForgeError> {
    let path = forge.api.repo_path(&format!("/issues/{number}/comments"));
    let comments: Vec<wire::IssueComment> = forge.api.get_all(&path, "the comments").await?;
    let wanted = marker(task);
    Ok(comments
        .iter()
        .find(|c| c.body.as_deref().is_some_and(|b| b.contains(&wanted)))
        .map(|c| c.id))
}

/// The open pull request of a task that is not an issue.
async fn pull_number(forge: &GitHubForge, task: &TaskId) -> Result<u64, ForgeError> {
    let branch = branch_for(task, &forge.branch_prefix);
    super::pulls::find_open(forge, &branch)
        .await?
        .map(|p| p.number)
        .ok_or_else(|| ForgeError::NotFound {
            what: format!(
                "a place to comment for task `{task}`: it is not an issue of {} and has no \
                 open pull request on `{branch}`",
                forge.api.repo()
            ),
        })
}
