//! Grading, in a sandbox of its own (never the agent's):
//!
//! 1. apply the agent's diff to a fresh checkout of the base commit (setup done);
//! 2. put every test file the diff touched back as the task has it (tracked
//!    files restored from the base commit, new ones removed), so an agent
//!    cannot pass by editing tests;
//! 3. add the hidden (upstream) tests;
//! 4. run the test command once over FAIL_TO_PASS and PASS_TO_PASS and read
//!    each test's result from its output ([`parse_log`]).
//!
//! A task is resolved when every FAIL_TO_PASS and every PASS_TO_PASS test
//! passed. A test missing from the output counts as failed.

use std::collections::BTreeMap;
use std::time::Duration;

use agentkit_core::sandbox::{ExecRequest, Sandbox};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::agent::apply_patch;
use super::task::{EvalTask, LogParser};

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    /// Passed (pytest's `XFAIL` counts as passed, as in SWE-bench).
    Passed,
    /// Failed or errored.
    Failed,
    /// Skipped or ignored.
    Skipped,
    /// Not in the output at all (counts as failed).
    Missing,
}

/// The result of grading one agent diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    /// Every FAIL_TO_PASS and PASS_TO_PASS test passed.
    pub resolved: bool,
    /// Whether the agent's diff applied (an empty diff applies).
    pub patch_applied: bool,
    /// Test files the diff changed that were put back before grading.
    pub tests_reset: Vec<String>,
    /// FAIL_TO_PASS results.
    pub fail_to_pass: BTreeMap<String, TestStatus>,
    /// PASS_TO_PASS results.
    pub pass_to_pass: BTreeMap<String, TestStatus>,
    /// How the test command ended (`exit 1`, ...).
    pub test_status: String,
    /// The tail of the test output, for reading failures.
    pub test_output_tail: String,
    /// Why the diff did not apply, when it did not.
    pub note: Option<String>,
}

/// Grading could not be done (the task's fault or the harness's, not the agent's).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GradeError(pub String);

/// What one test run in a grading sandbox found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestRun {
    /// Why the diff did not apply (then nothing ran).
    pub not_applied: Option<String>,
    /// Test files put back before the run.
    pub tests_reset: Vec<String>,
    /// Every test the output names, with its status.
    pub results: BTreeMap<String, TestStatus>,
    /// How the test command ended.
    pub status: String,
    /// The tail of its output.
    pub output_tail: String,
}

/// Steps 1–4 in `sandbox` (fresh, at the base commit, setup done): apply
/// `diff`, reset the test files, add the hidden tests, run the test command.
pub async fn run_tests(
    task: &EvalTask,
    sandbox: &dyn Sandbox,
    diff: &str,
    python: &str,
) -> Result<TestRun, GradeError> {
    let mut run = TestRun::default();
    if let Err(note) = apply_patch(sandbox, diff).await {
        run.not_applied = Some(note);
        return Ok(run);
    }
    run.tests_reset = reset_test_files(task, sandbox).await?;
    add_hidden_tests(task, sandbox).await?;
    let command = render_test_command(task, python)?;
    let out = sandbox
        .exec(
            ExecRequest::script(command)
                .timeout(Duration::from_secs(600))
                .output_limit(4 << 20),
        )
        .await
        .map_err(|err| GradeError(format!("the test command could not run: {err}")))?;
    let log = format!("{}\n{}", out.stdout.text, out.stderr.text);
    run.results = parse_log(task.log_parser, &log);
    run.status = out.status_line();
    run.output_tail = super::source::tail(&log, 4_000);
    Ok(run)
}

/// Grades `diff` in `sandbox` (fresh, at the base commit, setup done).
pub async fn grade(
    task: &EvalTask,
    sandbox: &dyn Sandbox,
    diff: &str,
    python: &str,
) -> Result<Grade, GradeError> {
    let run = run_tests(task, sandbox, diff, python).await?;
    let status_of = |test: &String| lookup(&run.results, task.log_parser, test);
    let fail_to_pass: BTreeMap<_, _> = task
        .fail_to_pass
        .iter()
        .map(|t| (t.clone(), status_of(t)))
        .collect();
    let pass_to_pass: BTreeMap<_, _> = task
        .pass_to_pass
        .iter()
        .map(|t| (t.clone(), status_of(t)))
        .collect();
    let resolved = run.not_applied.is_none()
        && fail_to_pass
            .values()
            .chain(pass_to_pass.values())
            .all(|s| *s == TestStatus::Passed);
    Ok(Grade {
        resolved,
        patch_applied: run.not_applied.is_none(),
        tests_reset: run.tests_reset,
        fail_to_pass,
        pass_to_pass,
        test_status: run.status,
        test_output_tail: run.output_tail,
        note: run.not_applied,
    })
}

