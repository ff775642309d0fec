//! [`RepoMap`]: the repository's most relevant definitions, one line each,
//! within a token budget.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use agentkit_core::context::{ContextError, ContextItem, ContextProvider, ContextRequest};
use agentkit_core::message::{Message, Part};
use agentkit_core::sandbox::Sandbox;
use agentkit_core::task::Task;
use agentkit_core::tokenizer::{ApproxTokenizer, Tokenizer};
use async_trait::async_trait;

use super::code::{CodeIndex, IndexError, Snapshot};
use super::rank::{Focus, Ranked, rank_top};

/// A map of the repository for the model: the definitions ranked most
/// relevant by the reference graph ([`rank`](super::rank)), grouped by file,
/// each as its line number and the line that names it:
///
/// ```text
/// src/config.rs:
///    12│pub struct Config {
///    30│    pub fn load(path: &Path) -> Result<Self, Error> {
/// ```
///
/// Files appear in order of their best definition. The number of definitions
/// shown is the largest that fits the budget when counted with the
/// [tokenizer](Self::tokenizer) (binary search over the count). The ranking is
/// personalised by the files and identifiers named in the ticket and the
/// conversation (message text and tool-call arguments, not tool output).
///
/// As a context provider (`repo_map`) it gives one item, `Repository map`,
/// at [`PRIORITY`](Self::PRIORITY), within [`max_tokens`](Self::max_tokens)
/// and half the request's budget. The [`RepoMapTool`](crate::tools::RepoMapTool)
/// offers the same map to the model with a focus of its choosing.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use agentkit_core::context::ContextEngine;
/// use agentkit_core::tokenizer::ApproxTokenizer;
/// use agentkit_tools::context::{CodeIndex, RepoMap};
///
/// let index = CodeIndex::new(); // or CodeIndex::with_cache_dir(dir)
/// let engine = ContextEngine::new(Arc::new(ApproxTokenizer), 8_000)
///     .with_provider(RepoMap::new(index).max_tokens(2_048));
/// # let _ = engine;
/// ```
#[derive(Clone)]
pub struct RepoMap {
    index: CodeIndex,
    tokenizer: Arc<dyn Tokenizer>,
    max_tokens: usize,
    priority: i32,
    last: Arc<Mutex<Option<LastMap>>>,
}

/// The last map rendered, reused while nothing it depends on changed.
struct LastMap {
    /// Not kept alive by the map: the index drops a provisional snapshot
    /// once its exact tags are being parsed, to free its tags.
    snapshot: std::sync::Weak<Snapshot>,
    focus: Focus,
    max_tokens: usize,
    map: RenderedMap,
}

impl std::fmt::Debug for RepoMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoMap")
            .field("index", &self.index)
            .field("max_tokens", &self.max_tokens)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

/// A rendered map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMap {
    /// The map text (empty when nothing is indexed or nothing fits).
    pub text: String,
    /// Its tokens, counted with the map's tokenizer.
    pub tokens: usize,
    /// Definitions shown.
    pub shown: usize,
    /// Definitions known.
    pub total: usize,
    /// The files and identifiers found named, sorted.
    pub focus: Vec<String>,
}

impl RepoMap {
    /// Priority of the map's context item (rule files are at 100).
    pub const PRIORITY: i32 = 60;
    /// Default token budget of the map: 4,096.
    pub const DEFAULT_MAX_TOKENS: usize = 4096;
    /// Title of the map's context item.
    pub const TITLE: &'static str = "Repository map";

    /// A map over `index`, counted with [`ApproxTokenizer`] until
    /// [`tokenizer`](Self::tokenizer) gives the model's own.
    pub fn new(index: CodeIndex) -> Self {
        Self {
            index,
            tokenizer: Arc::new(ApproxTokenizer),
            max_tokens: Self::DEFAULT_MAX_TOKENS,
            priority: Self::PRIORITY,
            last: Arc::default(),
        }
    }

    /// Counts tokens with `tokenizer` (use the model's).
    pub fn tokenizer(mut self, tokenizer: Arc<dyn Tokenizer>) -> Self {
        self.tokenizer = tokenizer;
        self.last = Arc::default();
        self
    }

    /// Sets the map's token budget.
    pub fn max_tokens(mut self, tokens: usize) -> Self {
        self.max_tokens = tokens;
        self
    }

    /// Sets the context item's priority.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The index the map reads.
    pub fn index(&self) -> &CodeIndex {
        &self.index
    }

    /// Refreshes the index and renders the map within `max_tokens`,
    /// personalised by what `texts` name.
    pub async fn render<'a>(
        &self,
        sandbox: &dyn Sandbox,
        texts: impl IntoIterator<Item = &'a str>,
        max_tokens: usize,
    ) -> Result<RenderedMap, IndexError> {
        let refresh = self.index.refresh_quick(sandbox).await?;
        let snapshot = refresh.snapshot;
        let focus = Focus::find(&snapshot, texts);
        // An unchanged snapshot with the same focus and budget gives the same map.
        if let Ok(last) = self.last.lock()
            && let Some(last) = last.as_ref()
            && std::ptr::eq(last.snapshot.as_ptr(), Arc::as_ptr(&snapshot))
            && last.focus == focus
            && last.max_tokens == max_tokens
        {
            return Ok(last.map.clone());
        }
        // After an edit the map usually shows as many entries as before: try that count first.
        let hint = self
            .last
            .lock()
            .ok()
            .and_then(|last| last.as_ref().map(|l| (l.max_tokens, l.map.shown)))
            .and_then(|(budget, shown)| (budget == max_tokens).then_some(shown));
        let map = render_ranked(&snapshot, &focus, self.tokenizer.as_ref(), max_tokens, hint);
        if let Ok(mut last) = self.last.lock() {
            *last = Some(LastMap {
                snapshot: Arc::downgrade(&snapshot),
                focus,
                max_tokens,
                map: map.clone(),
            });
        }
        Ok(map)
    }
}

