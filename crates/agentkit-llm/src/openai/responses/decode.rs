//! Decoding the Responses API's answers into [`StreamEvent`]s.
//!
//! The event mapping is documented on the parent module. A whole
//! (non-streamed) body is decoded by feeding its `output` items through the
//! same steps as streamed items, so both paths agree.
//!
//! Tool calls are keyed by `output_index` (by `item_id` when a server omits
//! the index); the id a call gets is its `call_id`, which tool results must
//! echo. The item id (`fc_...`) is not kept: stateless requests do not need it.

use std::collections::HashSet;

use agentkit_core::model::{ErrorDetail, FinishReason, ModelError, StreamEvent};
use agentkit_core::usage::Usage;
use serde_json::Value;

use super::REASONING_PROVIDER;
use super::error::classify_in_stream;
use super::wire::{ReasoningItem, WireError, WireEvent, WireItem, WireResponse, WireUsage};
use crate::assemble::ToolCallAssembler;
use crate::classify::truncate;
use crate::protocol::StreamDecoder;
use crate::sse::SseEvent;

/// The event types this decoder acts on; every other type is skipped
/// without being parsed further.
const HANDLED: &[&str] = &[
    "response.output_item.added",
    "response.output_text.delta",
    "response.refusal.delta",
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
];

/// What separates two summary parts of one reasoning item in the text we
/// show (the provider streams them as separate parts).
const SUMMARY_SEPARATOR: &str = "\n\n";

/// The reasoning item being streamed.
#[derive(Debug, Default)]
struct OpenReasoning {
    /// Whether any reasoning text of this item has been passed on.
    wrote_text: bool,
    /// The summary part the last delta belonged to.
    summary_index: Option<u64>,
}

/// Decodes one streamed response.
#[derive(Debug, Default)]
pub(super) struct ResponsesDecoder {
    calls: ToolCallAssembler,
    /// Calls (by key) whose argument text has been passed on.
    with_arguments: HashSet<String>,
    /// Message items (by output index) whose text has been passed on.
    with_text: HashSet<Option<u64>>,
    reasoning: Option<OpenReasoning>,
    done: bool,
}

