//! Running a tool plan: hooks, parallel read-only batches, cancellation.

use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::engine::{Engine, ToolCallOutcome, ToolPlan};
use crate::event::Event;
use crate::hook::{ToolCallAction, ToolResultAction};
use crate::message::{ToolCall, ToolResult};
use crate::outcome::StopReason;
use crate::sandbox::Sandbox;
use crate::task::Task;
use crate::tool::{ToolContext, ToolError, ToolOutput};

use super::{Agent, sleep_until};

pub(super) async fn run_plan(
    agent: &Agent,
    engine: &mut Engine,
    plan: ToolPlan,
    sandbox: &Arc<dyn Sandbox>,
    cancel: &CancellationToken,
    deadline: Option<tokio::time::Instant>,
) {
    let task = Arc::new(engine.state().task.clone());
    for batch in plan.batches {
        let pending: Vec<(usize, ToolCall)> = batch
            .calls
            .into_iter()
            .filter(|(i, _)| engine.is_pending(*i))
            .collect();
        if pending.is_empty() {
            continue;
        }
        let work = async {
            if batch.parallel {
                join_all(pending.iter().map(|(i, call)| async {
                    (*i, run_call(agent, call, &task, sandbox, cancel).await)
                }))
                .await
            } else {
                let mut done = Vec::new();
                for (i, call) in &pending {
                    let outcome = run_call(agent, call, &task, sandbox, cancel).await;
                    let stops = matches!(
                        outcome,
                        ToolCallOutcome::Fatal { .. } | ToolCallOutcome::Stopped { .. }
                    );
                    done.push((*i, outcome));
                    if stops {
                        break;
                    }
                }
                done
            }
        };
        let results = tokio::select! {
            r = work => r,
            _ = cancel.cancelled() => { engine.stop(StopReason::Cancelled); return; }
            _ = sleep_until(deadline) => { agent.wall_time_stop(engine); return; }
        };
        for (i, outcome) in results {
            engine.on_tool_result(i, outcome);
        }
    }
}

async fn run_call(
    agent: &Agent,
    call: &ToolCall,
    task: &Arc<Task>,
    sandbox: &Arc<dyn Sandbox>,
    cancel: &CancellationToken,
) -> ToolCallOutcome {
    let mut arguments = call.arguments.clone();
    for hook in &agent.hooks {
        match hook.before_tool_call(task, call).await {
            ToolCallAction::Run => {}
            ToolCallAction::Rewrite { arguments: new } => {
                agent.hook_decision(
                    &task.id,
                    "before_tool_call",
                    &format!("rewrite {}", call.name),
                );
                arguments = new;
            }
            ToolCallAction::Skip { reason } => {
                agent.hook_decision(
                    &task.id,
                    "before_tool_call",
                    &format!("skip {}: {reason}", call.name),
                );
                let content = format!("Not run: {reason}");
                emit_finished(agent, task, call, &content, true, None, Instant::now());
                return ToolCallOutcome::Output {
                    content,
                    is_error: true,
                };
            }
            ToolCallAction::Stop { reason } => {
                agent.hook_decision(
                    &task.id,
                    "before_tool_call",
                    &format!("stop at {}: {reason}", call.name),
                );
                return ToolCallOutcome::Stopped { reason };
            }
        }
    }
    agent.events.emit_for(
        &task.id,
        Event::ToolCallStarted {
            call_id: call.id.clone(),
            name: call.name.clone(),
            arguments: arguments.clone(),
        },
    );
    let started = Instant::now();
    let Some(tool) = agent.tools.get(&call.name) else {
        let content = format!("Unknown tool `{}`.", call.name);
        emit_finished(agent, task, call, &content, true, None, started);
        return ToolCallOutcome::Output {
            content,
            is_error: true,
        };
    };
    let cx = ToolContext {
        sandbox: sandbox.clone(),
        task: task.clone(),
        call_id: call.id.clone(),
        cancel: cancel.child_token(),
    };
    let span = tracing::info_span!(
        "execute_tool",
        gen_ai.operation.name = "execute_tool",
        "gen_ai.tool.name" = %call.name,
        gen_ai.tool.call.id = %call.id,
    );
    let result = tool.call_raw(&arguments, &cx).instrument(span).await;
    let (outcome, operator_detail) = match result {
        Ok(ToolOutput::Text { content }) => (
            ToolCallOutcome::Output {
                content,
                is_error: false,
            },
            None,
        ),
        Ok(ToolOutput::Finish { summary }) => (ToolCallOutcome::Finish { summary }, None),
        Ok(ToolOutput::NeedsHuman { question }) => (ToolCallOutcome::NeedsHuman { question }, None),
        Err(ToolError::Fatal { message }) => (
            ToolCallOutcome::Fatal {
                message: message.clone(),
            },
            Some(message),
        ),
        Err(err) => {
            let detail = match &err {
                ToolError::Failed {
                    operator_detail, ..
                } => operator_detail.clone(),
                _ => None,
            };
            (
                ToolCallOutcome::Output {
                    content: err.message_for_model(),
                    is_error: true,
                },
                detail,
            )
        }
    };
    let outcome = after_result(agent, call, task, outcome).await;
    let (content, is_error) = match &outcome {
        ToolCallOutcome::Output { content, is_error } => (content.clone(), *is_error),
        ToolCallOutcome::Finish { summary } => (format!("finish: {summary}"), false),
        ToolCallOutcome::NeedsHuman { question } => (format!("needs human: {question}"), false),
        ToolCallOutcome::Fatal { message } => (format!("fatal: {message}"), true),
        ToolCallOutcome::Stopped { reason } => (format!("stopped: {reason}"), true),
    };
    emit_finished(
        agent,
        task,
        call,
        &content,
        is_error,
        operator_detail,
        started,
    );
    outcome
}

async fn after_result(
    agent: &Agent,
    call: &ToolCall,
    task: &Task,
    outcome: ToolCallOutcome,
) -> ToolCallOutcome {
    let ToolCallOutcome::Output { content, is_error } = outcome else {
        return outcome;
    };
    let mut result = ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content,
        is_error,
    };
    for hook in &agent.hooks {
        match hook.after_tool_result(task, &result).await {
            ToolResultAction::Keep => {}
            ToolResultAction::Rewrite { content } => {
                agent.hook_decision(
                    &task.id,
                    "after_tool_result",
                    &format!("rewrite {}", call.name),
                );
                result.content = content;
            }
            ToolResultAction::Stop { reason } => {
                agent.hook_decision(
                    &task.id,
                    "after_tool_result",
                    &format!("stop after {}: {reason}", call.name),
                );
                return ToolCallOutcome::Stopped { reason };
            }
        }
    }
    ToolCallOutcome::Output {
        content: result.content,
        is_error: result.is_error,
    }
}

fn emit_finished(
    agent: &Agent,
    task: &Task,
    call: &ToolCall,
    content: &str,
    is_error: bool,
    operator_detail: Option<String>,
    started: Instant,
) {
    agent.events.emit_for(
        &task.id,
        Event::ToolCallFinished {
            call_id: call.id.clone(),
            name: call.name.clone(),
            is_error,
            content: content.to_string(),
            operator_detail,
            duration_ms: started.elapsed().as_millis() as u64,
        },
    );
}
