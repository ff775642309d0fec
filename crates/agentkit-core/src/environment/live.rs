//! The setup's output while it runs: an [`OutputTap`] that turns a
//! backend's raw chunks into [`Event::SetupOutput`] events of whole lines,
//! bounded, so that a five-minute `pip install` shows its progress in the
//! transcript and the live event stream before it ends.
//!
//! Lines are kept whole (a secret is never split across two events, so
//! the sinks' redaction sees it); a line longer than [`MAX_LINE`] is cut
//! there. After [`MAX_BYTES`] one last event says the rest is left out.

use std::sync::{Arc, Mutex, PoisonError};

use crate::event::{Event, EventBus};
use crate::sandbox::{OutputStream, OutputTap};
use crate::task::TaskId;

/// A line longer than this is sent in pieces of this size.
pub const MAX_LINE: usize = 4 * 1024;
/// At most this many bytes of output are sent as events per setup.
pub const MAX_BYTES: usize = 256 * 1024;

#[derive(Default)]
struct Lines {
    pending: [Vec<u8>; 2],
    sent: usize,
    cut: bool,
}

/// A tap sending the setup's output as [`Event::SetupOutput`] of `task`
/// to `events`. A partial last line is sent when the stream ends with
/// [`flush`](SetupOutput::flush).
#[derive(Clone)]
pub struct SetupOutput {
    events: EventBus,
    task: TaskId,
    state: Arc<Mutex<Lines>>,
}

impl SetupOutput {
    /// Output of `task`'s setup, to `events`.
    pub fn new(events: EventBus, task: TaskId) -> Self {
        Self {
            events,
            task,
            state: Arc::default(),
        }
    }

    /// The tap to put in
    /// [`EnvironmentSpec::setup_output`](super::EnvironmentSpec::setup_output).
    pub fn tap(&self) -> OutputTap {
        let this = self.clone();
        OutputTap::new(move |stream, bytes| this.push(stream, bytes))
    }

    fn push(&self, stream: OutputStream, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let i = index(stream);
        state.pending[i].extend_from_slice(bytes);
        let mut whole = match state.pending[i].iter().rposition(|b| *b == b'\n') {
            Some(end) => state.pending[i].drain(..=end).collect::<Vec<u8>>(),
            None => Vec::new(),
        };
        while state.pending[i].len() >= MAX_LINE {
            whole.extend(state.pending[i].drain(..MAX_LINE));
            whole.push(b'\n');
        }
        self.send(&mut state, stream, whole);
    }

    /// Sends what is left of unfinished lines (call when the setup ended).
    pub fn flush(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for stream in [OutputStream::Stdout, OutputStream::Stderr] {
            let mut rest = std::mem::take(&mut state.pending[index(stream)]);
            if !rest.is_empty() {
                rest.push(b'\n');
                self.send(&mut state, stream, rest);
            }
        }
    }

    fn send(&self, state: &mut Lines, stream: OutputStream, bytes: Vec<u8>) {
        if bytes.is_empty() || state.cut {
            return;
        }
        let room = MAX_BYTES - state.sent;
        let text = if bytes.len() > room {
            state.cut = true;
            let end = bytes[..room]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let mut text = String::from_utf8_lossy(&bytes[..end]).into_owned();
            text.push_str(&format!(
                "[agentkit: the setup's output passed {MAX_BYTES} bytes; the rest is left out here, its end is in the environment report]\n"
            ));
            text
        } else {
            state.sent += bytes.len();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        self.events
            .emit_for(&self.task, Event::SetupOutput { stream, text });
    }
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::MemorySink;

    fn texts(sink: &MemorySink) -> Vec<(OutputStream, String)> {
        sink.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::SetupOutput { stream, text } => Some((stream, text)),
                _ => None,
            })
            .collect()
    }

    /// Live setup output whose events go to the returned sink.
    fn live_output() -> (Arc<MemorySink>, SetupOutput) {
        let sink = Arc::new(MemorySink::default());
        let mut events = EventBus::default();
        events.add(sink.clone());
        (sink, SetupOutput::new(events, TaskId("t".into())))
    }

    #[test]
    fn chunks_become_whole_lines_per_stream_and_the_rest_is_flushed() {
        let (sink, live) = live_output();
        let tap = live.tap();
        tap.send(OutputStream::Stdout, b"Collecting si");
        tap.send(OutputStream::Stderr, b"warn: x\n");
        tap.send(OutputStream::Stdout, b"x\nInstalling\nDone");
        live.flush();
        assert_eq!(
            texts(&sink),
            vec![
                (OutputStream::Stderr, "warn: x\n".to_string()),
                (
                    OutputStream::Stdout,
                    "Collecting six\nInstalling\n".to_string()
                ),
                (OutputStream::Stdout, "Done\n".to_string()),
            ]
        );
    }

    #[test]
    fn output_past_the_bound_is_left_out_with_one_notice() {
        let (sink, live) = live_output();
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..(MAX_BYTES / 1024 + 10) {
            live.tap().send(OutputStream::Stdout, line.as_bytes());
        }
        live.flush();
        let got = texts(&sink);
        let sent: usize = got.iter().map(|(_, t)| t.len()).sum();
        let last = &got.last().unwrap().1;
        assert!(
            last.ends_with("its end is in the environment report]\n"),
            "{last}"
        );
        assert_eq!(got.len(), MAX_BYTES / 1024 + 1);
        assert!(sent <= MAX_BYTES + 200, "{sent}");
    }
}
