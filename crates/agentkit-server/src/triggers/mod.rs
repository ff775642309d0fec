//! Triggers: where tasks come from (cargo feature `triggers`).
//!
//! Each trigger turns a signed request (or a schedule) into an **idempotent
//! enqueue** into the [`TaskStore`]: verification first, on the raw bytes, in
//! constant time; parsing after; then an enqueue whose idempotency key names
//! the delivery, so a redelivered or replayed request enqueues nothing new,
//! and whose task id names the ticket and revision, so two deliveries about
//! the same ticket make one task.
//!
//! [`router`] gives the endpoints for `agentd` to mount:
//!
//! | path | sender | module |
//! | --- | --- | --- |
//! | `POST /triggers/github` | GitHub App / repository webhook | [`github`] |
//! | `POST /triggers/slack/commands` | Slack slash command | [`slack`] |
//! | `POST /triggers/slack/events` | Slack Events API (`app_mention`, `url_verification`) | [`slack`] |
//! | `POST /triggers/linear` | Linear webhook | [`linear`] |
//! | `POST /triggers/webhooks/{name}` | any HMAC-signed sender | [`generic`] |
//!
//! Cron schedules are not HTTP: [`cron::Scheduler`] runs beside the router.
//! Replies: `202` with `{"enqueued", "task_id", "reason"}` when accepted
//! (`enqueued: false` for a duplicate or an ignored event), `401` for a bad
//! or missing signature (nothing parsed, nothing enqueued), `400` for a
//! signed payload we cannot read, `404` for a trigger that is not
//! configured, `503` when the store fails (the sender retries).
//!
//! ```
//! use std::sync::Arc;
//! use agentkit_core::store::MemoryTaskStore;
//! use agentkit_server::triggers::{TriggerConfig, github::GitHubTrigger, router};
//!
//! let config = TriggerConfig {
//!     github: Some(GitHubTrigger::new("webhook-secret")),
//!     ..TriggerConfig::default()
//! };
//! let app: axum::Router = router(config, Arc::new(MemoryTaskStore::new()));
//! ```

pub mod cron;
pub mod generic;
pub mod github;
pub mod linear;
pub mod notify;
pub mod signature;
pub mod slack;

use std::sync::Arc;

use agentkit_core::store::{NewTask, StoreError, TaskStore};
use agentkit_core::task::TaskId;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;

pub use signature::SignatureError;

/// What [`router`] serves; a trigger left `None` (or no generic webhooks)
/// answers 404.
#[derive(Debug, Clone, Default)]
pub struct TriggerConfig {
    /// GitHub webhooks.
    pub github: Option<github::GitHubTrigger>,
    /// Slack slash commands and mentions.
    pub slack: Option<slack::SlackTrigger>,
    /// Linear webhooks.
    pub linear: Option<linear::LinearTrigger>,
    /// Generic HMAC-signed webhooks, by name.
    pub webhooks: Vec<generic::GenericWebhook>,
    /// Told of every task a GitHub delivery newly enqueues
    /// ([`Notifier::task_queued`](notify::Notifier::task_queued), in the
    /// background: the sender gets its answer first), e.g. to post the
    /// issue's progress comment.
    pub notifier: Option<notify::SharedNotifier>,
}

/// Shared by the handlers.
#[derive(Clone)]
pub(crate) struct TriggerState {
    pub(crate) config: Arc<TriggerConfig>,
    pub(crate) store: Arc<dyn TaskStore>,
}

/// The trigger endpoints (see the [module docs](self) for the paths),
/// enqueueing into `store`.
pub fn router(config: TriggerConfig, store: Arc<dyn TaskStore>) -> axum::Router {
    let state = TriggerState {
        config: Arc::new(config),
        store,
    };
    axum::Router::new()
        .route("/triggers/github", post(github::handle))
        .route("/triggers/slack/commands", post(slack::handle_command))
        .route("/triggers/slack/events", post(slack::handle_event))
        .route("/triggers/linear", post(linear::handle))
        .route("/triggers/webhooks/{name}", post(generic::handle))
        .with_state(state)
}

/// The reply to an accepted request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// Whether a new task was enqueued.
    pub enqueued: bool,
    /// The task the request maps to, if any.
    pub task_id: Option<TaskId>,
    /// Why nothing was enqueued, or what was.
    pub reason: String,
}

impl Accepted {
    pub(crate) fn ignored(reason: impl Into<String>) -> Self {
        Self {
            enqueued: false,
            task_id: None,
            reason: reason.into(),
        }
    }
}

/// A failure answered to the sender.
#[derive(Debug)]
pub(crate) enum Rejection {
    Unauthorized(SignatureError),
    BadRequest(String),
    NotConfigured(&'static str),
    Store(StoreError),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Rejection::Unauthorized(err) => (StatusCode::UNAUTHORIZED, err.to_string()),
            Rejection::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            Rejection::NotConfigured(what) => (
                StatusCode::NOT_FOUND,
                format!("the {what} trigger is not configured on this server"),
            ),
            Rejection::Store(err) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the task store failed ({err}); retry the delivery"),
            ),
        };
        tracing::warn!(status = status.as_u16(), %message, "trigger request rejected");
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        (StatusCode::ACCEPTED, Json(self)).into_response()
    }
}

impl From<SignatureError> for Rejection {
    fn from(err: SignatureError) -> Self {
        Rejection::Unauthorized(err)
    }
}

/// Enqueues `new` and says what happened.
pub(crate) async fn enqueue(store: &dyn TaskStore, new: NewTask) -> Result<Accepted, Rejection> {
    let key = new.key().to_string();
    let task_id = new.task.id.clone();
    let done = store.enqueue(new).await.map_err(Rejection::Store)?;
    tracing::info!(task = %done.id, key = %key, created = done.created, "trigger enqueue");
    Ok(Accepted {
        enqueued: done.created,
        reason: if done.created {
            format!("enqueued `{task_id}`")
        } else {
            format!(
                "already enqueued as `{}` (duplicate delivery or same ticket)",
                done.id
            )
        },
        task_id: Some(done.id),
    })
}

/// Enqueues `new` and, when it is new, tells the configured notifier in the
/// background.
pub(crate) async fn enqueue_announced(
    state: &TriggerState,
    new: NewTask,
) -> Result<Accepted, Rejection> {
    let task = new.task.clone();
    let accepted = enqueue(state.store.as_ref(), new).await?;
    if accepted.enqueued
        && let Some(notifier) = state.config.notifier.clone()
    {
        tokio::spawn(async move {
            if let Err(err) = notifier.0.task_queued(&task).await {
                tracing::warn!(task = %task.id, error = %err, "the queued notification failed");
            }
        });
    }
    Ok(accepted)
}

/// The idempotency key of a delivery: `<prefix>:<id>` when the sender named
/// the delivery, else `fallback` (the task id: one task per ticket).
pub(crate) fn delivery_key(prefix: &str, delivery: Option<&str>, fallback: &str) -> String {
    match delivery.map(str::trim).filter(|d| !d.is_empty()) {
        Some(id) => format!("{prefix}:{id}"),
        None => fallback.to_string(),
    }
}

/// A header's value as text.
pub(crate) fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
