//! Publishing: branch policy, the push, one pull request per branch.

use agentkit_core::forge::{
    ForgeError, PublishRequest, PullRequest, PullRequestState, check_agent_branch, split_revision,
};
use agentkit_core::redact::Redactor;
use agentkit_core::task::TaskId;
use reqwest::Method;
use serde_json::json;

use super::auth::timestamp_ms;
use super::push::redact_error;
use super::{GitHubForge, wire};
use crate::forge::git::check_change_set;

/// The hidden marker a pull request body ends with: which task and revision.
const TASK_MARKER: &str = "<!-- agentkit:task=";

pub(super) async fn publish(
    forge: &GitHubForge,
    request: PublishRequest,
) -> Result<PullRequest, ForgeError> {
    let mut protected = forge.protected.clone();
    protected.push(request.base_branch.clone());
    check_agent_branch(&request.branch, &forge.branch_prefix, &protected)?;
    check_change_set(&request.changes)?;
    protected.push(forge.default_branch().await?);
    check_agent_branch(&request.branch, &forge.branch_prefix, &protected)?;

    let lock = forge.lock_for(&format!("branch:{}", request.branch));
    let _one_at_a_time = lock.lock().await;
    let (_, revision) = split_revision(&request.task.id);
    let token = forge.api.token().await?;
    let redactor = Redactor::new().with_secret(token.expose());
    forge
        .pusher
        .push(
            &request.branch,
            &request.base_branch,
            &request.changes,
            revision > 1,
            &token,
        )
        .await?;

    let body = redactor
        .redact(&pull_body(forge, &request, revision))
        .into_owned();
    let title = redactor.redact(request.title.trim()).into_owned();
    let pull = match find_open(forge, &request.branch).await? {
        Some(open) => update(forge, open.number, &title, &body).await?,
        None => create_or_adopt(forge, &request, &title, &body).await?,
    };
    if !forge.labels.is_empty() {
        let path = forge
            .api
            .repo_path(&format!("/issues/{}/labels", pull.number));
        forge
            .api
            .call(
                Method::POST,
                &path,
                Some(&json!({ "labels": forge.labels })),
            )
            .await?;
    }
    let rounds = match review_rounds(forge, pull.number).await {
        Ok(n) => n,
        Err(err) => {
            tracing::warn!(forge = "github", error = %redact_error(err, &redactor), "could not count reviews");
            0
        }
    };
    let result = to_pull_request(forge, pull, rounds);
    tracing::info!(forge = "github", pull_request = %result.id, branch = %result.branch, revision, "published");
    Ok(result)
}

/// The body: the agent's text, the issue link, the hidden task marker.
fn pull_body(forge: &GitHubForge, request: &PublishRequest, revision: u32) -> String {
    let (base_id, _) = split_revision(&request.task.id);
    let mut body = request.body.trim_end().to_string();
    if let Some(number) = forge.issue_number(&request.task.id) {
        body.push_str(&format!("\n\nFixes #{number}"));
    }
    if revision > 1 {
        body.push_str(&format!(
            "\n\n_Revision {revision}, after review feedback._"
        ));
    }
    body.push_str(&format!(
        "\n\n{TASK_MARKER}{} revision={revision} -->\n",
        base_id.replace("-->", "")
    ));
    body
}

/// The task id and revision a body's marker names.
fn marker_of(body: &str) -> Option<(String, u32)> {
    let start = body.rfind(TASK_MARKER)? + TASK_MARKER.len();
    let rest = &body[start..];
    let end = rest.find("-->")?;
    let inner = rest[..end].trim();
    let (id, revision) = match inner.rsplit_once(" revision=") {
        Some((id, n)) => (id, n.trim().parse().unwrap_or(1)),
        None => (inner, 1),
    };
    Some((id.to_string(), revision))
}

pub(super) async fn find_open(
    forge: &GitHubForge,
    branch: &str,
) -> Result<Option<wire::Pull>, ForgeError> {
    let path = forge
        .api
        .repo_path(&format!("/pulls?head={}:{branch}&state=open", forge.owner));
    let pulls: Vec<wire::Pull> = forge
        .api
        .call(Method::GET, &path, None)
        .await?
        .json("the pull-request search")?;
    Ok(pulls.into_iter().find(|p| p.head.name == branch))
}

