//! # agentkit-llm
//!
//! Model backends for agentkit: OpenAI (Responses and Chat Completions),
//! Anthropic Messages, and any OpenAI-compatible server (vLLM, llama.cpp,
//! Ollama, LM Studio, OpenRouter), each a [`Model`](agentkit_core::model::Model)
//! that streams normalized events, counts usage and classifies errors; the
//! wrappers around them ([`wrap`]: retry, fallback, routing, metering); and
//! cassettes that record real HTTP exchanges and replay them offline
//! ([`cassette`]).
//!
//! The smallest use picks a backend by its *model spec*; keys come from the
//! usual environment variables:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use agentkit_core::message::Message;
//! use agentkit_core::model::{ModelRequest, ToolChoice};
//!
//! let model = agentkit_llm::from_spec("anthropic:claude-sonnet-4-5")?; // ANTHROPIC_API_KEY
//! let reply = model
//!     .complete(ModelRequest {
//!         system: "You are terse.".into(),
//!         messages: vec![Message::user("Name a prime above 10.")],
//!         tools: vec![],
//!         tool_choice: ToolChoice::Auto,
//!         max_output_tokens: Some(64),
//!         temperature: None,
//!         reasoning_effort: None,
//!     })
//!     .await?;
//! println!("{} ({} tokens in)", reply.message.text(), reply.usage.input_tokens);
//! # Ok(()) }
//! ```
//!
//! [`ACCEPTED_SPECS`] lists every spec form. In code, the pieces compose
//! directly: a [`Protocol`] (the wire format: [`openai::chat`],
//! [`openai::responses`], [`anthropic`]) served by an [`HttpModel`] (sending,
//! retries with the SDKs' policy, timeouts, the first-output rule) over a
//! [`Transport`] ([`ReqwestTransport`], or a cassette's [`cassette::Recorder`]
//! / [`cassette::Player`]).
//!
//! | piece | where |
//! | --- | --- |
//! | SSE framing | [`sse`] |
//! | streamed tool-call assembly | [`assemble`] |
//! | HTTP status and header classification | [`classify`] |
//! | retry timing | [`retry`] |
//! | model facts and list prices | [`catalog`] |
//! | token counting (tiktoken) | [`tokenizer`] |

#![warn(missing_docs)]

pub mod anthropic;
pub mod assemble;
pub mod cassette;
pub mod catalog;
pub mod classify;
pub mod client;
mod estimate;
mod http_model;
pub mod openai;
pub mod protocol;
pub mod retry;
mod spec;
pub mod sse;
pub mod tokenizer;
pub mod transport;
pub mod wrap;

pub use client::{ReqwestTransport, TransportOptions};
pub use http_model::HttpModel;
pub use protocol::{Protocol, StreamDecoder};
pub use retry::RetryPolicy;
pub use spec::{ACCEPTED_SPECS, BuildOptions, EnvSource, ModelSpec, SpecError, from_spec};
pub use transport::{HttpRequest, HttpResponse, Transport, TransportError};
