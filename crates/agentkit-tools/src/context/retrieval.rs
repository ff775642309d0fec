//! [`CodeSearch`]: the code chunks most relevant to a query, by BM25 over
//! symbol-aware chunks, optionally re-ranked with embeddings.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use agentkit_core::context::{ContextError, ContextItem, ContextProvider, ContextRequest};
use agentkit_core::message::Role;
use agentkit_core::sandbox::Sandbox;
use agentkit_core::tokenizer::{ApproxTokenizer, Tokenizer};
use async_trait::async_trait;

use super::code::terms::{for_each_term, identifiers, term_hash};
use super::code::{CodeIndex, IndexError, IndexedFile};

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// BM25 candidates re-ranked when an embedder is given.
const RERANK_CANDIDATES: usize = 50;
/// How much more a chunk of a definition the query names exactly scores.
const NAMED_SYMBOL_BOOST: f64 = 2.0;
/// Weight of the normalised BM25 score in the hybrid score (the rest is cosine similarity).
const BM25_WEIGHT: f64 = 0.5;

/// Turns texts into vectors, for hybrid retrieval. Plug in any model (a local
/// one, or a provider's API); agentkit ships none and uses no network by default.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The embedder's name, for logs.
    fn name(&self) -> &str;

    /// One vector per text, in order, all of one dimension.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// An embedder failed; retrieval goes on with BM25 alone.
#[derive(Debug, thiserror::Error)]
#[error("embedding failed: {message}")]
pub struct EmbedError {
    /// What happened.
    pub message: String,
}

/// The BM25 index of a snapshot's chunks (terms are hashed, see `terms`).
#[derive(Debug, Default)]
pub(crate) struct Bm25 {
    /// `(file index, chunk index)` of each document.
    docs: Vec<(u32, u32)>,
    lens: Vec<u32>,
    average_len: f64,
    postings: HashMap<u32, Vec<(u32, u16)>>,
}

impl Bm25 {
    fn build(files: &[IndexedFile]) -> Self {
        let mut index = Bm25::default();
        let mut total = 0u64;
        for (f, file) in files.iter().enumerate() {
            for (c, chunk) in file.tags.chunks.iter().enumerate() {
                let doc = index.docs.len() as u32;
                index.docs.push((f as u32, c as u32));
                index.lens.push(chunk.len);
                total += u64::from(chunk.len);
                for term in chunk.terms.iter() {
                    index
                        .postings
                        .entry(term.hash())
                        .or_default()
                        .push((doc, term.count()));
                }
            }
        }
        index.average_len = total as f64 / index.docs.len().max(1) as f64;
        index
    }

    /// The best `k` documents for `query`, with their scores, best first.
    /// A chunk of a definition whose exact name the query contains scores
    /// [`NAMED_SYMBOL_BOOST`] times more.
    fn search(&self, files: &[IndexedFile], query: &str, k: usize) -> Vec<(u32, f64)> {
        let mut terms: HashMap<u32, u32> = HashMap::new();
        for_each_term(query, |t| *terms.entry(term_hash(t)).or_default() += 1);
        let n = self.docs.len() as f64;
        let mut scores: HashMap<u32, f64> = HashMap::new();
        for (term, query_count) in terms {
            let Some(postings) = self.postings.get(&term) else {
                continue;
            };
            let df = postings.len() as f64;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for (doc, tf) in postings {
                let tf = f64::from(*tf);
                let len = f64::from(self.lens[*doc as usize]);
                let norm = tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / self.average_len));
                *scores.entry(*doc).or_default() += idf * norm * f64::from(query_count).sqrt();
            }
        }
        let named: HashSet<&str> = identifiers(query).collect();
        if !named.is_empty() {
            for (doc, score) in scores.iter_mut() {
                let (f, c) = self.docs[*doc as usize];
                let file = &files[f as usize];
                let def = file.tags.chunks[c as usize]
                    .def
                    .and_then(|d| file.tags.defs.get(d as usize));
                if def.is_some_and(|d| named.contains(d.name.as_str())) {
                    *score *= NAMED_SYMBOL_BOOST;
                }
            }
        }
        let mut ranked: Vec<(u32, f64)> = scores.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked
    }
}

/// One retrieved chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeHit {
    /// Workspace-relative path.
    pub path: String,
    /// 1-based first line.
    pub start_line: u32,
    /// 1-based last line.
    pub end_line: u32,
    /// The definition the chunk belongs to, if any.
    pub symbol: Option<String>,
    /// The chunk's score (BM25, or hybrid with an embedder).
    pub score: f64,
    /// The chunk's lines.
    pub text: String,
}

