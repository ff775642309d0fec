//! Task routes: enqueue, list, show, cancel, retry, transcript, diff.

use std::sync::atomic::{AtomicU64, Ordering};

use agentkit_core::event::now_ms;
use agentkit_core::forge::PullRequest;
use agentkit_core::store::{NewTask, TaskRecord, TaskState};
use agentkit_core::task::{RepoRef, Task, TaskId, TaskSource};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{ApiError, JsonBody};
use crate::daemon::Services;
use crate::metrics::TaskMetrics;

/// `POST /api/tasks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnqueueRequest {
    /// The ticket.
    pub task: TaskInput,
    /// Deduplicates enqueues (default: the task id). Enqueueing an existing
    /// key or id again returns the stored task with 200 and changes nothing.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Higher runs first (default 0).
    #[serde(default)]
    pub priority: i32,
    /// Leases the task gets in total (default: the config's `workers.max_attempts`).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Not run before this time (ms since the Unix epoch).
    #[serde(default)]
    pub run_at_ms: Option<u64>,
}

/// The ticket in an [`EnqueueRequest`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    /// The task id (default: generated). The pull-request branch derives from it.
    #[serde(default)]
    pub id: Option<String>,
    /// One line; the pull request's title.
    pub title: String,
    /// The ticket text.
    #[serde(default)]
    pub body: String,
    /// The repository (a local path for the local forge; default: the daemon's default repository).
    #[serde(default)]
    pub repo: Option<String>,
    /// The branch to start from and target (default: the repository's default branch).
    #[serde(default)]
    pub base: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Where the ticket came from (default: `{"kind": "cli"}`).
    #[serde(default)]
    pub source: Option<TaskSource>,
}

/// A task in a list.
#[derive(Debug, Clone, Serialize)]
pub struct TaskSummary {
    /// The id.
    pub id: TaskId,
    /// The title.
    pub title: String,
    /// The repository.
    pub repo: String,
    /// Where it is in its life.
    pub state: TaskState,
    /// Leases taken.
    pub attempts: u32,
    /// Model calls made.
    pub steps: u32,
    /// Dollars spent.
    pub cost_usd: f64,
    /// Wall time of its runs (ms).
    pub duration_ms: u64,
    /// The pull request's link, once published.
    pub pull_request_url: Option<String>,
    /// How the last run ended.
    pub outcome: Option<String>,
    /// Enqueued at (ms since the Unix epoch).
    pub created_at_ms: u64,
}

/// Everything about a task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDetail {
    /// The ticket.
    pub task: Task,
    /// Where it is in its life.
    pub state: TaskState,
    /// Whether a session of this process runs it now.
    pub running: bool,
    /// Higher runs first.
    pub priority: i32,
    /// The idempotency key.
    pub idempotency_key: String,
    /// Leases taken.
    pub attempts: u32,
    /// Leases allowed.
    pub max_attempts: u32,
    /// The last failed attempt's error.
    pub last_error: Option<String>,
    /// The recorded result's summary.
    pub summary: Option<String>,
    /// Whether the agent resolved the ticket (once succeeded).
    pub success: Option<bool>,
    /// The pull request, as the forge reports it now (or as published).
    pub pull_request: Option<PullRequest>,
    /// Steps, tokens, cost, wall time, verification.
    pub metrics: TaskMetrics,
    /// Enqueued at.
    pub created_at_ms: u64,
    /// Last changed at.
    pub updated_at_ms: u64,
}

static GENERATED: AtomicU64 = AtomicU64::new(0);

fn generated_id() -> String {
    let n = GENERATED.fetch_add(1, Ordering::Relaxed);
    format!("task-{:x}-{n}", now_ms())
}

fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.trim().is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return Err(ApiError::bad_field(
            field,
            "must be 1 to 200 characters without control characters",
        ));
    }
    Ok(())
}

