//! The completion contract end to end: a real repository, the `local`
//! sandbox, real `python3 -m pytest` as the verifier, the local forge, and a
//! scripted model that breaks one rule per run. Each breach is sent back
//! once as feedback; when the model persists, the run stops with
//! `StopReason::ContractViolated` and no pull request exists.
//!
//! Needs `python3 -m pytest` (`.ci/run` installs it): without it the tests
//! print `SKIPPED`, and fail under `CI`.

use std::path::Path;
use std::sync::Arc;

use agentkit::core::CancellationToken;
use agentkit::core::model::Model;
use agentkit::core::outcome::{Outcome, StopReason};
use agentkit::core::policy::contract::Rule;
use agentkit::core::scripted::ScriptedModel;
use agentkit::core::task::{RepoRef, Task};
use agentkit::job::FixIssue;
use serde_json::{Value, json};

mod support;
use support::python::{FIXED, TESTS, finish, git, pytest_available, repo, shell, write};

/// The model makes `edits` (tool calls), finishes, and after the feedback
/// finishes again without changing anything.
fn persistent(edits: Vec<Value>) -> Vec<Value> {
    vec![
        json!({"tool_calls": edits}),
        json!({"tool_calls": [finish()]}),
        json!({"tool_calls": [finish()]}),
    ]
}

struct Run {
    outcome: Outcome,
    model: Arc<ScriptedModel>,
    pulls: usize,
}

async fn run(repo: &Path, turns: Vec<Value>, labels: &[&str], operator: Option<&str>) -> Run {
    let model =
        Arc::new(ScriptedModel::from_json(&Value::Array(turns).to_string(), "test").unwrap());
    let mut task = Task::new(
        "T-13",
        "Fix add",
        "add() subtracts.",
        RepoRef::new(repo.display().to_string()),
    );
    task.labels = labels.iter().map(|l| l.to_string()).collect();
    let mut job = FixIssue::new(repo, task, model.clone() as Arc<dyn Model>);
    job.checks = vec![(
        "tests".into(),
        "python3 -m pytest -q -p no:cacheprovider tests || python3 -m pytest -q tests".into(),
    )];
    let forge_dir = repo.join(".git/forge-state");
    job.forge_dir = Some(forge_dir);
    let policy_dir = tempfile::tempdir().unwrap();
    if let Some(text) = operator {
        let path = policy_dir.path().join("operator.toml");
        std::fs::write(&path, text).unwrap();
        job.policy_file = Some(path);
    }
    let forge = job.forge().unwrap();
    let outcome = job.run(CancellationToken::new()).await.unwrap();
    let pulls = forge.list_pull_requests().await.unwrap().len();
    Run {
        outcome,
        model,
        pulls,
    }
}

/// The violations of a run that stopped on the contract, as (rule, path, line).
fn violations(outcome: &Outcome) -> Vec<(Rule, Option<String>, Option<u32>)> {
    match &outcome.stop_reason {
        StopReason::ContractViolated { violations } => violations
            .iter()
            .map(|v| (v.rule, v.path.clone(), v.line))
            .collect(),
        other => panic!("expected a contract stop, got {other:?}"),
    }
}

/// The feedback the model read after its first `finish` (the last user text
/// of the third request).
fn feedback(run: &Run) -> String {
    let requests = run.model.requests();
    let request = requests.get(2).expect("a model call after the feedback");
    request.messages.last().unwrap().text()
}

/// Asserts the breach went back once as feedback, then stopped the run without a PR.
fn assert_feedback_then_stop(run: &Run, rule: &str) {
    let text = feedback(run);
    assert!(text.starts_with("The change cannot be published"), "{text}");
    assert!(text.contains(&format!("[{rule}]")), "{text}");
    assert!(
        text.contains("the run stops without a pull request"),
        "{text}"
    );
    assert_eq!(
        run.model.turns_used(),
        3,
        "one feedback round, then the stop"
    );
    assert_eq!(run.pulls, 0, "no pull request may exist");
    assert!(run.outcome.pull_request.is_none());
}

#[tokio::test]
async fn a_clean_fix_is_published_without_python_caches() {
    if !pytest_available() {
        return;
    }
    let dir = repo(&[]);
    let turns = vec![
        json!({"tool_calls": [write("calc.py", FIXED)]}),
        // The model runs the tests itself: __pycache__ and .pytest_cache really appear.
        json!({"tool_calls": [shell("python3 -m pytest -q tests")]}),
        json!({"tool_calls": [finish()]}),
    ];
    let run = run(dir.path(), turns, &[], None).await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::Finished {
            summary: "Fixed add.".into()
        }
    );
    let pr = run.outcome.pull_request.as_ref().expect("a pull request");
    let files = git(dir.path(), &["ls-tree", "-r", "--name-only", &pr.branch]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        vec!["calc.py", "tests/conftest.py", "tests/test_calc.py"]
    );
    let history = git(
        dir.path(),
        &[
            "log",
            "--name-only",
            "--format=",
            &format!("main..{}", pr.branch),
        ],
    );
    assert!(
        !history.contains(".pyc") && !history.contains("pytest_cache"),
        "{history}"
    );
    assert!(pr.body.contains("Left out of the commit"), "{}", pr.body);
    assert!(pr.body.contains("__pycache__/"), "{}", pr.body);
}

