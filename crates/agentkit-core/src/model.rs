//! The `Model` trait: one streaming call, normalized events, classified errors.
//!
//! A backend implements [`Model::stream`]; [`Model::complete`] folds the stream
//! into a [`ModelResponse`]. Wrappers (retry, fallback, routing, metering,
//! record/replay) are themselves `Model`s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::message::{Message, Part, Role, ToolCall};
use crate::tokenizer::Tokenizer;
use crate::tool::ToolSpec;
use crate::usage::{Pricing, Usage};

/// What a model is and what it can do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model's name as the provider knows it, e.g. `gpt-5`.
    pub name: String,
    /// The provider or backend, e.g. `openai`, `scripted`.
    pub provider: String,
    /// Maximum prompt + completion tokens.
    pub context_window: u64,
    /// Maximum completion tokens per call.
    pub max_output_tokens: u64,
    /// Prices, when known. Without them cost budgets cannot be enforced.
    pub pricing: Option<Pricing>,
    /// What the model supports.
    pub capabilities: Capabilities,
}

/// Features a model supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Tool calling.
    pub tools: bool,
    /// Several tool calls in one reply.
    pub parallel_tool_calls: bool,
    /// Reasoning output.
    pub reasoning: bool,
    /// Image inputs.
    pub images: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            tools: true,
            parallel_tool_calls: true,
            reasoning: false,
            images: false,
        }
    }
}

/// Whether and how the model must call tools.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// The model must call some tool.
    Required,
    /// The model must not call tools.
    None,
    /// The model must call this tool.
    Tool {
        /// The tool's name.
        name: String,
    },
}

/// One call to a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    /// The system prompt.
    pub system: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Tool-calling mode.
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// Cap on completion tokens for this call.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// Sampling temperature, when the caller wants one.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// How hard a reasoning model should think; `None` leaves the backend's
    /// configured default. Backends whose model cannot reason ignore it.
    #[serde(default)]
    pub reasoning_effort: Option<ReasoningEffort>,
}

/// How much reasoning a model should spend on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningEffort {
    /// As little as the provider allows.
    Minimal,
    /// Little.
    Low,
    /// The provider's usual default.
    Medium,
    /// As much as the provider allows.
    High,
}

impl ReasoningEffort {
    /// The effort as OpenAI spells it (`minimal`, `low`, `medium`, `high`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

/// Why the model stopped producing output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end of the turn.
    Stop,
    /// The model wants tools to run.
    ToolCalls,
    /// The output limit cut the reply short.
    Length,
    /// The provider filtered the reply.
    ContentFilter,
    /// Something else the provider reported.
    Other(String),
}

impl FinishReason {
    /// The reason as the OpenTelemetry GenAI conventions spell it (`stop`, `tool_calls`, `length`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(other) => other,
        }
    }
}

/// A normalized streaming event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// More assistant text.
    TextDelta {
        /// The text.
        text: String,
    },
    /// More reasoning text, for the reasoning block that is open (one opens
    /// with the first delta after a [`StreamEvent::ReasoningEnd`]).
    ReasoningDelta {
        /// The text.
        text: String,
        /// Opaque signature to pass back, when the provider sends one.
        #[serde(default)]
        signature: Option<String>,
    },
    /// The open reasoning block is complete. A reply may hold several blocks;
    /// each becomes its own [`Part::Reasoning`], in order. A block with no
    /// text delta (e.g. a redacted block) is still kept when it carries a
    /// signature.
    ReasoningEnd {
        /// Opaque data to pass back unchanged (overrides a delta's signature).
        #[serde(default)]
        signature: Option<String>,
        /// The wire format the signature belongs to, e.g. `anthropic`.
        #[serde(default)]
        provider: Option<String>,
    },
    /// A tool call begins. `index` identifies it in later deltas.
    ToolCallStart {
        /// Position of the call within this reply.
        index: usize,
        /// The provider's call id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// More argument JSON text for the call at `index`.
    ToolCallDelta {
        /// Position of the call within this reply.
        index: usize,
        /// A fragment of the JSON arguments.
        arguments: String,
    },
    /// The call at `index` is complete.
    ToolCallEnd {
        /// Position of the call within this reply.
        index: usize,
    },
    /// Token usage (may arrive more than once; the last one wins per field).
    Usage(Usage),
    /// The reply is over.
    Finish {
        /// Why.
        reason: FinishReason,
    },
}

