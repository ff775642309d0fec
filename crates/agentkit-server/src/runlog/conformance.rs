//! The [`RunLog`] contract as runnable checks, for every backend.
//!
//! Each case is a public `async fn(Arc<dyn RunLog>)` that panics when the log
//! breaks the [contract](super); [`run_log_conformance!`](crate::run_log_conformance)
//! makes one `#[tokio::test]` per case from a factory
//! (`async fn() -> Option<LogUnderTest>`, `None` to skip).
//!
//! ```
//! use agentkit_server::runlog::MemoryRunLog;
//! use agentkit_server::runlog::conformance::LogUnderTest;
//!
//! async fn fresh() -> Option<LogUnderTest> {
//!     Some(LogUnderTest::new(MemoryRunLog::new()))
//! }
//!
//! agentkit_server::run_log_conformance!(fresh);
//! # fn main() {}
//! ```

use std::any::Any;
use std::sync::Arc;

use agentkit_core::event::{Event, EventRecord};
use agentkit_core::task::TaskId;

use super::{LoggedEvent, RunLog};

/// A fresh, empty log for one case, and whatever must live as long as it.
pub struct LogUnderTest {
    /// The log the case runs against (dropped before the guards).
    pub log: Arc<dyn RunLog>,
    keep: Vec<Box<dyn Any + Send + Sync>>,
}

impl LogUnderTest {
    /// Wraps `log`.
    pub fn new(log: impl RunLog + 'static) -> Self {
        Self::shared(Arc::new(log))
    }

    /// Wraps a log that is shared with something else (a store).
    pub fn shared(log: Arc<dyn RunLog>) -> Self {
        Self {
            log,
            keep: Vec::new(),
        }
    }

    /// Keeps `guard` alive until the case ends, dropped after the log.
    pub fn keeping(mut self, guard: impl Any + Send + Sync) -> Self {
        self.keep.push(Box::new(guard));
        self
    }
}

/// Generates one `#[tokio::test]` per run-log conformance case. See the
/// [`conformance`](crate::runlog::conformance) module.
#[macro_export]
macro_rules! run_log_conformance {
    ($factory:path) => {
        $crate::run_log_conformance!(@cases $factory;
            ids_are_per_task_from_one,
            reads_resume_after_an_id_and_stop_at_the_limit,
            events_come_back_whole,
            concurrent_appends_are_atomic_and_leave_no_gap,
            a_large_append_is_stored_whole,
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let subject: ::std::option::Option<$crate::runlog::conformance::LogUnderTest> =
                    $factory().await;
                if let ::std::option::Option::Some(subject) = subject {
                    $crate::runlog::conformance::$case(::std::sync::Arc::clone(&subject.log))
                        .await;
                }
            }
        )*
    };
}

fn id(s: &str) -> TaskId {
    TaskId(s.into())
}

/// An event whose message names it, so reads can be checked whole.
pub fn event(task: &str, message: &str) -> EventRecord {
    EventRecord {
        seq: 0,
        task_id: Some(id(task)),
        at_ms: 1_700_000_000_000,
        event: Event::Nudged {
            message: message.into(),
        },
    }
}

fn messages(events: &[LoggedEvent]) -> Vec<(u64, String)> {
    events
        .iter()
        .map(|e| match &e.record.event {
            Event::Nudged { message } => (e.id, message.clone()),
            other => panic!("unexpected event {other:?}"),
        })
        .collect()
}

fn numbered(items: &[(u64, &str)]) -> Vec<(u64, String)> {
    items.iter().map(|(id, m)| (*id, m.to_string())).collect()
}

/// Ids start at 1 per task and `append` returns the last one.
pub async fn ids_are_per_task_from_one(log: Arc<dyn RunLog>) {
    let (a, b) = (id("a"), id("b"));
    assert_eq!(log.append(&a, &[]).await.unwrap(), 0);
    let first = [event("a", "a1"), event("a", "a2")];
    assert_eq!(log.append(&a, &first).await.unwrap(), 2);
    assert_eq!(log.append(&b, &[event("b", "b1")]).await.unwrap(), 1);
    assert_eq!(log.append(&a, &[event("a", "a3")]).await.unwrap(), 3);
    assert_eq!(log.append(&a, &[]).await.unwrap(), 3);
    let all_a = log.read(&a, 0, 100).await.unwrap();
    assert_eq!(
        messages(&all_a),
        numbered(&[(1, "a1"), (2, "a2"), (3, "a3")])
    );
    let all_b = log.read(&b, 0, 100).await.unwrap();
    assert_eq!(messages(&all_b), numbered(&[(1, "b1")]));
    assert_eq!(log.read(&id("none"), 0, 100).await.unwrap(), vec![]);
}

