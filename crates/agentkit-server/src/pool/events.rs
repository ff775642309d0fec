//! Sessions' events on their way to the [`RunLog`] and live subscribers.
//!
//! A session's [`SessionSink`] is synchronous and cheap: it clones the record
//! into an unbounded channel and returns, so a run never waits for the log.
//! One writer task per pool drains the channel in order, redacts each event
//! with the pool's [`Redactor`], appends them to the log in batches (one
//! `append` per task per batch; ids come back from the log) and only then
//! broadcasts them as [`LiveEvent`]s, so a live subscriber never sees an event
//! the log could not give back after a reconnect.
//!
//! A log that fails is retried with a growing pause (up to 5 s), the batch
//! held: events wait, they are not dropped. [`EventWriter::close`] sends a
//! close marker behind everything already emitted and waits for the writer
//! to get there; only a log still failing when the caller's deadline passes
//! loses events, and the writer logs how many. [`SessionSink::flush`] waits
//! the same way for one session's events; it is the sink's [`EventSink::flushed`],
//! which the agent awaits before each checkpoint: a checkpoint is stored
//! only once every event emitted before it is in the log, so a run resumed
//! after a crash never has a hole in its transcript before the checkpoint.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::CancellationToken;
use agentkit_core::event::{Event, EventRecord, EventSink};
use agentkit_core::redact::Redactor;
use agentkit_core::task::TaskId;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::LiveEvent;
use crate::runlog::{LoggedEvent, RunLog};

/// The most events appended in one batch.
const MAX_BATCH: usize = 512;

enum Message {
    Event(TaskId, Box<EventRecord>),
    /// Answered once every event sent before it is appended (or given up).
    Flush(oneshot::Sender<()>),
    Close,
}

/// The [`EventSink`] one session's agent emits to.
pub(super) struct SessionSink {
    task: TaskId,
    tx: mpsc::UnboundedSender<Message>,
}

impl EventSink for SessionSink {
    fn emit(&self, record: &EventRecord) {
        let task = record.task_id.clone().unwrap_or_else(|| self.task.clone());
        if self
            .tx
            .send(Message::Event(task, Box::new(record.clone())))
            .is_err()
        {
            tracing::warn!(task = %self.task, "the pool's event writer has stopped; event dropped");
        }
    }

    /// A checkpoint is saved only once every event the session emitted
    /// before it is in the run log (or [`FLUSH_LIMIT`] passed).
    fn flushed(&self) -> Option<Pin<Box<dyn Future<Output = ()> + Send + '_>>> {
        Some(Box::pin(self.flush(FLUSH_LIMIT)))
    }
}

/// The longest a checkpoint waits for the run log to take the events before
/// it (a failing log must not stall the run).
const FLUSH_LIMIT: Duration = Duration::from_secs(10);

impl SessionSink {
    /// Waits until every event emitted through the pool's writer before
    /// this call is in the log, or `limit` passes (a log that keeps failing
    /// must not stall the run; the writer keeps the events and retries).
    pub(super) async fn flush(&self, limit: Duration) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).is_err() {
            return;
        }
        if tokio::time::timeout(limit, flushed).await.is_err() {
            tracing::warn!(
                task = %self.task,
                "the run log is behind; checkpointing before this session's events are stored"
            );
        }
    }
}

/// The pool's side of the writer task.
pub(super) struct EventWriter {
    tx: mpsc::UnboundedSender<Message>,
    give_up: CancellationToken,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl EventWriter {
    /// Starts the writer task.
    pub(super) fn start(
        log: Arc<dyn RunLog>,
        redactor: Redactor,
        live: broadcast::Sender<LiveEvent>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let give_up = CancellationToken::new();
        let task = tokio::spawn(write(rx, log, redactor, live, give_up.clone()));
        Self {
            tx,
            give_up,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// A sink for the session running `task`.
    pub(super) fn sink(&self, task: TaskId) -> SessionSink {
        SessionSink {
            task,
            tx: self.tx.clone(),
        }
    }

    /// Waits until every event emitted before this call is in the log, or
    /// until `deadline` (then what is left is dropped, and counted in a log
    /// line).
    pub(super) async fn close(&self, deadline: tokio::time::Instant) {
        let _ = self.tx.send(Message::Close);
        let Some(mut task) = self.task.lock().ok().and_then(|mut t| t.take()) else {
            return;
        };
        tokio::select! {
            _ = &mut task => return,
            _ = tokio::time::sleep_until(deadline) => {}
        }
        self.give_up.cancel();
        let _ = task.await;
    }
}

async fn write(
    mut rx: mpsc::UnboundedReceiver<Message>,
    log: Arc<dyn RunLog>,
    redactor: Redactor,
    live: broadcast::Sender<LiveEvent>,
    give_up: CancellationToken,
) {
    let mut closing = false;
    while !closing {
        let Some(first) = rx.recv().await else { break };
        let mut batch: Vec<(TaskId, EventRecord)> = Vec::new();
        let mut flushed = None;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(task, record) => batch.push((task, redact(&redactor, *record))),
                Message::Flush(done) => {
                    flushed = Some(done);
                    break;
                }
                Message::Close => {
                    closing = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        for (task, records) in by_task(batch) {
            if !append(log.as_ref(), &task, &records, &live, &give_up).await {
                tracing::error!(
                    task = %task,
                    lost = records.len(),
                    "the run log kept failing until shutdown; these events were not stored"
                );
            }
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}

/// Groups a batch by task, keeping each task's order.
fn by_task(batch: Vec<(TaskId, EventRecord)>) -> Vec<(TaskId, Vec<EventRecord>)> {
    let mut groups: Vec<(TaskId, Vec<EventRecord>)> = Vec::new();
    for (task, record) in batch {
        match groups.iter_mut().find(|(t, _)| *t == task) {
            Some((_, records)) => records.push(record),
            None => groups.push((task, vec![record])),
        }
    }
    groups
}

/// Appends until it works (returns true) or `give_up` fires (false); then
/// broadcasts the stored events with their ids.
async fn append(
    log: &dyn RunLog,
    task: &TaskId,
    records: &[EventRecord],
    live: &broadcast::Sender<LiveEvent>,
    give_up: &CancellationToken,
) -> bool {
    let mut pause = Duration::from_millis(50);
    let last = loop {
        match log.append(task, records).await {
            Ok(last) => break last,
            Err(err) => {
                tracing::warn!(task = %task, error = %err, "appending events to the run log failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = give_up.cancelled() => return false,
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    };
    let first = last + 1 - records.len() as u64;
    for (id, record) in (first..).zip(records) {
        // No subscriber is not an error.
        let _ = live.send(LiveEvent {
            task: task.clone(),
            event: LoggedEvent {
                id,
                record: record.clone(),
            },
        });
    }
    true
}

/// `record` with secrets replaced in every string it holds.
fn redact(redactor: &Redactor, record: EventRecord) -> EventRecord {
    let Ok(json) = serde_json::to_string(&record) else {
        return record;
    };
    let redacted = redactor.redact(&json);
    if matches!(redacted, std::borrow::Cow::Borrowed(_)) {
        return record;
    }
    match serde_json::from_str(&redacted) {
        Ok(clean) => clean,
        // A configured secret containing JSON syntax can break the text; keep
        // the event's place and say what it was, without its content.
        Err(_) => EventRecord {
            event: Event::Warning {
                message: "an event held a secret and could not be stored redacted; it was \
                          replaced by this notice"
                    .into(),
            },
            ..record
        },
    }
}
