//! Building the `POST /responses` body from a [`ModelRequest`].
//!
//! The conversation becomes `input` items in order: each run of text parts
//! one `message` item, each tool call a `function_call`, each tool result a
//! `function_call_output`, and each reasoning part of ours (provider
//! [`REASONING_PROVIDER`]) the `reasoning` item it was decoded from. Since
//! parts keep the order the reply had, a reasoning item lands directly
//! before the text or calls that followed it.

use agentkit_core::message::{Message, Part, Role};
use agentkit_core::model::{ModelRequest, ToolChoice};

use super::wire::{
    FunctionTool, InputContent, InputItem, ReasoningItem, ReasoningParams, RequestBody,
    WireToolChoice,
};
use super::{OpenAiResponsesConfig, REASONING_PROVIDER, ReasoningSummary};

/// What `include` asks for when nothing is stored server-side: the
/// encrypted reasoning, so it can be passed back on the next turn.
const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// The request body for `request`. `reasoning_capable` says whether the
/// model is known to reason (from its [`ModelInfo`](agentkit_core::model::ModelInfo)).
pub(super) fn body<'a>(
    config: &'a OpenAiResponsesConfig,
    request: &'a ModelRequest,
    reasoning_capable: bool,
    stream: bool,
) -> RequestBody<'a> {
    let effort = request
        .reasoning_effort
        .filter(|_| reasoning_capable || config.reasoning_effort.is_some())
        .or(config.reasoning_effort);
    let reasoning = effort.map(|effort| ReasoningParams {
        effort: effort.as_str(),
        summary: config.reasoning_summary.as_wire(),
    });
    let reasons = reasoning.is_some() || reasoning_capable;
    let include = if !config.store && reasons {
        vec![ENCRYPTED_REASONING]
    } else {
        Vec::new()
    };
    let has_tools = !request.tools.is_empty();
    RequestBody {
        model: &config.model,
        instructions: Some(request.system.as_str()).filter(|s| !s.is_empty()),
        input: input_items(&request.messages, config.store),
        tools: request
            .tools
            .iter()
            .map(|tool| FunctionTool {
                kind: "function",
                name: &tool.name,
                description: &tool.description,
                parameters: &tool.parameters,
                strict: false,
            })
            .collect(),
        tool_choice: has_tools.then(|| tool_choice(&request.tool_choice)),
        parallel_tool_calls: config.parallel_tool_calls.filter(|_| has_tools),
        max_output_tokens: request.max_output_tokens,
        // OpenAI's reasoning models refuse any temperature but the default.
        temperature: request.temperature.filter(|_| !reasons).map(exact_decimal),
        reasoning,
        store: config.store,
        include,
        stream,
    }
}

fn tool_choice(choice: &ToolChoice) -> WireToolChoice<'_> {
    match choice {
        ToolChoice::Auto => WireToolChoice::Mode("auto"),
        ToolChoice::Required => WireToolChoice::Mode("required"),
        ToolChoice::None => WireToolChoice::Mode("none"),
        ToolChoice::Tool { name } => WireToolChoice::Function {
            kind: "function",
            name,
        },
    }
}

/// `0.2f32` as `0.2`, not `0.20000000298023224`.
fn exact_decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

impl ReasoningSummary {
    fn as_wire(self) -> Option<&'static str> {
        match self {
            ReasoningSummary::Auto => Some("auto"),
            ReasoningSummary::Concise => Some("concise"),
            ReasoningSummary::Detailed => Some("detailed"),
            ReasoningSummary::Off => None,
        }
    }
}

/// The conversation as `input` items. With `store` off, reasoning items
/// without encrypted content are dropped: the server kept nothing to
/// resolve their ids against.
pub(super) fn input_items(messages: &[Message], store: bool) -> Vec<InputItem> {
    let mut items = Vec::new();
    for message in messages {
        let (role, text) = match message.role {
            Role::User => ("user", input_text as fn(String) -> InputContent),
            Role::Assistant => ("assistant", output_text as fn(String) -> InputContent),
        };
        let mut texts: Vec<InputContent> = Vec::new();
        for part in &message.parts {
            if let Part::Text { text: t } = part {
                if !t.is_empty() {
                    texts.push(text(t.clone()));
                }
                continue;
            }
            if !texts.is_empty() {
                items.push(InputItem::Message {
                    role,
                    content: std::mem::take(&mut texts),
                });
            }
            match part {
                Part::Text { .. } => {}
                Part::ToolCall(call) => items.push(InputItem::FunctionCall {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                }),
                Part::ToolResult(result) => items.push(InputItem::FunctionCallOutput {
                    call_id: result.call_id.clone(),
                    output: result.content.clone(),
                }),
                Part::Reasoning {
                    signature,
                    provider,
                    ..
                } => {
                    if let Some(item) = reasoning_item(signature.as_deref(), provider.as_deref())
                        && (store || item.encrypted_content.is_some())
                    {
                        items.push(InputItem::Reasoning(item));
                    }
                }
            }
        }
        if !texts.is_empty() {
            items.push(InputItem::Message {
                role,
                content: texts,
            });
        }
    }
    items
}

fn input_text(text: String) -> InputContent {
    InputContent::InputText { text }
}

fn output_text(text: String) -> InputContent {
    InputContent::OutputText { text }
}

/// The reasoning item kept in a part's signature, when the part is ours.
fn reasoning_item(signature: Option<&str>, provider: Option<&str>) -> Option<ReasoningItem> {
    if provider != Some(REASONING_PROVIDER) {
        return None;
    }
    match serde_json::from_str::<ReasoningItem>(signature?) {
        Ok(item) => Some(item),
        Err(error) => {
            tracing::warn!(
                %error,
                "dropping an openai-responses reasoning part whose signature is not a reasoning item"
            );
            None
        }
    }
}
