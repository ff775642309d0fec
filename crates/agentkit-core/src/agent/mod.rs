//! The async driver: an [`Agent`] runs the [`Engine`] against real IO.
//!
//! ```no_run
//! # async fn demo(sandbox: std::sync::Arc<dyn agentkit_core::sandbox::Sandbox>) {
//! use std::sync::Arc;
//! use agentkit_core::prelude::*;
//!
//! let model = ScriptedModel::from_json(
//!     r#"[{"tool_calls":[{"name":"finish","arguments":{"summary":"nothing to do"}}]}]"#,
//!     "inline",
//! ).unwrap();
//! let agent = Agent::builder(Arc::new(model)).build();
//! let task = Task::new("T-1", "Say hello", "Nothing to change.", RepoRef::new("."));
//! let outcome = agent.run(task, sandbox, CancellationToken::new()).await;
//! assert!(outcome.stop_reason.is_success());
//! # }
//! ```

mod builder;
mod compact;
mod contract;
mod publish;
mod tools;
pub mod workspace;

pub use builder::{AgentBuilder, AgentConfig};

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::checkpoint::{Checkpoint, WorkspaceCapture};
use crate::context::ContextEngine;
use crate::engine::{Engine, EngineConfig, Phase, RunState, Step};
use crate::event::{Event, EventBus};
use crate::forge::Forge;
use crate::hook::{Hook, ModelCallAction};
use crate::model::{Model, ModelRequest};
use crate::outcome::{Outcome, StopReason};
use crate::redact::Redactor;
use crate::sandbox::Sandbox;
use crate::task::{Task, TaskId};
use crate::tool::ToolSet;
use crate::verify::Verifier;

/// How one run is controlled from outside (see [`Agent::run_with`]).
#[derive(Clone, Default)]
pub struct RunControl {
    /// Stops the run at once: a model call, tool or verification in flight is
    /// interrupted (its calls are answered "not run").
    pub cancel: CancellationToken,
    /// Stops the run at the next step boundary, after the last finished step
    /// was checkpointed: nothing in flight is interrupted. The run ends as
    /// [`StopReason::Cancelled`]. A worker uses it for graceful shutdown.
    pub pause: CancellationToken,
    /// Checkpoints this run here instead of in the agent's own checkpoint
    /// store (a worker's per-lease store).
    pub checkpoint: Option<Arc<dyn Checkpoint>>,
}

impl RunControl {
    /// A run stopped only by `cancel`.
    pub fn new(cancel: CancellationToken) -> Self {
        Self {
            cancel,
            ..Self::default()
        }
    }

    fn stop_requested(&self) -> bool {
        self.cancel.is_cancelled() || self.pause.is_cancelled()
    }
}

/// A configured agent: model, tools, policies, verification and publishing.
/// Cheap to share; one agent can run many tasks.
pub struct Agent {
    model: Arc<dyn Model>,
    tools: ToolSet,
    /// The tools' specs, generated once at build time (schemas do not change).
    tool_specs: Vec<crate::tool::ToolSpec>,
    hooks: Vec<Arc<dyn Hook>>,
    events: EventBus,
    verifier: Option<Arc<dyn Verifier>>,
    forge: Option<Arc<dyn Forge>>,
    context: Option<ContextEngine>,
    checkpoint: Option<Arc<dyn Checkpoint>>,
    redactor: Redactor,
    config: AgentConfig,
    contract: Option<contract::ContractCheck>,
    /// The model that summarises older turns (default: `model`).
    summarizer: Option<Arc<dyn Model>>,
}

impl Agent {
    /// Starts building an agent around `model`.
    pub fn builder(model: Arc<dyn Model>) -> AgentBuilder {
        AgentBuilder::new(model)
    }

    fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            system_prompt: self.config.system_prompt.clone(),
            tools: self.tool_specs.clone(),
            tool_aliases: self.tools.aliases(),
            budgets: self.config.budgets.clone(),
            verify: self.verifier.is_some(),
            max_verify_attempts: self.config.max_verify_attempts,
            publish: self.forge.is_some(),
            max_replies_without_tools: self.config.max_replies_without_tools,
            pricing: self.model.info().pricing,
            call: self.config.call.clone(),
            compaction: compact::config_for(&self.config.compaction, self.model.info()),
        }
    }

    /// An engine for this agent, counting tokens with the model's tokenizer.
    fn engine(&self, engine: Engine) -> Engine {
        compact::with_tokenizer(engine, self.model.as_ref())
    }

    /// `spec` with its repository replaced by the forge's local source when
    /// the forge keeps one ([`Forge::source`]): how a private repository is
    /// cloned without its credentials entering the sandbox. Unchanged without
    /// a forge or when the forge clones from the repository itself.
    pub async fn sandbox_source(
        &self,
        spec: &crate::sandbox::SandboxSpec,
    ) -> Result<crate::sandbox::SandboxSpec, crate::forge::ForgeError> {
        let mut spec = spec.clone();
        if let Some(forge) = &self.forge
            && let Some(source) = forge.source(&spec.repo, spec.rev.as_deref()).await?
        {
            tracing::debug!(repo = %spec.repo, source = %source, "cloning from the forge's mirror");
            spec.repo = source;
        }
        Ok(spec)
    }

    /// Runs `task` in `sandbox` until it stops. Never panics on bad input:
    /// every failure ends as a [`StopReason`] in the outcome.
    pub async fn run(
        &self,
        task: Task,
        sandbox: Arc<dyn Sandbox>,
        cancel: CancellationToken,
    ) -> Outcome {
        self.run_with(task, sandbox, RunControl::new(cancel)).await
    }

    /// Continues a stored run (see [`Engine::resume`]).
    pub async fn resume(
        &self,
        state: RunState,
        sandbox: Arc<dyn Sandbox>,
        cancel: CancellationToken,
    ) -> Outcome {
        self.resume_with(state, sandbox, RunControl::new(cancel))
            .await
    }

    /// The bus this agent's events go to (to add events of one's own to a
    /// run's stream, such as a worker's warnings).
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// [`run`](Self::run), controlled by `control` (cancel, pause, where to
    /// checkpoint).
    pub async fn run_with(
        &self,
        task: Task,
        sandbox: Arc<dyn Sandbox>,
        control: RunControl,
    ) -> Outcome {
        let span = self.run_span(&task.id, false);
        async {
            let opening = self.config.opening_message(&task);
            let mut engine = self.engine(Engine::new(self.engine_config(), task, opening));
            self.emit_started(&engine, false);
            self.prepare(&mut engine, sandbox.as_ref()).await;
            self.drive(engine, sandbox, control).await
        }
        .instrument(span)
        .await
    }

    /// [`resume`](Self::resume), controlled by `control`.
    pub async fn resume_with(
        &self,
        state: RunState,
        sandbox: Arc<dyn Sandbox>,
        control: RunControl,
    ) -> Outcome {
        let span = self.run_span(&state.task.id, true);
        async {
            let engine = self.engine(Engine::resume(self.engine_config(), state));
            self.emit_started(&engine, true);
            self.drive(engine, sandbox, control).await
        }
        .instrument(span)
        .await
    }

    /// The `invoke_agent` span of one run.
    fn run_span(&self, task: &TaskId, resumed: bool) -> tracing::Span {
        tracing::info_span!(
            "invoke_agent",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = "agentkit",
            gen_ai.request.model = %self.model.info().name,
            task.id = %task,
            resumed,
        )
    }

    fn emit_started(&self, engine: &Engine, resumed: bool) {
        let task = &engine.state().task;
        self.events.emit_for(
            &task.id,
            Event::RunStarted {
                task_id: task.id.clone(),
                title: task.title.clone(),
                model: self.model.info().name.clone(),
                resumed,
            },
        );
    }

    /// The outcome of a run whose sandbox could not be made because its
    /// setup failed (`report` from
    /// [`SandboxError::SetupFailed`](crate::sandbox::SandboxError::SetupFailed)):
    /// the report and the end of the run go to this agent's sinks, the
    /// model is never called, nothing is published.
    pub fn environment_broken(
        &self,
        task: &TaskId,
        report: crate::environment::EnvironmentReport,
    ) -> Outcome {
        let broken = report.check().err().unwrap_or(crate::environment::Broken {
            phase: crate::environment::EnvironmentPhase::Setup,
            exit: report.exit,
            timed_out: report.timed_out,
            tail: report.output.clone(),
        });
        self.events.emit_for(
            task,
            Event::EnvironmentReady {
                report: Box::new(report),
            },
        );
        let outcome = crate::environment::broken_outcome(task.clone(), broken);
        self.events.emit_for(
            task,
            Event::RunFinished {
                outcome: Box::new(outcome.clone()),
            },
        );
        outcome
    }

    /// Before the first model call of a new run: report the environment
    /// (and stop when it is broken), record the base commit, assemble
    /// context, and put the prepared prompt in the transcript.
    async fn prepare(&self, engine: &mut Engine, sandbox: &dyn Sandbox) {
        if let Some(report) = sandbox.environment() {
            self.events.emit_for(
                &engine.state().task.id,
                Event::EnvironmentReady {
                    report: Box::new(report.clone()),
                },
            );
            if let Err(broken) = report.check() {
                engine.stop(broken.into_stop());
                return;
            }
        }
        match crate::handover::current_base(sandbox).await {
            Ok((commit, branch)) => engine.set_base(commit, branch),
            Err(err) if self.forge.is_some() => {
                engine.stop(StopReason::EnvironmentFailed {
                    message: format!(
                        "cannot publish: the workspace is not a usable git repository: {err}"
                    ),
                });
            }
            Err(err) => tracing::debug!(error = %err, "workspace has no git base"),
        }
        let task_id = engine.state().task.id.clone();
        if let Some(context) = &self.context {
            let state = engine.state();
            let packed = context
                .assemble(&state.task, sandbox, &state.messages)
                .await;
            self.events.emit_for(
                &task_id,
                Event::ContextAssembled {
                    items: packed.items.iter().map(|i| i.title.clone()).collect(),
                    tokens: packed.tokens,
                    dropped: packed.dropped.clone(),
                },
            );
            engine.set_context(packed.render());
        }
        if let Step::CallModel(request) = engine.next_step() {
            let opening = engine.state().messages.first().map(|m| m.text());
            self.events.emit_for(
                &task_id,
                Event::PromptPrepared {
                    system: request.system,
                    opening: opening.unwrap_or_default(),
                },
            );
        }
    }

    async fn drive(
        &self,
        mut engine: Engine,
        sandbox: Arc<dyn Sandbox>,
        control: RunControl,
    ) -> Outcome {
        let cancel = &control.cancel;
        let checkpoint = control.checkpoint.as_ref().or(self.checkpoint.as_ref());
        let mut mark = Instant::now();
        loop {
            engine.add_elapsed(mark.elapsed());
            mark = Instant::now();
            if control.stop_requested() && !engine.state().is_done() {
                engine.stop(StopReason::Cancelled);
            }
            let deadline = self.deadline(&engine);
            let mut workspace = None;
            match engine.next_step() {
                Step::Done(_) => break,
                Step::CallModel(request) => {
                    self.call_model(&mut engine, *request, cancel, deadline)
                        .await;
                }
                Step::CallTools(plan) => {
                    let mutating = plan.batches.iter().any(|batch| !batch.parallel);
                    tools::run_plan(self, &mut engine, plan, &sandbox, cancel, deadline).await;
                    if mutating && checkpoint.is_some_and(|c| c.keeps_workspace()) {
                        workspace = Some(capture_workspace(&engine, sandbox.as_ref()).await);
                    }
                }
                Step::Verify => self.verify(&mut engine, sandbox.as_ref(), cancel).await,
                Step::Compact(job) => {
                    compact::compact(self, &mut engine, *job, sandbox.as_ref(), cancel).await;
                }
                Step::Publish { summary } => {
                    publish::publish(self, &mut engine, sandbox.as_ref(), summary).await;
                }
            }
            self.save_checkpoint(checkpoint, &engine, workspace).await;
        }
        engine.add_elapsed(mark.elapsed());
        self.save_checkpoint(checkpoint, &engine, None).await;
        let outcome = outcome_of(engine.state());
        self.events.emit_for(
            &engine.state().task.id,
            Event::RunFinished {
                outcome: Box::new(outcome.clone()),
            },
        );
        outcome
    }

    fn deadline(&self, engine: &Engine) -> Option<tokio::time::Instant> {
        let limit = self.config.budgets.max_wall_time?;
        let left = limit.saturating_sub(engine.state().elapsed);
        Some(tokio::time::Instant::now() + left)
    }

    async fn save_checkpoint(
        &self,
        checkpoint: Option<&Arc<dyn Checkpoint>>,
        engine: &Engine,
        workspace: Option<WorkspaceCapture>,
    ) {
        if let Some(store) = checkpoint {
            // The events before this checkpoint are stored before it is.
            self.events.flush().await;
            match store.save_turn(engine.state(), workspace).await {
                Ok(()) => self.events.emit_for(
                    &engine.state().task.id,
                    Event::Checkpointed {
                        step: engine.state().steps,
                    },
                ),
                Err(err) => tracing::warn!(error = %err, "checkpoint failed; the run goes on"),
            }
        }
    }

    async fn call_model(
        &self,
        engine: &mut Engine,
        mut request: ModelRequest,
        cancel: &CancellationToken,
        deadline: Option<tokio::time::Instant>,
    ) {
        for hook in &self.hooks {
            match hook.before_model_call(&engine.state().task, &request).await {
                ModelCallAction::Run => {}
                ModelCallAction::Rewrite(rewritten) => {
                    self.hook_decision(&engine.state().task.id, "before_model_call", "rewrite");
                    request = *rewritten;
                }
                ModelCallAction::Stop { reason } => {
                    self.hook_decision(
                        &engine.state().task.id,
                        "before_model_call",
                        &format!("stop: {reason}"),
                    );
                    engine.stop(StopReason::HookStopped { reason });
                    return;
                }
            }
        }
        let step = engine.state().steps + 1;
        self.events.emit_for(
            &engine.state().task.id,
            Event::ModelCallStarted {
                step,
                messages: request.messages.len(),
            },
        );
        let info = self.model.info();
        let span = tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = %info.provider,
            gen_ai.request.model = %info.name,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            gen_ai.response.finish_reasons = tracing::field::Empty,
        );
        let call = self.model.complete(request).instrument(span.clone());
        let result = tokio::select! {
            r = call => r,
            _ = cancel.cancelled() => { engine.stop(StopReason::Cancelled); return; }
            _ = sleep_until(deadline) => { self.wall_time_stop(engine); return; }
        };
        match result {
            Ok(response) => {
                span.record("gen_ai.usage.input_tokens", response.usage.input_tokens);
                span.record("gen_ai.usage.output_tokens", response.usage.output_tokens);
                span.record(
                    "gen_ai.response.finish_reasons",
                    response.finish_reason.as_str(),
                );
                let event_text = response.message.text();
                let calls = response.message.tool_calls().cloned().collect();
                let usage = response.usage;
                let finish_reason = response.finish_reason.clone();
                let replies_before = engine.state().replies_without_tools;
                let cost = engine.on_model_response(response);
                self.events.emit_for(
                    &engine.state().task.id,
                    Event::ModelCallFinished {
                        step,
                        text: event_text,
                        tool_calls: calls,
                        usage,
                        cost,
                        finish_reason,
                    },
                );
                self.emit_answered_calls(engine);
                let nudged = engine.state().replies_without_tools > replies_before
                    && !engine.state().is_done();
                if let Some(nudge) = engine.state().messages.last().filter(|_| nudged) {
                    self.events.emit_for(
                        &engine.state().task.id,
                        Event::Nudged {
                            message: nudge.text(),
                        },
                    );
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, kind = ?err.kind(), "model call failed");
                engine.on_model_error(&err);
            }
        }
    }

    /// Calls the engine answered without running them (an unknown tool,
    /// arguments cut off by the output limit) get their start and finish
    /// events too, with the error the model was given: observers see every
    /// call the model made.
    fn emit_answered_calls(&self, engine: &Engine) {
        let state = engine.state();
        let Phase::AwaitingTools { calls, results } = &state.phase else {
            return;
        };
        for (call, result) in calls.iter().zip(results) {
            let Some(result) = result else { continue };
            self.events.emit_for(
                &state.task.id,
                Event::ToolCallStarted {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                },
            );
            self.events.emit_for(
                &state.task.id,
                Event::ToolCallFinished {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    is_error: result.is_error,
                    content: result.content.clone(),
                    operator_detail: None,
                    duration_ms: 0,
                },
            );
        }
    }

    fn wall_time_stop(&self, engine: &mut Engine) {
        let limit = self.config.budgets.max_wall_time.unwrap_or_default();
        engine.stop(StopReason::WallTime { limit });
    }

    async fn verify(&self, engine: &mut Engine, sandbox: &dyn Sandbox, cancel: &CancellationToken) {
        let Some(verifier) = &self.verifier else {
            engine.on_verification_error(
                "verification was requested but no verifier is configured".into(),
            );
            return;
        };
        let attempt = engine.state().verify_attempts + 1;
        self.events.emit_for(
            &engine.state().task.id,
            Event::VerificationStarted { attempt },
        );
        let result = tokio::select! {
            r = verifier.verify(sandbox) => r,
            _ = cancel.cancelled() => { engine.stop(StopReason::Cancelled); return; }
        };
        match result {
            Ok(verification) => {
                self.events.emit_for(
                    &engine.state().task.id,
                    Event::VerificationFinished {
                        attempt,
                        verification: verification.clone(),
                    },
                );
                engine.on_verification(verification);
            }
            Err(err) => engine.on_verification_error(err.to_string()),
        }
    }

    fn hook_decision(&self, task: &TaskId, point: &str, decision: &str) {
        self.events.emit_for(
            task,
            Event::HookDecision {
                point: point.to_string(),
                decision: decision.to_string(),
            },
        );
    }
}

