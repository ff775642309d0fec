//! Best-of-N: several attempts at one ticket, one pull request.
//!
//! [`BestOf`] runs N attempts of a [`FixIssue`] job **in parallel**, each in
//! its own sandbox, optionally each with its own model or sampling
//! ([`Attempt`]). Every attempt goes the whole way — verification, the
//! handover, the completion contract — but publishes into a holding forge
//! instead of the real one. Then one candidate is chosen:
//!
//! 1. **passes**: only attempts that finished with verification passed and
//!    the contract met are candidates (none: no pull request);
//! 2. **smallest diff**: candidates are ranked by changed lines, then
//!    changed files, then attempt order (sizes measured host-side by
//!    [`BundleInspector`] on the handed-over bundle);
//! 3. **an optional model judge** ([`BestOf::judge`]): when set and more
//!    than one candidate remains, it reads the ticket and the (at most
//!    [`JUDGED`]) smallest diffs and names the best; an unusable answer keeps
//!    the smallest.
//!
//! Exactly one pull request is published through the job's forge, its body
//! listing every alternative with its outcome and size. **All attempts count
//! against the budget**: the job's token and cost budgets are split evenly
//! between the attempts (steps and wall time apply to each attempt, which
//! run side by side), and [`BestOfOutcome`] sums what all of them used.

use std::sync::{Arc, Mutex};

use agentkit_core::CancellationToken;
use agentkit_core::engine::CallSettings;
use agentkit_core::event::now_ms;
use agentkit_core::forge::{Forge, ForgeError, PublishRequest, PullRequest};
use agentkit_core::message::Message;
use agentkit_core::model::{Model, ModelRequest};
use agentkit_core::outcome::Outcome;
use agentkit_core::policy::contract::{ChangeDiff, ChangeInspector};
use agentkit_core::task::{Task, TaskId};
use agentkit_core::usage::{Cost, Usage};
use agentkit_core::worker::run_task;
use agentkit_tools::forge::BundleInspector;
use async_trait::async_trait;

use crate::job::{FixIssue, JobError};

/// Candidates shown to the judge at most (the smallest ones).
pub const JUDGED: usize = 3;

/// One attempt: a label, the model, and what its calls ask for.
#[derive(Clone)]
pub struct Attempt {
    /// A name for reports and the pull request (`a`, `gpt-4.1 t=0.7`, …).
    pub label: String,
    /// The model of this attempt.
    pub model: Arc<dyn Model>,
    /// Temperature, reasoning effort, … of this attempt.
    pub call: CallSettings,
}

/// A best-of-N job. See the [module docs](self).
pub struct BestOf {
    /// The job: repository, ticket, checks, policy, forge, provider.
    /// Its `model` and `call` are not used; each [`Attempt`] brings its own.
    pub job: FixIssue,
    /// The attempts, run in parallel.
    pub attempts: Vec<Attempt>,
    /// A model that picks among the smallest passing candidates.
    pub judge: Option<Arc<dyn Model>>,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    /// The attempt's label.
    pub label: String,
    /// Its model.
    pub model: String,
    /// How its run ended (a candidate's "pull request" is the held one, not published).
    pub outcome: Outcome,
    /// Changed lines and files of its change, when it produced one.
    pub size: Option<(usize, usize)>,
    /// Whether it was a candidate (finished, verified, contract met, changed something).
    pub candidate: bool,
}

/// The result of a best-of-N job.
#[derive(Debug, Clone)]
pub struct BestOfOutcome {
    /// Every attempt, in the order given.
    pub attempts: Vec<AttemptReport>,
    /// The index of the chosen attempt.
    pub chosen: Option<usize>,
    /// How it was chosen (or why nothing was).
    pub reason: String,
    /// The published pull request.
    pub pull_request: Option<PullRequest>,
    /// Tokens of all attempts (and the judge).
    pub usage: Usage,
    /// Cost of all attempts (and the judge).
    pub cost: Cost,
}

