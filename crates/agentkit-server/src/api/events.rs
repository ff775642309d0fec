//! `GET /api/tasks/{id}/events`: a task's run log as server-sent events.
//!
//! # The resume rule
//!
//! Each SSE event is one run-log entry: `id:` is its [`RunLog`] id, `data:`
//! the event record as JSON. A client that reconnects sends the last id it
//! saw as `Last-Event-ID` (browsers do this themselves; `?after=N` does the
//! same for clients that cannot set headers) and gets exactly the entries
//! after it: none missed, none twice. To get there without a gap between the
//! stored past and the live present, the stream
//!
//! 1. subscribes to the live broadcast **first**,
//! 2. then replays the log after the client's id, page by page,
//! 3. then forwards live events, dropping those whose id it already sent;
//!    when a live event's id jumps past the next expected one (the
//!    subscription lagged), it reads the missing ids from the log.
//!
//! Every event is appended to the log before it is broadcast, so step 2 sees
//! everything step 1 might have missed. When the task is in a final state
//! and the log is drained, an `event: end` (no id, `data: {"state": …}`) is
//! sent and the stream closes. Comments keep idle connections alive every
//! 15 seconds.
//!
//! [`RunLog`]: crate::runlog::RunLog

use std::convert::Infallible;
use std::time::Duration;

use agentkit_core::task::TaskId;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use super::ApiError;
use super::tasks::{PAGE, record};
use crate::daemon::Services;
use crate::daemon::workers::LiveEvent;
use crate::runlog::LoggedEvent;

/// How often the stream checks whether the task has ended.
const END_CHECK: Duration = Duration::from_millis(500);
/// How often idle connections get a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `?after=N`: resume after id N (like `Last-Event-ID`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct EventsQuery {
    after: Option<u64>,
}

/// The id to resume after: `Last-Event-ID`, else `?after`, else 0.
fn resume_after(headers: &HeaderMap, query: &EventsQuery) -> Result<u64, ApiError> {
    match headers.get("last-event-id") {
        Some(value) => {
            let text = value.to_str().unwrap_or("").trim();
            if text.is_empty() {
                return Ok(0);
            }
            text.parse().map_err(|_| {
                ApiError::bad_field(
                    "Last-Event-ID",
                    format!("`{text}` is not an event id (a whole number)"),
                )
            })
        }
        None => Ok(query.after.unwrap_or(0)),
    }
}

pub(super) async fn stream(
    State(services): State<Services>,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = resume_after(&headers, &query)?;
    let task = record(&services, &id).await?.task.id;
    let live = services.workers.subscribe();
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(pump(services, task, after, live, tx));
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn sse_event(logged: &LoggedEvent) -> Event {
    let data = serde_json::to_string(&logged.record).unwrap_or_else(|err| {
        format!(
            r#"{{"type":"unencodable","error":"{}"}}"#,
            err.to_string().replace('"', "'")
        )
    });
    Event::default().id(logged.id.to_string()).data(data)
}

/// The stream's state: the last id sent.
struct Pump {
    services: Services,
    task: TaskId,
    last: u64,
    tx: mpsc::Sender<Event>,
}

impl Pump {
    /// Sends every logged event after `last`. `Err` when the client left or
    /// the log failed.
    async fn catch_up(&mut self) -> Result<(), ()> {
        loop {
            let page = match self.services.log.read(&self.task, self.last, PAGE).await {
                Ok(page) => page,
                Err(err) => {
                    tracing::warn!(task = %self.task, error = %err, "event stream: the run log failed");
                    return Err(());
                }
            };
            if page.is_empty() {
                return Ok(());
            }
            for logged in &page {
                self.send(logged).await?;
            }
        }
    }

    async fn send(&mut self, logged: &LoggedEvent) -> Result<(), ()> {
        self.tx.send(sse_event(logged)).await.map_err(|_| ())?;
        self.last = logged.id;
        Ok(())
    }

    async fn on_live(&mut self, live: LiveEvent) -> Result<(), ()> {
        if live.task != self.task || live.event.id <= self.last {
            return Ok(());
        }
        if live.event.id == self.last + 1 {
            self.send(&live.event).await
        } else {
            self.catch_up().await
        }
    }

    /// Whether the task is final (then the log is drained and `end` sent).
    async fn ended(&mut self) -> Result<bool, ()> {
        let state = match self.services.store.get(&self.task).await {
            Ok(Some(record)) if record.state.is_terminal() => record.state,
            _ => return Ok(false),
        };
        self.catch_up().await?;
        let end = Event::default()
            .event("end")
            .data(serde_json::json!({ "state": state }).to_string());
        let _ = self.tx.send(end).await;
        Ok(true)
    }
}

async fn pump(
    services: Services,
    task: TaskId,
    after: u64,
    mut live: broadcast::Receiver<LiveEvent>,
    tx: mpsc::Sender<Event>,
) {
    let mut pump = Pump {
        services,
        task,
        last: after,
        tx,
    };
    if pump.catch_up().await.is_err() {
        return;
    }
    let mut check = tokio::time::interval(END_CHECK);
    let client = pump.tx.clone();
    let stopping = pump.services.stopping.clone();
    loop {
        let step = tokio::select! {
            message = live.recv() => match message {
                Ok(event) => pump.on_live(event).await,
                Err(broadcast::error::RecvError::Lagged(_)) => pump.catch_up().await,
                Err(broadcast::error::RecvError::Closed) => Err(()),
            },
            _ = check.tick() => match pump.ended().await {
                Ok(true) => Err(()),
                other => other.map(|_| ()),
            },
            _ = client.closed() => Err(()),
            _ = stopping.cancelled() => Err(()),
        };
        if step.is_err() {
            return;
        }
    }
}
