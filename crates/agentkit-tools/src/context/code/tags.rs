//! Extracting a file's tags: definitions, references and retrieval chunks.

use std::collections::HashSet;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use tree_sitter::Parser;

use super::lang::Lang;
#[cfg(test)]
use super::lang::Role;
use super::terms::{for_each_term, term_hash};
use super::walk;

/// The longest signature line kept, in characters.
const MAX_SIGNATURE_CHARS: usize = 200;
/// The longest symbol name kept, in bytes.
const MAX_NAME_BYTES: usize = 128;
/// A chunk longer than this many lines is split into windows.
const MAX_CHUNK_LINES: u32 = 60;
/// The length of the windows a long chunk is split into.
const WINDOW_LINES: u32 = 40;

/// What kind of thing a definition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SymbolKind {
    Function,
    Method,
    Class,
    Struct,
    Enum,
    Union,
    Trait,
    Interface,
    Impl,
    Type,
    Const,
    Module,
    Macro,
}

impl SymbolKind {
    #[cfg(test)]
    fn from_capture(kind: &str) -> Option<Self> {
        Some(match kind {
            "function" => Self::Function,
            "method" => Self::Method,
            "class" => Self::Class,
            "struct" => Self::Struct,
            "enum" => Self::Enum,
            "union" => Self::Union,
            "trait" => Self::Trait,
            "interface" => Self::Interface,
            "impl" => Self::Impl,
            "type" => Self::Type,
            "const" => Self::Const,
            "module" => Self::Module,
            "macro" => Self::Macro,
            _ => return None,
        })
    }

    /// The kind's name (`function`, `class`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Function => "function",
            Self::Method => "method",
            Self::Class => "class",
            Self::Struct => "struct",
            Self::Enum => "enum",
            Self::Union => "union",
            Self::Trait => "trait",
            Self::Interface => "interface",
            Self::Impl => "impl",
            Self::Type => "type",
            Self::Const => "const",
            Self::Module => "module",
            Self::Macro => "macro",
        }
    }
}

/// A symbol defined in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    /// The symbol's name.
    pub name: String,
    /// What it is.
    pub kind: SymbolKind,
    /// The 1-based line of its name.
    pub line: u32,
    /// The 1-based first line of the whole definition.
    pub start_line: u32,
    /// The 1-based last line of the whole definition.
    pub end_line: u32,
    /// The line holding the name, as written (indentation kept, cut at 200 characters).
    pub signature: String,
}

/// Where a file refers to a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// The name referred to.
    pub name: String,
    /// The 1-based lines it appears on, ascending.
    pub lines: Vec<u32>,
}

/// A piece of a file for retrieval: a definition's own lines (without the
/// definitions nested in it), a window of a long one, or code between
/// definitions. Its terms are stored hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// 1-based first line.
    pub start_line: u32,
    /// 1-based last line.
    pub end_line: u32,
    /// The index in [`FileTags::defs`] of the definition it belongs to.
    pub def: Option<u32>,
    /// `(term hash, count)`, sorted by hash.
    pub(crate) terms: Box<[Term]>,
    /// Number of terms in the chunk (its BM25 length).
    pub(crate) len: u32,
}

/// A term of a chunk and how often it occurs: 6 bytes instead of the 8 of a
/// `(u32, u16)` (the terms of every chunk of a workspace are held at once:
/// several MB on Django). Stored on disk as that tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(2))]
pub(crate) struct Term {
    hash: u32,
    count: u16,
}

impl Term {
    /// The term's hash.
    pub fn hash(self) -> u32 {
        self.hash
    }

    /// Its count in the chunk.
    pub fn count(self) -> u16 {
        self.count
    }
}

impl Serialize for Term {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.hash, self.count).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Term {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (hash, count) = <(u32, u16)>::deserialize(deserializer)?;
        Ok(Term { hash, count })
    }
}

/// Everything the index keeps about one file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTags {
    /// Definitions, by line.
    pub defs: Vec<Definition>,
    /// References to names, by name.
    pub refs: Vec<Reference>,
    /// Retrieval chunks, by line.
    pub chunks: Vec<Chunk>,
    /// Whether tree-sitter found syntax errors (tags are still taken from the rest).
    pub has_errors: bool,
    /// Whether these tags come from the quick lexical scan (see
    /// [`CodeIndex::refresh_quick`](super::CodeIndex::refresh_quick)) rather than tree-sitter: ranking-grade
    /// definitions and references, no chunks, replaced by the exact tags as
    /// soon as they are parsed. Never stored on disk.
    #[serde(skip)]
    pub provisional: bool,
}

/// A tree-sitter parser, reused across files on one thread.
pub(crate) struct Extractor {
    parser: Parser,
}

