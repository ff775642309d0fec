//! The JSON shapes of `POST /v1/responses`, both directions.
//!
//! What we send is typed and exact. What we read is tolerant: every field is
//! optional, unknown fields are ignored and kinds are plain strings, so a
//! server that adds an item type or an event does not break decoding.

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- requests

/// The request body.
#[derive(Debug, Serialize)]
pub(super) struct RequestBody<'a> {
    pub model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<&'a str>,
    pub input: Vec<InputItem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<FunctionTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningParams>,
    pub store: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<&'static str>,
    pub stream: bool,
}

/// One item of `input`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum InputItem {
    Message {
        role: &'static str,
        content: Vec<InputContent>,
    },
    FunctionCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    FunctionCallOutput {
        call_id: String,
        output: String,
    },
    Reasoning(ReasoningItem),
}

/// One content entry of a message item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum InputContent {
    /// Text the user (or the engine) wrote.
    InputText { text: String },
    /// Text the model wrote earlier.
    OutputText { text: String },
}

/// A reasoning item as it is passed back, and as it is kept in
/// `Part::Reasoning::signature` (JSON) between turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ReasoningItem {
    pub id: String,
    #[serde(default)]
    pub summary: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    /// Raw reasoning text parts (sent by some compatible servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<Value>>,
}

/// A function tool, in the Responses API's flat shape.
#[derive(Debug, Serialize)]
pub(super) struct FunctionTool<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: &'a str,
    pub description: &'a str,
    pub parameters: &'a Value,
    pub strict: bool,
}

/// `tool_choice`: a mode string or one named function.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum WireToolChoice<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        name: &'a str,
    },
}

/// `reasoning`.
#[derive(Debug, Serialize)]
pub(super) struct ReasoningParams {
    pub effort: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<&'static str>,
}

// ---------------------------------------------------------------- responses

/// A streamed event's payload (the fields the events we handle use).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireEvent {
    pub output_index: Option<u64>,
    pub item_id: Option<String>,
    pub summary_index: Option<u64>,
    pub delta: Option<String>,
    #[serde(deserialize_with = "text_or_json")]
    pub arguments: Option<String>,
    pub item: Option<WireItem>,
    pub response: Option<WireResponse>,
    /// `error` events: the code and message at the top level...
    #[serde(deserialize_with = "text_or_json")]
    pub code: Option<String>,
    pub message: Option<String>,
    /// ...or nested, as some servers send them.
    pub error: Option<WireError>,
}

/// An output item (`message`, `reasoning`, `function_call`, ...).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireItem {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub call_id: Option<String>,
    pub name: Option<String>,
    #[serde(deserialize_with = "text_or_json")]
    pub arguments: Option<String>,
    pub summary: Option<Vec<Value>>,
    pub encrypted_content: Option<String>,
    pub content: Option<Vec<Value>>,
}

/// A response object (in `response.*` events and as a whole body).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireResponse {
    pub status: Option<String>,
    pub output: Option<Vec<WireItem>>,
    pub usage: Option<WireUsage>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub error: Option<WireError>,
}

/// `usage`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub input_tokens_details: Option<InputTokensDetails>,
    pub output_tokens_details: Option<OutputTokensDetails>,
}

/// `usage.input_tokens_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct InputTokensDetails {
    pub cached_tokens: Option<u64>,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct OutputTokensDetails {
    pub reasoning_tokens: Option<u64>,
}

/// `incomplete_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct IncompleteDetails {
    pub reason: Option<String>,
}

/// An error object: `response.error`, the `error` of an error body or of an
/// `error` event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireError {
    #[serde(deserialize_with = "text_or_json")]
    pub code: Option<String>,
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A string field some servers send as another JSON value (a numeric error
/// code, an arguments object): strings as they are, `null` as `None`, any
/// other value as its JSON text.
fn text_or_json<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    })
}
