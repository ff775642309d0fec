//! Token counts with tiktoken's byte-pair encodings.
//!
//! OpenAI models are counted exactly: `o200k_base` for the GPT-4o, GPT-4.1,
//! GPT-5 and `o`-series families, `cl100k_base` for GPT-4 and GPT-3.5. Each
//! encoding is loaded once per process, **when the first text is counted**
//! (loading takes about a hundred milliseconds, so a run that never needs a
//! count — the server reports usage and there is no context to pack — never
//! pays it), and shared by every [`TiktokenTokenizer`] handed out.
//!
//! Other families (Claude, open-weight models) use their own vocabularies,
//! which tiktoken cannot reproduce. [`for_model`] counts them with
//! `cl100k_base` as an **estimate**: another BPE vocabulary of similar size
//! gives counts within a few tens of percent for prose and code, which is good
//! enough to pack context into a budget with some headroom, not to bill.
//!
//! Text is always counted as ordinary text: a special-token string such as
//! `<|endoftext|>` inside a file or a tool result costs its ordinary tokens
//! and never makes counting fail.
//!
//! ```
//! use agentkit_core::tokenizer::Tokenizer;
//! use agentkit_llm::tokenizer::{Encoding, TiktokenTokenizer, for_model};
//!
//! let exact = TiktokenTokenizer::o200k();
//! assert_eq!(exact.count("hello world"), 2);
//! assert_eq!(Encoding::for_model("gpt-4o-2024-08-06"), Some(Encoding::O200kBase));
//! // Claude has no public tokenizer: this is a cl100k estimate.
//! assert!(for_model("claude-sonnet-4-5").count("fn main() {}") > 0);
//! ```

use std::sync::{Arc, LazyLock};

use agentkit_core::tokenizer::Tokenizer;
use tiktoken_rs::CoreBPE;

/// A tiktoken encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The GPT-4o / GPT-4.1 / GPT-5 / `o`-series vocabulary (about 200k tokens).
    O200kBase,
    /// The GPT-4 / GPT-3.5 vocabulary (about 100k tokens).
    Cl100kBase,
}

impl Encoding {
    /// The encoding's name as tiktoken spells it (`o200k_base`, `cl100k_base`).
    pub fn name(&self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    /// The encoding `model` actually uses, for OpenAI models; `None` for
    /// models tiktoken does not cover (their counts can only be estimated).
    ///
    /// Dated snapshots and router prefixes are accepted
    /// (`gpt-4o-2024-08-06`, `openai/gpt-4.1`).
    pub fn for_model(model: &str) -> Option<Encoding> {
        let name = model
            .rsplit('/')
            .next()
            .unwrap_or(model)
            .to_ascii_lowercase();
        let family = |prefix: &str| {
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.', ':', '@']))
        };
        const O200K: &[&str] = &[
            "gpt-5",
            "gpt-4.1",
            "gpt-4.5",
            "gpt-4o",
            "chatgpt-4o",
            "gpt-oss",
            "o1",
            "o3",
            "o4",
        ];
        const CL100K: &[&str] = &[
            "gpt-4",
            "gpt-3.5",
            "gpt-35",
            "text-embedding-3",
            "text-embedding-ada-002",
        ];
        if O200K.iter().any(|p| family(p)) {
            Some(Encoding::O200kBase)
        } else if CL100K.iter().any(|p| family(p)) {
            Some(Encoding::Cl100kBase)
        } else {
            None
        }
    }

    fn bpe(&self) -> &'static CoreBPE {
        match self {
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        }
    }
}

/// A [`Tokenizer`] backed by one tiktoken encoding.
///
/// Instances are shared: [`TiktokenTokenizer::o200k`] and
/// [`TiktokenTokenizer::cl100k`] return the same `Arc` on every call, and the
/// encoding behind it is loaded when the first text is counted.
pub struct TiktokenTokenizer {
    encoding: Encoding,
}

static O200K: LazyLock<Arc<TiktokenTokenizer>> =
    LazyLock::new(|| Arc::new(TiktokenTokenizer::new(Encoding::O200kBase)));
static CL100K: LazyLock<Arc<TiktokenTokenizer>> =
    LazyLock::new(|| Arc::new(TiktokenTokenizer::new(Encoding::Cl100kBase)));

impl TiktokenTokenizer {
    fn new(encoding: Encoding) -> Self {
        Self { encoding }
    }

    /// The shared tokenizer for `encoding`.
    pub fn shared(encoding: Encoding) -> Arc<TiktokenTokenizer> {
        match encoding {
            Encoding::O200kBase => Arc::clone(&O200K),
            Encoding::Cl100kBase => Arc::clone(&CL100K),
        }
    }

    /// The shared `o200k_base` tokenizer (GPT-4o, GPT-4.1, GPT-5, `o` series).
    pub fn o200k() -> Arc<TiktokenTokenizer> {
        Self::shared(Encoding::O200kBase)
    }

    /// The shared `cl100k_base` tokenizer (GPT-4, GPT-3.5).
    pub fn cl100k() -> Arc<TiktokenTokenizer> {
        Self::shared(Encoding::Cl100kBase)
    }

    /// The encoding this tokenizer counts with.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
}

impl std::fmt::Debug for TiktokenTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TiktokenTokenizer")
            .field("encoding", &self.encoding.name())
            .finish()
    }
}

impl Tokenizer for TiktokenTokenizer {
    fn count(&self, text: &str) -> usize {
        // Ordinary encoding: special-token text is just text here.
        let bpe: &CoreBPE = self.encoding.bpe();
        bpe.encode_ordinary(text).len()
    }
}

/// The tokenizer for `model`: exact for OpenAI families (see
/// [`Encoding::for_model`]), a `cl100k_base` **estimate** for everything else
/// (Claude, open-weight and unknown models). See the [module docs](self).
pub fn for_model(model: &str) -> Arc<dyn Tokenizer> {
    let encoding = Encoding::for_model(model).unwrap_or(Encoding::Cl100kBase);
    TiktokenTokenizer::shared(encoding)
}