impl Extractor {
    pub fn new() -> Self {
        Self {
            parser: Parser::new(),
        }
    }

    /// The tags of `source`, or why there are none.
    #[cfg(test)]
    pub fn extract(&mut self, lang: Lang, source: &[u8]) -> Result<FileTags, String> {
        self.extract_after(lang, source, None, false)
            .map(|(tags, _)| tags)
    }

    /// [`extract`](Self::extract), parsing incrementally from `last`, the
    /// parse of the file's previous content (tree-sitter reuses the subtrees
    /// the edit did not touch: a small edit of a large file costs a fraction
    /// of a full parse, for the same tree). Also returns the new tree when
    /// `keep_tree`.
    pub fn extract_after(
        &mut self,
        lang: Lang,
        source: &[u8],
        last: Option<LastParse>,
        keep_tree: bool,
    ) -> Result<(FileTags, Option<tree_sitter::Tree>), String> {
        let old = last.map(|last| {
            let mut tree = last.tree;
            tree.edit(&edit_between(&last.source, source));
            tree
        });
        let tree = self.parse(lang, source, old.as_ref())?;
        let root = tree.root_node();
        let mut tags = TagsBuilder::new(source);
        let mut ups = Vec::new();
        walk::walk(lang, &mut root.walk(), &mut ups, |node, found| {
            if found.is_ref {
                tags.reference(&node);
            }
            if let Some((def, kind)) = found.def {
                tags.definition(&def, &node, kind);
            }
        });
        let has_error = root.has_error();
        // The tree (10-20x the source) is freed before the tags that stay are
        // allocated, so they fill its space instead of being scattered among
        // its freed pages.
        let tree = keep_tree.then_some(tree);
        Ok((tags.finish(has_error, false), tree))
    }

    fn parse(
        &mut self,
        lang: Lang,
        source: &[u8],
        old: Option<&tree_sitter::Tree>,
    ) -> Result<tree_sitter::Tree, String> {
        self.parser
            .set_language(&lang.grammar())
            .map_err(|err| format!("the {} grammar cannot be loaded: {err}", lang.name()))?;
        self.parser
            .parse(source, old)
            .ok_or_else(|| "tree-sitter gave up parsing".to_string())
    }

    /// The tags of `source` found with the tags query of `lang` (the
    /// specification the tree walk must follow).
    #[cfg(test)]
    pub fn extract_by_query(&mut self, lang: Lang, source: &[u8]) -> Result<FileTags, String> {
        use streaming_iterator::StreamingIterator;
        let tag_query = lang.query();
        let query = tag_query
            .query
            .as_ref()
            .ok_or_else(|| format!("the {} tags query does not compile", lang.name()))?;
        let tree = self.parse(lang, source, None)?;
        let root = tree.root_node();
        let mut tags = TagsBuilder::new(source);
        let mut cursor = tree_sitter::QueryCursor::new();
        let mut matches = cursor.matches(query, root, source);
        while let Some(m) = matches.next() {
            let mut def = None;
            let mut name = None;
            for capture in m.captures {
                match tag_query.roles.get(capture.index as usize) {
                    Some(Role::Def(kind)) => def = Some((capture.node, *kind)),
                    Some(Role::Name) => name = Some(capture.node),
                    Some(Role::Ref) => tags.reference(&capture.node),
                    Some(Role::Other) | None => {}
                }
            }
            if let (Some((node, kind)), Some(name)) = (def, name)
                && let Some(kind) = SymbolKind::from_capture(kind)
            {
                tags.definition(&node, &name, kind);
            }
        }
        Ok(tags.finish(root.has_error(), false))
    }
}

/// A file's content and its tree, kept to parse its next version incrementally.
pub(crate) struct LastParse {
    /// The content the tree is of.
    pub source: Vec<u8>,
    /// Its tree.
    pub tree: tree_sitter::Tree,
}

/// The edit that turns `old` into `new`: the span between their common
/// prefix and common suffix.
fn edit_between(old: &[u8], new: &[u8]) -> tree_sitter::InputEdit {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_end, new_end) = (old.len() - suffix, new.len() - suffix);
    tree_sitter::InputEdit {
        start_byte: prefix,
        old_end_byte: old_end,
        new_end_byte: new_end,
        start_position: point_at(old, prefix),
        old_end_position: point_at(old, old_end),
        new_end_position: point_at(new, new_end),
    }
}

/// The row and column (in bytes) of byte `at` of `text`.
fn point_at(text: &[u8], at: usize) -> tree_sitter::Point {
    let before = &text[..at];
    let row = before.iter().filter(|b| **b == b'\n').count();
    let column = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(at, |newline| at - newline - 1);
    tree_sitter::Point { row, column }
}

