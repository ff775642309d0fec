//! Telling the ticket's home how a task ended: a [`Notifier`] the daemon or
//! worker pool calls with the outcome.
//!
//! - [`SlackNotifier`] replies in the Slack thread the task came from
//!   (`chat.postMessage` with `thread_ts`), with the pull-request link;
//! - [`LinearNotifier`] comments on the Linear issue (GraphQL
//!   `commentCreate`), with the link;
//! - [`Notifiers`] calls several, each on the tasks it recognises.
//!
//! A notifier acts only on tasks whose `source` is its own
//! (`TaskSource::Forge { forge: "slack" | "linear", .. }`), which is what the
//! Slack and Linear triggers enqueue, so the reply address travels with the
//! task through the store and survives a restart.

use std::sync::Arc;
use std::time::Duration;

use agentkit_core::store::TaskResult;
use agentkit_core::task::{Task, TaskSource};
use async_trait::async_trait;
use serde_json::json;

/// A notification that could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("could not notify {service}: {message}")]
pub struct NotifyError {
    /// Slack, Linear...
    pub service: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Something told as a task moves: queued, started, finished.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// `task` was newly enqueued by a trigger. Default: nothing.
    async fn task_queued(&self, _task: &Task) -> Result<(), NotifyError> {
        Ok(())
    }

    /// A worker started (or resumed) `task`; `attempt` counts leases from 1.
    /// Default: nothing.
    async fn task_started(&self, _task: &Task, _attempt: u32) -> Result<(), NotifyError> {
        Ok(())
    }

    /// Reports `result` of `task`; does nothing for tasks from elsewhere.
    async fn task_finished(&self, task: &Task, result: &TaskResult) -> Result<(), NotifyError>;
}

/// A shared notifier, as configuration holds it (`Debug` names no secret).
#[derive(Clone)]
pub struct SharedNotifier(pub Arc<dyn Notifier>);

impl std::fmt::Debug for SharedNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedNotifier")
    }
}

/// Several notifiers; every one is called, the first error is returned.
#[derive(Clone, Default)]
pub struct Notifiers(pub Vec<Arc<dyn Notifier>>);

/// What happened to a task, for [`Notifiers`] to pass on.
#[derive(Clone, Copy)]
enum Moved<'a> {
    Queued,
    Started(u32),
    Finished(&'a TaskResult),
}

