//! Publishing an external agent's work the way the built-in loop does:
//! [`export_changes`] (commit in the sandbox, bundle `base..HEAD`), the
//! hooks' `before_publish`, then [`Forge::publish`].

use agentkit_core::event::Event;
use agentkit_core::forge::{Forge, PublishRequest, PullRequest, branch_for};
use agentkit_core::handover::export_changes;
use agentkit_core::hook::PublishAction;
use agentkit_core::outcome::{Outcome, StopReason};
use agentkit_core::redact::Redactor;
use agentkit_core::sandbox::Sandbox;
use agentkit_core::task::Task;

use super::ExternalAgent;
use super::run::verification_text;

/// Publishes; `Ok(None)` when there was nothing to publish or a hook skipped
/// it, `Err(stop)` when the run must end otherwise.
#[allow(clippy::too_many_arguments)]
pub(super) async fn publish(
    agent: &ExternalAgent,
    forge: &dyn Forge,
    sandbox: &dyn Sandbox,
    task: &Task,
    (base, base_branch): (&str, &str),
    summary: &str,
    outcome: &Outcome,
    redactor: &Redactor,
    emit: &(dyn Fn(Event) + Sync),
) -> Result<Option<PullRequest>, StopReason> {
    let message = redactor
        .redact(&format!(
            "{}\n\n{}\n\nTask: {}\nGenerated-by: agentkit ({})",
            task.title.trim(),
            summary.trim(),
            task.id,
            agent.name
        ))
        .into_owned();
    let changes = match export_changes(sandbox, base, &message).await {
        Ok(Some(changes)) => changes,
        Ok(None) => {
            emit(Event::PublishSkipped {
                reason: format!("{} made no changes", agent.name),
            });
            return Ok(None);
        }
        Err(err) => {
            return Err(StopReason::PublishFailed {
                message: format!("could not take the commits out of the sandbox: {err}"),
            });
        }
    };
    let body = format!(
        "{summary}\n\n## Changes\n\n```\n{stat}\n```\n\n## Verification\n\n{verification}\n\n## Run\n\n\
         - Task: `{task}`\n- Agent: {name} (`{model}`), run by agentkit\n- Steps: {steps}\n\
         - Tokens: {input} in / {output} out\n- Cost: {cost}\n\n_Opened by agentkit. Review before merging._\n",
        summary = summary.trim(),
        stat = changes.diff_stat,
        verification = verification_text(outcome.verification.as_ref()),
        task = task.id,
        name = agent.name,
        model = agent.model,
        steps = outcome.steps,
        input = outcome.usage.input_tokens,
        output = outcome.usage.output_tokens,
        cost = outcome.cost,
    );
    let request = PublishRequest {
        branch: branch_for(&task.id, &agent.branch_prefix),
        base_branch: task
            .repo
            .base
            .clone()
            .unwrap_or_else(|| base_branch.to_string()),
        title: redactor.redact(task.title.trim()).into_owned(),
        body: redactor.redact(&body).into_owned(),
        task: task.clone(),
        changes,
    };
    for hook in &agent.hooks {
        match hook.before_publish(&request).await {
            PublishAction::Run => {}
            PublishAction::Skip { reason } => {
                emit(Event::HookDecision {
                    point: "before_publish".into(),
                    decision: format!("skip: {reason}"),
                });
                emit(Event::PublishSkipped { reason });
                return Ok(None);
            }
            PublishAction::Stop { reason } => {
                emit(Event::HookDecision {
                    point: "before_publish".into(),
                    decision: format!("stop: {reason}"),
                });
                return Err(StopReason::HookStopped { reason });
            }
        }
    }
    match forge.publish(request).await {
        Ok(pull_request) => {
            emit(Event::Published {
                pull_request: pull_request.clone(),
            });
            Ok(Some(pull_request))
        }
        Err(err) => Err(StopReason::PublishFailed {
            message: err.to_string(),
        }),
    }
}
