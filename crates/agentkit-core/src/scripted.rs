//! `ScriptedModel`: replays a fixed list of replies (tests and offline demos).
//!
//! A script is a JSON array of turns. Each turn is a reply:
//!
//! ```json
//! [
//!   { "text": "Let me look.", "tool_calls": [
//!       { "name": "read_file", "arguments": { "path": "src/lib.rs" } } ] },
//!   { "tool_calls": [ { "name": "edit_file", "arguments_raw": "{\"path\": " } ] },
//!   { "error": { "kind": "transient", "message": "upstream overloaded" } },
//!   { "text": "Done.", "tool_calls": [ { "name": "finish", "arguments": { "summary": "Fixed it." } } ] }
//! ]
//! ```
//!
//! `arguments` is any JSON value and is sent as its JSON text; `arguments_raw`
//! is sent verbatim (for invalid-JSON cases). `usage` may be given per turn;
//! otherwise it is estimated from the request and reply sizes. Asking for more
//! turns than the script has is a `Permanent` error that says so.

use std::sync::Mutex;

use async_trait::async_trait;
use futures::stream;
use serde::Deserialize;

use crate::model::{
    Capabilities, ErrorDetail, FinishReason, Model, ModelError, ModelInfo, ModelRequest,
    ModelStream, StreamEvent,
};
use crate::tokenizer::{ApproxTokenizer, Tokenizer};
use crate::usage::Usage;

/// One scripted reply.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedTurn {
    /// Assistant text.
    #[serde(default)]
    pub text: String,
    /// Tool calls.
    #[serde(default)]
    pub tool_calls: Vec<ScriptedCall>,
    /// Usage to report (estimated when absent).
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Instead of replying, fail with this error.
    #[serde(default)]
    pub error: Option<ScriptedError>,
    /// Finish reason to report (`stop`/`tool_calls` by default).
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
}

/// A scripted tool call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    /// The tool's name.
    pub name: String,
    /// Arguments as JSON (sent as its compact text).
    #[serde(default)]
    pub arguments: Option<serde_json::Value>,
    /// Arguments sent verbatim, valid JSON or not.
    #[serde(default)]
    pub arguments_raw: Option<String>,
}

/// A scripted failure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedError {
    /// `context_length`, `rate_limited`, `quota`, `transient`, `auth`, `invalid_request` or `permanent`.
    pub kind: String,
    /// The message.
    pub message: String,
}

/// A failure to load a script.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("could not read the model script `{path}`: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The script is not a valid list of turns.
    #[error("the model script `{path}` is not a JSON array of turns: {message}")]
    Parse {
        /// The path.
        path: String,
        /// What was wrong.
        message: String,
    },
}

/// A model that replays a script. See the [module docs](self).
pub struct ScriptedModel {
    info: ModelInfo,
    turns: Vec<ScriptedTurn>,
    cursor: Mutex<usize>,
    requests: Mutex<Vec<ModelRequest>>,
}

