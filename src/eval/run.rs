//! The [`Harness`]: every task in a fresh sandbox, several at once, graded
//! in another fresh sandbox, reported.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit_core::CancellationToken;
use agentkit_core::sandbox::{Sandbox, SandboxPolicy, SandboxProvider, SandboxSpec};
use agentkit_core::task::RepoRef;
use agentkit_sandbox::local::LocalProvider;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use super::agent::{Attempt, EvalAgent, NoopAgent, OracleAgent};
use super::grade::{TestStatus, git_request, grade};
use super::report::{ErrorStage, Report, TaskResult, TaskStatus};
use super::source::{PreparedRepo, SourceCache};
use super::task::EvalTask;

/// Runs agents over tasks. Build with [`Harness::new`], adjust the fields.
pub struct Harness {
    /// Where the agent's and the grader's sandboxes come from.
    pub provider: Arc<dyn SandboxProvider>,
    /// Where sources are fetched to.
    pub sources: SourceCache,
    /// The Python that runs the Python tasks' tests (`{python}`; needs pytest).
    pub python: String,
    /// Tasks run at once.
    pub jobs: usize,
    /// The policy of every sandbox.
    pub policy: SandboxPolicy,
    /// Whether to draw a progress bar on stderr.
    pub progress: bool,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// The `local` backend, the default cache, `$AGENTKIT_EVAL_PYTHON` (else
    /// `python3`), two tasks at once, the default policy, no progress bar.
    pub fn new() -> Self {
        let python = std::env::var("AGENTKIT_EVAL_PYTHON").unwrap_or_else(|_| "python3".into());
        Self {
            provider: Arc::new(LocalProvider::new()),
            sources: SourceCache::new(SourceCache::default_root(), python.clone()),
            python,
            jobs: 2,
            policy: SandboxPolicy::default(),
            progress: false,
        }
    }

    /// Fetches every task's source (the only step that needs the registries).
    /// Returns the tasks that failed, with why.
    pub async fn prefetch(&self, tasks: &[EvalTask]) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for task in tasks {
            if let Err(err) = self.sources.prepare(task).await {
                failed.push((task.id.clone(), err.to_string()));
            }
        }
        failed
    }

    /// Runs `agent` on every task (at most `jobs` at once) and reports, in task order.
    pub async fn run(
        &self,
        tasks: &[EvalTask],
        agent: &dyn EvalAgent,
        cancel: CancellationToken,
    ) -> Report {
        let started = Instant::now();
        let bar = self.progress_bar(tasks.len(), &agent.name());
        let results = futures::stream::iter(tasks)
            .map(|task| {
                let bar = bar.clone();
                let cancel = cancel.clone();
                async move {
                    let result = self.run_task(task, agent, cancel).await;
                    let mark = match &result.status {
                        TaskStatus::Resolved => "resolved",
                        TaskStatus::Unresolved => "unresolved",
                        TaskStatus::Error { .. } => "error",
                    };
                    bar.println(format!("{}: {mark}", task.id));
                    bar.inc(1);
                    result
                }
            })
            .buffered(self.jobs.max(1))
            .collect::<Vec<_>>()
            .await;
        bar.finish_and_clear();
        Report {
            agent: agent.name(),
            tasks: results,
            wall_time: started.elapsed(),
        }
    }

    fn progress_bar(&self, len: usize, agent: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len}")
        {
            bar.set_style(style);
        }
        bar.set_prefix(agent.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// The sandbox spec for `task` at `repo`.
    pub fn spec(&self, task: &EvalTask, repo: &PreparedRepo) -> SandboxSpec {
        let mut spec = SandboxSpec::new(repo.path.display().to_string()).rev(repo.commit.clone());
        spec.setup_script = task
            .setup
            .as_ref()
            .map(|s| s.replace("{python}", &self.python));
        spec.env = BTreeMap::from([
            ("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()),
            ("CARGO_NET_OFFLINE".to_string(), "true".to_string()),
        ]);
        spec.env.extend(task.env.clone());
        spec.policy = self.policy.clone();
        spec
    }

    /// Runs `agent` on one task and grades its work.
    pub async fn run_task(
        &self,
        task: &EvalTask,
        agent: &dyn EvalAgent,
        cancel: CancellationToken,
    ) -> TaskResult {
        let started = Instant::now();
        let mut result = TaskResult {
            task_id: task.id.clone(),
            status: TaskStatus::Unresolved,
            base_commit: None,
            steps: 0,
            usage: Default::default(),
            cost: Default::default(),
            agent_time: Duration::ZERO,
            wall_time: Duration::ZERO,
            stop_reason: None,
            contract_violations: None,
            diff: String::new(),
            grade: None,
        };
        let fail = |mut result: TaskResult, stage, message: String| {
            result.status = TaskStatus::Error { stage, message };
            result.wall_time = started.elapsed();
            result
        };
        let repo = match self.sources.prepare(task).await {
            Ok(repo) => repo,
            Err(err) => return fail(result, ErrorStage::Source, err.to_string()),
        };
        result.base_commit = Some(repo.commit.clone());
        let spec = self.spec(task, &repo);

        // The agent's attempt, in a sandbox of its own.
        let sandbox = match self.provider.create(&spec).await {
            Ok(sandbox) => sandbox,
            Err(err) => return fail(result, ErrorStage::Setup, err.to_string()),
        };
        let ticket = task
            .ticket(RepoRef::new(repo.path.display().to_string()).with_base(repo.commit.clone()));
        let agent_started = Instant::now();
        let run = agent
            .solve(Attempt {
                task,
                ticket,
                sandbox: Arc::clone(&sandbox),
                base_commit: repo.commit.clone(),
                cancel,
            })
            .await;
        result.agent_time = agent_started.elapsed();
        result.steps = run.outcome.steps;
        result.usage = run.outcome.usage;
        result.cost = run.outcome.cost;
        result.stop_reason = Some(run.outcome.stop_reason);
        result.contract_violations = run.contract_violations;
        let diff = diff_since(sandbox.as_ref(), &repo.commit).await;
        close(sandbox.as_ref()).await;
        match diff {
            Ok(diff) => result.diff = diff,
            Err(message) => return fail(result, ErrorStage::Diff, message),
        }

        // Grading, in a new sandbox.
        let grader = match self.provider.create(&spec).await {
            Ok(sandbox) => sandbox,
            Err(err) => {
                return fail(
                    result,
                    ErrorStage::Grading,
                    format!("grading sandbox: {err}"),
                );
            }
        };
        let graded = grade(task, grader.as_ref(), &result.diff, &self.python).await;
        close(grader.as_ref()).await;
        match graded {
            Ok(grade) => {
                result.status = if grade.resolved {
                    TaskStatus::Resolved
                } else {
                    TaskStatus::Unresolved
                };
                result.grade = Some(grade);
            }
            Err(err) => return fail(result, ErrorStage::Grading, err.to_string()),
        }
        result.wall_time = started.elapsed();
        result
    }

    /// Runs the no-op agent and the oracle on every task.
    pub async fn self_check(&self, tasks: &[EvalTask], cancel: CancellationToken) -> SelfCheck {
        let noop = self.run(tasks, &NoopAgent, cancel.clone()).await;
        let oracle = self.run(tasks, &OracleAgent, cancel).await;
        SelfCheck { noop, oracle }
    }
}

/// The no-op and oracle reports of a task set.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfCheck {
    /// The no-op agent's report: must resolve nothing.
    pub noop: Report,
    /// The oracle's report: must resolve everything.
    pub oracle: Report,
}

