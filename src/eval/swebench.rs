//! Importing SWE-bench instances (JSONL, one instance per line, as in the
//! `princeton-nlp/SWE-bench*` datasets) for a user who has the repositories
//! at hand.
//!
//! Fields read: `instance_id`, `repo` (`owner/name`), `base_commit`,
//! `problem_statement`, `patch` (the oracle), `test_patch` (the hidden tests),
//! `FAIL_TO_PASS` and `PASS_TO_PASS` (JSON lists, or strings holding JSON
//! lists as in the Hugging Face exports). Unknown fields are ignored.
//!
//! The repository of `owner/name` is looked up under the repositories
//! directory as `owner__name`, `owner/name` or `name` (a clone holding
//! `base_commit`). The test command defaults to pytest (`{python} -m pytest
//! -rA -p no:cacheprovider {tests}`), right for the pytest-based projects;
//! projects with their own runner (Django, SymPy's `bin/test`) need
//! [`ImportOptions::test_command`] and a matching parser. Setting up each
//! project's environment (SWE-bench's per-version install scripts) is the
//! `setup` script's job: by default there is none, so the repository's
//! dependencies must already be importable by `{python}`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::task::{EvalTask, HiddenTests, LogParser, Provenance, Source};

/// How imported instances are run.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Where the repositories are.
    pub repos: PathBuf,
    /// The test command template.
    pub test_command: String,
    /// How its output is read.
    pub log_parser: LogParser,
    /// A setup script for every instance.
    pub setup: Option<String>,
}

impl ImportOptions {
    /// pytest, no setup, repositories under `repos`.
    pub fn new(repos: impl Into<PathBuf>) -> Self {
        Self {
            repos: repos.into(),
            test_command: "{python} -m pytest -rA -p no:cacheprovider {tests}".into(),
            log_parser: LogParser::Pytest,
            setup: None,
        }
    }
}

/// An instance that could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a valid instance.
    #[error("{path}:{line}: not a SWE-bench instance: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The instance's repository is not under the repositories directory.
    #[error(
        "instance `{instance}`: no clone of `{repo}` under {dir} (looked for {tried}); clone it there"
    )]
    MissingRepo {
        /// The instance.
        instance: String,
        /// `owner/name`.
        repo: String,
        /// The repositories directory.
        dir: PathBuf,
        /// The paths tried.
        tried: String,
    },
}

#[derive(Deserialize)]
struct Instance {
    instance_id: String,
    repo: String,
    base_commit: String,
    problem_statement: String,
    patch: String,
    test_patch: String,
    #[serde(rename = "FAIL_TO_PASS")]
    fail_to_pass: TestList,
    #[serde(rename = "PASS_TO_PASS", default)]
    pass_to_pass: TestList,
}

/// A list of tests, or a string holding a JSON list of tests.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum TestList {
    List(Vec<String>),
    Encoded(String),
    #[default]
    None,
}

impl TestList {
    fn into_vec(self) -> Result<Vec<String>, String> {
        match self {
            TestList::List(list) => Ok(list),
            TestList::Encoded(text) => serde_json::from_str(&text)
                .map_err(|err| format!("a test list string that is not a JSON list: {err}")),
            TestList::None => Ok(Vec::new()),
        }
    }
}

