//! The shipped task set (`evals/tasks/`) is sound: the no-op agent resolves
//! none of its tasks and the upstream fix resolves every one.
//!
//! Needs the registries once (PyPI sdists and crates are fetched into
//! `~/.cache/agentkit/eval`; `.ci/run` prefetches), cargo, and a Python with
//! pytest in `AGENTKIT_EVAL_PYTHON` (`eval "$(.ci/mini-swe-agent.sh)"`).
//! Without that Python it prints `SKIPPED`; under `CI` it fails. All shipped
//! tasks are quick (about two minutes for the whole self-check on two cores);
//! `AGENTKIT_EVAL_ONLY=id,id` narrows it down while working on a task.

use std::path::Path;

use agentkit::core::CancellationToken;
use agentkit::eval::{Harness, load_tasks};

fn python() -> Option<String> {
    let python = std::env::var("AGENTKIT_EVAL_PYTHON")
        .ok()
        .filter(|p| Path::new(p).is_file());
    if python.is_none() {
        let message = "AGENTKIT_EVAL_PYTHON is not set to a Python with pytest; run `eval \"$(.ci/mini-swe-agent.sh)\"`";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
    }
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_tasks_pass_the_self_check() {
    let Some(python) = python() else { return };
    let mut tasks = load_tasks(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("evals/tasks")
            .as_path(),
    )
    .unwrap();
    assert!(
        tasks.len() >= 10,
        "the shipped set has {} tasks",
        tasks.len()
    );
    let languages: std::collections::BTreeSet<&str> =
        tasks.iter().map(|t| t.language.as_str()).collect();
    assert_eq!(languages, ["python", "rust"].into_iter().collect());
    if let Ok(only) = std::env::var("AGENTKIT_EVAL_ONLY") {
        let only: Vec<&str> = only.split(',').collect();
        tasks.retain(|t| only.contains(&t.id.as_str()));
    } else {
        tasks.retain(|t| t.quick);
    }
    let harness = Harness {
        python: python.clone(),
        jobs: 2,
        ..Harness::new()
    };
    let fetch_failures = harness.prefetch(&tasks).await;
    assert_eq!(fetch_failures, Vec::<(String, String)>::new());
    let check = harness.self_check(&tasks, CancellationToken::new()).await;
    eprintln!(
        "{}\n{}",
        check.noop.to_markdown(),
        check.oracle.to_markdown()
    );
    assert_eq!(check.problems(), Vec::<String>::new());
    assert_eq!(
        (check.noop.resolved(), check.oracle.resolved()),
        (0, tasks.len())
    );
}

#[test]
fn shipped_tasks_name_their_source_and_licence() {
    let tasks = load_tasks(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("evals/tasks")
            .as_path(),
    )
    .unwrap();
    for task in &tasks {
        let p = &task.provenance;
        assert!(
            !p.project.is_empty()
                && !p.licence.is_empty()
                && !p.upstream.is_empty()
                && p.fixed_in.is_some(),
            "{}: provenance incomplete: {p:?}",
            task.id
        );
        assert!(
            task.oracle_text()
                .unwrap()
                .is_some_and(|o| o.starts_with("diff --git")),
            "{}",
            task.id
        );
    }
}
