//! # agentkit-llm
//!
//! Model backends for agentkit and the *model spec* strings that pick one.
//!
//! A spec names a backend and its model: `scripted:PATH` replays a JSON
//! script of replies (see [`agentkit_core::scripted`]), for offline demos and
//! tests. Network backends (OpenAI, Anthropic, OpenAI-compatible servers)
//! plug in here under their own spec prefixes.
//!
//! ```no_run
//! let model = agentkit_llm::from_spec("scripted:examples/demo/trajectory.json")?;
//! println!("using {}", model.info().name);
//! # Ok::<(), agentkit_llm::SpecError>(())
//! ```

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
