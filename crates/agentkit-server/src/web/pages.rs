//! The pages: the task list and one task.

use std::fmt::Write;

use agentkit_core::event::now_ms;
use agentkit_core::store::TaskState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{cross_site, escape, layout, url_encode};
use crate::api::ApiError;
use crate::api::tasks_internal::{ListQuery, cancel_task, detail, final_diff, summaries};
use crate::daemon::Services;
use crate::metrics::{Window, repo_metrics};

fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{}.{}s", secs, (ms % 1000) / 100),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// A link when `url` is http(s), else the escaped text (local forge records are paths).
fn pr_link(url: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        format!("<a href=\"{0}\" rel=\"noreferrer\">{0}</a>", escape(url))
    } else {
        format!("<code>{}</code>", escape(url))
    }
}

fn state_badge(state: TaskState) -> String {
    format!("<span class=\"state state-{state}\">{state}</span>")
}

fn error_page(err: ApiError) -> Response {
    let status = err.status;
    let body = layout(
        "Error",
        &format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/\">All tasks</a></p>",
            status.as_u16(),
            escape(&err.message)
        ),
    );
    (status, body).into_response()
}

pub(super) async fn index(
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> Response {
    let tasks = match summaries(&services, &query).await {
        Ok(tasks) => tasks,
        Err(err) => return error_page(err),
    };
    let mut body = String::from("<h1>Tasks</h1>");
    if tasks.is_empty() {
        body.push_str(
            "<p class=\"empty\">No tasks yet. Enqueue one with <code>agentd enqueue-demo</code> \
             or <code>POST /api/tasks</code>.</p>",
        );
    } else {
        body.push_str(
            "<table class=\"tasks\"><thead><tr><th>Task</th><th>Repository</th><th>State</th>\
             <th>Steps</th><th>Duration</th><th>Cost</th><th>Pull request</th></tr></thead><tbody>",
        );
        for t in &tasks {
            let _ = write!(
                body,
                "<tr><td><a href=\"/tasks/{}\">{}</a><div class=\"sub\">{}</div></td><td><code>{}</code></td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>${:.4}</td><td>{}</td></tr>",
                url_encode(&t.id.0),
                escape(&t.title),
                escape(&t.id.0),
                escape(&t.repo),
                state_badge(t.state),
                t.steps,
                duration(t.duration_ms),
                t.cost_usd,
                t.pull_request_url
                    .as_deref()
                    .map(pr_link)
                    .unwrap_or_default(),
            );
        }
        body.push_str("</tbody></table>");
    }
    let window = Window {
        since_ms: now_ms().saturating_sub(30 * 86_400_000),
        until_ms: u64::MAX,
    };
    if let Ok(repos) = repo_metrics(&services, None, window).await
        && !repos.is_empty()
    {
        body.push_str(
            "<h2>Repositories, last 30 days</h2><table class=\"metrics\"><thead><tr><th>Repository</th>\
             <th>Tasks</th><th>Success rate</th><th>PRs opened</th><th>PRs merged</th>\
             <th>Time to merge</th><th>Review rounds</th><th>Cost per merged PR</th></tr></thead><tbody>",
        );
        let pct = |r: Option<f64>| r.map_or("–".into(), |r| format!("{:.0}%", r * 100.0));
        for m in repos {
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&m.repo),
                m.tasks,
                pct(m.success_rate),
                m.prs_opened,
                m.prs_merged,
                m.mean_time_to_merge_secs
                    .map_or("–".into(), |s| duration((s * 1000.0) as u64)),
                m.mean_review_rounds
                    .map_or("–".into(), |r| format!("{r:.1}")),
                m.cost_per_merged_pr_usd
                    .map_or("–".into(), |c| format!("${c:.4}")),
            );
        }
        body.push_str("</tbody></table>");
    }
    let mut page = layout("Tasks", &body);
    // Refresh the list while something is in flight.
    if tasks
        .iter()
        .any(|t| matches!(t.state, TaskState::Queued | TaskState::Leased))
    {
        page.0 = page.0.replacen(
            "<head>",
            "<head><meta http-equiv=\"refresh\" content=\"5\">",
            1,
        );
    }
    page.into_response()
}

