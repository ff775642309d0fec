//! What Chat Completions servers send back, typed loosely.
//!
//! Every field is optional and unknown fields are ignored: OpenAI adds fields
//! often, and compatible servers each leave out or reshape some. Fields whose
//! type varies between servers (`content`, `arguments`, `reasoning`, token
//! counts) are read leniently instead of failing the whole chunk.

use agentkit_core::usage::Usage;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// One streamed chunk (`chat.completion.chunk`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Chunk {
    pub choices: Option<Vec<ChunkChoice>>,
    pub usage: Option<WireUsage>,
    pub error: Option<Value>,
}

/// One choice of a chunk.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ChunkChoice {
    pub index: Option<u64>,
    pub delta: Option<WireMessage>,
    pub finish_reason: Option<Value>,
}

/// A whole non-streamed response (`chat.completion`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Completion {
    pub choices: Option<Vec<CompletionChoice>>,
    pub usage: Option<WireUsage>,
    pub error: Option<Value>,
}

/// One choice of a whole response.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CompletionChoice {
    pub index: Option<u64>,
    pub message: Option<WireMessage>,
    pub finish_reason: Option<Value>,
}

/// A streamed delta or a whole message: they have the same fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireMessage {
    /// A string, `null`, or (some servers) an array of `{type, text}` parts.
    pub content: Option<Value>,
    /// DeepSeek, vLLM, llama.cpp.
    pub reasoning_content: Option<Value>,
    /// OpenRouter, newer vLLM.
    pub reasoning: Option<Value>,
    pub tool_calls: Option<Vec<WireToolCall>>,
}

impl WireMessage {
    /// The text of `content`, from a string or an array of text parts.
    pub fn text(&self) -> String {
        match &self.content {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter(|p| p.get("type").is_none_or(|t| t == "text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
            _ => String::new(),
        }
    }

    /// The reasoning text, from whichever field the server uses (never both:
    /// servers that send both send the same text).
    pub fn reasoning_text(&self) -> &str {
        [&self.reasoning_content, &self.reasoning]
            .into_iter()
            .filter_map(|v| v.as_ref().and_then(Value::as_str))
            .find(|s| !s.is_empty())
            .unwrap_or("")
    }
}

/// A tool call, or a streamed fragment of one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireToolCall {
    pub index: Option<u64>,
    pub id: Option<String>,
    pub function: Option<WireFunction>,
}

/// The function part of a tool call.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireFunction {
    pub name: Option<String>,
    /// A string of JSON text, or (some servers) the JSON object itself.
    pub arguments: Option<Value>,
}

impl WireFunction {
    /// The argument text as sent: a string unchanged, an object serialised.
    pub fn arguments_text(&self) -> Option<String> {
        match self.arguments.as_ref()? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// Token counts.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireUsage {
    #[serde(deserialize_with = "lenient_count")]
    pub prompt_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient_count")]
    pub completion_tokens: Option<u64>,
    pub prompt_tokens_details: Option<PromptDetails>,
    pub completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek's name for cached prompt tokens.
    #[serde(deserialize_with = "lenient_count")]
    pub prompt_cache_hit_tokens: Option<u64>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PromptDetails {
    #[serde(deserialize_with = "lenient_count")]
    pub cached_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CompletionDetails {
    #[serde(deserialize_with = "lenient_count")]
    pub reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// The counts, or `None` when the server sent no token count at all
    /// (an empty object must not overwrite an earlier real count).
    pub fn to_usage(&self) -> Option<Usage> {
        if self.prompt_tokens.is_none() && self.completion_tokens.is_none() {
            return None;
        }
        Some(Usage {
            input_tokens: self.prompt_tokens.unwrap_or(0),
            output_tokens: self.completion_tokens.unwrap_or(0),
            cached_input_tokens: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .or(self.prompt_cache_hit_tokens)
                .unwrap_or(0),
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        })
    }
}

/// A token count: an integer, a float (rounded down), or anything else as
/// unknown.
fn lenient_count<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<Value>::deserialize(de)?;
    Ok(value.and_then(|v| {
        v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        })
    }))
}

/// A `finish_reason` as text; `null`, `""` and non-strings mean "not yet".
pub(super) fn finish_reason_text(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}