impl BestOf {
    /// Runs every attempt, chooses, publishes one pull request.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<BestOfOutcome, JobError> {
        let (provider, backend, warning) = self.job.choose_sandbox().await;
        if let Some(warning) = warning {
            tracing::warn!(backend, "{warning}");
        }
        let n = self.attempts.len().max(1);
        let mut policy = self.job.effective_policy()?;
        policy.budgets.max_tokens = policy.budgets.max_tokens.map(|t| t / n as u64);
        policy.budgets.max_cost_usd = policy.budgets.max_cost_usd.map(|c| c / n as f64);
        let mut spec = self.job.sandbox_spec(&policy);
        self.job.setup_plan(&policy, None).await?.apply(&mut spec);
        let runs_dir = self.job.checkpoint_dir()?.join("best-of");
        let mut runs = Vec::new();
        for (i, attempt) in self.attempts.iter().enumerate() {
            let holding = Arc::new(HoldingForge::default());
            let agent = self.job.agent(
                &policy,
                attempt.model.clone(),
                attempt.call.clone(),
                holding.clone(),
                runs_dir.join(i.to_string()),
            )?;
            let (provider, spec, task, cancel) =
                (&provider, &spec, self.job.task.clone(), cancel.clone());
            runs.push(async move {
                let outcome = run_task(&agent, provider.as_ref(), spec, task, cancel).await;
                (outcome, holding.take())
            });
        }
        let finished = futures::future::join_all(runs).await;
        let inspector = BundleInspector::new(self.job.git_dir()?);
        let mut reports = Vec::new();
        let mut held = Vec::new();
        let (mut usage, mut cost) = (Usage::default(), Cost::default());
        for (attempt, (outcome, request)) in self.attempts.iter().zip(finished) {
            let outcome = outcome?;
            usage += outcome.usage;
            cost += outcome.cost;
            let diff = match &request {
                Some(r) => inspector.inspect(&r.changes).await.ok(),
                None => None,
            };
            let size = diff.as_ref().map(|d| (d.changed_lines(), d.files.len()));
            let candidate = outcome.stop_reason.is_success() && request.is_some() && size.is_some();
            reports.push(AttemptReport {
                label: attempt.label.clone(),
                model: attempt.model.info().name.clone(),
                outcome,
                size,
                candidate,
            });
            held.push(request.zip(diff));
        }
        let mut ranked: Vec<usize> = (0..reports.len())
            .filter(|&i| reports[i].candidate)
            .collect();
        ranked.sort_by_key(|&i| (reports[i].size, i));
        let Some(&smallest) = ranked.first() else {
            return Ok(BestOfOutcome {
                attempts: reports,
                chosen: None,
                reason: "no attempt finished with passing checks and the completion contract met; nothing was published".into(),
                pull_request: None,
                usage,
                cost,
            });
        };
        let (mut chosen, mut reason) = (smallest, "the smallest passing change".to_string());
        if let (Some(judge), true) = (&self.judge, ranked.len() > 1) {
            let shown: Vec<usize> = ranked.iter().copied().take(JUDGED).collect();
            let diffs: Vec<&ChangeDiff> = shown
                .iter()
                .filter_map(|&i| held[i].as_ref().map(|(_, d)| d))
                .collect();
            match judge.complete(judge_request(&self.job.task, &diffs)).await {
                Ok(reply) => {
                    usage += reply.usage;
                    if let Some(pick) = first_number(&reply.message.text())
                        .filter(|p| (1..=shown.len()).contains(p))
                    {
                        chosen = shown[pick - 1];
                        reason = format!(
                            "the judge's choice among the {} smallest passing changes",
                            shown.len()
                        );
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the judge failed; keeping the smallest change")
                }
            }
        }
        let Some((mut request, _)) = held[chosen].take() else {
            return Err(JobError::Publish(ForgeError::Other {
                message: "the chosen attempt holds no change".into(),
            }));
        };
        request
            .body
            .push_str(&alternatives(&reports, chosen, &reason));
        let forge = self.job.forge()?;
        let pull_request = forge.publish(request).await.map_err(JobError::Publish)?;
        Ok(BestOfOutcome {
            attempts: reports,
            chosen: Some(chosen),
            reason,
            pull_request: Some(pull_request),
            usage,
            cost,
        })
    }
}

/// The "Alternatives" section of the pull request.
fn alternatives(reports: &[AttemptReport], chosen: usize, reason: &str) -> String {
    let mut text = format!(
        "\n## Alternatives\n\nBest of {} attempts; this is attempt `{}` ({reason}).\n\n",
        reports.len(),
        reports[chosen].label
    );
    for (i, r) in reports.iter().enumerate() {
        let size = r
            .size
            .map_or("no change to publish".to_string(), |(lines, files)| {
                format!("{lines} lines in {files} files")
            });
        let mark = if i == chosen { " ← published" } else { "" };
        text.push_str(&format!(
            "- `{}` (`{}`): {}; {size}{mark}\n",
            r.label, r.model, r.outcome.stop_reason
        ));
    }
    text
}

fn judge_request(task: &Task, diffs: &[&ChangeDiff]) -> ModelRequest {
    let mut text = format!("Ticket: {}\n\n{}\n", task.title, task.body);
    for (i, diff) in diffs.iter().enumerate() {
        text.push_str(&format!("\n## Candidate {}\n\n```diff\n", i + 1));
        for file in &diff.files {
            text.push_str(&format!("--- {}\n", file.path));
            for line in file.removed.iter().take(200) {
                text.push_str(&format!("-{}\n", line.text));
            }
            for line in file.added.iter().take(200) {
                text.push_str(&format!("+{}\n", line.text));
            }
        }
        text.push_str("```\n");
    }
    ModelRequest {
        system: "You review candidate patches for a ticket. All of them pass the tests. Pick the one a careful \
                 maintainer would merge: correct, minimal, in the project's style. Reply with the candidate's \
                 number only."
            .into(),
        messages: vec![Message::user(text)],
        tools: Vec::new(),
        tool_choice: Default::default(),
        max_output_tokens: Some(16),
        temperature: Some(0.0),
        reasoning_effort: None,
    }
}

fn first_number(text: &str) -> Option<usize> {
    let digits: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A forge that keeps the publish request instead of publishing.
#[derive(Default)]
struct HoldingForge {
    held: Mutex<Option<PublishRequest>>,
}

impl HoldingForge {
    fn take(&self) -> Option<PublishRequest> {
        self.held.lock().ok()?.take()
    }
}

#[async_trait]
impl Forge for HoldingForge {
    fn name(&self) -> &str {
        "best-of-holding"
    }

    async fn task(&self, reference: &str) -> Result<Task, ForgeError> {
        Err(ForgeError::NotFound {
            what: reference.to_string(),
        })
    }

    async fn publish(&self, request: PublishRequest) -> Result<PullRequest, ForgeError> {
        let pr = PullRequest::opened(
            "held".into(),
            "(a best-of-N candidate, not published)".into(),
            request.clone(),
            now_ms(),
        );
        if let Ok(mut held) = self.held.lock() {
            *held = Some(request);
        }
        Ok(pr)
    }

    async fn comment(&self, _task: &TaskId, _body: &str) -> Result<(), ForgeError> {
        Ok(())
    }

    async fn pull_request(&self, id: &str) -> Result<PullRequest, ForgeError> {
        Err(ForgeError::NotFound {
            what: id.to_string(),
        })
    }
}
