//! The publish step: commits out of the sandbox, a pull request on the forge.

use crate::engine::Engine;
use crate::event::Event;
use crate::forge::{ChangeSet, PublishRequest, branch_for};
use crate::handover::export_changes_with;
use crate::hook::PublishAction;
use crate::sandbox::Sandbox;

use super::Agent;

pub(super) async fn publish(
    agent: &Agent,
    engine: &mut Engine,
    sandbox: &dyn Sandbox,
    summary: String,
) {
    let Some(forge) = &agent.forge else {
        engine.on_publish_skipped();
        return;
    };
    let state = engine.state();
    let Some(base_commit) = state.base_commit.clone() else {
        engine.on_publish_failed(
            "the starting commit is unknown, so the agent's commits cannot be isolated".into(),
        );
        return;
    };
    let task = state.task.clone();
    let message = agent
        .redactor
        .redact(&format!(
            "{}\n\n{}\n\nTask: {}\nGenerated-by: agentkit",
            task.title.trim(),
            summary.trim(),
            task.id
        ))
        .into_owned();
    let leave_out = super::contract::leave_out(agent);
    let changes = match export_changes_with(sandbox, &base_commit, &message, &leave_out).await {
        Ok(Some(changes)) => changes,
        Ok(None) => {
            agent.events.emit_for(
                &engine.state().task.id,
                Event::PublishSkipped {
                    reason: "the agent made no changes".into(),
                },
            );
            engine.on_publish_skipped();
            return;
        }
        Err(err) => {
            engine.on_publish_failed(format!(
                "could not take the commits out of the sandbox: {err}"
            ));
            return;
        }
    };
    if !super::contract::admits(agent, engine, &changes).await {
        return;
    }
    let state = engine.state();
    let base_branch = task
        .repo
        .base
        .clone()
        .or_else(|| state.base_branch.clone())
        .unwrap_or_else(|| "main".into());
    let body = agent
        .redactor
        .redact(&pr_body(
            agent,
            engine,
            &summary,
            &changes,
            sandbox.environment(),
        ))
        .into_owned();
    let request = PublishRequest {
        branch: branch_for(&task.id, &agent.config.branch_prefix),
        base_branch,
        title: agent.redactor.redact(task.title.trim()).into_owned(),
        body,
        task,
        changes,
    };
    for hook in &agent.hooks {
        match hook.before_publish(&request).await {
            PublishAction::Run => {}
            PublishAction::Skip { reason } => {
                agent.hook_decision(
                    &engine.state().task.id,
                    "before_publish",
                    &format!("skip: {reason}"),
                );
                agent
                    .events
                    .emit_for(&engine.state().task.id, Event::PublishSkipped { reason });
                engine.on_publish_skipped();
                return;
            }
            PublishAction::Stop { reason } => {
                agent.hook_decision(
                    &engine.state().task.id,
                    "before_publish",
                    &format!("stop: {reason}"),
                );
                engine.stop(crate::outcome::StopReason::HookStopped { reason });
                return;
            }
        }
    }
    match forge.publish(request).await {
        Ok(pull_request) => {
            agent.events.emit_for(
                &engine.state().task.id,
                Event::Published {
                    pull_request: pull_request.clone(),
                },
            );
            engine.on_published(pull_request);
        }
        Err(err) => engine.on_publish_failed(err.to_string()),
    }
}

fn pr_body(
    agent: &Agent,
    engine: &Engine,
    summary: &str,
    changes: &ChangeSet,
    environment: Option<&crate::environment::EnvironmentReport>,
) -> String {
    let state = engine.state();
    let diff_stat = &changes.diff_stat;
    let left_out = if changes.left_out.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = changes
            .left_out
            .iter()
            .map(|l| format!("- `{}`: {}", l.path, l.reason))
            .collect();
        format!(
            "\n\nLeft out of the commit (still untracked in the agent's workspace):\n\n{}",
            lines.join("\n")
        )
    };
    let verification = state
        .last_verification
        .as_ref()
        .map(|v| v.summary())
        .unwrap_or_else(|| "Not verified (no verifier configured).".into());
    let environment = environment
        .map(|report| format!("\n\n{}", report.markdown().trim_end()))
        .unwrap_or_default();
    format!(
        "{summary}\n\n## Changes\n\n```\n{diff_stat}\n```{left_out}\n\n## Verification\n\n{verification}{environment}\n\n## Run\n\n\
         - Task: `{task}`\n- Model: `{model}`\n- Steps: {steps}\n- Tokens: {input} in / {output} out\n- Cost: {cost}\n\n\
         _Opened by agentkit. Review before merging._\n",
        summary = summary.trim(),
        task = state.task.id,
        model = agent.model.info().name,
        steps = state.steps,
        input = state.usage.input_tokens,
        output = state.usage.output_tokens,
        cost = state.cost,
    )
}
