//! `finish`: the agent declares the task done.

use agentkit_core::tool::{Tool, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

/// Arguments of the `finish` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishArgs {
    /// What you changed and why, and how you checked it, in a few sentences or bullet
    /// points. It becomes the pull request description, so write it for a reviewer.
    pub summary: String,
}

/// Ends the task: the work is done and ready for verification and review.
#[derive(Debug, Clone, Copy, Default)]
pub struct Finish;

#[async_trait]
impl Tool for Finish {
    type Args = FinishArgs;

    fn name(&self) -> &str {
        "finish"
    }

    fn description(&self) -> &str {
        "Call this once the task is complete and you have checked your changes (build and \
         tests pass). Your changes are then verified and proposed as a pull request with your \
         summary. Do not call it while work remains."
    }

    async fn call(&self, args: FinishArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let summary = args.summary.trim();
        if summary.is_empty() {
            return Err(ToolError::InvalidArguments {
                message: "at `summary`: the summary is empty; describe what you changed, why, \
                          and how you checked it"
                    .into(),
            });
        }
        Ok(ToolOutput::Finish {
            summary: summary.to_string(),
        })
    }
}
