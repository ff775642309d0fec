//! Extended thinking: how much to think, and how thinking blocks survive a
//! trip through the provider-neutral conversation.
//!
//! # Budget
//!
//! A call thinks when the request names a [`ReasoningEffort`] (and the model
//! can reason) or the configuration sets a budget. The budget then has to fit
//! the API's rules, checked in this order:
//!
//! 1. Forced tool use (`tool_choice` `any` or `tool`) cannot be combined with
//!    thinking. The caller's tool choice is a hard requirement and thinking
//!    a preference, so thinking is off for that call.
//! 2. While a tool-use turn is in progress, the latest assistant message must
//!    start with a thinking block. When it does not (the turn began without
//!    thinking, or on another provider), thinking is off for that call.
//! 3. `budget_tokens` is at least [`MIN_BUDGET_TOKENS`] and below
//!    `max_tokens`, whose tokens it shares with the answer. The budget is
//!    capped so that the answer keeps half of `max_tokens` or 4096 tokens,
//!    whichever is less; a budget that falls below the minimum turns thinking
//!    off rather than raising the caller's `max_tokens`.
//!
//! With thinking on, `temperature` is not sent (the API only accepts the
//! default).
//!
//! # Signatures
//!
//! Anthropic returns two kinds of thinking block, and both must be sent back
//! unchanged. Each becomes one [`agentkit_core::message::Part::Reasoning`]
//! with `provider: Some("anthropic")`, and its `signature` field encodes the
//! block:
//!
//! - `thinking {thinking, signature}` → `text` is the thinking, `signature`
//!   is the block's signature as received;
//! - `redacted_thinking {data}` → `text` is empty, `signature` is
//!   [`REDACTED_THINKING_PREFIX`] followed by `data` as received.
//!
//! Signatures are base64, which never contains `:`, so the prefix cannot be
//! mistaken for one. A thinking part without a signature, or with an empty
//! one (a block that never got its `signature_delta`: streams open thinking
//! blocks with `"signature": ""`), cannot be verified by the API and is
//! dropped.

use agentkit_core::message::Part;
use agentkit_core::model::{ReasoningEffort, ToolChoice};

use super::wire::{RequestBlock, RequestMessage, WireRole};

/// The provider tag on reasoning parts this backend produces and accepts.
pub const PROVIDER: &str = "anthropic";

/// Marks a [`Part::Reasoning`] signature that holds a `redacted_thinking`
/// block's `data` rather than a thinking signature.
pub const REDACTED_THINKING_PREFIX: &str = "redacted_thinking:";

/// The smallest `budget_tokens` the API accepts.
pub const MIN_BUDGET_TOKENS: u64 = 1024;

/// The most `max_tokens` tokens kept back for the answer when the budget is capped.
const ANSWER_RESERVE: u64 = 4096;

/// The thinking budget for `effort`: none for `minimal` (as little as the
/// provider allows is no thinking), 2048 for `low`, 8192 for `medium`,
/// 24576 for `high`.
pub fn budget_for_effort(effort: ReasoningEffort) -> Option<u64> {
    match effort {
        ReasoningEffort::Minimal => None,
        ReasoningEffort::Low => Some(2048),
        ReasoningEffort::Medium => Some(8192),
        ReasoningEffort::High => Some(24_576),
    }
}

/// What the thinking decision needs to know about a call.
pub(crate) struct ThinkingInputs<'a> {
    /// The request's effort, when it named one.
    pub effort: Option<ReasoningEffort>,
    /// Whether the model can reason (effort is ignored otherwise).
    pub can_reason: bool,
    /// The configured default budget.
    pub configured: Option<u64>,
    /// The call's `max_tokens`.
    pub max_tokens: u64,
    /// The tool choice, when tools are sent.
    pub tool_choice: Option<&'a ToolChoice>,
    /// The messages as they will be sent.
    pub messages: &'a [RequestMessage],
}

/// The `budget_tokens` to send, or `None` for no thinking. See the module doc.
pub(crate) fn plan_budget(inputs: &ThinkingInputs<'_>) -> Option<u64> {
    let wanted = match inputs.effort {
        Some(effort) if inputs.can_reason => budget_for_effort(effort),
        _ => inputs.configured,
    }?;
    if matches!(
        inputs.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Tool { .. })
    ) {
        tracing::debug!("extended thinking is off for this call: it cannot force tool use");
        return None;
    }
    if open_tool_turn_lacks_thinking(inputs.messages) {
        tracing::debug!(
            "extended thinking is off for this call: the tool-use turn in progress did not start with a thinking block"
        );
        return None;
    }
    let reserve = (inputs.max_tokens / 2).min(ANSWER_RESERVE);
    let budget = wanted
        .max(MIN_BUDGET_TOKENS)
        .min(inputs.max_tokens.saturating_sub(reserve));
    if budget < MIN_BUDGET_TOKENS {
        tracing::debug!(
            max_tokens = inputs.max_tokens,
            "extended thinking is off for this call: max_tokens leaves no room for the minimum budget"
        );
        return None;
    }
    Some(budget)
}

