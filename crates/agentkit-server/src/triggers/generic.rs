//! Generic HMAC-signed webhooks: `POST /triggers/webhooks/{name}`.
//!
//! For any sender that signs its body with HMAC-SHA256: the header, its
//! prefix and the secret are configured per webhook, and a template maps
//! the JSON payload to a task. Templates hold `{{/json/pointer}}`
//! placeholders (RFC 6901), replaced by the value at that pointer (strings
//! as they are, other values as JSON, missing ones as nothing). The task id
//! is `hook:<name>:<id>` with `<id>` from `id_pointer`, or the SHA-256 of the
//! body; the idempotency key is the same unless `delivery_header` names a
//! header whose value identifies the delivery.

use agentkit_core::store::NewTask;
use agentkit_core::task::{RepoRef, Task, TaskSource};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::signature::verify_hex;
use super::{Accepted, Rejection, TriggerState, delivery_key, enqueue, header};

/// One generic webhook.
#[derive(Clone)]
pub struct GenericWebhook {
    /// The path segment (`/triggers/webhooks/<name>`) and part of task ids.
    pub name: String,
    /// The HMAC secret.
    pub secret: String,
    /// The signature header (e.g. `X-Signature`).
    pub signature_header: String,
    /// What precedes the hex digest (`sha256=`, or empty).
    pub signature_prefix: String,
    /// The header identifying a delivery, if the sender sends one.
    pub delivery_header: Option<String>,
    /// The pointer to a ticket id in the payload (e.g. `/ticket/id`).
    pub id_pointer: Option<String>,
    /// The title template.
    pub title: String,
    /// The body template.
    pub body: String,
    /// The repository the tasks work on.
    pub repo: RepoRef,
}

impl std::fmt::Debug for GenericWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenericWebhook")
            .field("name", &self.name)
            .field("signature_header", &self.signature_header)
            .finish()
    }
}

/// `template` with every `{{/pointer}}` replaced from `payload`.
pub fn render(template: &str, payload: &serde_json::Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let pointer = after[..end].trim();
        match payload.pointer(pointer) {
            Some(serde_json::Value::String(s)) => out.push_str(s),
            Some(serde_json::Value::Null) | None => {}
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The task a verified payload maps to.
pub fn task_for(hook: &GenericWebhook, body: &[u8]) -> Result<Task, String> {
    let payload: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("the payload is not JSON: {err}"))?;
    let id = match hook.id_pointer.as_deref().and_then(|p| payload.pointer(p)) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None if hook.id_pointer.is_some() => {
            return Err(format!(
                "the payload has nothing at `{}`",
                hook.id_pointer.as_deref().unwrap_or_default()
            ));
        }
        Some(other) => other.to_string(),
        None => hex::encode(Sha256::digest(body)),
    };
    let title = render(&hook.title, &payload);
    if title.trim().is_empty() {
        return Err("the title template rendered empty; check its pointers".into());
    }
    let mut task = Task::new(
        format!("hook:{}:{id}", hook.name),
        title.trim(),
        render(&hook.body, &payload),
        hook.repo.clone(),
    );
    task.source = TaskSource::Forge {
        forge: hook.name.clone(),
        number: id,
        url: None,
    };
    Ok(task)
}

pub(crate) async fn handle(
    State(state): State<TriggerState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Accepted, Rejection> {
    let hook = state
        .config
        .webhooks
        .iter()
        .find(|h| h.name == name)
        .ok_or(Rejection::NotConfigured("webhook"))?;
    verify_hex(
        hook.secret.as_bytes(),
        &[&body],
        header(&headers, &hook.signature_header),
        &hook.signature_header,
        &hook.signature_prefix,
    )?;
    let task = task_for(hook, &body).map_err(Rejection::BadRequest)?;
    let delivery = hook
        .delivery_header
        .as_deref()
        .and_then(|h| header(&headers, h));
    let prefix = format!("hook-delivery:{}", hook.name);
    let key = delivery_key(&prefix, delivery, &task.id.0);
    enqueue(
        state.store.as_ref(),
        NewTask::new(task).idempotency_key(key),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_values_by_pointer() {
        let payload =
            serde_json::json!({"ticket": {"id": 12, "title": "Slow page", "tags": ["perf"]}});
        assert_eq!(
            render(
                "Fix {{/ticket/title}} ({{ /ticket/tags }}){{/missing}} {{",
                &payload
            ),
            "Fix Slow page ([\"perf\"]) {{"
        );
        let hook = GenericWebhook {
            name: "tickets".into(),
            secret: "s".into(),
            signature_header: "X-Signature".into(),
            signature_prefix: "sha256=".into(),
            delivery_header: None,
            id_pointer: Some("/ticket/id".into()),
            title: "{{/ticket/title}}".into(),
            body: "Ticket {{/ticket/id}}".into(),
            repo: RepoRef::new("."),
        };
        let task = task_for(&hook, payload.to_string().as_bytes()).unwrap();
        assert_eq!(
            (task.id.0.as_str(), task.title.as_str(), task.body.as_str()),
            ("hook:tickets:12", "Slow page", "Ticket 12")
        );
    }
}
