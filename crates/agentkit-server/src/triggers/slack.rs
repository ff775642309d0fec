//! Slack: a slash command (`POST /triggers/slack/commands`) and mentions of
//! the app through the Events API (`POST /triggers/slack/events`).
//!
//! Every request is checked with the v0 signing secret, its timestamp within
//! five minutes, before it is parsed. Slack wants an answer within 3 s: the
//! handlers only verify, parse and enqueue (the enqueue is given 2 s, then
//! finishes in the background) and answer at once; the work happens in a
//! worker. The task's source is `TaskSource::Forge { forge: "slack", number:
//! "<channel>/<thread ts>" }`, which [`SlackNotifier`](super::notify::SlackNotifier)
//! reads to reply in the thread with the pull-request link.
//!
//! - Slash command `/agent <what to do>`: idempotency key
//!   `slack-command:<trigger_id>`; task id `slack:<team>/<trigger_id>`.
//! - `app_mention`: idempotency key `slack-event:<event_id>` (Slack's retries
//!   carry the same id); task id `slack:<team>/<channel>/<ts>`. A
//!   `url_verification` challenge is answered.
//!
//! Everyone in a workspace can type a slash command or mention the app, so
//! [`SlackTrigger::users`] and [`SlackTrigger::channels`] can narrow who may
//! ask and where (empty: anyone, anywhere); other requests are ignored with
//! the reason.

use std::time::Duration;

use agentkit_core::store::NewTask;
use agentkit_core::task::{RepoRef, Task, TaskSource};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::signature::verify_slack;
use super::{Accepted, Rejection, TriggerState, enqueue, header, now_secs};

/// Configuration of the Slack trigger.
#[derive(Clone)]
pub struct SlackTrigger {
    /// The app's signing secret.
    pub signing_secret: String,
    /// The repository Slack tasks work on.
    pub repo: RepoRef,
    /// The user ids (`U…`) who may ask the agent; empty: anyone in the
    /// workspace.
    pub users: Vec<String>,
    /// The channel ids (`C…`) the agent takes requests in; empty: any.
    pub channels: Vec<String>,
}

impl SlackTrigger {
    /// `None` when `user` may ask in `channel`; else why not.
    fn refuses(&self, user: &str, channel: &str) -> Option<String> {
        if !self.users.is_empty() && !self.users.iter().any(|u| u == user) {
            return Some(format!(
                "<@{user}> is not one of the users who may ask the agent (triggers.slack.users)"
            ));
        }
        if !self.channels.is_empty() && !self.channels.iter().any(|c| c == channel) {
            return Some(format!(
                "the agent takes no requests in <#{channel}> (triggers.slack.channels)"
            ));
        }
        None
    }
}

impl std::fmt::Debug for SlackTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackTrigger")
            .field("repo", &self.repo)
            .field("users", &self.users)
            .field("channels", &self.channels)
            .finish()
    }
}

/// A slash command's form fields.
#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    /// `/agent`.
    #[serde(default)]
    pub command: String,
    /// What follows the command.
    #[serde(default)]
    pub text: String,
    /// The workspace.
    #[serde(default)]
    pub team_id: String,
    /// The channel.
    pub channel_id: String,
    /// Who typed it.
    #[serde(default)]
    pub user_id: String,
    /// Unique per invocation.
    pub trigger_id: String,
}

/// What a Slack request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackAction {
    /// Answer the URL verification with this challenge.
    Challenge(String),
    /// Enqueue `task` under the idempotency key `key`.
    Task {
        /// The task.
        task: Box<Task>,
        /// Its idempotency key.
        key: String,
    },
    /// Nothing to do.
    Ignore(String),
}

fn task(trigger: &SlackTrigger, id: String, text: &str, user: &str, address: String) -> Task {
    let text = text.trim();
    let title: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(80)
        .collect();
    let mut task = Task::new(
        id,
        title,
        format!("{text}\n\n(Asked in Slack by <@{user}>.)"),
        trigger.repo.clone(),
    );
    task.source = TaskSource::Forge {
        forge: "slack".into(),
        number: address,
        url: None,
    };
    task
}

/// Parses a verified slash-command body.
pub fn parse_command(trigger: &SlackTrigger, body: &[u8]) -> Result<SlackAction, String> {
    let command: SlashCommand = serde_urlencoded_from(body)?;
    if command.text.trim().is_empty() {
        return Ok(SlackAction::Ignore(format!(
            "usage: {} <what the agent should do>",
            command.command
        )));
    }
    if let Some(why) = trigger.refuses(&command.user_id, &command.channel_id) {
        return Ok(SlackAction::Ignore(why));
    }
    let id = format!("slack:{}/{}", command.team_id, command.trigger_id);
    let key = format!("slack-command:{}", command.trigger_id);
    let task = task(
        trigger,
        id,
        &command.text,
        &command.user_id,
        command.channel_id.clone(),
    );
    Ok(SlackAction::Task {
        task: Box::new(task),
        key,
    })
}