impl StreamDecoder for ResponsesDecoder {
    fn event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ModelError> {
        if self.done {
            return Ok(Vec::new());
        }
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let value: Value = match serde_json::from_str(data) {
            Ok(value) => value,
            Err(_) if !HANDLED.contains(&event.event.as_str()) => return Ok(Vec::new()),
            Err(error) => return Err(undecodable(&event.event, &error.to_string(), data)),
        };
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event.event.as_str())
            .to_owned();
        if !HANDLED.contains(&kind.as_str()) {
            return Ok(Vec::new());
        }
        let payload: WireEvent = serde_json::from_value(value)
            .map_err(|error| undecodable(&kind, &error.to_string(), data))?;
        self.handle(&kind, payload, data)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ModelError> {
        if self.done {
            return Ok(Vec::new());
        }
        Err(ModelError::Transient {
            detail: ErrorDetail::message(
                "the Responses API stream ended early, before `response.completed`; \
                 the connection was probably cut, so retry the call",
            ),
        })
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

impl ResponsesDecoder {
    fn handle(
        &mut self,
        kind: &str,
        event: WireEvent,
        raw: &str,
    ) -> Result<Vec<StreamEvent>, ModelError> {
        let index = event.output_index;
        Ok(match kind {
            "response.output_item.added" => match event.item {
                Some(item) => self.item_added(index, &item),
                None => Vec::new(),
            },
            "response.output_text.delta" | "response.refusal.delta" => {
                match event.delta.filter(|d| !d.is_empty()) {
                    Some(text) => {
                        self.with_text.insert(index);
                        vec![StreamEvent::TextDelta { text }]
                    }
                    None => Vec::new(),
                }
            }
            "response.reasoning_summary_text.delta" => {
                self.reasoning_delta(event.delta, event.summary_index)
            }
            "response.reasoning_text.delta" => self.reasoning_delta(event.delta, None),
            "response.function_call_arguments.delta" => {
                let key = call_key(index, event.item_id.as_deref());
                self.arguments(&key, event.delta.as_deref())
            }
            "response.function_call_arguments.done" => {
                let key = call_key(index, event.item_id.as_deref());
                if self.with_arguments.contains(&key) {
                    Vec::new()
                } else {
                    self.arguments(&key, event.arguments.as_deref())
                }
            }
            "response.output_item.done" => match event.item {
                Some(item) => self.item_done(index, item),
                None => Vec::new(),
            },
            "response.completed" => self.completed(event.response.unwrap_or_default()),
            "response.incomplete" => self.incomplete(event.response.unwrap_or_default()),
            "response.failed" => {
                self.done = true;
                let error = event
                    .response
                    .and_then(|response| response.error)
                    .unwrap_or_default();
                return Err(classify_in_stream(&error, raw));
            }
            "error" => {
                self.done = true;
                let error = event.error.unwrap_or(WireError {
                    code: event.code,
                    message: event.message,
                    kind: None,
                });
                return Err(classify_in_stream(&error, raw));
            }
            _ => Vec::new(),
        })
    }

    fn item_added(&mut self, index: Option<u64>, item: &WireItem) -> Vec<StreamEvent> {
        match item.kind.as_deref() {
            Some("function_call") => self.start_call(index, item),
            Some("reasoning") => {
                self.reasoning = Some(OpenReasoning::default());
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn item_done(&mut self, index: Option<u64>, item: WireItem) -> Vec<StreamEvent> {
        match item.kind.as_deref() {
            Some("function_call") => {
                let key = call_key(index, item.id.as_deref());
                let mut events = self.start_call(index, &item);
                if !self.with_arguments.contains(&key) {
                    events.extend(self.arguments(&key, item.arguments.as_deref()));
                }
                events.extend(self.calls.end(&key));
                events
            }
            Some("reasoning") => self.reasoning_done(item),
            Some("message") => {
                if self.with_text.contains(&index) {
                    return Vec::new();
                }
                let text: String = item
                    .content
                    .iter()
                    .flatten()
                    .filter_map(|part| part.get("text").or_else(|| part.get("refusal")))
                    .filter_map(Value::as_str)
                    .collect();
                self.with_text.insert(index);
                if text.is_empty() {
                    Vec::new()
                } else {
                    vec![StreamEvent::TextDelta { text }]
                }
            }
            _ => Vec::new(),
        }
    }

    fn start_call(&mut self, index: Option<u64>, item: &WireItem) -> Vec<StreamEvent> {
        let key = call_key(index, item.id.as_deref());
        let id = item
            .call_id
            .as_deref()
            .or(item.id.as_deref())
            .unwrap_or(key.as_str())
            .to_owned();
        let name = item.name.as_deref().unwrap_or_default();
        self.calls.start(&key, &id, name)
    }

    fn arguments(&mut self, key: &str, fragment: Option<&str>) -> Vec<StreamEvent> {
        let events = self.calls.delta(key, fragment.unwrap_or_default());
        if !events.is_empty() {
            self.with_arguments.insert(key.to_owned());
        }
        events
    }

    fn reasoning_delta(&mut self, delta: Option<String>, summary: Option<u64>) -> Vec<StreamEvent> {
        let Some(text) = delta.filter(|d| !d.is_empty()) else {
            return Vec::new();
        };
        let block = self.reasoning.get_or_insert_with(OpenReasoning::default);
        let mut events = Vec::new();
        if summary.is_some() {
            if block.wrote_text && summary != block.summary_index {
                events.push(reasoning_text(SUMMARY_SEPARATOR.to_owned()));
            }
            block.summary_index = summary;
        }
        block.wrote_text = true;
        events.push(reasoning_text(text));
        events
    }

    /// Closes the reasoning block with the item to pass back. When no text
    /// was streamed (a whole body, a server that sends only the finished
    /// item), the item's summary (or raw reasoning text) is the text.
    fn reasoning_done(&mut self, item: WireItem) -> Vec<StreamEvent> {
        let wrote_text = self.reasoning.take().is_some_and(|block| block.wrote_text);
        let mut events = Vec::new();
        if !wrote_text {
            let text = [&item.summary, &item.content]
                .into_iter()
                .map(|parts| texts_of(parts.as_deref()))
                .find(|text| !text.is_empty())
                .unwrap_or_default();
            if !text.is_empty() {
                events.push(reasoning_text(text));
            }
        }
        let signature = item.id.and_then(|id| {
            serde_json::to_string(&ReasoningItem {
                id,
                summary: item.summary.unwrap_or_default(),
                encrypted_content: item.encrypted_content,
                content: item.content,
            })
            .ok()
        });
        events.push(StreamEvent::ReasoningEnd {
            signature,
            provider: Some(REASONING_PROVIDER.to_owned()),
        });
        events
    }

    /// Ends what is still open when the response ends: a reasoning block
    /// whose item never completed (kept as text only) and unfinished calls.
    fn close_open(&mut self) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.reasoning.take().is_some() {
            events.push(StreamEvent::ReasoningEnd {
                signature: None,
                provider: None,
            });
        }
        events.extend(self.calls.end_all());
        events
    }

    fn completed(&mut self, response: WireResponse) -> Vec<StreamEvent> {
        let reason = if self.calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        self.finish(response, reason)
    }

    fn incomplete(&mut self, response: WireResponse) -> Vec<StreamEvent> {
        let reason = match response
            .incomplete_details
            .as_ref()
            .and_then(|details| details.reason.as_deref())
        {
            Some("max_output_tokens") => FinishReason::Length,
            Some("content_filter") => FinishReason::ContentFilter,
            Some(other) => FinishReason::Other(other.to_owned()),
            None => FinishReason::Other("incomplete".to_owned()),
        };
        self.finish(response, reason)
    }

    fn finish(&mut self, response: WireResponse, reason: FinishReason) -> Vec<StreamEvent> {
        self.done = true;
        let mut events = self.close_open();
        if let Some(usage) = response.usage {
            events.push(StreamEvent::Usage(usage_of(usage)));
        }
        events.push(StreamEvent::Finish { reason });
        events
    }
}

/// Decodes a whole (non-streamed) response body.
pub(super) fn decode_body(body: &[u8]) -> Result<Vec<StreamEvent>, ModelError> {
    let raw = String::from_utf8_lossy(body);
    let mut response: WireResponse = serde_json::from_slice(body)
        .map_err(|error| undecodable("response body", &error.to_string(), &raw))?;
    let mut decoder = ResponsesDecoder::default();
    let mut events = Vec::new();
    for (position, item) in response.output.take().into_iter().flatten().enumerate() {
        let index = Some(position as u64);
        events.extend(decoder.item_added(index, &item));
        events.extend(decoder.item_done(index, item));
    }
    let status = response.status.clone();
    match status.as_deref() {
        None | Some("completed") => events.extend(decoder.completed(response)),
        Some("incomplete") => events.extend(decoder.incomplete(response)),
        Some("failed") => {
            return Err(classify_in_stream(
                &response.error.unwrap_or_default(),
                &raw,
            ));
        }
        Some(other) => {
            let reason = FinishReason::Other(other.to_owned());
            events.extend(decoder.finish(response, reason));
        }
    }
    Ok(events)
}

fn call_key(output_index: Option<u64>, item_id: Option<&str>) -> String {
    match output_index {
        Some(index) => format!("#{index}"),
        None => item_id.unwrap_or_default().to_owned(),
    }
}

fn reasoning_text(text: String) -> StreamEvent {
    StreamEvent::ReasoningDelta {
        text,
        signature: None,
    }
}

/// The `text` of each part, joined by a blank line.
fn texts_of(parts: Option<&[Value]>) -> String {
    let texts: Vec<&str> = parts
        .unwrap_or_default()
        .iter()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .filter(|text| !text.is_empty())
        .collect();
    texts.join(SUMMARY_SEPARATOR)
}

fn usage_of(usage: WireUsage) -> Usage {
    Usage {
        input_tokens: usage.input_tokens.unwrap_or_default(),
        output_tokens: usage.output_tokens.unwrap_or_default(),
        cached_input_tokens: usage
            .input_tokens_details
            .and_then(|details| details.cached_tokens)
            .unwrap_or_default(),
        reasoning_tokens: usage
            .output_tokens_details
            .and_then(|details| details.reasoning_tokens)
            .unwrap_or_default(),
    }
}

fn undecodable(what: &str, error: &str, raw: &str) -> ModelError {
    ModelError::Transient {
        detail: ErrorDetail {
            status: None,
            body: truncate(raw),
            message: format!(
                "could not decode the Responses API's `{what}` ({error}); \
                 check that the base URL serves the OpenAI Responses API"
            ),
        },
    }
}
