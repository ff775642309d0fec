//! Ranking definitions with a reference graph (PageRank, personalised).
//!
//! Files are nodes. A file that refers to a name defined in another file gets
//! an edge to it, weighted by how often it refers to the name (square root,
//! so one chatty file does not dominate) and by how telling the name is:
//! names defined in many files (`get`, `__init__`) count for little and
//! names defined in more than [`MAX_DEFINERS`] files not at all, private
//! names (`_x`) count less, and long compound names more. PageRank then runs
//! with a personalisation vector that favours the files the ticket and the
//! conversation name and the files defining the identifiers they name, and
//! edges carrying a named identifier weigh ten times more. Each file's rank
//! flows along its edges to the definitions it uses; that share is a
//! definition's score.
//!
//! The graph's structure depends only on the snapshot and is built once per
//! snapshot; personalisation is applied per request.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rustc_hash::{FxHashMap, FxHashSet};

use super::code::{Definition, IndexedFile, Snapshot};

/// A name defined in more files than this links nothing.
pub const MAX_DEFINERS: usize = 40;
const DAMPING: f64 = 0.85;
/// Enough for the tolerance from a cold start on Django's 2,930 files (about 50).
const MAX_ITERATIONS: usize = 100;
/// L1 change of the rank vector (which sums to 1) below which iteration stops.
const TOLERANCE: f64 = 1e-6;
/// How much more an edge carrying a named identifier weighs.
const MENTIONED_NAME_FACTOR: f64 = 10.0;

/// Files changed at once above which the graph is built again from scratch.
const MAX_INCREMENTAL_FILES: usize = 64;
/// Names whose definers changed since the last full build above which the
/// graph is built again from scratch.
const MAX_CHANGED_NAMES: usize = 4096;

/// The reference graph of a snapshot, with names as integer ids.
///
/// After an edit, [`Graph::update`] derives the next snapshot's graph from
/// this one: the big tables built from scratch are shared (`Arc`), what the
/// edits changed lies over them, and only the files that refer to a name
/// whose definers changed are linked again.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    /// The id of each name defined somewhere when built from scratch.
    name_ids: Arc<FxHashMap<Box<str>, u32>>,
    /// The ids of names first defined in later updates.
    added_ids: FxHashMap<Box<str>, u32>,
    /// Files defining each name (ascending), by name id, when built from scratch.
    definers: Arc<Vec<Vec<u32>>>,
    /// The definers of names that changed in later updates (an empty list:
    /// no longer defined).
    changed_definers: FxHashMap<u32, Vec<u32>>,
    /// Number of name ids.
    names: usize,
    /// Per file, the name id of each of its definitions (as in its tags).
    def_ids: Vec<Arc<[u32]>>,
    /// Per file: `(name id, weight)` of the defined names it refers to (not its own).
    uses: Vec<Arc<[(u32, f64)]>>,
    /// Per file: `(file, index in its uses)` for each other file defining a
    /// name it uses, in order of use then of definer (what PageRank walks).
    edges: Vec<Arc<[(u32, u32)]>>,
    /// The last ranks computed, where the next PageRank starts: the fixed
    /// point moves little with an edit or a new focus, so few iterations
    /// reach it again.
    last_rank: Mutex<Option<Arc<Vec<f64>>>>,
}

impl Graph {
    pub fn build(files: &[IndexedFile]) -> Self {
        let mut name_ids: FxHashMap<Box<str>, u32> = FxHashMap::default();
        let mut definers: Vec<Vec<u32>> = Vec::new();
        let mut def_ids = Vec::with_capacity(files.len());
        for (file, indexed) in files.iter().enumerate() {
            let mut ids = Vec::with_capacity(indexed.tags.defs.len());
            for def in &indexed.tags.defs {
                let id = match name_ids.get(def.name.as_str()) {
                    Some(id) => *id,
                    None => {
                        let id = definers.len() as u32;
                        name_ids.insert(def.name.as_str().into(), id);
                        definers.push(Vec::new());
                        id
                    }
                };
                ids.push(id);
                let definers = &mut definers[id as usize];
                if definers.last() != Some(&(file as u32)) {
                    definers.push(file as u32);
                }
            }
            def_ids.push(ids.into());
        }
        let mut graph = Graph {
            names: definers.len(),
            name_ids: Arc::new(name_ids),
            definers: Arc::new(definers),
            def_ids,
            ..Graph::default()
        };
        for (file, indexed) in files.iter().enumerate() {
            let (uses, edges) = graph.links(file, indexed);
            graph.uses.push(uses.into());
            graph.edges.push(edges.into());
        }
        graph
    }

