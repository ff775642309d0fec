//! Building the Chat Completions request body.
//!
//! How the conversation maps onto `messages`:
//!
//! - the system prompt becomes one `system` (or `developer`, see
//!   [`SystemRole`](super::SystemRole)) message, left out when empty;
//! - a user message's tool results become `tool` messages, one per result in
//!   order, *before* its text (OpenAI requires tool messages to follow the
//!   assistant message that made the calls); its text parts become one
//!   `user` message, joined with newlines;
//! - an assistant message becomes one `assistant` message with its text and
//!   its `tool_calls`; `content` is `""`, never `null`, when there is no
//!   text (llama.cpp's server rejects `null`);
//! - reasoning parts are dropped: Chat Completions cannot take them back.
//!
//! Tool-call arguments are sent exactly as the model wrote them.

use agentkit_core::message::{Message, Part, Role, ToolCall, ToolResult};
use agentkit_core::model::{ErrorDetail, ModelError, ModelRequest, ToolChoice};
use agentkit_core::tool::ToolSpec;
use serde::Serialize;
use serde_json::{Map, Value};

use super::config::{ChatQuirks, MaxTokensField, OpenAiChatConfig, is_openai_reasoning_model};

/// Builds the JSON body for `request`.
pub(super) fn body(
    config: &OpenAiChatConfig,
    model_reasons: bool,
    request: &ModelRequest,
    stream: bool,
) -> Result<Value, ModelError> {
    let has_tools = !request.tools.is_empty();
    let max_tokens = request.max_output_tokens;
    let reasoning_effort = request
        .reasoning_effort
        .filter(|_| model_reasons || config.reasoning_effort.is_some())
        .or(config.reasoning_effort)
        .map(|e| e.as_str());
    let body = ChatRequest {
        model: &config.model,
        messages: messages(config, request)?,
        tools: has_tools
            .then(|| request.tools.iter().map(tool).collect())
            .transpose()?,
        tool_choice: has_tools
            .then(|| tool_choice(&request.tool_choice, &request.tools))
            .transpose()?
            .flatten(),
        parallel_tool_calls: config.parallel_tool_calls.filter(|_| has_tools),
        max_completion_tokens: max_tokens
            .filter(|_| config.quirks.max_tokens_field == MaxTokensField::MaxCompletionTokens),
        max_tokens: max_tokens
            .filter(|_| config.quirks.max_tokens_field == MaxTokensField::MaxTokens),
        temperature: request
            .temperature
            .filter(|_| !refuses_temperature(config))
            .map(temperature)
            .transpose()?,
        reasoning_effort,
        stream: stream.then_some(true),
        stream_options: (stream && config.include_usage_in_stream).then_some(StreamOptions {
            include_usage: true,
        }),
    };
    serde_json::to_value(&body)
        .map_err(|e| invalid(format!("the request could not be encoded as JSON: {e}")))
}

/// The request body, as OpenAI documents it. Unset fields are left out.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

fn messages(config: &OpenAiChatConfig, request: &ModelRequest) -> Result<Vec<Value>, ModelError> {
    let mut out = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        let role = config.quirks.system_role.role_for(&config.model);
        out.push(serde_json::json!({ "role": role, "content": request.system }));
    }
    for (at, message) in request.messages.iter().enumerate() {
        match message.role {
            Role::User => user(message, at, &mut out)?,
            Role::Assistant => out.push(assistant(message, at)?),
        }
    }
    Ok(out)
}

fn user(message: &Message, at: usize, out: &mut Vec<Value>) -> Result<(), ModelError> {
    let mut texts = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text { text } => texts.push(text.as_str()),
            Part::ToolResult(result) => out.push(tool_result(result)),
            Part::Reasoning { .. } => {}
            Part::ToolCall(call) => {
                return Err(invalid(format!(
                    "message {at} is a user message holding tool call `{}`; tool calls \
                     belong in assistant messages",
                    call.id
                )));
            }
        }
    }
    if !texts.is_empty() {
        out.push(serde_json::json!({ "role": "user", "content": texts.join("\n") }));
    }
    Ok(())
}

fn tool_result(result: &ToolResult) -> Value {
    let content = if result.is_error {
        format!("Error: {}", result.content)
    } else {
        result.content.clone()
    };
    serde_json::json!({
        "role": "tool",
        "tool_call_id": result.call_id,
        "content": content,
    })
}