async fn update(
    forge: &GitHubForge,
    number: u64,
    title: &str,
    body: &str,
) -> Result<wire::Pull, ForgeError> {
    let path = forge.api.repo_path(&format!("/pulls/{number}"));
    forge
        .api
        .call(
            Method::PATCH,
            &path,
            Some(&json!({ "title": title, "body": body })),
        )
        .await?
        .json("the pull-request update")
}

/// Creates the pull request; when GitHub says one already exists for the
/// branch (another process won the race), finds and updates that one.
async fn create_or_adopt(
    forge: &GitHubForge,
    request: &PublishRequest,
    title: &str,
    body: &str,
) -> Result<wire::Pull, ForgeError> {
    let path = forge.api.repo_path("/pulls");
    let create = json!({
        "title": title,
        "head": request.branch,
        "base": request.base_branch,
        "body": body,
        "draft": forge.draft,
        "maintainer_can_modify": true,
    });
    let reply = forge
        .api
        .call_accepting(Method::POST, &path, Some(&create), &[422])
        .await?;
    if reply.status != 422 {
        return reply.json("the pull-request creation");
    }
    let message = super::api::api_message(&reply.body);
    if !message.to_ascii_lowercase().contains("already exists") {
        return Err(ForgeError::Other {
            message: format!(
                "GitHub refused to open the pull request from `{}` into `{}`: {message}",
                request.branch, request.base_branch
            ),
        });
    }
    tracing::info!(forge = "github", branch = %request.branch, "a pull request already exists; updating it");
    match find_open(forge, &request.branch).await? {
        Some(open) => update(forge, open.number, title, body).await,
        None => Err(ForgeError::Other {
            message: format!(
                "GitHub says a pull request exists for `{}` but none is open; \
                 a closed one may block it: reopen or delete it",
                request.branch
            ),
        }),
    }
}

/// Reads pull request `number` with its reviews.
pub(super) async fn read(forge: &GitHubForge, number: u64) -> Result<PullRequest, ForgeError> {
    let path = forge.api.repo_path(&format!("/pulls/{number}"));
    let pull: wire::Pull = forge
        .api
        .call(Method::GET, &path, None)
        .await?
        .json("the pull request")?;
    let rounds = review_rounds(forge, number).await?;
    Ok(to_pull_request(forge, pull, rounds))
}

/// Submitted reviews (approved, changes requested, commented, dismissed).
async fn review_rounds(forge: &GitHubForge, number: u64) -> Result<u32, ForgeError> {
    let path = forge.api.repo_path(&format!("/pulls/{number}/reviews"));
    let reviews: Vec<wire::Review> = forge.api.get_all(&path, "the reviews").await?;
    Ok(reviews
        .iter()
        .filter(|r| !r.state.eq_ignore_ascii_case("PENDING"))
        .count() as u32)
}

fn to_pull_request(forge: &GitHubForge, pull: wire::Pull, review_rounds: u32) -> PullRequest {
    let body = pull.body.unwrap_or_default();
    let (task_id, revisions) = marker_of(&body)
        .unwrap_or_else(|| (format!("gh:{}#pr-{}", forge.api.repo(), pull.number), 1));
    let state = if pull.merged_at.is_some() {
        PullRequestState::Merged
    } else if pull.state.eq_ignore_ascii_case("closed") {
        PullRequestState::Closed
    } else {
        PullRequestState::Open
    };
    let ms = |t: &Option<String>| t.as_deref().and_then(timestamp_ms);
    PullRequest {
        id: pull.number.to_string(),
        url: pull.html_url,
        task_id: TaskId(task_id),
        branch: pull.head.name,
        base_branch: pull.base.name,
        title: pull.title,
        body,
        head_commit: pull.head.sha,
        state,
        revisions,
        review_rounds,
        created_at_ms: ms(&pull.created_at).unwrap_or_default(),
        updated_at_ms: ms(&pull.updated_at).unwrap_or_default(),
        merged_at_ms: ms(&pull.merged_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_round_trips() {
        assert_eq!(
            marker_of("text\n\n<!-- agentkit:task=gh:o/r#7 revision=2 -->\n"),
            Some(("gh:o/r#7".into(), 2))
        );
        assert_eq!(marker_of("no marker"), None);
    }
}