    /// The graph of `files`, given that this is the graph of `old`: the same
    /// paths in the same order, some with new tags. `None` when the paths
    /// differ or too much changed (build it from scratch then). The result
    /// equals [`Graph::build`] of `files` but for the ids of names.
    pub fn update(&self, old: &[IndexedFile], files: &[IndexedFile]) -> Option<Graph> {
        if old.len() != files.len()
            || self.def_ids.len() != files.len()
            || old.iter().zip(files).any(|(a, b)| a.path != b.path)
        {
            return None;
        }
        let changed: Vec<usize> = (0..files.len())
            .filter(|i| !Arc::ptr_eq(&old[*i].tags, &files[*i].tags))
            .collect();
        if changed.len() > MAX_INCREMENTAL_FILES || self.changed_definers.len() > MAX_CHANGED_NAMES
        {
            return None;
        }
        let mut graph = Graph {
            name_ids: self.name_ids.clone(),
            added_ids: self.added_ids.clone(),
            definers: self.definers.clone(),
            changed_definers: self.changed_definers.clone(),
            names: self.names,
            def_ids: self.def_ids.clone(),
            uses: self.uses.clone(),
            edges: self.edges.clone(),
            last_rank: Mutex::new(self.last_rank.lock().ok().and_then(|last| last.clone())),
        };
        // Names whose definers changed.
        fn defined(file: &IndexedFile) -> FxHashSet<&str> {
            file.tags.defs.iter().map(|d| d.name.as_str()).collect()
        }
        let mut touched: Vec<&str> = Vec::new();
        for &file in &changed {
            let (before, after) = (defined(&old[file]), defined(&files[file]));
            for name in before.difference(&after) {
                if let Some(id) = graph.raw_id(name) {
                    let mut definers = graph.definers(id).to_vec();
                    definers.retain(|d| *d != file as u32);
                    graph.changed_definers.insert(id, definers);
                }
                touched.push(name);
            }
            for name in after.difference(&before) {
                let id = match graph.raw_id(name) {
                    Some(id) => id,
                    None => {
                        let id = graph.names as u32;
                        graph.names += 1;
                        graph.added_ids.insert((*name).into(), id);
                        id
                    }
                };
                let mut definers = graph.definers(id).to_vec();
                if let Err(at) = definers.binary_search(&(file as u32)) {
                    definers.insert(at, file as u32);
                }
                graph.changed_definers.insert(id, definers);
                touched.push(name);
            }
            let ids: Option<Vec<u32>> = files[file]
                .tags
                .defs
                .iter()
                .map(|d| graph.raw_id(&d.name))
                .collect();
            graph.def_ids[file] = ids?.into();
        }
        // Link again the changed files and every file referring to a touched name.
        for (file, indexed) in files.iter().enumerate() {
            let refers = || {
                touched.iter().any(|name| {
                    indexed
                        .tags
                        .refs
                        .binary_search_by(|r| r.name.as_str().cmp(name))
                        .is_ok()
                })
            };
            if changed.binary_search(&file).is_ok() || (!touched.is_empty() && refers()) {
                let (uses, edges) = graph.links(file, indexed);
                graph.uses[file] = uses.into();
                graph.edges[file] = edges.into();
            }
        }
        Some(graph)
    }

    /// The uses of a file, and the edges they make to other files.
    #[allow(clippy::type_complexity)]
    fn links(&self, file: usize, indexed: &IndexedFile) -> (Vec<(u32, f64)>, Vec<(u32, u32)>) {
        let uses: Vec<(u32, f64)> = indexed
            .tags
            .refs
            .iter()
            .filter_map(|r| {
                let id = self.raw_id(&r.name)?;
                let definers = self.definers(id);
                let others = definers.iter().filter(|d| **d != file as u32).count();
                if others == 0 || definers.len() > MAX_DEFINERS {
                    return None;
                }
                let weight = name_weight(&r.name, definers.len()) * (r.lines.len() as f64).sqrt();
                Some((id, weight))
            })
            .collect();
        let mut edges = Vec::new();
        for (k, (id, _)) in uses.iter().enumerate() {
            for to in self.definers(*id) {
                if *to as usize != file {
                    edges.push((*to, k as u32));
                }
            }
        }
        (uses, edges)
    }

    /// The id of a name, defined now or before.
    fn raw_id(&self, name: &str) -> Option<u32> {
        self.name_ids
            .get(name)
            .or_else(|| self.added_ids.get(name))
            .copied()
    }

