//! Building conversations for request-body tests.

use agentkit_core::message::{Message, Part, Role, ToolCall, ToolResult};
use agentkit_core::model::{ModelRequest, ToolChoice};

/// A request for `messages` with the system prompt of a coding agent and
/// every other field at its default.
pub fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        system: "You are a coding agent.".into(),
        messages,
        tools: Vec::new(),
        tool_choice: ToolChoice::Auto,
        max_output_tokens: None,
        temperature: None,
        reasoning_effort: None,
    }
}

/// A tool call with its raw argument text.
pub fn call(id: &str, name: &str, arguments: &str) -> Part {
    Part::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    })
}

pub fn text(text: &str) -> Part {
    Part::Text { text: text.into() }
}

pub fn assistant(parts: Vec<Part>) -> Message {
    Message {
        role: Role::Assistant,
        parts,
    }
}

pub fn user(parts: Vec<Part>) -> Message {
    Message {
        role: Role::User,
        parts,
    }
}

/// A successful tool result.
pub fn result(call_id: &str, name: &str, content: &str) -> Part {
    tool_result(call_id, name, content, false)
}

/// A failed tool result.
pub fn failed(call_id: &str, name: &str, content: &str) -> Part {
    tool_result(call_id, name, content, true)
}

fn tool_result(call_id: &str, name: &str, content: &str, is_error: bool) -> Part {
    Part::ToolResult(ToolResult {
        call_id: call_id.into(),
        name: name.into(),
        content: content.into(),
        is_error,
    })
}
