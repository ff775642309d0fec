//! How closely the quick scan agrees with tree-sitter's tags.

use std::collections::{BTreeMap, HashSet};

use super::super::lang::Lang;
use super::super::tags::{Extractor, FileTags};
use super::scan;

/// Counts of `(name, line)` pairs found by both, by tree-sitter only and by
/// the scan only.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub both: usize,
    pub exact_only: usize,
    pub scan_only: usize,
}

impl Counts {
    fn add(&mut self, exact: &HashSet<(String, u32)>, scanned: &HashSet<(String, u32)>) {
        self.both += exact.intersection(scanned).count();
        self.exact_only += exact.difference(scanned).count();
        self.scan_only += scanned.difference(exact).count();
    }

    /// Of what tree-sitter finds, the share the scan finds too.
    pub fn recall(&self) -> f64 {
        self.both as f64 / (self.both + self.exact_only).max(1) as f64
    }

    /// Of what the scan finds, the share tree-sitter finds too.
    pub fn precision(&self) -> f64 {
        self.both as f64 / (self.both + self.scan_only).max(1) as f64
    }
}

/// Agreement on definitions and on references for one language.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Agreement {
    pub files: usize,
    /// Files whose scan gave up (spent its look-ahead budget).
    pub gave_up: usize,
    /// Bytes scanned, and the time the scan took on them.
    pub bytes: usize,
    pub scan_time: std::time::Duration,
    pub defs: Counts,
    pub refs: Counts,
}

fn def_set(tags: &FileTags) -> HashSet<(String, u32)> {
    tags.defs.iter().map(|d| (d.name.clone(), d.line)).collect()
}

fn ref_set(tags: &FileTags) -> HashSet<(String, u32)> {
    tags.refs
        .iter()
        .flat_map(|r| r.lines.iter().map(|l| (r.name.clone(), *l)))
        .collect()
}

/// Adds one file's comparison to `into`; returns the differences (for
/// debugging a rule) as `(what, name, line, found by)`.
pub(crate) fn compare(
    extractor: &mut Extractor,
    lang: Lang,
    source: &[u8],
    into: &mut Agreement,
) -> Vec<(&'static str, String, u32, &'static str)> {
    let started = std::time::Instant::now();
    let scanned = scan(lang, source);
    let scan_time = started.elapsed();
    let Some(scanned) = scanned else {
        into.gave_up += 1;
        return Vec::new();
    };
    let Ok(exact) = extractor.extract(lang, source) else {
        return Vec::new();
    };
    into.bytes += source.len();
    into.scan_time += scan_time;
    assert!(scanned.provisional && scanned.chunks.is_empty());
    into.files += 1;
    let mut diffs = Vec::new();
    for (what, exact, scanned, counts) in [
        ("def", def_set(&exact), def_set(&scanned), &mut into.defs),
        ("ref", ref_set(&exact), ref_set(&scanned), &mut into.refs),
    ] {
        counts.add(&exact, &scanned);
        diffs.extend(
            exact
                .difference(&scanned)
                .map(|(n, l)| (what, n.clone(), *l, "tree-sitter")),
        );
        diffs.extend(
            scanned
                .difference(&exact)
                .map(|(n, l)| (what, n.clone(), *l, "scan")),
        );
    }
    diffs
}

/// Agreement per language over every source file under `roots` (target
/// directories and files over 1 MiB left out). With
/// `AGENTKIT_SCAN_DIFFS=<lang>` the differences of that language are printed.
pub(crate) fn measure(roots: &[std::path::PathBuf]) -> BTreeMap<&'static str, Agreement> {
    let show = std::env::var("AGENTKIT_SCAN_DIFFS").ok();
    let mut extractor = Extractor::new();
    let mut out: BTreeMap<&'static str, Agreement> = BTreeMap::new();
    for root in roots {
        let (files, _) = super::super::files::list_host(root);
        for file in files {
            if file.path.starts_with("target/") || file.size > 1024 * 1024 {
                continue;
            }
            let Ok(source) = std::fs::read(root.join(&file.path)) else {
                continue;
            };
            let entry = out.entry(file.lang.name()).or_default();
            let diffs = compare(&mut extractor, file.lang, &source, entry);
            if show.as_deref() == Some(file.lang.name()) {
                for (what, name, line, by) in diffs {
                    println!("{}:{line}: {what} {name} only by {by}", file.path);
                }
            }
        }
    }
    out
}

/// The scan against tree-sitter on this repository and the trees in
/// `AGENTKIT_TAGS_TREES`: for every language with a scan, most of what
/// tree-sitter finds is found, and most of what is found is right.
#[test]
fn the_scan_agrees_with_tree_sitter() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut roots = vec![repo];
    // Go's own parser and JSON packages, where Debian's golang-go (which CI
    // installs) put them: this repository holds little Go.
    let go = std::path::Path::new("/usr/lib/go/src");
    roots.extend(
        ["go/ast", "go/parser", "go/token", "encoding/json"]
            .map(|dir| go.join(dir))
            .into_iter()
            .filter(|dir| dir.is_dir()),
    );
    if let Some(extra) = std::env::var_os("AGENTKIT_TAGS_TREES") {
        roots.extend(std::env::split_paths(&extra));
    }
    let measured = measure(&roots);
    for (lang, a) in &measured {
        println!(
            "{lang}: {} files ({} given up), {:.1} MB scanned at {:.0} MB/s; defs recall {:.4} precision {:.4} ({:?}); refs recall {:.4} precision {:.4} ({:?})",
            a.files,
            a.gave_up,
            a.bytes as f64 / 1e6,
            a.bytes as f64 / 1e6 / a.scan_time.as_secs_f64().max(1e-9),
            a.defs.recall(),
            a.defs.precision(),
            a.defs,
            a.refs.recall(),
            a.refs.precision(),
            a.refs
        );
    }
    let python = measured.get("python").copied().unwrap_or_default();
    assert!(python.files > 0, "no Python file was scanned");
    for (lang, a) in measured.iter().filter(|(_, a)| a.files > 0) {
        // Real code stays within the look-ahead budget (a rare giant
        // generated file may not, and is parsed instead).
        assert!(a.gave_up * 1000 <= a.files, "{lang}: {a:?}");
        assert!(
            a.defs.recall() >= 0.97 && a.defs.precision() >= 0.97,
            "{lang} definitions: {a:?}"
        );
        assert!(
            a.refs.recall() >= 0.9 && a.refs.precision() >= 0.9,
            "{lang} references: {a:?}"
        );
    }
}
