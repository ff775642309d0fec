//! The code index shared by the repo map, retrieval and the symbol tools:
//! tree-sitter tags of every source file of a workspace, kept up to date
//! incrementally and cached on disk.
//!
//! [`CodeIndex::refresh`] walks the workspace (see [`PRUNED_DIRS`] for how;
//! on the host, while no directory or ignore file changed, it only stats the
//! source files it knows), and for each source file compares
//! `(size, modification time)` with what it saw last time. Only files that changed are read; a read file is hashed
//! (BLAKE3 of its language and bytes) and parsed only when no tags for that
//! hash are known, in memory or in the on-disk cache. Parsing runs on all
//! cores. Binary files, files over [`CodeIndex::max_file_bytes`] and files
//! tree-sitter cannot parse are skipped and listed, never fatal; syntax errors
//! keep the tags of the parts that parse; invalid UTF-8 is read as bytes.
//!
//! [`CodeIndex::refresh_quick`], used by the repo map, tags a large batch of
//! never-seen files with a lexical scan instead (ranking-grade tags, tens of
//! times faster) and parses them with tree-sitter in the background; every
//! refresh waits for that parse.
//!
//! The on-disk cache lives in the directory given to
//! [`CodeIndex::with_cache_dir`], which should be outside the repository
//! (a user cache directory, or the git directory): nothing is ever written
//! into the workspace. Without one the index is in memory only.
//!
//! ```
//! use agentkit_core::testing::MemorySandbox;
//! use agentkit_tools::context::CodeIndex;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let sandbox = MemorySandbox::new().with_file("src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
//! let index = CodeIndex::new();
//! let refresh = index.refresh(&sandbox).await.unwrap();
//! assert_eq!(refresh.stats.parsed, 1);
//! let defs = refresh.snapshot.definitions("answer");
//! assert_eq!((defs[0].0.path.as_str(), defs[0].1.line), ("src/lib.rs", 1));
//! // Nothing changed: nothing is parsed again.
//! assert_eq!(index.refresh(&sandbox).await.unwrap().stats.parsed, 0);
//! # });
//! ```

mod files;
mod jobs;
mod lang;
mod scan;
mod snapshot;
mod store;
mod tags;
pub(crate) mod terms;
mod upgrade;
mod walk;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agentkit_core::sandbox::{Sandbox, SandboxError};
use futures::StreamExt;

pub use files::PRUNED_DIRS;
pub use lang::Lang;
pub use snapshot::{IndexedFile, Refresh, RefreshStats, SkippedFile, Snapshot};
pub use tags::{Chunk, Definition, FileTags, Reference, SymbolKind};

use files::Listed;
use jobs::{Job, Loaded, run_jobs};
use store::DiskStore;
use tags::LastParse;

/// Workspaces whose file tables are kept at once (the least recently used goes).
const MAX_WORKSPACES: usize = 8;
/// Files whose last parse a workspace keeps, to parse their next version
/// incrementally (an agent edits the same few files over and over).
const RECENT_PARSES: usize = 8;
/// Larger files' parses are not kept (a tree takes ~10–20× its source).
const RECENT_PARSE_MAX_BYTES: usize = 256 * 1024;
/// Files read from a sandbox at once.
const READ_CONCURRENCY: usize = 16;
/// Bytes of new source from which [`CodeIndex::refresh_quick`] scans instead
/// of parsing (about 30 ms of tree-sitter on two cores).
const QUICK_MIN_BYTES: u64 = 256 * 1024;

/// The index could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The workspace could not be listed (the sandbox is gone or broken).
    #[error("cannot list the workspace's source files: {0}")]
    Sandbox(#[from] SandboxError),
    /// A worker thread died.
    #[error("the code index worker failed: {0}")]
    Worker(String),
}

/// Tree-sitter tags of the source files of workspaces; cheap to clone (shared).
/// See the [module documentation](self).
#[derive(Clone)]
pub struct CodeIndex {
    inner: Arc<Inner>,
}

