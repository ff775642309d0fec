//! Metrics: per task (steps, tokens, cost, wall time, verification attempts,
//! outcome — [`TaskMetrics`], folded from the run log) and per repository and
//! time window (success rate, pull requests opened and merged, merged-PR
//! rate, time to merge, review rounds, cost per merged PR —
//! [`RepoMetrics`], from the store, the run log and the forge's current
//! pull-request state).
//!
//! Served as JSON at `GET /api/metrics?repo=&since=&until=` (`since` and
//! `until`: milliseconds since the Unix epoch, or a age like `24h`, `7d`,
//! `30m`; a task counts in the window it was enqueued in), in the web view,
//! and as Prometheus text at `GET /metrics` ([`render_prometheus`]).

mod prometheus;
mod repo;
mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agentkit_core::task::TaskId;

use crate::runlog::RunLog;

pub use prometheus::{prometheus_route, render_prometheus};
pub use repo::{MetricsQuery, RepoMetrics, Window, api_route, repo_metrics};
pub use task::TaskMetrics;

/// Per-task figures, kept current by folding only the events appended since
/// the last look.
pub struct MetricsCache {
    log: Arc<dyn RunLog>,
    tasks: Mutex<HashMap<TaskId, TaskMetrics>>,
}

impl MetricsCache {
    /// A cache over `log`.
    pub fn new(log: Arc<dyn RunLog>) -> Self {
        Self {
            log,
            tasks: Mutex::new(HashMap::new()),
        }
    }

    /// `task`'s figures as of now (what the log holds; a log that fails to
    /// read leaves the last known figures).
    pub async fn get(&self, task: &TaskId) -> TaskMetrics {
        let mut metrics = self
            .tasks
            .lock()
            .ok()
            .and_then(|tasks| tasks.get(task).cloned())
            .unwrap_or_default();
        loop {
            match self.log.read(task, metrics.last_event_id, 1000).await {
                Ok(page) if !page.is_empty() => metrics.fold(&page),
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(task = %task, error = %err, "metrics: the run log failed");
                    break;
                }
            }
        }
        if let Ok(mut tasks) = self.tasks.lock() {
            let keep = tasks
                .get(task)
                .is_none_or(|known| known.last_event_id <= metrics.last_event_id);
            if keep {
                tasks.insert(task.clone(), metrics.clone());
            }
        }
        metrics
    }
}
