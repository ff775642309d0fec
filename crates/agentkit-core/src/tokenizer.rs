//! Counting tokens.

/// Counts the tokens a text costs for some model family.
///
/// `agentkit-llm` provides exact BPE tokenizers; [`ApproxTokenizer`] is a
/// dependency-free estimate for tests and unknown models.
pub trait Tokenizer: Send + Sync {
    /// How many tokens `text` takes: never more than `text.len()` (a token
    /// covers at least one byte, as in every BPE). The engine relies on that
    /// bound to skip exact counting while a conversation's bytes fit the
    /// model's window.
    fn count(&self, text: &str) -> usize;
}

/// Counts one token per byte: the upper bound of every [`Tokenizer`], free
/// to compute.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteBound;

impl Tokenizer for ByteBound {
    fn count(&self, text: &str) -> usize {
        text.len()
    }
}

/// Estimates one token per four bytes (rounded up), which over-counts
/// English prose and code slightly for BPE tokenizers: safe for budgets.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApproxTokenizer;

impl Tokenizer for ApproxTokenizer {
    fn count(&self, text: &str) -> usize {
        text.len().div_ceil(4)
    }
}
