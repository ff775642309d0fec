//! Per-task figures, folded from a task's run log.

use agentkit_core::event::Event;
use agentkit_core::forge::PullRequest;
use agentkit_core::verify::Verification;
use serde::Serialize;

use crate::runlog::LoggedEvent;

/// What one task's runs did, over every attempt: folded event by event from
/// its [`RunLog`](crate::runlog::RunLog), so it can be kept up to date
/// incrementally ([`TaskMetrics::fold`] only the events after
/// [`last_event_id`](Self::last_event_id)).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskMetrics {
    /// Model calls made (every attempt).
    pub steps: u32,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Dollars spent.
    pub cost_usd: f64,
    /// Tool calls made.
    pub tool_calls: u32,
    /// Verification runs.
    pub verification_attempts: u32,
    /// The last verification, if one ran.
    pub verification: Option<Verification>,
    /// Wall time of the runs in milliseconds (first event to last).
    pub wall_ms: u64,
    /// When the first event was emitted (ms since the Unix epoch).
    pub started_at_ms: Option<u64>,
    /// When the last event was emitted.
    pub last_event_at_ms: Option<u64>,
    /// How the last finished run ended (`finished`, `max_steps`, …).
    pub outcome: Option<String>,
    /// The stop reason of the last finished run, for humans.
    pub outcome_detail: Option<String>,
    /// Whether the last finished run achieved its goal.
    pub success: Option<bool>,
    /// The pull request the runs published, as of publishing.
    pub pull_request: Option<PullRequest>,
    /// Runs started (attempts that got as far as the model).
    pub runs: u32,
    /// The id of the last event folded in.
    pub last_event_id: u64,
}

impl TaskMetrics {
    /// Folds `events` (in id order, all after `last_event_id`) into the figures.
    pub fn fold(&mut self, events: &[LoggedEvent]) {
        for logged in events {
            if logged.id <= self.last_event_id {
                continue;
            }
            self.last_event_id = logged.id;
            let at = logged.record.at_ms;
            let start = *self.started_at_ms.get_or_insert(at);
            self.last_event_at_ms = Some(at);
            self.wall_ms = at.saturating_sub(start);
            match &logged.record.event {
                Event::RunStarted { .. } => self.runs += 1,
                Event::ModelCallFinished { usage, cost, .. } => {
                    self.steps += 1;
                    self.input_tokens += usage.input_tokens;
                    self.output_tokens += usage.output_tokens;
                    self.cost_usd += cost.usd;
                }
                Event::ToolCallStarted { .. } => self.tool_calls += 1,
                Event::VerificationFinished { verification, .. } => {
                    self.verification_attempts += 1;
                    self.verification = Some(verification.clone());
                }
                Event::Published { pull_request } => {
                    self.pull_request = Some(pull_request.clone());
                }
                Event::RunFinished { outcome } => {
                    let json = serde_json::to_value(&outcome.stop_reason).ok();
                    self.outcome = json
                        .as_ref()
                        .and_then(|v| v.get("stop"))
                        .and_then(|v| v.as_str())
                        .map(str::to_string);
                    self.outcome_detail = Some(outcome.stop_reason.to_string());
                    self.success = Some(outcome.stop_reason.is_success());
                    if let Some(pr) = &outcome.pull_request {
                        self.pull_request = Some(pr.clone());
                    }
                }
                _ => {}
            }
        }
    }

    /// Input plus output tokens.
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}
