//! Building the Messages API request body from a [`ModelRequest`].
//!
//! The conversation is translated message by message, then adjusted to the
//! API's rules:
//!
//! - Roles must alternate, so consecutive messages of the same role are
//!   merged into one (a ticket followed by operator feedback, say). In a
//!   merged user message the `tool_result` blocks come first, as the API
//!   requires; other blocks keep their order.
//! - Empty or whitespace-only text is not sent (the API rejects it), and a
//!   message left with no blocks is skipped.
//! - A failed tool result with no content says so in words
//!   (`EMPTY_ERROR_RESULT`): the API rejects an empty `tool_result` whose
//!   `is_error` is true, and would then reject every later call of the run.
//! - In an assistant message, the Anthropic thinking blocks come first, in
//!   their original order (see [`super::thinking`] for how they are encoded);
//!   reasoning from other providers is dropped.
//! - A tool call's `input` must be a JSON object; see [`tool_input`] for what
//!   is sent when the model's arguments were not one.
//!
//! Prompt caching puts breakpoints on the stable prefix (see
//! [`place_cache_breakpoints`]).

use agentkit_core::message::{Message, Part, Role, ToolCall};
use agentkit_core::model::{ErrorDetail, ModelError, ModelInfo, ModelRequest, ToolChoice};
use agentkit_core::tool::ToolSpec;
use serde_json::{Map, Value};

use super::config::AnthropicConfig;
use super::thinking::{self, ThinkingInputs};
use super::wire::{
    EPHEMERAL, MessagesRequest, RequestBlock, RequestMessage, ThinkingWire, ToolChoiceWire,
    ToolDefinition, WireRole,
};

/// What a failed tool result with no content is sent as.
pub(crate) const EMPTY_ERROR_RESULT: &str = "(the tool failed without any output)";

/// The key under which a tool call's unparseable arguments are replayed.
pub(crate) const INVALID_ARGUMENTS_KEY: &str = "_invalid_arguments";

/// The API accepts at most this many `cache_control` breakpoints.
const MAX_CACHE_BREAKPOINTS: usize = 4;

/// Builds the request body.
pub(crate) fn build_body(
    config: &AnthropicConfig,
    info: &ModelInfo,
    request: &ModelRequest,
    stream: bool,
) -> Result<MessagesRequest, ModelError> {
    let max_tokens = request
        .max_output_tokens
        .or(config.max_tokens)
        .unwrap_or(info.max_output_tokens);
    let messages = convert_messages(&request.messages)?;
    let tools = request
        .tools
        .iter()
        .map(tool_definition)
        .collect::<Result<Vec<_>, _>>()?;
    let tool_choice = (!tools.is_empty()).then_some(&request.tool_choice);
    let budget = thinking::plan_budget(&ThinkingInputs {
        effort: request.reasoning_effort,
        can_reason: info.capabilities.reasoning,
        configured: config.thinking,
        max_tokens,
        tool_choice,
        messages: &messages,
    });
    let system = if request.system.trim().is_empty() {
        Vec::new()
    } else {
        vec![RequestBlock::text(request.system.clone())]
    };
    let mut body = MessagesRequest {
        model: config.model.clone(),
        max_tokens,
        system,
        messages,
        tools,
        tool_choice: tool_choice.map(|c| tool_choice_wire(c, config.parallel_tool_calls)),
        thinking: budget.map(|budget_tokens| ThinkingWire {
            kind: "enabled",
            budget_tokens,
        }),
        temperature: if budget.is_some() {
            None
        } else {
            request.temperature
        },
        stream,
    };
    if config.prompt_caching {
        place_cache_breakpoints(&mut body);
    }
    Ok(body)
}

/// Translates and merges the conversation (see the module doc).
pub(crate) fn convert_messages(messages: &[Message]) -> Result<Vec<RequestMessage>, ModelError> {
    let mut out: Vec<RequestMessage> = Vec::with_capacity(messages.len());
    for (position, message) in messages.iter().enumerate() {
        let content = match message.role {
            Role::User => user_blocks(position, message)?,
            Role::Assistant => assistant_blocks(position, message)?,
        };
        if content.is_empty() {
            continue;
        }
        let role = match message.role {
            Role::User => WireRole::User,
            Role::Assistant => WireRole::Assistant,
        };
        match out.last_mut() {
            Some(last) if last.role == role => {
                last.content.extend(content);
                if role == WireRole::User {
                    // Stable: tool results first, everything else in order.
                    last.content
                        .sort_by_key(|b| !matches!(b, RequestBlock::ToolResult { .. }));
                }
            }
            _ => out.push(RequestMessage { role, content }),
        }
    }
    Ok(out)
}