/// A whole model reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    /// The assistant message (text, reasoning and tool calls).
    pub message: Message,
    /// Tokens used by this call.
    pub usage: Usage,
    /// Why the model stopped.
    pub finish_reason: FinishReason,
}

/// The stream a backend returns.
pub type ModelStream = BoxStream<'static, Result<StreamEvent, ModelError>>;

/// A language model.
#[async_trait]
pub trait Model: Send + Sync {
    /// What this model is.
    fn info(&self) -> &ModelInfo;

    /// Starts a call and returns its events.
    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError>;

    /// The tokenizer that counts this model's tokens exactly, when the
    /// backend knows one. Callers fall back to an estimate.
    fn tokenizer(&self) -> Option<Arc<dyn Tokenizer>> {
        None
    }

    /// Runs a call to its end and returns the whole reply.
    async fn complete(&self, request: ModelRequest) -> Result<ModelResponse, ModelError> {
        let mut stream = self.stream(request).await?;
        let mut folder = ResponseFolder::default();
        while let Some(event) = stream.next().await {
            folder.push(event?);
        }
        folder.finish()
    }
}

/// A reasoning block being streamed.
#[derive(Debug, Default)]
struct ReasoningBlock {
    text: String,
    signature: Option<String>,
}

/// Folds [`StreamEvent`]s into a [`ModelResponse`].
///
/// Tool calls are kept in the order they started. Text and reasoning deltas
/// are concatenated. A call that got no argument text at all gets `{}` (what
/// servers mean for a tool without parameters), unless the reply was cut off
/// by the output limit: then its arguments stay empty, so they read as the
/// incomplete text they are. A stream that ends without a `Finish` event is treated as
/// a `Stop` when it produced something and an error when it produced nothing.
#[derive(Debug, Default)]
pub struct ResponseFolder {
    text: String,
    reasoning: Vec<Part>,
    open_reasoning: Option<ReasoningBlock>,
    calls: BTreeMap<usize, ToolCall>,
    usage: Usage,
    finish: Option<FinishReason>,
    saw_any: bool,
}

impl ResponseFolder {
    /// Adds one event.
    pub fn push(&mut self, event: StreamEvent) {
        self.saw_any = true;
        match event {
            StreamEvent::TextDelta { text } => self.text.push_str(&text),
            StreamEvent::ReasoningDelta { text, signature } => {
                let block = self.open_reasoning.get_or_insert_with(Default::default);
                block.text.push_str(&text);
                if signature.is_some() {
                    block.signature = signature;
                }
            }
            StreamEvent::ReasoningEnd {
                signature,
                provider,
            } => {
                let block = self.open_reasoning.take().unwrap_or_default();
                let signature = signature.or(block.signature);
                if !block.text.is_empty() || signature.is_some() {
                    self.reasoning.push(Part::Reasoning {
                        text: block.text,
                        signature,
                        provider,
                    });
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.calls.insert(
                    index,
                    ToolCall {
                        id,
                        name,
                        arguments: String::new(),
                    },
                );
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if let Some(call) = self.calls.get_mut(&index) {
                    call.arguments.push_str(&arguments);
                }
            }
            StreamEvent::ToolCallEnd { .. } => {}
            StreamEvent::Usage(usage) => self.usage = usage,
            StreamEvent::Finish { reason } => self.finish = Some(reason),
        }
    }

    /// The folded reply.
    pub fn finish(mut self) -> Result<ModelResponse, ModelError> {
        if !self.saw_any {
            return Err(ModelError::Transient {
                detail: ErrorDetail::message("the model's stream ended before any event"),
            });
        }
        if let Some(block) = self.open_reasoning.take()
            && (!block.text.is_empty() || block.signature.is_some())
        {
            self.reasoning.push(Part::Reasoning {
                text: block.text,
                signature: block.signature,
                provider: None,
            });
        }
        let mut parts = std::mem::take(&mut self.reasoning);
        if !self.text.is_empty() {
            parts.push(Part::Text { text: self.text });
        }
        let has_calls = !self.calls.is_empty();
        let finish_reason = self.finish.unwrap_or(if has_calls {
            FinishReason::ToolCalls
        } else {
            FinishReason::Stop
        });
        // Servers send no argument text for a tool without parameters: that
        // is `{}`. Not in a reply cut off by the output limit, though: there
        // the text is missing because it was cut, and must read as incomplete.
        let cut_off = finish_reason == FinishReason::Length;
        parts.extend(self.calls.into_values().map(|mut call| {
            if call.arguments.trim().is_empty() && !cut_off {
                call.arguments = "{}".into();
            }
            Part::ToolCall(call)
        }));
        Ok(ModelResponse {
            message: Message {
                role: Role::Assistant,
                parts,
            },
            usage: self.usage,
            finish_reason,
        })
    }
}

/// What the provider said when a call failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The raw response body (may be empty).
    pub body: String,
    /// A human explanation of what went wrong.
    pub message: String,
}

