//! Replaying a repository's own history as tasks.
//!
//! Every non-merge commit that changed both code and tests becomes a task:
//! the base is its parent, the ticket its commit message, the hidden tests
//! its test changes, the oracle its code changes. Which tests the commit made
//! pass is not written anywhere, so [`calibrate`] finds out the way SWE-bench
//! validates its instances: it runs the whole test command at the base with
//! the hidden tests (no fix) and again with the oracle; FAIL_TO_PASS are the
//! tests that failed before and pass after, PASS_TO_PASS those that pass in
//! both. Commits whose change no test observes are dropped.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use agentkit::eval::history::{HistoryOptions, calibrate, replay};
//! use agentkit::eval::{Harness, LogParser};
//!
//! let options = HistoryOptions::new("cargo test --offline --no-fail-fast", LogParser::Cargo);
//! let candidates = replay(std::path::Path::new("."), &options).await?;
//! let tasks = calibrate(&Harness::new(), candidates).await;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;

use globset::GlobSet;
use tokio::process::Command;

use super::grade::{TestStatus, run_tests, test_globs};
use super::run::Harness;
use super::task::{EvalTask, HiddenTests, LogParser, Provenance, Source};

/// Which commits, and how their tests run.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// The revision range to walk (`git log` syntax; default `HEAD`).
    pub range: String,
    /// At most this many commits are looked at (newest first).
    pub max_commits: usize,
    /// Globs of the test files.
    pub test_files: Vec<String>,
    /// The test command template (run whole, so no `{tests}` is needed).
    pub test_command: String,
    /// How its output is read.
    pub log_parser: LogParser,
    /// A setup script for every sandbox.
    pub setup: Option<String>,
}

impl HistoryOptions {
    /// The last 200 commits of `HEAD`, the default test globs.
    pub fn new(test_command: impl Into<String>, log_parser: LogParser) -> Self {
        Self {
            range: "HEAD".into(),
            max_commits: 200,
            test_files: super::swebench::DEFAULT_TEST_GLOBS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            test_command: test_command.into(),
            log_parser,
            setup: None,
        }
    }
}

/// The history could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the history of {repo}: {message}")]
pub struct HistoryError {
    /// The repository.
    pub repo: PathBuf,
    /// What failed.
    pub message: String,
}

