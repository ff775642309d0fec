//! MCP: servers' tools as agent tools, their resources as context (feature `mcp`).
//!
//! A [`McpServer`] is one connection, through [rmcp](https://docs.rs/rmcp),
//! to a server speaking the Model Context Protocol over stdio (a child
//! process) or streamable HTTP. Each server is configured per agent with a
//! [`McpServerConfig`] (name, transport, command/args/env or URL/headers,
//! allowed tools, call timeout).
//!
//! - **Tools**: [`McpServer::tools`] turns every allowed tool into a
//!   [`DynTool`](agentkit_core::tool::DynTool) named `server__tool`
//!   ([`tool_name`]). Its input schema is made a plain object schema here
//!   ([`normalize_schema`]); the provider-specific rules are applied by each
//!   `agentkit-llm` wire format when it builds a request, as for every tool.
//!   MCP's hints become [`ToolAnnotations`](agentkit_core::tool::ToolAnnotations)
//!   (`readOnlyHint` → `read_only`, so such calls may run in parallel;
//!   absent hints take MCP's cautious defaults). Results and errors are mapped
//!   as the [`result`] table says: `isError`, protocol errors, timeouts and a
//!   dead server all reach the model as errors it can act on, never as a
//!   fatal stop.
//! - **Resources**: [`McpResources`] is a
//!   [`ContextProvider`](agentkit_core::context::ContextProvider) that offers
//!   a server's text resources as context items.
//!
//! ```no_run
//! # async fn demo() -> Result<(), agentkit_tools::mcp::McpError> {
//! use std::sync::Arc;
//! use agentkit_core::prelude::*;
//! use agentkit_tools::mcp::{McpResources, McpServer, McpServerConfig};
//!
//! let docs = McpServer::connect(
//!     McpServerConfig::stdio("docs", "mcp-server-docs", ["--root", "/srv/docs"])
//!         .allow_tools(["search"]),
//! )
//! .await?;
//! let model = Arc::new(ScriptedModel::from_json("[]", "inline").unwrap());
//! let agent = Agent::builder(model)
//!     .tools(docs.tools().await?) // the model sees `docs__search`
//!     .context(
//!         ContextEngine::new(Arc::new(agentkit_core::tokenizer::ApproxTokenizer), 4_000)
//!             .with_provider(McpResources::new(docs.clone())),
//!     )
//!     .build();
//! # Ok(()) }
//! ```
//!
//! # Where stdio servers run: on the host, not in the sandbox
//!
//! A stdio server is started **host-side**, next to the agent, as a child
//! process with a **clean environment**: only `PATH`, the variables set in
//! its config (`env`) and the host variables it names (`inherit_env`) reach
//! it, so API keys and forge tokens in the agent's environment do not leak
//! into a server that does not need them. It gets no sandbox: it sees the
//! host's filesystem and network with the agent's user. Its standard error
//! is discarded and the process is killed when the connection (every
//! [`McpServer`] clone and every tool made from it) is dropped.
//!
//! Why not inside the sandbox: MCP over stdio is a long-lived, two-way
//! byte stream, while [`Sandbox::exec`](agentkit_core::sandbox::Sandbox::exec)
//! runs one command to completion with its input given up front; backends
//! would need a streaming exec (and the server's runtime, e.g. Node, inside
//! the image) before a server could live there. MCP servers are also
//! usually *integrations* (a tracker, docs search, a database) that need
//! credentials and network the sandbox is built to deny. The trade-off:
//!
//! | | host-side (what this module does) | inside the sandbox |
//! | --- | --- | --- |
//! | isolation from the agent's code | none: trust the server like any host program | the sandbox's |
//! | secrets | only what its config gives it | none, unless given to untrusted code too |
//! | network | the host's | the sandbox policy's |
//! | sees the workspace | only through a path you give it | yes |
//!
//! So: run only servers you trust as host programs; give them only the
//! variables they need; prefer `allowed_tools` to expose the few tools an
//! agent needs; set `trust_annotations: false` for servers whose hints you
//! do not trust. A server that must see the repository or be isolated
//! should be reached over HTTP, run where you control it. The model's
//! arguments reach the server as JSON; no shell line is ever built from
//! them.

mod client;
mod config;
mod resources;
pub mod result;
mod tool;

pub use client::{McpError, McpServer, connect_all, tool_set};
pub use config::{McpServerConfig, McpTransport};
pub use resources::McpResources;
pub use tool::{McpTool, annotations, normalize_schema, tool_name};
