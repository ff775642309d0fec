//! Command execution: exit status, streams, stdin, cwd, timeout, cancellation
//! and output caps.

mod common;

use std::time::Duration;

use agentkit_core::sandbox::{CapturedOutput, ExecRequest, Sandbox, SandboxError};
use common::{eventually, fixture, is_alive, wait_for_pid};

fn text(s: &str) -> CapturedOutput {
    CapturedOutput {
        text: s.into(),
        truncated: false,
        total_bytes: s.len() as u64,
    }
}

#[tokio::test]
async fn argv_runs_without_a_shell() {
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::argv(["echo", "$HOME", "a;b"]))
        .await
        .unwrap();
    assert_eq!(
        (
            out.exit_code,
            out.signal,
            out.stdout,
            out.stderr,
            out.timed_out
        ),
        (Some(0), None, text("$HOME a;b\n"), text(""), false)
    );
}

#[tokio::test]
async fn script_runs_in_bash_with_both_streams() {
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::script(
            "echo out; echo err >&2; [[ -n $BASH_VERSION ]] && echo bash",
        ))
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, &out.stdout, &out.stderr),
        (Some(0), &text("out\nbash\n"), &text("err\n"))
    );
    assert!(out.success());
}

#[tokio::test]
async fn non_zero_exit_is_data_not_an_error() {
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::script("echo failing >&2; exit 3"))
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.signal, &out.stderr, out.success()),
        (Some(3), None, &text("failing\n"), false)
    );
    assert_eq!(out.status_line(), "exit 3");
}

#[tokio::test]
async fn death_by_signal_is_reported() {
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::script("kill -TERM $$"))
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.signal, out.timed_out),
        (None, Some(libc::SIGTERM), false)
    );
}

#[tokio::test]
async fn missing_program_is_a_spawn_error() {
    let fx = fixture();
    let err = fx
        .sandbox
        .exec(ExecRequest::argv(["agentkit-no-such-program", "x"]))
        .await
        .unwrap_err();
    let SandboxError::Spawn { reason } = err else {
        panic!("expected Spawn, got {err:?}");
    };
    assert!(
        reason.contains("`agentkit-no-such-program` was not found"),
        "{reason}"
    );
}

#[tokio::test]
async fn empty_argv_is_a_spawn_error() {
    let fx = fixture();
    let err = fx
        .sandbox
        .exec(ExecRequest::argv(Vec::<String>::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Spawn { .. }), "{err:?}");
}

#[tokio::test]
async fn stdin_is_written_then_closed() {
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::argv(["cat"]).stdin("hello\nworld"))
        .await
        .unwrap();
    assert_eq!(out.stdout, text("hello\nworld"));
    // Without stdin the command reads end-of-file at once.
    let out = fx.sandbox.exec(ExecRequest::argv(["cat"])).await.unwrap();
    assert_eq!((out.exit_code, out.stdout), (Some(0), text("")));
}

#[tokio::test]
async fn large_stdin_and_output_do_not_deadlock() {
    let fx = fixture();
    let input: Vec<u8> = (0..4_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = fx
        .sandbox
        .exec(
            ExecRequest::script("cat; head -c 3000000 /dev/zero | tr '\\0' 'z' >&2")
                .stdin(input.clone())
                .output_limit(100),
        )
        .await
        .unwrap();
    let expected_out = format!(
        "{}\n[... 3999900 bytes omitted ...]\n{}",
        String::from_utf8_lossy(&input[..50]),
        String::from_utf8_lossy(&input[input.len() - 50..])
    );
    let z50 = "z".repeat(50);
    assert_eq!(
        (out.exit_code, out.stdout, out.stderr),
        (
            Some(0),
            CapturedOutput {
                text: expected_out,
                truncated: true,
                total_bytes: 4_000_000,
            },
            CapturedOutput {
                text: format!("{z50}\n[... 2999900 bytes omitted ...]\n{z50}"),
                truncated: true,
                total_bytes: 3_000_000,
            }
        )
    );
}

#[tokio::test]
async fn output_cap_keeps_head_and_tail() {
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::argv(["seq", "1", "10000"]).output_limit(20))
        .await
        .unwrap();
    let full: String = (1..=10000).map(|i| format!("{i}\n")).collect();
    let omitted = full.len() - 20;
    assert_eq!(
        out.stdout,
        CapturedOutput {
            text: format!(
                "{}\n[... {omitted} bytes omitted ...]\n{}",
                &full[..10],
                &full[full.len() - 10..]
            ),
            truncated: true,
            total_bytes: full.len() as u64,
        }
    );
}

#[tokio::test]
async fn cwd_is_workspace_relative() {
    let fx = fixture();
    std::fs::create_dir_all(fx.workspace.join("sub/dir")).unwrap();
    let out = fx
        .sandbox
        .exec(ExecRequest::argv(["pwd", "-P"]).cwd("sub/dir"))
        .await
        .unwrap();
    assert_eq!(
        out.stdout.text,
        format!("{}\n", fx.workspace.join("sub/dir").display())
    );
    let out = fx
        .sandbox
        .exec(ExecRequest::argv(["pwd", "-P"]))
        .await
        .unwrap();
    assert_eq!(out.stdout.text, format!("{}\n", fx.workspace.display()));
}

