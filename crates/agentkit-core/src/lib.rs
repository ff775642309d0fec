//! # agentkit-core
//!
//! The domain types, traits, loop engine and orchestration of agentkit, a
//! framework for *background coding agents*: a ticket comes in, an agent works
//! on it alone in a sandbox, and a pull request comes out.
//!
//! This crate depends on no backend. It defines:
//! - the conversation ([`message`]), tasks ([`task`]), usage and cost ([`usage`]);
//! - the traits: [`Model`](model::Model), [`Tool`](tool::Tool),
//!   [`Sandbox`](sandbox::Sandbox) / [`SandboxProvider`](sandbox::SandboxProvider),
//!   [`ContextProvider`](context::ContextProvider), [`Forge`](forge::Forge),
//!   [`Verifier`](verify::Verifier), [`Hook`](hook::Hook) (with ready-made [`policy`] hooks),
//!   [`Checkpoint`](checkpoint::Checkpoint), [`TaskStore`](store::TaskStore) (the durable queue);
//! - the loop [`engine`] (a state machine without IO) and its async driver,
//!   [`Agent`](agent::Agent); the [`worker`] that runs queued tasks;
//! - [`event`]s and sinks (tracing, JSONL transcripts);
//! - test doubles: [`ScriptedModel`](scripted::ScriptedModel),
//!   [`MemorySandbox`](testing::MemorySandbox), [`MemoryForge`](testing::MemoryForge).
//!
//! The smallest complete use: a scripted model that finishes at once, in an
//! in-memory sandbox.
//!
//! ```
//! use std::sync::Arc;
//! use agentkit_core::prelude::*;
//! use agentkit_core::testing::MemorySandbox;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let model = ScriptedModel::from_json(
//!     r#"[{"tool_calls": [{"name": "finish", "arguments": {"summary": "done"}}]}]"#,
//!     "inline",
//! ).unwrap();
//! let agent = Agent::builder(Arc::new(model)).tool(Finish).build();
//! let task = Task::new("T-1", "Nothing to do", "Just finish.", RepoRef::new("."));
//! let outcome = agent.run(task, Arc::new(MemorySandbox::new()), CancellationToken::new()).await;
//! assert_eq!(outcome.stop_reason, StopReason::Finished { summary: "done".into() });
//! # });
//!
//! /// A minimal `finish` tool (agentkit-tools ships a complete one).
//! struct Finish;
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct FinishArgs { summary: String }
//! #[async_trait::async_trait]
//! impl Tool for Finish {
//!     type Args = FinishArgs;
//!     fn name(&self) -> &str { "finish" }
//!     fn description(&self) -> &str { "Ends the task." }
//!     async fn call(&self, args: FinishArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
//!         Ok(ToolOutput::Finish { summary: args.summary })
//!     }
//! }
//! ```

#![warn(missing_docs)]

pub mod agent;
pub mod checkpoint;
pub mod context;
pub mod engine;
pub mod environment;
pub mod event;
pub mod forge;
pub mod handover;
pub mod hook;
pub mod message;
pub mod model;
pub mod outcome;
pub mod policy;
pub mod redact;
pub mod sandbox;
pub mod scripted;
pub mod store;
pub mod task;
pub mod testing;
pub mod tokenizer;
pub mod tool;
pub mod usage;
pub mod verify;
pub mod worker;

pub use async_trait::async_trait;
pub use tokio_util::sync::CancellationToken;

/// The names most programs need.
pub mod prelude {
    pub use crate::CancellationToken;
    pub use crate::agent::{Agent, AgentBuilder, AgentConfig};
    pub use crate::context::{ContextEngine, ContextItem, ContextProvider, ContextRequest};
    pub use crate::engine::{Budgets, CallSettings, Engine, EngineConfig, RunState, Step};
    pub use crate::event::{Event, EventRecord, EventSink, JsonlSink, MemorySink, TracingSink};
    pub use crate::forge::{Forge, ForgeError, PublishRequest, PullRequest};
    pub use crate::hook::{Hook, ModelCallAction, PublishAction, ToolCallAction, ToolResultAction};
    pub use crate::message::{Message, Part, Role, ToolCall, ToolResult};
    pub use crate::model::{
        Model, ModelError, ModelInfo, ModelRequest, ModelResponse, StreamEvent,
    };
    pub use crate::outcome::{Outcome, StopReason};
    pub use crate::sandbox::{
        ExecOutput, ExecRequest, Sandbox, SandboxError, SandboxProvider, SandboxSpec,
    };
    pub use crate::scripted::ScriptedModel;
    pub use crate::store::{MemoryTaskStore, TaskStore};
    pub use crate::task::{RepoRef, Task, TaskId};
    pub use crate::tool::{
        DynTool, Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput, ToolSet,
    };
    pub use crate::usage::{Cost, Usage};
    pub use crate::verify::{Verification, Verifier};
}
