//! Compaction: keeping a long run's conversation inside the model's window.
//!
//! The engine decides when and what to compact; the driver does the IO (a
//! `git diff` in the sandbox, a call to the summarising model) and reports
//! back. Like the rest of the engine, nothing here does IO.
//!
//! # When
//!
//! Before every model call ([`super::Phase::Ready`], after the budget checks)
//! the engine estimates the request: system prompt, tool schemas and every
//! message, counted with the model's tokenizer. Counts are cached per message
//! ([`TokenCounter`]): a step counts only the messages added since the last
//! one, never the whole history again. When the estimate exceeds
//! [`CompactionConfig::threshold`] × the window, the run enters
//! [`super::Phase::Compacting`] and [`super::Engine::next_step`] returns
//! [`super::Step::Compact`]. A `ContextLength` error from the model does the
//! same (the estimate was wrong), with a smaller target, and the call is
//! retried once; a second `ContextLength` for the same call ends the run.
//! A run compacts at most once between two model calls.
//!
//! # How
//!
//! The goal is to bring the request under [`CompactionConfig::target`] × the
//! window (room for the run to grow before the next compaction).
//!
//! 1. **Mask old tool outputs**, oldest first, skipping the most recent
//!    [`CompactionConfig::keep_recent_outputs`] (none after a `ContextLength`
//!    error) and outputs shorter than [`CompactionConfig::min_mask_tokens`],
//!    until the estimate is under target. A masked output becomes a one-line
//!    note saying what it was and how to get it again:
//!    `[output of read_file {"path":"src/x.rs"} masked: 4,210 tokens; call the tool again to see it]`.
//!    The call and its (now short) result stay where they were.
//! 2. **Summarise older turns** when masking is not enough: the history is
//!    split before an assistant message (so a call is never separated from
//!    its result, which is in the message right after it); everything between
//!    the first message and the split is rendered as a transcript and sent,
//!    with the task and the previous summary, to the summarising model
//!    (usually a cheaper one; the run's model by default) with
//!    [`prompts::SUMMARIZE`]. The split is the earliest assistant message
//!    whose tail fits the target, keeping at least the last assistant turn.
//!    If the summariser fails, those turns are dropped instead and the
//!    restatement says so: a failing summariser never fails the run.
//! 3. **Restate**: the first message of a compacted history is always a user
//!    message that re-states the task (the original opening, verbatim), the
//!    plan with completed and pending steps, the summary of earlier turns,
//!    the current changes (`git status`, `git diff --stat` and the start of
//!    the diff against the base commit, read by the driver in the sandbox)
//!    and the last failing verification. It replaces the opening (or the
//!    previous restatement); the kept turns follow unchanged.
//!
//! The plan comes from the agent's own plan tool when it has one (calls to a
//! tool named in [`CompactionConfig::plan_tools`], in the shapes of Codex's
//! `update_plan` and Claude's `TodoWrite`), else from the `## Plan` checklist
//! of the latest summary.
//!
//! Invariants after a compaction: every tool call is still answered by
//! exactly one result in the next message; the history starts with a user
//! message holding the task; roles still alternate.

mod ledger;
mod mask;
mod restate;
mod run;
mod task_plan;

pub use ledger::{TokenCounter, message_tokens, request_tokens, tool_tokens};
pub use mask::{MASK_PREFIX, is_masked, mask_note};
pub use restate::prompts;
pub use task_plan::{PlanStep, StepStatus, TaskPlan};

use serde::{Deserialize, Serialize};

use crate::model::ModelRequest;
use crate::usage::{Cost, Usage};