/// The test command with `{python}` and `{tests}` filled in.
pub fn render_test_command(task: &EvalTask, python: &str) -> Result<String, GradeError> {
    let quote = |s: &str| {
        shlex::try_quote(s)
            .map(|q| q.into_owned())
            .map_err(|err| GradeError(format!("cannot quote `{s}` for the shell: {err}")))
    };
    let tests = task
        .graded_tests()
        .map(|t| quote(t))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    Ok(task
        .test_command
        .replace("{python}", &quote(python)?)
        .replace("{tests}", &tests))
}

/// The test-file globs of `task`.
pub fn test_globs(task: &EvalTask) -> Result<GlobSet, GradeError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in &task.test_files {
        let glob = Glob::new(pattern)
            .map_err(|err| GradeError(format!("test_files glob `{pattern}`: {err}")))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|err| GradeError(format!("test_files globs: {err}")))
}

/// A git command run in a sandbox: hooks off, paths unquoted.
pub(crate) fn git_request(args: &[&str]) -> ExecRequest {
    let mut argv = vec![
        "git",
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "core.quotePath=false",
    ];
    argv.extend_from_slice(args);
    ExecRequest::argv(argv).timeout(Duration::from_secs(120))
}

async fn git(sandbox: &dyn Sandbox, args: &[&str]) -> Result<String, GradeError> {
    let out = sandbox
        .exec(git_request(args).output_limit(8 << 20))
        .await
        .map_err(|err| GradeError(format!("git {} could not run: {err}", args.join(" "))))?;
    if !out.success() {
        return Err(GradeError(format!(
            "git {} failed ({}): {}",
            args.join(" "),
            out.status_line(),
            out.stderr.text.trim()
        )));
    }
    Ok(out.stdout.text)
}

/// Puts back every test file that differs from the base commit; returns them.
async fn reset_test_files(
    task: &EvalTask,
    sandbox: &dyn Sandbox,
) -> Result<Vec<String>, GradeError> {
    let globs = test_globs(task)?;
    let changed = git(sandbox, &["diff", "--name-only", "-z", "HEAD"]).await?;
    let added = git(
        sandbox,
        &["ls-files", "--others", "--exclude-standard", "-z"],
    )
    .await?;
    let mut reset = Vec::new();
    for path in changed
        .split('\0')
        .filter(|p| !p.is_empty() && globs.is_match(p))
    {
        git(sandbox, &["checkout", "HEAD", "--", path]).await?;
        reset.push(path.to_string());
    }
    for path in added
        .split('\0')
        .filter(|p| !p.is_empty() && globs.is_match(p))
    {
        sandbox
            .remove(path)
            .await
            .map_err(|err| GradeError(format!("removing the agent's test file `{path}`: {err}")))?;
        reset.push(path.to_string());
    }
    reset.sort();
    Ok(reset)
}

async fn add_hidden_tests(task: &EvalTask, sandbox: &dyn Sandbox) -> Result<(), GradeError> {
    if let Some(dir) = &task.hidden_tests.dir {
        let root = task.resolve(dir);
        let mut files = Vec::new();
        walk(&root, &root, &mut files).map_err(|err| {
            GradeError(format!("reading hidden tests in {}: {err}", root.display()))
        })?;
        for (relative, path) in files {
            let bytes = std::fs::read(&path)
                .map_err(|err| GradeError(format!("reading {}: {err}", path.display())))?;
            sandbox
                .write(&relative, &bytes)
                .await
                .map_err(|err| GradeError(format!("writing hidden test `{relative}`: {err}")))?;
        }
    }
    let mut patches = Vec::new();
    if let Some(path) = &task.hidden_tests.patch {
        let path = task.resolve(path);
        patches.push(
            std::fs::read_to_string(&path)
                .map_err(|err| GradeError(format!("reading {}: {err}", path.display())))?,
        );
    }
    patches.extend(task.hidden_tests.inline_patch.clone());
    for patch in patches {
        apply_patch(sandbox, &patch)
            .await
            .map_err(|err| GradeError(format!("the hidden tests do not apply: {err}")))?;
    }
    Ok(())
}

