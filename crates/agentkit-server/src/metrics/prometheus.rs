//! `GET /metrics`: the figures in the Prometheus text exposition format
//! (version 0.0.4). Repository figures cover all time; Prometheus computes
//! windows itself (`increase(agentd_repo_pull_requests_merged_total[7d])`).

use std::fmt::Write;

use agentkit_core::store::TaskState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::repo::{RepoMetrics, Window, repo_metrics};
use crate::api::ApiError;
use crate::daemon::Services;

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub async fn prometheus_route(
    State(services): State<Services>,
) -> Result<impl IntoResponse, ApiError> {
    let records = services.store.list(None).await.map_err(ApiError::store)?;
    let mut states = [0u64; 5];
    for record in &records {
        states[state_index(record.state)] += 1;
    }
    let window = Window {
        since_ms: 0,
        until_ms: u64::MAX,
    };
    let repos = repo_metrics(&services, None, window).await?;
    let running = services.workers.running().len();
    Ok((
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        render_prometheus(&states, running, &repos),
    ))
}

const STATES: [TaskState; 5] = [
    TaskState::Queued,
    TaskState::Leased,
    TaskState::Succeeded,
    TaskState::Failed,
    TaskState::Cancelled,
];

fn state_index(state: TaskState) -> usize {
    STATES.iter().position(|s| *s == state).unwrap_or(0)
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

type Figure = fn(&RepoMetrics) -> Option<f64>;

/// Renders the exposition: task counts by state (`states` in the order
/// queued, leased, succeeded, failed, cancelled), running sessions, and one
/// series per repository for each repository figure.
pub fn render_prometheus(states: &[u64; 5], running: usize, repos: &[RepoMetrics]) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "agentd_tasks",
        "gauge",
        "Tasks in the store, by state.",
    );
    for (state, count) in STATES.iter().zip(states) {
        let _ = writeln!(out, "agentd_tasks{{state=\"{state}\"}} {count}");
    }
    family(
        &mut out,
        "agentd_sessions_running",
        "gauge",
        "Sessions running in this agentd process.",
    );
    let _ = writeln!(out, "agentd_sessions_running {running}");
    let figures: [(&str, &str, &str, Figure); 13] = [
        (
            "agentd_repo_tasks_total",
            "counter",
            "Tasks enqueued.",
            |m| Some(m.tasks as f64),
        ),
        (
            "agentd_repo_tasks_finished_total",
            "counter",
            "Tasks in a final state.",
            |m| Some(m.finished as f64),
        ),
        (
            "agentd_repo_tasks_succeeded_total",
            "counter",
            "Tasks finished with the ticket resolved.",
            |m| Some(m.succeeded as f64),
        ),
        (
            "agentd_repo_success_ratio",
            "gauge",
            "Succeeded over finished tasks.",
            |m| m.success_rate,
        ),
        (
            "agentd_repo_pull_requests_opened_total",
            "counter",
            "Pull requests opened.",
            |m| Some(m.prs_opened as f64),
        ),
        (
            "agentd_repo_pull_requests_merged_total",
            "counter",
            "Pull requests merged.",
            |m| Some(m.prs_merged as f64),
        ),
        (
            "agentd_repo_merged_pull_request_ratio",
            "gauge",
            "Merged over opened pull requests.",
            |m| m.merged_pr_rate,
        ),
        (
            "agentd_repo_time_to_merge_seconds_mean",
            "gauge",
            "Mean time from opening to merging a pull request.",
            |m| m.mean_time_to_merge_secs,
        ),
        (
            "agentd_repo_review_rounds_mean",
            "gauge",
            "Mean review rounds per pull request.",
            |m| m.mean_review_rounds,
        ),
        (
            "agentd_repo_cost_usd_total",
            "counter",
            "Model spend in dollars.",
            |m| Some(m.cost_usd),
        ),
        (
            "agentd_repo_cost_per_merged_pull_request_usd",
            "gauge",
            "Model spend per merged pull request.",
            |m| m.cost_per_merged_pr_usd,
        ),
        ("agentd_repo_steps_total", "counter", "Model calls.", |m| {
            Some(m.steps as f64)
        }),
        (
            "agentd_repo_tokens_total",
            "counter",
            "Input and output tokens.",
            |m| Some(m.tokens as f64),
        ),
    ];
    for (name, kind, help, figure) in figures {
        family(&mut out, name, kind, help);
        for repo in repos {
            if let Some(value) = figure(repo) {
                let _ = writeln!(out, "{name}{{repo=\"{}\"}} {value}", label(&repo.repo));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