struct Inner {
    cache_dir: Option<PathBuf>,
    max_file_bytes: u64,
    threads: usize,
    state: tokio::sync::Mutex<State>,
    parses: AtomicU64,
    /// Held by the background parse that replaces provisional tags.
    upgrade: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct State {
    tags: HashMap<u128, Arc<FileTags>>,
    store: Option<DiskStore>,
    workspaces: HashMap<String, Workspace>,
    tick: u64,
}

#[derive(Default)]
struct Workspace {
    files: HashMap<String, Entry>,
    /// The stamps of the last host walk, while they can be trusted.
    stamps: Option<Arc<files::TreeStamps>>,
    snapshot: Option<Arc<Snapshot>>,
    last_used: u64,
    /// The last parses of the files parsed in the last small refreshes
    /// (up to [`RECENT_PARSES`], of files up to [`RECENT_PARSE_MAX_BYTES`]),
    /// most recent first.
    recent: Vec<(String, Lang, LastParse)>,
}

#[derive(Debug, Clone)]
struct Entry {
    lang: Lang,
    size: u64,
    mtime: u64,
    outcome: Outcome,
}

#[derive(Debug, Clone)]
enum Outcome {
    Tags(u128),
    Skipped(String),
}

impl Default for CodeIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CodeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeIndex")
            .field("cache_dir", &self.inner.cache_dir)
            .field("max_file_bytes", &self.inner.max_file_bytes)
            .finish_non_exhaustive()
    }
}

impl CodeIndex {
    /// Files larger than this are skipped by default: 1 MiB (generated or vendored code).
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;

    /// An index kept in memory only.
    pub fn new() -> Self {
        Self::build(None, Self::DEFAULT_MAX_FILE_BYTES)
    }

    /// An index that also keeps tags in `dir` (created when needed), so a
    /// new process starts warm. Give a directory outside the repository.
    pub fn with_cache_dir(dir: impl Into<PathBuf>) -> Self {
        Self::build(Some(dir.into()), Self::DEFAULT_MAX_FILE_BYTES)
    }

