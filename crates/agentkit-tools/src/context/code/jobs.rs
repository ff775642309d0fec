//! Reading, hashing and parsing the files a refresh needs, on a few threads:
//! each thread takes the next job, reads it (host-side when the sandbox
//! gave no bytes), skips binary files, and parses only content whose hash
//! has no tags yet (incrementally from the file's last tree when there is
//! one).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::files::Listed;
use super::lang::Lang;
use super::tags::{Extractor, FileTags, LastParse};
use super::{RECENT_PARSE_MAX_BYTES, scan, store};

pub(super) struct Job {
    pub(super) file: Listed,
    /// The content read through the sandbox, or `None` to read it from the host.
    pub(super) bytes: Option<Result<Vec<u8>, String>>,
    /// The file's last parse, to parse it incrementally.
    pub(super) last: Option<LastParse>,
    /// Whether to return the new parse.
    pub(super) keep: bool,
    /// Whether the quick scan may tag it (then known provisional tags do too).
    pub(super) quick: bool,
}

pub(super) enum Loaded {
    Known(u128),
    /// Tags parsed, or scanned (then [`FileTags::provisional`]).
    Parsed(u128, FileTags, Option<LastParse>),
    Skipped(String),
}

/// Reads (on the host), hashes and parses the jobs on `threads` threads;
/// `background` ones at the lowest CPU priority.
pub(super) fn run_jobs(
    jobs: Vec<Job>,
    root: Option<PathBuf>,
    known: &HashMap<u128, Arc<FileTags>>,
    threads: usize,
    background: bool,
) -> Vec<(Listed, Loaded)> {
    let threads = threads.clamp(1, jobs.len().div_ceil(4).max(1));
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Job>>> = jobs
        .into_iter()
        .map(|j| std::sync::Mutex::new(Some(j)))
        .collect();
    let work = |extractor: &mut Extractor, out: &mut Vec<(Listed, Loaded)>| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = slots.get(i) else { break };
        let Some(mut job) = slot.lock().ok().and_then(|mut s| s.take()) else {
            continue;
        };
        let bytes = match job.bytes.take() {
            Some(bytes) => bytes,
            None => match &root {
                Some(root) => std::fs::read(root.join(&job.file.path)).map_err(|e| e.to_string()),
                None => Err("no content".into()),
            },
        };
        let loaded = match bytes {
            Ok(bytes) => load(extractor, &mut job, bytes, known),
            Err(err) => Loaded::Skipped(format!("unreadable: {err}")),
        };
        out.push((job.file, loaded));
    };
    if threads == 1 {
        let mut out = Vec::new();
        work(&mut Extractor::new(), &mut out);
        return out;
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    if background {
                        lower_this_thread_priority();
                    }
                    let mut out = Vec::new();
                    work(&mut Extractor::new(), &mut out);
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Gives the calling thread the lowest CPU priority (nice 19; on Linux the
/// nice value is per thread), so background parsing yields to the agent's
/// own work. Best effort: without support it is a no-op.
pub(super) fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority takes no pointer; `who` 0 is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// Bytes a file starts with that are checked for NUL (binary files).
const BINARY_PROBE: usize = 8000;

fn load(
    extractor: &mut Extractor,
    job: &mut Job,
    bytes: Vec<u8>,
    known: &HashMap<u128, Arc<FileTags>>,
) -> Loaded {
    let lang = job.file.lang;
    if bytes[..bytes.len().min(BINARY_PROBE)].contains(&0) {
        return Loaded::Skipped("binary file".into());
    }
    let hash = content_key(lang, &bytes);
    if known
        .get(&hash)
        .is_some_and(|tags| job.quick || !tags.provisional)
    {
        return Loaded::Known(hash);
    }
    if job.quick
        && let Some(tags) = scan::scan(lang, &bytes)
    {
        return Loaded::Parsed(hash, tags, None);
    }
    let keep = job.keep && bytes.len() <= RECENT_PARSE_MAX_BYTES;
    match extractor.extract_after(lang, &bytes, job.last.take(), keep) {
        Ok((tags, tree)) => {
            let last = tree.map(|tree| LastParse {
                source: bytes,
                tree,
            });
            Loaded::Parsed(hash, tags, last)
        }
        Err(reason) => Loaded::Skipped(reason),
    }
}

/// The cache key of a file's content: BLAKE3 of the format, the language and the bytes.
pub(super) fn content_key(lang: Lang, bytes: &[u8]) -> u128 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&store::FORMAT.to_le_bytes());
    hasher.update(lang.name().as_bytes());
    hasher.update(&[0]);
    hasher.update(bytes);
    let digest = hasher.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest.as_bytes()[..16]);
    u128::from_le_bytes(key)
}
