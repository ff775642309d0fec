//! Shared by the HTTP-level tests: the scripted server, a model for each
//! backend pointed at it, and streams in the shapes the providers document.
//! [`conversation`] and [`wire`] serve the wire-format tests.

#![allow(dead_code)]

pub mod conversation;
pub mod server;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::message::Message;
use agentkit_core::model::{
    Capabilities, Model, ModelError, ModelInfo, ModelRequest, ModelResponse, ResponseFolder,
    StreamEvent, ToolChoice,
};
use agentkit_llm::anthropic::{Anthropic, AnthropicConfig};
use agentkit_llm::openai::chat::{OpenAiChat, OpenAiChatConfig};
use agentkit_llm::openai::responses::{OpenAiResponses, OpenAiResponsesConfig};
use agentkit_llm::{HttpModel, Protocol, ReqwestTransport, RetryPolicy, Transport};
use futures::StreamExt;

use server::Server;

/// The three wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Chat,
    Responses,
    Anthropic,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Chat, Backend::Responses, Backend::Anthropic];

    /// The path requests are posted to.
    pub fn path(&self) -> &'static str {
        match self {
            Backend::Chat => "/v1/chat/completions",
            Backend::Responses => "/v1/responses",
            Backend::Anthropic => "/v1/messages",
        }
    }

    /// A reply saying [`REPLY_TEXT`] in this backend's stream shape.
    pub fn stream(&self) -> &'static str {
        match self {
            Backend::Chat => CHAT_STREAM,
            Backend::Responses => include_str!("../fixtures/openai_responses/text.sse"),
            Backend::Anthropic => ANTHROPIC_STREAM,
        }
    }

    /// What the stream says.
    pub fn text(&self) -> &'static str {
        match self {
            Backend::Responses => "The tests pass now.",
            _ => REPLY_TEXT,
        }
    }

    /// An error body in this provider's shape.
    pub fn error_body(&self, kind: &str, code: Option<&str>, message: &str) -> String {
        match self {
            Backend::Anthropic => serde_json::json!({
                "type": "error",
                "error": {"type": kind, "message": message}
            })
            .to_string(),
            _ => serde_json::json!({
                "error": {"message": message, "type": kind, "param": null, "code": code}
            })
            .to_string(),
        }
    }

    /// A model of this backend at `server`, over a real reqwest transport.
    pub fn model(&self, server: &Server, retry: RetryPolicy) -> HttpModel<Box<dyn Protocol>> {
        self.model_over(server, Arc::new(ReqwestTransport::new().unwrap()), retry)
    }

    /// A model of this backend at `server`, over `transport`.
    pub fn model_over(
        &self,
        server: &Server,
        transport: Arc<dyn Transport>,
        retry: RetryPolicy,
    ) -> HttpModel<Box<dyn Protocol>> {
        let protocol: Box<dyn Protocol> = match self {
            Backend::Chat => Box::new(OpenAiChat::new({
                let mut config =
                    OpenAiChatConfig::openai("gpt-4.1", KEY).with_info(info("gpt-4.1"));
                config.base_url = server.url("/v1");
                config
            })),
            Backend::Responses => Box::new(OpenAiResponses::new({
                let mut config =
                    OpenAiResponsesConfig::new("gpt-5", KEY).with_base_url(server.url("/v1"));
                config.info = Some(info("gpt-5"));
                config
            })),
            Backend::Anthropic => Box::new(Anthropic::new(AnthropicConfig {
                base_url: server.url(""),
                info: Some(info("claude-sonnet-4-5")),
                ..AnthropicConfig::new("claude-sonnet-4-5", KEY)
            })),
        };
        HttpModel::new(protocol, transport)
            .with_retry(retry)
            .with_idle_timeout(Duration::from_secs(10))
    }
}

pub const KEY: &str = "sk-test-0123456789abcdefghij";

pub const REPLY_TEXT: &str = "Hello there.";

/// A Chat Completions stream as OpenAI sends it with `include_usage`.
pub const CHAT_STREAM: &str = concat!(
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there.\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n",
    "data: [DONE]\n\n",
);

/// An Anthropic Messages stream as the API documents it.
pub const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":3}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

/// Info pinned for tests (independent of the catalog).
pub fn info(name: &str) -> ModelInfo {
    ModelInfo {
        name: name.into(),
        provider: "test".into(),
        context_window: 128_000,
        max_output_tokens: 8_000,
        pricing: None,
        capabilities: Capabilities::default(),
    }
}

/// Millisecond backoffs, no jitter.
pub fn quick(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
        jitter: false,
        max_retry_after: Duration::from_secs(60),
    }
}

pub fn request() -> ModelRequest {
    ModelRequest {
        system: "You are terse.".into(),
        messages: vec![Message::user("Say hello.")],
        tools: vec![],
        tool_choice: ToolChoice::Auto,
        max_output_tokens: Some(100),
        temperature: None,
        reasoning_effort: None,
    }
}

/// Every item of one call: the events, then the error that ended it.
pub async fn call(model: &dyn Model) -> (Vec<StreamEvent>, Option<ModelError>) {
    let mut stream = match model.stream(request()).await {
        Ok(stream) => stream,
        Err(error) => return (Vec::new(), Some(error)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => return (events, Some(error)),
        }
    }
    (events, None)
}

pub fn fold(events: &[StreamEvent]) -> ModelResponse {
    let mut folder = ResponseFolder::default();
    events.iter().cloned().for_each(|e| folder.push(e));
    folder.finish().expect("a complete reply")
}