    /// The user's cache directory for agentkit's code index:
    /// `$XDG_CACHE_HOME/agentkit/code-index`, else `~/.cache/agentkit/code-index`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .map(|base| base.join("agentkit").join("code-index"))
    }

    /// Sets the size above which files are skipped.
    pub fn max_file_bytes(self, bytes: u64) -> Self {
        Self::build(self.inner.cache_dir.clone(), bytes)
    }

    fn build(cache_dir: Option<PathBuf>, max_file_bytes: u64) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        Self {
            inner: Arc::new(Inner {
                cache_dir,
                max_file_bytes,
                threads,
                state: tokio::sync::Mutex::new(State::default()),
                parses: AtomicU64::new(0),
                upgrade: Arc::new(tokio::sync::Mutex::new(())),
            }),
        }
    }

    /// Files parsed by this index since it was made (for tests and metrics).
    pub fn total_parses(&self) -> u64 {
        self.inner.parses.load(Ordering::Relaxed)
    }

    /// Brings the index up to date with the workspace of `sandbox` and
    /// returns its snapshot, every file's tags from tree-sitter. Refreshes of
    /// one index run one at a time, and after the background parse started by
    /// [`refresh_quick`](Self::refresh_quick).
    pub async fn refresh(&self, sandbox: &dyn Sandbox) -> Result<Refresh, IndexError> {
        self.refresh_with(sandbox, false).await
    }

    /// [`refresh`](Self::refresh) for ranking: when a workspace on the host
    /// has over 256 KiB of source the index has never seen (its first
    /// refresh, with no disk cache), those files are tagged by the quick
    /// lexical scan instead of tree-sitter — a few percent of the time,
    /// with the same definitions and nearly the same references (the
    /// snapshot says [`Snapshot::is_provisional`]). Tree-sitter then parses
    /// them on background threads: any refresh waits for that parse (a map
    /// asked for again within those seconds waits), then has the exact tags.
    /// The repo map uses this; the symbol and search tools, which need exact
    /// lines and chunks, use `refresh`.
    pub async fn refresh_quick(&self, sandbox: &dyn Sandbox) -> Result<Refresh, IndexError> {
        self.refresh_with(sandbox, true).await
    }

    async fn refresh_with(
        &self,
        sandbox: &dyn Sandbox,
        quick: bool,
    ) -> Result<Refresh, IndexError> {
        // The scanned tags are dropped while the background parse runs.
        drop(self.inner.upgrade.lock().await);
        let mut guard = self.inner.state.lock().await;
        let state = &mut *guard;
        if state.store.is_none()
            && let Some(dir) = &self.inner.cache_dir
        {
            let mut store = DiskStore::new(dir);
            let mut tags = std::mem::take(&mut state.tags);
            let (tags, store) = blocking(move || {
                store.load(&mut tags);
                (tags, store)
            })
            .await?;
            state.tags = tags;
            state.store = Some(store);
        }
        let (key, listed, stamps) = match sandbox.host_workspace() {
            Some(root) => {
                let root = root.to_path_buf();
                let key = format!("host:{}", root.display());
                // With the tree's stamps unchanged, stat the known files instead of walking.
                let known = state.workspaces.get(&key).and_then(|w| {
                    let stamps = w.stamps.clone()?;
                    let files: Vec<(String, Lang)> =
                        w.files.iter().map(|(p, e)| (p.clone(), e.lang)).collect();
                    Some((stamps, files))
                });
                let threads = self.inner.threads;
                let (listed, stamps) = blocking(move || {
                    if let Some((stamps, files)) = known
                        && let Some(listed) = files::restat_host(&root, &stamps, files, threads)
                    {
                        return (listed, Some(stamps));
                    }
                    let (listed, stamps) = files::list_host(&root);
                    (listed, stamps.map(Arc::new))
                })
                .await?;
                (key, listed, stamps)
            }
            None => (
                format!("sandbox:{}", sandbox.id()),
                files::list_sandbox(sandbox).await?,
                None,
            ),
        };
        state.tick += 1;
        let tick = state.tick;
        evict(&mut state.workspaces, &key);
        let workspace = state.workspaces.entry(key).or_default();
        workspace.last_used = tick;
        workspace.stamps = stamps;

        let mut stats = RefreshStats {
            files: listed.len(),
            ..RefreshStats::default()
        };
        let listed_paths: HashSet<&str> = listed.iter().map(|f| f.path.as_str()).collect();
        stats.removed = workspace
            .files
            .keys()
            .filter(|path| !listed_paths.contains(path.as_str()))
            .count();
        drop(listed_paths);
        let mut next: HashMap<String, Entry> = HashMap::with_capacity(listed.len());
        let mut work = Vec::new();
        for file in listed {
            let old = workspace.files.get(&file.path);
            // Tags still usable: in memory (a background parse that stopped
            // early leaves none), and exact unless `quick`.
            let usable = |entry: &Entry| match entry.outcome {
                Outcome::Tags(hash) => state
                    .tags
                    .get(&hash)
                    .is_some_and(|t| quick || !t.provisional),
                Outcome::Skipped(_) => true,
            };
            if let Some(old) = old
                && file.mtime != 0
                && (old.size, old.mtime, old.lang) == (file.size, file.mtime, file.lang)
                && usable(old)
            {
                stats.unchanged += 1;
                next.insert(file.path, old.clone());
            } else if file.size > self.inner.max_file_bytes {
                let entry = entry(
                    &file,
                    Outcome::Skipped(format!(
                        "{} bytes, over the {}-byte limit",
                        file.size, self.inner.max_file_bytes
                    )),
                );
                next.insert(file.path, entry);
                stats.changed += 1;
            } else {
                work.push(file);
            }
        }
        stats.changed += work.len();
        let quick = quick
            && sandbox.host_workspace().is_some()
            && work.iter().map(|f| f.size).sum::<u64>() >= QUICK_MIN_BYTES;

        // Read what changed: on the host inside the workers, else through the sandbox.
        let host_root = sandbox.host_workspace().map(|p| p.to_path_buf());
        let jobs: Vec<Job> = match &host_root {
            Some(_) => work
                .into_iter()
                .map(|file| Job {
                    file,
                    bytes: None,
                    last: None,
                    keep: false,
                    quick,
                })
                .collect(),
            None => futures::stream::iter(work)
                .map(|file| async move {
                    let bytes = sandbox.read(&file.path).await;
                    (file, bytes)
                })
                .buffer_unordered(READ_CONCURRENCY)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .map(|(file, bytes)| Job {
                    file,
                    bytes: Some(bytes.map_err(|err| err.to_string())),
                    last: None,
                    keep: false,
                    quick: false,
                })
                .collect(),
        };
        // A small refresh (edits) parses from the files' last parses and keeps the new ones.
        let keep_parses = jobs.len() <= RECENT_PARSES;
        let mut recent = match state.workspaces.values_mut().find(|w| w.last_used == tick) {
            Some(workspace) => std::mem::take(&mut workspace.recent),
            None => Vec::new(),
        };
        if !keep_parses {
            recent.clear();
        }
        let mut jobs = jobs;
        for job in &mut jobs {
            if let Some(at) = recent
                .iter()
                .position(|(path, lang, _)| *path == job.file.path && *lang == job.file.lang)
            {
                job.last = Some(recent.remove(at).2);
            }
            job.keep = keep_parses;
        }
        let known = Arc::new(std::mem::take(&mut state.tags));
        let threads = self.inner.threads;
        let known_for_workers = known.clone();
        let root_for_workers = host_root.clone();
        let done = blocking(move || {
            let many = jobs.len() >= RELEASE_AFTER_FILES;
            let done = run_jobs(jobs, root_for_workers, &known_for_workers, threads, false);
            if many {
                // The parse trees are gone; what they used is free in the workers' arenas.
                release_free_memory();
            }
            done
        })
        .await?;
        state.tags = Arc::try_unwrap(known).unwrap_or_else(|shared| (*shared).clone());

        let mut new_tags = Vec::new();
        for (file, result) in done {
            let outcome = match result {
                Loaded::Known(hash) => {
                    stats.cached += 1;
                    Outcome::Tags(hash)
                }
                Loaded::Parsed(hash, tags, last) => {
                    if tags.provisional {
                        stats.scanned += 1;
                    } else {
                        stats.parsed += 1;
                    }
                    if let Some(last) = last {
                        recent.insert(0, (file.path.clone(), file.lang, last));
                    }
                    let tags = Arc::new(tags);
                    state.tags.insert(hash, tags.clone());
                    new_tags.push((hash, tags));
                    Outcome::Tags(hash)
                }
                Loaded::Skipped(reason) => Outcome::Skipped(reason),
            };
            let entry = entry(&file, outcome);
            next.insert(file.path, entry);
        }
        self.inner
            .parses
            .fetch_add(stats.parsed as u64, Ordering::Relaxed);

        let workspace = state
            .workspaces
            .values_mut()
            .find(|w| w.last_used == tick)
            .ok_or_else(|| IndexError::Worker("workspace table lost".into()))?;
        // The background parse drops a provisional snapshot, so the next
        // refresh builds one from the exact tags.
        let changed = stats.changed > 0 || stats.removed > 0 || workspace.snapshot.is_none();
        recent.retain(|(path, lang, _)| next.get(path).is_some_and(|e| e.lang == *lang));
        recent.truncate(RECENT_PARSES);
        workspace.recent = recent;
        workspace.files = next;
        if changed {
            let next = Snapshot::build(&workspace.files, &state.tags);
            // After an edit, derive the reference graph from the last one.
            if let Some(last) = &workspace.snapshot
                && let Some(graph) = last.graph.get()
                && let Some(updated) = graph.update(last.files(), next.files())
            {
                let _ = next.graph.set(updated);
            }
            workspace.snapshot = Some(Arc::new(next));
        }
        let snapshot = workspace.snapshot.clone().unwrap_or_default();
        // Parse what was scanned, in the background.
        if snapshot.is_provisional()
            && let Some(root) = &host_root
            && let Ok(guard) = self.inner.upgrade.clone().try_lock_owned()
        {
            let mut scanned: Vec<(Listed, u128)> = workspace
                .files
                .iter()
                .filter_map(|(path, entry)| match entry.outcome {
                    Outcome::Tags(hash) if state.tags.get(&hash).is_some_and(|t| t.provisional) => {
                        Some((
                            Listed {
                                path: path.clone(),
                                lang: entry.lang,
                                size: entry.size,
                                mtime: entry.mtime,
                            },
                            hash,
                        ))
                    }
                    _ => None,
                })
                .collect();
            // The largest first: their parse trees (10-20x the source) then
            // come while few exact tags are held, not on top of them all.
            scanned.sort_unstable_by_key(|(file, _)| std::cmp::Reverse(file.size));
            let inner = Arc::downgrade(&self.inner);
            let (root, threads) = (root.clone(), self.inner.threads);
            // Without a thread the scanned tags stay until a refresh parses them.
            if let Err(err) = std::thread::Builder::new()
                .name("agentkit-code-index-upgrade".into())
                .spawn(move || upgrade::upgrade(inner, guard, root, scanned, threads))
            {
                tracing::warn!(error = %err, "cannot start the background parse; the next refresh parses instead");
            }
        }
        stats.skipped = snapshot.skipped().len();

        if changed {
            // Keep in memory only the tags some workspace still uses.
            let live: HashSet<u128> = state
                .workspaces
                .values()
                .flat_map(|w| w.files.values())
                .filter_map(|e| match e.outcome {
                    Outcome::Tags(hash) => Some(hash),
                    Outcome::Skipped(_) => None,
                })
                .collect();
            state.tags.retain(|hash, _| live.contains(hash));
            // Provisional tags are never stored.
            new_tags.retain(|(_, t)| !t.provisional);
            upgrade::save(
                &mut state.store,
                &state.tags,
                new_tags.iter().map(|(h, t)| (*h, t.as_ref())),
            );
        }
        Ok(Refresh { snapshot, stats })
    }
}

