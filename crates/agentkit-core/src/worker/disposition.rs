//! What a worker does with a run's outcome.

use crate::model::ModelErrorKind;
use crate::outcome::StopReason;

/// How a finished run is recorded in the task store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The run reached a final answer: record it (`success` says whether the
    /// task was done). Running it again would most likely end the same way.
    Complete {
        /// Whether the task was accomplished.
        success: bool,
    },
    /// The run failed for a reason that may pass (provider hiccup, sandbox
    /// died, forge unreachable): queue it again after a delay.
    Retry,
    /// The run failed for a reason retrying will not fix without an operator
    /// (bad credentials, no quota, invalid request): fail it for good.
    GiveUp,
}

/// The disposition of a run that stopped for `reason`.
///
/// A cancelled run is retried: cancellation comes from the worker shutting
/// down or losing its lease, not from the task.
pub fn disposition(reason: &StopReason) -> Disposition {
    match reason {
        StopReason::Finished { .. } => Disposition::Complete { success: true },
        StopReason::NeedsHuman { .. }
        | StopReason::MaxSteps { .. }
        | StopReason::TokenBudget { .. }
        | StopReason::CostBudget { .. }
        | StopReason::WallTime { .. }
        | StopReason::NoProgress { .. }
        | StopReason::VerificationFailed { .. }
        | StopReason::HookStopped { .. }
        | StopReason::ContractViolated { .. } => Disposition::Complete { success: false },
        StopReason::ModelError { kind, .. } => match kind {
            ModelErrorKind::RateLimited | ModelErrorKind::Transient => Disposition::Retry,
            ModelErrorKind::ContextLength
            | ModelErrorKind::Quota
            | ModelErrorKind::Auth
            | ModelErrorKind::InvalidRequest
            | ModelErrorKind::Permanent => Disposition::GiveUp,
        },
        // A setup that timed out may pass (a slow registry); one that
        // failed, or a missing toolchain, needs someone to fix the
        // repository or the image.
        StopReason::EnvironmentBroken { timed_out, .. } => {
            if *timed_out {
                Disposition::Retry
            } else {
                Disposition::GiveUp
            }
        }
        StopReason::Cancelled
        | StopReason::EnvironmentFailed { .. }
        | StopReason::PublishFailed { .. } => Disposition::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_answers_complete_passing_faults_retry_and_operator_problems_give_up() {
        let model = |kind| StopReason::ModelError {
            kind,
            message: String::new(),
        };
        assert_eq!(
            disposition(&StopReason::Finished {
                summary: String::new()
            }),
            Disposition::Complete { success: true }
        );
        assert_eq!(
            disposition(&StopReason::VerificationFailed { attempts: 3 }),
            Disposition::Complete { success: false }
        );
        assert_eq!(
            disposition(&model(ModelErrorKind::RateLimited)),
            Disposition::Retry
        );
        assert_eq!(
            disposition(&model(ModelErrorKind::Auth)),
            Disposition::GiveUp
        );
        assert_eq!(
            disposition(&StopReason::EnvironmentFailed {
                message: String::new()
            }),
            Disposition::Retry
        );
        assert_eq!(disposition(&StopReason::Cancelled), Disposition::Retry);
    }
}