/// `read(after, limit)` returns what follows `after`, at most `limit`.
pub async fn reads_resume_after_an_id_and_stop_at_the_limit(log: Arc<dyn RunLog>) {
    let t = id("t");
    let events: Vec<_> = (1..=5).map(|i| event("t", &format!("e{i}"))).collect();
    log.append(&t, &events).await.unwrap();
    let page = log.read(&t, 1, 2).await.unwrap();
    assert_eq!(messages(&page), numbered(&[(2, "e2"), (3, "e3")]));
    let rest = log.read(&t, 3, 100).await.unwrap();
    assert_eq!(messages(&rest), numbered(&[(4, "e4"), (5, "e5")]));
    assert_eq!(log.read(&t, 5, 100).await.unwrap(), vec![]);
    assert_eq!(log.read(&t, 0, 0).await.unwrap(), vec![]);
}

/// Every field of an event survives the round trip.
pub async fn events_come_back_whole(log: Arc<dyn RunLog>) {
    let t = id("t");
    let started = EventRecord {
        seq: 41,
        task_id: Some(t.clone()),
        at_ms: 1_733_000_000_123,
        event: Event::RunStarted {
            task_id: t.clone(),
            title: "Fix \"quotes\" and ünïcode \u{1f600}".into(),
            model: "scripted".into(),
            resumed: true,
        },
    };
    let finished_tool = EventRecord {
        seq: 42,
        task_id: None,
        at_ms: 1,
        event: Event::ToolCallFinished {
            call_id: "c1".into(),
            name: "shell".into(),
            is_error: true,
            content: "line 1\nline 2\ttab".into(),
            operator_detail: None,
            duration_ms: u64::from(u32::MAX) + 1,
        },
    };
    let records = vec![started, finished_tool];
    log.append(&t, &records).await.unwrap();
    let back = log.read(&t, 0, 10).await.unwrap();
    let expected: Vec<_> = records
        .into_iter()
        .zip(1..)
        .map(|(record, id)| LoggedEvent { id, record })
        .collect();
    assert_eq!(back, expected);
}

/// Appends racing on one task each get a contiguous block of ids, and the
/// ids have no gap and no duplicate.
pub async fn concurrent_appends_are_atomic_and_leave_no_gap(log: Arc<dyn RunLog>) {
    const WRITERS: usize = 8;
    const BATCHES: usize = 5;
    const BATCH: usize = 4;
    let t = id("t");
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let log = Arc::clone(&log);
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                let batch: Vec<_> = (0..BATCH)
                    .map(|i| event("t", &format!("{w}/{b}/{i}")))
                    .collect();
                log.append(&t, &batch).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let all = messages(&log.read(&t, 0, usize::MAX).await.unwrap());
    let total = WRITERS * BATCHES * BATCH;
    let ids: Vec<u64> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=total as u64).collect::<Vec<_>>());
    // Each block of BATCH ids is one append, in order.
    for block in all.chunks(BATCH) {
        let (writer_batch, _) = block[0].1.rsplit_once('/').unwrap();
        let expected: Vec<String> = (0..BATCH).map(|i| format!("{writer_batch}/{i}")).collect();
        let got: Vec<String> = block.iter().map(|(_, m)| m.clone()).collect();
        assert_eq!(got, expected, "an append was interleaved with another");
    }
}

/// An append of thousands of events is stored whole, in order.
pub async fn a_large_append_is_stored_whole(log: Arc<dyn RunLog>) {
    const N: usize = 2_500;
    let t = id("t");
    let events: Vec<_> = (0..N).map(|i| event("t", &format!("e{i}"))).collect();
    assert_eq!(log.append(&t, &events).await.unwrap(), N as u64);
    let back = messages(&log.read(&t, 0, usize::MAX).await.unwrap());
    let expected: Vec<(u64, String)> = (0..N).map(|i| (i as u64 + 1, format!("e{i}"))).collect();
    assert_eq!(back, expected);
}
