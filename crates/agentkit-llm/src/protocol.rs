//! A provider's wire format, separated from sending and retrying.
//!
//! A [`Protocol`] turns a [`ModelRequest`] into an [`HttpRequest`] and the
//! provider's answers (a streamed body of server-sent events, a whole JSON
//! body, or an error status) back into [`StreamEvent`]s and
//! [`ModelError`]s. It does no IO, so every wire shape is unit-testable;
//! [`crate::HttpModel`] does the sending, retrying and timeouts for all of
//! them.

use std::sync::Arc;

use agentkit_core::model::{ModelError, ModelInfo, ModelRequest, StreamEvent};
use agentkit_core::tokenizer::Tokenizer;

use crate::sse::SseEvent;
use crate::transport::HttpRequest;

/// A provider's wire format.
pub trait Protocol: Send + Sync + 'static {
    /// What the configured model is.
    fn info(&self) -> &ModelInfo;

    /// Builds the HTTP request for `request`, streamed or not.
    ///
    /// Fails with [`ModelError::InvalidRequest`] when the request cannot be
    /// expressed in this format (say, an image to a text-only API).
    fn build_request(
        &self,
        request: &ModelRequest,
        stream: bool,
    ) -> Result<HttpRequest, ModelError>;

    /// A decoder for one streamed response.
    fn decoder(&self) -> Box<dyn StreamDecoder>;

    /// Decodes a whole (non-streamed) 2xx response body.
    fn decode_body(&self, body: &[u8]) -> Result<Vec<StreamEvent>, ModelError>;

    /// Classifies a non-2xx response. `headers` carry `retry-after` and the like.
    fn classify_error(&self, status: u16, headers: &[(String, String)], body: &str) -> ModelError;

    /// The tokenizer for this model: by default tiktoken's encoding for
    /// the model's family, exact for OpenAI models and an estimate for
    /// others (see [`crate::tokenizer::for_model`]).
    fn tokenizer(&self) -> Option<Arc<dyn Tokenizer>> {
        Some(crate::tokenizer::for_model(&self.info().name))
    }
}

/// Turns one response's server-sent events into [`StreamEvent`]s.
pub trait StreamDecoder: Send {
    /// Decodes one event. An error event inside a 200 stream, or data that
    /// cannot be decoded, is an `Err` that ends the stream.
    fn event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, ModelError>;

    /// The body ended. Returns the closing events (open tool calls ended,
    /// a `Finish`), or an error when the stream was cut short.
    fn end(&mut self) -> Result<Vec<StreamEvent>, ModelError>;

    /// Whether the provider signalled the end of the reply (`[DONE]`,
    /// `message_stop`, `response.completed`); events after it are ignored.
    fn is_done(&self) -> bool;
}

/// A protocol chosen at run time (say, from a model spec) is a protocol too.
impl Protocol for Box<dyn Protocol> {
    fn info(&self) -> &ModelInfo {
        (**self).info()
    }

    fn build_request(
        &self,
        request: &ModelRequest,
        stream: bool,
    ) -> Result<HttpRequest, ModelError> {
        (**self).build_request(request, stream)
    }

    fn decoder(&self) -> Box<dyn StreamDecoder> {
        (**self).decoder()
    }

    fn decode_body(&self, body: &[u8]) -> Result<Vec<StreamEvent>, ModelError> {
        (**self).decode_body(body)
    }

    fn classify_error(&self, status: u16, headers: &[(String, String)], body: &str) -> ModelError {
        (**self).classify_error(status, headers, body)
    }

    fn tokenizer(&self) -> Option<Arc<dyn Tokenizer>> {
        (**self).tokenizer()
    }
}
