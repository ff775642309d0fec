//! The engine's side of compaction: deciding, planning and applying.

use std::sync::Arc;

use crate::message::{Message, Role, ToolCall, ToolResult};
use crate::model::{ModelError, ModelRequest, ToolChoice};
use crate::tokenizer::Tokenizer;
use crate::tool::ToolSpec;

use super::super::{Engine, Phase};
use super::ledger::{TokenCounter, message_tokens, tool_tokens};
use super::restate::{Restatement, prompts, summary_request_text};
use super::{
    CompactionInputs, CompactionJob, CompactionPlan, CompactionReport, CompactionTrigger,
    DiffRequest, TaskPlan, mask,
};

/// Tokens kept free in the target for the restatement's own sections
/// (plan, diff, verification) besides the summary.
const RESTATEMENT_ALLOWANCE: usize = 600;
/// Characters of the last failing verification re-stated.
const VERIFICATION_CHARS: usize = 3_000;
/// The smallest per-output excerpt the summariser is shown.
const MIN_OUTPUT_CHARS: usize = 200;

impl Engine {
    /// Counts tokens with `tokenizer` (the model's own, when it has one)
    /// instead of the four-bytes-per-token estimate.
    pub fn set_tokenizer(&mut self, tokenizer: Arc<dyn Tokenizer>) {
        self.counter = TokenCounter::new(tokenizer);
    }

    /// The estimated size of the next request in tokens: system prompt, tool
    /// schemas and messages. Incremental: only messages added since the last
    /// call are counted.
    pub fn request_tokens(&mut self) -> usize {
        self.fixed_tokens() + self.counter.messages(&self.state.messages)
    }

    fn fixed_tokens(&mut self) -> usize {
        if let Some(fixed) = self.counter.fixed() {
            return fixed;
        }
        let fixed = fixed_count(
            self.counter.tokenizer(),
            &self.system_prompt(),
            &self.config.tools,
        );
        self.counter.set_fixed(fixed);
        fixed
    }

    /// An upper bound of [`Engine::request_tokens`] that needs no tokenizer
    /// (one token per byte; see [`Tokenizer::count`]), incremental too.
    fn request_tokens_at_most(&mut self) -> usize {
        let fixed = match self.bound.fixed() {
            Some(fixed) => fixed,
            None => {
                let fixed = fixed_count(
                    self.bound.tokenizer(),
                    &self.system_prompt(),
                    &self.config.tools,
                );
                self.bound.set_fixed(fixed);
                fixed
            }
        };
        fixed + self.bound.messages(&self.state.messages)
    }

    /// Whether a threshold compaction is due before the next model call.
    pub(in crate::engine) fn compaction_due(&mut self) -> Option<CompactionPlan> {
        let config = &self.config.compaction;
        if !config.enabled || self.state.compaction.since_call || self.state.messages.len() < 3 {
            return None;
        }
        let window = config.window_tokens?;
        let limit = (window as f64 * config.threshold) as usize;
        if self.request_tokens_at_most() <= limit || self.request_tokens() <= limit {
            return None;
        }
        let plan = self.plan_compaction(CompactionTrigger::Threshold);
        if plan.mask.is_empty() && plan.split <= 1 {
            // Nothing can be shrunk: let the call go (a `ContextLength`
            // error still gets its forced compaction).
            self.state.compaction.since_call = true;
            return None;
        }
        Some(plan)
    }

    /// Handles a `ContextLength` error by compacting and retrying the call
    /// once. Returns whether it did.
    pub(in crate::engine) fn compact_after_error(&mut self, error: &ModelError) -> bool {
        if !matches!(error, ModelError::ContextLength { .. })
            || !self.config.compaction.enabled
            || self.state.compaction.retrying
        {
            return false;
        }
        self.state.compaction.retrying = true;
        let plan = self.plan_compaction(CompactionTrigger::ContextLength);
        self.state.phase = Phase::Compacting { plan };
        true
    }

    /// A model call was answered: the next one may compact again.
    pub(in crate::engine) fn compaction_on_reply(&mut self) {
        self.state.compaction.since_call = false;
        self.state.compaction.retrying = false;
    }