/// When and how a run compacts its conversation. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompactionConfig {
    /// Whether the run compacts at all (a `ContextLength` error then ends it).
    pub enabled: bool,
    /// The model's context window in tokens; `None` takes the model's
    /// (`ModelInfo::context_window`, filled in by the driver). Without a
    /// window only a `ContextLength` error triggers compaction.
    pub window_tokens: Option<u64>,
    /// Compact when a request would exceed this share of the window (0.8).
    pub threshold: f64,
    /// Compact down to this share of the window (0.5).
    pub target: f64,
    /// The most recent tool outputs never masked by a threshold compaction (3).
    pub keep_recent_outputs: usize,
    /// Outputs shorter than this are not worth masking (100 tokens).
    pub min_mask_tokens: usize,
    /// Completion-token cap of the summarising call (2,000).
    pub summary_max_tokens: u64,
    /// Characters of each tool output shown to the summariser (2,000).
    pub summary_output_chars: usize,
    /// Characters of the diff re-stated in a compacted history (4,000).
    pub diff_max_chars: usize,
    /// Tools whose arguments are the agent's plan (`update_plan`, `todo_write`,
    /// `TodoWrite`, `plan`, `todo`).
    pub plan_tools: Vec<String>,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_tokens: None,
            threshold: 0.8,
            target: 0.5,
            keep_recent_outputs: 3,
            min_mask_tokens: 100,
            summary_max_tokens: 2_000,
            summary_output_chars: 2_000,
            diff_max_chars: 4_000,
            plan_tools: ["update_plan", "todo_write", "TodoWrite", "plan", "todo"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl CompactionConfig {
    /// Compaction switched off.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

/// Why a compaction happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompactionTrigger {
    /// The next request would have exceeded the threshold.
    Threshold,
    /// The model refused the request as too long; the call is retried after.
    ContextLength,
}

/// What a compaction will do, decided when it starts (so asking for the
/// step again, or resuming, gives the same job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionPlan {
    /// Why.
    pub trigger: CompactionTrigger,
    /// The estimated request before compaction.
    pub before_tokens: usize,
    /// Tool results to mask, as `(message index, part index)`.
    pub mask: Vec<(usize, usize)>,
    /// Messages `1..split` are summarised (or dropped); 1 keeps them all.
    pub split: usize,
}

/// The git diff the driver reads for the restatement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRequest {
    /// The commit the work started from (`HEAD` when unknown).
    pub base: Option<String>,
    /// Characters of diff to keep.
    pub max_chars: usize,
}

/// What the driver must do for a compaction ([`super::Step::Compact`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionJob {
    /// The decisions taken.
    pub plan: CompactionPlan,
    /// Read the current changes in the sandbox.
    pub diff: DiffRequest,
    /// Call the summarising model with this request, when older turns must go.
    pub summarize: Option<Box<ModelRequest>>,
}

/// What the driver reports back ([`super::Engine::on_compacted`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactionInputs {
    /// The rendered diff, or why it could not be read.
    pub diff: Option<Result<String, String>>,
    /// The summariser's text, or why it failed (`None` when none was asked).
    pub summary: Option<Result<String, String>>,
    /// Tokens the summarising call used (added to the run's usage).
    pub usage: Usage,
    /// What it cost.
    pub cost: Cost,
}

/// What a compaction did, for the `Compacted` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionReport {
    /// Why.
    pub trigger: CompactionTrigger,
    /// The estimated request before.
    pub before_tokens: usize,
    /// The estimated request after.
    pub after_tokens: usize,
    /// Tool outputs masked.
    pub masked: usize,
    /// Messages replaced by the summary.
    pub summarised: usize,
    /// Messages dropped without a summary (the summariser failed).
    pub dropped: usize,
    /// Why the summariser failed, when it did.
    pub summary_error: Option<String>,
}

impl std::fmt::Display for CompactionReport {
    /// `context compacted (threshold): 161,204 → 58,310 tokens; 14 outputs masked, 22 messages summarised`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let trigger = match self.trigger {
            CompactionTrigger::Threshold => "near the window",
            CompactionTrigger::ContextLength => "after a context-length error",
        };
        write!(
            f,
            "context compacted ({trigger}): {} → {} tokens; {} outputs masked, {} messages summarised",
            mask::thousands(self.before_tokens),
            mask::thousands(self.after_tokens),
            self.masked,
            self.summarised
        )?;
        if self.dropped > 0 {
            write!(f, ", {} dropped", self.dropped)?;
        }
        if let Some(error) = &self.summary_error {
            write!(f, " ({error})")?;
        }
        Ok(())
    }
}

/// What compaction remembers across the run (part of [`super::RunState`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompactionState {
    /// Compactions so far.
    pub count: u32,
    /// The run's opening message, kept once the history no longer starts with it.
    pub task_statement: Option<String>,
    /// The latest summary of earlier turns.
    pub summary: Option<String>,
    /// The agent's plan, when one is known.
    pub plan: Option<TaskPlan>,
    /// Earlier messages dropped without a summary, over the run.
    pub dropped: usize,
    /// Compacted since the last model call (no second compaction before it).
    pub since_call: bool,
    /// A `ContextLength` error is being retried after compaction.
    pub retrying: bool,
}