#[tokio::test]
async fn cwd_outside_the_workspace_is_refused() {
    let fx = fixture();
    std::os::unix::fs::symlink(&fx.outside, fx.workspace.join("out")).unwrap();
    std::fs::write(fx.workspace.join("file"), "").unwrap();
    for cwd in ["..", "../outside", "/tmp", "out", "sub/../../outside"] {
        let err = fx
            .sandbox
            .exec(ExecRequest::argv(["true"]).cwd(cwd))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SandboxError::OutsideWorkspace { path } if path == cwd),
            "{cwd}: {err:?}"
        );
    }
    let err = fx
        .sandbox
        .exec(ExecRequest::argv(["true"]).cwd("missing"))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::NotFound { .. }), "{err:?}");
    let err = fx
        .sandbox
        .exec(ExecRequest::argv(["true"]).cwd("file"))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::WrongKind { .. }), "{err:?}");
}

/// A script that backgrounds a grandchild `sleep`, records its pid, then waits.
const SPAWNS_GRANDCHILD: &str = "sleep 300 & echo $! > grandchild.pid; echo started; wait";

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::script(SPAWNS_GRANDCHILD).timeout(Duration::from_millis(500)))
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.signal, out.timed_out, &out.stdout),
        (None, Some(libc::SIGKILL), true, &text("started\n"))
    );
    assert!(out.duration >= Duration::from_millis(500));
    assert!(out.status_line().starts_with("timed out after"));
    let pid = wait_for_pid(&fx.workspace.join("grandchild.pid")).await;
    assert!(
        eventually(Duration::from_secs(5), || !is_alive(pid)),
        "grandchild {pid} survived the timeout"
    );
}

#[tokio::test]
async fn dropping_the_exec_future_kills_the_process_group() {
    let fx = fixture();
    let pid_file = fx.workspace.join("grandchild.pid");
    let exec = fx.sandbox.exec(ExecRequest::script(SPAWNS_GRANDCHILD));
    let pid = tokio::select! {
        _ = exec => panic!("the command should still be running"),
        pid = wait_for_pid(&pid_file) => pid,
    };
    // `exec` was dropped when the select finished.
    assert!(
        eventually(Duration::from_secs(5), || !is_alive(pid)),
        "grandchild {pid} survived cancellation"
    );
}

#[tokio::test]
async fn timeout_returns_even_if_an_escaped_process_holds_the_pipes() {
    let fx = fixture();
    // `setsid` moves the grandchild out of the group: the kill misses it and
    // it keeps stdout open. The exec must still return, after a bounded drain.
    let out = fx
        .sandbox
        .exec(
            ExecRequest::script("setsid sleep 30 & echo $! > escaped.pid; sleep 30")
                .timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert!(out.timed_out);
    assert!(out.duration < Duration::from_secs(20), "{:?}", out.duration);
    let pid = wait_for_pid(&fx.workspace.join("escaped.pid")).await;
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[tokio::test]
async fn exit_with_a_background_process_holding_output_returns_and_kills_it() {
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::script(
            "sleep 300 & echo $! > bg.pid; echo done",
        ))
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.timed_out, out.stdout),
        (Some(0), false, text("done\n"))
    );
    let pid = wait_for_pid(&fx.workspace.join("bg.pid")).await;
    assert!(eventually(Duration::from_secs(5), || !is_alive(pid)));
}

#[tokio::test]
async fn detached_process_with_closed_pipes_is_left_alone() {
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::script(
            "sleep 300 >/dev/null 2>&1 </dev/null & echo $! > bg.pid",
        ))
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0));
    let pid = wait_for_pid(&fx.workspace.join("bg.pid")).await;
    assert!(is_alive(pid));
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[tokio::test]
async fn close_kills_running_commands() {
    let fx = fixture();
    let pid_file = fx.workspace.join("grandchild.pid");
    let sandbox = &fx.sandbox;
    let (out, pid) = tokio::join!(
        sandbox.exec(ExecRequest::script(SPAWNS_GRANDCHILD)),
        async {
            let pid = wait_for_pid(&pid_file).await;
            sandbox.close().await.unwrap();
            pid
        }
    );
    let out = out.unwrap();
    assert_eq!((out.signal, out.timed_out), (Some(libc::SIGKILL), false));
    assert!(eventually(Duration::from_secs(5), || !is_alive(pid)));
}

#[tokio::test]
async fn commands_get_default_sigpipe_handling() {
    // With SIGPIPE ignored (as in the Rust parent), `yes` would complain
    // about a broken pipe instead of dying quietly.
    let fx = fixture();
    let out = fx
        .sandbox
        .exec(ExecRequest::script("yes | head -n 1"))
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, &out.stdout, &out.stderr),
        (Some(0), &text("y\n"), &text(""))
    );
}
