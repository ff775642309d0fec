//! OpenAI Chat Completions, as spoken by OpenAI and by every
//! OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenRouter, LM Studio).
//!
//! [`OpenAiChat`] is the [`Protocol`]: it builds `POST {base_url}/chat/completions`
//! requests and decodes the replies; [`crate::HttpModel`] sends them.
//!
//! ```
//! use agentkit_llm::Protocol;
//! use agentkit_llm::openai::chat::{OpenAiChat, OpenAiChatConfig};
//!
//! let openai = OpenAiChat::new(OpenAiChatConfig::openai("gpt-4.1", "sk-..."));
//! assert_eq!(openai.info().provider, "openai");
//!
//! // A local vLLM server: no key, `max_tokens`, no `developer` role.
//! let local = OpenAiChat::new(OpenAiChatConfig::compatible(
//!     "http://localhost:8000/v1",
//!     "Qwen/Qwen3-8B",
//!     None,
//! ));
//! assert_eq!(local.config().endpoint(), "http://localhost:8000/v1/chat/completions");
//! ```
//!
//! The servers differ; what this module tolerates on the way in:
//!
//! | difference | handling |
//! | --- | --- |
//! | reasoning in `reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning` (OpenRouter) | reasoning events |
//! | tool-call id and name repeated on every chunk (llama.cpp) | one call |
//! | tool calls without `index`, or all with index 0 | matched by id |
//! | whole arguments in one chunk, or as a JSON object | passed on as text |
//! | `content: null`, missing `id`/`usage`, unknown fields and enum values | ignored or `Other` |
//! | a `finish_reason` but no `[DONE]` | a complete reply |
//! | `{"error": …}` inside a 200 stream | a classified [`ModelError`] |
//!
//! and on the way out ([`ChatQuirks`]): `max_completion_tokens` for OpenAI but
//! `max_tokens` for compatible servers, `developer` instead of `system` only
//! for OpenAI's reasoning models (which also get no `temperature`: they refuse
//! any but the default), `stream_options` only when
//! [`OpenAiChatConfig::include_usage_in_stream`] is on.

mod config;
mod decode;
mod error;
mod request;
mod wire;

use agentkit_core::model::{ModelError, ModelInfo, ModelRequest, StreamEvent};

pub use config::{ChatQuirks, MaxTokensField, OPENAI_BASE_URL, OpenAiChatConfig, SystemRole};

use crate::catalog;
use crate::protocol::{Protocol, StreamDecoder};
use crate::transport::HttpRequest;

/// The Chat Completions wire format for one configured model.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    config: OpenAiChatConfig,
    info: ModelInfo,
}

impl OpenAiChat {
    /// The protocol for `config`; the model's info is `config.info` or
    /// else looked up in [`crate::catalog`] by provider label and model.
    pub fn new(config: OpenAiChatConfig) -> Self {
        let info = config
            .info
            .clone()
            .unwrap_or_else(|| catalog::lookup(&config.provider_label, &config.model));
        Self { config, info }
    }

    /// The configuration.
    pub fn config(&self) -> &OpenAiChatConfig {
        &self.config
    }
}

impl Protocol for OpenAiChat {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn build_request(
        &self,
        request: &ModelRequest,
        stream: bool,
    ) -> Result<HttpRequest, ModelError> {
        let config = &self.config;
        let body = request::body(config, self.info.capabilities.reasoning, request, stream)?;
        let mut http = HttpRequest::post_json(config.endpoint(), &body);
        if stream {
            http = http.header("accept", "text/event-stream");
        }
        if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
            http = http.header("authorization", format!("Bearer {key}"));
        }
        if let Some(organization) = &config.organization {
            http = http.header("openai-organization", organization);
        }
        if let Some(project) = &config.project {
            http = http.header("openai-project", project);
        }
        for (name, value) in &config.extra_headers {
            http = http.header(name, value);
        }
        Ok(http)
    }

    fn decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(decode::ChatStreamDecoder::default())
    }

    fn decode_body(&self, body: &[u8]) -> Result<Vec<StreamEvent>, ModelError> {
        decode::decode_body(body)
    }

    fn classify_error(&self, status: u16, headers: &[(String, String)], body: &str) -> ModelError {
        error::classify_response(status, headers, body)
    }
}
