//! The task format: one JSON file per task (`task.json`), files beside it.
//!
//! ```json
//! {
//!   "id": "strsim-jaro-single-char",
//!   "title": "jaro(\"a\", \"a\") is 0.0 instead of 1.0",
//!   "ticket": "Two equal one-character strings ...",
//!   "language": "rust",
//!   "source": { "kind": "crate", "name": "strsim", "version": "0.9.2" },
//!   "provenance": { "project": "strsim-rs", "fixed_in": "0.9.3", "licence": "MIT",
//!                   "upstream": "https://github.com/rapidfuzz/strsim-rs" },
//!   "setup": null,
//!   "test_command": "cargo test --offline --no-fail-fast",
//!   "log_parser": "cargo",
//!   "test_files": ["tests/**"],
//!   "hidden_tests": { "dir": "hidden" },
//!   "fail_to_pass": ["jaro_same_one_character"],
//!   "pass_to_pass": ["jaro_diff_short"],
//!   "oracle": "oracle.patch"
//! }
//! ```
//!
//! - `source`: where the repository comes from ([`Source`]): a local git
//!   repository and commit, a PyPI sdist, a crates.io crate, or an archive
//!   plus a script. Registry sources are fetched once into the
//!   [`SourceCache`](super::source::SourceCache) and committed into a git
//!   repository whose only commit is the base.
//! - `setup`: a script run in every fresh sandbox (agent's and grader's)
//!   before anything else; its failure is an error of the task.
//! - `test_command`: a shell template; `{python}` is the harness's Python (one
//!   with pytest), `{tests}` the shell-quoted FAIL_TO_PASS and PASS_TO_PASS ids.
//! - `log_parser`: how per-test results are read from its output
//!   ([`LogParser`]).
//! - `test_files`: globs of the files that are tests. Before grading, every
//!   such file the agent changed, added or removed is put back as the task has it.
//! - `hidden_tests`: the upstream tests, as a directory of files copied over
//!   the workspace (`dir`, relative to the task file), and/or a patch (`patch`).
//! - `oracle`: the upstream fix as a patch (relative to the task file), or
//!   inline as `oracle_patch`.
//!
//! Paths in a task file are relative to the directory holding it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agentkit_core::task::{RepoRef, Task, TaskSource};
use serde::{Deserialize, Serialize};

/// Where a task's repository comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// A local git repository (path relative to the task file, or absolute) at `commit`.
    Git {
        /// The repository.
        path: PathBuf,
        /// The base commit (any revision git understands).
        commit: String,
    },
    /// A source distribution from PyPI, fetched with `pip download --no-binary :all:`.
    Pypi {
        /// The distribution name.
        name: String,
        /// The exact version.
        version: String,
    },
    /// A `.crate` from crates.io, fetched with `cargo fetch`; its lock file is
    /// generated and its dependencies fetched so the tests build `--offline`.
    Crate {
        /// The crate name.
        name: String,
        /// The exact version.
        version: String,
    },
    /// A tar archive (path relative to the task file), unpacked, then
    /// `script` run in it (host side) before the base commit is made.
    Archive {
        /// The archive.
        path: PathBuf,
        /// A script run in the unpacked tree before committing.
        #[serde(default)]
        script: Option<String>,
    },
}

/// Where a task comes from, for the report and the licence table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The upstream project.
    #[serde(default)]
    pub project: String,
    /// The release that holds the fix.
    #[serde(default)]
    pub fixed_in: Option<String>,
    /// The project's licence (SPDX).
    #[serde(default)]
    pub licence: String,
    /// Where the project lives.
    #[serde(default)]
    pub upstream: String,
    /// Anything else worth knowing (the upstream issue, the commit).
    #[serde(default)]
    pub notes: String,
}

/// How per-test results are read from the test command's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogParser {
    /// pytest with `-rA`: `PASSED path::test`, `FAILED path::test - ...` summary lines.
    Pytest,
    /// libtest through cargo: `test name ... ok|FAILED|ignored` lines.
    Cargo,
}

/// The upstream tests added before grading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HiddenTests {
    /// A directory of files (relative to the task file) copied over the workspace.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// A patch (relative to the task file) applied with `git apply`.
    #[serde(default)]
    pub patch: Option<PathBuf>,
    /// A patch given inline (SWE-bench's `test_patch`).
    #[serde(default)]
    pub inline_patch: Option<String>,
}