impl EnqueueRequest {
    /// The store entry this request asks for, checked against `services`.
    pub fn into_new_task(self, services: &Services) -> Result<NewTask, ApiError> {
        let input = self.task;
        let id = input.id.unwrap_or_else(generated_id);
        check_id("task.id", &id)?;
        if input.title.trim().is_empty() {
            return Err(ApiError::bad_field("task.title", "must not be empty"));
        }
        let repo = input
            .repo
            .or_else(|| services.default_repo.clone())
            .ok_or_else(|| {
                ApiError::bad_field(
                    "task.repo",
                    "missing, and agentd has no default repository: name the repository",
                )
            })?;
        if !(services.repo_allowed)(&repo) {
            return Err(ApiError::bad_field(
                "task.repo",
                format!("`{repo}` is not a repository agentd serves (see forge.repos)"),
            ));
        }
        let mut repo_ref = RepoRef::new(repo);
        repo_ref.base = input.base;
        let mut task = Task::new(id, input.title, input.body, repo_ref);
        task.labels = input.labels;
        task.source = input.source.unwrap_or_default();
        let mut new = NewTask::new(task)
            .priority(self.priority)
            .max_attempts(self.max_attempts.unwrap_or(services.max_attempts));
        if let Some(key) = self.idempotency_key {
            check_id("idempotency_key", &key)?;
            new = new.idempotency_key(key);
        }
        if let Some(at) = self.run_at_ms {
            new = new.run_at_ms(at);
        }
        Ok(new)
    }
}

#[derive(Serialize)]
struct Enqueued {
    id: TaskId,
    created: bool,
}

pub(super) async fn enqueue(
    State(services): State<Services>,
    JsonBody(request): JsonBody<EnqueueRequest>,
) -> Result<Response, ApiError> {
    let new = request.into_new_task(&services)?;
    let done = services.store.enqueue(new).await.map_err(ApiError::store)?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/tasks/{}", crate::web::url_encode(&done.id.0));
    let body = Enqueued {
        id: done.id,
        created: done.created,
    };
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

/// `?state=&repo=` of the list route.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    pub(crate) state: Option<String>,
    pub(crate) repo: Option<String>,
}

/// The tasks matching `query`, newest first, with their figures.
pub(crate) async fn summaries(
    services: &Services,
    query: &ListQuery,
) -> Result<Vec<TaskSummary>, ApiError> {
    let state = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<TaskState>(serde_json::Value::String(s.into())).map_err(
                |_| {
                    ApiError::bad_field(
                        "state",
                        format!(
                            "`{s}` is not a state: queued, leased, succeeded, failed or cancelled"
                        ),
                    )
                },
            )?,
        ),
    };
    let mut records = services.store.list(state).await.map_err(ApiError::store)?;
    if let Some(repo) = query.repo.as_deref().filter(|r| !r.is_empty()) {
        records.retain(|r| r.task.repo.url == repo);
    }
    records.reverse();
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let metrics = services.metrics.get(record.id()).await;
        out.push(TaskSummary {
            id: record.task.id.clone(),
            title: record.task.title.clone(),
            repo: record.task.repo.url.clone(),
            state: record.state,
            attempts: record.attempts,
            steps: metrics.steps,
            cost_usd: metrics.cost_usd,
            duration_ms: metrics.wall_ms,
            pull_request_url: metrics
                .pull_request
                .as_ref()
                .map(|p| p.url.clone())
                .or_else(|| record.result.as_ref()?.pull_request_url.clone()),
            outcome: metrics.outcome.clone(),
            created_at_ms: record.created_at_ms,
        });
    }
    Ok(out)
}

pub(super) async fn list(
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<TaskSummary>>, ApiError> {
    summaries(&services, &query).await.map(Json)
}

/// The stored record of `id`, or 404.
pub(crate) async fn record(services: &Services, id: &str) -> Result<TaskRecord, ApiError> {
    services
        .store
        .get(&TaskId(id.to_string()))
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::no_task(id))
}

/// Everything about `id`.
pub(crate) async fn detail(services: &Services, id: &str) -> Result<TaskDetail, ApiError> {
    let record = record(services, id).await?;
    let metrics = services.metrics.get(record.id()).await;
    let mut pull_request = metrics.pull_request.clone();
    if let (Some(pulls), Some(pr)) = (&services.pulls, &pull_request)
        && let Ok(now) = pulls.pull_request(&record.task.repo.url, &pr.id).await
    {
        pull_request = Some(now);
    }
    let running = services.workers.running().contains(record.id());
    Ok(TaskDetail {
        running,
        state: record.state,
        priority: record.priority,
        idempotency_key: record.idempotency_key,
        attempts: record.attempts,
        max_attempts: record.max_attempts,
        last_error: record.last_error,
        summary: record.result.as_ref().map(|r| r.summary.clone()),
        success: record.result.as_ref().map(|r| r.success),
        pull_request,
        metrics,
        created_at_ms: record.created_at_ms,
        updated_at_ms: record.updated_at_ms,
        task: record.task,
    })
}

