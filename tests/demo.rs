//! End to end: the offline demo fixes the fixture's bug for real, publishes
//! a pull request through the local forge, and publishing again updates the
//! same pull request instead of opening a second one.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use agentkit::core::CancellationToken;
use agentkit::core::event::{Event, MemorySink};
use agentkit::core::outcome::StopReason;
use agentkit::demo;

fn cargo_test_passes(dir: &Path) -> bool {
    let out = Command::new("cargo")
        .args(["test", "--offline", "--quiet"])
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cargo runs");
    out.status.success()
}

fn checkout(repo: &Path, rev: &str, dest: &Path) {
    let status = Command::new("git")
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "clone",
            "-q",
            "--branch",
            rev,
        ])
        .arg(repo)
        .arg(dest)
        .status()
        .expect("git runs");
    assert!(status.success());
}

/// The events of a run reduced to what must not change between runs
/// (no timings, paths, hashes or token estimates).
fn stable_transcript(events: &[Event]) -> Vec<serde_json::Value> {
    use serde_json::json;
    events
        .iter()
        .filter_map(|e| match e {
            Event::RunStarted { task_id, title, model, resumed } => {
                Some(json!({"run_started": {"task": task_id, "title": title, "model": model, "resumed": resumed}}))
            }
            // The repo map (feature `repo-map`) is pinned by its own tests.
            Event::ContextAssembled { items, .. } => Some(json!({"context": items
                .iter()
                .filter(|item| item.as_str() != "Repository map")
                .collect::<Vec<_>>()})),
            Event::ModelCallFinished { step, text, tool_calls, finish_reason, .. } => Some(json!({"model": {
                "step": step,
                "text": text,
                "calls": tool_calls.iter().map(|c| json!({"name": c.name, "arguments": serde_json::from_str::<serde_json::Value>(&c.arguments).unwrap()})).collect::<Vec<_>>(),
                "finish": finish_reason,
            }})),
            Event::ToolCallFinished { name, is_error, content, .. } => {
                // Deterministic tools are pinned whole; `shell` and `git_diff`
                // carry timings and hashes, so only their first line is.
                let shown = match name.as_str() {
                    "shell" | "git_diff" => content.lines().next().unwrap_or_default().to_string(),
                    _ => content.clone(),
                };
                Some(json!({"tool_result": {"name": name, "is_error": is_error, "content": shown}}))
            }
            Event::VerificationFinished { attempt, verification } => Some(json!({"verification": {
                "attempt": attempt,
                "passed": verification.passed,
                "checks": verification.checks.iter().map(|c| json!({"name": c.name, "command": c.command, "passed": c.passed, "status": c.status})).collect::<Vec<_>>(),
            }})),
            Event::Published { pull_request } => Some(json!({"published": {
                "id": pull_request.id, "branch": pull_request.branch, "base": pull_request.base_branch,
                "title": pull_request.title, "revisions": pull_request.revisions,
            }})),
            Event::RunFinished { outcome } => Some(json!({"finished": {"stop": outcome.stop_reason, "steps": outcome.steps}})),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fixes_the_bug_and_publishes_one_pull_request() {
    let out = tempfile::tempdir().unwrap();
    let sink = Arc::new(MemorySink::new());
    let mut job = demo::job(out.path()).unwrap();
    job.sinks.push(sink.clone());
    let forge = job.forge().unwrap();
    let repo = job.repo.clone();

    // The bug is real: the fixture's own tests fail on main.
    assert!(!cargo_test_passes(&repo), "the fixture must start broken");
    std::fs::remove_dir_all(repo.join("target")).unwrap();

    let outcome = job.run(CancellationToken::new()).await.unwrap();
    assert!(
        matches!(outcome.stop_reason, StopReason::Finished { .. }),
        "{:?}",
        outcome.stop_reason
    );
    let verification = outcome.verification.clone().expect("verified");
    assert!(verification.passed);
    let pr = outcome.pull_request.clone().expect("a pull request");
    assert_eq!(
        (pr.branch.as_str(), pr.base_branch.as_str(), pr.revisions),
        ("agent/ROMAN-1", "main", 1)
    );
    assert!(pr.body.contains("subtractive pairs"));
    assert!(pr.body.contains("src/lib.rs"));

    insta::assert_json_snapshot!("demo_transcript", stable_transcript(&sink.events()));

    // The fix is real: a fresh clone of the agent's branch passes its tests.
    let fixed = out.path().join("fixed");
    checkout(&repo, "agent/ROMAN-1", &fixed);
    assert!(
        cargo_test_passes(&fixed),
        "the agent branch must pass the fixture's tests"
    );

    // Publishing the same task again updates the pull request.
    let mut again =
        agentkit::job::FixIssue::new(&repo, demo::ticket(&repo).unwrap(), demo::model().unwrap());
    again.checks = vec![("tests".into(), demo::TEST_COMMAND.into())];
    let second = again.run(CancellationToken::new()).await.unwrap();
    let pr2 = second.pull_request.expect("updated pull request");
    assert_eq!((pr2.id.as_str(), pr2.revisions), (pr.id.as_str(), 2));
    assert_eq!(forge.list_pull_requests().await.unwrap().len(), 1);
}
