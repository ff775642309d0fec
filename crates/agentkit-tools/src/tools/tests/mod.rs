//! Tests of the tools: schema snapshots, and behaviour against an in-memory
//! sandbox (file tools) or a real directory (search, shell, git).

use std::sync::Arc;

use agentkit_core::CancellationToken;
use agentkit_core::sandbox::Sandbox;
use agentkit_core::task::{RepoRef, Task};
use agentkit_core::tool::{DynTool, ToolContext, ToolError, ToolOutput};

mod args;
mod dir_sandbox;
mod edit_file;
mod git_diff;
mod grep;
mod list_files;
mod read_file;
mod run_tests;
mod shell;
mod specs;
mod write_file;

/// A context over `sandbox`.
fn cx(sandbox: Arc<dyn Sandbox>) -> ToolContext {
    ToolContext {
        sandbox,
        task: Arc::new(Task::new("T-1", "test", "test", RepoRef::new("."))),
        call_id: "call-1".into(),
        cancel: CancellationToken::new(),
    }
}

/// Calls `tool` with raw JSON arguments.
async fn call(
    tool: &dyn DynTool,
    sandbox: Arc<dyn Sandbox>,
    args: serde_json::Value,
) -> Result<ToolOutput, ToolError> {
    tool.call_raw(&args.to_string(), &cx(sandbox)).await
}

/// The text of a successful call.
async fn text(tool: &dyn DynTool, sandbox: Arc<dyn Sandbox>, args: serde_json::Value) -> String {
    match call(tool, sandbox, args).await {
        Ok(ToolOutput::Text { content }) => content,
        other => panic!("expected text output, got {other:?}"),
    }
}

/// The model-facing message of a failed call.
async fn failure(tool: &dyn DynTool, sandbox: Arc<dyn Sandbox>, args: serde_json::Value) -> String {
    match call(tool, sandbox, args).await {
        Err(err @ ToolError::Failed { .. }) => err.message_for_model(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The message of an invalid-arguments error.
async fn invalid(tool: &dyn DynTool, sandbox: Arc<dyn Sandbox>, args: serde_json::Value) -> String {
    match call(tool, sandbox, args).await {
        Err(ToolError::InvalidArguments { message }) => message,
        other => panic!("expected invalid arguments, got {other:?}"),
    }
}
