//! Decoding replies: the event stream and whole (non-streamed) bodies.
//!
//! A stream is `message_start`, then for each content block a
//! `content_block_start`, its `content_block_delta`s and a
//! `content_block_stop`, then `message_delta` (stop reason, cumulative
//! usage) and `message_stop`. `ping`s may come anywhere; an `error` event
//! fails the call mid-stream. Events are dispatched on the `type` inside
//! their data; unknown events, block kinds and delta kinds are ignored.
//!
//! | Anthropic                                 | [`StreamEvent`]                          |
//! |-------------------------------------------|------------------------------------------|
//! | `text` block, `text_delta`                | `TextDelta`                              |
//! | `tool_use` block, `input_json_delta`      | `ToolCallStart`, `ToolCallDelta`, `ToolCallEnd` at the block's stop |
//! | `thinking` block, `thinking_delta`        | `ReasoningDelta`                         |
//! | `signature_delta`, then the block's stop  | `ReasoningEnd { signature }` (an empty signature is none) |
//! | `redacted_thinking { data }`              | `ReasoningEnd` with the data encoded as in [`super::thinking`] |
//! | `message_start` / `message_delta` usage   | `Usage`                                  |
//! | `message_stop`                            | `Finish` (with `message_delta`'s stop reason) |
//!
//! Usage input tokens count everything the prompt cost: `input_tokens +
//! cache_read_input_tokens + cache_creation_input_tokens`, of which the
//! cache reads are the cached tokens.

use std::collections::BTreeMap;

use agentkit_core::model::{ErrorDetail, FinishReason, ModelError, StreamEvent};
use agentkit_core::usage::Usage;

use crate::assemble::ToolCallAssembler;
use crate::protocol::StreamDecoder;
use crate::sse::SseEvent;

use super::error::classify_stream_error;
use super::thinking::{PROVIDER, redacted_signature};
use super::wire::{BlockDelta, MessageBody, ResponseBlock, StreamPayload, WireUsage};

/// A content block that has started and not yet stopped.
#[derive(Debug)]
enum OpenBlock {
    Text,
    ToolUse,
    Thinking { signature: Option<String> },
    RedactedThinking { data: String },
    Ignored,
}

/// Token counts as Anthropic splits them.
#[derive(Debug, Default, Clone, Copy)]
struct UsageTally {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

impl UsageTally {
    /// Takes the fields `usage` carries (they are cumulative).
    fn update(&mut self, usage: &WireUsage) {
        let fields = [
            (&mut self.input, usage.input_tokens),
            (&mut self.output, usage.output_tokens),
            (&mut self.cache_read, usage.cache_read_input_tokens),
            (&mut self.cache_creation, usage.cache_creation_input_tokens),
        ];
        for (field, value) in fields {
            if let Some(value) = value {
                *field = value;
            }
        }
    }

    fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.input + self.cache_read + self.cache_creation,
            output_tokens: self.output,
            cached_input_tokens: self.cache_read,
            reasoning_tokens: 0,
        }
    }
}

/// Decodes one streamed Messages API response (see the module doc).
#[derive(Debug, Default)]
pub struct AnthropicDecoder {
    open: BTreeMap<u64, OpenBlock>,
    tools: ToolCallAssembler,
    usage: UsageTally,
    stop_reason: Option<String>,
    done: bool,
}

impl AnthropicDecoder {
    /// A decoder at the start of a response.
    pub fn new() -> Self {
        Self::default()
    }

