//! Events and checkpoints of a run: every event names its task, and a
//! checkpoint is saved only after the events before it are stored.

mod common;

use std::sync::Arc;

use agentkit_core::checkpoint::{Checkpoint, MemoryCheckpoint};
use agentkit_core::prelude::*;
use common::*;

#[tokio::test]
async fn every_event_of_a_run_names_its_task() {
    let sink = Arc::new(MemorySink::new());
    let agent = agent(script(
        r#"[{"tool_calls":[{"name":"echo","arguments":{"text":"a"}}]},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"ok"}}]}]"#,
    ))
    .shared_sink(sink.clone())
    .build();
    run_once(agent).await;
    let records = sink.records();
    assert!(records.len() > 5);
    assert!(records.iter().all(|r| r.task_id == Some(task().id)));
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..records.len() as u64).collect::<Vec<_>>());
}

/// A sink that stores events only when asked to flush (like a run log's
/// writer task), and a checkpoint store that notes, at each save, how many
/// events the sink had been given and how many it had stored.
mod flushing {
    use std::sync::Mutex;

    use agentkit_core::checkpoint::CheckpointError;
    use agentkit_core::event::{EventRecord, EventSink};
    use futures::future::BoxFuture;

    use super::*;

    #[derive(Default)]
    pub struct LaggingSink {
        given: Mutex<usize>,
        stored: Mutex<usize>,
    }

    impl LaggingSink {
        pub fn counts(&self) -> (usize, usize) {
            (*self.given.lock().unwrap(), *self.stored.lock().unwrap())
        }
    }

    impl EventSink for LaggingSink {
        fn emit(&self, _record: &EventRecord) {
            *self.given.lock().unwrap() += 1;
        }

        fn flushed(&self) -> Option<BoxFuture<'_, ()>> {
            Some(Box::pin(async move {
                tokio::task::yield_now().await;
                let given = *self.given.lock().unwrap();
                *self.stored.lock().unwrap() = given;
            }))
        }
    }

    pub struct NotingCheckpoint {
        pub sink: Arc<LaggingSink>,
        pub inner: MemoryCheckpoint,
        pub seen: Mutex<Vec<(usize, usize)>>,
    }

    #[async_trait::async_trait]
    impl Checkpoint for NotingCheckpoint {
        async fn save(&self, state: &RunState) -> Result<(), CheckpointError> {
            self.seen.lock().unwrap().push(self.sink.counts());
            self.inner.save(state).await
        }

        async fn load(&self, task: &TaskId) -> Result<Option<RunState>, CheckpointError> {
            self.inner.load(task).await
        }
    }
}

#[tokio::test]
async fn every_checkpoint_waits_for_the_events_before_it_to_be_stored() {
    let sink = Arc::new(flushing::LaggingSink::default());
    let store = Arc::new(flushing::NotingCheckpoint {
        sink: sink.clone(),
        inner: MemoryCheckpoint::new(),
        seen: Default::default(),
    });
    let agent = agent(script(&repeat(ECHO_FOREVER, 3)))
        .checkpoint(store.clone())
        .shared_sink(sink.clone())
        .build();
    run_once(agent).await;
    let seen = store.seen.lock().unwrap().clone();
    assert!(seen.len() >= 3, "{seen:?}");
    for (given, stored) in &seen {
        assert_eq!(
            stored, given,
            "a checkpoint was saved before its events: {seen:?}"
        );
    }
}