/// Renders the best definitions of `snapshot` within `max_tokens`: as many
/// as fit, found by binary search over the count (the tokens of a prefix grow
/// with it). `hint`, a count likely to be the answer (the last map's), is
/// tried first: when it fits and one more does not, that takes two counts.
pub(crate) fn render_ranked(
    snapshot: &Snapshot,
    focus: &Focus,
    tokenizer: &dyn Tokenizer,
    max_tokens: usize,
    hint: Option<usize>,
) -> RenderedMap {
    // Every entry costs at least three tokens (number, bar, name).
    let (ranked, total) = rank_top(snapshot, focus, max_tokens / 3 + 1);
    let mut named: Vec<String> = focus.files.iter().chain(&focus.names).cloned().collect();
    named.sort();
    let measure = |count: usize| {
        let text = render(&ranked[..count]);
        let tokens = tokenizer.count(&text);
        (text, tokens)
    };
    let mut lo = 0;
    let mut hi = ranked.len();
    let mut best = (String::new(), 0);
    if let Some(hint) = hint.filter(|h| (1..=hi).contains(h)) {
        let at = measure(hint);
        if at.1 > max_tokens {
            hi = hint - 1;
        } else if hint == hi {
            (lo, best) = (hint, at);
        } else {
            let next = measure(hint + 1);
            if next.1 > max_tokens {
                (lo, hi, best) = (hint, hint, at);
            } else {
                (lo, best) = (hint + 1, next);
            }
        }
    }
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let (text, tokens) = measure(mid);
        if tokens <= max_tokens {
            lo = mid;
            best = (text, tokens);
        } else {
            hi = mid - 1;
        }
    }
    RenderedMap {
        text: best.0,
        tokens: best.1,
        shown: lo,
        total,
        focus: named,
    }
}

/// The map text of `entries`: grouped by file in order of first appearance,
/// lines ascending within a file.
fn render(entries: &[Ranked<'_>]) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut by_file: HashMap<&str, Vec<(u32, &str)>> = HashMap::new();
    for entry in entries {
        let path = entry.file.path.as_str();
        let lines = by_file.entry(path).or_insert_with(|| {
            order.push(path);
            Vec::new()
        });
        lines.push((entry.def.line, entry.def.signature.as_str()));
    }
    let mut out = String::new();
    for path in order {
        let _ = writeln!(out, "{path}:");
        let mut lines = by_file.remove(path).unwrap_or_default();
        lines.sort_unstable();
        lines.dedup_by_key(|(line, _)| *line);
        for (line, signature) in lines {
            let _ = writeln!(out, "{line:>6}│{signature}");
        }
    }
    out
}

/// The texts of the request that may name files and symbols: the ticket, and
/// the conversation's text and tool-call arguments (tool output is left out:
/// a listing names everything).
pub(crate) fn request_texts<'a>(task: &'a Task, history: &'a [Message]) -> Vec<&'a str> {
    let mut texts = vec![task.title.as_str(), task.body.as_str()];
    for message in history {
        for part in &message.parts {
            match part {
                Part::Text { text } => texts.push(text),
                Part::ToolCall(call) => texts.push(&call.arguments),
                Part::ToolResult(_) | Part::Reasoning { .. } => {}
            }
        }
    }
    texts
}

#[async_trait]
impl ContextProvider for RepoMap {
    fn name(&self) -> &str {
        "repo_map"
    }

    async fn provide(
        &self,
        request: &ContextRequest<'_>,
    ) -> Result<Vec<ContextItem>, ContextError> {
        let budget = match request.budget_tokens {
            0 => self.max_tokens,
            tokens => self.max_tokens.min(tokens / 2),
        };
        let texts = request_texts(request.task, request.history);
        let map = self
            .render(request.sandbox, texts, budget)
            .await
            .map_err(|err| ContextError {
                provider: "repo_map".into(),
                message: err.to_string(),
            })?;
        if map.text.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![ContextItem {
            source: "repo_map".into(),
            title: Self::TITLE.into(),
            tokens: map.tokens + self.tokenizer.count(Self::TITLE) + 4,
            body: map.text,
            priority: self.priority,
        }])
    }
}

#[cfg(test)]
mod tests {
    use agentkit_core::testing::MemorySandbox;

    use super::*;

    #[tokio::test]
    async fn a_hint_never_changes_the_map() {
        let mut sandbox = MemorySandbox::new();
        for i in 0..8 {
            let source = format!(
                "def render_part_{i}():\n    return compute_value_{}()\n\n\
                 def compute_value_{i}():\n    return {i}\n",
                (i + 1) % 8
            );
            sandbox = sandbox.with_file(&format!("pkg/module_{i}.py"), &source);
        }
        let snapshot = CodeIndex::new().refresh(&sandbox).await.unwrap().snapshot;
        let focus = Focus::find(&snapshot, ["render_part_3 is slow"]);
        assert_eq!(focus.names.len(), 1);
        for budget in [4, 11, 25, 40, 63, 500] {
            let plain = render_ranked(&snapshot, &focus, &ApproxTokenizer, budget, None);
            for hint in 0..=plain.total + 1 {
                assert_eq!(
                    render_ranked(&snapshot, &focus, &ApproxTokenizer, budget, Some(hint)),
                    plain,
                    "budget {budget}, hint {hint}"
                );
            }
        }
    }
}
