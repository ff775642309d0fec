//! Property tests for the streaming path: the incremental SSE parser and
//! tool-call assembly through the real protocol decoders.
//!
//! - SSE: a generated event stream (random fields, unicode data, ids,
//!   comments, unknown fields, every line ending, an optional BOM and an
//!   optional unterminated last event) parses to the same events whether fed
//!   whole or cut into arbitrary byte chunks (inside UTF-8 characters,
//!   between `\r` and `\n`, empty chunks), and those are the events a
//!   reference reading of the WHATWG rules expects. Arbitrary bytes never
//!   panic and are chunking-invariant too.
//! - Tool calls: generated calls with JSON-object arguments are encoded as an
//!   OpenAI Chat Completions stream (fragments interleaved by `index`) and as
//!   an Anthropic stream (`input_json_delta` fragments) and as a Responses
//!   API stream (`function_call_arguments.delta`s, interleaved by
//!   `output_index`, then the `done` events repeating the whole text), pushed through
//!   `SseParser` in random chunks and the protocol's decoder, folded with
//!   `ResponseFolder`: the calls come out in order with exactly the original
//!   argument text. A call cut short keeps exactly the truncated text (never
//!   `{}`), and a body cut before the reply finished is an error.
//!
//! This file holds the proptest configuration, byte chunking and the
//! strategies both halves use; [`sse`] holds the parser's properties,
//! [`tool_calls`] the decoders'.

#[path = "../support/mod.rs"]
mod support;

mod sse;
mod tool_calls;

use proptest::prelude::*;
use proptest::sample::Index;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Keep failures in the report rather than in files next to the test.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ helpers

/// Cuts `bytes` at the positions `cuts` pick (sorted, duplicates kept so
/// that empty chunks occur too).
fn chunks<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    chunks_at(bytes, at)
}

fn chunks_at(bytes: &[u8], mut at: Vec<usize>) -> Vec<&[u8]> {
    at.sort_unstable();
    let mut out = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    for cut in at {
        out.push(&bytes[start..cut]);
        start = cut;
    }
    out.push(&bytes[start..]);
    out
}

// --------------------------------------------------------------- strategies

/// Characters with a bias towards the awkward ones: multi-byte, emoji,
/// quotes, escapes, controls, BOM, line separators.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => (0x20u8..0x7f).prop_map(char::from),
        2 => any::<char>(),
        2 => prop::char::range('\u{1F300}', '\u{1FAFF}'),
        1 => prop::char::range('\u{00A0}', '\u{07FF}'),
        2 => prop::sample::select(vec![
            '"', '\\', ':', ' ', '\n', '\r', '\t', '\0', '\u{2028}', '\u{feff}', 'é', '✓', '中',
            '\u{1F600}', '\u{10FFFF}',
        ]),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any_char(), 0..max).prop_map(|cs| cs.into_iter().collect())
}
