//! Exec semantics, required of every backend.

use std::collections::BTreeMap;
use std::time::Duration;

use agentkit_core::sandbox::{ExecRequest, SandboxError, SandboxPolicy};

use super::*;

// ------------------------------------------------------- exec semantics

pub async fn exit_codes_streams_and_signals(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sh(sb.as_ref(), "echo out; echo err >&2; exit 3").await;
    assert_eq!(out.exit_code, Some(3), "{}: {out:?}", h.name);
    assert_eq!(out.stdout.text, "out\n");
    assert_eq!(out.stderr.text, "err\n");
    assert!(!out.timed_out && !out.success());

    let out = sh(sb.as_ref(), "echo fine").await;
    assert!(out.success(), "{}: {out:?}", h.name);

    let out = sh(sb.as_ref(), "kill -KILL $$").await;
    assert_eq!(
        (out.exit_code, out.signal),
        (None, Some(9)),
        "{}: a command killed by a signal reports the signal: {out:?}",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn argv_runs_without_a_shell_and_a_missing_program_is_a_spawn_error(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(ExecRequest::argv(["printf", "%s|", "a b", "$HOME", "*"]))
        .await
        .unwrap();
    assert_eq!(out.stdout.text, "a b|$HOME|*|", "{}: {out:?}", h.name);
    let err = sb
        .exec(ExecRequest::argv(["definitely-not-a-program-7c1a"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SandboxError::Spawn { .. }),
        "{}: a missing program must be a spawn error, got {err:?}",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn stdin_environment_and_working_directory(h: &Harness) {
    let f = Fixture::new();
    let mut spec_env = BTreeMap::new();
    spec_env.insert("FROM_SPEC".to_string(), "spec-value".to_string());
    let mut spec = f.spec(SandboxPolicy::default());
    spec.env = spec_env;
    let sb = h.provider.create(&spec).await.unwrap();
    let out = sb
        .exec(
            ExecRequest::script(
                "cat; echo; echo \"$FROM_SPEC $FROM_REQUEST\"; basename \"$PWD\"; cat lib.rs",
            )
            .stdin(b"line from stdin".to_vec())
            .env("FROM_REQUEST", "request-value")
            .cwd("src"),
        )
        .await
        .unwrap();
    assert_eq!(
        out.stdout.text,
        "line from stdin\nspec-value request-value\nsrc\npub fn one() -> u32 { 1 }\n",
        "{}: {out:?}",
        h.name
    );
    let err = sb
        .exec(ExecRequest::script("pwd").cwd("../.."))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SandboxError::OutsideWorkspace { .. }),
        "{}: {err:?}",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn host_environment_does_not_leak_in(h: &Harness) {
    // Cargo sets these for every test process; none is on the allow-list.
    let leaks: Vec<String> = ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .collect();
    assert!(!leaks.is_empty(), "the test process has cargo's variables");
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sh(sb.as_ref(), "env").await;
    assert!(out.success());
    for leak in leaks {
        assert!(
            !out.stdout.text.contains(&leak),
            "{}: the host variable value `{leak}` leaked into the sandbox",
            h.name
        );
    }
    sb.close().await.unwrap();
}

pub async fn files_written_by_commands_and_by_the_file_api_are_the_same_files(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    sb.write("notes/from-api.txt", b"api\n").await.unwrap();
    let out = sh(
        sb.as_ref(),
        "cat notes/from-api.txt; printf 'cmd\\n' > notes/from-cmd.txt",
    )
    .await;
    assert_eq!(out.stdout.text, "api\n", "{}", h.name);
    assert_eq!(sb.read("notes/from-cmd.txt").await.unwrap(), b"cmd\n");
    let names: Vec<String> = sb
        .list("notes")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(names, vec!["notes/from-api.txt", "notes/from-cmd.txt"]);
    assert_eq!(
        sb.read("README.md").await.unwrap(),
        b"# fixture\n",
        "the clone is there"
    );
    sb.remove("notes/from-cmd.txt").await.unwrap();
    let out = sh(sb.as_ref(), "test -e notes/from-cmd.txt; echo $?").await;
    assert_eq!(out.stdout.text, "1\n");
    sb.close().await.unwrap();
}

pub async fn timeout_kills_the_whole_process_tree(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(ExecRequest::script(HEARTBEATS).timeout(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(out.timed_out, "{}: {out:?}", h.name);
    for file in HEARTBEAT_FILES {
        assert!(
            heartbeat_stopped(sb.as_ref(), file).await,
            "{}: `{file}` is still being written after the timeout",
            h.name
        );
    }
    assert!(sh(sb.as_ref(), "echo alive").await.success());
    sb.close().await.unwrap();
}

pub async fn dropping_the_exec_future_kills_the_process_tree(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    {
        let exec = sb.exec(ExecRequest::script(HEARTBEATS).timeout(Duration::from_secs(120)));
        let _ = tokio::time::timeout(Duration::from_secs(2), exec).await;
    }
    wait_for_heartbeats(sb.as_ref()).await;
    for file in HEARTBEAT_FILES {
        assert!(
            heartbeat_stopped(sb.as_ref(), file).await,
            "{}: `{file}` is still being written after the call was dropped",
            h.name
        );
    }
    sb.close().await.unwrap();
}

pub async fn sleep_infinity_times_out(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(ExecRequest::argv(["sleep", "infinity"]).timeout(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(out.timed_out, "{}: {out:?}", h.name);
    assert_eq!(out.exit_code, None);
    sb.close().await.unwrap();
}

pub async fn output_cap_keeps_head_and_tail(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(ExecRequest::argv(["seq", "1", "200000"]).output_limit(4096))
        .await
        .unwrap();
    let expected: String = (1..=200000).map(|n| format!("{n}\n")).collect();
    assert!(out.success());
    assert!(out.stdout.truncated, "{}", h.name);
    assert_eq!(out.stdout.total_bytes, expected.len() as u64);
    assert!(out.stdout.text.starts_with("1\n2\n3\n"), "{}", h.name);
    assert!(out.stdout.text.ends_with("199999\n200000\n"), "{}", h.name);
    assert!(out.stdout.text.len() < 4096 + 200, "{}", h.name);
    sb.close().await.unwrap();
}

pub async fn an_output_flood_is_capped_and_counted(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(
            ExecRequest::script("head -c 50000000 /dev/zero | tr '\\0' x; echo done >&2")
                .output_limit(64 * 1024)
                .timeout(Duration::from_secs(120)),
        )
        .await
        .unwrap();
    assert!(out.success(), "{}: {out:?}", h.name);
    assert_eq!(out.stdout.total_bytes, 50_000_000);
    assert!(out.stdout.truncated);
    assert!(out.stdout.text.len() < 64 * 1024 + 200);
    assert_eq!(out.stderr.text, "done\n");
    sb.close().await.unwrap();
}

pub async fn close_kills_running_commands_and_later_calls_fail(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let running = {
        let sb = sb.clone();
        tokio::spawn(async move {
            sb.exec(ExecRequest::argv(["sleep", "1000"]).timeout(Duration::from_secs(600)))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    sb.close().await.unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap_or_else(|_| panic!("{}: close left a command running", h.name))
        .unwrap();
    match finished {
        Ok(out) => assert!(!out.success(), "{}: {out:?}", h.name),
        Err(e) => assert!(matches!(e, SandboxError::Gone { .. }), "{}: {e:?}", h.name),
    }
    let err = sb.exec(ExecRequest::argv(["true"])).await.unwrap_err();
    assert!(
        matches!(err, SandboxError::Gone { .. }),
        "{}: {err:?}",
        h.name
    );
    assert!(matches!(
        sb.read("README.md").await,
        Err(SandboxError::Gone { .. })
    ));
}
