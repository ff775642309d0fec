//! [`LogSink`]: a run's events into the run log, in order, then to live
//! subscribers with their log ids.

use std::sync::Arc;

use agentkit_core::event::{EventRecord, EventSink};
use agentkit_core::redact::Redactor;
use agentkit_core::task::TaskId;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::workers::LiveEvent;
use crate::runlog::{LoggedEvent, RunLog};

enum Message {
    Event(Box<EventRecord>),
    Flush(oneshot::Sender<()>),
}

/// An [`EventSink`] for one run: events are redacted, appended to the
/// [`RunLog`] in emission order (batched), and only then broadcast as
/// [`LiveEvent`]s carrying their log ids. [`flush`](Self::flush) waits until
/// everything emitted so far is stored.
pub struct LogSink {
    tx: mpsc::UnboundedSender<Message>,
}

impl LogSink {
    /// A sink for `task`'s run; needs a tokio runtime.
    pub fn start(
        task: TaskId,
        log: Arc<dyn RunLog>,
        live: broadcast::Sender<LiveEvent>,
        redactor: Redactor,
    ) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(task, log, live, redactor, rx));
        Arc::new(Self { tx })
    }

    /// Waits until every event emitted before the call is in the log.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

impl EventSink for LogSink {
    fn emit(&self, record: &EventRecord) {
        // The writer only stops when every sender is gone, so this cannot fail.
        let _ = self.tx.send(Message::Event(Box::new(record.clone())));
    }
}

/// `record` with secrets redacted from every string in it.
pub fn redact_record(redactor: &Redactor, record: EventRecord) -> EventRecord {
    let Ok(json) = serde_json::to_string(&record) else {
        return record;
    };
    match redactor.redact(&json) {
        std::borrow::Cow::Borrowed(_) => record,
        std::borrow::Cow::Owned(clean) => serde_json::from_str(&clean).unwrap_or(record),
    }
}

async fn write(
    task: TaskId,
    log: Arc<dyn RunLog>,
    live: broadcast::Sender<LiveEvent>,
    redactor: Redactor,
    mut rx: mpsc::UnboundedReceiver<Message>,
) {
    let mut batch = Vec::new();
    let mut waiting = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Event(record) => batch.push(redact_record(&redactor, *record)),
                Message::Flush(done) => waiting.push(done),
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            match log.append(&task, &batch).await {
                Ok(last) => {
                    let first_id = last + 1 - batch.len() as u64;
                    for (record, id) in batch.drain(..).zip(first_id..) {
                        let event = LoggedEvent { id, record };
                        let _ = live.send(LiveEvent {
                            task: task.clone(),
                            event,
                        });
                    }
                }
                Err(err) => {
                    tracing::warn!(task = %task, error = %err, dropped = batch.len(),
                        "could not append events to the run log; they are lost");
                    batch.clear();
                }
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}
