//! The loop engine: a state machine that does no IO.
//!
//! The engine decides; a driver ([`crate::agent::Agent`]) does the IO. The
//! driver asks [`Engine::next_step`] what to do, does it, and reports back:
//!
//! ```text
//!   next_step() ──► CallModel(request)  ──► on_model_response / on_model_error
//!               ──► CallTools(plan)     ──► on_tool_result (one per call)
//!               ──► Verify              ──► on_verification / on_verification_error
//!               ──► Publish{summary}    ──► on_published / on_publish_skipped / on_publish_failed
//!               ──► Compact(job)        ──► on_compacted (see [`compaction`])
//!               ──► Done(StopReason)
//! ```
//!
//! Invariants:
//! - Every tool call in the history is answered by exactly one tool result,
//!   in the next message, whatever happens: unknown tools, hook skips,
//!   cancellation, stops and resumes all produce a result.
//! - Budgets (steps, tokens, cost, wall time) are checked before every model call.
//! - [`RunState`] serializes; [`Engine::resume`] continues a stored run and
//!   repairs a turn that was interrupted mid-way.
//! - `next_step` is idempotent: asking twice without reporting returns the same step.

pub mod compaction;
mod contract;
mod plan;
mod state;

pub use plan::{ToolBatch, ToolPlan};
pub use state::{Phase, RunState};

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::message::{Message, Part, Role, ToolCall, ToolResult};
use crate::model::{
    FinishReason, ModelError, ModelRequest, ModelResponse, ReasoningEffort, ToolChoice,
};
use crate::outcome::StopReason;
use crate::task::Task;
use crate::tool::ToolSpec;
use crate::usage::{Cost, Pricing};
use crate::verify::Verification;

/// Limits on a run. `None` means unlimited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budgets {
    /// Maximum model calls.
    pub max_steps: u32,
    /// Maximum input + output tokens over the run.
    pub max_tokens: Option<u64>,
    /// Maximum spend in dollars (needs model pricing).
    pub max_cost_usd: Option<f64>,
    /// Maximum wall time.
    pub max_wall_time: Option<Duration>,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            max_steps: 50,
            max_tokens: None,
            max_cost_usd: None,
            max_wall_time: Some(Duration::from_secs(30 * 60)),
        }
    }
}

/// How the engine behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// The system prompt (context is appended to it).
    pub system_prompt: String,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Other names accepted for those tools (alias → tool name, see
    /// [`ToolSet::with_alias`](crate::tool::ToolSet::with_alias)). A call by
    /// an alias is recorded under the tool's own name.
    #[serde(default)]
    pub tool_aliases: std::collections::BTreeMap<String, String>,
    /// Limits.
    pub budgets: Budgets,
    /// Whether finishing goes through verification.
    pub verify: bool,
    /// Verification attempts before the run stops as failed.
    pub max_verify_attempts: u32,
    /// Whether a verified finish is published.
    pub publish: bool,
    /// Replies in a row without a tool call before the run stops.
    pub max_replies_without_tools: u32,
    /// Prices for cost accounting (from the model's info).
    pub pricing: Option<Pricing>,
    /// What every model call asks for (output cap, tool choice, sampling).
    #[serde(flatten)]
    pub call: CallSettings,
    /// When and how the conversation is compacted.
    #[serde(default)]
    pub compaction: compaction::CompactionConfig,
}

/// What every model call of a run asks for, besides the conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallSettings {
    /// Completion-token cap per call.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// The tool choice sent with every model call (default [`ToolChoice::Auto`]).
    /// `Required` suits agents that must act only through tools, on providers
    /// that support it.
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// The tool choice of the run's first model call, overriding
    /// [`CallSettings::tool_choice`] there (e.g. make the model start by
    /// calling a given tool; weak models on grammar-constrained servers need
    /// this to call a tool at all). A resumed run past its first call never
    /// uses it.
    #[serde(default)]
    pub first_tool_choice: Option<ToolChoice>,
    /// Sampling temperature sent with every call (`None`: the provider's default).
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Reasoning effort sent with every call (`None`: the backend's default).
    #[serde(default)]
    pub reasoning_effort: Option<ReasoningEffort>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            system_prompt: String::new(),
            tools: Vec::new(),
            tool_aliases: Default::default(),
            budgets: Budgets::default(),
            verify: false,
            max_verify_attempts: 3,
            publish: false,
            max_replies_without_tools: 3,
            pricing: None,
            call: CallSettings::default(),
            compaction: compaction::CompactionConfig::default(),
        }
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Call the model with this request.
    CallModel(Box<ModelRequest>),
    /// Run these tool calls (batches in order; a parallel batch's calls at once).
    CallTools(ToolPlan),
    /// Run the verifier.
    Verify,
    /// Publish the work.
    Publish {
        /// The agent's summary.
        summary: String,
    },
    /// Compact the conversation: read the diff, maybe summarise, then
    /// report with [`Engine::on_compacted`].
    Compact(Box<compaction::CompactionJob>),
    /// The run is over.
    Done(StopReason),
}