/// The tags of one file as its definitions and references are found (by
/// the tree walk, or by the quick scan).
pub(super) struct TagsBuilder<'s> {
    source: &'s [u8],
    lines: LineIndex,
    defs: Vec<Definition>,
    /// Start bytes of the names of the definitions found (one definition per name node).
    name_spans: FxHashSet<usize>,
    refs: FxHashMap<&'s str, Vec<u32>>,
}

impl<'s> TagsBuilder<'s> {
    pub(super) fn new(source: &'s [u8]) -> Self {
        Self {
            source,
            lines: LineIndex::new(source),
            defs: Vec::new(),
            name_spans: FxHashSet::default(),
            refs: FxHashMap::default(),
        }
    }

    fn reference(&mut self, node: &tree_sitter::Node<'_>) {
        if let Some(text) = node_text(self.source, node) {
            self.reference_at(text, node.start_position().row as u32 + 1);
        }
    }

    /// A reference to `name` on 1-based `line`.
    pub(super) fn reference_at(&mut self, name: &'s str, line: u32) {
        if !name.is_empty() && name.len() <= MAX_NAME_BYTES {
            self.refs.entry(name).or_default().push(line);
        }
    }

    /// A definition: its whole node, its name's node and its kind.
    fn definition(
        &mut self,
        node: &tree_sitter::Node<'_>,
        name: &tree_sitter::Node<'_>,
        kind: SymbolKind,
    ) {
        let Some(text) = node_text(self.source, name) else {
            return;
        };
        self.definition_at(
            text,
            name.start_byte(),
            kind,
            name.start_position().row as u32 + 1,
            node.start_position().row as u32 + 1..=node.end_position().row as u32 + 1,
        );
    }

    /// A definition of `name` (which starts at byte `at`) of this kind, on
    /// 1-based `line`, spanning the 1-based lines `span`.
    pub(super) fn definition_at(
        &mut self,
        name: &str,
        at: usize,
        kind: SymbolKind,
        line: u32,
        span: std::ops::RangeInclusive<u32>,
    ) {
        if name.is_empty() || name.len() > MAX_NAME_BYTES || !self.name_spans.insert(at) {
            return;
        }
        self.defs.push(Definition {
            name: name.to_string(),
            kind,
            line,
            start_line: *span.start(),
            end_line: *span.end(),
            signature: self
                .lines
                .signature(self.source, line.saturating_sub(1) as usize),
        });
    }

    /// The tags; `provisional` ones (from the quick scan) get no retrieval chunks.
    pub(super) fn finish(self, has_errors: bool, provisional: bool) -> FileTags {
        let Self {
            source,
            lines,
            mut defs,
            refs,
            ..
        } = self;
        // A definition's own name is not a reference to it.
        let def_lines: HashSet<(&str, u32)> =
            defs.iter().map(|d| (d.name.as_str(), d.line)).collect();
        let mut refs: Vec<Reference> = refs
            .into_iter()
            .filter_map(|(name, mut lines)| {
                lines.sort_unstable();
                lines.dedup();
                lines.retain(|line| !def_lines.contains(&(name, *line)));
                lines.shrink_to_fit();
                (!lines.is_empty()).then(|| Reference {
                    name: name.to_string(),
                    lines,
                })
            })
            .collect();
        refs.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        refs.shrink_to_fit();
        defs.sort_by_key(|d| (d.start_line, d.line));
        defs.shrink_to_fit();
        let mut chunks = if provisional {
            Vec::new()
        } else {
            chunks(source, &lines, &defs)
        };
        chunks.shrink_to_fit();
        // Tags stay in memory for every file of the workspace: no spare capacity.
        FileTags {
            defs,
            refs,
            chunks,
            has_errors,
            provisional,
        }
    }
}

fn node_text<'a>(source: &'a [u8], node: &tree_sitter::Node<'_>) -> Option<&'a str> {
    let text = source.get(node.start_byte()..node.end_byte())?;
    let text = std::str::from_utf8(text).ok()?;
    (!text.is_empty() && text.len() <= MAX_NAME_BYTES).then_some(text)
}