    /// The id of a defined name.
    pub fn name_id(&self, name: &str) -> Option<u32> {
        self.raw_id(name)
            .filter(|id| !self.definers(*id).is_empty())
    }

    /// The files defining a name.
    pub fn definers(&self, id: u32) -> &[u32] {
        if !self.changed_definers.is_empty()
            && let Some(definers) = self.changed_definers.get(&id)
        {
            return definers;
        }
        self.definers.get(id as usize).map_or(&[], Vec::as_slice)
    }
}

/// How telling a name is, before personalisation.
fn name_weight(name: &str, definers: usize) -> f64 {
    let mut weight = 1.0;
    let compound = name.contains('_') || name.chars().skip(1).any(char::is_uppercase);
    if compound && name.len() >= 8 {
        weight *= 4.0;
    }
    if name.starts_with('_') {
        weight *= 0.1;
    }
    if definers > 5 {
        weight *= 0.1;
    }
    weight
}

/// What the ticket and the conversation point at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Focus {
    /// Indexed files named (workspace-relative paths).
    pub files: HashSet<String>,
    /// Defined identifiers named.
    pub names: HashSet<String>,
}

impl Focus {
    /// Finds the indexed files and defined identifiers `texts` name: a path
    /// or path suffix (`src/lib.rs`, `views.py`) names a file when it ends an
    /// indexed path at a `/`; an identifier names a symbol when something is
    /// defined under it and it is not a common word (at least three
    /// characters, and not all lower case under five).
    pub fn find<'a>(snapshot: &Snapshot, texts: impl IntoIterator<Item = &'a str>) -> Self {
        let graph = graph(snapshot);
        let mut by_name: HashMap<&str, Vec<&str>> = HashMap::new();
        for file in snapshot.files() {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path);
            by_name.entry(name).or_default().push(&file.path);
        }
        let mut focus = Focus::default();
        for text in texts {
            for word in super::code::terms::path_words(text) {
                let name = word.rsplit('/').next().unwrap_or(word);
                for path in by_name.get(name).into_iter().flatten() {
                    if *path == word || path.ends_with(&format!("/{word}")) {
                        focus.files.insert(path.to_string());
                    }
                }
            }
            for word in super::code::terms::identifiers(text) {
                if telling(word) && graph.name_id(word).is_some() {
                    focus.names.insert(word.to_string());
                }
            }
        }
        focus
    }

    /// Whether nothing is named.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.names.is_empty()
    }
}

/// Whether an identifier in prose is specific enough to be a mention.
fn telling(word: &str) -> bool {
    let compound = word.contains('_') || word.chars().any(char::is_uppercase);
    word.len() >= 3 && (compound || word.len() >= 5)
}

/// The snapshot's graph, built on first use.
pub(crate) fn graph(snapshot: &Snapshot) -> &Graph {
    snapshot
        .graph
        .get_or_init(|| Graph::build(snapshot.files()))
}

/// A definition with its score.
#[derive(Debug, Clone, Copy)]
pub struct Ranked<'a> {
    /// The file.
    pub file: &'a IndexedFile,
    /// The definition.
    pub def: &'a Definition,
    /// Its score; higher is more relevant.
    pub score: f64,
    /// Whether its name or its file was named (these come first).
    pub focused: bool,
}

/// Every definition of the snapshot, most relevant first: definitions of
/// named identifiers, then definitions in named files, then by score; ties by
/// path and line.
pub fn rank<'a>(snapshot: &'a Snapshot, focus: &Focus) -> Vec<Ranked<'a>> {
    rank_top(snapshot, focus, usize::MAX).0
}