impl ErrorDetail {
    /// A detail with only an explanation.
    pub fn message(message: impl Into<String>) -> Self {
        Self {
            status: None,
            body: String::new(),
            message: message.into(),
        }
    }

    /// A detail from an HTTP response.
    pub fn http(status: u16, body: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            body: body.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

/// A failed model call, classified at the provider boundary.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelError {
    /// The prompt does not fit the context window: compact or shorten it.
    #[error("the prompt is longer than the model's context window: {detail}")]
    ContextLength {
        /// What the provider said.
        detail: ErrorDetail,
    },
    /// Too many requests: wait and try again.
    #[error("rate limited by the provider: {detail}")]
    RateLimited {
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
        /// What the provider said.
        detail: ErrorDetail,
    },
    /// The account is out of credit or quota: an operator must act.
    #[error("the provider account's quota is exhausted (add credit or raise the limit): {detail}")]
    Quota {
        /// What the provider said.
        detail: ErrorDetail,
    },
    /// A passing fault (connection reset, 5xx, overloaded): retrying may work.
    #[error("transient provider error: {detail}")]
    Transient {
        /// What the provider said.
        detail: ErrorDetail,
    },
    /// The credentials were refused: check the API key.
    #[error("the provider refused the credentials (check the API key): {detail}")]
    Auth {
        /// What the provider said.
        detail: ErrorDetail,
    },
    /// The request was malformed: retrying the same request will fail again.
    #[error("the provider rejected the request as invalid: {detail}")]
    InvalidRequest {
        /// What the provider said.
        detail: ErrorDetail,
    },
    /// Any other failure that will not go away by retrying.
    #[error("model call failed: {detail}")]
    Permanent {
        /// What the provider said.
        detail: ErrorDetail,
    },
}

/// The class of a [`ModelError`], without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelErrorKind {
    /// See [`ModelError::ContextLength`].
    ContextLength,
    /// See [`ModelError::RateLimited`].
    RateLimited,
    /// See [`ModelError::Quota`].
    Quota,
    /// See [`ModelError::Transient`].
    Transient,
    /// See [`ModelError::Auth`].
    Auth,
    /// See [`ModelError::InvalidRequest`].
    InvalidRequest,
    /// See [`ModelError::Permanent`].
    Permanent,
}

impl ModelError {
    /// The error's class.
    pub fn kind(&self) -> ModelErrorKind {
        match self {
            ModelError::ContextLength { .. } => ModelErrorKind::ContextLength,
            ModelError::RateLimited { .. } => ModelErrorKind::RateLimited,
            ModelError::Quota { .. } => ModelErrorKind::Quota,
            ModelError::Transient { .. } => ModelErrorKind::Transient,
            ModelError::Auth { .. } => ModelErrorKind::Auth,
            ModelError::InvalidRequest { .. } => ModelErrorKind::InvalidRequest,
            ModelError::Permanent { .. } => ModelErrorKind::Permanent,
        }
    }

    /// What the provider said.
    pub fn detail(&self) -> &ErrorDetail {
        match self {
            ModelError::ContextLength { detail }
            | ModelError::RateLimited { detail, .. }
            | ModelError::Quota { detail }
            | ModelError::Transient { detail }
            | ModelError::Auth { detail }
            | ModelError::InvalidRequest { detail }
            | ModelError::Permanent { detail } => detail,
        }
    }

    /// An error of class `kind` with `detail` (a rate limit without a
    /// known wait).
    pub fn from_kind(kind: ModelErrorKind, detail: ErrorDetail) -> Self {
        match kind {
            ModelErrorKind::ContextLength => ModelError::ContextLength { detail },
            ModelErrorKind::RateLimited => ModelError::RateLimited {
                retry_after: None,
                detail,
            },
            ModelErrorKind::Quota => ModelError::Quota { detail },
            ModelErrorKind::Transient => ModelError::Transient { detail },
            ModelErrorKind::Auth => ModelError::Auth { detail },
            ModelErrorKind::InvalidRequest => ModelError::InvalidRequest { detail },
            ModelErrorKind::Permanent => ModelError::Permanent { detail },
        }
    }