#[tokio::test]
async fn python_caches_committed_by_the_agent_never_reach_the_pull_request() {
    if !pytest_available() {
        return;
    }
    let dir = repo(&[]);
    let turns = vec![
        json!({"tool_calls": [write("calc.py", FIXED)]}),
        json!({"tool_calls": [shell("python3 -m pytest -q tests && git -c user.name=a -c user.email=a@a add -A && git -c user.name=a -c user.email=a@a commit -qm wip && git show --stat HEAD | grep -c pyc")]}),
        json!({"tool_calls": [finish()]}),
    ];
    let run = run(dir.path(), turns, &[], None).await;
    let pr = run.outcome.pull_request.as_ref().expect("a pull request");
    let history = git(
        dir.path(),
        &[
            "log",
            "--name-only",
            "--format=",
            &format!("main..{}", pr.branch),
        ],
    );
    assert_eq!(
        history.trim(),
        "calc.py",
        "the agent's commits were squashed without the caches"
    );
}

#[tokio::test]
async fn contradictory_tests_never_yield_a_pull_request() {
    if !pytest_available() {
        return;
    }
    // The two tests cannot both pass: only editing a test makes the suite green.
    let contradictory = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_add_again():\n    assert add(2, 3) == -1\n";
    let dir = repo(&[("tests/test_more.py", contradictory)]);
    let edited = contradictory.replace("== -1", "== 5");
    let run = run(
        dir.path(),
        persistent(vec![
            write("calc.py", FIXED),
            write("tests/test_more.py", &edited),
        ]),
        &[],
        None,
    )
    .await;
    assert_eq!(
        violations(&run.outcome),
        vec![(Rule::TestFiles, Some("tests/test_more.py".into()), Some(9))]
    );
    assert_feedback_then_stop(&run, "test_files");
}

#[tokio::test]
async fn a_new_skip_marker_is_refused() {
    if !pytest_available() {
        return;
    }
    let dir = repo(&[]);
    // The bug stays; every test is skipped instead.
    let skipped =
        format!("import pytest\n\npytestmark = pytest.mark.skip(reason='flaky')\n{TESTS}");
    // The ticket allows test changes, so only the skip itself is at fault.
    let run = run(
        dir.path(),
        persistent(vec![write("tests/test_calc.py", &skipped)]),
        &["agentkit:allow-test-changes"],
        Some("[contract]\nforbid_deleted_tests = true\n"),
    )
    .await;
    assert_eq!(
        violations(&run.outcome),
        vec![(Rule::SkipMarker, Some("tests/test_calc.py".into()), Some(3))]
    );
    assert_feedback_then_stop(&run, "skip_marker");
}

#[tokio::test]
async fn a_deleted_test_is_refused() {
    if !pytest_available() {
        return;
    }
    // The repository's own policy allows test changes; deleting one is still refused.
    let dir = repo(&[(
        ".agentkit/policy.toml",
        "[contract]\nallow_test_changes = true\n",
    )]);
    let run = run(
        dir.path(),
        persistent(vec![
            write("calc.py", FIXED),
            write(
                "tests/test_calc.py",
                "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
            ),
        ]),
        &[],
        None,
    )
    .await;
    assert_eq!(
        violations(&run.outcome),
        vec![(
            Rule::DeletedTest,
            Some("tests/test_calc.py".into()),
            Some(8)
        )]
    );
    assert_feedback_then_stop(&run, "deleted_test");
}

#[tokio::test]
async fn ci_configuration_and_lockfiles_are_refused_unless_allowed() {
    if !pytest_available() {
        return;
    }
    let dir = repo(&[
        (".github/workflows/ci.yml", "on: push\n"),
        ("poetry.lock", "# lock\n"),
    ]);
    let edits = vec![
        write("calc.py", FIXED),
        write(".github/workflows/ci.yml", "on: [push]\n"),
        write("poetry.lock", "# lock 2\n"),
    ];
    let run_ = run(dir.path(), persistent(edits.clone()), &[], None).await;
    assert_eq!(
        violations(&run_.outcome),
        vec![
            (
                Rule::CiConfig,
                Some(".github/workflows/ci.yml".into()),
                Some(1)
            ),
            (Rule::Lockfile, Some("poetry.lock".into()), Some(1))
        ]
    );
    assert_feedback_then_stop(&run_, "ci_config");
    // The operator allows both: the same change is published.
    let dir = repo(&[
        (".github/workflows/ci.yml", "on: push\n"),
        ("poetry.lock", "# lock\n"),
    ]);
    let allowed = run(
        dir.path(),
        persistent(edits),
        &[],
        Some("[contract]\nallow_ci_changes = true\nallow_lockfile_changes = true\n"),
    )
    .await;
    assert!(
        allowed.outcome.pull_request.is_some(),
        "{:?}",
        allowed.outcome.stop_reason
    );
}

