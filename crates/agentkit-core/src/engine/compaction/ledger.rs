//! Incremental token counts of the conversation.

use std::sync::Arc;

use crate::message::{Message, Part};
use crate::model::ModelRequest;
use crate::tokenizer::{ApproxTokenizer, Tokenizer};
use crate::tool::ToolSpec;

/// Tokens a message costs in a request: its parts plus a small per-part
/// framing allowance (role markers, call ids, JSON punctuation).
pub fn message_tokens(tokenizer: &dyn Tokenizer, message: &Message) -> usize {
    4 + message
        .parts
        .iter()
        .map(|part| match part {
            Part::Text { text } => tokenizer.count(text),
            Part::ToolCall(call) => {
                8 + tokenizer.count(&call.name) + tokenizer.count(&call.arguments)
            }
            Part::ToolResult(result) => 8 + tokenizer.count(&result.content),
            Part::Reasoning { text, .. } => tokenizer.count(text),
        })
        .sum::<usize>()
}

/// Tokens the tool definitions cost in a request (name, description, schema).
pub fn tool_tokens(tokenizer: &dyn Tokenizer, tools: &[ToolSpec]) -> usize {
    tools
        .iter()
        .map(|t| {
            8 + tokenizer.count(&t.name)
                + tokenizer.count(&t.description)
                + tokenizer.count(&t.parameters.to_string())
        })
        .sum()
}

/// Tokens a whole request costs, counted as the engine counts it.
pub fn request_tokens(tokenizer: &dyn Tokenizer, request: &ModelRequest) -> usize {
    tokenizer.count(&request.system)
        + tool_tokens(tokenizer, &request.tools)
        + request
            .messages
            .iter()
            .map(|m| message_tokens(tokenizer, m))
            .sum::<usize>()
}

/// Counts a run's request size, caching each message's count.
///
/// Messages are only ever appended between compactions, so the cache is a
/// prefix of the history: a step counts the messages added since the last
/// one. A compaction rewrites the history and [`TokenCounter::reset`]s it.
/// The system prompt and tool schemas are counted once (`fixed`) until the
/// context changes.
#[derive(Clone)]
pub struct TokenCounter {
    tokenizer: Arc<dyn Tokenizer>,
    counts: Vec<usize>,
    total: usize,
    fixed: Option<usize>,
}

impl Default for TokenCounter {
    fn default() -> Self {
        Self::new(Arc::new(ApproxTokenizer))
    }
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCounter")
            .field("cached_messages", &self.counts.len())
            .field("total", &self.total)
            .field("fixed", &self.fixed)
            .finish()
    }
}

impl TokenCounter {
    /// A counter using `tokenizer`.
    pub fn new(tokenizer: Arc<dyn Tokenizer>) -> Self {
        Self {
            tokenizer,
            counts: Vec::new(),
            total: 0,
            fixed: None,
        }
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &dyn Tokenizer {
        self.tokenizer.as_ref()
    }

    /// Forgets every cached count (after the history was rewritten).
    pub fn reset(&mut self) {
        self.counts.clear();
        self.total = 0;
    }

    /// Forgets the fixed part (after the system prompt changed).
    pub fn reset_fixed(&mut self) {
        self.fixed = None;
    }

    /// Tokens of the system prompt and tool schemas, when counted already.
    pub fn fixed(&self) -> Option<usize> {
        self.fixed
    }

    /// Records the tokens of the system prompt and tool schemas.
    pub fn set_fixed(&mut self, tokens: usize) {
        self.fixed = Some(tokens);
    }

    /// Tokens of all `messages`, counting only those not seen yet.
    pub fn messages(&mut self, messages: &[Message]) -> usize {
        if self.counts.len() > messages.len() {
            self.reset();
        }
        for message in &messages[self.counts.len()..] {
            let n = message_tokens(self.tokenizer.as_ref(), message);
            self.counts.push(n);
            self.total += n;
        }
        self.total
    }

    /// The cached per-message counts (call [`TokenCounter::messages`] first).
    pub fn counts(&self) -> &[usize] {
        &self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts bytes and how many texts it was asked about.
    #[derive(Default)]
    struct Probe(AtomicUsize);

    impl Tokenizer for Probe {
        fn count(&self, text: &str) -> usize {
            self.0.fetch_add(1, Ordering::Relaxed);
            text.len()
        }
    }

    #[test]
    fn only_new_messages_are_counted() {
        let probe = Arc::new(Probe::default());
        let mut counter = TokenCounter::new(probe.clone());
        let mut history = vec![Message::user("abcd"), Message::assistant("ef")];
        assert_eq!(counter.messages(&history), (4 + 4) + (4 + 2));
        assert_eq!(probe.0.load(Ordering::Relaxed), 2);
        history.push(Message::user("ghi"));
        assert_eq!(counter.messages(&history), 14 + 7);
        assert_eq!(probe.0.load(Ordering::Relaxed), 3);
        assert_eq!(counter.counts(), &[8, 6, 7]);
    }
}
