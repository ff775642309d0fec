//! The OpenAI Responses API (`POST /v1/responses`).
//!
//! [`OpenAiResponses`] is the wire format; [`crate::HttpModel`] sends it.
//!
//! ```
//! use agentkit_llm::Protocol;
//! use agentkit_llm::openai::responses::{OpenAiResponses, OpenAiResponsesConfig};
//! use agentkit_core::model::ReasoningEffort;
//!
//! let mut config = OpenAiResponsesConfig::new("gpt-5", "sk-...");
//! config.reasoning_effort = Some(ReasoningEffort::Low);
//! let protocol = OpenAiResponses::new(config);
//! assert_eq!(protocol.info().name, "gpt-5");
//! ```
//!
//! # Requests
//!
//! Requests are stateless by default (`store: false`): the whole
//! conversation goes out on every call as `input` items, in order:
//!
//! | conversation | `input` item |
//! | --- | --- |
//! | user text parts (a run of them) | `{type: message, role: user, content: [{type: input_text, text}]}` |
//! | assistant text parts | `{type: message, role: assistant, content: [{type: output_text, text}]}` |
//! | [`ToolCall`](agentkit_core::message::ToolCall) | `{type: function_call, call_id, name, arguments}` |
//! | [`ToolResult`](agentkit_core::message::ToolResult) | `{type: function_call_output, call_id, output}` |
//! | `Part::Reasoning` of provider [`REASONING_PROVIDER`] | the `{type: reasoning, id, summary, encrypted_content}` item it came from |
//! | `Part::Reasoning` of any other provider | nothing |
//!
//! Reasoning survives between turns because a stateless request `include`s
//! `reasoning.encrypted_content` (when the model reasons): each reasoning
//! item the model returns is kept, as JSON, in the part's `signature`, and
//! goes back verbatim in the position it had, directly before the text or
//! calls it led to. With `store` off, a kept item without encrypted content
//! is dropped (the server has nothing to resolve its id against).
//!
//! A `ToolCall` id is the API's `call_id`, which the matching
//! `function_call_output` echoes. The output item's own id (`fc_...`) is not
//! kept: a stateless request never refers to stored items, so
//! `function_call` items go out without it.
//!
//! Reasoning effort: [`ModelRequest::reasoning_effort`] wins over
//! [`OpenAiResponsesConfig::reasoning_effort`]. A request's effort is sent
//! only when the model is known to reason (its [`ModelInfo`] says so) or
//! the configuration sets a default effort (which declares that it does);
//! other models ignore it, as [`ModelRequest`] documents. `tool_choice` and
//! `parallel_tool_calls` are sent only with tools. `temperature` is sent
//! only to models that do not reason (OpenAI's reasoning models refuse any
//! but the default).
//!
//! # Streamed answers
//!
//! | event | becomes |
//! | --- | --- |
//! | `response.output_item.added` (`function_call`) | `ToolCallStart` with the `call_id` and name |
//! | `response.output_item.added` (`reasoning`) | opens a reasoning block |
//! | `response.output_text.delta`, `response.refusal.delta` | `TextDelta` |
//! | `response.reasoning_summary_text.delta`, `response.reasoning_text.delta` | `ReasoningDelta` (summary parts separated by a blank line) |
//! | `response.function_call_arguments.delta` | `ToolCallDelta` |
//! | `response.function_call_arguments.done` | the whole arguments, when no delta came |
//! | `response.output_item.done` (`function_call`) | `ToolCallEnd` |
//! | `response.output_item.done` (`reasoning`) | `ReasoningEnd` whose signature is the item to pass back |
//! | `response.completed` | `Usage`, then `Finish` (`ToolCalls` when the reply called a tool, else `Stop`) |
//! | `response.incomplete` | `Usage`, then `Finish` (`Length` for `max_output_tokens`, `ContentFilter`, ...) |
//! | `response.failed`, `error` | a classified [`ModelError`] |
//!
//! Every other event (`response.created`, `response.in_progress`, content
//! parts, annotations, hosted tools' progress, events added later) is
//! ignored. A stream that ends before `response.completed`,
//! `response.incomplete` or a failure is a transient error. A whole
//! (non-streamed) body goes through the same steps, item by item.
//!
//! # Errors
//!
//! An HTTP error is classified by its status, except `insufficient_quota`
//! ([`ModelError::Quota`], even on 429) and `context_length_exceeded`
//! ([`ModelError::ContextLength`]); `x-should-retry` is honoured. A failure
//! inside a 200 stream is classified by its code: `rate_limit_exceeded` is
//! rate limiting (with the wait its message suggests), `server_error` is
//! transient, `invalid_*` and image codes are invalid requests, and an
//! unknown code is transient.

mod decode;
mod error;
mod request;
mod wire;

use std::fmt;

use agentkit_core::model::{
    ErrorDetail, ModelError, ModelInfo, ModelRequest, ReasoningEffort, StreamEvent,
};

use crate::protocol::{Protocol, StreamDecoder};
use crate::transport::HttpRequest;