    /// Decides what to mask and where to split. Pure: the same state gives
    /// the same plan.
    fn plan_compaction(&mut self, trigger: CompactionTrigger) -> CompactionPlan {
        let fixed = self.fixed_tokens();
        let total = self.counter.messages(&self.state.messages);
        let before = fixed + total;
        let config = &self.config.compaction;
        let mut target = match config.window_tokens {
            Some(window) => (window as f64 * config.target) as usize,
            None => before / 2,
        };
        if trigger == CompactionTrigger::ContextLength {
            target = target.min(before / 2);
        }
        let tok = self.counter.tokenizer();
        let task_tokens = tok.count(&self.task_statement());
        // Room for the restatement's summary, diff and notes: at most half the target.
        let reserve = (config.summary_max_tokens as usize
            + config.diff_max_chars / 3
            + RESTATEMENT_ALLOWANCE)
            .min(target / 2);
        let budget = target.saturating_sub(fixed + task_tokens + reserve);
        let messages = &self.state.messages;
        let first = self.counter.counts().first().copied().unwrap_or(0);
        let keep = match trigger {
            CompactionTrigger::Threshold => config.keep_recent_outputs,
            CompactionTrigger::ContextLength => 0,
        };
        let (mask, after_mask) = mask::choose(
            tok,
            messages,
            total - first,
            budget,
            keep,
            config.min_mask_tokens,
        );
        let split = if after_mask <= budget {
            1
        } else {
            let mut masked = messages.clone();
            mask::apply(tok, &mut masked, &mask);
            split_point(tok, &masked, budget)
        };
        let mask = mask.into_iter().filter(|(m, _)| *m >= split).collect();
        CompactionPlan {
            trigger,
            before_tokens: before,
            mask,
            split,
        }
    }

    /// The IO a compaction needs.
    pub(in crate::engine) fn compaction_job(&self, plan: &CompactionPlan) -> CompactionJob {
        let config = &self.config.compaction;
        let summarize = (plan.split > 1).then(|| {
            let turns = &self.state.messages[1..plan.split.min(self.state.messages.len())];
            Box::new(ModelRequest {
                system: prompts::SUMMARIZE.to_string(),
                messages: vec![Message::user(self.summary_input(turns, plan.before_tokens))],
                tools: Vec::new(),
                tool_choice: ToolChoice::Auto,
                max_output_tokens: Some(config.summary_max_tokens),
                temperature: None,
                reasoning_effort: None,
            })
        });
        CompactionJob {
            plan: plan.clone(),
            diff: DiffRequest {
                base: self.state.base_commit.clone(),
                max_chars: config.diff_max_chars,
            },
            summarize,
        }
    }

    /// The summariser's input, shrunk until it fits half the run's request
    /// (tool outputs shortened first, then the oldest part left out).
    fn summary_input(&self, turns: &[Message], before_tokens: usize) -> String {
        let config = &self.config.compaction;
        let cap = config
            .window_tokens
            .map(|w| (w as f64 * config.target) as usize)
            .unwrap_or(before_tokens / 2)
            .max(1_000);
        let tok = self.counter.tokenizer();
        let task = self.task_statement();
        let previous = self.state.compaction.summary.as_deref();
        let mut chars = config.summary_output_chars.max(MIN_OUTPUT_CHARS);
        loop {
            let text = summary_request_text(&task, previous, turns, chars);
            let tokens = tok.count(&text);
            if tokens <= cap {
                return text;
            }
            if chars > MIN_OUTPUT_CHARS {
                chars = (chars / 2).max(MIN_OUTPUT_CHARS);
                continue;
            }
            // Keep the end of the transcript (the most recent turns).
            let keep = text.len() * cap / tokens.max(1);
            let mut start = text.len().saturating_sub(keep);
            while !text.is_char_boundary(start) {
                start += 1;
            }
            return format!(
                "[… the oldest part of the conversation was left out]\n\n{}",
                &text[start..]
            );
        }
    }