/// The first `limit` definitions of [`rank`], and how many there are in all
/// (only the first `limit` are sorted).
pub(crate) fn rank_top<'a>(
    snapshot: &'a Snapshot,
    focus: &Focus,
    limit: usize,
) -> (Vec<Ranked<'a>>, usize) {
    let files = snapshot.files();
    let graph = graph(snapshot);
    let n = files.len();
    if n == 0 {
        return (Vec::new(), 0);
    }
    let mut named = vec![false; graph.names];
    let mut named_ids = Vec::new();
    for name in &focus.names {
        if let Some(id) = graph.name_id(name) {
            named[id as usize] = true;
            named_ids.push(id);
        }
    }
    // The weight of each use, with named identifiers weighing more.
    let weights: Vec<Vec<f64>> = graph
        .uses
        .iter()
        .map(|uses| {
            uses.iter()
                .map(|(id, w)| {
                    if named[*id as usize] {
                        w * MENTIONED_NAME_FACTOR
                    } else {
                        *w
                    }
                })
                .collect()
        })
        .collect();

    // Personalisation: named files, and files defining named identifiers.
    let mut personal = vec![1.0; n];
    for (i, file) in files.iter().enumerate() {
        if focus.files.contains(&file.path) {
            personal[i] += 100.0;
        }
    }
    for id in &named_ids {
        for d in graph.definers(*id) {
            personal[*d as usize] += 20.0;
        }
    }
    let total: f64 = personal.iter().sum();
    personal.iter_mut().for_each(|p| *p /= total);

    // Out-weights: each use spreads over the name's definers.
    let out: Vec<f64> = graph
        .uses
        .iter()
        .zip(&weights)
        .map(|(uses, weights)| {
            uses.iter()
                .zip(weights)
                .map(|((id, _), w)| w * graph.definers(*id).len() as f64)
                .sum()
        })
        .collect();

    // Start from the last ranks (see `Graph::last_rank`): the same fixed
    // point, within the tolerance, in fewer iterations.
    let mut rank = graph
        .last_rank
        .lock()
        .ok()
        .and_then(|last| last.as_ref().filter(|r| r.len() == n).map(|r| r.to_vec()))
        .unwrap_or_else(|| personal.clone());
    let mut next = vec![0.0; n];
    for _ in 0..MAX_ITERATIONS {
        next.iter_mut().for_each(|x| *x = 0.0);
        let dangling: f64 = (0..n).filter(|i| out[*i] == 0.0).map(|i| rank[i]).sum();
        flows(graph, &weights, &out, &rank, |to, _, flow| {
            next[to as usize] += flow;
        });
        let mut delta = 0.0;
        for i in 0..n {
            let value =
                (1.0 - DAMPING) * personal[i] + DAMPING * (next[i] + dangling * personal[i]);
            delta += (value - rank[i]).abs();
            rank[i] = value;
        }
        if delta < TOLERANCE {
            break;
        }
    }
    if let Ok(mut last) = graph.last_rank.lock() {
        *last = Some(Arc::new(rank.clone()));
    }

    // Each file's rank flows to the definitions it uses.
    let mut def_score: FxHashMap<(u32, u32), f64> = FxHashMap::default();
    flows(graph, &weights, &out, &rank, |to, id, flow| {
        *def_score.entry((to, id)).or_default() += flow;
    });

    // (tier, definition, position): the position makes the order total, as a
    // stable sort of all definitions in file order would.
    let mut ranked = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let defs = &file.tags.defs;
        // Definitions nobody uses keep a small share of their file's rank.
        let floor = rank[i] * 1e-3 / defs.len().max(1) as f64;
        let file_named = focus.files.contains(&file.path);
        for (def, id) in defs.iter().zip(graph.def_ids[i].iter()) {
            let used = def_score.get(&(i as u32, *id)).copied().unwrap_or(0.0);
            let name_named = named[*id as usize];
            let position = ranked.len();
            ranked.push((
                u8::from(!name_named) + u8::from(!file_named),
                Ranked {
                    file,
                    def,
                    score: used + floor,
                    focused: name_named || file_named,
                },
                position,
            ));
        }
    }
    let order = |(ta, a, pa): &(u8, Ranked<'_>, usize), (tb, b, pb): &(u8, Ranked<'_>, usize)| {
        ta.cmp(tb)
            .then(b.score.total_cmp(&a.score))
            .then_with(|| a.file.path.cmp(&b.file.path))
            .then(a.def.line.cmp(&b.def.line))
            .then(pa.cmp(pb))
    };
    let total = ranked.len();
    if limit < total {
        ranked.select_nth_unstable_by(limit, order);
        ranked.truncate(limit);
    }
    ranked.sort_unstable_by(order);
    (ranked.into_iter().map(|(_, r, _)| r).collect(), total)
}

/// Calls `sink(to, name, flow)` for the rank each file passes along each of
/// its uses to each other file defining the name.
fn flows(
    graph: &Graph,
    weights: &[Vec<f64>],
    out: &[f64],
    rank: &[f64],
    mut sink: impl FnMut(u32, u32, f64),
) {
    for (from, ((edges, uses), weights)) in
        graph.edges.iter().zip(&graph.uses).zip(weights).enumerate()
    {
        if out[from] == 0.0 {
            continue;
        }
        let share = rank[from] / out[from];
        for (to, k) in edges.iter() {
            let k = *k as usize;
            sink(*to, uses[k].0, share * weights[k]);
        }
    }
}

#[cfg(test)]
mod tests {
    use agentkit_core::sandbox::Sandbox;
    use agentkit_core::testing::MemorySandbox;

