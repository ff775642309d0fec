//! The offline demo: a fixture crate with a real bug, a ticket, and a
//! *scripted* model trajectory that fixes it.
//!
//! Everything is embedded in the binary, so the demo runs from any checkout
//! without network access. The model is **scripted**: it replays
//! [`TRAJECTORY`] and does not think. Everything else is real: the sandbox
//! clones the repository, the tools edit files and run `cargo test`, the
//! verifier runs the suite, and the local forge pushes a branch and records a
//! pull request.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use agentkit_core::model::Model;
use agentkit_core::scripted::ScriptedModel;
use agentkit_core::task::{RepoRef, Task};

use crate::job::FixIssue;

/// The ticket (JSON).
pub const TICKET: &str = include_str!("../examples/data/roman-ticket.json");
/// The scripted trajectory (JSON, see [`agentkit_core::scripted`]).
pub const TRAJECTORY: &str = include_str!("../examples/data/roman-trajectory.json");
/// The check that verifies the work.
pub const TEST_COMMAND: &str = "cargo test --offline";

/// The fixture crate's files: `(path, contents)`.
pub const FIXTURE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../fixtures/roman/Cargo.toml")),
    ("Cargo.lock", include_str!("../fixtures/roman/Cargo.lock")),
    (".gitignore", include_str!("../fixtures/roman/.gitignore")),
    ("AGENTS.md", include_str!("../fixtures/roman/AGENTS.md")),
    ("README.md", include_str!("../fixtures/roman/README.md")),
    ("src/lib.rs", include_str!("../fixtures/roman/src/lib.rs")),
    (
        "tests/roman.rs",
        include_str!("../fixtures/roman/tests/roman.rs"),
    ),
];

/// A demo setup step failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Writing the fixture failed.
    #[error("cannot write the demo repository at `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// git failed.
    #[error("`git {args}` failed while preparing the demo repository: {output}")]
    Git {
        /// The arguments.
        args: String,
        /// What git said.
        output: String,
    },
    /// The embedded data is broken.
    #[error("the embedded demo data is invalid: {0}")]
    Data(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Runs host-side git with hooks disabled and a fixed identity.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, DemoError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_AUTHOR_NAME", "Demo Maintainer")
        .env("GIT_AUTHOR_EMAIL", "maintainer@example.invalid")
        .env("GIT_COMMITTER_NAME", "Demo Maintainer")
        .env("GIT_COMMITTER_EMAIL", "maintainer@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| DemoError::Git {
            args: args.join(" "),
            output: format!("could not run git: {e}"),
        })?;
    if !output.status.success() {
        return Err(DemoError::Git {
            args: args.join(" "),
            output: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Writes the fixture crate into `dest` (which must not exist or be empty)
/// and commits it on `main`. Returns `dest`.
pub fn prepare_repo(dest: &Path) -> Result<PathBuf, DemoError> {
    std::fs::create_dir_all(dest).map_err(io_err(dest))?;
    for (rel, contents) in FIXTURE {
        let path = dest.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::write(&path, contents).map_err(io_err(&path))?;
    }
    git(dest, &["init", "-q", "-b", "main"])?;
    git(dest, &["add", "-A"])?;
    git(
        dest,
        &["commit", "-q", "-m", "roman: to_roman and from_roman"],
    )?;
    Ok(dest.to_path_buf())
}

/// The demo ticket, pointing at `repo`.
pub fn ticket(repo: &Path) -> Result<Task, DemoError> {
    #[derive(serde::Deserialize)]
    struct Ticket {
        id: String,
        title: String,
        body: String,
        #[serde(default)]
        labels: Vec<String>,
    }
    let t: Ticket = serde_json::from_str(TICKET).map_err(|e| DemoError::Data(e.to_string()))?;
    let mut task = Task::new(
        t.id,
        t.title,
        t.body,
        RepoRef::new(repo.display().to_string()),
    );
    task.labels = t.labels;
    Ok(task)
}

/// The scripted model.
pub fn model() -> Result<Arc<dyn Model>, DemoError> {
    let model = ScriptedModel::from_json(TRAJECTORY, "embedded roman-trajectory.json")
        .map_err(|e| DemoError::Data(e.to_string()))?;
    Ok(Arc::new(model))
}

/// Prepares `out_dir` (the repository in `out_dir/roman`, the transcript in
/// `out_dir/transcript.jsonl`; forge records go to the default place inside
/// the repository's git directory) and returns the job, ready to run.
pub fn job(out_dir: &Path) -> Result<FixIssue, DemoError> {
    let repo = prepare_repo(&out_dir.join("roman"))?;
    let mut job = FixIssue::new(&repo, ticket(&repo)?, model()?);
    job.checks = vec![("tests".into(), TEST_COMMAND.into())];
    job.transcript = Some(out_dir.join("transcript.jsonl"));
    Ok(job)
}