    /// Reports what the driver did for the current compaction and rewrites
    /// the history. Returns what was done, or `None` when no compaction was
    /// under way (the report is then ignored).
    pub fn on_compacted(&mut self, inputs: CompactionInputs) -> Option<CompactionReport> {
        let Phase::Compacting { plan } = &self.state.phase else {
            return None;
        };
        let plan = plan.clone();
        self.state.usage += inputs.usage;
        self.state.cost += inputs.cost;
        let task = self.task_statement();
        let mut messages = std::mem::take(&mut self.state.messages);
        mask::apply(self.counter.tokenizer(), &mut messages, &plan.mask);
        let split = plan.split.clamp(1, messages.len().max(1));
        let removed = split - 1;
        let (mut summarised, mut dropped, mut summary_error) = (0, 0, None);
        if removed > 0 {
            match inputs.summary {
                Some(Ok(summary)) if !summary.trim().is_empty() => {
                    summarised = removed;
                    let from_tool = self
                        .state
                        .compaction
                        .plan
                        .as_ref()
                        .is_some_and(|p| p.source != "summary");
                    if !from_tool && let Some(plan) = TaskPlan::from_summary(&summary) {
                        self.state.compaction.plan = Some(plan);
                    }
                    self.state.compaction.summary = Some(summary);
                }
                Some(Ok(_)) => summary_error = Some("the summariser returned no text".to_string()),
                Some(Err(why)) => summary_error = Some(why),
                None => summary_error = Some("no summary was made".to_string()),
            }
            if summary_error.is_some() {
                dropped = removed;
                self.state.compaction.dropped += removed;
            }
        }
        let tail = messages.split_off(split.min(messages.len()));
        let masked = plan.mask.len();
        self.state.compaction.count += 1;
        let restatement = Restatement {
            compaction: self.state.compaction.count,
            task: &task,
            plan: self.state.compaction.plan.as_ref(),
            summary: self.state.compaction.summary.as_deref(),
            dropped: summary_error.as_deref().map(|why| (dropped, why)),
            diff: inputs.diff.as_ref(),
            verification: self.state.last_verification.as_ref(),
            verification_chars: VERIFICATION_CHARS,
        }
        .message();
        let mut history = Vec::with_capacity(tail.len() + 1);
        history.push(restatement);
        history.extend(tail);
        self.state.messages = history;
        self.state.compaction.task_statement = Some(task);
        self.state.compaction.since_call = true;
        self.state.phase = Phase::Ready;
        self.counter.reset();
        self.bound.reset();
        let after = self.request_tokens();
        Some(CompactionReport {
            trigger: plan.trigger,
            before_tokens: plan.before_tokens,
            after_tokens: after,
            masked,
            summarised,
            dropped,
            summary_error,
        })
    }

    /// Follows the agent's plan tool: a successful call replaces the plan.
    pub(in crate::engine) fn observe_plan(
        &mut self,
        calls: &[ToolCall],
        results: &[Option<ToolResult>],
    ) {
        let names = &self.config.compaction.plan_tools;
        for (call, result) in calls.iter().zip(results) {
            let ok = result.as_ref().is_some_and(|r| !r.is_error);
            if ok
                && names.iter().any(|n| n == &call.name)
                && let Some(plan) = TaskPlan::from_tool_arguments(&call.name, &call.arguments)
            {
                self.state.compaction.plan = Some(plan);
            }
        }
    }

    /// The run's task as first stated (the opening message).
    fn task_statement(&self) -> String {
        match &self.state.compaction.task_statement {
            Some(task) => task.clone(),
            None => self
                .state
                .messages
                .first()
                .map(Message::text)
                .unwrap_or_default(),
        }
    }
}

/// Where to split `messages` so the tail fits `budget`: the earliest
/// assistant message whose tail fits, else the last assistant message (1
/// when there is none past the opening).
fn split_point(tok: &dyn Tokenizer, messages: &[Message], budget: usize) -> usize {
    let mut tail = 0;
    let mut split = None;
    let mut last_assistant = None;
    for i in (1..messages.len()).rev() {
        tail += message_tokens(tok, &messages[i]);
        if messages[i].role == Role::Assistant {
            last_assistant.get_or_insert(i);
            if tail <= budget {
                split = Some(i);
            } else {
                break;
            }
        }
    }
    split.or(last_assistant).unwrap_or(1)
}

/// Tokens of the system prompt and the tool schemas with `tokenizer`.
fn fixed_count(tokenizer: &dyn Tokenizer, system: &str, tools: &[ToolSpec]) -> usize {
    tokenizer.count(system) + tool_tokens(tokenizer, tools)
}