impl ScriptedModel {
    /// A model replaying `turns`.
    pub fn new(turns: Vec<ScriptedTurn>) -> Self {
        Self {
            info: ModelInfo {
                name: "scripted".into(),
                provider: "scripted".into(),
                context_window: 200_000,
                max_output_tokens: 32_000,
                pricing: None,
                capabilities: Capabilities::default(),
            },
            turns,
            cursor: Mutex::new(0),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Parses a script from JSON text.
    pub fn from_json(json: &str, origin: &str) -> Result<Self, ScriptError> {
        let turns: Vec<ScriptedTurn> =
            serde_json::from_str(json).map_err(|e| ScriptError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?;
        Ok(Self::new(turns))
    }

    /// Loads a script from a file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ScriptError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_json(&text, &shown)
    }

    /// Replaces the reported model info (name, pricing, ...).
    pub fn with_info(mut self, info: ModelInfo) -> Self {
        self.info = info;
        self
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<ModelRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many turns have been replayed.
    pub fn turns_used(&self) -> usize {
        self.cursor.lock().map(|c| *c).unwrap_or(0)
    }
}

fn scripted_error(err: &ScriptedError) -> ModelError {
    let detail = ErrorDetail::message(err.message.clone());
    match err.kind.as_str() {
        "context_length" => ModelError::ContextLength { detail },
        "rate_limited" => ModelError::RateLimited {
            retry_after: None,
            detail,
        },
        "quota" => ModelError::Quota { detail },
        "transient" => ModelError::Transient { detail },
        "auth" => ModelError::Auth { detail },
        "invalid_request" => ModelError::InvalidRequest { detail },
        _ => ModelError::Permanent { detail },
    }
}

#[async_trait]
impl Model for ScriptedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let prompt_tokens = estimate_prompt(&request);
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(request);
        }
        let index = {
            let mut cursor = self.cursor.lock().map_err(|_| ModelError::Permanent {
                detail: ErrorDetail::message("scripted model state poisoned"),
            })?;
            let i = *cursor;
            *cursor += 1;
            i
        };
        let Some(turn) = self.turns.get(index) else {
            return Err(ModelError::Permanent {
                detail: ErrorDetail::message(format!(
                    "the model script has {} turns and turn {} was requested; extend the script or end it with a `finish` call",
                    self.turns.len(),
                    index + 1
                )),
            });
        };
        if let Some(err) = &turn.error {
            return Err(scripted_error(err));
        }
        let mut events = Vec::new();
        let mut completion = 0usize;
        for chunk in chunk_text(&turn.text, 16) {
            completion += ApproxTokenizer.count(&chunk);
            events.push(Ok(StreamEvent::TextDelta { text: chunk }));
        }
        for (i, call) in turn.tool_calls.iter().enumerate() {
            let arguments = match (&call.arguments_raw, &call.arguments) {
                (Some(raw), _) => raw.clone(),
                (None, Some(value)) => value.to_string(),
                (None, None) => "{}".to_string(),
            };
            completion += ApproxTokenizer.count(&arguments) + ApproxTokenizer.count(&call.name);
            events.push(Ok(StreamEvent::ToolCallStart {
                index: i,
                id: format!("call_{}_{}", index + 1, i + 1),
                name: call.name.clone(),
            }));
            for chunk in chunk_text(&arguments, 24) {
                events.push(Ok(StreamEvent::ToolCallDelta {
                    index: i,
                    arguments: chunk,
                }));
            }
            events.push(Ok(StreamEvent::ToolCallEnd { index: i }));
        }
        events.push(Ok(StreamEvent::Usage(turn.usage.unwrap_or(Usage {
            input_tokens: prompt_tokens as u64,
            output_tokens: completion as u64,
            cached_input_tokens: 0,
            reasoning_tokens: 0,
        }))));
        let reason = turn
            .finish_reason
            .clone()
            .unwrap_or(if turn.tool_calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            });
        events.push(Ok(StreamEvent::Finish { reason }));
        Ok(Box::pin(stream::iter(events)))
    }
}

fn estimate_prompt(request: &ModelRequest) -> usize {
    let messages = serde_json::to_string(&request.messages).unwrap_or_default();
    let tools = serde_json::to_string(&request.tools).unwrap_or_default();
    ApproxTokenizer.count(&request.system)
        + ApproxTokenizer.count(&messages)
        + ApproxTokenizer.count(&tools)
}

/// Splits text into pieces of at most `size` characters (on char boundaries).
fn chunk_text(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelErrorKind;

    fn request() -> ModelRequest {
        ModelRequest {
            system: "s".into(),
            messages: vec![],
            tools: vec![],
            tool_choice: Default::default(),
            max_output_tokens: None,
            temperature: None,
            reasoning_effort: None,
        }
    }

    #[tokio::test]
    async fn replays_turns_then_reports_exhaustion() {
        let model = ScriptedModel::from_json(
            r#"[{"text":"hi there, this is longer than sixteen chars","tool_calls":[{"name":"t","arguments":{"a":1}}]},
                {"error":{"kind":"rate_limited","message":"slow down"}}]"#,
            "inline",
        )
        .unwrap();
        let r = model.complete(request()).await.unwrap();
        assert_eq!(
            r.message.text(),
            "hi there, this is longer than sixteen chars"
        );
        let calls: Vec<_> = r.message.tool_calls().cloned().collect();
        assert_eq!(calls[0].arguments, r#"{"a":1}"#);
        assert_eq!(calls[0].id, "call_1_1");
        let err = model.complete(request()).await.unwrap_err();
        assert_eq!(err.kind(), ModelErrorKind::RateLimited);
        let err = model.complete(request()).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("has 2 turns and turn 3 was requested")
        );
        assert_eq!(model.requests().len(), 3);
    }

    #[test]
    fn unknown_fields_in_a_script_are_rejected() {
        let err = ScriptedModel::from_json(r#"[{"txt":"typo"}]"#, "inline")
            .err()
            .unwrap();
        assert!(err.to_string().contains("unknown field `txt`"), "{err}");
    }
}