    /// The same failure classified as `kind` (a rate limit keeps its wait).
    pub fn with_kind(self, kind: ModelErrorKind) -> Self {
        match self {
            ModelError::RateLimited {
                retry_after,
                detail,
            } if kind == ModelErrorKind::RateLimited => ModelError::RateLimited {
                retry_after,
                detail,
            },
            other => {
                let detail = other.detail().clone();
                Self::from_kind(kind, detail)
            }
        }
    }

    /// What the provider said, to amend.
    pub fn detail_mut(&mut self) -> &mut ErrorDetail {
        match self {
            ModelError::ContextLength { detail }
            | ModelError::RateLimited { detail, .. }
            | ModelError::Quota { detail }
            | ModelError::Transient { detail }
            | ModelError::Auth { detail }
            | ModelError::InvalidRequest { detail }
            | ModelError::Permanent { detail } => detail,
        }
    }

    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ModelError::RateLimited { .. } | ModelError::Transient { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_without_argument_text_is_an_empty_object_unless_the_reply_was_cut_off() {
        let fold = |reason: FinishReason| {
            let mut folder = ResponseFolder::default();
            folder.push(StreamEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "git_diff".into(),
            });
            folder.push(StreamEvent::ToolCallEnd { index: 0 });
            folder.push(StreamEvent::Finish { reason });
            let reply = folder.finish().unwrap();
            reply.message.tool_calls().next().unwrap().arguments.clone()
        };
        assert_eq!(fold(FinishReason::ToolCalls), "{}");
        assert_eq!(fold(FinishReason::Length), "");
    }

    #[test]
    fn folder_assembles_interleaved_tool_calls_in_start_order() {
        let mut f = ResponseFolder::default();
        f.push(StreamEvent::TextDelta {
            text: "Let me ".into(),
        });
        f.push(StreamEvent::TextDelta {
            text: "look.".into(),
        });
        f.push(StreamEvent::ToolCallStart {
            index: 1,
            id: "b".into(),
            name: "grep".into(),
        });
        f.push(StreamEvent::ToolCallStart {
            index: 0,
            id: "a".into(),
            name: "read_file".into(),
        });
        f.push(StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"path\":".into(),
        });
        f.push(StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{}".into(),
        });
        f.push(StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "\"a.rs\"}".into(),
        });
        let r = f.finish().unwrap();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        let calls: Vec<_> = r.message.tool_calls().cloned().collect();
        assert_eq!(
            calls,
            vec![
                ToolCall {
                    id: "a".into(),
                    name: "read_file".into(),
                    arguments: "{\"path\":\"a.rs\"}".into()
                },
                ToolCall {
                    id: "b".into(),
                    name: "grep".into(),
                    arguments: "{}".into()
                },
            ]
        );
        assert_eq!(r.message.text(), "Let me look.");
    }

    #[test]
    fn folder_keeps_each_reasoning_block_with_its_signature() {
        let mut f = ResponseFolder::default();
        for event in [
            StreamEvent::ReasoningDelta {
                text: "first ".into(),
                signature: None,
            },
            StreamEvent::ReasoningDelta {
                text: "thought".into(),
                signature: None,
            },
            StreamEvent::ReasoningEnd {
                signature: Some("sig-1".into()),
                provider: Some("anthropic".into()),
            },
            StreamEvent::ReasoningEnd {
                signature: Some("redacted".into()),
                provider: Some("anthropic".into()),
            },
            StreamEvent::ReasoningDelta {
                text: "unterminated".into(),
                signature: None,
            },
            StreamEvent::TextDelta { text: "hi".into() },
        ] {
            f.push(event);
        }
        let r = f.finish().unwrap();
        assert_eq!(
            r.message.parts,
            vec![
                Part::Reasoning {
                    text: "first thought".into(),
                    signature: Some("sig-1".into()),
                    provider: Some("anthropic".into()),
                },
                Part::Reasoning {
                    text: String::new(),
                    signature: Some("redacted".into()),
                    provider: Some("anthropic".into()),
                },
                Part::Reasoning {
                    text: "unterminated".into(),
                    signature: None,
                    provider: None,
                },
                Part::Text { text: "hi".into() },
            ]
        );
    }

    #[test]
    fn empty_stream_is_a_transient_error() {
        let err = ResponseFolder::default().finish().unwrap_err();
        assert_eq!(err.kind(), ModelErrorKind::Transient);
    }
}