/// Whether the latest assistant message calls tools without starting with a
/// thinking block (the API rejects thinking for such a turn).
fn open_tool_turn_lacks_thinking(messages: &[RequestMessage]) -> bool {
    let Some(last_assistant) = messages
        .iter()
        .rev()
        .find(|m| m.role == WireRole::Assistant)
    else {
        return false;
    };
    let calls_tools = last_assistant
        .content
        .iter()
        .any(|b| matches!(b, RequestBlock::ToolUse { .. }));
    let starts_with_thinking = last_assistant
        .content
        .first()
        .is_some_and(RequestBlock::is_thinking);
    calls_tools && !starts_with_thinking
}

/// The block to send back for a reasoning part, or `None` when the part is
/// not Anthropic's or cannot be verified (no signature).
pub(crate) fn block_for_reasoning(part: &Part) -> Option<RequestBlock> {
    let Part::Reasoning {
        text,
        signature,
        provider,
    } = part
    else {
        return None;
    };
    if provider.as_deref() != Some(PROVIDER) {
        return None;
    }
    let Some(signature) = signature.as_ref().filter(|s| !s.is_empty()) else {
        tracing::debug!("dropping an unsigned thinking block from the history");
        return None;
    };
    Some(match signature.strip_prefix(REDACTED_THINKING_PREFIX) {
        Some(data) => RequestBlock::RedactedThinking {
            data: data.to_owned(),
        },
        None => RequestBlock::Thinking {
            thinking: text.clone(),
            signature: signature.clone(),
        },
    })
}

/// The signature that stands for a `redacted_thinking` block.
pub(crate) fn redacted_signature(data: &str) -> String {
    format!("{REDACTED_THINKING_PREFIX}{data}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(max_tokens: u64, configured: Option<u64>) -> ThinkingInputs<'static> {
        ThinkingInputs {
            effort: None,
            can_reason: true,
            configured,
            max_tokens,
            tool_choice: None,
            messages: &[],
        }
    }

    #[test]
    fn budget_is_capped_to_leave_room_for_the_answer() {
        assert_eq!(plan_budget(&inputs(32_000, Some(24_576))), Some(24_576));
        assert_eq!(plan_budget(&inputs(16_384, Some(24_576))), Some(12_288));
        assert_eq!(plan_budget(&inputs(8192, Some(8192))), Some(4096));
        assert_eq!(plan_budget(&inputs(2048, Some(2048))), Some(1024));
        assert_eq!(plan_budget(&inputs(1500, Some(2048))), None);
    }

    #[test]
    fn budgets_below_the_minimum_are_raised_to_it() {
        assert_eq!(plan_budget(&inputs(16_384, Some(10))), Some(1024));
    }

    #[test]
    fn effort_overrides_the_configured_budget_only_for_reasoning_models() {
        let mut i = inputs(64_000, Some(4000));
        i.effort = Some(ReasoningEffort::High);
        assert_eq!(plan_budget(&i), Some(24_576));
        i.effort = Some(ReasoningEffort::Minimal);
        assert_eq!(plan_budget(&i), None);
        i.can_reason = false;
        assert_eq!(plan_budget(&i), Some(4000));
    }

    #[test]
    fn forced_tool_use_turns_thinking_off() {
        let mut i = inputs(64_000, Some(4000));
        i.tool_choice = Some(&ToolChoice::Required);
        assert_eq!(plan_budget(&i), None);
        i.tool_choice = Some(&ToolChoice::Auto);
        assert_eq!(plan_budget(&i), Some(4000));
    }

    #[test]
    fn a_tool_turn_without_leading_thinking_turns_thinking_off() {
        let tool_use = RequestBlock::ToolUse {
            id: "t".into(),
            name: "n".into(),
            input: serde_json::json!({}),
            cache_control: None,
        };
        let without = vec![RequestMessage {
            role: WireRole::Assistant,
            content: vec![tool_use.clone()],
        }];
        let mut i = inputs(64_000, Some(4000));
        i.messages = &without;
        assert_eq!(plan_budget(&i), None);
        let with = vec![RequestMessage {
            role: WireRole::Assistant,
            content: vec![
                RequestBlock::Thinking {
                    thinking: "hm".into(),
                    signature: "sig".into(),
                },
                tool_use,
            ],
        }];
        let mut i = inputs(64_000, Some(4000));
        i.messages = &with;
        assert_eq!(plan_budget(&i), Some(4000));
    }

    #[test]
    fn reasoning_parts_map_to_their_block_kind_and_foreign_or_unsigned_ones_are_dropped() {
        let part = |signature: Option<&str>, provider: Option<&str>| Part::Reasoning {
            text: "because".into(),
            signature: signature.map(Into::into),
            provider: provider.map(Into::into),
        };
        assert_eq!(
            block_for_reasoning(&part(Some("c2ln"), Some("anthropic"))),
            Some(RequestBlock::Thinking {
                thinking: "because".into(),
                signature: "c2ln".into()
            })
        );
        assert_eq!(
            block_for_reasoning(&part(Some(&redacted_signature("EmwK")), Some("anthropic"))),
            Some(RequestBlock::RedactedThinking {
                data: "EmwK".into()
            })
        );
        assert_eq!(block_for_reasoning(&part(None, Some("anthropic"))), None);
        assert_eq!(
            block_for_reasoning(&part(Some(""), Some("anthropic"))),
            None
        );
        assert_eq!(
            block_for_reasoning(&part(Some("enc"), Some("openai-responses"))),
            None
        );
        assert_eq!(block_for_reasoning(&part(Some("enc"), None)), None);
    }
}