    use super::*;
    use crate::context::CodeIndex;
    use crate::context::code::FileTags;

    /// What a graph links, by names instead of ids: per file, its
    /// definitions, its uses with their weights and its edges.
    #[allow(clippy::type_complexity)]
    fn links_by_name(
        graph: &Graph,
        files: usize,
    ) -> Vec<(Vec<String>, Vec<(String, f64)>, Vec<(u32, String)>)> {
        let mut names = vec![String::new(); graph.names];
        for (name, id) in graph.name_ids.iter().chain(&graph.added_ids) {
            names[*id as usize] = name.to_string();
        }
        (0..files)
            .map(|f| {
                let uses = &graph.uses[f];
                (
                    graph.def_ids[f]
                        .iter()
                        .map(|id| names[*id as usize].clone())
                        .collect(),
                    uses.iter()
                        .map(|(id, w)| (names[*id as usize].clone(), *w))
                        .collect(),
                    graph.edges[f]
                        .iter()
                        .map(|(to, k)| (*to, names[uses[*k as usize].0 as usize].clone()))
                        .collect(),
                )
            })
            .collect()
    }

    fn module(i: usize) -> String {
        format!(
            "from pkg import render_part_{next}, compute_value_{next}\n\n\
             def render_part_{i}():\n    return compute_value_{next}() + render_part_{next}()\n\n\
             def compute_value_{i}():\n    return shared_helper({i})\n",
            next = (i + 1) % 6
        )
    }

    /// The ranking as (path, line, score).
    fn ranking(snapshot: &Snapshot, focus: &Focus) -> Vec<(String, u32, f64)> {
        rank(snapshot, focus)
            .into_iter()
            .map(|r| (r.file.path.clone(), r.def.line, r.score))
            .collect()
    }

    #[tokio::test]
    async fn an_updated_graph_and_its_ranking_equal_a_rebuilt_one() {
        let mut sandbox = MemorySandbox::new();
        for i in 0..6 {
            sandbox = sandbox.with_file(&format!("pkg/module_{i}.py"), &module(i));
        }
        let sandbox = sandbox.with_file("pkg/util.py", "def unrelated():\n    return 1\n");
        let index = CodeIndex::new();
        let ticket = ["render_part_2 is slow"];
        let before = index.refresh(&sandbox).await.unwrap().snapshot;
        let focus = Focus::find(&before, ticket);
        ranking(&before, &focus);

        // util.py now defines a name four modules use, and module_3 stops
        // defining compute_value_3 and starts using unrelated.
        let edits = [
            (
                "pkg/util.py",
                "def shared_helper(x):\n    return unrelated()\n\ndef unrelated():\n    return 1\n"
                    .to_string(),
            ),
            (
                "pkg/module_3.py",
                module(3)
                    .replace("def compute_value_3", "def other_value_3")
                    .replace("shared_helper(3)", "unrelated()"),
            ),
        ];
        for (path, text) in &edits {
            sandbox.write(path, text.as_bytes()).await.unwrap();
        }
        let after = index.refresh(&sandbox).await.unwrap().snapshot;
        let updated = after
            .graph
            .get()
            .expect("the graph was updated, not left to rebuild");
        assert!(!updated.changed_definers.is_empty());
        let rebuilt = Graph::build(after.files());
        let n = after.files().len();
        assert_eq!(links_by_name(updated, n), links_by_name(&rebuilt, n));

        // PageRank started from the last ranks ends where a cold start does.
        let focus = Focus::find(&after, ticket);
        let warm = ranking(&after, &focus);
        let cold_snapshot = CodeIndex::new().refresh(&sandbox).await.unwrap().snapshot;
        // The edited files were parsed incrementally (the first refresh kept
        // every tree): the same tags as parsing them afresh.
        let tags = |s: &Snapshot| -> Vec<(String, FileTags)> {
            s.files()
                .iter()
                .map(|f| (f.path.clone(), (*f.tags).clone()))
                .collect()
        };
        assert_eq!(tags(&after), tags(&cold_snapshot));
        let cold = ranking(&cold_snapshot, &focus);
        let order = |r: &[(String, u32, f64)]| {
            r.iter()
                .map(|(p, l, _)| (p.clone(), *l))
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&warm), order(&cold));
        // Each stops within TOLERANCE·d/(1-d) (L1) of the fixed point.
        let bound = 2.0 * TOLERANCE * DAMPING / (1.0 - DAMPING);
        for ((_, _, w), (_, _, c)) in warm.iter().zip(&cold) {
            assert!((w - c).abs() <= bound, "{w} vs {c}");
        }
    }
}
