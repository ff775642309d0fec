//! `ask_human`: the agent stops and asks a person.

use agentkit_core::tool::{Tool, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

/// Arguments of the `ask_human` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AskHumanArgs {
    /// The question or request for the human, with the context they need to answer it
    /// without reading the whole conversation.
    pub question: String,
}

/// Stops the run to ask a human something the agent cannot find out itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct AskHuman;

#[async_trait]
impl Tool for AskHuman {
    type Args = AskHumanArgs;

    fn name(&self) -> &str {
        "ask_human"
    }

    fn description(&self) -> &str {
        "Stop and ask a human when you cannot go on without them: the task is ambiguous in a \
         way the repository cannot settle, you need a decision or access you do not have. The \
         run pauses until someone answers. Do not use it for questions you can answer by \
         reading the code or running commands."
    }

    async fn call(&self, args: AskHumanArgs, _cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let question = args.question.trim();
        if question.is_empty() {
            return Err(ToolError::InvalidArguments {
                message: "at `question`: the question is empty; say what you need from the human"
                    .into(),
            });
        }
        Ok(ToolOutput::NeedsHuman {
            question: question.to_string(),
        })
    }
}