fn user_blocks(position: usize, message: &Message) -> Result<Vec<RequestBlock>, ModelError> {
    let mut results = Vec::new();
    let mut rest = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text { text } if !text.trim().is_empty() => rest.push(RequestBlock::text(text)),
            Part::Text { .. } | Part::Reasoning { .. } => {}
            Part::ToolResult(result) => results.push(RequestBlock::ToolResult {
                tool_use_id: result.call_id.clone(),
                content: if result.is_error && result.content.trim().is_empty() {
                    EMPTY_ERROR_RESULT.to_owned()
                } else {
                    result.content.clone()
                },
                is_error: result.is_error,
                cache_control: None,
            }),
            Part::ToolCall(call) => {
                return Err(misplaced(format!(
                    "message {position} is a user message holding a tool call (`{}`, id `{}`); only assistant messages can call tools",
                    call.name, call.id
                )));
            }
        }
    }
    results.extend(rest);
    Ok(results)
}

fn assistant_blocks(position: usize, message: &Message) -> Result<Vec<RequestBlock>, ModelError> {
    let mut reasoning = Vec::new();
    let mut rest = Vec::new();
    for part in &message.parts {
        match part {
            Part::Reasoning { .. } => reasoning.extend(thinking::block_for_reasoning(part)),
            Part::Text { text } if !text.trim().is_empty() => rest.push(RequestBlock::text(text)),
            Part::Text { .. } => {}
            Part::ToolCall(call) => rest.push(tool_use(call)),
            Part::ToolResult(result) => {
                return Err(misplaced(format!(
                    "message {position} is an assistant message holding a tool result (for call `{}`); tool results belong in user messages",
                    result.call_id
                )));
            }
        }
    }
    reasoning.extend(rest);
    Ok(reasoning)
}

fn misplaced(message: String) -> ModelError {
    ModelError::InvalidRequest {
        detail: ErrorDetail::message(format!(
            "{message}. The conversation cannot be sent to Anthropic; fix the code that built it."
        )),
    }
}

fn tool_use(call: &ToolCall) -> RequestBlock {
    RequestBlock::ToolUse {
        id: call.id.clone(),
        name: call.name.clone(),
        input: tool_input(&call.arguments),
        cache_control: None,
    }
}

/// The `input` object replayed for a recorded tool call.
///
/// Arguments that parse as a JSON object are sent as that object, and empty
/// arguments as `{}` (that is how the engine read them too).
///
/// Anything else (truncated JSON, trailing text, an array) never ran: the
/// engine answered the call with an error result explaining what was wrong.
/// The API only accepts an object here, so the raw text is wrapped as
/// `{"_invalid_arguments": "<raw text>"}`. Sending `{}` instead would keep
/// the request valid but lie: the model would see a call it did not make,
/// next to an error about text it can no longer see, and could not correct
/// itself. The wrapper keeps the request valid and shows the model exactly
/// what it wrote.
pub(crate) fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(object)) => Value::Object(object),
        _ => {
            let mut object = Map::new();
            object.insert(
                INVALID_ARGUMENTS_KEY.to_owned(),
                Value::String(arguments.to_owned()),
            );
            Value::Object(object)
        }
    }
}

/// A tool definition with its schema normalised: no `$schema`, and
/// `type: object` (the only input type the API accepts).
fn tool_definition(spec: &ToolSpec) -> Result<ToolDefinition, ModelError> {
    let input_schema = match &spec.parameters {
        Value::Object(schema) => {
            let mut schema = schema.clone();
            schema.remove("$schema");
            match schema.get("type") {
                None => {
                    schema.insert("type".into(), Value::String("object".into()));
                }
                Some(Value::String(t)) if t == "object" => {}
                Some(other) => {
                    return Err(ModelError::InvalidRequest {
                        detail: ErrorDetail::message(format!(
                            "the parameter schema of tool `{}` has type {other}; Anthropic only accepts tools whose arguments are a JSON object, so wrap the arguments in an object schema",
                            spec.name
                        )),
                    });
                }
            }
            Value::Object(schema)
        }
        Value::Null => serde_json::json!({"type": "object", "properties": {}}),
        other => {
            return Err(ModelError::InvalidRequest {
                detail: ErrorDetail::message(format!(
                    "the parameter schema of tool `{}` is not a JSON schema object ({other}); give it an object schema",
                    spec.name
                )),
            });
        }
    };
    Ok(ToolDefinition {
        name: spec.name.clone(),
        description: spec.description.clone(),
        input_schema,
        cache_control: None,
    })
}

