//! Invalid arguments through `call_raw` are reported, never defaulted.

use std::sync::Arc;

use agentkit_core::testing::MemorySandbox;
use agentkit_core::tool::{DynTool, ToolError, ToolOutput};
use serde_json::json;

use super::{call, invalid};
use crate::tools::*;

fn sandbox() -> Arc<MemorySandbox> {
    Arc::new(MemorySandbox::new())
}

#[tokio::test]
async fn wrong_types_and_missing_fields_name_the_field() {
    assert_eq!(
        invalid(&ReadFile, sandbox(), json!({"path": 3})).await,
        "at `path`: invalid type: integer `3`, expected a string at line 1 column 9"
    );
    assert_eq!(
        invalid(
            &EditFile,
            sandbox(),
            json!({"path": "a", "new_string": "b"})
        )
        .await,
        "missing field `old_string` at line 1 column 29"
    );
    assert_eq!(
        invalid(&Grep, sandbox(), json!({"pattern": "x", "regex": true})).await,
        "at `regex`: unknown field `regex`, expected one of `pattern`, `path`, `glob`, \
         `case_insensitive`, `max_results`, `context_lines` at line 1 column 22"
    );
    assert_eq!(
        invalid(
            &Shell,
            sandbox(),
            json!({"command": "ls", "timeout_secs": -1})
        )
        .await,
        "at `timeout_secs`: invalid value: integer `-1`, expected u64 at line 1 column 33"
    );
}

#[tokio::test]
async fn finish_and_ask_human_end_the_run_and_refuse_empty_text() {
    assert_eq!(
        call(&Finish, sandbox(), json!({"summary": " Fixed the bug. "})).await,
        Ok(ToolOutput::Finish {
            summary: "Fixed the bug.".into()
        })
    );
    assert_eq!(
        invalid(&Finish, sandbox(), json!({"summary": "  "})).await,
        "at `summary`: the summary is empty; describe what you changed, why, and how you checked it"
    );
    assert_eq!(
        call(
            &AskHuman,
            sandbox(),
            json!({"question": "Which API version?"})
        )
        .await,
        Ok(ToolOutput::NeedsHuman {
            question: "Which API version?".into()
        })
    );
    let err = AskHuman
        .call_raw(r#"{"question": ""}"#, &super::cx(sandbox()))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }));
}
