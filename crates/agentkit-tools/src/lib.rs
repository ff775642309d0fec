//! # agentkit-tools
//!
//! The batteries of agentkit: agent tools, context providers, verifiers and forges.
//!
//! - [`tools`]: `read_file`, `write_file`, `edit_file`, `list_files`, `grep`,
//!   `shell`, `git_diff`, `finish`, `ask_human` — all through the `Sandbox` trait.
//! - [`context`]: rule files (`AGENTS.md`, `CLAUDE.md`, `.cursorrules`, ...).
//! - [`verify`]: [`verify::CommandVerifier`] runs the project's checks in the sandbox.
//! - [`forge`]: [`forge::LocalForge`], tickets from files and pull requests
//!   recorded next to a bare "origin" repository; `forge::github::GitHubForge`
//!   (feature `github`), issues and pull requests on GitHub.
//! - `mcp` (feature `mcp`): MCP servers' tools as agent tools, their
//!   resources as context (stdio and streamable HTTP, through rmcp).
//!
//! The smallest complete use: one tool call against an in-memory sandbox,
//! exactly as the engine makes it (raw JSON arguments from the model).
//!
//! ```
//! use std::sync::Arc;
//! use agentkit_core::prelude::*;
//! use agentkit_core::testing::MemorySandbox;
//! use agentkit_tools::tools::standard_tools;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let sandbox = Arc::new(MemorySandbox::new().with_file("src/lib.rs", "pub fn answer() -> u32 { 41 }\n"));
//! let cx = ToolContext {
//!     sandbox: sandbox.clone(),
//!     task: Arc::new(Task::new("T-1", "Fix the answer", "It should be 42.", RepoRef::new("."))),
//!     call_id: "call_1".into(),
//!     cancel: CancellationToken::new(),
//! };
//! let tools = standard_tools();
//! let edit = tools.get("edit_file").expect("a standard tool");
//! edit.call_raw(r#"{"path": "src/lib.rs", "old_string": "41", "new_string": "42"}"#, &cx)
//!     .await
//!     .expect("the edit applies");
//! assert_eq!(sandbox.file("src/lib.rs").unwrap(), "pub fn answer() -> u32 { 42 }\n");
//! # });
//! ```

#![warn(missing_docs)]

pub mod context;
pub mod forge;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod tools;
pub mod verify;
