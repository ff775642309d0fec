//! Turning Chat Completions replies, streamed or whole, into [`StreamEvent`]s.
//!
//! A streamed reply is a series of `data:` chunks, each with
//! `choices[0].delta` (`content`, `reasoning_content`/`reasoning`,
//! `tool_calls` fragments) and finally a `finish_reason`; when usage was
//! asked for, a last chunk with empty `choices` carries `usage`; then
//! `data: [DONE]`. A whole reply has the same fields under
//! `choices[0].message`. Both go through one [`Turn`], so they yield the
//! same events.
//!
//! Tool-call fragments are matched to their call by `index`, falling back to
//! the call `id` (some servers omit `index`, some give every call index 0),
//! and then to the call seen last. A repeated id and name (llama.cpp) does
//! not start a new call. `Finish` is emitted once, when the reply is over
//! (`[DONE]`, or the body ending after a `finish_reason`), so that the usage
//! chunk comes before it.

use std::collections::HashMap;

use agentkit_core::model::{ErrorDetail, FinishReason, ModelError, StreamEvent};
use serde_json::Value;

use super::error::{ProviderError, classify_in_band, snippet};
use super::wire::{Chunk, Completion, WireMessage, WireToolCall, WireUsage, finish_reason_text};
use crate::assemble::ToolCallAssembler;
use crate::protocol::StreamDecoder;
use crate::sse::SseEvent;

/// The reply being decoded: open reasoning, tool calls, the finish reason.
#[derive(Debug, Default)]
struct Turn {
    calls: ToolCallAssembler,
    keys: CallKeys,
    /// Calls whose name has not arrived yet, in the order they appeared.
    unnamed: Vec<(String, UnnamedCall)>,
    reasoning_open: bool,
    finish: Option<FinishReason>,
    finished: bool,
}

/// A call seen before its name.
#[derive(Debug, Default)]
struct UnnamedCall {
    id: Option<String>,
    arguments: String,
}

/// Which assembler key a tool-call fragment belongs to.
#[derive(Debug, Default)]
struct CallKeys {
    by_id: HashMap<String, String>,
    by_index: HashMap<u64, String>,
    last: Option<String>,
}

impl CallKeys {
    fn key_for(&mut self, index: Option<u64>, id: Option<&str>) -> String {
        let key = match (index, id) {
            (_, Some(id)) if self.by_id.contains_key(id) => self.by_id[id].clone(),
            // A new id at an index already in use: a server that numbers
            // every call 0. It is a new call.
            (Some(i), Some(id)) if self.by_index.contains_key(&i) => format!("id:{id}"),
            (Some(i), _) => self
                .by_index
                .get(&i)
                .cloned()
                .unwrap_or_else(|| format!("#{i}")),
            (None, Some(id)) => format!("id:{id}"),
            (None, None) => self.last.clone().unwrap_or_else(|| "#0".into()),
        };
        if let Some(id) = id {
            self.by_id.insert(id.to_owned(), key.clone());
        }
        if let Some(i) = index {
            self.by_index.insert(i, key.clone());
        }
        self.last = Some(key.clone());
        key
    }
}

impl Turn {
    /// A delta or a whole message. `positional` numbers calls that carry no
    /// `index` by their place in the list (whole messages do that).
    fn message(&mut self, message: &WireMessage, positional: bool) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        let reasoning = message.reasoning_text();
        if !reasoning.is_empty() {
            self.reasoning_open = true;
            events.push(StreamEvent::ReasoningDelta {
                text: reasoning.to_owned(),
                signature: None,
            });
        }
        let text = message.text();
        if !text.is_empty() {
            events.extend(self.close_reasoning());
            events.push(StreamEvent::TextDelta { text });
        }
        for (position, call) in message.tool_calls.iter().flatten().enumerate() {
            let fallback = positional.then_some(position as u64);
            events.extend(self.tool_call(call, fallback));
        }
        events
    }

    /// One tool call or fragment; `fallback_index` stands in for a missing `index`.
    fn tool_call(&mut self, call: &WireToolCall, fallback_index: Option<u64>) -> Vec<StreamEvent> {
        let id = call.id.as_deref().filter(|id| !id.is_empty());
        let function = call.function.as_ref();
        let name = function
            .and_then(|f| f.name.as_deref())
            .filter(|n| !n.is_empty());
        let arguments = function.and_then(|f| f.arguments_text());
        let key = self.keys.key_for(call.index.or(fallback_index), id);
        let mut events = self.close_reasoning();
        if self.calls.has(&key) {
            if let Some(arguments) = arguments {
                events.extend(self.calls.delta(&key, &arguments));
            }
            return events;
        }
        let slot = match self.unnamed.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                self.unnamed.push((key.clone(), UnnamedCall::default()));
                self.unnamed.len() - 1
            }
        };
        let pending = &mut self.unnamed[slot].1;
        if pending.id.is_none() {
            pending.id = id.map(str::to_owned);
        }
        pending
            .arguments
            .push_str(arguments.as_deref().unwrap_or(""));
        if let Some(name) = name {
            let (key, pending) = self.unnamed.remove(slot);
            events.extend(self.start(&key, pending, name));
        }
        events
    }

    /// Starts a call whose name is known, with the argument text so far.
    fn start(&mut self, key: &str, pending: UnnamedCall, name: &str) -> Vec<StreamEvent> {
        let id = pending
            .id
            .unwrap_or_else(|| format!("call_{}", self.calls.len()));
        let mut events = self.calls.start(key, &id, name);
        events.extend(self.calls.delta(key, &pending.arguments));
        events
    }

    fn usage(&self, usage: Option<&WireUsage>) -> Vec<StreamEvent> {
        usage
            .and_then(WireUsage::to_usage)
            .map(StreamEvent::Usage)
            .into_iter()
            .collect()
    }

    /// The model stopped: every call is complete. The first reason counts.
    fn finish_reason(&mut self, reason: &str) -> Vec<StreamEvent> {
        if self.finish.is_none() {
            self.finish = Some(map_finish_reason(reason));
        }
        self.settle()
    }

    /// Ends open reasoning and calls; a call that never got a name is still
    /// passed on (with an empty name) so the model hears about it.
    fn settle(&mut self) -> Vec<StreamEvent> {
        let mut events = self.close_reasoning();
        for (key, pending) in std::mem::take(&mut self.unnamed) {
            tracing::warn!(key, "a streamed tool call never received a name");
            events.extend(self.start(&key, pending, ""));
        }
        events.extend(self.calls.end_all());
        events
    }

    /// The reply is over: settle and emit `Finish`, once.
    fn close(&mut self) -> Vec<StreamEvent> {
        if self.finished {
            return Vec::new();
        }
        let mut events = self.settle();
        self.finished = true;
        let reason = self.finish.clone().unwrap_or(if self.calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        });
        events.push(StreamEvent::Finish { reason });
        events
    }

    fn close_reasoning(&mut self) -> Vec<StreamEvent> {
        if !std::mem::take(&mut self.reasoning_open) {
            return Vec::new();
        }
        vec![StreamEvent::ReasoningEnd {
            signature: None,
            provider: None,
        }]
    }
}