/// The provider tag of the reasoning parts this format produces and accepts
/// back (`Part::Reasoning::provider`).
pub const REASONING_PROVIDER: &str = "openai-responses";

/// The default endpoint root: OpenAI's API (the same as Chat Completions').
pub use super::chat::OPENAI_BASE_URL as DEFAULT_BASE_URL;

/// How much of its reasoning the model summarises for us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReasoningSummary {
    /// The most detailed summary the model offers (`auto`).
    #[default]
    Auto,
    /// A short summary (`concise`).
    Concise,
    /// A long summary (`detailed`).
    Detailed,
    /// No summary is asked for; reasoning still happens and is passed back.
    Off,
}

/// How to reach the Responses API and what to ask of it.
#[derive(Clone)]
#[non_exhaustive]
pub struct OpenAiResponsesConfig {
    /// The API root; `/responses` is appended. Defaults to [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// The bearer token. Empty sends no `authorization` header (for local
    /// servers). Never printed by `Debug`.
    pub api_key: String,
    /// The model name, e.g. `gpt-5`.
    pub model: String,
    /// Sent as `openai-organization`, when set.
    pub organization: Option<String>,
    /// Sent as `openai-project`, when set.
    pub project: Option<String>,
    /// The effort used when a request names none; `None` sends no
    /// `reasoning` unless the request asks for it.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The reasoning summary asked for whenever `reasoning` is sent.
    pub reasoning_summary: ReasoningSummary,
    /// Whether the provider keeps responses (`store`). Off by default: every
    /// call is self-contained and reasoning comes back encrypted.
    pub store: bool,
    /// `parallel_tool_calls`, sent with tools when set.
    pub parallel_tool_calls: Option<bool>,
    /// What the model is, instead of the built-in catalog's entry.
    pub info: Option<ModelInfo>,
}

impl OpenAiResponsesConfig {
    /// A configuration for `model` with `api_key` and the defaults: the
    /// public endpoint, no stored responses, automatic reasoning summaries.
    pub fn new(model: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: api_key.into(),
            model: model.into(),
            organization: None,
            project: None,
            reasoning_effort: None,
            reasoning_summary: ReasoningSummary::default(),
            store: false,
            parallel_tool_calls: None,
            info: None,
        }
    }

    /// The same configuration against another API root (a proxy, Azure, a
    /// local server).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }
}

impl fmt::Debug for OpenAiResponsesConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.api_key.is_empty() {
            "<none>"
        } else {
            "<redacted>"
        };
        f.debug_struct("OpenAiResponsesConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &key)
            .field("model", &self.model)
            .field("organization", &self.organization)
            .field("project", &self.project)
            .field("reasoning_effort", &self.reasoning_effort)
            .field("reasoning_summary", &self.reasoning_summary)
            .field("store", &self.store)
            .field("parallel_tool_calls", &self.parallel_tool_calls)
            .field("info", &self.info)
            .finish()
    }
}

/// The Responses API wire format, for one configured model.
#[derive(Debug, Clone)]
pub struct OpenAiResponses {
    config: OpenAiResponsesConfig,
    info: ModelInfo,
}

impl OpenAiResponses {
    /// The format for `config`; the model's [`ModelInfo`] comes from
    /// `config.info` or else the catalog (provider `openai`).
    pub fn new(config: OpenAiResponsesConfig) -> Self {
        let info = config
            .info
            .clone()
            .unwrap_or_else(|| crate::catalog::lookup("openai", &config.model));
        Self { config, info }
    }

    /// The configuration.
    pub fn config(&self) -> &OpenAiResponsesConfig {
        &self.config
    }
}

impl Protocol for OpenAiResponses {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn build_request(
        &self,
        request: &ModelRequest,
        stream: bool,
    ) -> Result<HttpRequest, ModelError> {
        let body = request::body(
            &self.config,
            request,
            self.info.capabilities.reasoning,
            stream,
        );
        let body = serde_json::to_value(&body).map_err(|e| ModelError::InvalidRequest {
            detail: ErrorDetail::message(format!(
                "the request could not be encoded as Responses API JSON: {e}"
            )),
        })?;
        let url = format!("{}/responses", self.config.base_url.trim_end_matches('/'));
        let mut http = HttpRequest::post_json(url, &body);
        if !self.config.api_key.is_empty() {
            http = http.header("authorization", format!("Bearer {}", self.config.api_key));
        }
        if let Some(organization) = &self.config.organization {
            http = http.header("openai-organization", organization);
        }
        if let Some(project) = &self.config.project {
            http = http.header("openai-project", project);
        }
        if stream {
            http = http.header("accept", "text/event-stream");
        }
        Ok(http)
    }

    fn decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(decode::ResponsesDecoder::default())
    }

    fn decode_body(&self, body: &[u8]) -> Result<Vec<StreamEvent>, ModelError> {
        decode::decode_body(body)
    }

    fn classify_error(&self, status: u16, headers: &[(String, String)], body: &str) -> ModelError {
        error::classify_http(status, headers, body)
    }
}