fn walk(
    root: &std::path::Path,
    dir: &std::path::Path,
    out: &mut Vec<(String, std::path::PathBuf)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push((rel.to_string_lossy().replace('\\', "/"), path.clone()));
        }
    }
    Ok(())
}

/// Per-test results read from a test log. When a name appears more than
/// once (the same test name in two test binaries), a failure wins.
pub fn parse_log(parser: LogParser, log: &str) -> BTreeMap<String, TestStatus> {
    let mut results = BTreeMap::new();
    let mut record = |name: &str, status: TestStatus| {
        let entry = results.entry(name.to_string()).or_insert(status);
        if status == TestStatus::Failed {
            *entry = TestStatus::Failed;
        }
    };
    for line in log.lines() {
        let line = line.trim_end();
        match parser {
            LogParser::Pytest => {
                let Some((word, rest)) = line.split_once(' ') else {
                    continue;
                };
                let status = match word {
                    "PASSED" | "XFAIL" => TestStatus::Passed,
                    "FAILED" | "ERROR" | "XPASS" => TestStatus::Failed,
                    "SKIPPED" => TestStatus::Skipped,
                    _ => continue,
                };
                if word == "SKIPPED" {
                    continue; // `SKIPPED [1] file:line: reason` names no test id
                }
                record(rest, status);
            }
            LogParser::Cargo => {
                let Some(rest) = line.strip_prefix("test ") else {
                    continue;
                };
                let Some((name, result)) = rest.rsplit_once(" ... ") else {
                    continue;
                };
                let status = match result.trim() {
                    "ok" => TestStatus::Passed,
                    "FAILED" => TestStatus::Failed,
                    r if r.starts_with("ignored") => TestStatus::Skipped,
                    _ => continue,
                };
                record(name.trim(), status);
            }
        }
    }
    results
}

/// The status of `test` in parsed results. pytest's `FAILED id - message`
/// lines carry the message after the id, so an id also matches a line
/// that starts with it followed by ` - `.
fn lookup(results: &BTreeMap<String, TestStatus>, parser: LogParser, test: &str) -> TestStatus {
    if let Some(status) = results.get(test) {
        return *status;
    }
    if parser == LogParser::Pytest {
        let prefix = format!("{test} - ");
        if let Some((_, status)) = results.iter().find(|(name, _)| name.starts_with(&prefix)) {
            return *status;
        }
    }
    TestStatus::Missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytest_summary_lines() {
        let log = "\
tests/test_a.py::test_ok PASSED [ 50%]
=========================== short test summary info ============================
PASSED tests/test_a.py::test_ok
PASSED tests/test_a.py::test_param[a-b]
FAILED tests/test_a.py::test_bad - AssertionError: assert 1 == 2
ERROR tests/test_b.py::test_fixture - RuntimeError
XFAIL tests/test_a.py::test_known - reason
SKIPPED [1] tests/test_a.py:10: no network
";
        let results = parse_log(LogParser::Pytest, log);
        let get = |t: &str| lookup(&results, LogParser::Pytest, t);
        assert_eq!(
            [
                get("tests/test_a.py::test_ok"),
                get("tests/test_a.py::test_param[a-b]"),
                get("tests/test_a.py::test_bad"),
                get("tests/test_b.py::test_fixture"),
                get("tests/test_a.py::test_known"),
                get("tests/test_a.py::test_absent"),
            ],
            [
                TestStatus::Passed,
                TestStatus::Passed,
                TestStatus::Failed,
                TestStatus::Failed,
                TestStatus::Passed,
                TestStatus::Missing,
            ]
        );
    }

    #[test]
    fn cargo_lines_and_duplicate_names() {
        let log = "\
running 3 tests
test tests::adds ... ok
test tests::slow ... ignored, takes long
test common ... ok
test common ... FAILED
test src/lib.rs - f (line 3) ... ok
test result: FAILED. 1 passed; 1 failed; 1 ignored
";
        let results = parse_log(LogParser::Cargo, log);
        assert_eq!(
            results,
            BTreeMap::from([
                ("tests::adds".to_string(), TestStatus::Passed),
                ("tests::slow".to_string(), TestStatus::Skipped),
                ("common".to_string(), TestStatus::Failed),
                ("src/lib.rs - f (line 3)".to_string(), TestStatus::Passed),
            ])
        );
    }
}
