//! agentd's JSON API.
//!
//! | method and path | what |
//! | --- | --- |
//! | `POST /api/tasks` | enqueue ([`EnqueueRequest`]); 201 `{"id","created":true}`, or 200 `{"id","created":false}` when the idempotency key or task id is already stored |
//! | `GET /api/tasks?state=&repo=` | list ([`TaskSummary`]), newest first, filtered by state and repository |
//! | `GET /api/tasks/{id}` | show ([`TaskDetail`]): state, attempts, steps, tokens, cost, duration, pull request, last error, verification |
//! | `POST /api/tasks/{id}/cancel` | cancel a queued or running task (409 once it succeeded or failed) |
//! | `POST /api/tasks/{id}/retry` | enqueue a failed or cancelled task again as `<id>.retry-<n>` (409 otherwise) |
//! | `GET /api/tasks/{id}/transcript` | the run log as JSONL, secrets redacted |
//! | `GET /api/tasks/{id}/events` | the run log as server-sent events, from the start or after `Last-Event-ID`, then live ([`events`]) |
//! | `GET /api/tasks/{id}/diff` | the pull request's diff (text) |
//! | `GET /api/metrics?repo=&since=&until=` | per-repository figures ([`crate::metrics`]) |
//!
//! Errors are JSON: `{"error": {"code", "message", "field"?}}` — 400 with the
//! failing field's path for a malformed body, 404 for an unknown task or
//! route, 405 for a wrong method, 401 without the token, 409 for a refused
//! state change, 503 when the store fails.

mod error;
pub mod events;
mod tasks;

/// The task helpers the web view shares.
pub(crate) mod tasks_internal {
    pub(crate) use super::tasks::{ListQuery, cancel_task, detail, final_diff, summaries};
}

use axum::Router;
use axum::routing::{get, post};

use crate::daemon::Services;

pub use error::{ApiError, JsonBody, parse_json};
pub use tasks::{EnqueueRequest, TaskDetail, TaskInput, TaskSummary, retry_id};

/// The API routes.
pub fn routes() -> Router<Services> {
    Router::new()
        .route("/api/tasks", post(tasks::enqueue).get(tasks::list))
        .route("/api/tasks/{id}", get(tasks::show))
        .route("/api/tasks/{id}/cancel", post(tasks::cancel))
        .route("/api/tasks/{id}/retry", post(tasks::retry))
        .route("/api/tasks/{id}/transcript", get(tasks::transcript))
        .route("/api/tasks/{id}/diff", get(tasks::diff))
        .route("/api/tasks/{id}/events", get(events::stream))
        .route("/api/metrics", get(crate::metrics::api_route))
}