pub(super) async fn show(
    State(services): State<Services>,
    Path(id): Path<String>,
) -> Result<Json<TaskDetail>, ApiError> {
    detail(&services, &id).await.map(Json)
}

#[derive(Serialize)]
struct StateReply {
    id: TaskId,
    state: TaskState,
}

/// Cancels `id` (through the workers, so a running session stops).
pub(crate) async fn cancel_task(services: &Services, id: &str) -> Result<TaskState, ApiError> {
    let record = record(services, id).await?;
    services
        .workers
        .cancel(record.id())
        .await
        .map_err(ApiError::store)?;
    Ok(TaskState::Cancelled)
}

pub(super) async fn cancel(
    State(services): State<Services>,
    Path(id): Path<String>,
) -> Result<Json<impl Serialize>, ApiError> {
    let state = cancel_task(&services, &id).await?;
    Ok(Json(StateReply {
        id: TaskId(id),
        state,
    }))
}

/// The id of retry number `n` of `id`: `<root>.retry-<n>`, where `<root>` is
/// `id` without an earlier `.retry-<m>` suffix.
pub fn retry_id(id: &str, n: u32) -> String {
    let root = match id.rsplit_once(".retry-") {
        Some((root, m)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => root,
        _ => id,
    };
    format!("{root}.retry-{n}")
}

#[derive(Serialize)]
struct Retried {
    id: TaskId,
    retry_of: TaskId,
}

/// Retrying: a failed or cancelled task is enqueued again under a new id,
/// `<root>.retry-<n>` with the first free `n` (a new id because finished
/// entries are final, and because the new run gets its own branch and pull
/// request). The ticket, priority and attempt budget are copied.
pub(super) async fn retry(
    State(services): State<Services>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<impl Serialize>), ApiError> {
    let record = record(&services, &id).await?;
    if !matches!(record.state, TaskState::Failed | TaskState::Cancelled) {
        return Err(ApiError::conflict(format!(
            "task `{id}` is {}; only failed or cancelled tasks can be retried",
            record.state
        )));
    }
    for n in 1..=1000 {
        let mut task = record.task.clone();
        task.id = TaskId(retry_id(&id, n));
        let new = NewTask::new(task)
            .priority(record.priority)
            .max_attempts(record.max_attempts);
        let done = services.store.enqueue(new).await.map_err(ApiError::store)?;
        if done.created {
            let body = Retried {
                id: done.id,
                retry_of: record.task.id,
            };
            return Ok((StatusCode::CREATED, Json(body)));
        }
    }
    Err(ApiError::conflict(format!(
        "task `{id}` was retried 1000 times already"
    )))
}

/// Events are read from the log in pages of this many.
pub(crate) const PAGE: usize = 500;

pub(super) async fn transcript(
    State(services): State<Services>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = record(&services, &id).await?;
    let mut out = String::new();
    let mut after = 0;
    loop {
        let page = services
            .log
            .read(record.id(), after, PAGE)
            .await
            .map_err(ApiError::store)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for event in &page {
            let line = serde_json::to_string(event).map_err(|err| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("could not encode event {}: {err}", event.id),
                )
            })?;
            out.push_str(&services.redactor.redact(&line));
            out.push('\n');
        }
    }
    let disposition = format!("attachment; filename=\"{}.jsonl\"", record.task.id.slug());
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        out,
    )
        .into_response())
}

/// The final diff of `id`'s pull request, or `None` when it has none.
pub(crate) async fn final_diff(services: &Services, id: &str) -> Result<Option<String>, ApiError> {
    let detail = detail(services, id).await?;
    let (Some(pulls), Some(pr)) = (&services.pulls, &detail.pull_request) else {
        return Ok(None);
    };
    pulls
        .diff(&detail.task.repo.url, pr)
        .await
        .map(Some)
        .map_err(|err| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "forge_error",
                format!("could not read the diff: {err}"),
            )
        })
}

pub(super) async fn diff(
    State(services): State<Services>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match final_diff(&services, &id).await? {
        Some(diff) => Ok((
            [(header::CONTENT_TYPE, "text/x-diff; charset=utf-8")],
            services.redactor.redact(&diff).into_owned(),
        )
            .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("task `{id}` has no pull request yet"),
        )),
    }
}