/// Byte offsets of line starts.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(source: &[u8]) -> Self {
        let mut starts = vec![0];
        starts.extend(
            source
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self { starts }
    }

    fn count(&self) -> u32 {
        self.starts.len() as u32
    }

    /// The bytes of 0-based line `row`, without its line end.
    fn line<'a>(&self, source: &'a [u8], row: usize) -> &'a [u8] {
        let start = self.starts.get(row).copied().unwrap_or(source.len());
        let end = self
            .starts
            .get(row + 1)
            .map_or(source.len(), |next| next - 1);
        let line = source.get(start..end.max(start)).unwrap_or_default();
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    /// The bytes of 1-based lines `first..=last`.
    fn span<'a>(&self, source: &'a [u8], first: u32, last: u32) -> &'a [u8] {
        let start = self
            .starts
            .get(first.saturating_sub(1) as usize)
            .copied()
            .unwrap_or(source.len());
        let end = self
            .starts
            .get(last as usize)
            .copied()
            .unwrap_or(source.len());
        source.get(start..end.max(start)).unwrap_or_default()
    }

    fn signature(&self, source: &[u8], row: usize) -> String {
        // A char takes at most 4 bytes, so the signature lies in the line's
        // head: a minified file's line of megabytes is not decoded whole
        // for each of its thousands of definitions.
        let line = self.line(source, row).trim_ascii_end();
        let head = &line[..line.len().min(MAX_SIGNATURE_CHARS * 4 + 4)];
        let text = String::from_utf8_lossy(head);
        let text = if head.len() < line.len() {
            &*text
        } else {
            text.trim_end()
        };
        match text.char_indices().nth(MAX_SIGNATURE_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_string(),
        }
    }
}

/// The retrieval chunks of a file (see [`Chunk`]). Comment, attribute and
/// decorator lines right above a definition belong to its chunk.
fn chunks(source: &[u8], lines: &LineIndex, defs: &[Definition]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let total = lines.count();
    let starts: Vec<u32> = defs
        .iter()
        .map(|def| {
            let mut start = def.start_line;
            while start > 1 && is_leading_line(lines.line(source, start as usize - 2)) {
                start -= 1;
            }
            start
        })
        .collect();
    // Code outside every definition, in the gaps between top-level ones.
    let mut covered_to = 0;
    for (def, start) in defs.iter().zip(&starts) {
        let start = (*start).max(covered_to + 1);
        if start > covered_to + 1 {
            push_windows(&mut out, source, lines, covered_to + 1, start - 1, None, "");
        }
        covered_to = covered_to.max(def.end_line);
    }
    if covered_to < total {
        push_windows(&mut out, source, lines, covered_to + 1, total, None, "");
    }
    for (index, def) in defs.iter().enumerate() {
        let first_child = defs[index + 1..]
            .iter()
            .zip(&starts[index + 1..])
            .find(|(d, _)| d.start_line > def.start_line && d.end_line <= def.end_line)
            .map(|(_, start)| *start);
        let start = starts[index];
        let end = match first_child {
            Some(child) if child > start => child - 1,
            _ => def.end_line,
        };
        push_windows(
            &mut out,
            source,
            lines,
            start,
            end,
            Some(index as u32),
            &def.name,
        );
    }
    out.sort_by_key(|c| (c.start_line, c.end_line));
    out
}

/// Whether a line above a definition documents or decorates it.
fn is_leading_line(line: &[u8]) -> bool {
    let line = line.trim_ascii_start();
    ["//", "#", "/*", "*", "@", "--"]
        .iter()
        .any(|p| line.starts_with(p.as_bytes()))
}

#[allow(clippy::too_many_arguments)]
fn push_windows(
    out: &mut Vec<Chunk>,
    source: &[u8],
    lines: &LineIndex,
    first: u32,
    last: u32,
    def: Option<u32>,
    name: &str,
) {
    let mut windows = Vec::new();
    if last + 1 - first <= MAX_CHUNK_LINES {
        windows.push((first, last));
    } else {
        let mut start = first;
        while start <= last {
            let end = (start + WINDOW_LINES - 1).min(last);
            windows.push((start, end));
            start = end + 1;
        }
    }
    let mut hashes = Vec::new();
    for (start, end) in windows {
        let text = String::from_utf8_lossy(lines.span(source, start, end));
        hashes.clear();
        let mut add = |term: &str| hashes.push(term_hash(term));
        // A window of a long definition keeps its name, so it stays findable by it.
        if start != first {
            for_each_term(name, &mut add);
        }
        for_each_term(&text, &mut add);
        if !hashes.is_empty() {
            out.push(Chunk {
                start_line: start,
                end_line: end,
                def,
                terms: term_counts(&mut hashes),
                len: hashes.len() as u32,
            });
        }
    }
}

/// `(hash, count)` of each distinct hash, by hash; counts stop at `u16::MAX`.
fn term_counts(hashes: &mut [u32]) -> Box<[Term]> {
    hashes.sort_unstable();
    let mut counts: Vec<Term> = Vec::new();
    for hash in hashes.iter() {
        match counts.last_mut() {
            Some(last) if last.hash() == *hash => last.count = last.count().saturating_add(1),
            _ => counts.push(Term {
                hash: *hash,
                count: 1,
            }),
        }
    }
    counts.into_boxed_slice()
}

#[cfg(test)]
#[path = "tags_tests.rs"]
mod tests;
