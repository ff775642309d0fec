//! `grep`'s in-process search over a host workspace: a parallel,
//! gitignore-aware walk with the ripgrep crates.

use std::io;
use std::sync::Mutex;

use agentkit_core::CancellationToken;
use grep_regex::RegexMatcher;
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use ignore::WalkState;

use super::grep_hits::{FileHits, Row, shown_text};
use super::walk::{HostTarget, PathGlob};

/// What to search for and how.
pub(crate) struct HostSearch {
    /// Where.
    pub target: HostTarget,
    /// The compiled pattern.
    pub matcher: RegexMatcher,
    /// Only files matching this glob.
    pub glob: Option<PathGlob>,
    /// Lines of context before and after each match.
    pub context: usize,
    /// Rows are kept for at most this many matches per file (the rest are only counted).
    pub keep_per_file: usize,
}

impl HostSearch {
    /// Searches every file under the target in parallel; stops early when `cancel` fires.
    pub fn run(&self, cancel: &CancellationToken) -> Vec<FileHits> {
        let found = Mutex::new(Vec::new());
        self.target.walker().build_parallel().run(|| {
            let mut searcher = SearcherBuilder::new()
                .line_number(true)
                .binary_detection(BinaryDetection::quit(0))
                .before_context(self.context)
                .after_context(self.context)
                .build();
            let found = &found;
            Box::new(move |entry| {
                if cancel.is_cancelled() {
                    return WalkState::Quit;
                }
                let Ok(entry) = entry else {
                    return WalkState::Continue;
                };
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    return WalkState::Continue;
                }
                let Some((from_root, from_target)) = self.target.relative(&entry) else {
                    return WalkState::Continue;
                };
                if self
                    .glob
                    .as_ref()
                    .is_some_and(|g| !g.matches(&from_root, &from_target))
                {
                    return WalkState::Continue;
                }
                let mut sink = Collect {
                    rows: Vec::new(),
                    matches: 0,
                    keep: self.keep_per_file,
                };
                let searched = searcher.search_path(&self.matcher, entry.path(), &mut sink);
                if searched.is_ok()
                    && sink.matches > 0
                    && let Ok(mut found) = found.lock()
                {
                    found.push(FileHits {
                        path: from_root,
                        rows: sink.rows,
                        matches: sink.matches,
                    });
                }
                WalkState::Continue
            })
        });
        found.into_inner().unwrap_or_default()
    }
}

/// Collects rows for the first `keep` matches of a file and counts the rest.
struct Collect {
    rows: Vec<Row>,
    matches: usize,
    keep: usize,
}

impl Sink for Collect {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        for (number, line) in (mat.line_number().unwrap_or(0)..).zip(mat.lines()) {
            self.matches += 1;
            if self.matches <= self.keep {
                self.rows.push(Row::Match(number, shown_text(line)));
            }
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, context: &SinkContext<'_>) -> Result<bool, io::Error> {
        // Before the cap: all context. At the cap: only the last kept match's trailing context.
        let trailing = self.matches == self.keep && !matches!(self.rows.last(), Some(Row::Break));
        if self.matches < self.keep || trailing {
            let number = context.line_number().unwrap_or(0);
            self.rows
                .push(Row::Context(number, shown_text(context.bytes())));
        }
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, io::Error> {
        if self.matches <= self.keep && !matches!(self.rows.last(), Some(Row::Break)) {
            self.rows.push(Row::Break);
        }
        Ok(true)
    }
}
