//! The report: one [`TaskResult`] per task, as JSON and as a Markdown table.

use std::fmt::Write as _;
use std::time::Duration;

use agentkit_core::outcome::StopReason;
use agentkit_core::usage::{Cost, Usage};
use serde::{Deserialize, Serialize};

use super::grade::Grade;

/// Where a task that could not be evaluated failed. Errors are the task's
/// (or the machine's), never the agent's: they are not counted as unresolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorStage {
    /// Fetching or building the repository.
    Source,
    /// Creating the agent's sandbox (clone, setup script).
    Setup,
    /// Taking the agent's diff out of its sandbox.
    Diff,
    /// Creating the grading sandbox or running the grading.
    Grading,
}

/// How a task ended for the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TaskStatus {
    /// Every FAIL_TO_PASS and PASS_TO_PASS test passed.
    Resolved,
    /// Graded, not resolved.
    Unresolved,
    /// Could not be evaluated; not counted against the agent.
    Error {
        /// Where.
        stage: ErrorStage,
        /// What happened.
        message: String,
    },
}

/// One task's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task id.
    pub task_id: String,
    /// How it ended.
    pub status: TaskStatus,
    /// The base commit the agent started from.
    pub base_commit: Option<String>,
    /// Model calls the agent made.
    pub steps: u32,
    /// Tokens the agent used.
    pub usage: Usage,
    /// What the agent spent.
    pub cost: Cost,
    /// The agent's wall time.
    pub agent_time: Duration,
    /// The task's wall time, setup and grading included.
    pub wall_time: Duration,
    /// Why the agent stopped.
    pub stop_reason: Option<StopReason>,
    /// Completion-contract violations, when the agent reports them.
    pub contract_violations: Option<u32>,
    /// The agent's diff against the base commit.
    pub diff: String,
    /// The grading, when it ran.
    pub grade: Option<Grade>,
}

impl TaskResult {
    /// Whether the task was resolved.
    pub fn resolved(&self) -> bool {
        self.status == TaskStatus::Resolved
    }

    /// Whether the task could not be evaluated.
    pub fn is_error(&self) -> bool {
        matches!(self.status, TaskStatus::Error { .. })
    }
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The agent's name.
    pub agent: String,
    /// Per task, in task order.
    pub tasks: Vec<TaskResult>,
    /// Wall time of the whole run.
    pub wall_time: Duration,
}

impl Report {
    /// Tasks resolved.
    pub fn resolved(&self) -> usize {
        self.tasks.iter().filter(|t| t.resolved()).count()
    }

    /// Tasks that could not be evaluated.
    pub fn errors(&self) -> usize {
        self.tasks.iter().filter(|t| t.is_error()).count()
    }

    /// Tasks graded (resolved or not).
    pub fn graded(&self) -> usize {
        self.tasks.len() - self.errors()
    }

    /// Tokens over all tasks.
    pub fn usage(&self) -> Usage {
        self.tasks
            .iter()
            .fold(Usage::default(), |acc, t| acc + t.usage)
    }

    /// Cost over all tasks.
    pub fn cost(&self) -> Cost {
        self.tasks
            .iter()
            .fold(Cost::default(), |acc, t| acc + t.cost)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"))
    }

    /// The report as Markdown: a summary line and one row per task.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "**{}**: resolved {}/{} graded ({} errors), {} tokens, {}, {:.1}s\n",
            self.agent,
            self.resolved(),
            self.graded(),
            self.errors(),
            self.usage().total(),
            self.cost(),
            self.wall_time.as_secs_f64()
        );
        out.push_str("| task | resolved | steps | tokens | cost | wall time | stop reason | contract violations |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for t in &self.tasks {
            let resolved = match &t.status {
                TaskStatus::Resolved => "✅ yes".to_string(),
                TaskStatus::Unresolved => "❌ no".to_string(),
                TaskStatus::Error { stage, message } => {
                    format!("⚠️ error ({stage:?}): {}", cell(message, 80))
                }
            };
            let stop = t
                .stop_reason
                .as_ref()
                .map_or_else(|| "–".to_string(), |s| cell(&s.to_string(), 60));
            let violations = t
                .contract_violations
                .map_or_else(|| "–".into(), |v| v.to_string());
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.1}s | {} | {} |",
                t.task_id,
                resolved,
                t.steps,
                t.usage.total(),
                t.cost,
                t.wall_time.as_secs_f64(),
                stop,
                violations
            );
        }
        out
    }
}

/// Text fit for one table cell: one line, no pipes, at most `max` characters.
fn cell(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\r' => ' ',
            '|' => '/',
            c => c,
        })
        .collect();
    if one_line.chars().count() > max {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}
