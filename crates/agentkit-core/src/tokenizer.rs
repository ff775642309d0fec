//! Counting tokens.

/// Counts the tokens a text costs for some model family.
///
/// `agentkit-llm` provides exact BPE tokenizers; [`ApproxTokenizer`] is a
/// dependency-free estimate for tests and unknown models.
pub trait Tokenizer: Send + Sync {
    /// How many tokens `text` takes.
    fn count(&self, text: &str) -> usize;
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
