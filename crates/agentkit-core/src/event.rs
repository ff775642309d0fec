//! Events: what happened during a run, for any number of observers.
//!
//! Events only observe (hooks decide). Each is wrapped in an [`EventRecord`]
//! with a sequence number and a timestamp and handed to every [`EventSink`].
//! Built-in sinks: [`TracingSink`] (structured `tracing` events),
//! [`JsonlSink`] (a transcript file, secrets redacted), [`MemorySink`] (tests)
//! and [`FnSink`] (a closure, e.g. for progress printing).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::forge::PullRequest;
use crate::message::ToolCall;
use crate::model::FinishReason;
use crate::outcome::Outcome;
use crate::redact::Redactor;
use crate::task::TaskId;
use crate::usage::{Cost, Usage};
use crate::verify::Verification;

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A run began (or resumed).
    RunStarted {
        /// The task. On the wire it is `task`: an [`EventRecord`] flattens its
        /// event next to its own `task_id`, and one object must not carry a
        /// key twice (the record would not read back).
        #[serde(rename = "task")]
        task_id: TaskId,
        /// The task's title.
        title: String,
        /// The model's name.
        model: String,
        /// Whether this continues a stored run.
        resumed: bool,
    },
    /// No setup was declared and detection recognised the repository's
    /// stacks: the setup it proposes, and whether it was applied (only when
    /// the operator turned auto-setup on).
    SetupProposed {
        /// The stacks found.
        stacks: Vec<crate::environment::Stack>,
        /// The proposed script.
        script: String,
        /// Whether it runs.
        applied: bool,
    },
    /// Output of the setup script while it runs, whole lines (a line
    /// longer than 4 KiB is cut), at most 256 KiB per setup: then one last
    /// event says the rest is left out (its end is in
    /// [`Event::EnvironmentReady`]'s report).
    SetupOutput {
        /// Which stream.
        stream: crate::sandbox::OutputStream,
        /// The lines, each ending in `\n`.
        text: String,
    },
    /// The sandbox's environment was made (or could not be): the setup's
    /// source, whether it started warm, its output, its network, the
    /// toolchains found. Emitted before any model call.
    EnvironmentReady {
        /// What making the environment found.
        report: Box<crate::environment::EnvironmentReport>,
    },
    /// Context was assembled for the system prompt.
    ContextAssembled {
        /// Titles of the items included.
        items: Vec<String>,
        /// Tokens they cost.
        tokens: usize,
        /// What was left out, and why.
        dropped: Vec<String>,
    },
    /// The prompt a new run starts from (system prompt with context, and the
    /// opening user message), for transcripts and debugging.
    PromptPrepared {
        /// The system prompt, context included.
        system: String,
        /// The first user message (the ticket).
        opening: String,
    },
    /// A model call is about to be made.
    ModelCallStarted {
        /// The step number (1-based).
        step: u32,
        /// Messages in the request.
        messages: usize,
    },
    /// A model call returned.
    ModelCallFinished {
        /// The step number.
        step: u32,
        /// The reply's text.
        text: String,
        /// The tool calls the model asked for.
        tool_calls: Vec<ToolCall>,
        /// Tokens used by this call.
        usage: Usage,
        /// What it cost.
        cost: Cost,
        /// Why the model stopped.
        finish_reason: FinishReason,
    },
    /// A tool call is about to run.
    ToolCallStarted {
        /// The call id.
        call_id: String,
        /// The tool.
        name: String,
        /// The arguments as run (after hook rewrites).
        arguments: String,
    },
    /// A tool call ended.
    ToolCallFinished {
        /// The call id.
        call_id: String,
        /// The tool.
        name: String,
        /// Whether it failed.
        is_error: bool,
        /// What the model is shown.
        content: String,
        /// Operator-only detail of a failure.
        operator_detail: Option<String>,
        /// How long it took, in milliseconds.
        duration_ms: u64,
    },
    /// A hook changed the course of the run.
    HookDecision {
        /// Where (`before_tool_call`, ...).
        point: String,
        /// What it decided.
        decision: String,
    },
    /// The model called a tool without saying anything useful, or said
    /// something without calling a tool, and was reminded how to proceed.
    Nudged {
        /// The reminder sent.
        message: String,
    },
    /// Verification started.
    VerificationStarted {
        /// 1-based attempt number.
        attempt: u32,
    },
    /// Verification ended.
    VerificationFinished {
        /// 1-based attempt number.
        attempt: u32,
        /// The result.
        verification: Verification,
    },
    /// The work was published.
    Published {
        /// The pull request.
        pull_request: PullRequest,
    },
    /// Publishing was skipped.
    PublishSkipped {
        /// Why.
        reason: String,
    },
    /// The conversation was compacted to fit the model's window.
    Compacted {
        /// What was done, with the estimated request tokens before and after.
        #[serde(flatten)]
        report: crate::engine::compaction::CompactionReport,
    },
    /// The run state was checkpointed.
    Checkpointed {
        /// The step it was taken after.
        step: u32,
    },
    /// Something an operator should know that does not stop the run (e.g. a
    /// stored checkpoint that could not be used, so the run started afresh).
    Warning {
        /// What happened and what it means.
        message: String,
    },
    /// The run ended.
    RunFinished {
        /// The outcome.
        outcome: Box<Outcome>,
    },
}

