use std::sync::Arc;

use serde_json::json;

use super::dir_sandbox::DirSandbox;
use super::{invalid, text};
use crate::tools::Shell;

#[tokio::test]
async fn success_shows_exit_code_and_stdout() {
    let sandbox = Arc::new(DirSandbox::new());
    assert_eq!(
        text(&Shell, sandbox, json!({"command": "echo hello"})).await,
        "Exit code: 0\n--- stdout ---\nhello\n"
    );
}

#[tokio::test]
async fn a_failing_command_is_output_not_an_error() {
    let sandbox = Arc::new(DirSandbox::new());
    assert_eq!(
        text(
            &Shell,
            sandbox,
            json!({"command": "echo out; echo err >&2; exit 3"})
        )
        .await,
        "Exit code: 3\n--- stdout ---\nout\n--- stderr ---\nerr\n"
    );
}

#[tokio::test]
async fn cwd_is_relative_to_the_workspace() {
    let sandbox = DirSandbox::new();
    sandbox.put("sub/file.txt", "x");
    assert_eq!(
        text(
            &Shell,
            Arc::new(sandbox),
            json!({"command": "ls", "cwd": "sub"})
        )
        .await,
        "Exit code: 0\n--- stdout ---\nfile.txt\n"
    );
}

#[tokio::test]
async fn silence_and_timeouts_are_reported() {
    let sandbox = Arc::new(DirSandbox::new());
    assert_eq!(
        text(&Shell, sandbox.clone(), json!({"command": "true"})).await,
        "Exit code: 0\n(no output)\n"
    );
    assert_eq!(
        text(
            &Shell,
            sandbox,
            json!({"command": "sleep 5", "timeout_secs": 1})
        )
        .await,
        "Timed out after 1s; the command and its child processes were killed. Raise \
         timeout_secs (at most 1800) or make the command faster (e.g. run fewer tests).\n\
         (no output)\n"
    );
}

#[tokio::test]
async fn truncated_streams_are_marked() {
    use agentkit_core::sandbox::{CapturedOutput, ExecOutput};
    let out = ExecOutput {
        exit_code: Some(0),
        signal: None,
        stdout: CapturedOutput {
            text: "head\n[...]\ntail\n".into(),
            truncated: true,
            total_bytes: 1_000_000,
        },
        stderr: CapturedOutput::default(),
        duration: std::time::Duration::from_secs(1),
        timed_out: false,
    };
    assert_eq!(
        crate::tools::shell::render(&out, 120),
        "Exit code: 0\n--- stdout (truncated: 1000000 bytes in all; the start and end are kept) \
         ---\nhead\n[...]\ntail\n"
    );
}

#[tokio::test]
async fn bad_timeouts_and_empty_commands_are_argument_errors() {
    let sandbox = Arc::new(DirSandbox::new());
    assert_eq!(
        invalid(
            &Shell,
            sandbox.clone(),
            json!({"command": "ls", "timeout_secs": 4000})
        )
        .await,
        "at `timeout_secs`: 4000 is more than the maximum of 1800; split the work or run it in \
         the background and poll"
    );
    assert_eq!(
        invalid(
            &Shell,
            sandbox.clone(),
            json!({"command": "ls", "timeout_secs": 0})
        )
        .await,
        "at `timeout_secs`: must be at least 1"
    );
    assert_eq!(
        invalid(&Shell, sandbox, json!({"command": "  "})).await,
        "at `command`: the command is empty"
    );
}
