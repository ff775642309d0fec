//! Best-of-N end to end: three scripted attempts on a real repository with
//! real pytest; the one that breaks the contract and the larger fix lose to
//! the smallest passing fix, which is the only pull request and lists the
//! others. Needs `python3 -m pytest` (SKIPPED without, fails under CI).

use std::sync::Arc;

use agentkit::best_of::{Attempt, BestOf};
use agentkit::core::CancellationToken;
use agentkit::core::engine::CallSettings;
use agentkit::core::model::Model;
use agentkit::core::outcome::StopReason;
use agentkit::core::scripted::ScriptedModel;
use agentkit::core::task::{RepoRef, Task};
use agentkit::job::FixIssue;
use serde_json::{Value, json};

mod support;
use support::python::{FIXED, TESTS, finish, git, pytest_available, repo, write};

fn scripted(turns: Vec<Value>) -> Arc<dyn Model> {
    Arc::new(ScriptedModel::from_json(&Value::Array(turns).to_string(), "test").unwrap())
}

fn attempt(label: &str, model: Arc<dyn Model>) -> Attempt {
    Attempt {
        label: label.into(),
        model,
        call: CallSettings::default(),
    }
}

#[tokio::test]
async fn the_smallest_passing_attempt_is_the_one_pull_request() {
    if !pytest_available() {
        return;
    }
    let dir = repo(&[]);
    let cheat = TESTS.replace("== 5", "== -1").replace("== 4", "== -4");
    let attempts = vec![
        // Passes only by editing the tests: refused by the contract, twice.
        attempt(
            "cheater",
            scripted(vec![
                json!({"tool_calls": [write("tests/test_calc.py", &cheat)]}),
                json!({"tool_calls": [finish()]}),
                json!({"tool_calls": [finish()]}),
            ]),
        ),
        attempt(
            "verbose",
            scripted(vec![
                json!({"tool_calls": [write("calc.py", "def add(a, b):\n    \"\"\"Adds.\"\"\"\n    total = a + b\n    return total\n")]}),
                json!({"tool_calls": [finish()]}),
            ]),
        ),
        attempt(
            "minimal",
            scripted(vec![
                json!({"tool_calls": [write("calc.py", FIXED)]}),
                json!({"tool_calls": [finish()]}),
            ]),
        ),
    ];
    let task = Task::new(
        "T-13",
        "Fix add",
        "add() subtracts.",
        RepoRef::new(dir.path().display().to_string()),
    );
    let mut job = FixIssue::new(dir.path(), task, scripted(vec![]));
    job.checks = vec![(
        "tests".into(),
        "python3 -m pytest -q -p no:cacheprovider tests".into(),
    )];
    job.forge_dir = Some(dir.path().join(".git/forge-state"));
    let forge = job.forge().unwrap();
    let result = BestOf {
        job,
        attempts,
        judge: None,
    }
    .run(CancellationToken::new())
    .await
    .unwrap();

    type Size = Option<(usize, usize)>;
    let summary: Vec<(String, bool, Size)> = result
        .attempts
        .iter()
        .map(|a| (a.label.clone(), a.candidate, a.size))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("cheater".into(), false, None),
            ("verbose".into(), true, Some((4, 1))),
            ("minimal".into(), true, Some((2, 1)))
        ]
    );
    assert!(matches!(
        result.attempts[0].outcome.stop_reason,
        StopReason::ContractViolated { .. }
    ));
    assert_eq!(
        (result.chosen, result.reason.as_str()),
        (Some(2), "the smallest passing change")
    );
    let pulls = forge.list_pull_requests().await.unwrap();
    assert_eq!(pulls.len(), 1, "exactly one pull request");
    let pr = result.pull_request.unwrap();
    assert!(
        pr.body
            .contains("## Alternatives\n\nBest of 3 attempts; this is attempt `minimal`"),
        "{}",
        pr.body
    );
    assert!(
        pr.body
            .contains("- `cheater` (`scripted`): the change breaks the completion contract"),
        "{}",
        pr.body
    );
    assert!(
        pr.body
            .contains("- `verbose` (`scripted`): finished; 4 lines in 1 files\n"),
        "{}",
        pr.body
    );
    assert_eq!(
        git(dir.path(), &["show", &format!("{}:calc.py", pr.branch)]),
        FIXED
    );
    let total: u64 = result
        .attempts
        .iter()
        .map(|a| a.outcome.usage.total())
        .sum();
    assert_eq!(result.usage.total(), total, "every attempt counts");
}

#[tokio::test]
async fn a_judge_picks_among_the_smallest_passing_attempts() {
    if !pytest_available() {
        return;
    }
    let dir = repo(&[]);
    let attempts = vec![
        attempt(
            "minimal",
            scripted(vec![
                json!({"tool_calls": [write("calc.py", FIXED)]}),
                json!({"tool_calls": [finish()]}),
            ]),
        ),
        attempt(
            "documented",
            scripted(vec![
                json!({"tool_calls": [write("calc.py", "def add(a, b):\n    \"\"\"The sum of a and b.\"\"\"\n    return a + b\n")]}),
                json!({"tool_calls": [finish()]}),
            ]),
        ),
    ];
    let task = Task::new(
        "T-14",
        "Fix add",
        "add() subtracts.",
        RepoRef::new(dir.path().display().to_string()),
    );
    let mut job = FixIssue::new(dir.path(), task, scripted(vec![]));
    job.checks = vec![(
        "tests".into(),
        "python3 -m pytest -q -p no:cacheprovider tests".into(),
    )];
    job.forge_dir = Some(dir.path().join(".git/forge-state"));
    // Candidates are shown smallest first: 1 = minimal, 2 = documented.
    let judge = Arc::new(
        ScriptedModel::from_json(r#"[{"text": "Candidate 2 is best."}]"#, "judge").unwrap(),
    );
    let result = BestOf {
        job,
        attempts,
        judge: Some(judge.clone()),
    }
    .run(CancellationToken::new())
    .await
    .unwrap();
    assert_eq!(
        (result.chosen, result.reason.as_str()),
        (
            Some(1),
            "the judge's choice among the 2 smallest passing changes"
        )
    );
    let asked = &judge.requests()[0].messages[0].text();
    assert!(
        asked.contains("## Candidate 1") && asked.contains("+    \"\"\"The sum of a and b.\"\"\""),
        "{asked}"
    );
    let pr = result.pull_request.unwrap();
    assert!(
        pr.body
            .contains("this is attempt `documented` (the judge's choice"),
        "{}",
        pr.body
    );
}