/// How one tool call ended, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCallOutcome {
    /// The model reads `content`.
    Output {
        /// What the model reads.
        content: String,
        /// Whether the call failed.
        is_error: bool,
    },
    /// The agent declared the task done.
    Finish {
        /// Its summary.
        summary: String,
    },
    /// The agent asked for a human.
    NeedsHuman {
        /// The question.
        question: String,
    },
    /// The environment failed; the run stops.
    Fatal {
        /// What happened.
        message: String,
    },
    /// A hook stopped the run at this call.
    Stopped {
        /// The hook's reason.
        reason: String,
    },
}

/// Text the engine sends to the model in its own voice.
pub mod prompts {
    /// After a reply with neither tool calls nor a finish.
    pub const NO_TOOL_CALL: &str = "You replied without calling a tool. Work only through the tools: inspect and change the repository, run the tests, and call `finish` with a summary when the task is done.";
    /// After a reply cut off by the output limit.
    pub const CUT_OFF: &str = "Your reply was cut off by the output limit before it called a tool. Continue with a shorter step.";
    /// The result of a call whose arguments were cut off by the output limit.
    pub const CALL_CUT_OFF: &str = "Not run: your reply was cut off by the output limit while you were writing this call's arguments, so they are incomplete. Make the call again with shorter arguments (for a large file, write it in several smaller edits).";
    /// The result of a call that never ran because the run stopped first.
    pub const NOT_RUN: &str = "Not run: the run stopped before this call.";
    /// The result of a call interrupted by a crash or restart.
    pub const INTERRUPTED: &str = "Interrupted: the run was restarted while this call was in progress; its effects are unknown. Inspect the workspace before repeating it.";
    /// Introduces the assembled context in the system prompt.
    pub const CONTEXT_HEADING: &str = "# Context from the repository\n\nThe project's own instructions (follow them) and other context:\n\n";
    /// The result of a `finish` call.
    pub const FINISH_ACK: &str = "Finish recorded.";
}

/// The loop's state machine. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Engine {
    config: EngineConfig,
    state: RunState,
    counter: compaction::TokenCounter,
    /// The same counts with one token per byte: an upper bound that needs no
    /// tokenizer, so short runs never load one.
    bound: compaction::TokenCounter,
}

impl Engine {
    /// A new run for `task`, whose first user message is `opening`.
    pub fn new(config: EngineConfig, task: Task, opening: String) -> Self {
        let state = RunState::new(task, Message::user(opening));
        Self {
            config,
            state,
            counter: Default::default(),
            bound: compaction::TokenCounter::new(std::sync::Arc::new(crate::tokenizer::ByteBound)),
        }
    }

    /// Continues a stored run. A turn interrupted mid-way is repaired: calls
    /// that have no result get an "interrupted" error result, a pending model
    /// call is made again, verification and publishing are redone (publishing
    /// is idempotent).
    pub fn resume(config: EngineConfig, state: RunState) -> Self {
        let mut engine = Self {
            config,
            state,
            counter: Default::default(),
            bound: compaction::TokenCounter::new(std::sync::Arc::new(crate::tokenizer::ByteBound)),
        };
        if let Phase::AwaitingTools { calls, results } = &mut engine.state.phase {
            for (i, slot) in results.iter_mut().enumerate() {
                if slot.is_none() {
                    *slot = Some(error_result(&calls[i], state::interrupted()));
                }
            }
        }
        if matches!(engine.state.phase, Phase::AwaitingModel) {
            engine.state.phase = Phase::Ready;
        }
        engine
    }

    /// The run state (serialize it to checkpoint).
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Sets the context text appended to the system prompt.
    pub fn set_context(&mut self, context: String) {
        self.state.context = Some(context);
        self.counter.reset_fixed();
        self.bound.reset_fixed();
    }

    /// Adds wall time spent by the driver since the last report.
    pub fn add_elapsed(&mut self, elapsed: Duration) {
        self.state.elapsed += elapsed;
    }

