//! The provider-neutral conversation: messages made of typed parts.
//!
//! Backends translate to and from their wire formats at their boundary; the
//! engine only ever sees these types.

use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The operator or the engine speaking for the task (tickets, feedback, tool results).
    User,
    /// The model.
    Assistant,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said, in order.
    pub parts: Vec<Part>,
}

impl Message {
    /// A user message holding one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            parts: vec![Part::Text { text: text.into() }],
        }
    }

    /// An assistant message holding one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            parts: vec![Part::Text { text: text.into() }],
        }
    }

    /// All text parts joined with newlines.
    pub fn text(&self) -> String {
        let texts: Vec<&str> = self
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        texts.join("\n")
    }

    /// The tool calls in this message, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.parts.iter().filter_map(|p| match p {
            Part::ToolCall(call) => Some(call),
            _ => None,
        })
    }

    /// The tool results in this message, in order.
    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        self.parts.iter().filter_map(|p| match p {
            Part::ToolResult(result) => Some(result),
            _ => None,
        })
    }
}

/// A piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// The model asks for a tool to run.
    ToolCall(ToolCall),
    /// The answer to one tool call.
    ToolResult(ToolResult),
    /// The model's visible reasoning. Providers that sign reasoning need it
    /// passed back intact, so `signature` is kept opaque.
    Reasoning {
        /// The reasoning text (may be empty when the provider only returns a signature).
        text: String,
        /// Opaque provider data that must be sent back unchanged (a signature,
        /// an encrypted reasoning item, a redacted block: the backend decides).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        /// The wire format `signature` belongs to (e.g. `anthropic`,
        /// `openai-responses`). A backend of another format drops the part
        /// instead of sending data its provider would reject.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
    },
}

/// A tool invocation requested by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for this call; the result must carry the same id.
    pub id: String,
    /// The tool's name as the model wrote it (it may name no known tool).
    pub name: String,
    /// The arguments exactly as the model produced them: JSON text that has not
    /// been validated. It may be invalid; the engine reports that to the model.
    pub arguments: String,
}

/// The answer to one [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub call_id: String,
    /// The tool's name, repeated for providers that want it.
    pub name: String,
    /// What the model reads.
    pub content: String,
    /// Whether the call failed (the model should correct itself).
    #[serde(default)]
    pub is_error: bool,
}
