//! Context: what the model is shown besides the conversation.
//!
//! Each [`ContextProvider`] returns ranked [`ContextItem`]s; the
//! [`ContextEngine`] asks every provider, then packs items by priority into a
//! token budget with a [`Tokenizer`] and renders them into the system prompt.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::message::Message;
use crate::sandbox::Sandbox;
use crate::task::Task;
use crate::tokenizer::Tokenizer;

/// One piece of context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextItem {
    /// The provider that produced it (`rules`, `repo_map`, ...).
    pub source: String,
    /// A heading, e.g. the file it came from.
    pub title: String,
    /// The content.
    pub body: String,
    /// Higher is packed first.
    pub priority: i32,
    /// Tokens the item costs (filled in by the engine when a provider leaves 0).
    pub tokens: usize,
}

/// What a provider is asked for.
pub struct ContextRequest<'a> {
    /// The task.
    pub task: &'a Task,
    /// The sandbox holding the repository.
    pub sandbox: &'a dyn Sandbox,
    /// The conversation so far (empty at the start).
    pub history: &'a [Message],
    /// Tokens the provider may aim for (the engine enforces the real budget).
    pub budget_tokens: usize,
}

/// A provider failed. The engine logs it and goes on without its items.
#[derive(Debug, thiserror::Error)]
#[error("context provider `{provider}` failed: {message}")]
pub struct ContextError {
    /// The provider's name.
    pub provider: String,
    /// What happened.
    pub message: String,
}

/// A source of context.
#[async_trait]
pub trait ContextProvider: Send + Sync {
    /// The provider's name, used as the items' `source`.
    fn name(&self) -> &str;

    /// Items for this request, best first.
    async fn provide(&self, request: &ContextRequest<'_>)
    -> Result<Vec<ContextItem>, ContextError>;
}

/// The items that fit, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedContext {
    /// Items that fit, in priority order.
    pub items: Vec<ContextItem>,
    /// Titles of items that did not fit, and why providers failed.
    pub dropped: Vec<String>,
    /// Tokens the packed items cost.
    pub tokens: usize,
}

impl PackedContext {
    /// Renders the items as markdown sections.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            out.push_str("## ");
            out.push_str(&item.title);
            out.push_str("\n\n");
            out.push_str(item.body.trim_end());
            out.push_str("\n\n");
        }
        out
    }
}

/// Collects items from providers and packs them into a token budget.
#[derive(Clone)]
pub struct ContextEngine {
    providers: Vec<Arc<dyn ContextProvider>>,
    tokenizer: Arc<dyn Tokenizer>,
    budget_tokens: usize,
}

impl ContextEngine {
    /// An engine with no providers.
    pub fn new(tokenizer: Arc<dyn Tokenizer>, budget_tokens: usize) -> Self {
        Self {
            providers: Vec::new(),
            tokenizer,
            budget_tokens,
        }
    }

    /// Adds a provider.
    pub fn with_provider(mut self, provider: impl ContextProvider + 'static) -> Self {
        self.providers.push(Arc::new(provider));
        self
    }

    /// The token budget.
    pub fn budget_tokens(&self) -> usize {
        self.budget_tokens
    }

    /// The tokenizer used for packing.
    pub fn tokenizer(&self) -> &Arc<dyn Tokenizer> {
        &self.tokenizer
    }

    /// Asks every provider and packs their items.
    pub async fn assemble(
        &self,
        task: &Task,
        sandbox: &dyn Sandbox,
        history: &[Message],
    ) -> PackedContext {
        let request = ContextRequest {
            task,
            sandbox,
            history,
            budget_tokens: self.budget_tokens,
        };
        let mut items = Vec::new();
        let mut dropped = Vec::new();
        for provider in &self.providers {
            match provider.provide(&request).await {
                Ok(found) => items.extend(found),
                Err(err) => {
                    tracing::warn!(error = %err, "context provider failed");
                    dropped.push(err.to_string());
                }
            }
        }
        let mut packed = self.pack(items);
        dropped.append(&mut packed.dropped);
        packed.dropped = dropped;
        packed
    }

    /// Packs `items` by priority (stable for equal priorities) into the budget.
    /// An item that does not fit is skipped; smaller ones after it may still fit.
    pub fn pack(&self, mut items: Vec<ContextItem>) -> PackedContext {
        for item in &mut items {
            if item.tokens == 0 {
                item.tokens =
                    self.tokenizer.count(&item.title) + self.tokenizer.count(&item.body) + 4;
            }
        }
        items.sort_by_key(|item| std::cmp::Reverse(item.priority));
        let mut packed = PackedContext::default();
        for item in items {
            if packed.tokens + item.tokens <= self.budget_tokens {
                packed.tokens += item.tokens;
                packed.items.push(item);
            } else {
                packed
                    .dropped
                    .push(format!("{} ({} tokens)", item.title, item.tokens));
            }
        }
        packed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::ApproxTokenizer;

    fn item(title: &str, priority: i32, tokens: usize) -> ContextItem {
        ContextItem {
            source: "t".into(),
            title: title.into(),
            body: String::new(),
            priority,
            tokens,
        }
    }

    #[test]
    fn packs_by_priority_and_skips_what_does_not_fit() {
        let engine = ContextEngine::new(Arc::new(ApproxTokenizer), 100);
        let packed = engine.pack(vec![
            item("low", 1, 30),
            item("big", 5, 80),
            item("high", 9, 50),
            item("small", 2, 20),
        ]);
        let titles: Vec<_> = packed.items.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(titles, vec!["high", "small", "low"]);
        assert_eq!(packed.tokens, 100);
        assert_eq!(packed.dropped, vec!["big (80 tokens)".to_string()]);
    }
}