#[tokio::test]
async fn an_oversized_diff_is_refused() {
    if !pytest_available() {
        return;
    }
    // The repository allows 10 lines; the operator's 2 win.
    let dir = repo(&[(".agentkit/policy.toml", "[contract]\nmax_lines = 10\n")]);
    let run = run(
        dir.path(),
        persistent(vec![write(
            "calc.py",
            "def add(a, b):\n    # fixed\n    return a + b\n",
        )]),
        &[],
        Some("[contract]\nmax_lines = 2\n"),
    )
    .await;
    assert_eq!(
        violations(&run.outcome),
        vec![(Rule::DiffTooLarge, None, None)]
    );
    assert!(
        feedback(&run).contains("the change touches 3 lines (the limit is 2)"),
        "{}",
        feedback(&run)
    );
    assert_feedback_then_stop(&run, "diff_too_large");
}

#[tokio::test]
async fn a_planted_token_refuses_publishing_and_is_never_echoed() {
    if !pytest_available() {
        return;
    }
    let dir = repo(&[]);
    let token = format!("ghp_{}", "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8L9z0");
    let settings = format!("API_URL = 'https://api.example.invalid'\nTOKEN = \"{token}\"\n");
    let run = run(
        dir.path(),
        persistent(vec![
            write("calc.py", FIXED),
            write("settings.py", &settings),
        ]),
        &[],
        None,
    )
    .await;
    assert_eq!(
        violations(&run.outcome),
        vec![(Rule::Secret, Some("settings.py".into()), Some(2))]
    );
    assert_feedback_then_stop(&run, "secret");
    let text = feedback(&run);
    assert!(
        text.contains("settings.py:2") && text.contains("ghp_…(44 chars)"),
        "{text}"
    );
    assert!(!text.contains(&token) && !run.outcome.stop_reason.to_string().contains(&token));
    let branches = git(dir.path(), &["branch", "--list", "agent/*"]);
    assert_eq!(branches, "", "nothing was pushed");
}

#[tokio::test]
async fn a_required_check_that_never_ran_is_refused() {
    if !pytest_available() {
        return;
    }
    let dir = repo(&[]);
    let run = run(
        dir.path(),
        persistent(vec![write("calc.py", FIXED)]),
        &[],
        Some("[contract]\nrequired_checks = [\"tests\", \"lint\"]\n"),
    )
    .await;
    assert_eq!(
        violations(&run.outcome),
        vec![(Rule::RequiredCheck, None, None)]
    );
    assert!(feedback(&run).contains("the required check `lint` did not run"));
    assert_feedback_then_stop(&run, "required_check");
}

#[tokio::test]
async fn a_violation_fixed_after_feedback_is_published() {
    if !pytest_available() {
        return;
    }
    let dir = repo(&[]);
    let turns = vec![
        json!({"tool_calls": [write("calc.py", FIXED), write("tests/test_calc.py", &TESTS.replace("== 5", "== 5  # checked"))]}),
        json!({"tool_calls": [finish()]}),
        json!({"tool_calls": [write("tests/test_calc.py", TESTS)]}),
        json!({"tool_calls": [finish()]}),
    ];
    let run = run(dir.path(), turns, &[], None).await;
    let pr = run
        .outcome
        .pull_request
        .as_ref()
        .expect("published after complying");
    let changed = git(
        dir.path(),
        &["diff", "--name-only", &format!("main...{}", pr.branch)],
    );
    assert_eq!(changed.trim(), "calc.py");
}

#[tokio::test]
async fn an_invalid_policy_file_names_file_line_and_key() {
    let dir = repo(&[(
        ".agentkit/policy.toml",
        "[contract]\nmax_files = 10\nallow_tests = true\n",
    )]);
    let model = Arc::new(ScriptedModel::from_json("[]", "test").unwrap());
    let job = FixIssue::new(
        dir.path(),
        Task::new("T", "t", "b", RepoRef::new(".")),
        model,
    );
    let err = job.effective_policy().unwrap_err().to_string();
    assert!(err.starts_with("invalid policy: .agentkit/policy.toml (at HEAD):3:1: contract.allow_tests: unknown field `allow_tests`"), "{err}");
}
