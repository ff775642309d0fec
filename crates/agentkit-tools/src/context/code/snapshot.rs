//! What a refresh returns: the snapshot of a workspace's files and tags.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::tags::{Definition, FileTags, Reference};
use super::{Entry, Lang, Outcome, frees_many, release_free_memory};

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshStats {
    /// Source files found.
    pub files: usize,
    /// Files whose size and modification time had not changed (not read).
    pub unchanged: usize,
    /// Files that were new or changed.
    pub changed: usize,
    /// Changed files whose content's tags were already known (memory or disk cache).
    pub cached: usize,
    /// Files parsed.
    pub parsed: usize,
    /// Files tagged by the quick scan (see [`CodeIndex::refresh_quick`](super::CodeIndex::refresh_quick)).
    pub scanned: usize,
    /// Files skipped (binary, too large, unreadable, unparsable), in the snapshot.
    pub skipped: usize,
    /// Files gone since the last refresh.
    pub removed: usize,
}

/// The result of [`CodeIndex::refresh`](super::CodeIndex::refresh).
#[derive(Debug, Clone)]
pub struct Refresh {
    /// The workspace's files and tags.
    pub snapshot: Arc<Snapshot>,
    /// What the refresh did.
    pub stats: RefreshStats,
}

/// A source file and its tags.
#[derive(Debug, Clone)]
pub struct IndexedFile {
    /// Workspace-relative, `/`-separated.
    pub path: String,
    /// Its language.
    pub lang: Lang,
    /// Its tags.
    pub tags: Arc<FileTags>,
}

/// A source file that was not indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// Workspace-relative path.
    pub path: String,
    /// Why (binary, too large, unreadable, ...).
    pub reason: String,
}

/// The tags of one workspace at one moment. Unchanged refreshes return the
/// same snapshot, so what is derived from it (the reference graph, the BM25
/// index) is computed once.
#[derive(Debug, Default)]
pub struct Snapshot {
    files: Vec<IndexedFile>,
    skipped: Vec<SkippedFile>,
    pub(crate) graph: OnceLock<crate::context::rank::Graph>,
    pub(crate) bm25: OnceLock<crate::context::retrieval::Bm25>,
    /// Files whose tags are provisional.
    provisional: usize,
}

impl Snapshot {
    pub(super) fn build(
        files: &HashMap<String, Entry>,
        tags: &HashMap<u128, Arc<FileTags>>,
    ) -> Self {
        let mut indexed = Vec::new();
        let mut skipped = Vec::new();
        for (path, entry) in files {
            match &entry.outcome {
                Outcome::Tags(hash) => {
                    if let Some(tags) = tags.get(hash) {
                        indexed.push(IndexedFile {
                            path: path.clone(),
                            lang: entry.lang,
                            tags: tags.clone(),
                        });
                    }
                }
                Outcome::Skipped(reason) => skipped.push(SkippedFile {
                    path: path.clone(),
                    reason: reason.clone(),
                }),
            }
        }
        indexed.sort_by(|a, b| a.path.cmp(&b.path));
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        Self {
            provisional: indexed.iter().filter(|f| f.tags.provisional).count(),
            files: indexed,
            skipped,
            graph: OnceLock::new(),
            bm25: OnceLock::new(),
        }
    }

    /// Whether some files' tags come from the quick scan (see
    /// [`CodeIndex::refresh_quick`](super::CodeIndex::refresh_quick)): ranking-grade, without retrieval chunks.
    pub fn is_provisional(&self) -> bool {
        self.provisional > 0
    }

    /// The indexed files, by path.
    pub fn files(&self) -> &[IndexedFile] {
        &self.files
    }

    /// The files that were skipped, by path.
    pub fn skipped(&self) -> &[SkippedFile] {
        &self.skipped
    }

    /// The file at `path`, if indexed.
    pub fn file(&self, path: &str) -> Option<&IndexedFile> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// Every definition named exactly `name`, by path then line.
    pub fn definitions(&self, name: &str) -> Vec<(&IndexedFile, &Definition)> {
        self.files
            .iter()
            .flat_map(|f| {
                f.tags
                    .defs
                    .iter()
                    .filter(|d| d.name == name)
                    .map(move |d| (f, d))
            })
            .collect()
    }

    /// Every file referring to `name`, with the lines, by path.
    pub fn references(&self, name: &str) -> Vec<(&IndexedFile, &Reference)> {
        self.files
            .iter()
            .filter_map(|f| {
                f.tags
                    .refs
                    .binary_search_by(|r| r.name.as_str().cmp(name))
                    .ok()
                    .map(|i| (f, &f.tags.refs[i]))
            })
            .collect()
    }
}

impl Drop for Snapshot {
    /// The last holder of a workspace's tags (the index dropped, a map or
    /// search keeping its last snapshot) gives the memory back once they are freed.
    fn drop(&mut self) {
        if frees_many(self.files.iter().map(|f| &f.tags)) {
            self.files = Vec::new();
            drop(self.graph.take());
            drop(self.bm25.take());
            release_free_memory();
        }
    }
}