fn serde_urlencoded_from<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_urlencoded::from_bytes(body)
        .map_err(|err| format!("the slash command is not what Slack sends: {err}"))
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event: Option<Event>,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    ts: String,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
}

/// Parses a verified Events API body.
pub fn parse_event(trigger: &SlackTrigger, body: &[u8]) -> Result<SlackAction, String> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|err| format!("the event is not what Slack sends: {err}"))?;
    match envelope.kind.as_str() {
        "url_verification" => Ok(SlackAction::Challenge(
            envelope.challenge.unwrap_or_default(),
        )),
        "event_callback" => {
            let Some(event) = envelope.event else {
                return Err("an event_callback without an event".into());
            };
            if event.kind != "app_mention" {
                return Ok(SlackAction::Ignore(format!(
                    "`{}` events are not handled",
                    event.kind
                )));
            }
            if event.bot_id.is_some() {
                return Ok(SlackAction::Ignore("a message from a bot".into()));
            }
            if let Some(why) = trigger.refuses(&event.user, &event.channel) {
                return Ok(SlackAction::Ignore(why));
            }
            // Drop the mention itself (`<@U123>`).
            let text: String = event
                .text
                .split_whitespace()
                .filter(|w| !(w.starts_with("<@") && w.ends_with('>')))
                .collect::<Vec<_>>()
                .join(" ");
            if text.is_empty() {
                return Ok(SlackAction::Ignore("a mention without a request".into()));
            }
            let thread = event.thread_ts.clone().unwrap_or_else(|| event.ts.clone());
            let event_id = envelope.event_id.unwrap_or_else(|| event.ts.clone());
            let id = format!("slack:{}/{}/{}", envelope.team_id, event.channel, event.ts);
            let address = format!("{}/{thread}", event.channel);
            Ok(SlackAction::Task {
                task: Box::new(task(trigger, id, &text, &event.user, address)),
                key: format!("slack-event:{event_id}"),
            })
        }
        other => Ok(SlackAction::Ignore(format!(
            "`{other}` requests are not handled"
        ))),
    }
}

fn verified<'a>(
    state: &'a TriggerState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<&'a SlackTrigger, Rejection> {
    let trigger = state
        .config
        .slack
        .as_ref()
        .ok_or(Rejection::NotConfigured("Slack"))?;
    verify_slack(
        trigger.signing_secret.as_bytes(),
        body,
        header(headers, "x-slack-request-timestamp"),
        header(headers, "x-slack-signature"),
        now_secs(),
    )?;
    Ok(trigger)
}

/// Enqueues within 2 s, or lets the enqueue finish in the background.
async fn enqueue_quickly(state: &TriggerState, new: NewTask) -> Result<Accepted, Rejection> {
    let store = state.store.clone();
    let id = new.task.id.clone();
    let work = tokio::spawn(async move { enqueue(store.as_ref(), new).await });
    match tokio::time::timeout(Duration::from_secs(2), work).await {
        Ok(Ok(result)) => result,
        Ok(Err(err)) => Err(Rejection::BadRequest(format!(
            "the enqueue did not finish: {err}"
        ))),
        Err(_) => Ok(Accepted {
            enqueued: true,
            task_id: Some(id),
            reason: "accepted; the store is slow, the enqueue finishes in the background".into(),
        }),
    }
}