/// An event with its place in the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Position in the bus's stream (0-based, strictly increasing; one
    /// agent's bus carries all its runs).
    pub seq: u64,
    /// The task whose run emitted it (absent for events outside a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<TaskId>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// Observes events. Sinks must be cheap and must not fail the run: a sink
/// that cannot write logs a warning and drops the event.
pub trait EventSink: Send + Sync {
    /// Receives one event.
    fn emit(&self, record: &EventRecord);

    /// For a sink that stores events behind the run's back (a writer task,
    /// a queue): resolves once every event it was given so far is stored.
    /// A run awaits this before each checkpoint, so whoever resumes from a
    /// checkpoint finds the transcript whole up to it. `None`, the default:
    /// the sink holds nothing back.
    fn flushed(&self) -> Option<BoxFuture<'_, ()>> {
        None
    }
}

/// Fans events out to sinks, numbering them.
#[derive(Clone, Default)]
pub struct EventBus {
    sinks: Vec<Arc<dyn EventSink>>,
    seq: Arc<AtomicU64>,
}

impl EventBus {
    /// A bus with no sinks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sink.
    pub fn add(&mut self, sink: Arc<dyn EventSink>) {
        self.sinks.push(sink);
    }

    /// Sends `event`, not tied to a run, to every sink.
    pub fn emit(&self, event: Event) {
        self.send(None, event);
    }

    /// Sends `event` from the run of `task` to every sink.
    pub fn emit_for(&self, task: &TaskId, event: Event) {
        self.send(Some(task.clone()), event);
    }

    fn send(&self, task_id: Option<TaskId>, event: Event) {
        let record = EventRecord {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            at_ms: now_ms(),
            task_id,
            event,
        };
        for sink in &self.sinks {
            sink.emit(&record);
        }
    }

    /// Waits until every sink has stored the events it was given
    /// ([`EventSink::flushed`]).
    pub async fn flush(&self) {
        let pending: Vec<_> = self.sinks.iter().filter_map(|s| s.flushed()).collect();
        futures::future::join_all(pending).await;
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Emits each event as a `tracing` event at INFO (DEBUG for chatty ones),
/// with `gen_ai.*` attributes where they apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl EventSink for TracingSink {
    fn emit(&self, record: &EventRecord) {
        match &record.event {
            Event::ModelCallFinished {
                step,
                usage,
                finish_reason,
                tool_calls,
                ..
            } => tracing::info!(
                target: "agentkit::event",
                step,
                gen_ai.usage.input_tokens = usage.input_tokens,
                gen_ai.usage.output_tokens = usage.output_tokens,
                gen_ai.response.finish_reasons = finish_reason.as_str(),
                tool_calls = tool_calls.len(),
                "model call finished"
            ),
            Event::ToolCallFinished {
                call_id,
                name: tool_name,
                is_error,
                duration_ms,
                ..
            } => tracing::info!(
                target: "agentkit::event",
                is_error,
                duration_ms,
                gen_ai.tool.call.id = %call_id,
                "gen_ai.tool.name" = %tool_name,
                "tool call finished"
            ),
            Event::RunFinished { outcome } => tracing::info!(
                target: "agentkit::event",
                task_id = %outcome.task_id,
                stop_reason = %outcome.stop_reason,
                steps = outcome.steps,
                gen_ai.usage.input_tokens = outcome.usage.input_tokens,
                gen_ai.usage.output_tokens = outcome.usage.output_tokens,
                cost_usd = outcome.cost.usd,
                "run finished"
            ),
            other => {
                let json = serde_json::to_string(other).unwrap_or_default();
                tracing::debug!(target: "agentkit::event", event = %json, "event");
            }
        }
    }
}

/// Writes one JSON object per line, secrets redacted, flushed per event.
pub struct JsonlSink {
    writer: Mutex<Box<dyn Write + Send>>,
    redactor: Redactor,
}

impl JsonlSink {
    /// Writes to `writer`.
    pub fn new(writer: impl Write + Send + 'static, redactor: Redactor) -> Self {
        Self {
            writer: Mutex::new(Box::new(writer)),
            redactor,
        }
    }