impl Notifiers {
    /// Tells every notifier, logging failures; the first error is returned.
    async fn tell(&self, task: &Task, moved: Moved<'_>) -> Result<(), NotifyError> {
        let mut first = None;
        for notifier in &self.0 {
            let told = match moved {
                Moved::Queued => notifier.task_queued(task).await,
                Moved::Started(attempt) => notifier.task_started(task, attempt).await,
                Moved::Finished(result) => notifier.task_finished(task, result).await,
            };
            if let Err(err) = told {
                tracing::warn!(task = %task.id, error = %err, "notification failed");
                first.get_or_insert(err);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[async_trait]
impl Notifier for Notifiers {
    async fn task_queued(&self, task: &Task) -> Result<(), NotifyError> {
        self.tell(task, Moved::Queued).await
    }

    async fn task_started(&self, task: &Task, attempt: u32) -> Result<(), NotifyError> {
        self.tell(task, Moved::Started(attempt)).await
    }

    async fn task_finished(&self, task: &Task, result: &TaskResult) -> Result<(), NotifyError> {
        self.tell(task, Moved::Finished(result)).await
    }
}

/// The message a finished task gets: the link, or why there is none.
pub fn outcome_text(result: &TaskResult) -> String {
    match (&result.pull_request_url, result.success) {
        (Some(url), _) => format!("Opened a pull request: {url}\n\n{}", result.summary.trim()),
        (None, true) => format!("Done, no changes were needed: {}", result.summary.trim()),
        (None, false) => format!("I could not finish this: {}", result.summary.trim()),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// Where a source says to reply, if it is `forge`'s.
fn source_of<'a>(task: &'a Task, forge: &str) -> Option<&'a str> {
    match &task.source {
        TaskSource::Forge {
            forge: f, number, ..
        } if f == forge => Some(number),
        _ => None,
    }
}

/// Replies in Slack threads.
pub struct SlackNotifier {
    http: reqwest::Client,
    api_base: String,
    bot_token: String,
}

impl std::fmt::Debug for SlackNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackNotifier")
            .field("api_base", &self.api_base)
            .finish()
    }
}

impl SlackNotifier {
    /// Posts with `bot_token` (`xoxb-…`, scope `chat:write`) to
    /// `https://slack.com/api`.
    pub fn new(bot_token: impl Into<String>) -> Self {
        Self {
            http: http(),
            api_base: "https://slack.com/api".into(),
            bot_token: bot_token.into(),
        }
    }

    /// Another API base (tests).
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into().trim_end_matches('/').to_string();
        self
    }

    /// The `chat.postMessage` body for a task from `channel`/`thread`.
    pub fn message(address: &str, result: &TaskResult) -> Option<serde_json::Value> {
        let (channel, thread) = match address.split_once('/') {
            Some((channel, thread)) => (channel, Some(thread)),
            None => (address, None),
        };
        if channel.is_empty() {
            return None;
        }
        let mut body =
            json!({ "channel": channel, "text": outcome_text(result), "unfurl_links": false });
        if let Some(ts) = thread.filter(|t| !t.is_empty()) {
            body["thread_ts"] = json!(ts);
        }
        Some(body)
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn task_finished(&self, task: &Task, result: &TaskResult) -> Result<(), NotifyError> {
        let Some(address) = source_of(task, "slack") else {
            return Ok(());
        };
        let fail = |message: String| NotifyError {
            service: "Slack",
            message,
        };
        let body = Self::message(address, result)
            .ok_or_else(|| fail(format!("task `{}` has no Slack channel", task.id)))?;
        let reply = self
            .http
            .post(format!("{}/chat.postMessage", self.api_base))
            .bearer_auth(&self.bot_token)
            .json(&body)
            .send()
            .await
            .map_err(|err| fail(format!("chat.postMessage failed: {err}")))?;
        let status = reply.status();
        let answer: serde_json::Value = reply.json().await.map_err(|err| {
            fail(format!(
                "chat.postMessage answered {status} with no JSON: {err}"
            ))
        })?;
        if answer["ok"].as_bool() != Some(true) {
            return Err(fail(format!(
                "chat.postMessage answered `{}`; check the bot token and that the bot is in the channel",
                answer["error"].as_str().unwrap_or("not ok")
            )));
        }
        Ok(())
    }
}

/// Comments on Linear issues.
pub struct LinearNotifier {
    http: reqwest::Client,
    api_url: String,
    api_key: String,
}

impl std::fmt::Debug for LinearNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearNotifier")
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl LinearNotifier {
    /// Comments with `api_key` (a personal API key or an OAuth token) through
    /// `https://api.linear.app/graphql`.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            http: http(),
            api_url: "https://api.linear.app/graphql".into(),
            api_key: api_key.into(),
        }
    }

    /// Another GraphQL endpoint (tests).
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// The GraphQL request commenting `result` on issue `issue_id`.
    pub fn request(issue_id: &str, result: &TaskResult) -> serde_json::Value {
        json!({
            "query": "mutation CommentCreate($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id } } }",
            "variables": { "input": { "issueId": issue_id, "body": outcome_text(result) } }
        })
    }
}

#[async_trait]
impl Notifier for LinearNotifier {
    async fn task_finished(&self, task: &Task, result: &TaskResult) -> Result<(), NotifyError> {
        let Some(issue) = source_of(task, "linear") else {
            return Ok(());
        };
        let fail = |message: String| NotifyError {
            service: "Linear",
            message,
        };
        let reply = self
            .http
            .post(&self.api_url)
            .header("Authorization", &self.api_key)
            .json(&Self::request(issue, result))
            .send()
            .await
            .map_err(|err| fail(format!("commentCreate failed: {err}")))?;
        let status = reply.status();
        let answer: serde_json::Value = reply.json().await.map_err(|err| {
            fail(format!(
                "commentCreate answered {status} with no JSON: {err}"
            ))
        })?;
        if answer["data"]["commentCreate"]["success"].as_bool() != Some(true) {
            return Err(fail(format!(
                "commentCreate did not succeed ({status}): {}",
                answer["errors"]
            )));
        }
        Ok(())
    }
}