pub(crate) async fn handle_command(
    State(state): State<TriggerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Rejection> {
    let trigger = verified(&state, &headers, &body)?;
    match parse_command(trigger, &body).map_err(Rejection::BadRequest)? {
        SlackAction::Task { task, key } => {
            let title = task.title.clone();
            let accepted =
                enqueue_quickly(&state, NewTask::new(*task).idempotency_key(key)).await?;
            let text = if accepted.enqueued {
                format!("On it: {title}. I will reply here with the pull request.")
            } else {
                "Already on it.".to_string()
            };
            Ok(
                Json(serde_json::json!({ "response_type": "in_channel", "text": text }))
                    .into_response(),
            )
        }
        SlackAction::Ignore(reason) => Ok(Json(
            serde_json::json!({ "response_type": "ephemeral", "text": reason }),
        )
        .into_response()),
        SlackAction::Challenge(_) => Err(Rejection::BadRequest("not a slash command".into())),
    }
}

pub(crate) async fn handle_event(
    State(state): State<TriggerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Rejection> {
    let trigger = verified(&state, &headers, &body)?;
    match parse_event(trigger, &body).map_err(Rejection::BadRequest)? {
        SlackAction::Challenge(challenge) => {
            Ok(Json(serde_json::json!({ "challenge": challenge })).into_response())
        }
        SlackAction::Task { task, key } => Ok(enqueue_quickly(
            &state,
            NewTask::new(*task).idempotency_key(key),
        )
        .await?
        .into_response()),
        SlackAction::Ignore(reason) => Ok(Accepted::ignored(reason).into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger() -> SlackTrigger {
        SlackTrigger {
            signing_secret: "s".into(),
            repo: RepoRef::new("https://github.com/acme/app.git"),
            users: Vec::new(),
            channels: Vec::new(),
        }
    }

    #[test]
    fn a_mention_becomes_a_task_replying_in_its_thread() {
        let body = serde_json::json!({
            "type": "event_callback", "team_id": "T1", "event_id": "Ev9",
            "event": {"type": "app_mention", "text": "<@U0BOT> bump serde please", "user": "U1",
                      "channel": "C7", "ts": "1700000000.000100", "thread_ts": "1699999999.000001"}
        });
        let SlackAction::Task { task, key } =
            parse_event(&trigger(), body.to_string().as_bytes()).unwrap()
        else {
            panic!("expected a task")
        };
        assert_eq!(key, "slack-event:Ev9");
        assert_eq!(task.id.0, "slack:T1/C7/1700000000.000100");
        assert_eq!(task.title, "bump serde please");
        assert_eq!(
            task.source,
            TaskSource::Forge {
                forge: "slack".into(),
                number: "C7/1699999999.000001".into(),
                url: None
            }
        );
        let verify = serde_json::json!({"type": "url_verification", "challenge": "abc"});
        assert_eq!(
            parse_event(&trigger(), verify.to_string().as_bytes()).unwrap(),
            SlackAction::Challenge("abc".into())
        );
    }

    #[test]
    fn a_slash_command_becomes_a_task() {
        let body = b"command=%2Fagent&text=fix+the+flaky+test&team_id=T1&channel_id=C7&user_id=U1&trigger_id=13.45";
        let SlackAction::Task { task, key } = parse_command(&trigger(), body).unwrap() else {
            panic!("expected a task")
        };
        assert_eq!(
            (task.id.0.as_str(), key.as_str()),
            ("slack:T1/13.45", "slack-command:13.45")
        );
        assert_eq!(
            task.body,
            "fix the flaky test\n\n(Asked in Slack by <@U1>.)"
        );
    }

    #[test]
    fn only_the_listed_users_may_ask_and_only_in_the_listed_channels() {
        let narrowed = SlackTrigger {
            users: vec!["U1".into()],
            channels: vec!["C7".into()],
            ..trigger()
        };
        let command = |user: &str, channel: &str| {
            format!(
                "command=%2Fagent&text=deploy+my+branch&team_id=T1&channel_id={channel}\
                 &user_id={user}&trigger_id=13.45"
            )
        };
        let mention = |user: &str, channel: &str| {
            serde_json::json!({
                "type": "event_callback", "team_id": "T1", "event_id": "Ev9",
                "event": {"type": "app_mention", "text": "<@U0BOT> deploy my branch",
                          "user": user, "channel": channel, "ts": "1700000000.000100"}
            })
            .to_string()
        };
        let stranger = SlackAction::Ignore(
            "<@U666> is not one of the users who may ask the agent (triggers.slack.users)".into(),
        );
        let elsewhere = SlackAction::Ignore(
            "the agent takes no requests in <#C9> (triggers.slack.channels)".into(),
        );
        assert_eq!(
            parse_command(&narrowed, command("U666", "C7").as_bytes()).unwrap(),
            stranger
        );
        assert_eq!(
            parse_command(&narrowed, command("U1", "C9").as_bytes()).unwrap(),
            elsewhere
        );
        assert_eq!(
            parse_event(&narrowed, mention("U666", "C7").as_bytes()).unwrap(),
            stranger
        );
        assert_eq!(
            parse_event(&narrowed, mention("U1", "C9").as_bytes()).unwrap(),
            elsewhere
        );
        assert!(matches!(
            parse_command(&narrowed, command("U1", "C7").as_bytes()).unwrap(),
            SlackAction::Task { .. }
        ));
        assert!(matches!(
            parse_event(&narrowed, mention("U1", "C7").as_bytes()).unwrap(),
            SlackAction::Task { .. }
        ));
        // Without lists, anyone anywhere.
        assert!(matches!(
            parse_command(&trigger(), command("U666", "C9").as_bytes()).unwrap(),
            SlackAction::Task { .. }
        ));
    }
}