/// The workspace's changes since the run's base commit, for a checkpoint.
async fn capture_workspace(engine: &Engine, sandbox: &dyn Sandbox) -> WorkspaceCapture {
    let base = engine.state().base_commit.clone();
    let Some(base) = base.filter(|commit| !commit.is_empty()) else {
        return WorkspaceCapture::Unavailable {
            reason: "the workspace is not a git repository, so its changes cannot be captured"
                .into(),
        };
    };
    match workspace::capture(sandbox, &base).await {
        Ok(patch) => WorkspaceCapture::Changes {
            base_commit: base,
            patch,
        },
        Err(err) => {
            tracing::warn!(error = %err, "could not capture the workspace for the checkpoint");
            WorkspaceCapture::Unavailable {
                reason: err.to_string(),
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn outcome_of(state: &RunState) -> Outcome {
    let stop_reason = match &state.phase {
        crate::engine::Phase::Done(reason) => reason.clone(),
        _ => StopReason::EnvironmentFailed {
            message: "the run ended before reaching a stop".into(),
        },
    };
    Outcome {
        task_id: state.task.id.clone(),
        stop_reason,
        steps: state.steps,
        usage: state.usage,
        cost: state.cost,
        duration: state.elapsed,
        verification: state.last_verification.clone(),
        pull_request: state.pull_request.clone(),
    }
}