pub(super) async fn task(State(services): State<Services>, Path(id): Path<String>) -> Response {
    let detail = match detail(&services, &id).await {
        Ok(detail) => detail,
        Err(err) => return error_page(err),
    };
    let m = &detail.metrics;
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{}</h1><p class=\"sub\"><code>{}</code> · <code>{}</code></p>\
         <dl class=\"facts\"><dt>State</dt><dd id=\"task-state\">{}</dd>\
         <dt>Attempts</dt><dd>{} of {}</dd><dt>Steps</dt><dd>{}</dd>\
         <dt>Tokens</dt><dd>{} in / {} out</dd><dt>Cost</dt><dd>${:.4}</dd>\
         <dt>Duration</dt><dd>{}</dd><dt>Outcome</dt><dd>{}</dd>",
        escape(&detail.task.title),
        escape(&detail.task.id.0),
        escape(&detail.task.repo.url),
        state_badge(detail.state),
        detail.attempts,
        detail.max_attempts,
        m.steps,
        m.input_tokens,
        m.output_tokens,
        m.cost_usd,
        duration(m.wall_ms),
        escape(m.outcome_detail.as_deref().unwrap_or("–")),
    );
    if let Some(pr) = &detail.pull_request {
        let _ = write!(
            body,
            "<dt>Pull request</dt><dd>#{} {} ({:?})</dd>",
            escape(&pr.id),
            pr_link(&pr.url),
            pr.state
        );
    }
    if let Some(error) = &detail.last_error {
        let _ = write!(
            body,
            "<dt>Last error</dt><dd class=\"error\">{}</dd>",
            escape(error)
        );
    }
    body.push_str("</dl>");
    if !detail.state.is_terminal() {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/tasks/{}/cancel\" class=\"cancel\">\
             <button type=\"submit\">Cancel task</button></form>",
            url_encode(&detail.task.id.0)
        );
    }
    let _ = write!(
        body,
        "<details class=\"ticket\"><summary>Ticket</summary><pre>{}</pre></details>",
        escape(&detail.task.body)
    );
    if let Some(verification) = &m.verification {
        let _ = write!(
            body,
            "<h2>Verification ({} run{}): {}</h2><ul class=\"checks\">",
            m.verification_attempts,
            if m.verification_attempts == 1 {
                ""
            } else {
                "s"
            },
            if verification.passed {
                "passed"
            } else {
                "failed"
            }
        );
        for check in &verification.checks {
            let _ = write!(
                body,
                "<li class=\"{}\"><strong>{}</strong> <code>{}</code> — {}<pre>{}</pre></li>",
                if check.passed { "pass" } else { "fail" },
                escape(&check.name),
                escape(&check.command),
                escape(&check.status),
                escape(&check.output)
            );
        }
        body.push_str("</ul>");
    }
    if let Ok(Some(diff)) = final_diff(&services, &id).await {
        let _ = write!(
            body,
            "<h2>Final diff</h2><pre class=\"diff\" id=\"final-diff\">{}</pre>",
            escape(&services.redactor.redact(&diff))
        );
    }
    let _ = write!(
        body,
        "<h2>Transcript <span id=\"live-status\" class=\"live\">connecting…</span></h2>\
         <ol id=\"transcript\" data-task=\"{}\"></ol>",
        escape(&detail.task.id.0)
    );
    layout(&detail.task.title, &body).into_response()
}

pub(super) async fn cancel(
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if cross_site(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site form posts are refused").into_response();
    }
    match cancel_task(&services, &id).await {
        Ok(_) => Redirect::to(&format!("/tasks/{}", url_encode(&id))).into_response(),
        Err(err) => error_page(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links_are_links() {
        assert_eq!(
            pr_link("javascript:alert(1)"),
            "<code>javascript:alert(1)</code>"
        );
        assert_eq!(
            pr_link("https://x.test/1?a=\"b"),
            "<a href=\"https://x.test/1?a=&quot;b\" rel=\"noreferrer\">https://x.test/1?a=&quot;b</a>"
        );
        assert_eq!(duration(61_000), "1m01s");
    }
}
