//! The background parse after a quick refresh, and storing tags on disk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::files::Listed;
use super::jobs::{self, Job, Loaded, run_jobs};
use super::store::DiskStore;
use super::tags::FileTags;
use super::{Inner, release_free_memory};

/// Files the background parse takes between checks that the index is still wanted.
const UPGRADE_BATCH: usize = 512;

/// Stores `new` tags in the disk cache, if there is one.
pub(super) fn save<'a>(
    store: &mut Option<DiskStore>,
    tags: &'a HashMap<u128, Arc<FileTags>>,
    new: impl ExactSizeIterator<Item = (u128, &'a FileTags)>,
) {
    if let Some(store) = store.as_mut() {
        let live = tags.values().filter(|t| !t.provisional).count();
        store.save(
            new,
            tags.iter()
                .filter(|(_, t)| !t.provisional)
                .map(|(h, t)| (*h, t.as_ref())),
            live,
        );
    }
}

/// The background parse after a quick refresh: drops the provisional tags
/// of the `scanned` files of the workspace at `root` (they have served their
/// map; holding them beside the exact ones would double the memory), then
/// parses the files with tree-sitter, a batch at a time while the index is
/// still wanted, and stores their exact tags (of the same content: a file
/// changed since has none, and the next refresh reads it again). Holding
/// `_guard` makes refreshes wait.
pub(super) fn upgrade(
    inner: std::sync::Weak<Inner>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
    root: PathBuf,
    scanned: Vec<(Listed, u128)>,
    threads: usize,
) {
    jobs::lower_this_thread_priority();
    {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let mut guard = inner.state.blocking_lock();
        let state = &mut *guard;
        for (_, hash) in &scanned {
            if state.tags.get(hash).is_some_and(|t| t.provisional) {
                state.tags.remove(hash);
            }
        }
        for workspace in state.workspaces.values_mut() {
            if workspace
                .snapshot
                .as_ref()
                .is_some_and(|s| s.is_provisional())
            {
                workspace.snapshot = None;
            }
        }
    }
    release_free_memory();
    let none = HashMap::new();
    for batch in scanned.chunks(UPGRADE_BATCH) {
        let jobs = batch
            .iter()
            .map(|(file, _)| Job {
                file: file.clone(),
                bytes: None,
                last: None,
                keep: false,
                quick: false,
            })
            .collect();
        let want: HashMap<&str, u128> = batch.iter().map(|(f, h)| (f.path.as_str(), *h)).collect();
        let mut exact = Vec::with_capacity(batch.len());
        for (file, loaded) in run_jobs(jobs, Some(root.clone()), &none, threads, true) {
            if let Loaded::Parsed(hash, tags, _) = loaded
                && want.get(file.path.as_str()) == Some(&hash)
            {
                exact.push((hash, Arc::new(tags)));
            }
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let mut guard = inner.state.blocking_lock();
        let state = &mut *guard;
        // In place of nothing or of provisional tags (a refresh that began
        // before this parse may have scanned the files again).
        exact.retain(|(hash, _)| state.tags.get(hash).is_none_or(|t| t.provisional));
        inner
            .parses
            .fetch_add(exact.len() as u64, Ordering::Relaxed);
        state.tags.extend(exact.iter().cloned());
        save(
            &mut state.store,
            &state.tags,
            exact.iter().map(|(h, t)| (*h, t.as_ref())),
        );
        drop(guard);
        // What the batch's parse trees used is free in the workers' arenas.
        release_free_memory();
    }
}
