//! The completion contract in the publish step: inspect the handed-over
//! change host-side and decide whether it may be published.

use std::sync::Arc;

use crate::engine::Engine;
use crate::event::Event;
use crate::forge::ChangeSet;
use crate::policy::contract::{ChangeInspector, CompletionContract, ContractContext, LeaveOut};

use super::Agent;

/// A contract and the host-side inspector that reads changes for it.
#[derive(Clone)]
pub(super) struct ContractCheck {
    pub(super) contract: Arc<CompletionContract>,
    pub(super) inspector: Arc<dyn ChangeInspector>,
}

/// What the handover leaves out of the commit.
pub(super) fn leave_out(agent: &Agent) -> LeaveOut {
    agent
        .contract
        .as_ref()
        .map(|c| c.contract.leave_out.clone())
        .unwrap_or_default()
}

/// Whether `changes` may be published. When not, the engine has been told
/// (feedback to the model, or a stop) and the caller must not publish.
pub(super) async fn admits(agent: &Agent, engine: &mut Engine, changes: &ChangeSet) -> bool {
    let Some(check) = &agent.contract else {
        return true;
    };
    let task_id = engine.state().task.id.clone();
    let diff = match check.inspector.inspect(changes).await {
        Ok(diff) => diff,
        Err(err) => {
            engine.on_publish_failed(format!(
                "the completion contract could not be checked, so nothing was published: {err}"
            ));
            return false;
        }
    };
    let state = engine.state();
    let violations = check.contract.check(
        &diff,
        &ContractContext {
            task: &state.task,
            verification: state.last_verification.as_ref(),
            redactor: &agent.redactor,
            base_commit: &changes.base_commit,
        },
    );
    if violations.is_empty() {
        return true;
    }
    let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
    tracing::warn!(violations = ?listed, "the change breaks the completion contract");
    agent.events.emit_for(
        &task_id,
        Event::HookDecision {
            point: "completion_contract".into(),
            decision: format!("violated: {}", listed.join("; ")),
        },
    );
    engine.on_contract_violation(violations, check.contract.feedback_rounds);
    false
}
