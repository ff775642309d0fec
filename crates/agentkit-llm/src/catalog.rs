//! What is known about models by name: context window, output limit,
//! pricing, capabilities.
//!
//! The table covers well-known OpenAI and Anthropic models. **Prices are list
//! prices as of 2025**, in US dollars per million tokens, with the discounted
//! rate for cached input (Anthropic's cache *writes*, billed above the input
//! rate, are not modelled). Callers with negotiated prices, or a proxy that
//! bills differently, should override them: wrap the model in
//! [`Metered::with_pricing`](crate::wrap::metered::Metered::with_pricing) or
//! build their own [`ModelInfo`].
//!
//! Names match exactly or as a dated snapshot or alias of a known name:
//! `gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`, `claude-3-5-haiku-latest`
//! and `claude-sonnet-4-5@20250929` (Vertex) find their base entry; router
//! prefixes (`openai/`, `anthropic/`) and Bedrock's `anthropic.` prefix are
//! ignored. Other suffixes do **not** match: `o3-pro` is not priced as `o3`,
//! because a wrong price is worse than none.
//!
//! ```
//! let info = agentkit_llm::catalog::lookup("anthropic", "claude-sonnet-4-5-20250929");
//! assert_eq!(info.context_window, 200_000);
//! assert_eq!(info.pricing.map(|p| p.output_per_mtok), Some(15.0));
//! assert!(agentkit_llm::catalog::lookup("local", "my-finetune").pricing.is_none());
//! ```

use agentkit_core::model::{Capabilities, ModelInfo};
use agentkit_core::usage::Pricing;

/// Context window given to models the catalog does not know.
pub const DEFAULT_CONTEXT_WINDOW: u64 = 128_000;
/// Output limit given to models the catalog does not know.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 16_384;

/// One known model.
struct Entry {
    name: &'static str,
    context_window: u64,
    max_output_tokens: u64,
    /// Input, cached input, output: dollars per million tokens.
    prices: (f64, f64, f64),
    reasoning: bool,
    images: bool,
}

const fn entry(
    name: &'static str,
    context_window: u64,
    max_output_tokens: u64,
    prices: (f64, f64, f64),
    reasoning: bool,
    images: bool,
) -> Entry {
    Entry {
        name,
        context_window,
        max_output_tokens,
        prices,
        reasoning,
        images,
    }
}

const GPT_4_1_WINDOW: u64 = 1_047_576;

/// The built-in table. Every model listed calls tools, in parallel.
const MODELS: &[Entry] = &[
    // OpenAI
    entry("gpt-5", 400_000, 128_000, (1.25, 0.125, 10.0), true, true),
    entry(
        "gpt-5-mini",
        400_000,
        128_000,
        (0.25, 0.025, 2.0),
        true,
        true,
    ),
    entry(
        "gpt-5-nano",
        400_000,
        128_000,
        (0.05, 0.005, 0.40),
        true,
        true,
    ),
    entry(
        "gpt-4.1",
        GPT_4_1_WINDOW,
        32_768,
        (2.0, 0.50, 8.0),
        false,
        true,
    ),
    entry(
        "gpt-4.1-mini",
        GPT_4_1_WINDOW,
        32_768,
        (0.40, 0.10, 1.60),
        false,
        true,
    ),
    entry(
        "gpt-4.1-nano",
        GPT_4_1_WINDOW,
        32_768,
        (0.10, 0.025, 0.40),
        false,
        true,
    ),
    entry("gpt-4o", 128_000, 16_384, (2.50, 1.25, 10.0), false, true),
    entry(
        "gpt-4o-mini",
        128_000,
        16_384,
        (0.15, 0.075, 0.60),
        false,
        true,
    ),
    entry("o3", 200_000, 100_000, (2.0, 0.50, 8.0), true, true),
    entry("o4-mini", 200_000, 100_000, (1.10, 0.275, 4.40), true, true),
    // Anthropic
    entry(
        "claude-opus-4-1",
        200_000,
        32_000,
        (15.0, 1.50, 75.0),
        true,
        true,
    ),
    entry(
        "claude-opus-4",
        200_000,
        32_000,
        (15.0, 1.50, 75.0),
        true,
        true,
    ),
    entry(
        "claude-sonnet-4-5",
        200_000,
        64_000,
        (3.0, 0.30, 15.0),
        true,
        true,
    ),
    entry(
        "claude-sonnet-4",
        200_000,
        64_000,
        (3.0, 0.30, 15.0),
        true,
        true,
    ),
    entry(
        "claude-haiku-4-5",
        200_000,
        64_000,
        (1.0, 0.10, 5.0),
        true,
        true,
    ),
    entry(
        "claude-3-5-haiku",
        200_000,
        8_192,
        (0.80, 0.08, 4.0),
        false,
        true,
    ),
];