/// The wire tool choice; `parallel: Some(false)` asks for one call per reply.
fn tool_choice_wire(choice: &ToolChoice, parallel: Option<bool>) -> ToolChoiceWire {
    let (kind, name) = match choice {
        ToolChoice::Auto => ("auto", None),
        ToolChoice::Required => ("any", None),
        ToolChoice::None => ("none", None),
        ToolChoice::Tool { name } => ("tool", Some(name.clone())),
    };
    ToolChoiceWire {
        kind,
        name,
        disable_parallel_tool_use: parallel.filter(|p| !p && kind != "none").map(|_| true),
    }
}

/// Puts `cache_control` breakpoints on the prefix that the next call will
/// share, within the API's limit of four:
///
/// 1. the last tool definition (tools are the first thing the cache hashes);
/// 2. the system block;
/// 3. the last block of the latest message: the next call's conversation
///    starts with everything up to here, so it reads it from the cache;
/// 4. the last block of the message two back (the previous turn of the same
///    role): that is where the previous call put breakpoint 3, so this call
///    reads the previous call's entry even when the new turn added more
///    blocks than the API's 20-block lookback.
///
/// Thinking blocks cannot carry a breakpoint; the last other block is used.
pub(crate) fn place_cache_breakpoints(body: &mut MessagesRequest) {
    let mut left = MAX_CACHE_BREAKPOINTS;
    if let Some(tool) = body.tools.last_mut() {
        tool.cache_control = Some(EPHEMERAL);
        left -= 1;
    }
    if let Some(slot) = body
        .system
        .last_mut()
        .and_then(RequestBlock::cache_control_mut)
    {
        *slot = Some(EPHEMERAL);
        left -= 1;
    }
    let latest = body.messages.len().checked_sub(1);
    let previous = body.messages.len().checked_sub(3);
    for index in [latest, previous].into_iter().flatten() {
        if left == 0 {
            break;
        }
        let slot = body.messages[index]
            .content
            .iter_mut()
            .rev()
            .find_map(RequestBlock::cache_control_mut);
        if let Some(slot) = slot {
            *slot = Some(EPHEMERAL);
            left -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_arguments_are_sent_as_objects_and_empty_ones_as_empty_objects() {
        assert_eq!(tool_input(r#"{"path":"a.rs"}"#), json!({"path": "a.rs"}));
        assert_eq!(tool_input("  "), json!({}));
        assert_eq!(tool_input(""), json!({}));
    }

    #[test]
    fn arguments_that_are_not_an_object_are_wrapped_verbatim_never_emptied() {
        for raw in [
            r#"{"path": "a.rs", "content": "fn ma"#,
            "[1, 2]",
            r#"{"a":1} x"#,
        ] {
            assert_eq!(tool_input(raw), json!({"_invalid_arguments": raw}), "{raw}");
        }
    }

    #[test]
    fn a_non_object_schema_is_refused_with_the_tool_name() {
        let spec = ToolSpec {
            name: "echo".into(),
            description: String::new(),
            parameters: json!({"type": "string"}),
            annotations: Default::default(),
        };
        let err = tool_definition(&spec).unwrap_err();
        assert!(
            err.detail()
                .message
                .contains("tool `echo` has type \"string\""),
            "{err}"
        );
    }

    #[test]
    fn misplaced_parts_are_refused_not_dropped() {
        let bad = Message {
            role: Role::User,
            parts: vec![Part::ToolCall(ToolCall {
                id: "c".into(),
                name: "grep".into(),
                arguments: "{}".into(),
            })],
        };
        let err = convert_messages(&[bad]).unwrap_err();
        assert_eq!(
            err.detail().message,
            "message 0 is a user message holding a tool call (`grep`, id `c`); only assistant messages can call tools. The conversation cannot be sent to Anthropic; fix the code that built it."
        );
    }
}
