//! Linear webhooks: `POST /triggers/linear`.
//!
//! `Linear-Signature` (hex HMAC-SHA256 of the body) is verified first, then
//! the payload's `webhookTimestamp` (ms) must be within a minute of now
//! (Linear's guidance against replays). An `Issue` created or updated so that
//! it is assigned to the agent's user, or carries the agent's label, becomes
//! a task `linear:<identifier>` (one task per issue, however many updates);
//! the idempotency key is `linear-delivery:<Linear-Delivery>`. The source is
//! `TaskSource::Forge { forge: "linear", number: <issue id> }`, which
//! [`LinearNotifier`](super::notify::LinearNotifier) reads to comment back.

use agentkit_core::store::NewTask;
use agentkit_core::task::{RepoRef, Task, TaskSource};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;

use super::signature::verify_linear;
use super::{Accepted, Rejection, TriggerState, delivery_key, enqueue, header};

/// How far `webhookTimestamp` may be from now.
pub const LINEAR_WINDOW_MS: i64 = 60_000;

/// Configuration of the Linear trigger.
#[derive(Clone)]
pub struct LinearTrigger {
    /// The webhook's signing secret.
    pub signing_secret: String,
    /// Issues assigned to this user id are picked up.
    pub agent_user_id: Option<String>,
    /// Issues with a label of this name are picked up.
    pub label: Option<String>,
    /// The repository Linear tasks work on.
    pub repo: RepoRef,
}

impl std::fmt::Debug for LinearTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearTrigger")
            .field("agent_user_id", &self.agent_user_id)
            .field("label", &self.label)
            .field("repo", &self.repo)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    #[serde(default)]
    action: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    data: Option<Issue>,
    #[serde(default)]
    url: Option<String>,
    webhook_timestamp: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Issue {
    id: String,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    assignee_id: Option<String>,
    #[serde(default)]
    labels: Vec<Label>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Label {
    name: String,
}

/// What a verified Linear payload asks for: a task, or why not. `now_ms`
/// bounds `webhookTimestamp`.
pub fn parse(
    trigger: &LinearTrigger,
    body: &[u8],
    now_ms: i64,
) -> Result<Result<Task, String>, String> {
    let p: Payload = serde_json::from_slice(body)
        .map_err(|err| format!("the payload is not what Linear sends: {err}"))?;
    let skew = (now_ms - p.webhook_timestamp).abs();
    if skew > LINEAR_WINDOW_MS {
        return Err(format!(
            "webhookTimestamp is {skew} ms from now, outside the {LINEAR_WINDOW_MS} ms window (a replay?)"
        ));
    }
    if p.kind != "Issue" || !matches!(p.action.as_str(), "create" | "update") {
        return Ok(Err(format!("`{} {}` is not handled", p.kind, p.action)));
    }
    let Some(issue) = p.data else {
        return Err("an Issue event without data".into());
    };
    let assigned = trigger.agent_user_id.is_some() && issue.assignee_id == trigger.agent_user_id;
    let labelled = trigger.label.as_deref().is_some_and(|wanted| {
        issue
            .labels
            .iter()
            .any(|l| l.name.eq_ignore_ascii_case(wanted))
    });
    if !assigned && !labelled {
        return Ok(Err(
            "the issue is neither assigned to nor labelled for the agent".into(),
        ));
    }
    let key = if issue.identifier.is_empty() {
        &issue.id
    } else {
        &issue.identifier
    };
    let mut task = Task::new(
        format!("linear:{key}"),
        issue.title,
        issue.description.unwrap_or_default(),
        trigger.repo.clone(),
    );
    task.labels = issue.labels.into_iter().map(|l| l.name).collect();
    task.source = TaskSource::Forge {
        forge: "linear".into(),
        number: issue.id,
        url: issue.url.or(p.url),
    };
    Ok(Ok(task))
}

pub(crate) async fn handle(
    State(state): State<TriggerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Accepted, Rejection> {
    let trigger = state
        .config
        .linear
        .as_ref()
        .ok_or(Rejection::NotConfigured("Linear"))?;
    verify_linear(
        trigger.signing_secret.as_bytes(),
        &body,
        header(&headers, "linear-signature"),
    )?;
    let now_ms = super::now_secs().saturating_mul(1000);
    let task = match parse(trigger, &body, now_ms).map_err(Rejection::BadRequest)? {
        Ok(task) => task,
        Err(reason) => return Ok(Accepted::ignored(reason)),
    };
    let key = delivery_key(
        "linear-delivery",
        header(&headers, "linear-delivery"),
        &task.id.0,
    );
    enqueue(
        state.store.as_ref(),
        NewTask::new(task).idempotency_key(key),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger() -> LinearTrigger {
        LinearTrigger {
            signing_secret: "s".into(),
            agent_user_id: Some("user-agent".into()),
            label: Some("agent".into()),
            repo: RepoRef::new("https://github.com/acme/app.git"),
        }
    }

    fn payload(assignee: &str, labels: &[&str], at: i64) -> Vec<u8> {
        serde_json::json!({
            "action": "update", "type": "Issue", "webhookTimestamp": at,
            "url": "https://linear.app/acme/issue/ENG-12",
            "data": {"id": "9f1e", "identifier": "ENG-12", "title": "Slow query", "description": "Add an index.",
                     "assigneeId": assignee, "labels": labels.iter().map(|l| serde_json::json!({"name": l})).collect::<Vec<_>>()}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_issue_assigned_or_labelled_for_the_agent_is_picked_up() {
        let now = 1_900_000_000_000;
        let task = parse(&trigger(), &payload("user-agent", &[], now), now)
            .unwrap()
            .unwrap();
        assert_eq!(task.id.0, "linear:ENG-12");
        assert_eq!(
            task.source,
            TaskSource::Forge {
                forge: "linear".into(),
                number: "9f1e".into(),
                url: Some("https://linear.app/acme/issue/ENG-12".into())
            }
        );
        assert!(
            parse(&trigger(), &payload("someone", &["Agent"], now), now)
                .unwrap()
                .is_ok()
        );
        assert!(
            parse(&trigger(), &payload("someone", &["bug"], now), now)
                .unwrap()
                .is_err()
        );
        assert!(parse(&trigger(), &payload("user-agent", &[], now - 120_000), now).is_err());
    }
}
