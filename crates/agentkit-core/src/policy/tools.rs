//! Only the listed tools may run.

use std::collections::BTreeSet;

use async_trait::async_trait;

use crate::hook::{Hook, ToolCallAction};
use crate::message::ToolCall;
use crate::task::Task;

/// Skips every call to a tool that is not on the list.
#[derive(Debug, Clone)]
pub struct ToolAllowList {
    allowed: BTreeSet<String>,
}

impl ToolAllowList {
    /// Allows exactly `tools`.
    pub fn new<I, S>(tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            allowed: tools.into_iter().map(Into::into).collect(),
        }
    }
}

#[async_trait]
impl Hook for ToolAllowList {
    async fn before_tool_call(&self, _task: &Task, call: &ToolCall) -> ToolCallAction {
        if self.allowed.contains(&call.name) {
            return ToolCallAction::Run;
        }
        let allowed: Vec<&str> = self.allowed.iter().map(String::as_str).collect();
        ToolCallAction::Skip {
            reason: format!(
                "the tool `{}` is not allowed for this task; allowed tools: {}",
                call.name,
                allowed.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::RepoRef;

    #[tokio::test]
    async fn only_listed_tools_run() {
        let policy = ToolAllowList::new(["read_file", "finish"]);
        let task = Task::new("t", "t", "t", RepoRef::new("."));
        let call = |name: &str| ToolCall {
            id: "1".into(),
            name: name.into(),
            arguments: "{}".into(),
        };
        assert_eq!(
            policy.before_tool_call(&task, &call("read_file")).await,
            ToolCallAction::Run
        );
        assert_eq!(
            policy.before_tool_call(&task, &call("shell")).await,
            ToolCallAction::Skip {
                reason: "the tool `shell` is not allowed for this task; allowed tools: finish, read_file".into()
            }
        );
    }
}