/// The [`ModelInfo`] for `model` served by `provider`, from the built-in
/// table; unknown models get conservative defaults
/// ([`DEFAULT_CONTEXT_WINDOW`], [`DEFAULT_MAX_OUTPUT_TOKENS`], tools but no
/// reasoning or images) and no pricing, so cost budgets cannot be enforced
/// for them until the caller supplies prices.
pub fn lookup(provider: &str, model: &str) -> ModelInfo {
    known(provider, model).unwrap_or_else(|| ModelInfo {
        name: model.to_owned(),
        provider: provider.to_owned(),
        context_window: DEFAULT_CONTEXT_WINDOW,
        max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
        pricing: None,
        capabilities: Capabilities::default(),
    })
}

/// The [`ModelInfo`] for `model` when the catalog knows it. The info keeps
/// `model` and `provider` as given (a snapshot name stays a snapshot name).
pub fn known(provider: &str, model: &str) -> Option<ModelInfo> {
    let entry = find(model)?;
    let (input, cached, output) = entry.prices;
    Some(ModelInfo {
        name: model.to_owned(),
        provider: provider.to_owned(),
        context_window: entry.context_window,
        max_output_tokens: entry.max_output_tokens,
        pricing: Some(Pricing {
            input_per_mtok: input,
            output_per_mtok: output,
            cached_input_per_mtok: Some(cached),
        }),
        capabilities: Capabilities {
            tools: true,
            parallel_tool_calls: true,
            reasoning: entry.reasoning,
            images: entry.images,
        },
    })
}

/// The entry whose name is the longest one `model` is a snapshot or alias of.
fn find(model: &str) -> Option<&'static Entry> {
    let name = base_name(model);
    MODELS
        .iter()
        .filter(|e| name.strip_prefix(e.name).is_some_and(is_snapshot_suffix))
        .max_by_key(|e| e.name.len())
}

/// `model` lowercased, without a router prefix (`openai/`) or Bedrock's
/// vendor and region prefix (`us.anthropic.`).
fn base_name(model: &str) -> String {
    let name = model.rsplit('/').next().unwrap_or(model);
    let name = match name.find("anthropic.") {
        Some(at) => &name[at + "anthropic.".len()..],
        None => name,
    };
    name.trim().to_ascii_lowercase()
}

/// Whether `rest`, what follows a known name, marks a snapshot or alias of
/// it: nothing, `-latest`, or a date (`-20250929`, `-2024-08-06`,
/// `@20250929`) optionally followed by a version tag (Bedrock's `-v1:0`).
fn is_snapshot_suffix(rest: &str) -> bool {
    if rest.is_empty() || rest == "-latest" {
        return true;
    }
    let Some(date) = rest.strip_prefix(['-', '@']) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let compact = date.get(..8).is_some_and(digits) && date.get(8..).is_some_and(version_tail);
    let dashed = date.len() >= 10
        && date.get(..4).is_some_and(digits)
        && date.get(4..5) == Some("-")
        && date.get(5..7).is_some_and(digits)
        && date.get(7..8) == Some("-")
        && date.get(8..10).is_some_and(digits)
        && date.get(10..).is_some_and(version_tail);
    compact || dashed
}

