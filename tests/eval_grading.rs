//! The eval harness on a small local task: grading happens in a new sandbox,
//! tampered tests are put back, hidden tests added, setup failures are the
//! task's errors (not the agent's), and the report says so.
//!
//! The fixture's "test runner" is a bash script printing libtest-style lines
//! (`test NAME ... ok|FAILED`), read with the cargo log parser, so these
//! tests need only git and bash.

use std::path::Path;
use std::process::Command;

use agentkit::core::CancellationToken;
use agentkit::core::outcome::StopReason;
use agentkit::eval::agent::{AgentFuture, apply_patch};
use agentkit::eval::{
    AgentRun, Attempt, ErrorStage, EvalTask, FnAgent, Harness, HiddenTests, LogParser, NoopAgent,
    OracleAgent, Provenance, Source, SourceCache, TaskStatus, TestStatus,
};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

const RUNNER: &str = r#"#!/usr/bin/env bash
# Prints one libtest-style line per test.
for t in tests/*.sh; do
  name=$(basename "$t" .sh)
  if bash "$t" >/dev/null 2>&1; then echo "test $name ... ok"; else echo "test $name ... FAILED"; fi
done
"#;

/// A repository whose `add` subtracts, with a passing test of `double` and
/// no test of `add` (the hidden test brings it).
fn fixture(root: &Path) -> EvalTask {
    let repo = root.join("repo");
    std::fs::create_dir_all(repo.join("tests")).unwrap();
    std::fs::write(
        repo.join("calc.sh"),
        "add() { echo $(( $1 - $2 )); }\ndouble() { echo $(( $1 * 2 )); }\n",
    )
    .unwrap();
    std::fs::write(repo.join("run-tests"), RUNNER).unwrap();
    std::fs::write(
        repo.join("tests/double.sh"),
        ". ./calc.sh; [ \"$(double 4)\" = 8 ]\n",
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "calc"]);

    let task_dir = root.join("task");
    std::fs::create_dir_all(task_dir.join("hidden/tests")).unwrap();
    std::fs::write(
        task_dir.join("hidden/tests/add.sh"),
        ". ./calc.sh; [ \"$(add 2 3)\" = 5 ]\n",
    )
    .unwrap();
    let oracle = "--- a/calc.sh\n+++ b/calc.sh\n@@ -1,2 +1,2 @@\n-add() { echo $(( $1 - $2 )); }\n+add() { echo $(( $1 + $2 )); }\n double() { echo $(( $1 * 2 )); }\n";
    EvalTask {
        id: "calc-add".into(),
        title: "add subtracts".into(),
        ticket: "`add 2 3` prints -1.".into(),
        language: "bash".into(),
        source: Source::Git {
            path: repo,
            commit: "main".into(),
        },
        provenance: Provenance::default(),
        setup: None,
        env: Default::default(),
        test_command: "bash run-tests".into(),
        log_parser: LogParser::Cargo,
        test_files: vec!["tests/**".into()],
        hidden_tests: HiddenTests {
            dir: Some("hidden".into()),
            ..HiddenTests::default()
        },
        fail_to_pass: vec!["add".into()],
        pass_to_pass: vec!["double".into()],
        oracle: None,
        oracle_patch: Some(oracle.into()),
        quick: true,
        dir: task_dir,
    }
}

fn harness(root: &Path) -> Harness {
    Harness {
        sources: SourceCache::new(root.join("cache"), "python3"),
        ..Harness::new()
    }
}

fn finished(attempt: &Attempt<'_>) -> AgentRun {
    AgentRun::without_model(
        &attempt.ticket,
        StopReason::Finished {
            summary: "done".into(),
        },
        std::time::Duration::ZERO,
    )
}

#[tokio::test]
async fn noop_scores_zero_and_the_oracle_one() {
    let root = tempfile::tempdir().unwrap();
    let task = fixture(root.path());
    let check = harness(root.path())
        .self_check(&[task], CancellationToken::new())
        .await;
    assert_eq!(check.problems(), Vec::<String>::new());
    let noop = &check.noop.tasks[0];
    assert_eq!(noop.status, TaskStatus::Unresolved);
    let grade = noop.grade.as_ref().unwrap();
    assert_eq!(
        (
            grade.fail_to_pass.get("add"),
            grade.pass_to_pass.get("double")
        ),
        (Some(&TestStatus::Failed), Some(&TestStatus::Passed))
    );
    assert_eq!(check.oracle.tasks[0].status, TaskStatus::Resolved);
    assert_eq!((check.noop.resolved(), check.oracle.resolved()), (0, 1));
}

#[tokio::test]
async fn grading_resets_tampered_tests() {
    let root = tempfile::tempdir().unwrap();
    let task = fixture(root.path());
    // Cheats: makes the existing test trivially pass, adds a test file of its
    // own that shadows the hidden one, and fixes nothing.
    let cheat = FnAgent::new("cheat", |attempt: Attempt<'_>| -> AgentFuture<'_> {
        Box::pin(async move {
            let sb = attempt.sandbox.as_ref();
            sb.write("tests/double.sh", b"true\n").await.unwrap();
            sb.write("tests/add.sh", b"true\n").await.unwrap();
            sb.write("tests/extra.sh", b"true\n").await.unwrap();
            finished(&attempt)
        })
    });
    let report = harness(root.path())
        .run(
            std::slice::from_ref(&task),
            &cheat,
            CancellationToken::new(),
        )
        .await;
    let result = &report.tasks[0];
    assert_eq!(result.status, TaskStatus::Unresolved);
    let grade = result.grade.as_ref().unwrap();
    assert_eq!(
        grade.tests_reset,
        vec![
            "tests/add.sh".to_string(),
            "tests/double.sh".into(),
            "tests/extra.sh".into()
        ]
    );
    assert_eq!(grade.fail_to_pass.get("add"), Some(&TestStatus::Failed));

    // The same tampering next to a real fix: the fix alone decides.
    let fixer = FnAgent::new(
        "fix-and-tamper",
        |attempt: Attempt<'_>| -> AgentFuture<'_> {
            Box::pin(async move {
                let sb = attempt.sandbox.as_ref();
                let patch = attempt.task.oracle_patch.clone().unwrap();
                apply_patch(sb, &patch).await.unwrap();
                sb.write("tests/double.sh", b"false\n").await.unwrap();
                finished(&attempt)
            })
        },
    );
    let report = harness(root.path())
        .run(&[task], &fixer, CancellationToken::new())
        .await;
    assert_eq!(report.tasks[0].status, TaskStatus::Resolved);
    assert_eq!(
        report.tasks[0].grade.as_ref().unwrap().tests_reset,
        vec!["tests/double.sh".to_string()]
    );
}

#[tokio::test]
async fn committed_work_is_graded_too() {
    let root = tempfile::tempdir().unwrap();
    let task = fixture(root.path());
    // Commits its fix (as the built-in loop does at handover) and leaves an
    // untracked file: the diff against the base holds both.
    let committer = FnAgent::new("committer", |attempt: Attempt<'_>| -> AgentFuture<'_> {
        Box::pin(async move {
            let sb = attempt.sandbox.as_ref();
            let patch = attempt.task.oracle_patch.clone().unwrap();
            apply_patch(sb, &patch).await.unwrap();
            let commit = agentkit::core::sandbox::ExecRequest::argv([
                "git",
                "-c",
                "user.name=a",
                "-c",
                "user.email=a@a",
                "commit",
                "-qam",
                "fix",
            ]);
            assert!(sb.exec(commit).await.unwrap().success());
            sb.write("NOTES.md", b"fixed add\n").await.unwrap();
            finished(&attempt)
        })
    });
    let report = harness(root.path())
        .run(&[task], &committer, CancellationToken::new())
        .await;
    assert_eq!(report.tasks[0].status, TaskStatus::Resolved);
    let diff = &report.tasks[0].diff;
    assert!(diff.contains("+add() { echo $(( $1 + $2 )); }"), "{diff}");
    assert!(diff.contains("+++ b/NOTES.md"), "{diff}");
}

#[tokio::test]
async fn a_failing_setup_is_an_error_of_the_task() {
    let root = tempfile::tempdir().unwrap();
    let mut task = fixture(root.path());
    task.setup = Some("echo 'cannot install dependencies' >&2; exit 3".into());
    let report = harness(root.path())
        .run(&[task], &OracleAgent, CancellationToken::new())
        .await;
    let result = &report.tasks[0];
    let TaskStatus::Error { stage, message } = &result.status else {
        panic!("expected an error, got {:?}", result.status);
    };
    assert_eq!(*stage, ErrorStage::Setup);
    assert!(message.contains("cannot install dependencies"), "{message}");
    assert_eq!(result.stop_reason, None, "the agent never ran");
    assert_eq!(
        (report.resolved(), report.graded(), report.errors()),
        (0, 0, 1)
    );
    assert!(report.to_markdown().contains("⚠️ error (Setup)"));

    let missing = EvalTask {
        source: Source::Git {
            path: root.path().join("no-such-repo"),
            commit: "main".into(),
        },
        ..fixture(&root.path().join("other"))
    };
    let report = harness(root.path())
        .run(&[missing], &NoopAgent, CancellationToken::new())
        .await;
    assert!(matches!(
        report.tasks[0].status,
        TaskStatus::Error {
            stage: ErrorStage::Source,
            ..
        }
    ));
}

#[tokio::test]
async fn the_report_has_a_row_per_task() {
    let root = tempfile::tempdir().unwrap();
    let task = fixture(root.path());
    let report = harness(root.path())
        .run(&[task], &OracleAgent, CancellationToken::new())
        .await;
    let markdown = report.to_markdown();
    let rows: Vec<&str> = markdown
        .lines()
        .filter(|l| l.starts_with("| calc-add"))
        .collect();
    assert_eq!(rows.len(), 1);
    let cells: Vec<&str> = rows[0].split('|').map(str::trim).collect();
    assert_eq!(&cells[1..4], &["calc-add", "✅ yes", "0"]);
    assert_eq!(cells[7], "finished");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["tasks"][0]["status"]["status"], "resolved");
    assert_eq!(json["agent"], "oracle");
}

#[tokio::test]
async fn history_replay_turns_a_fix_commit_into_a_calibrated_task() {
    let root = tempfile::tempdir().unwrap();
    let task = fixture(root.path());
    let Source::Git { path: repo, .. } = &task.source else {
        unreachable!()
    };
    // A commit that fixes `add` and adds its test, then one that only touches docs.
    std::fs::write(
        repo.join("calc.sh"),
        "add() { echo $(( $1 + $2 )); }\ndouble() { echo $(( $1 * 2 )); }\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("tests/add.sh"),
        ". ./calc.sh; [ \"$(add 2 3)\" = 5 ]\n",
    )
    .unwrap();
    git(repo, &["add", "-A"]);
    git(
        repo,
        &[
            "commit",
            "-q",
            "-m",
            "Fix add\n\nadd subtracted its arguments.",
        ],
    );
    std::fs::write(repo.join("README"), "calc\n").unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "docs"]);

    let options = agentkit::eval::history::HistoryOptions::new("bash run-tests", LogParser::Cargo);
    let candidates = agentkit::eval::history::replay(repo, &options)
        .await
        .unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].title, "Fix add");
    assert_eq!(
        candidates[0].ticket,
        "Fix add\n\nadd subtracted its arguments."
    );
    let tasks = agentkit::eval::history::calibrate(&harness(root.path()), candidates).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0].fail_to_pass.clone(), tasks[0].pass_to_pass.clone()),
        (vec!["add".to_string()], vec!["double".to_string()])
    );
    let check = harness(root.path())
        .self_check(&tasks, CancellationToken::new())
        .await;
    assert_eq!(check.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn the_built_in_loop_with_a_scripted_model_resolves_the_task() {
    let root = tempfile::tempdir().unwrap();
    let task = fixture(root.path());
    let script = serde_json::json!([
        {"text": "Reading the code.", "tool_calls": [{"name": "read_file", "arguments": {"path": "calc.sh"}}]},
        {"text": "add subtracts; fixing it.", "tool_calls": [{"name": "edit_file", "arguments": {
            "path": "calc.sh", "old_string": "$(( $1 - $2 ))", "new_string": "$(( $1 + $2 ))"}}]},
        {"text": "Done.", "tool_calls": [{"name": "finish", "arguments": {"summary": "add now adds."}}]}
    ]);
    let path = root.path().join("script.json");
    std::fs::write(&path, script.to_string()).unwrap();
    let mut agent = agentkit::eval::ModelAgent::new(format!("scripted:{}", path.display()));
    agent.transcripts = Some(root.path().join("transcripts"));
    let report = harness(root.path())
        .run(&[task], &agent, CancellationToken::new())
        .await;
    let result = &report.tasks[0];
    assert_eq!(result.status, TaskStatus::Resolved, "{}", report.to_json());
    assert_eq!(result.steps, 3);
    assert_eq!(
        result.stop_reason,
        Some(StopReason::Finished {
            summary: "add now adds.".into()
        })
    );
    assert!(root.path().join("transcripts/calc-add.jsonl").is_file());
}