impl CodeHit {
    /// `path:start-end (symbol)`.
    pub fn title(&self) -> String {
        let mut title = format!("{}:{}-{}", self.path, self.start_line, self.end_line);
        if let Some(symbol) = &self.symbol {
            title.push_str(&format!(" ({symbol})"));
        }
        title
    }
}

/// Retrieval over the code index: the chunks (definitions' own lines,
/// windows of long ones, code between definitions) that best match a query,
/// by BM25 with code-aware terms (identifiers split at `_` and camelCase).
/// With an [`Embedder`] the best BM25 candidates are re-ranked by a hybrid
/// score (half normalised BM25, half cosine similarity); an embedder error
/// falls back to BM25 alone.
///
/// As a context provider (`retrieval`) the query is the ticket and the
/// user's messages; the best chunks become items titled `path:start-end
/// (symbol)` at [`PRIORITY`](Self::PRIORITY) and below, together within
/// [`max_tokens`](Self::max_tokens) (and a third of the request's budget).
#[derive(Clone)]
pub struct CodeSearch {
    index: CodeIndex,
    embedder: Option<Arc<dyn Embedder>>,
    tokenizer: Arc<dyn Tokenizer>,
    max_chunks: usize,
    max_tokens: usize,
    vectors: Arc<Mutex<HashMap<String, Vec<f32>>>>,
}