    fn block_start(&mut self, index: u64, block: ResponseBlock) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        let open = match block {
            ResponseBlock::Text { text } => {
                if !text.is_empty() {
                    events.push(StreamEvent::TextDelta { text });
                }
                OpenBlock::Text
            }
            ResponseBlock::ToolUse { id, name, input } => {
                let key = index.to_string();
                events.extend(self.tools.start(&key, &id, &name));
                // Anthropic starts with `input: {}` and streams the arguments
                // as deltas; a compatible server that sends them whole here
                // is taken at its word.
                if let Some(input) = input.filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                {
                    events.extend(self.tools.delta(&key, &input.to_string()));
                }
                OpenBlock::ToolUse
            }
            ResponseBlock::Thinking {
                thinking,
                signature,
            } => {
                if !thinking.is_empty() {
                    events.push(StreamEvent::ReasoningDelta {
                        text: thinking,
                        signature: None,
                    });
                }
                OpenBlock::Thinking { signature }
            }
            ResponseBlock::RedactedThinking { data } => OpenBlock::RedactedThinking { data },
            ResponseBlock::Unknown => OpenBlock::Ignored,
        };
        self.open.insert(index, open);
        events
    }

    fn block_delta(&mut self, index: u64, delta: BlockDelta) -> Vec<StreamEvent> {
        let Some(open) = self.open.get_mut(&index) else {
            tracing::warn!(
                index,
                "dropping a delta for a content block that is not open"
            );
            return Vec::new();
        };
        match (open, delta) {
            (OpenBlock::Text, BlockDelta::TextDelta { text }) if !text.is_empty() => {
                vec![StreamEvent::TextDelta { text }]
            }
            (OpenBlock::ToolUse, BlockDelta::InputJsonDelta { partial_json }) => {
                self.tools.delta(&index.to_string(), &partial_json)
            }
            (OpenBlock::Thinking { .. }, BlockDelta::ThinkingDelta { thinking })
                if !thinking.is_empty() =>
            {
                vec![StreamEvent::ReasoningDelta {
                    text: thinking,
                    signature: None,
                }]
            }
            (OpenBlock::Thinking { signature }, BlockDelta::SignatureDelta { signature: more }) => {
                signature.get_or_insert_with(String::new).push_str(&more);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn block_stop(&mut self, index: u64) -> Vec<StreamEvent> {
        match self.open.remove(&index) {
            Some(open) => self.close(index, open),
            None => Vec::new(),
        }
    }

    fn close(&mut self, index: u64, open: OpenBlock) -> Vec<StreamEvent> {
        match open {
            OpenBlock::ToolUse => self.tools.end(&index.to_string()),
            OpenBlock::Thinking { signature } => vec![StreamEvent::ReasoningEnd {
                signature: signature.filter(|s| !s.is_empty()),
                provider: Some(PROVIDER.to_owned()),
            }],
            OpenBlock::RedactedThinking { data } => vec![StreamEvent::ReasoningEnd {
                signature: Some(redacted_signature(&data)),
                provider: Some(PROVIDER.to_owned()),
            }],
            OpenBlock::Text | OpenBlock::Ignored => Vec::new(),
        }
    }

    /// `message_stop`: closes what is still open and finishes the reply.
    fn stop(&mut self) -> Vec<StreamEvent> {
        self.done = true;
        let mut events = Vec::new();
        for (index, open) in std::mem::take(&mut self.open) {
            events.extend(self.close(index, open));
        }
        events.extend(self.tools.end_all());
        events.push(StreamEvent::Finish {
            reason: finish_reason(self.stop_reason.as_deref(), !self.tools.is_empty()),
        });
        events
    }
}

impl StreamDecoder for AnthropicDecoder {
    fn event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ModelError> {
        if self.done || event.data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let payload: StreamPayload = serde_json::from_str(&event.data).map_err(|e| {
            ModelError::Transient {
                detail: ErrorDetail {
                    status: None,
                    body: event.data.chars().take(4096).collect(),
                    message: format!(
                        "could not decode the Anthropic stream event `{}` ({e}); the stream is corrupt or cut, retry the call",
                        event.event
                    ),
                },
            }
        })?;
        Ok(match payload {
            StreamPayload::MessageStart { message } => match message.usage {
                Some(usage) => {
                    self.usage.update(&usage);
                    vec![StreamEvent::Usage(self.usage.usage())]
                }
                None => Vec::new(),
            },
            StreamPayload::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block),
            StreamPayload::ContentBlockDelta { index, delta } => self.block_delta(index, delta),
            StreamPayload::ContentBlockStop { index } => self.block_stop(index),
            StreamPayload::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                }
                match usage {
                    Some(usage) => {
                        self.usage.update(&usage);
                        vec![StreamEvent::Usage(self.usage.usage())]
                    }
                    None => Vec::new(),
                }
            }
            StreamPayload::MessageStop => self.stop(),
            StreamPayload::Error { error } => {
                self.done = true;
                return Err(classify_stream_error(&error, &event.data));
            }
            StreamPayload::Ping | StreamPayload::Unknown => Vec::new(),
        })
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ModelError> {
        if self.done {
            return Ok(Vec::new());
        }
        Err(ModelError::Transient {
            detail: ErrorDetail::message(
                "the Anthropic stream ended early, before `message_stop`: the reply is incomplete; retry the call",
            ),
        })
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// Decodes a whole (non-streamed) response body.
pub(crate) fn decode_body(body: &[u8]) -> Result<Vec<StreamEvent>, ModelError> {
    let message: MessageBody = serde_json::from_slice(body).map_err(|e| ModelError::Permanent {
        detail: ErrorDetail {
            status: None,
            body: String::from_utf8_lossy(body).chars().take(4096).collect(),
            message: format!(
                "could not decode the Anthropic response body as a message ({e}); check that base_url points at the Messages API"
            ),
        },
    })?;
    if message.kind.as_deref() == Some("error") {
        let error = message.error.unwrap_or_default();
        return Err(classify_stream_error(
            &error,
            &String::from_utf8_lossy(body),
        ));
    }
    let mut events = Vec::new();
    let mut tally = UsageTally::default();
    if let Some(usage) = &message.usage {
        tally.update(usage);
        events.push(StreamEvent::Usage(tally.usage()));
    }
    let mut tools = ToolCallAssembler::new();
    for (index, block) in message.content.into_iter().enumerate() {
        match block {
            ResponseBlock::Text { text } => {
                if !text.is_empty() {
                    events.push(StreamEvent::TextDelta { text });
                }
            }
            ResponseBlock::ToolUse { id, name, input } => {
                let key = index.to_string();
                events.extend(tools.start(&key, &id, &name));
                if let Some(input) = input {
                    events.extend(tools.delta(&key, &input.to_string()));
                }
                events.extend(tools.end(&key));
            }
            ResponseBlock::Thinking {
                thinking,
                signature,
            } => {
                if !thinking.is_empty() {
                    events.push(StreamEvent::ReasoningDelta {
                        text: thinking,
                        signature: None,
                    });
                }
                events.push(StreamEvent::ReasoningEnd {
                    signature: signature.filter(|s| !s.is_empty()),
                    provider: Some(PROVIDER.to_owned()),
                });
            }
            ResponseBlock::RedactedThinking { data } => events.push(StreamEvent::ReasoningEnd {
                signature: Some(redacted_signature(&data)),
                provider: Some(PROVIDER.to_owned()),
            }),
            ResponseBlock::Unknown => {}
        }
    }
    events.push(StreamEvent::Finish {
        reason: finish_reason(message.stop_reason.as_deref(), !tools.is_empty()),
    });
    Ok(events)
}

/// Maps `stop_reason`. Without one, a reply that called tools finished for
/// them and any other finished normally.
fn finish_reason(stop_reason: Option<&str>, called_tools: bool) -> FinishReason {
    match stop_reason {
        Some("end_turn" | "stop_sequence") => FinishReason::Stop,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
        None if called_tools => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        let cases = [
            (Some("end_turn"), FinishReason::Stop),
            (Some("stop_sequence"), FinishReason::Stop),
            (Some("tool_use"), FinishReason::ToolCalls),
            (Some("max_tokens"), FinishReason::Length),
            (Some("refusal"), FinishReason::ContentFilter),
            (Some("pause_turn"), FinishReason::Other("pause_turn".into())),
            (Some("brand_new"), FinishReason::Other("brand_new".into())),
            (None, FinishReason::Stop),
        ];
        for (stop, expected) in cases {
            assert_eq!(finish_reason(stop, false), expected, "{stop:?}");
        }
        assert_eq!(finish_reason(None, true), FinishReason::ToolCalls);
    }

    #[test]
    fn usage_fields_absent_from_a_later_event_keep_their_value() {
        let mut tally = UsageTally::default();
        tally.update(&WireUsage {
            input_tokens: Some(10),
            output_tokens: Some(1),
            cache_creation_input_tokens: Some(100),
            cache_read_input_tokens: Some(1000),
        });
        tally.update(&WireUsage {
            output_tokens: Some(42),
            ..WireUsage::default()
        });
        assert_eq!(
            tally.usage(),
            Usage {
                input_tokens: 1110,
                output_tokens: 42,
                cached_input_tokens: 1000,
                reasoning_tokens: 0,
            }
        );
    }
}