fn assistant(message: &Message, at: usize) -> Result<Value, ModelError> {
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text { text } => texts.push(text.as_str()),
            Part::ToolCall(call) => calls.push(tool_call(call)),
            Part::Reasoning { .. } => {}
            Part::ToolResult(result) => {
                return Err(invalid(format!(
                    "message {at} is an assistant message holding the result of call `{}`; \
                     tool results belong in user messages",
                    result.call_id
                )));
            }
        }
    }
    let mut object = Map::new();
    object.insert("role".into(), "assistant".into());
    object.insert("content".into(), texts.join("\n").into());
    if !calls.is_empty() {
        object.insert("tool_calls".into(), calls.into());
    }
    Ok(Value::Object(object))
}

fn tool_call(call: &ToolCall) -> Value {
    serde_json::json!({
        "id": call.id,
        "type": "function",
        "function": { "name": call.name, "arguments": call.arguments },
    })
}

fn tool(spec: &ToolSpec) -> Result<Value, ModelError> {
    Ok(serde_json::json!({
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": parameters(spec)?,
        },
    }))
}

/// The tool's schema as OpenAI takes it: `$schema` removed, and always an
/// object schema with `properties` (a tool without arguments included).
/// Strict mode is not used, so optional fields may stay `["string", "null"]`.
fn parameters(spec: &ToolSpec) -> Result<Value, ModelError> {
    let mut schema = match &spec.parameters {
        Value::Object(object) => object.clone(),
        Value::Null | Value::Bool(true) => Map::new(),
        other => {
            return Err(invalid(format!(
                "tool `{}` has a parameters schema that is not a JSON object ({other}); \
                 give it an object schema, e.g. {{\"type\": \"object\", \"properties\": {{}}}}",
                spec.name
            )));
        }
    };
    schema.remove("$schema");
    match schema.get("type") {
        None => {
            schema.insert("type".into(), "object".into());
        }
        Some(Value::String(t)) if t == "object" => {}
        Some(other) => {
            return Err(invalid(format!(
                "tool `{}` takes arguments of type {other}, but OpenAI requires an object; \
                 wrap the arguments in a struct",
                spec.name
            )));
        }
    }
    schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    Ok(Value::Object(schema))
}

/// `auto` is left out: it is the default when tools are given, and some
/// compatible servers (vLLM without `--enable-auto-tool-choice`) refuse it
/// when it is spelt out.
fn tool_choice(choice: &ToolChoice, tools: &[ToolSpec]) -> Result<Option<Value>, ModelError> {
    Ok(match choice {
        ToolChoice::Auto => None,
        ToolChoice::Required => Some("required".into()),
        ToolChoice::None => Some("none".into()),
        ToolChoice::Tool { name } => {
            if !tools.iter().any(|t| t.name == *name) {
                let known: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                return Err(invalid(format!(
                    "tool_choice names tool `{name}`, which is not among the request's tools ({}); \
                     name one of them or add the tool",
                    known.join(", ")
                )));
            }
            Some(serde_json::json!({ "type": "function", "function": { "name": name } }))
        }
    })
}

/// OpenAI's reasoning models (`o1`, `o3`, `gpt-5`, ...) answer 400 to any
/// temperature but the default, so none is sent to them. Compatible servers
/// running reasoning models accept one, and get it.
fn refuses_temperature(config: &OpenAiChatConfig) -> bool {
    config.quirks == ChatQuirks::openai() && is_openai_reasoning_model(&config.model)
}

/// The temperature as the decimal the caller wrote: an `f32` widened to
/// `f64` directly would be sent as `0.20000000298023224` instead of `0.2`.
fn temperature(value: f32) -> Result<f64, ModelError> {
    if !value.is_finite() {
        return Err(invalid(format!(
            "the temperature {value} is not a finite number; use a value such as 0.2"
        )));
    }
    value
        .to_string()
        .parse::<f64>()
        .map_err(|e| invalid(format!("the temperature {value} could not be encoded: {e}")))
}

fn invalid(message: String) -> ModelError {
    ModelError::InvalidRequest {
        detail: ErrorDetail::message(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_keeps_the_decimal_the_caller_wrote() {
        assert_eq!(temperature(0.2).unwrap(), 0.2);
        assert_eq!(
            serde_json::to_string(&temperature(0.7).unwrap()).unwrap(),
            "0.7"
        );
        assert!(temperature(f32::NAN).is_err());
    }
}