fn entry(file: &Listed, outcome: Outcome) -> Entry {
    Entry {
        lang: file.lang,
        size: file.size,
        mtime: file.mtime,
        outcome,
    }
}

/// Drops the least recently used workspace when a new one would exceed the limit.
fn evict(workspaces: &mut HashMap<String, Workspace>, key: &str) {
    if workspaces.len() >= MAX_WORKSPACES && !workspaces.contains_key(key) {
        let oldest = workspaces
            .iter()
            .min_by_key(|(_, w)| w.last_used)
            .map(|(k, _)| k.clone());
        if let Some(oldest) = oldest {
            workspaces.remove(&oldest);
        }
    }
}

/// Files read in one refresh, or files' tags freed at once, from which the
/// freed memory is given back.
const RELEASE_AFTER_FILES: usize = 256;

/// Gives the heap memory that is free back to the operating system. glibc
/// keeps what a thread frees in that thread's arena: after the workers parsed
/// thousands of files, or an index was dropped, that is tens of MB the
/// process would hold to its end (and the next index would not reuse, its
/// tags being allocated by other threads). This changes no allocator setting.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; it takes
    // no pointer and has no precondition.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether dropping these tags frees many files' worth (no one else holds them).
fn frees_many<'a>(tags: impl Iterator<Item = &'a Arc<FileTags>>) -> bool {
    tags.filter(|t| Arc::strong_count(t) == 1)
        .nth(RELEASE_AFTER_FILES - 1)
        .is_some()
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = std::mem::take(self.state.get_mut());
        let many = frees_many(state.tags.values());
        drop(state);
        if many {
            release_free_memory();
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IndexError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| IndexError::Worker(err.to_string()))
}

#[cfg(test)]
mod tests;
