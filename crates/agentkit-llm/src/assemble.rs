//! Assembling streamed tool calls.
//!
//! Providers stream a tool call as a start (id and name) and argument
//! fragments, keyed by a position or an item id, sometimes repeating the id
//! and name on every chunk, sometimes sending the whole arguments at once.
//! [`ToolCallAssembler`] turns any of those into well-ordered
//! `ToolCallStart` / `ToolCallDelta` / `ToolCallEnd` events with dense
//! indexes.
//!
//! Arguments are passed on exactly as the model wrote them. A call whose
//! arguments are not a JSON object is *not* repaired or replaced with `{}`:
//! the engine parses them strictly and tells the model what was wrong, so it
//! can correct itself. A call with no argument text at all is passed on with
//! none; [`ResponseFolder`](agentkit_core::model::ResponseFolder) reads that
//! as `{}` (a tool without parameters) unless the reply was cut off by the
//! output limit, which only the end of the reply tells.

use std::collections::HashMap;

use agentkit_core::model::StreamEvent;

/// One call being assembled.
#[derive(Debug)]
struct Slot {
    index: usize,
    ended: bool,
}

/// Assembles streamed tool calls keyed by the provider's key (a position,
/// an item id, a content-block index...).
#[derive(Debug, Default)]
pub struct ToolCallAssembler {
    slots: HashMap<String, Slot>,
    order: Vec<String>,
}

impl ToolCallAssembler {
    /// A fresh assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a call with `key` has started.
    pub fn has(&self, key: &str) -> bool {
        self.slots.contains_key(key)
    }

    /// How many calls have started.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no call has started.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Starts call `key` (a repeated start for the same key is ignored).
    pub fn start(&mut self, key: &str, id: &str, name: &str) -> Vec<StreamEvent> {
        if self.slots.contains_key(key) {
            return Vec::new();
        }
        let index = self.order.len();
        self.slots.insert(
            key.to_owned(),
            Slot {
                index,
                ended: false,
            },
        );
        self.order.push(key.to_owned());
        vec![StreamEvent::ToolCallStart {
            index,
            id: id.to_owned(),
            name: name.to_owned(),
        }]
    }

    /// More argument text for call `key`. Fragments for an unknown or ended
    /// call are dropped (and logged): they cannot be attributed.
    pub fn delta(&mut self, key: &str, fragment: &str) -> Vec<StreamEvent> {
        if fragment.is_empty() {
            return Vec::new();
        }
        match self.slots.get_mut(key) {
            Some(slot) if !slot.ended => {
                vec![StreamEvent::ToolCallDelta {
                    index: slot.index,
                    arguments: fragment.to_owned(),
                }]
            }
            _ => {
                tracing::warn!(
                    key,
                    "dropping tool-call argument text for a call that is not open"
                );
                Vec::new()
            }
        }
    }

    /// Ends call `key`.
    pub fn end(&mut self, key: &str) -> Vec<StreamEvent> {
        let Some(slot) = self.slots.get_mut(key) else {
            return Vec::new();
        };
        if slot.ended {
            return Vec::new();
        }
        slot.ended = true;
        vec![StreamEvent::ToolCallEnd { index: slot.index }]
    }

    /// Ends every open call, in start order.
    pub fn end_all(&mut self) -> Vec<StreamEvent> {
        let keys = self.order.clone();
        keys.iter().flat_map(|k| self.end(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentkit_core::model::{FinishReason, ResponseFolder};

    #[test]
    fn interleaved_calls_keep_their_arguments_apart_and_get_dense_indexes() {
        let mut a = ToolCallAssembler::new();
        let mut events = Vec::new();
        events.extend(a.start("7", "call_a", "read_file"));
        events.extend(a.start("9", "call_b", "grep"));
        events.extend(a.start("7", "call_a", "read_file"));
        events.extend(a.delta("7", "{\"path\""));
        events.extend(a.delta("9", "{\"pattern\":\"x\"}"));
        events.extend(a.delta("7", ":\"a\"}"));
        events.extend(a.end_all());
        let mut folder = ResponseFolder::default();
        events.into_iter().for_each(|e| folder.push(e));
        let calls: Vec<_> = folder
            .finish()
            .unwrap()
            .message
            .tool_calls()
            .cloned()
            .collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].arguments, "{\"path\":\"a\"}");
        assert_eq!(calls[1].arguments, "{\"pattern\":\"x\"}");
    }

    #[test]
    fn truncated_arguments_are_passed_on_as_written_never_as_empty_object() {
        let mut a = ToolCallAssembler::new();
        a.start("0", "c", "write_file");
        let mut events = a.delta("0", "{\"path\": \"a.rs\", \"content\": \"fn ma");
        events.extend(a.end("0"));
        let args: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallDelta { arguments, .. } => Some(arguments.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(args, "{\"path\": \"a.rs\", \"content\": \"fn ma");
    }

    #[test]
    fn a_call_without_argument_text_is_read_as_empty_object_unless_cut_off() {
        let fold = |reason: FinishReason| {
            let mut a = ToolCallAssembler::new();
            let mut events = a.start("0", "c", "git_diff");
            events.extend(a.end("0"));
            assert!(a.end("0").is_empty(), "a second end is ignored");
            assert!(
                a.delta("0", "x").is_empty(),
                "text after the end is dropped"
            );
            events.push(StreamEvent::Finish { reason });
            let mut folder = ResponseFolder::default();
            events.into_iter().for_each(|e| folder.push(e));
            let reply = folder.finish().unwrap();
            reply.message.tool_calls().next().unwrap().arguments.clone()
        };
        assert_eq!(fold(FinishReason::ToolCalls), "{}");
        assert_eq!(
            fold(FinishReason::Length),
            "",
            "cut off: incomplete, not empty"
        );
    }
}
