//! How a run ended.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::forge::PullRequest;
use crate::model::ModelErrorKind;
use crate::task::TaskId;
use crate::usage::{Cost, Usage};
use crate::verify::Verification;

/// Why a run stopped. Every exit of the loop is one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stop", rename_all = "snake_case")]
pub enum StopReason {
    /// The agent finished and verification (if any) passed.
    Finished {
        /// The agent's summary.
        summary: String,
    },
    /// The agent asked for a human.
    NeedsHuman {
        /// The question.
        question: String,
    },
    /// The step budget ran out.
    MaxSteps {
        /// The limit.
        limit: u32,
    },
    /// The token budget ran out.
    TokenBudget {
        /// The limit.
        limit: u64,
        /// Tokens used.
        used: u64,
    },
    /// The cost budget ran out.
    CostBudget {
        /// The limit in dollars.
        limit_usd: f64,
        /// Dollars spent.
        used_usd: f64,
    },
    /// The wall-time budget ran out.
    WallTime {
        /// The limit.
        limit: Duration,
    },
    /// The run was cancelled.
    Cancelled,
    /// The model replied without calling a tool too many times in a row.
    NoProgress {
        /// How many replies in a row had no tool call.
        replies: u32,
    },
    /// Verification kept failing after the allowed attempts.
    VerificationFailed {
        /// Attempts made.
        attempts: u32,
    },
    /// A model call failed and was not recovered.
    ModelError {
        /// The error class.
        kind: ModelErrorKind,
        /// What happened.
        message: String,
    },
    /// The sandbox or a tool's environment failed.
    EnvironmentFailed {
        /// What happened.
        message: String,
    },
    /// The repository's environment could not be made: its setup failed or
    /// timed out, or a toolchain it needs is missing. The model was never
    /// called and nothing was published; this is not the agent's failure.
    EnvironmentBroken {
        /// Which phase failed.
        phase: crate::environment::EnvironmentPhase,
        /// The setup's exit code, when it exited.
        exit: Option<i32>,
        /// Whether the setup ran out of time.
        #[serde(default)]
        timed_out: bool,
        /// The end of the setup's output, or what is missing.
        tail: String,
    },
    /// Publishing failed.
    PublishFailed {
        /// What happened.
        message: String,
    },
    /// A hook stopped the run.
    HookStopped {
        /// The hook's reason.
        reason: String,
    },
    /// The change still broke the completion contract after the feedback
    /// rounds; nothing was published.
    ContractViolated {
        /// What it broke (secrets masked).
        violations: Vec<crate::policy::contract::Violation>,
    },
}

impl StopReason {
    /// Whether the run achieved its goal.
    pub fn is_success(&self) -> bool {
        matches!(self, StopReason::Finished { .. })
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Finished { .. } => write!(f, "finished"),
            StopReason::NeedsHuman { question } => write!(f, "needs a human: {question}"),
            StopReason::MaxSteps { limit } => write!(f, "step budget of {limit} used up"),
            StopReason::TokenBudget { limit, used } => {
                write!(f, "token budget used up ({used} of {limit})")
            }
            StopReason::CostBudget {
                limit_usd,
                used_usd,
            } => {
                write!(f, "cost budget used up (${used_usd:.4} of ${limit_usd:.4})")
            }
            StopReason::WallTime { limit } => {
                write!(f, "wall-time budget of {:.0}s used up", limit.as_secs_f64())
            }
            StopReason::Cancelled => write!(f, "cancelled"),
            StopReason::NoProgress { replies } => {
                write!(
                    f,
                    "the model replied {replies} times without calling a tool"
                )
            }
            StopReason::VerificationFailed { attempts } => {
                write!(f, "verification still failing after {attempts} attempts")
            }
            StopReason::ModelError { kind, message } => {
                write!(f, "model error ({kind:?}): {message}")
            }
            StopReason::EnvironmentFailed { message } => write!(f, "environment failed: {message}"),
            StopReason::EnvironmentBroken {
                phase,
                exit,
                timed_out,
                tail,
            } => {
                write!(f, "environment broken ({phase}")?;
                if *timed_out {
                    write!(f, ", timed out")?;
                } else if let Some(code) = exit {
                    write!(f, ", exit {code}")?;
                }
                let last = tail.trim_end().lines().last().unwrap_or("");
                write!(f, "): {last}")
            }
            StopReason::PublishFailed { message } => write!(f, "publish failed: {message}"),
            StopReason::HookStopped { reason } => write!(f, "stopped by policy: {reason}"),
            StopReason::ContractViolated { violations } => {
                write!(f, "the change breaks the completion contract")?;
                for v in violations.iter().take(3) {
                    write!(f, "; {v}")?;
                }
                if violations.len() > 3 {
                    write!(f, "; and {} more", violations.len() - 3)?;
                }
                Ok(())
            }
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The task.
    pub task_id: TaskId,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Model calls made.
    pub steps: u32,
    /// Tokens used.
    pub usage: Usage,
    /// Money spent.
    pub cost: Cost,
    /// Wall time spent (across resumes).
    pub duration: Duration,
    /// The last verification, if one ran.
    pub verification: Option<Verification>,
    /// The pull request, if one was published.
    pub pull_request: Option<PullRequest>,
}

impl Outcome {
    /// The outcome of a run that did nothing before it stopped: no model
    /// call, no usage, no time, no verification, no pull request.
    pub fn nothing_done(task_id: TaskId, stop_reason: StopReason) -> Self {
        Self {
            task_id,
            stop_reason,
            steps: 0,
            usage: Usage::default(),
            cost: Cost::default(),
            duration: Duration::ZERO,
            verification: None,
            pull_request: None,
        }
    }
}
