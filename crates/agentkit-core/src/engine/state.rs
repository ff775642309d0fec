//! The serializable state of a run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::forge::PullRequest;
use crate::message::{Message, ToolCall, ToolResult};
use crate::outcome::StopReason;
use crate::task::Task;
use crate::usage::{Cost, Usage};
use crate::verify::Verification;

/// Where the run is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// About to call the model (after budget checks).
    Ready,
    /// A model call is in flight.
    AwaitingModel,
    /// Tool calls are in flight; `results[i]` answers `calls[i]`.
    AwaitingTools {
        /// The calls of the last reply.
        calls: Vec<ToolCall>,
        /// Their results so far.
        results: Vec<Option<ToolResult>>,
    },
    /// The conversation is being compacted before the next model call.
    Compacting {
        /// What the compaction does.
        plan: super::compaction::CompactionPlan,
    },
    /// The agent finished; verification is due.
    Verifying {
        /// The agent's summary.
        summary: String,
    },
    /// Verification passed; publishing is due.
    Publishing {
        /// The agent's summary.
        summary: String,
    },
    /// The run is over.
    Done(StopReason),
}

/// A control decision taken by a tool result, applied when the turn closes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "control", rename_all = "snake_case")]
pub(crate) enum Control {
    Finish { summary: String },
    NeedsHuman { question: String },
    Stop(StopReason),
}

/// Everything needed to continue a run in another process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The task.
    pub task: Task,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Rendered context appended to the system prompt.
    pub context: Option<String>,
    /// Model calls made.
    pub steps: u32,
    /// Tokens used.
    pub usage: Usage,
    /// Money spent.
    pub cost: Cost,
    /// Wall time spent so far, across resumes.
    pub elapsed: Duration,
    /// Where the run is.
    pub phase: Phase,
    /// Replies in a row without a tool call.
    pub replies_without_tools: u32,
    /// Verifications run.
    pub verify_attempts: u32,
    /// The last verification.
    pub last_verification: Option<Verification>,
    /// The commit the work started from.
    pub base_commit: Option<String>,
    /// The branch the work started from.
    pub base_branch: Option<String>,
    /// The published pull request.
    pub pull_request: Option<PullRequest>,
    /// Completion-contract violations sent back to the model so far.
    #[serde(default)]
    pub contract_rounds: u32,
    #[serde(default)]
    pub(crate) finish: Option<Control>,
    /// What compaction remembers (task statement, summary, plan).
    #[serde(default)]
    pub compaction: super::compaction::CompactionState,
}

impl RunState {
    pub(crate) fn new(task: Task, opening: Message) -> Self {
        Self {
            task,
            messages: vec![opening],
            context: None,
            steps: 0,
            usage: Usage::default(),
            cost: Cost::default(),
            elapsed: Duration::ZERO,
            phase: Phase::Ready,
            replies_without_tools: 0,
            verify_attempts: 0,
            last_verification: None,
            base_commit: None,
            base_branch: None,
            pull_request: None,
            contract_rounds: 0,
            finish: None,
            compaction: Default::default(),
        }
    }

    /// Whether the run is over.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done(_))
    }
}

pub(crate) fn interrupted() -> String {
    super::prompts::INTERRUPTED.to_string()
}