/// Imports the instances of `jsonl` whose id is in `only` (all when empty).
pub fn import(
    jsonl: &Path,
    options: &ImportOptions,
    only: &[String],
) -> Result<Vec<EvalTask>, ImportError> {
    let text = std::fs::read_to_string(jsonl).map_err(|source| ImportError::Read {
        path: jsonl.to_path_buf(),
        source,
    })?;
    let mut tasks = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = |message: String| ImportError::Invalid {
            path: jsonl.to_path_buf(),
            line: index + 1,
            message,
        };
        let instance: Instance =
            serde_json::from_str(line).map_err(|err| invalid(err.to_string()))?;
        if !only.is_empty() && !only.contains(&instance.instance_id) {
            continue;
        }
        let repo = find_repo(&options.repos, &instance.repo).map_err(|tried| {
            ImportError::MissingRepo {
                instance: instance.instance_id.clone(),
                repo: instance.repo.clone(),
                dir: options.repos.clone(),
                tried,
            }
        })?;
        let mut test_files = patch_paths(&instance.test_patch);
        test_files.extend(DEFAULT_TEST_GLOBS.iter().map(|g| g.to_string()));
        let title = instance
            .problem_statement
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or(&instance.instance_id)
            .trim()
            .chars()
            .take(120)
            .collect();
        let task = EvalTask {
            id: instance.instance_id.clone(),
            title,
            ticket: instance.problem_statement,
            language: "python".into(),
            source: Source::Git {
                path: repo,
                commit: instance.base_commit,
            },
            provenance: Provenance {
                project: instance.repo.clone(),
                upstream: format!("https://github.com/{}", instance.repo),
                notes: "imported from SWE-bench".into(),
                ..Provenance::default()
            },
            setup: options.setup.clone(),
            env: Default::default(),
            test_command: options.test_command.clone(),
            log_parser: options.log_parser,
            test_files,
            hidden_tests: HiddenTests {
                inline_patch: Some(instance.test_patch),
                ..HiddenTests::default()
            },
            fail_to_pass: instance.fail_to_pass.into_vec().map_err(invalid)?,
            pass_to_pass: instance.pass_to_pass.into_vec().map_err(invalid)?,
            oracle: None,
            oracle_patch: Some(instance.patch),
            quick: false,
            dir: jsonl.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        task.validate().map_err(invalid)?;
        tasks.push(task);
    }
    Ok(tasks)
}

/// Test-file globs that hold for most Python and Rust projects.
pub const DEFAULT_TEST_GLOBS: &[&str] = &[
    "**/test_*.py",
    "**/*_test.py",
    "**/tests/**",
    "**/testing/**",
    "tests/**",
    "conftest.py",
    "**/conftest.py",
];

fn find_repo(dir: &Path, repo: &str) -> Result<PathBuf, String> {
    let name = repo.rsplit('/').next().unwrap_or(repo);
    let candidates = [
        dir.join(repo.replace('/', "__")),
        dir.join(repo),
        dir.join(name),
    ];
    candidates
        .iter()
        .find(|p| p.join(".git").exists() || p.join("HEAD").is_file())
        .cloned()
        .ok_or_else(|| {
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
}

/// The files a unified diff touches (its `+++ b/...` and `--- a/...` lines).
pub fn patch_paths(patch: &str) -> Vec<String> {
    let mut paths: Vec<String> = patch
        .lines()
        .filter_map(|l| {
            l.strip_prefix("+++ b/")
                .or_else(|| l.strip_prefix("--- a/"))
        })
        .map(|p| p.trim_end().to_string())
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_an_instance_with_encoded_test_lists() {
        let dir = tempfile::tempdir().unwrap();
        let repos = dir.path().join("repos");
        std::fs::create_dir_all(repos.join("psf__requests/.git")).unwrap();
        let line = serde_json::json!({
            "instance_id": "psf__requests-1",
            "repo": "psf/requests",
            "base_commit": "abc123",
            "problem_statement": "\nSessions drop cookies\n\nDetails.",
            "patch": "--- a/requests/sessions.py\n+++ b/requests/sessions.py\n",
            "test_patch": "--- a/tests/test_sessions.py\n+++ b/tests/test_sessions.py\n",
            "FAIL_TO_PASS": "[\"tests/test_sessions.py::test_cookie\"]",
            "PASS_TO_PASS": ["tests/test_sessions.py::test_other"],
            "version": "2.0"
        });
        let file = dir.path().join("instances.jsonl");
        std::fs::write(&file, format!("{line}\n\n")).unwrap();
        let tasks = import(&file, &ImportOptions::new(&repos), &[]).unwrap();
        assert_eq!(tasks.len(), 1);
        let task = &tasks[0];
        assert_eq!(task.title, "Sessions drop cookies");
        assert_eq!(
            task.source,
            Source::Git {
                path: repos.join("psf__requests"),
                commit: "abc123".into()
            }
        );
        assert_eq!(
            task.fail_to_pass,
            vec!["tests/test_sessions.py::test_cookie"]
        );
        assert_eq!(
            task.pass_to_pass,
            vec!["tests/test_sessions.py::test_other"]
        );
        assert_eq!(task.test_files[0], "tests/test_sessions.py");

        let missing = import(&file, &ImportOptions::new(dir.path().join("nowhere")), &[]);
        assert!(matches!(missing, Err(ImportError::MissingRepo { .. })));
    }
}