/// One eval task, as written in `task.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalTask {
    /// Unique id (becomes the ticket's id).
    pub id: String,
    /// The ticket's title.
    pub title: String,
    /// The ticket's text.
    pub ticket: String,
    /// `python`, `rust`, ... (for grouping in reports).
    #[serde(default)]
    pub language: String,
    /// Where the repository comes from.
    pub source: Source,
    /// Where the task comes from.
    #[serde(default)]
    pub provenance: Provenance,
    /// Run in every fresh sandbox before anything else.
    #[serde(default)]
    pub setup: Option<String>,
    /// Extra environment for every command (agent's and grader's).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The test command template (`{python}`, `{tests}`).
    pub test_command: String,
    /// How its output is read.
    pub log_parser: LogParser,
    /// Globs of the files that are tests (reset before grading).
    pub test_files: Vec<String>,
    /// The upstream tests.
    #[serde(default)]
    pub hidden_tests: HiddenTests,
    /// Tests that fail before the fix and pass after it.
    pub fail_to_pass: Vec<String>,
    /// Tests that pass before and after.
    #[serde(default)]
    pub pass_to_pass: Vec<String>,
    /// The upstream fix, as a patch file.
    #[serde(default)]
    pub oracle: Option<PathBuf>,
    /// The upstream fix, inline.
    #[serde(default)]
    pub oracle_patch: Option<String>,
    /// Whether the task runs in the default (fast) test selection.
    #[serde(default = "yes")]
    pub quick: bool,
    /// The directory the task file is in (paths resolve against it).
    #[serde(skip)]
    pub dir: PathBuf,
}

fn yes() -> bool {
    true
}

/// A task file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The file could not be read.
    #[error("cannot read the task file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid task.
    #[error("`{path}` is not a valid task: {message} (see the format in `agentkit::eval::task`)")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl EvalTask {
    /// Loads one `task.json`.
    pub fn load(path: &Path) -> Result<Self, TaskError> {
        let text = std::fs::read_to_string(path).map_err(|source| TaskError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut task: EvalTask = serde_json::from_str(&text).map_err(|err| TaskError::Invalid {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        task.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        task.validate().map_err(|message| TaskError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(task)
    }

    /// Checks what serde cannot: ids usable as file names, something to grade.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "the id `{}` must be non-empty and use only letters, digits, `-`, `_` and `.`",
                self.id
            ));
        }
        if self.fail_to_pass.is_empty() {
            return Err("`fail_to_pass` is empty: nothing would tell a fix from no fix".into());
        }
        if self.test_files.is_empty() {
            return Err("`test_files` is empty: tampered tests could not be reset".into());
        }
        Ok(())
    }

    /// A path named in the task file, resolved against its directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }

    /// The oracle patch's text, if the task has one.
    pub fn oracle_text(&self) -> Result<Option<String>, std::io::Error> {
        if let Some(inline) = &self.oracle_patch {
            return Ok(Some(inline.clone()));
        }
        match &self.oracle {
            Some(path) => std::fs::read_to_string(self.resolve(path)).map(Some),
            None => Ok(None),
        }
    }

    /// The ticket the agent is given (only the title and text: never the tests or the fix).
    pub fn ticket(&self, repo: RepoRef) -> Task {
        let mut task = Task::new(self.id.clone(), &self.title, &self.ticket, repo);
        task.source = TaskSource::Cli;
        task.labels = vec!["eval".into()];
        task
    }

    /// Every test that grading runs: FAIL_TO_PASS then PASS_TO_PASS.
    pub fn graded_tests(&self) -> impl Iterator<Item = &String> {
        self.fail_to_pass.iter().chain(self.pass_to_pass.iter())
    }
}

/// Loads every `task.json` under `dir` (searched recursively), sorted by id.
/// Ids must be unique.
pub fn load_tasks(dir: &Path) -> Result<Vec<EvalTask>, TaskError> {
    let mut files = Vec::new();
    collect_task_files(dir, &mut files).map_err(|source| TaskError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut tasks = files
        .iter()
        .map(|f| EvalTask::load(f))
        .collect::<Result<Vec<_>, _>>()?;
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    for pair in tasks.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(TaskError::Invalid {
                path: pair[1].dir.join("task.json"),
                message: format!("the id `{}` is used by two tasks", pair[1].id),
            });
        }
    }
    Ok(tasks)
}

fn collect_task_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_task_files(&path, out)?;
        } else if path.file_name().is_some_and(|n| n == "task.json") {
            out.push(path);
        }
    }
    Ok(())
}
