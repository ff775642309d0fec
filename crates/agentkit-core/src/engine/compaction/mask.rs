//! Stage 1: masking old tool outputs.

use crate::message::{Message, Part, ToolCall};
use crate::tokenizer::Tokenizer;

/// How every masked output begins.
pub const MASK_PREFIX: &str = "[output of ";

/// Characters of a call's arguments quoted in its mask note.
const NOTE_ARGS_CHARS: usize = 160;

/// The one-line note that replaces a masked output: what it was and how to
/// get it again.
pub fn mask_note(call: Option<&ToolCall>, name: &str, tokens: usize, is_error: bool) -> String {
    let args = call
        .map(|c| one_line(&c.arguments, NOTE_ARGS_CHARS))
        .unwrap_or_default();
    let what = if is_error { "error" } else { "output" };
    let sep = if args.is_empty() { "" } else { " " };
    format!(
        "[{what} of {name}{sep}{args} masked: {} tokens; call the tool again to see it]",
        thousands(tokens)
    )
}

/// Whether `content` is already a mask note.
pub fn is_masked(content: &str) -> bool {
    (content.starts_with(MASK_PREFIX) || content.starts_with("[error of "))
        && content.ends_with("call the tool again to see it]")
}

/// Chooses results to mask, oldest first, until `total` drops to `budget`.
/// Returns the chosen `(message, part)` indices and the new total.
///
/// The `keep_recent` most recent results are never chosen, nor results that
/// are already masked or cost fewer than `min_tokens`.
pub(super) fn choose(
    tokenizer: &dyn Tokenizer,
    messages: &[Message],
    mut total: usize,
    budget: usize,
    keep_recent: usize,
    min_tokens: usize,
) -> (Vec<(usize, usize)>, usize) {
    let results: Vec<(usize, usize)> = messages
        .iter()
        .enumerate()
        .skip(1)
        .flat_map(|(m, message)| {
            message
                .parts
                .iter()
                .enumerate()
                .filter(|(_, p)| matches!(p, Part::ToolResult(_)))
                .map(move |(p, _)| (m, p))
        })
        .collect();
    let eligible = results.len().saturating_sub(keep_recent);
    let mut chosen = Vec::new();
    for &(m, p) in &results[..eligible] {
        if total <= budget {
            break;
        }
        let Part::ToolResult(result) = &messages[m].parts[p] else {
            continue;
        };
        if is_masked(&result.content) {
            continue;
        }
        let tokens = tokenizer.count(&result.content);
        if tokens < min_tokens {
            continue;
        }
        let note = note_for(tokenizer, messages, m, p);
        let saved = tokens.saturating_sub(tokenizer.count(&note));
        total = total.saturating_sub(saved);
        chosen.push((m, p));
    }
    (chosen, total)
}

/// Replaces the chosen results with their notes.
pub(super) fn apply(
    tokenizer: &dyn Tokenizer,
    messages: &mut [Message],
    chosen: &[(usize, usize)],
) {
    for &(m, p) in chosen {
        let note = note_for(tokenizer, messages, m, p);
        if let Some(Part::ToolResult(result)) =
            messages.get_mut(m).and_then(|msg| msg.parts.get_mut(p))
        {
            result.content = note;
        }
    }
}

/// The note for the result at `(m, p)`, naming the call it answers (found in
/// the assistant message before it).
fn note_for(tokenizer: &dyn Tokenizer, messages: &[Message], m: usize, p: usize) -> String {
    let Some(Part::ToolResult(result)) = messages.get(m).and_then(|msg| msg.parts.get(p)) else {
        return String::new();
    };
    let call = m
        .checked_sub(1)
        .and_then(|prev| messages.get(prev))
        .and_then(|prev| prev.tool_calls().find(|c| c.id == result.call_id));
    mask_note(
        call,
        &result.name,
        tokenizer.count(&result.content),
        result.is_error,
    )
}

/// Tokens the history would cost with the chosen results masked (used by tests).
#[cfg(test)]
pub(super) fn masked_total(
    tokenizer: &dyn Tokenizer,
    messages: &[Message],
    chosen: &[(usize, usize)],
) -> usize {
    let mut copy = messages.to_vec();
    apply(tokenizer, &mut copy, chosen);
    copy.iter()
        .map(|m| super::ledger::message_tokens(tokenizer, m))
        .sum()
}

/// `text` on one line, cut to `max` characters with an ellipsis.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        flat.chars().take(max).collect::<String>() + "…"
    }
}

/// `4210` → `4,210`.
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::ledger::message_tokens;
    use super::*;
    use crate::message::{Role, ToolResult};
    use crate::tokenizer::ApproxTokenizer;

    #[test]
    fn the_note_names_the_call_its_size_and_how_to_get_it_again() {
        let call = ToolCall {
            id: "c1".into(),
            name: "read_file".into(),
            arguments: "{\"path\":\"src/x.rs\"}".into(),
        };
        assert_eq!(
            mask_note(Some(&call), "read_file", 4210, false),
            "[output of read_file {\"path\":\"src/x.rs\"} masked: 4,210 tokens; call the tool again to see it]"
        );
        assert!(is_masked(&mask_note(Some(&call), "read_file", 12, true)));
        assert_eq!(
            mask_note(None, "git_diff", 1_234_567, true),
            "[error of git_diff masked: 1,234,567 tokens; call the tool again to see it]"
        );
    }

    #[test]
    fn oldest_large_outputs_go_first_and_recent_ones_stay() {
        let big = "x".repeat(4000);
        let turn = |id: &str| {
            [
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::ToolCall(ToolCall {
                        id: id.into(),
                        name: "read_file".into(),
                        arguments: "{}".into(),
                    })],
                },
                Message {
                    role: Role::User,
                    parts: vec![Part::ToolResult(ToolResult {
                        call_id: id.into(),
                        name: "read_file".into(),
                        content: big.clone(),
                        is_error: false,
                    })],
                },
            ]
        };
        let mut history = vec![Message::user("task")];
        for id in ["a", "b", "c"] {
            history.extend(turn(id));
        }
        let tok = ApproxTokenizer;
        let total: usize = history.iter().map(|m| message_tokens(&tok, m)).sum();
        let (chosen, after) = choose(&tok, &history, total, total - 1500, 1, 100);
        assert_eq!(chosen, vec![(2, 0), (4, 0)]);
        assert_eq!(after, masked_total(&tok, &history, &chosen));
    }
}
