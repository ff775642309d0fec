//! Live events over SSE: replay, live, and resuming with `Last-Event-ID`
//! without a gap or a duplicate.

use std::time::Duration;

use agentkit_core::task::TaskId;
use agentkit_server::daemon::workers::LiveEvent;
use futures::StreamExt;

use crate::support::{Served, nudge, serve};

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// A reader of an SSE response, one frame at a time (comments skipped).
pub struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    pub async fn open(s: &Served, task: &str, last_event_id: Option<u64>) -> Self {
        let mut request = s.client.get(s.url(&format!("/api/tasks/{task}/events")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next frame, or `None` when the stream ends; panics after 10 s.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        frame.id = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        frame.event = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        frame.data.push_str(v.trim_start());
                        any = true;
                    }
                }
                if any {
                    return Some(frame);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("no server-sent event within 10 s")?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }

    /// The ids of the next `n` frames.
    pub async fn ids(&mut self, n: usize) -> Vec<u64> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let frame = self.next().await.expect("stream ended early");
            ids.push(frame.id.expect("an event without id").parse().unwrap());
        }
        ids
    }
}

/// What the pool's event writer does with an event: append it to the log,
/// then broadcast it under its log id.
async fn emit(s: &Served, task: &str, n: u64) {
    let id = TaskId(task.into());
    let last = s.log.append(&id, &[nudge(task, n)]).await.unwrap();
    let event = s.log.read(&id, last - 1, 1).await.unwrap().remove(0);
    let _ = s.live.send(LiveEvent { task: id, event });
}

fn message(frame: &Frame) -> String {
    let value: serde_json::Value = serde_json::from_str(&frame.data).unwrap();
    value["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_reconnecting_client_misses_nothing_and_sees_nothing_twice() {
    let s = serve().await;
    s.enqueue("E-1", "/r").await;
    let task = TaskId("E-1".into());
    for n in 1..=3 {
        emit(&s, "E-1", n).await;
    }

    // Replay from the start, then live.
    let mut first = SseReader::open(&s, "E-1", None).await;
    let frame = first.next().await.unwrap();
    assert_eq!(
        (frame.id.as_deref(), message(&frame).as_str()),
        (Some("1"), "m1")
    );
    assert_eq!(first.ids(2).await, vec![2, 3]);
    for n in 4..=5 {
        emit(&s, "E-1", n).await;
    }
    assert_eq!(first.ids(2).await, vec![4, 5]);
    drop(first);

    // Events while disconnected, then events racing the reconnect.
    for n in 6..=8 {
        emit(&s, "E-1", n).await;
    }
    let s = std::sync::Arc::new(s);
    let emitter = {
        let s = s.clone();
        tokio::spawn(async move {
            for n in 9..=30 {
                emit(&s, "E-1", n).await;
                tokio::task::yield_now().await;
            }
        })
    };
    let mut second = SseReader::open(&s, "E-1", Some(5)).await;
    let ids = second.ids(25).await;
    assert_eq!(ids, (6..=30).collect::<Vec<u64>>());
    emitter.await.unwrap();

    // The task ends: the stream drains and says so, without an id.
    s.store.cancel(&task).await.unwrap();
    let end = second.next().await.unwrap();
    assert_eq!(
        end,
        Frame {
            id: None,
            event: Some("end".into()),
            data: r#"{"state":"cancelled"}"#.into()
        }
    );
    assert_eq!(second.next().await, None);
}

#[tokio::test]
async fn a_lagging_subscription_is_filled_from_the_log() {
    let s = serve().await;
    s.enqueue("L-1", "/r").await;
    let task = TaskId("L-1".into());
    let mut reader = SseReader::open(&s, "L-1", None).await;
    // Ids 1..=3 reach the log, but only 3 is broadcast (as if 1 and 2 were lost to lag).
    s.log
        .append(&task, &[nudge("L-1", 1), nudge("L-1", 2), nudge("L-1", 3)])
        .await
        .unwrap();
    let event = s.log.read(&task, 2, 1).await.unwrap().remove(0);
    s.live
        .send(agentkit_server::daemon::workers::LiveEvent {
            task: task.clone(),
            event,
        })
        .unwrap();
    assert_eq!(reader.ids(3).await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_bad_last_event_id_is_refused_naming_the_header() {
    let s = serve().await;
    s.enqueue("B-1", "/r").await;
    let response = s
        .client
        .get(s.url("/api/tasks/B-1/events"))
        .header("Last-Event-ID", "seven")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "Last-Event-ID");
    assert_eq!(s.get("/api/tasks/none/events").await.0, 404);
}