impl SelfCheck {
    /// What is wrong with the task set: one line per task that errored, that
    /// the no-op agent resolved, that the oracle did not, or whose
    /// PASS_TO_PASS tests do not pass without the fix. Empty when sound.
    /// (FAIL_TO_PASS tests may be missing from the output without the fix:
    /// a hidden test of a new API does not even compile then.)
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (agent, report, want) in [("noop", &self.noop, false), ("oracle", &self.oracle, true)] {
            for t in &report.tasks {
                match &t.status {
                    TaskStatus::Error { stage, message } => problems.push(format!(
                        "{}: {agent} run errored at {stage:?}: {message}",
                        t.task_id
                    )),
                    _ if t.resolved() != want => {
                        let detail = t.grade.as_ref().map_or_else(String::new, |g| {
                            format!(" (F2P {:?}, P2P {:?})", g.fail_to_pass, g.pass_to_pass)
                        });
                        problems.push(format!(
                            "{}: the {agent} agent {} it{detail}",
                            t.task_id,
                            if want { "did not resolve" } else { "resolved" }
                        ));
                    }
                    _ => {}
                }
            }
        }
        // Without the fix, PASS_TO_PASS must already pass: otherwise the
        // task measures something other than the fix.
        for t in &self.noop.tasks {
            let Some(grade) = &t.grade else { continue };
            for (test, status) in &grade.pass_to_pass {
                if *status != TestStatus::Passed {
                    problems.push(format!(
                        "{}: PASS_TO_PASS test `{test}` is {status:?} without the fix",
                        t.task_id
                    ));
                }
            }
        }
        problems
    }

    /// Whether no-op scored exactly 0 and the oracle exactly 1, with no errors.
    pub fn passed(&self) -> bool {
        self.problems().is_empty()
    }
}

/// The agent's work as a diff against `base`: everything committed since,
/// staged or not, new files included (build outputs the repository ignores are not).
pub async fn diff_since(sandbox: &dyn Sandbox, base: &str) -> Result<String, String> {
    let git = |args: Vec<&str>| git_request(&args).output_limit(64 << 20);
    let add = sandbox
        .exec(git(vec!["add", "-A"]))
        .await
        .map_err(|err| format!("git add could not run: {err}"))?;
    if !add.success() {
        return Err(format!(
            "git add -A failed ({}): {}",
            add.status_line(),
            add.stderr.text.trim()
        ));
    }
    let diff = sandbox
        .exec(git(vec![
            "diff",
            "--cached",
            "--binary",
            "--no-ext-diff",
            base,
        ]))
        .await
        .map_err(|err| format!("git diff could not run: {err}"))?;
    if !diff.success() || diff.stdout.truncated {
        return Err(format!(
            "git diff failed ({}{}): {}",
            diff.status_line(),
            if diff.stdout.truncated {
                ", more than 64 MiB"
            } else {
                ""
            },
            diff.stderr.text.trim()
        ));
    }
    Ok(diff.stdout.text)
}

async fn close(sandbox: &dyn Sandbox) {
    if let Err(err) = sandbox.close().await {
        tracing::warn!(sandbox = sandbox.id(), error = %err, "closing a sandbox failed");
    }
}