/// OpenAI's finish reasons; the legacy `function_call` means tool calls.
fn map_finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// The choice that answers the request (`n` is never above 1): index 0, or
/// the first one when the server numbers none.
fn first_choice<T>(choices: Option<Vec<T>>, index: impl Fn(&T) -> Option<u64>) -> Option<T> {
    let mut choices = choices?;
    let at = choices
        .iter()
        .position(|c| index(c).unwrap_or(0) == 0)
        .unwrap_or(0);
    (at < choices.len()).then(|| choices.swap_remove(at))
}

fn malformed(what: &str, error: &serde_json::Error, data: &str) -> ModelError {
    ModelError::Transient {
        detail: ErrorDetail::message(format!(
            "could not parse {what} as Chat Completions JSON ({error}); it began: {}",
            snippet(data)
        )),
    }
}

/// Decodes one streamed response.
#[derive(Debug, Default)]
pub(super) struct ChatStreamDecoder {
    turn: Turn,
    done: bool,
}

impl StreamDecoder for ChatStreamDecoder {
    fn event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ModelError> {
        let data = event.data.trim();
        if self.done || data.is_empty() {
            return Ok(Vec::new());
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(self.turn.close());
        }
        if event.event == "error" {
            let value = serde_json::from_str::<Value>(data).unwrap_or(Value::String(data.into()));
            let error = ProviderError::from_value(&value)
                .unwrap_or_else(|| ProviderError::from_error_field(&value));
            return Err(classify_in_band(&error, data));
        }
        let chunk: Chunk =
            serde_json::from_str(data).map_err(|e| malformed("a stream chunk", &e, data))?;
        if let Some(error) = chunk.error.as_ref().filter(|e| !e.is_null()) {
            let error = ProviderError::from_error_field(error);
            return Err(classify_in_band(&error, data));
        }
        let mut events = Vec::new();
        if let Some(choice) = first_choice(chunk.choices, |c| c.index) {
            if let Some(delta) = &choice.delta {
                events.extend(self.turn.message(delta, false));
            }
            if let Some(reason) = finish_reason_text(choice.finish_reason.as_ref()) {
                events.extend(self.turn.finish_reason(reason));
            }
        }
        events.extend(self.turn.usage(chunk.usage.as_ref()));
        Ok(events)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ModelError> {
        if self.done {
            return Ok(Vec::new());
        }
        if self.turn.finish.is_none() {
            return Err(ModelError::Transient {
                detail: ErrorDetail::message(
                    "the stream ended early: the connection closed before the model finished \
                     (no finish_reason and no [DONE]); the reply is truncated, retry the call",
                ),
            });
        }
        // Some servers stop after the finish_reason without sending [DONE].
        self.done = true;
        Ok(self.turn.close())
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// Decodes a whole (non-streamed) response body.
pub(super) fn decode_body(body: &[u8]) -> Result<Vec<StreamEvent>, ModelError> {
    let text = String::from_utf8_lossy(body);
    let completion: Completion =
        serde_json::from_str(&text).map_err(|e| malformed("the response body", &e, &text))?;
    if let Some(error) = completion.error.as_ref().filter(|e| !e.is_null()) {
        let error = ProviderError::from_error_field(error);
        return Err(classify_in_band(&error, &text));
    }
    let Some(choice) = first_choice(completion.choices, |c| c.index) else {
        return Err(ModelError::Transient {
            detail: ErrorDetail::message(format!(
                "the response holds no choice, so there is no reply to read; retry the call. \
                 It began: {}",
                snippet(&text)
            )),
        });
    };
    let mut turn = Turn::default();
    let mut events = Vec::new();
    if let Some(message) = &choice.message {
        events.extend(turn.message(message, true));
    }
    if let Some(reason) = finish_reason_text(choice.finish_reason.as_ref()) {
        events.extend(turn.finish_reason(reason));
    }
    events.extend(turn.usage(completion.usage.as_ref()));
    events.extend(turn.close());
    Ok(events)
}