impl std::fmt::Debug for CodeSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeSearch")
            .field("index", &self.index)
            .field(
                "embedder",
                &self.embedder.as_ref().map(|e| e.name().to_string()),
            )
            .field("max_chunks", &self.max_chunks)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl CodeSearch {
    /// Priority of the best chunk's item; each next one is one lower.
    pub const PRIORITY: i32 = 50;
    /// Default number of chunks given as context: 6.
    pub const DEFAULT_MAX_CHUNKS: usize = 6;
    /// Default token budget of all chunks together: 3,000.
    pub const DEFAULT_MAX_TOKENS: usize = 3000;

    /// Retrieval over `index`, BM25 only.
    pub fn new(index: CodeIndex) -> Self {
        Self {
            index,
            embedder: None,
            tokenizer: Arc::new(ApproxTokenizer),
            max_chunks: Self::DEFAULT_MAX_CHUNKS,
            max_tokens: Self::DEFAULT_MAX_TOKENS,
            vectors: Arc::default(),
        }
    }

    /// Re-ranks with `embedder` (hybrid score).
    pub fn embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// Counts tokens with `tokenizer` (use the model's).
    pub fn tokenizer(mut self, tokenizer: Arc<dyn Tokenizer>) -> Self {
        self.tokenizer = tokenizer;
        self
    }

    /// Sets how many chunks the provider gives at most.
    pub fn max_chunks(mut self, chunks: usize) -> Self {
        self.max_chunks = chunks;
        self
    }

    /// Sets the provider's token budget.
    pub fn max_tokens(mut self, tokens: usize) -> Self {
        self.max_tokens = tokens;
        self
    }

    /// The index searched.
    pub fn index(&self) -> &CodeIndex {
        &self.index
    }

    /// Refreshes the index and returns the best `k` chunks for `query`, best first.
    pub async fn search(
        &self,
        sandbox: &dyn Sandbox,
        query: &str,
        k: usize,
    ) -> Result<Vec<CodeHit>, IndexError> {
        let snapshot = self.index.refresh(sandbox).await?.snapshot;
        let bm25 = snapshot.bm25.get_or_init(|| Bm25::build(snapshot.files()));
        let wanted = if self.embedder.is_some() {
            k.max(RERANK_CANDIDATES)
        } else {
            k
        };
        let found = bm25.search(snapshot.files(), query, wanted);
        let mut hits = Vec::new();
        let mut contents: HashMap<u32, Option<Vec<u8>>> = HashMap::new();
        for (doc, score) in found {
            let (f, c) = bm25.docs[doc as usize];
            let file = &snapshot.files()[f as usize];
            let chunk = &file.tags.chunks[c as usize];
            if let std::collections::hash_map::Entry::Vacant(slot) = contents.entry(f) {
                let bytes = match sandbox.read(&file.path).await {
                    Ok(bytes) => Some(bytes),
                    Err(err) if err.is_infrastructure() => return Err(err.into()),
                    Err(_) => None,
                };
                slot.insert(bytes);
            }
            let Some(Some(bytes)) = contents.get(&f) else {
                continue;
            };
            hits.push(CodeHit {
                path: file.path.clone(),
                start_line: chunk.start_line,
                end_line: chunk.end_line,
                symbol: chunk
                    .def
                    .and_then(|d| file.tags.defs.get(d as usize))
                    .map(|d| d.name.clone()),
                score,
                text: lines(bytes, chunk.start_line, chunk.end_line),
            });
        }
        if let Some(embedder) = &self.embedder {
            self.rerank(embedder.as_ref(), query, &mut hits).await;
        }
        hits.truncate(k);
        Ok(hits)
    }

    async fn rerank(&self, embedder: &dyn Embedder, query: &str, hits: &mut [CodeHit]) {
        if hits.is_empty() {
            return;
        }
        let missing: Vec<String> = {
            let known = self.vectors.lock().map(|v| v.clone()).unwrap_or_default();
            let mut missing: Vec<String> = hits
                .iter()
                .map(|h| h.text.clone())
                .filter(|t| !known.contains_key(t))
                .collect();
            missing.sort();
            missing.dedup();
            missing
        };
        let mut texts = vec![query.to_string()];
        texts.extend(missing.iter().cloned());
        let vectors = match embedder.embed(&texts).await {
            Ok(vectors) if vectors.len() == texts.len() => vectors,
            Ok(vectors) => {
                tracing::warn!(
                    embedder = embedder.name(),
                    expected = texts.len(),
                    got = vectors.len(),
                    "embedder returned the wrong number of vectors; using BM25 alone"
                );
                return;
            }
            Err(err) => {
                tracing::warn!(embedder = embedder.name(), error = %err, "embedding failed; using BM25 alone");
                return;
            }
        };
        let Ok(mut known) = self.vectors.lock() else {
            return;
        };
        for (text, vector) in missing.into_iter().zip(vectors.iter().skip(1)) {
            known.insert(text, vector.clone());
        }
        let query_vector = &vectors[0];
        let top = hits
            .iter()
            .map(|h| h.score)
            .fold(f64::MIN, f64::max)
            .max(f64::EPSILON);
        for hit in hits.iter_mut() {
            let similarity = known
                .get(&hit.text)
                .map_or(0.0, |v| cosine(query_vector, v).max(0.0));
            hit.score = BM25_WEIGHT * hit.score / top + (1.0 - BM25_WEIGHT) * similarity;
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    }
}

/// Cosine similarity; 0 for vectors of different or zero length.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        dot += f64::from(*x) * f64::from(*y);
        na += f64::from(*x) * f64::from(*x);
        nb += f64::from(*y) * f64::from(*y);
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Lines `first..=last` (1-based) of `bytes`, decoded lossily.
pub(crate) fn lines(bytes: &[u8], first: u32, last: u32) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for line in text
        .lines()
        .skip(first.saturating_sub(1) as usize)
        .take((last + 1).saturating_sub(first) as usize)
    {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[async_trait]
impl ContextProvider for CodeSearch {
    fn name(&self) -> &str {
        "retrieval"
    }

    async fn provide(
        &self,
        request: &ContextRequest<'_>,
    ) -> Result<Vec<ContextItem>, ContextError> {
        let budget = match request.budget_tokens {
            0 => self.max_tokens,
            tokens => self.max_tokens.min(tokens / 3),
        };
        let mut query = format!("{}\n{}", request.task.title, request.task.body);
        for message in request.history.iter().filter(|m| m.role == Role::User) {
            query.push('\n');
            query.push_str(&message.text());
        }
        let hits = self
            .search(request.sandbox, &query, self.max_chunks)
            .await
            .map_err(|err| ContextError {
                provider: "retrieval".into(),
                message: err.to_string(),
            })?;
        let mut items = Vec::new();
        let mut used = 0;
        for (rank, hit) in hits.into_iter().enumerate() {
            let title = hit.title();
            let body = format!("```\n{}```", hit.text);
            let tokens = self.tokenizer.count(&title) + self.tokenizer.count(&body) + 4;
            if used + tokens > budget {
                continue;
            }
            used += tokens;
            items.push(ContextItem {
                source: "retrieval".into(),
                title,
                body,
                priority: Self::PRIORITY - rank as i32,
                tokens,
            });
        }
        Ok(items)
    }
}
