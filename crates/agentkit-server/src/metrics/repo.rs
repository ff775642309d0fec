//! Per-repository figures over a time window.

use std::collections::BTreeMap;

use agentkit_core::event::now_ms;
use agentkit_core::forge::PullRequestState;
use agentkit_core::store::TaskState;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use crate::api::ApiError;
use crate::daemon::Services;

/// `?repo=&since=&until=`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetricsQuery {
    /// Only this repository.
    pub repo: Option<String>,
    /// Tasks enqueued at or after (ms since the epoch, or an age: `24h`, `7d`).
    pub since: Option<String>,
    /// Tasks enqueued before.
    pub until: Option<String>,
}

/// A time window over enqueue times, `[since_ms, until_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Start (inclusive), ms since the Unix epoch.
    pub since_ms: u64,
    /// End (exclusive).
    pub until_ms: u64,
}

impl Window {
    /// Parses `since`/`until` as of `now` (ms).
    pub fn parse(since: Option<&str>, until: Option<&str>, now: u64) -> Result<Self, ApiError> {
        let since_ms = match since.filter(|s| !s.is_empty()) {
            Some(s) => instant("since", s, now)?,
            None => 0,
        };
        let until_ms = match until.filter(|s| !s.is_empty()) {
            Some(s) => instant("until", s, now)?,
            None => u64::MAX,
        };
        Ok(Self { since_ms, until_ms })
    }

    fn contains(&self, at_ms: u64) -> bool {
        self.since_ms <= at_ms && at_ms < self.until_ms
    }
}

fn instant(field: &str, text: &str, now: u64) -> Result<u64, ApiError> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let bad = || {
        ApiError::bad_field(
            field,
            format!(
                "`{text}` is neither milliseconds since the epoch nor an age like 30m, 24h, 7d"
            ),
        )
    };
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    Ok(now.saturating_sub(n.saturating_mul(ms)))
}

/// What a repository's agent delivered in a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RepoMetrics {
    /// The repository.
    pub repo: String,
    /// Tasks enqueued in the window.
    pub tasks: u64,
    /// Of those, in a final state.
    pub finished: u64,
    /// Finished with the ticket resolved.
    pub succeeded: u64,
    /// `succeeded / finished`.
    pub success_rate: Option<f64>,
    /// Pull requests opened.
    pub prs_opened: u64,
    /// Of those, merged (forge state now).
    pub prs_merged: u64,
    /// Of those, closed without merging.
    pub prs_closed: u64,
    /// `prs_merged / prs_opened`.
    pub merged_pr_rate: Option<f64>,
    /// Mean seconds from opening to merging, over merged pull requests.
    pub mean_time_to_merge_secs: Option<f64>,
    /// Mean review rounds per pull request.
    pub mean_review_rounds: Option<f64>,
    /// Model calls over all tasks.
    pub steps: u64,
    /// Tokens over all tasks.
    pub tokens: u64,
    /// Verification runs over all tasks.
    pub verification_attempts: u64,
    /// Dollars over all tasks.
    pub cost_usd: f64,
    /// `cost_usd / prs_merged`.
    pub cost_per_merged_pr_usd: Option<f64>,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Figures per repository (only `repo` when given) for tasks enqueued in `window`.
pub async fn repo_metrics(
    services: &Services,
    repo: Option<&str>,
    window: Window,
) -> Result<Vec<RepoMetrics>, ApiError> {
    let records = services.store.list(None).await.map_err(ApiError::store)?;
    let mut by_repo: BTreeMap<String, RepoMetrics> = BTreeMap::new();
    let mut merge_secs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut rounds: BTreeMap<String, u64> = BTreeMap::new();
    for record in records {
        let url = &record.task.repo.url;
        if repo.is_some_and(|r| r != url) || !window.contains(record.created_at_ms) {
            continue;
        }
        let m = by_repo.entry(url.clone()).or_insert_with(|| RepoMetrics {
            repo: url.clone(),
            ..RepoMetrics::default()
        });
        let task = services.metrics.get(record.id()).await;
        m.tasks += 1;
        m.steps += u64::from(task.steps);
        m.tokens += task.tokens();
        m.verification_attempts += u64::from(task.verification_attempts);
        m.cost_usd += task.cost_usd;
        if record.state.is_terminal() {
            m.finished += 1;
        }
        if record.state == TaskState::Succeeded && record.result.as_ref().is_some_and(|r| r.success)
        {
            m.succeeded += 1;
        }
        let Some(mut pr) = task.pull_request else {
            continue;
        };
        if let Some(pulls) = &services.pulls {
            match pulls.pull_request(url, &pr.id).await {
                Ok(now) => pr = now,
                Err(err) => tracing::warn!(repo = %url, pull_request = %pr.id, error = %err,
                    "metrics: using the pull request as published"),
            }
        }
        m.prs_opened += 1;
        *rounds.entry(url.clone()).or_default() += u64::from(pr.review_rounds);
        match pr.state {
            PullRequestState::Merged => {
                m.prs_merged += 1;
                if let Some(at) = pr.merged_at_ms {
                    merge_secs
                        .entry(url.clone())
                        .or_default()
                        .push(at.saturating_sub(pr.created_at_ms) as f64 / 1000.0);
                }
            }
            PullRequestState::Closed => m.prs_closed += 1,
            PullRequestState::Open => {}
        }
    }
    Ok(by_repo
        .into_values()
        .map(|mut m| {
            m.success_rate = ratio(m.succeeded, m.finished);
            m.merged_pr_rate = ratio(m.prs_merged, m.prs_opened);
            m.mean_review_rounds = ratio(rounds.get(&m.repo).copied().unwrap_or(0), m.prs_opened);
            m.mean_time_to_merge_secs = merge_secs
                .get(&m.repo)
                .filter(|v| !v.is_empty())
                .map(|v| v.iter().sum::<f64>() / v.len() as f64);
            m.cost_per_merged_pr_usd = (m.prs_merged > 0).then(|| m.cost_usd / m.prs_merged as f64);
            m
        })
        .collect())
}

#[derive(Serialize)]
struct Report {
    window: Window,
    repos: Vec<RepoMetrics>,
}

/// `GET /api/metrics`.
pub async fn api_route(
    State(services): State<Services>,
    Query(query): Query<MetricsQuery>,
) -> Result<Json<impl Serialize>, ApiError> {
    let window = Window::parse(query.since.as_deref(), query.until.as_deref(), now_ms())?;
    let repos = repo_metrics(&services, query.repo.as_deref(), window).await?;
    Ok(Json(Report { window, repos }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_take_epoch_milliseconds_or_ages() {
        let now = 10 * 86_400_000;
        assert_eq!(
            Window::parse(Some("1d"), Some("5000"), now).unwrap(),
            Window {
                since_ms: 9 * 86_400_000,
                until_ms: 5000
            }
        );
        assert_eq!(
            Window::parse(None, None, now).unwrap(),
            Window {
                since_ms: 0,
                until_ms: u64::MAX
            }
        );
        assert_eq!(
            Window::parse(Some("7w"), None, now)
                .unwrap_err()
                .field
                .as_deref(),
            Some("since")
        );
    }
}