/// After a date: nothing, or a `-`/`:` separated version tag.
fn version_tail(rest: &str) -> bool {
    rest.is_empty() || rest.starts_with(['-', ':'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(model: &str) -> Option<&'static str> {
        find(model).map(|e| e.name)
    }

    #[test]
    fn every_listed_model_is_found_under_its_own_name_with_prices() {
        for e in MODELS {
            let info = lookup("p", e.name);
            assert_eq!(name_of(e.name), Some(e.name));
            let pricing = info.pricing.expect(e.name);
            assert!(
                pricing.input_per_mtok > 0.0 && pricing.output_per_mtok > pricing.input_per_mtok
            );
            assert!(pricing.cached_input_per_mtok.unwrap() < pricing.input_per_mtok);
            assert!(info.max_output_tokens < info.context_window);
        }
    }

    #[test]
    fn dated_snapshots_and_aliases_find_the_longest_matching_name() {
        assert_eq!(
            name_of("claude-sonnet-4-5-20250929"),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(name_of("claude-sonnet-4-20250514"), Some("claude-sonnet-4"));
        assert_eq!(name_of("claude-opus-4-1-20250805"), Some("claude-opus-4-1"));
        assert_eq!(name_of("claude-3-5-haiku-latest"), Some("claude-3-5-haiku"));
        assert_eq!(name_of("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(name_of("gpt-4o-mini-2024-07-18"), Some("gpt-4o-mini"));
        assert_eq!(name_of("gpt-5-mini-2025-08-07"), Some("gpt-5-mini"));
        assert_eq!(name_of("o3-2025-04-16"), Some("o3"));
        assert_eq!(name_of("GPT-4.1"), Some("gpt-4.1"));
    }

    #[test]
    fn router_vertex_and_bedrock_spellings_are_recognised() {
        assert_eq!(name_of("openai/gpt-5"), Some("gpt-5"));
        assert_eq!(
            name_of("claude-sonnet-4-5@20250929"),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(
            name_of("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            Some("claude-sonnet-4-5")
        );
    }

    #[test]
    fn variants_with_other_prices_are_not_priced_as_their_base() {
        assert_eq!(name_of("o3-pro"), None);
        assert_eq!(name_of("o3-mini"), None);
        assert_eq!(name_of("gpt-5-pro"), None);
        assert_eq!(name_of("gpt-4"), None);
        assert_eq!(name_of("gpt-4o-audio-preview"), None);
        assert_eq!(name_of("claude-opus-4-5"), None);
        assert_eq!(name_of("gpt-4o-20"), None, "not a date");
    }

    #[test]
    fn known_models_carry_list_prices_and_limits() {
        assert_eq!(
            lookup("openai", "gpt-5-2025-08-07"),
            ModelInfo {
                name: "gpt-5-2025-08-07".into(),
                provider: "openai".into(),
                context_window: 400_000,
                max_output_tokens: 128_000,
                pricing: Some(Pricing {
                    input_per_mtok: 1.25,
                    output_per_mtok: 10.0,
                    cached_input_per_mtok: Some(0.125),
                }),
                capabilities: Capabilities {
                    tools: true,
                    parallel_tool_calls: true,
                    reasoning: true,
                    images: true,
                },
            }
        );
        let haiku = lookup("anthropic", "claude-3-5-haiku-20241022");
        assert_eq!(haiku.max_output_tokens, 8_192);
        assert!(!haiku.capabilities.reasoning);
        assert_eq!(lookup("openai", "gpt-4.1-mini").context_window, 1_047_576);
    }

    #[test]
    fn unknown_models_get_conservative_defaults_and_no_pricing() {
        assert_eq!(
            lookup("ollama", "qwen3-coder"),
            ModelInfo {
                name: "qwen3-coder".into(),
                provider: "ollama".into(),
                context_window: DEFAULT_CONTEXT_WINDOW,
                max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
                pricing: None,
                capabilities: Capabilities::default(),
            }
        );
        assert_eq!(known("ollama", "qwen3-coder"), None);
    }
}
