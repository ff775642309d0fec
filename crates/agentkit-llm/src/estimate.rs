//! Usage for servers that report none.
//!
//! Several OpenAI-compatible servers (llama.cpp's Python server among them)
//! send no `usage` in a streamed reply. Without counts the agent's token
//! and cost budgets could not hold, so [`UsageEstimate`] counts the prompt
//! and the reply with the model's tokenizer and reports that, once, just
//! before the reply's `Finish`. It never overrides a count the server sent.
//! The estimate leaves out the chat template's few tokens per message.

use std::sync::Arc;

use agentkit_core::message::Part;
use agentkit_core::model::{ModelRequest, StreamEvent};
use agentkit_core::tokenizer::Tokenizer;
use agentkit_core::usage::Usage;

/// Watches one reply's events and estimates its usage if none arrives.
pub(crate) struct UsageEstimate {
    tokenizer: Arc<dyn Tokenizer>,
    request: Arc<ModelRequest>,
    output: String,
    reported: bool,
}

impl UsageEstimate {
    pub(crate) fn new(tokenizer: Arc<dyn Tokenizer>, request: Arc<ModelRequest>) -> Self {
        Self {
            tokenizer,
            request,
            output: String::new(),
            reported: false,
        }
    }

    /// Looks at the next event; returns the usage to insert before it when
    /// it is the `Finish` of a reply whose server reported no usage.
    pub(crate) fn observe(&mut self, event: &StreamEvent) -> Option<Usage> {
        if self.reported {
            // The server counts for us: nothing to keep (Anthropic reports
            // usage first, so its replies are never copied here).
            return None;
        }
        match event {
            StreamEvent::Usage(_) => {
                self.reported = true;
                self.output = String::new();
            }
            StreamEvent::TextDelta { text } | StreamEvent::ReasoningDelta { text, .. } => {
                self.output.push_str(text)
            }
            StreamEvent::ToolCallStart { name, .. } => self.output.push_str(name),
            StreamEvent::ToolCallDelta { arguments, .. } => self.output.push_str(arguments),
            StreamEvent::Finish { .. } => {
                self.reported = true;
                let usage = Usage {
                    input_tokens: self.prompt_tokens(),
                    output_tokens: self.tokenizer.count(&self.output) as u64,
                    ..Usage::default()
                };
                tracing::debug!(
                    input_tokens = usage.input_tokens,
                    output_tokens = usage.output_tokens,
                    "the server reported no usage; estimated it with the tokenizer"
                );
                return Some(usage);
            }
            _ => {}
        }
        None
    }

    fn prompt_tokens(&self) -> u64 {
        let request = &self.request;
        let count = |text: &str| self.tokenizer.count(text) as u64;
        let mut total = count(&request.system);
        for message in &request.messages {
            for part in &message.parts {
                total += match part {
                    Part::Text { text } | Part::Reasoning { text, .. } => count(text),
                    Part::ToolCall(call) => count(&call.name) + count(&call.arguments),
                    Part::ToolResult(result) => count(&result.content),
                };
            }
        }
        for tool in &request.tools {
            total += count(&tool.name) + count(&tool.description);
            total += count(&tool.parameters.to_string());
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentkit_core::message::Message;
    use agentkit_core::model::FinishReason;
    use agentkit_core::tokenizer::ApproxTokenizer;

    fn request() -> Arc<ModelRequest> {
        Arc::new(ModelRequest {
            system: "12345678".into(),
            messages: vec![Message::user("abcd")],
            tools: vec![],
            tool_choice: Default::default(),
            max_output_tokens: None,
            temperature: None,
            reasoning_effort: None,
        })
    }

    fn finish() -> StreamEvent {
        StreamEvent::Finish {
            reason: FinishReason::Stop,
        }
    }

    #[test]
    fn a_reply_without_usage_gets_an_estimate_before_its_finish() {
        let mut estimate = UsageEstimate::new(Arc::new(ApproxTokenizer), request());
        assert_eq!(
            estimate.observe(&StreamEvent::TextDelta {
                text: "12345678".into()
            }),
            None
        );
        assert_eq!(
            estimate.observe(&finish()),
            Some(Usage {
                input_tokens: 3,
                output_tokens: 2,
                ..Usage::default()
            })
        );
        assert_eq!(estimate.observe(&finish()), None, "once only");
    }

    #[test]
    fn a_reported_usage_is_never_overridden() {
        let mut estimate = UsageEstimate::new(Arc::new(ApproxTokenizer), request());
        estimate.observe(&StreamEvent::Usage(Usage::default()));
        assert_eq!(estimate.observe(&finish()), None);
    }
}