    /// Creates (or truncates) the file at `path`, creating parent directories.
    pub fn create(path: &Path, redactor: Redactor) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::File::create(path)?;
        Ok(Self::new(std::io::BufWriter::new(file), redactor))
    }
}

impl EventSink for JsonlSink {
    fn emit(&self, record: &EventRecord) {
        let line = match serde_json::to_string(record) {
            Ok(line) => line,
            Err(err) => {
                tracing::warn!(error = %err, "could not serialize an event for the transcript");
                return;
            }
        };
        let line = self.redactor.redact(&line);
        let Ok(mut writer) = self.writer.lock() else {
            return;
        };
        if let Err(err) = writeln!(writer, "{line}").and_then(|_| writer.flush()) {
            tracing::warn!(error = %err, "could not write the transcript");
        }
    }
}

/// Keeps every event in memory.
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<EventRecord>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events received so far.
    pub fn events(&self) -> Vec<Event> {
        self.records()
            .into_iter()
            .map(|record| record.event)
            .collect()
    }

    /// A copy of the records received so far.
    pub fn records(&self) -> Vec<EventRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl EventSink for MemorySink {
    fn emit(&self, record: &EventRecord) {
        if let Ok(mut records) = self.records.lock() {
            records.push(record.clone());
        }
    }
}

/// Calls a closure for every event.
pub struct FnSink<F>(pub F);

impl<F: Fn(&EventRecord) + Send + Sync> EventSink for FnSink<F> {
    fn emit(&self, record: &EventRecord) {
        (self.0)(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A `Write` that appends to a shared buffer.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn jsonl_transcript_numbers_events_one_per_line_and_redacts_secrets() {
        let buffer = Shared::default();
        let mut bus = EventBus::new();
        bus.add(Arc::new(JsonlSink::new(
            buffer.clone(),
            Redactor::new().with_secret("s3cr3t-token-value"),
        )));
        bus.emit_for(
            &TaskId("T-9".into()),
            Event::Nudged {
                message: "the key is s3cr3t-token-value".into(),
            },
        );
        bus.emit(Event::PublishSkipped {
            reason: "no changes".into(),
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["seq"], 0);
        assert_eq!(lines[0]["type"], "nudged");
        assert_eq!(lines[0]["task_id"], "T-9");
        assert!(lines[1].get("task_id").is_none());
        assert_eq!(lines[0]["message"], "the key is [REDACTED]");
        assert_eq!(lines[1]["seq"], 1);
        assert_eq!(lines[1]["reason"], "no changes");
        assert!(!text.contains("s3cr3t"));
    }

    #[test]
    fn a_run_started_record_reads_back_from_its_json() {
        let record = EventRecord {
            seq: 3,
            task_id: Some(TaskId("T-1".into())),
            at_ms: 1_733_000_000_000,
            event: Event::RunStarted {
                task_id: TaskId("T-1".into()),
                title: "Fix it".into(),
                model: "scripted".into(),
                resumed: true,
            },
        };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            json,
            r#"{"seq":3,"task_id":"T-1","at_ms":1733000000000,"type":"run_started","task":"T-1","title":"Fix it","model":"scripted","resumed":true}"#
        );
        let back: EventRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
    }
}