/// Candidate tasks from the commits of `options.range` that change both code
/// and tests, newest first. FAIL_TO_PASS and PASS_TO_PASS are empty until
/// [`calibrate`] fills them.
pub async fn replay(repo: &Path, options: &HistoryOptions) -> Result<Vec<EvalTask>, HistoryError> {
    let fail = |message: String| HistoryError {
        repo: repo.to_path_buf(),
        message,
    };
    let probe = EvalTask {
        test_files: options.test_files.clone(),
        ..skeleton(repo, options, "probe".into(), String::new())
    };
    let globs: GlobSet = test_globs(&probe).map_err(|e| fail(e.0))?;
    let max = format!("--max-count={}", options.max_commits);
    let log = git(
        repo,
        &["log", "--no-merges", "--format=%H", &max, &options.range],
    )
    .await
    .map_err(&fail)?;
    let mut tasks = Vec::new();
    for commit in log.lines().filter(|l| !l.is_empty()) {
        let files = git(
            repo,
            &[
                "diff-tree",
                "--no-commit-id",
                "-r",
                "--name-only",
                "-z",
                "--root",
                commit,
            ],
        )
        .await
        .map_err(&fail)?;
        let (tests, code): (Vec<&str>, Vec<&str>) = files
            .split('\0')
            .filter(|f| !f.is_empty())
            .partition(|f| globs.is_match(f));
        if tests.is_empty() || code.is_empty() {
            continue;
        }
        let Ok(parent) = git(repo, &["rev-parse", &format!("{commit}^")]).await else {
            continue; // the root commit has nothing to start from
        };
        let message = git(repo, &["log", "-1", "--format=%B", commit])
            .await
            .map_err(&fail)?;
        let patch_of = |paths: &[&str]| {
            let mut args = vec![
                "diff",
                "--binary",
                "--no-ext-diff",
                parent.trim(),
                commit,
                "--",
            ];
            args.extend_from_slice(paths);
            args.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let oracle = git_owned(repo, patch_of(&code)).await.map_err(&fail)?;
        let hidden = git_owned(repo, patch_of(&tests)).await.map_err(&fail)?;
        let short: String = commit.chars().take(12).collect();
        let mut task = skeleton(
            repo,
            options,
            format!("commit-{short}"),
            parent.trim().to_string(),
        );
        task.title = message
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        task.ticket = message.trim().to_string();
        task.oracle_patch = Some(oracle);
        task.hidden_tests = HiddenTests {
            inline_patch: Some(hidden),
            ..HiddenTests::default()
        };
        task.provenance.notes = format!("replayed from commit {commit}");
        tasks.push(task);
    }
    Ok(tasks)
}

fn skeleton(repo: &Path, options: &HistoryOptions, id: String, parent: String) -> EvalTask {
    EvalTask {
        id,
        title: String::new(),
        ticket: String::new(),
        language: String::new(),
        source: Source::Git {
            path: repo.to_path_buf(),
            commit: parent,
        },
        provenance: Provenance {
            project: repo.display().to_string(),
            ..Provenance::default()
        },
        setup: options.setup.clone(),
        env: Default::default(),
        test_command: options.test_command.clone(),
        log_parser: options.log_parser,
        test_files: options.test_files.clone(),
        hidden_tests: HiddenTests::default(),
        fail_to_pass: Vec::new(),
        pass_to_pass: Vec::new(),
        oracle: None,
        oracle_patch: None,
        quick: false,
        dir: repo.to_path_buf(),
    }
}

/// Fills FAIL_TO_PASS and PASS_TO_PASS by running each candidate without and
/// with its fix; keeps the candidates with at least one FAIL_TO_PASS test.
pub async fn calibrate(harness: &Harness, candidates: Vec<EvalTask>) -> Vec<EvalTask> {
    let mut kept = Vec::new();
    for mut task in candidates {
        match statuses(harness, &task).await {
            Ok((before, after)) => {
                let passed = |m: &std::collections::BTreeMap<String, TestStatus>, t: &str| {
                    m.get(t) == Some(&TestStatus::Passed)
                };
                task.fail_to_pass = after
                    .keys()
                    .filter(|t| passed(&after, t) && !passed(&before, t))
                    .cloned()
                    .collect();
                task.pass_to_pass = after
                    .keys()
                    .filter(|t| passed(&after, t) && passed(&before, t))
                    .cloned()
                    .collect();
                if !task.fail_to_pass.is_empty() {
                    kept.push(task);
                }
            }
            Err(err) => tracing::warn!(task = %task.id, error = %err, "dropped from the replay"),
        }
    }
    kept
}

type Statuses = std::collections::BTreeMap<String, TestStatus>;

async fn statuses(harness: &Harness, task: &EvalTask) -> Result<(Statuses, Statuses), String> {
    let repo = harness
        .sources
        .prepare(task)
        .await
        .map_err(|e| e.to_string())?;
    let spec = harness.spec(task, &repo);
    let oracle = task.oracle_patch.clone().unwrap_or_default();
    let mut out = Vec::new();
    for diff in ["", oracle.as_str()] {
        let sandbox = harness
            .provider
            .create(&spec)
            .await
            .map_err(|e| e.to_string())?;
        let run = run_tests(task, sandbox.as_ref(), diff, &harness.python).await;
        let _ = sandbox.close().await;
        let run = run.map_err(|e| e.to_string())?;
        if let Some(note) = run.not_applied {
            return Err(note);
        }
        out.push(run.results);
    }
    let after = out.pop().unwrap_or_default();
    let before = out.pop().unwrap_or_default();
    Ok((before, after))
}

async fn git(repo: &Path, args: &[&str]) -> Result<String, String> {
    git_owned(repo, args.iter().map(|s| s.to_string()).collect()).await
}

async fn git_owned(repo: &Path, args: Vec<String>) -> Result<String, String> {
    let out = Command::new("git")
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.quotePath=false",
        ])
        .args(&args)
        .current_dir(repo)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|err| format!("git could not start: {err}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
