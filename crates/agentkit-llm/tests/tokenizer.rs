use std::sync::Arc;

use agentkit_core::tokenizer::Tokenizer;
use agentkit_llm::tokenizer::{Encoding, TiktokenTokenizer, for_model};

const RUST: &str = "fn main() {\n    println!(\"Hello, world!\");\n}\n";
const PROSE: &str = "The quick brown fox jumps over the lazy dog.";

#[test]
fn known_strings_have_pinned_counts() {
    let o200k = TiktokenTokenizer::o200k();
    let cl100k = TiktokenTokenizer::cl100k();
    let counts = |t: &TiktokenTokenizer| {
        [
            t.count(""),
            t.count("hello world"),
            t.count(PROSE),
            t.count(RUST),
            t.count("こんにちは世界"),
        ]
    };
    assert_eq!(counts(&o200k), [0, 2, 10, 12, 2]);
    assert_eq!(counts(&cl100k), [0, 2, 10, 12, 4]);
}

#[test]
fn special_token_text_is_counted_as_ordinary_text() {
    for tokenizer in [TiktokenTokenizer::o200k(), TiktokenTokenizer::cl100k()] {
        let n = tokenizer.count("<|endoftext|>");
        assert!(
            n > 1,
            "{:?} counted <|endoftext|> as {n}",
            tokenizer.encoding()
        );
        assert!(tokenizer.count("a <|im_start|>user<|im_end|> <|endofprompt|> b") > 6);
    }
}

#[test]
fn tokenizers_are_shared_per_encoding() {
    assert!(Arc::ptr_eq(
        &TiktokenTokenizer::o200k(),
        &TiktokenTokenizer::o200k()
    ));
    assert!(Arc::ptr_eq(
        &TiktokenTokenizer::cl100k(),
        &TiktokenTokenizer::shared(Encoding::Cl100kBase)
    ));
    let o200k: Arc<dyn Tokenizer> = TiktokenTokenizer::o200k();
    let cl100k: Arc<dyn Tokenizer> = TiktokenTokenizer::cl100k();
    assert!(Arc::ptr_eq(&for_model("gpt-5"), &o200k));
    assert!(Arc::ptr_eq(&for_model("gpt-4"), &cl100k));
    assert!(Arc::ptr_eq(&for_model("claude-sonnet-4-5"), &cl100k));
}

#[test]
fn models_map_to_their_family_encoding() {
    let cases = [
        ("gpt-5", Some(Encoding::O200kBase)),
        ("gpt-5-mini-2025-08-07", Some(Encoding::O200kBase)),
        ("gpt-4.1-nano", Some(Encoding::O200kBase)),
        ("gpt-4o-2024-08-06", Some(Encoding::O200kBase)),
        ("openai/gpt-4o-mini", Some(Encoding::O200kBase)),
        ("o1", Some(Encoding::O200kBase)),
        ("o3-mini", Some(Encoding::O200kBase)),
        ("o4-mini", Some(Encoding::O200kBase)),
        ("gpt-4", Some(Encoding::Cl100kBase)),
        ("gpt-4-turbo-2024-04-09", Some(Encoding::Cl100kBase)),
        ("gpt-3.5-turbo", Some(Encoding::Cl100kBase)),
        ("claude-sonnet-4-5", None),
        ("o1x", None),
        ("llama-3.1-70b", None),
    ];
    for (model, expected) in cases {
        assert_eq!(Encoding::for_model(model), expected, "{model}");
    }
}

#[test]
fn the_encoding_decides_the_count() {
    // o200k has more multi-character pieces for non-English text.
    let text = "こんにちは世界、今日はいい天気ですね。";
    assert!(TiktokenTokenizer::o200k().count(text) < TiktokenTokenizer::cl100k().count(text));
}
