//! Telling the ticket's home how its task moves, from agentd's sessions.
//!
//! [`Lifecycle`] is what the session factory calls: when a session starts
//! and when its end is recorded. It reads the final state from the store and
//! passes it to the configured [`Notifiers`] in the background (a slow Slack
//! never holds a worker): the Slack thread reply and the Linear comment
//! ([`SlackNotifier`](crate::triggers::notify::SlackNotifier),
//! [`LinearNotifier`](crate::triggers::notify::LinearNotifier)), and for
//! GitHub issues [`GitHubProgress`]: **one** comment on the issue, edited in
//! place through [`Forge::comment`](agentkit_core::forge::Forge::comment) as
//! the task goes queued → working → pull request opened (or failed). Updates
//! can arrive out of order (each runs in its own tokio task); an update older
//! than the one already shown (by revision, then stage) is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agentkit_core::forge::split_revision;
use agentkit_core::redact::Redactor;
use agentkit_core::store::{TaskResult, TaskState, TaskStore};
use agentkit_core::task::{Task, TaskSource};
use async_trait::async_trait;

use super::forge_set::Forges;
use crate::triggers::notify::{Notifier, Notifiers, NotifyError};

/// Calls the notifiers as sessions start and end.
pub struct Lifecycle {
    store: Arc<dyn TaskStore>,
    notifiers: Arc<Notifiers>,
    redactor: Redactor,
}

impl Lifecycle {
    /// Reads final states from `store` and tells `notifiers`; summaries and
    /// errors pass through `redactor` first (they end up in Slack, Linear,
    /// GitHub).
    pub fn new(store: Arc<dyn TaskStore>, notifiers: Notifiers, redactor: Redactor) -> Self {
        Self {
            store,
            notifiers: Arc::new(notifiers),
            redactor,
        }
    }

    /// The notifiers (the triggers announce queued tasks to them too).
    pub fn notifiers(&self) -> Arc<Notifiers> {
        self.notifiers.clone()
    }

    /// A session of `task` started (its `attempt`-th lease).
    pub fn started(&self, task: &Task, attempt: u32) {
        let notifiers = self.notifiers.clone();
        let task = task.clone();
        tokio::spawn(async move {
            let _ = notifiers.task_started(&task, attempt).await;
        });
    }

    /// The end of a session of `task` was recorded: when the task is now
    /// final, tell the notifiers how it ended.
    pub fn recorded(&self, task: &Task) {
        let notifiers = self.notifiers.clone();
        let store = self.store.clone();
        let redactor = self.redactor.clone();
        let task = task.clone();
        tokio::spawn(async move {
            let record = match store.get(&task.id).await {
                Ok(Some(record)) => record,
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(task = %task.id, error = %err, "cannot read the task to notify its end");
                    return;
                }
            };
            let mut result = match record.state {
                TaskState::Succeeded => record.result.unwrap_or(TaskResult {
                    summary: String::new(),
                    pull_request_url: None,
                    success: true,
                }),
                TaskState::Failed => TaskResult {
                    summary: record
                        .last_error
                        .unwrap_or_else(|| "the task failed".into()),
                    pull_request_url: None,
                    success: false,
                },
                // Waiting for a retry, or cancelled: nothing to report yet.
                TaskState::Queued | TaskState::Leased | TaskState::Cancelled => return,
            };
            result.summary = redactor.redact(&result.summary).into_owned();
            let _ = notifiers.task_finished(&record.task, &result).await;
        });
    }
}

/// Where a task is, in the order a progress comment may show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Queued,
    Working,
    Finished,
}

/// One progress comment per GitHub issue task, edited in place. See the
/// [module docs](self).
pub struct GitHubProgress {
    forges: Arc<Forges>,
    redactor: Redactor,
    /// Per ticket: the latest (revision, stage) shown, behind a lock held
    /// while it is posted.
    shown: Mutex<HashMap<String, Arc<Shown>>>,
}

/// The latest (revision, stage) shown for a ticket, if any.
type Shown = tokio::sync::Mutex<Option<(u32, Stage)>>;

impl GitHubProgress {
    /// Comments through the GitHub forges of `forges`; `redactor` cleans
    /// what the agent wrote before it is posted.
    pub fn new(forges: Arc<Forges>, redactor: Redactor) -> Self {
        Self {
            forges,
            redactor,
            shown: Mutex::new(HashMap::new()),
        }
    }

