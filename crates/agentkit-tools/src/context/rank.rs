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

use rustc_hash::FxHashMap;

use super::code::{Definition, IndexedFile, Snapshot};

/// A name defined in more files than this links nothing.
pub const MAX_DEFINERS: usize = 40;
const DAMPING: f64 = 0.85;
const MAX_ITERATIONS: usize = 30;
/// L1 change of the rank vector (which sums to 1) below which iteration stops.
const TOLERANCE: f64 = 1e-6;
/// How much more an edge carrying a named identifier weighs.
const MENTIONED_NAME_FACTOR: f64 = 10.0;

/// The reference graph of a snapshot, with names as integer ids.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    /// The id of each name defined somewhere.
    name_ids: FxHashMap<Box<str>, u32>,
    /// Files defining each name (ascending), by name id.
    definers: Vec<Vec<u32>>,
    /// Per file, the name id of each of its definitions (as in its tags).
    def_ids: Vec<Vec<u32>>,
    /// Per file: `(name id, weight)` of the defined names it refers to (not its own).
    uses: Vec<Vec<(u32, f64)>>,
    /// Per file: `(file, index in its uses)` for each other file defining a
    /// name it uses, in order of use then of definer (what PageRank walks).
    edges: Vec<Vec<(u32, u32)>>,
}

impl Graph {
    pub fn build(files: &[IndexedFile]) -> Self {
        let mut graph = Graph::default();
        for (file, indexed) in files.iter().enumerate() {
            let mut ids = Vec::with_capacity(indexed.tags.defs.len());
            for def in &indexed.tags.defs {
                let id = match graph.name_ids.get(def.name.as_str()) {
                    Some(id) => *id,
                    None => {
                        let id = graph.definers.len() as u32;
                        graph.name_ids.insert(def.name.as_str().into(), id);
                        graph.definers.push(Vec::new());
                        id
                    }
                };
                ids.push(id);
                let definers = &mut graph.definers[id as usize];
                if definers.last() != Some(&(file as u32)) {
                    definers.push(file as u32);
                }
            }
            graph.def_ids.push(ids);
        }
        for (file, indexed) in files.iter().enumerate() {
            let (uses, edges) = graph.links(file, indexed);
            graph.uses.push(uses);
            graph.edges.push(edges);
        }
        graph
    }

    /// The uses of a file, and the edges they make to other files.
    #[allow(clippy::type_complexity)]
    fn links(&self, file: usize, indexed: &IndexedFile) -> (Vec<(u32, f64)>, Vec<(u32, u32)>) {
        let uses: Vec<(u32, f64)> = indexed
            .tags
            .refs
            .iter()
            .filter_map(|r| {
                let id = *self.name_ids.get(r.name.as_str())?;
                let definers = &self.definers[id as usize];
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
            for to in &self.definers[*id as usize] {
                if *to as usize != file {
                    edges.push((*to, k as u32));
                }
            }
        }
        edges.shrink_to_fit();
        (uses, edges)
    }

    /// The id of a defined name.
    pub fn name_id(&self, name: &str) -> Option<u32> {
        self.name_ids.get(name).copied()
    }

    /// The files defining a name.
    pub fn definers(&self, id: u32) -> &[u32] {
        &self.definers[id as usize]
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
    let mut named = vec![false; graph.definers.len()];
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

    let mut rank = personal.clone();
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
        for (def, id) in defs.iter().zip(&graph.def_ids[i]) {
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
        for (to, k) in edges {
            let k = *k as usize;
            sink(*to, uses[k].0, share * weights[k]);
        }
    }
}
