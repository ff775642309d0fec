//! The Anthropic Messages API (`POST /v1/messages`).
//!
//! [`Anthropic`] is a [`Protocol`]: it builds requests and decodes replies
//! and errors, and [`crate::HttpModel`] sends them. The rooms:
//!
//! - [`config`]: what the backend is set up with ([`AnthropicConfig`]);
//! - `request`: the request body: merged same-role messages, tool results
//!   first, tool schemas normalised, prompt-cache breakpoints;
//! - [`thinking`]: the extended-thinking budget and how thinking blocks are
//!   kept in [`agentkit_core::message::Part::Reasoning`] so they go back
//!   signed and unchanged;
//! - [`decode`]: streamed events and whole bodies into [`StreamEvent`]s;
//! - `error`: error bodies and mid-stream `error` events into
//!   [`ModelError`] kinds (the table is in that module's source).
//!
//! ```
//! use agentkit_core::message::Message;
//! use agentkit_core::model::{ModelRequest, ToolChoice};
//! use agentkit_llm::Protocol;
//! use agentkit_llm::anthropic::{Anthropic, AnthropicConfig};
//!
//! let anthropic = Anthropic::new(AnthropicConfig::new("claude-sonnet-4-5", "sk-ant-example"));
//! let request = ModelRequest {
//!     system: "You fix bugs.".into(),
//!     messages: vec![Message::user("The build is red.")],
//!     tools: vec![],
//!     tool_choice: ToolChoice::Auto,
//!     max_output_tokens: Some(4096),
//!     temperature: None,
//!     reasoning_effort: None,
//! };
//! let http = anthropic.build_request(&request, true)?;
//! assert_eq!(http.url, "https://api.anthropic.com/v1/messages");
//! assert!(http.headers.contains(&("anthropic-version".into(), "2023-06-01".into())));
//! # Ok::<(), agentkit_core::model::ModelError>(())
//! ```

pub mod config;
pub mod decode;
mod error;
mod request;
pub mod thinking;
mod wire;

use agentkit_core::model::{ErrorDetail, ModelError, ModelInfo, ModelRequest, StreamEvent};
use bytes::Bytes;

use crate::protocol::{Protocol, StreamDecoder};
use crate::transport::HttpRequest;

pub use config::{AnthropicConfig, DEFAULT_API_VERSION, DEFAULT_BASE_URL};
pub use decode::AnthropicDecoder;
pub use thinking::{MIN_BUDGET_TOKENS, REDACTED_THINKING_PREFIX, budget_for_effort};

/// The Anthropic Messages API wire format for one configured model.
#[derive(Debug, Clone)]
pub struct Anthropic {
    config: AnthropicConfig,
    info: ModelInfo,
}

impl Anthropic {
    /// A backend for `config`. The model's [`ModelInfo`] is `config.info`
    /// when set, otherwise the catalog's entry for the model.
    pub fn new(config: AnthropicConfig) -> Self {
        let info = config
            .info
            .clone()
            .unwrap_or_else(|| crate::catalog::lookup("anthropic", &config.model));
        Self { config, info }
    }

    /// The configuration.
    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }

    fn messages_url(&self) -> String {
        format!("{}/v1/messages", self.config.base_url.trim_end_matches('/'))
    }
}

impl Protocol for Anthropic {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn build_request(
        &self,
        request: &ModelRequest,
        stream: bool,
    ) -> Result<HttpRequest, ModelError> {
        let body = request::build_body(&self.config, &self.info, request, stream)?;
        let body = serde_json::to_vec(&body).map_err(|e| ModelError::InvalidRequest {
            detail: ErrorDetail::message(format!(
                "could not encode the Anthropic request as JSON: {e}"
            )),
        })?;
        let mut http = HttpRequest {
            method: "POST".into(),
            url: self.messages_url(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body),
        };
        if !self.config.api_key.is_empty() {
            http = http.header("x-api-key", self.config.api_key.clone());
        }
        http = http.header("anthropic-version", self.config.anthropic_version.clone());
        if !self.config.beta.is_empty() {
            http = http.header("anthropic-beta", self.config.beta.join(","));
        }
        Ok(http)
    }

    fn decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(AnthropicDecoder::new())
    }

    fn decode_body(&self, body: &[u8]) -> Result<Vec<StreamEvent>, ModelError> {
        decode::decode_body(body)
    }

    fn classify_error(&self, status: u16, headers: &[(String, String)], body: &str) -> ModelError {
        error::classify_http(status, headers, body)
    }
}
