//! The Messages API's JSON shapes, as we send and read them.
//!
//! Request types are exact: they serialize to what the API documents, in a
//! fixed field order. Response types are tolerant: every field is optional
//! or defaulted, unknown fields are ignored, and unknown `type` values land
//! in an `Unknown` variant, so a new block kind or event does not break a
//! call that does not use it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- request

/// The body of `POST /v1/messages`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MessagesRequest {
    pub model: String,
    pub max_tokens: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<RequestBlock>,
    pub messages: Vec<RequestMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDefinition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoiceWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<ThinkingWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// `user` or `assistant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireRole {
    User,
    Assistant,
}

/// One message of the request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestMessage {
    pub role: WireRole,
    pub content: Vec<RequestBlock>,
}

/// A content block we send.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum RequestBlock {
    Text {
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
        is_error: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
}

impl RequestBlock {
    /// A plain text block.
    pub fn text(text: impl Into<String>) -> Self {
        RequestBlock::Text {
            text: text.into(),
            cache_control: None,
        }
    }

    /// Whether this is a `thinking` or `redacted_thinking` block.
    pub fn is_thinking(&self) -> bool {
        matches!(
            self,
            RequestBlock::Thinking { .. } | RequestBlock::RedactedThinking { .. }
        )
    }

    /// The block's cache marker slot; thinking blocks cannot carry one.
    pub fn cache_control_mut(&mut self) -> Option<&mut Option<CacheControl>> {
        match self {
            RequestBlock::Text { cache_control, .. }
            | RequestBlock::ToolUse { cache_control, .. }
            | RequestBlock::ToolResult { cache_control, .. } => Some(cache_control),
            RequestBlock::Thinking { .. } | RequestBlock::RedactedThinking { .. } => None,
        }
    }
}

/// A prompt-cache breakpoint: `{"type": "ephemeral"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct CacheControl {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The only cache kind with the default lifetime (five minutes).
pub(crate) const EPHEMERAL: CacheControl = CacheControl { kind: "ephemeral" };

/// A tool the model may call.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ToolDefinition {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub input_schema: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

/// `tool_choice`: `{"type": "auto" | "any" | "none" | "tool", "name"?,
/// "disable_parallel_tool_use"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ToolChoiceWire {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only with `auto`, `any` and `tool` (the API refuses it with `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

/// `thinking: {"type": "enabled", "budget_tokens": N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct ThinkingWire {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub budget_tokens: u64,
}

// --------------------------------------------------------------- response

/// One streamed event's `data`, dispatched on its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StreamPayload {
    MessageStart {
        #[serde(default)]
        message: MessageHead,
    },
    ContentBlockStart {
        index: u64,
        content_block: ResponseBlock,
    },
    ContentBlockDelta {
        index: u64,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(default)]
        error: ApiError,
    },
    #[serde(other)]
    Unknown,
}

/// The message as `message_start` announces it (content is always empty).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MessageHead {
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

/// `message_delta.delta`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MessageDeltaBody {
    #[serde(default)]
    pub stop_reason: Option<String>,
}

/// A content block the API returns (whole, or as it starts streaming).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ResponseBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        input: Option<Value>,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        #[serde(default)]
        data: String,
    },
    #[serde(other)]
    Unknown,
}

/// `content_block_delta.delta`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BlockDelta {
    TextDelta {
        #[serde(default)]
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    ThinkingDelta {
        #[serde(default)]
        thinking: String,
    },
    SignatureDelta {
        #[serde(default)]
        signature: String,
    },
    #[serde(other)]
    Unknown,
}

/// Token counts. In `message_delta` they are cumulative; absent fields keep
/// their earlier value.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

/// `{"type": "...", "message": "...", "details": {...}}` inside an error
/// body or event.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct ApiError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
    /// Extra detail, e.g. `{"error_code": "enforced_spend_limit_reached"}`.
    /// Kept loose: an unexpected shape must not hide the type and message.
    #[serde(default)]
    pub details: Option<Value>,
}

impl ApiError {
    /// `details.error_code`, when the error carries one.
    pub fn error_code(&self) -> Option<&str> {
        self.details.as_ref()?.get("error_code")?.as_str()
    }
}

/// A whole response body: a message, or (on failure) an error.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MessageBody {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub content: Vec<ResponseBlock>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(default)]
    pub error: Option<ApiError>,
}