    async fn show(&self, task: &Task, stage: Stage, text: String) -> Result<(), NotifyError> {
        if !matches!(&task.source, TaskSource::Forge { forge, .. } if forge == "github") {
            return Ok(());
        }
        let (base, revision) = split_revision(&task.id);
        let slot = self
            .shown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(base.to_string())
            .or_default()
            .clone();
        let mut shown = slot.lock().await;
        if (*shown).is_some_and(|latest| latest > (revision, stage)) {
            tracing::debug!(task = %task.id, ?stage, "a newer progress update is already shown");
            return Ok(());
        }
        let fail = |message: String| NotifyError {
            service: "GitHub",
            message,
        };
        let forge = self
            .forges
            .forge_for(&task.repo.url)
            .map_err(|err| fail(err.to_string()))?;
        if forge.name() != "github" {
            return Ok(());
        }
        forge
            .comment(&task.id, &self.redactor.redact(&text))
            .await
            .map_err(|err| fail(format!("the progress comment failed: {err}")))?;
        *shown = Some((revision, stage));
        Ok(())
    }
}

fn revision_note(task: &Task) -> String {
    match split_revision(&task.id).1 {
        0 | 1 => String::new(),
        n => format!(" (revision {n}, after review feedback)"),
    }
}

#[async_trait]
impl Notifier for GitHubProgress {
    async fn task_queued(&self, task: &Task) -> Result<(), NotifyError> {
        let text = format!(
            "**Queued**{}: an agent will pick this up shortly.",
            revision_note(task)
        );
        self.show(task, Stage::Queued, text).await
    }

    async fn task_started(&self, task: &Task, attempt: u32) -> Result<(), NotifyError> {
        let retry = if attempt > 1 {
            format!(" (attempt {attempt})")
        } else {
            String::new()
        };
        let text = format!(
            "**Working**{}{retry}: an agent is on it in a sandbox.",
            revision_note(task)
        );
        self.show(task, Stage::Working, text).await
    }

    async fn task_finished(&self, task: &Task, result: &TaskResult) -> Result<(), NotifyError> {
        self.show(task, Stage::Finished, finished_text(task, result))
            .await
    }
}

/// The progress comment of a finished task.
fn finished_text(task: &Task, result: &TaskResult) -> String {
    let note = revision_note(task);
    let summary = result.summary.trim();
    match (&result.pull_request_url, result.success) {
        (Some(url), _) if split_revision(&task.id).1 > 1 => {
            format!("**Pull request updated**{note}: {url}\n\n{summary}")
        }
        (Some(url), _) => format!("**Pull request opened**{note}: {url}\n\n{summary}"),
        (None, true) => format!("**Done**{note}: no changes were needed.\n\n{summary}"),
        (None, false) => format!("**Failed**{note}: I could not finish this.\n\n{summary}"),
    }
}

#[cfg(test)]
mod tests {
    use agentkit_core::task::RepoRef;

    use super::*;

    #[test]
    fn a_finished_task_says_what_became_of_it() {
        let task = |id: &str| Task::new(id, "t", "b", RepoRef::new("."));
        let result = |url: Option<&str>, success: bool| TaskResult {
            summary: "Summary. ".into(),
            pull_request_url: url.map(str::to_string),
            success,
        };
        let url = Some("https://github.com/acme/app/pull/8");
        assert_eq!(
            finished_text(&task("gh:acme/app#7"), &result(url, true)),
            "**Pull request opened**: https://github.com/acme/app/pull/8\n\nSummary."
        );
        assert_eq!(
            finished_text(&task("gh:acme/app#7@rev3"), &result(url, true)),
            "**Pull request updated** (revision 3, after review feedback): \
             https://github.com/acme/app/pull/8\n\nSummary."
        );
        assert_eq!(
            finished_text(&task("gh:acme/app#7"), &result(None, false)),
            "**Failed**: I could not finish this.\n\nSummary."
        );
        assert_eq!(
            finished_text(&task("gh:acme/app#7"), &result(None, true)),
            "**Done**: no changes were needed.\n\nSummary."
        );
        assert!(Stage::Finished > Stage::Working && Stage::Working > Stage::Queued);
        assert!(
            (2, Stage::Queued) > (1, Stage::Finished),
            "a new revision starts over"
        );
    }
}
