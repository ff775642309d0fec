//! Measuring agents on real tasks (feature `eval`).
//!
//! A task ([`EvalTask`], one `task.json` each; format in [`task`]) is a
//! repository at a base commit, a ticket, a setup script, hidden upstream
//! tests, the FAIL_TO_PASS and PASS_TO_PASS lists, a test command and the
//! upstream fix (the oracle). The [`Harness`] runs any [`EvalAgent`] on each
//! task in a fresh sandbox (several at once), takes its diff, and grades it in
//! a *new* sandbox ([`grade`]): apply the diff, put the test files back,
//! add the hidden tests, run the tests, read each test's result. The
//! [`Report`] is JSON plus a Markdown table; [`Harness::self_check`] runs the
//! no-op agent and the oracle, which must score exactly 0 and 1.
//!
//! Tasks come from: the shipped set in `evals/tasks/` (real bugs from PyPI
//! and crates.io releases, fetched into a [`SourceCache`]), SWE-bench JSONL
//! ([`swebench`]), or a repository's own history ([`history`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use agentkit::eval::{Harness, ModelAgent, load_tasks};
//! use agentkit::core::CancellationToken;
//!
//! let tasks = load_tasks(std::path::Path::new("evals/tasks"))?;
//! let harness = Harness { jobs: 4, progress: true, ..Harness::new() };
//! let report = harness.run(&tasks, &ModelAgent::new("openai:gpt-5"), CancellationToken::new()).await;
//! println!("{}", report.to_markdown());
//! # Ok(()) }
//! ```

pub mod agent;
pub mod grade;
pub mod history;
pub mod report;
pub mod run;
pub mod source;
pub mod swebench;
pub mod task;

pub use agent::{AgentRun, Attempt, EvalAgent, FnAgent, ModelAgent, NoopAgent, OracleAgent};
pub use grade::{Grade, TestStatus};
pub use report::{ErrorStage, Report, TaskResult, TaskStatus};
pub use run::{Harness, SelfCheck};
pub use source::{PreparedRepo, SourceCache, SourceError};
pub use task::{EvalTask, HiddenTests, LogParser, Provenance, Source, load_tasks};