    /// Records the commit and branch the work started from.
    pub fn set_base(&mut self, commit: String, branch: String) {
        self.state.base_commit = Some(commit);
        self.state.base_branch = Some(branch);
    }

    /// What to do next.
    pub fn next_step(&mut self) -> Step {
        loop {
            match &self.state.phase {
                Phase::Done(reason) => return Step::Done(reason.clone()),
                Phase::Ready => {
                    if let Some(reason) = self.budget_exceeded() {
                        self.state.phase = Phase::Done(reason);
                        continue;
                    }
                    if let Some(plan) = self.compaction_due() {
                        self.state.phase = Phase::Compacting { plan };
                        continue;
                    }
                    self.state.phase = Phase::AwaitingModel;
                    return Step::CallModel(Box::new(self.request()));
                }
                Phase::AwaitingModel => return Step::CallModel(Box::new(self.request())),
                Phase::AwaitingTools { calls, results } => {
                    if results.iter().all(Option::is_some) {
                        self.close_tool_turn();
                        continue;
                    }
                    let pending: Vec<(usize, ToolCall)> = calls
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| results[*i].is_none())
                        .map(|(i, c)| (i, c.clone()))
                        .collect();
                    return Step::CallTools(ToolPlan::new(pending, &self.config.tools));
                }
                Phase::Compacting { plan } => {
                    return Step::Compact(Box::new(self.compaction_job(plan)));
                }
                Phase::Verifying { .. } => return Step::Verify,
                Phase::Publishing { summary } => {
                    return Step::Publish {
                        summary: summary.clone(),
                    };
                }
            }
        }
    }

    /// The system prompt with the context appended.
    fn system_prompt(&self) -> String {
        let mut system = self.config.system_prompt.clone();
        if let Some(context) = self.state.context.as_deref().filter(|c| !c.is_empty()) {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(prompts::CONTEXT_HEADING);
            system.push_str(context);
        }
        system
    }

    fn request(&self) -> ModelRequest {
        ModelRequest {
            system: self.system_prompt(),
            messages: self.state.messages.clone(),
            tools: self.config.tools.clone(),
            tool_choice: self.tool_choice(),
            max_output_tokens: self.config.call.max_output_tokens,
            temperature: self.config.call.temperature,
            reasoning_effort: self.config.call.reasoning_effort,
        }
    }

    /// The tool choice of the next model call.
    fn tool_choice(&self) -> ToolChoice {
        match &self.config.call.first_tool_choice {
            Some(first) if self.state.steps == 0 => first.clone(),
            _ => self.config.call.tool_choice.clone(),
        }
    }

    fn budget_exceeded(&self) -> Option<StopReason> {
        let b = &self.config.budgets;
        let s = &self.state;
        if s.steps >= b.max_steps {
            return Some(StopReason::MaxSteps { limit: b.max_steps });
        }
        if let Some(limit) = b.max_tokens
            && s.usage.total() >= limit
        {
            return Some(StopReason::TokenBudget {
                limit,
                used: s.usage.total(),
            });
        }
        if let Some(limit) = b.max_cost_usd
            && s.cost.usd >= limit
        {
            return Some(StopReason::CostBudget {
                limit_usd: limit,
                used_usd: s.cost.usd,
            });
        }
        if let Some(limit) = b.max_wall_time
            && s.elapsed >= limit
        {
            return Some(StopReason::WallTime { limit });
        }
        None
    }

    /// Reports the model's reply. Returns the cost of the call.
    pub fn on_model_response(&mut self, response: ModelResponse) -> Cost {
        let cost = self
            .config
            .pricing
            .map(|p| p.cost(&response.usage))
            .unwrap_or_default();
        self.state.steps += 1;
        self.compaction_on_reply();
        self.state.usage += response.usage;
        self.state.cost += cost;
        let mut message = response.message;
        message.role = Role::Assistant;
        self.ensure_unique_call_ids(&mut message);
        self.resolve_aliases(&mut message);
        let calls: Vec<ToolCall> = message.tool_calls().cloned().collect();
        self.state.messages.push(message);
        let cut_off = response.finish_reason == FinishReason::Length;
        if calls.is_empty() {
            self.state.replies_without_tools += 1;
            if self.state.replies_without_tools >= self.config.max_replies_without_tools {
                self.state.phase = Phase::Done(StopReason::NoProgress {
                    replies: self.state.replies_without_tools,
                });
            } else {
                let nudge = if cut_off {
                    prompts::CUT_OFF
                } else {
                    prompts::NO_TOOL_CALL
                };
                self.state.messages.push(Message::user(nudge));
                self.state.phase = Phase::Ready;
            }
            return cost;
        }
        self.state.replies_without_tools = 0;
        let results = calls
            .iter()
            .map(|call| {
                self.precheck(call, cut_off)
                    .map(|msg| error_result(call, msg))
            })
            .collect();
        self.state.phase = Phase::AwaitingTools { calls, results };
        cost
    }

    /// Gives calls with an empty or repeated id a fresh one (`call_<step>_<n>`),
    /// so every result can be matched to its call by id.
    fn ensure_unique_call_ids(&self, message: &mut Message) {
        let mut seen: std::collections::HashSet<String> = self
            .state
            .messages
            .iter()
            .flat_map(|m| m.tool_calls().map(|c| c.id.clone()))
            .collect();
        for (n, part) in message.parts.iter_mut().enumerate() {
            if let Part::ToolCall(call) = part
                && (call.id.is_empty() || !seen.insert(call.id.clone()))
            {
                call.id = format!("call_{}_{}", self.state.steps, n + 1);
                while !seen.insert(call.id.clone()) {
                    call.id.push('_');
                }
            }
        }
    }

    /// Calls made by an alias are recorded under the tool's own name, so
    /// the history only ever names tools the model is shown.
    fn resolve_aliases(&self, message: &mut Message) {
        if self.config.tool_aliases.is_empty() {
            return;
        }
        for part in &mut message.parts {
            if let Part::ToolCall(call) = part
                && let Some(name) = self.config.tool_aliases.get(&call.name)
            {
                call.name = name.clone();
            }
        }
    }

    /// Errors the engine can detect without running the tool. In a reply cut
    /// off by the output limit (`cut_off`), a call whose arguments are not a
    /// whole JSON object was truncated: it is not run, and the model is told.
    fn precheck(&self, call: &ToolCall, cut_off: bool) -> Option<String> {
        if cut_off
            && !serde_json::from_str::<serde_json::Value>(&call.arguments)
                .is_ok_and(|v| v.is_object())
        {
            return Some(prompts::CALL_CUT_OFF.to_string());
        }
        if !self.config.tools.iter().any(|t| t.name == call.name) {
            let names: Vec<&str> = self.config.tools.iter().map(|t| t.name.as_str()).collect();
            return Some(format!(
                "Unknown tool `{}`. Available tools: {}.",
                call.name,
                names.join(", ")
            ));
        }
        None
    }

    /// Whether the last reply's call at `index` is still waiting for its result.
    pub fn is_pending(&self, index: usize) -> bool {
        matches!(&self.state.phase, Phase::AwaitingTools { results, .. } if results.get(index).is_some_and(Option::is_none))
    }

    /// Reports a failed model call. The run stops with the error's class,
    /// except for a first `ContextLength` error, which compacts the
    /// conversation and retries the call (see [`compaction`]).
    pub fn on_model_error(&mut self, error: &ModelError) {
        if self.compact_after_error(error) {
            return;
        }
        self.state.phase = Phase::Done(StopReason::ModelError {
            kind: error.kind(),
            message: error.to_string(),
        });
    }

    /// Reports the outcome of the call at `index` of the current plan.
    /// Reports for calls that are not pending are ignored.
    pub fn on_tool_result(&mut self, index: usize, outcome: ToolCallOutcome) {
        let Phase::AwaitingTools { calls, results } = &mut self.state.phase else {
            return;
        };
        let Some(slot) = results.get_mut(index).filter(|s| s.is_none()) else {
            return;
        };
        let call = &calls[index];
        let (content, is_error) = match &outcome {
            ToolCallOutcome::Output { content, is_error } => (content.clone(), *is_error),
            ToolCallOutcome::Finish { summary } => {
                self.state.finish = Some(state::Control::Finish {
                    summary: summary.clone(),
                });
                (prompts::FINISH_ACK.to_string(), false)
            }
            ToolCallOutcome::NeedsHuman { question } => {
                self.state.finish = Some(state::Control::NeedsHuman {
                    question: question.clone(),
                });
                (format!("Question recorded for a human: {question}"), false)
            }
            ToolCallOutcome::Fatal { message } => {
                self.state.finish = Some(state::Control::Stop(StopReason::EnvironmentFailed {
                    message: message.clone(),
                }));
                (
                    "The tool's environment failed; the run is stopping.".to_string(),
                    true,
                )
            }
            ToolCallOutcome::Stopped { reason } => {
                self.state.finish = Some(state::Control::Stop(StopReason::HookStopped {
                    reason: reason.clone(),
                }));
                (format!("Not run: stopped by policy: {reason}"), true)
            }
        };
        *slot = Some(ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content,
            is_error,
        });
        // A stop answers every call still waiting, so the turn can close.
        if matches!(self.state.finish, Some(state::Control::Stop(_))) {
            for (i, slot) in results.iter_mut().enumerate() {
                if slot.is_none() {
                    *slot = Some(error_result(&calls[i], prompts::NOT_RUN.to_string()));
                }
            }
        }
    }

    /// Stops the run for `reason` (cancellation, a hook, the wall clock).
    /// Any call still waiting is answered with "not run", so the history stays paired.
    pub fn stop(&mut self, reason: StopReason) {
        if let Phase::AwaitingTools { calls, results } = &mut self.state.phase {
            for (i, slot) in results.iter_mut().enumerate() {
                if slot.is_none() {
                    *slot = Some(error_result(&calls[i], prompts::NOT_RUN.to_string()));
                }
            }
            self.state.finish = None;
            self.close_tool_turn();
        }
        self.state.phase = Phase::Done(reason);
    }

    /// Pushes the results of a complete tool turn and decides what follows.
    fn close_tool_turn(&mut self) {
        let Phase::AwaitingTools { calls, results } =
            std::mem::replace(&mut self.state.phase, Phase::Ready)
        else {
            return;
        };
        self.observe_plan(&calls, &results);
        let parts = results
            .into_iter()
            .flatten()
            .map(Part::ToolResult)
            .collect();
        self.state.messages.push(Message {
            role: Role::User,
            parts,
        });
        self.state.phase = match self.state.finish.take() {
            None => Phase::Ready,
            Some(state::Control::Stop(reason)) => Phase::Done(reason),
            Some(state::Control::NeedsHuman { question }) => {
                Phase::Done(StopReason::NeedsHuman { question })
            }
            Some(state::Control::Finish { summary }) => self.after_finish(summary),
        };
    }

    fn after_finish(&self, summary: String) -> Phase {
        if self.config.verify {
            Phase::Verifying { summary }
        } else if self.config.publish {
            Phase::Publishing { summary }
        } else {
            Phase::Done(StopReason::Finished { summary })
        }
    }

    /// Reports a verification. A failure goes back to the model as feedback
    /// until the attempts run out.
    pub fn on_verification(&mut self, verification: Verification) {
        let Phase::Verifying { summary } = &self.state.phase else {
            return;
        };
        let summary = summary.clone();
        self.state.verify_attempts += 1;
        let passed = verification.passed;
        let feedback = verification.feedback();
        self.state.last_verification = Some(verification);
        self.state.phase = if passed {
            if self.config.publish {
                Phase::Publishing { summary }
            } else {
                Phase::Done(StopReason::Finished { summary })
            }
        } else if self.state.verify_attempts >= self.config.max_verify_attempts {
            Phase::Done(StopReason::VerificationFailed {
                attempts: self.state.verify_attempts,
            })
        } else {
            self.state.messages.push(Message::user(feedback));
            Phase::Ready
        };
    }

    /// Reports that the verifier could not run.
    pub fn on_verification_error(&mut self, message: String) {
        self.state.phase = Phase::Done(StopReason::EnvironmentFailed { message });
    }

    /// Reports a published pull request.
    pub fn on_published(&mut self, pull_request: crate::forge::PullRequest) {
        if let Phase::Publishing { summary } = &self.state.phase {
            let summary = summary.clone();
            self.state.pull_request = Some(pull_request);
            self.state.phase = Phase::Done(StopReason::Finished { summary });
        }
    }

    /// Reports that publishing was skipped (nothing to publish, or a hook said so).
    pub fn on_publish_skipped(&mut self) {
        if let Phase::Publishing { summary } = &self.state.phase {
            self.state.phase = Phase::Done(StopReason::Finished {
                summary: summary.clone(),
            });
        }
    }

    /// Reports that publishing failed.
    pub fn on_publish_failed(&mut self, message: String) {
        self.state.phase = Phase::Done(StopReason::PublishFailed { message });
    }
}

fn error_result(call: &ToolCall, content: String) -> ToolResult {
    ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content,
        is_error: true,
    }
}
