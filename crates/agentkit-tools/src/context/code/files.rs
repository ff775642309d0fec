//! Finding and reading the source files of a workspace.
//!
//! With a host workspace ([`Sandbox::host_workspace`]) the walk runs
//! in-process, in parallel, gitignore-aware and never following symlinks or
//! leaving the root (the same walk as `grep` and `list_files`); sizes and
//! modification times come from the host. Other backends are asked to run
//! GNU `find` once (sizes and modification times in one command); where that
//! fails the tree is listed through [`Sandbox::list`] without modification
//! times, so every file is read and hashed on each refresh (parsing still
//! happens only for new content). Without a host walk `.gitignore` is not
//! applied; [`PRUNED_DIRS`] are skipped instead.
//!
//! A host walk also keeps [`TreeStamps`]: while no directory of the tree and
//! no ignore file changed, the next refresh only stats the source files it
//! knows instead of walking again.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentkit_core::sandbox::{ExecRequest, FileKind, Sandbox, SandboxError};
use ignore::WalkState;

use super::lang::Lang;
use crate::tools::walk::HostTarget;

/// Directories skipped when the sandbox is walked without `.gitignore`.
pub const PRUNED_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
];

/// A source file found by a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    /// Workspace-relative, `/`-separated.
    pub path: String,
    pub lang: Lang,
    pub size: u64,
    /// Nanoseconds since the epoch; 0 when unknown (then the file is always read).
    pub mtime: u64,
}

/// A directory whose modification time is this close to the walk (or after
/// it) may still change within the same timestamp tick, so its stamp is not
/// trusted.
const RACY: Duration = Duration::from_secs(2);

/// `(modification time in nanoseconds, size)` of a path; `None` when absent.
/// A directory's size is left at 0: some file systems change it with every
/// entry and others never, so its modification time is what counts.
type Stamp = Option<(u64, u64)>;

/// What a host walk depends on besides the files themselves: the stamp of
/// every directory it entered and of the ignore files that may sit in them.
///
/// Creating, deleting or renaming an entry changes its directory's
/// modification time, and the walk's ignore rules live in those ignore files,
/// so while every stamp is unchanged the walk would find the same files, and
/// a refresh only has to stat the source files it already knows (the idea of
/// git's untracked cache). Directories changed within [`RACY`] of the walk
/// are not trusted, and no stamps are kept then.
#[derive(Debug, Default)]
pub(crate) struct TreeStamps {
    /// `(path, is a directory, stamp)`.
    stamps: Vec<(PathBuf, bool, Stamp)>,
}

/// The fewest `stat` calls worth a thread of their own.
const MIN_STATS: usize = 2048;

/// Ignore files the host walk reads in each directory (see [`HostTarget::walker`]).
const IGNORE_FILES: [&str; 2] = [".gitignore", ".ignore"];

fn stamp(path: &Path, dir: bool) -> Stamp {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((mtime_nanos(&meta), if dir { 0 } else { meta.len() }))
}

/// The modification time in nanoseconds; 0 only when unknown. A file dated
/// at the epoch itself (sdists and other reproducible archives are) is 1 ns
/// later, so it is not read again on every refresh.
fn mtime_nanos(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| (d.as_nanos() as u64).max(1))
}

impl TreeStamps {
    /// The stamps of `dirs` and of their ignore files, or `None` when one of
    /// the directories changed too recently to be trusted.
    fn take(root: &Path, mut dirs: Vec<PathBuf>, walk_started: SystemTime) -> Option<Self> {
        let trusted_before = walk_started
            .checked_sub(RACY)?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos() as u64;
        dirs.push(root.to_path_buf());
        dirs.sort();
        dirs.dedup();
        let mut stamps = Vec::with_capacity(dirs.len() + 1);
        for dir in dirs {
            let own = stamp(&dir, true);
            if own.is_none_or(|(mtime, _)| mtime >= trusted_before) {
                return None;
            }
            // An ignore file created or deleted changes its directory's time;
            // one edited in place changes only its own.
            for name in IGNORE_FILES {
                let file = dir.join(name);
                if let Some(found) = stamp(&file, false) {
                    stamps.push((file, false, Some(found)));
                }
            }
            stamps.push((dir, true, own));
        }
        let exclude = root.join(".git/info/exclude");
        stamps.push((exclude.clone(), false, stamp(&exclude, false)));
        Some(Self { stamps })
    }

    /// Whether every directory and ignore file is as it was (statted on `threads` threads).
    fn unchanged(&self, threads: usize) -> bool {
        in_parallel(&self.stamps, threads, MIN_STATS, |part| {
            part.iter()
                .all(|(path, dir, old)| stamp(path, *dir) == *old)
        })
        .into_iter()
        .all(|same| same)
    }
}

/// `work` on up to `threads` consecutive parts of `items` at once, each of at
/// least `min_part` items (below some size, starting a thread costs more than
/// it saves: a busy machine may take milliseconds to schedule it); the
/// results in order.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    min_part: usize,
    work: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let size = items.len().div_ceil(threads.max(1)).max(min_part).max(1);
    if items.len() <= size {
        return vec![work(items)];
    }
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = items
            .chunks(size)
            .map(|part| scope.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The source files under a host directory when its stamps are unchanged:
/// `known` (path and language, as the last walk found them) with fresh sizes
/// and modification times. `None` when anything changed: walk again.
pub(crate) fn restat_host(
    root: &Path,
    stamps: &TreeStamps,
    known: Vec<(String, Lang)>,
    threads: usize,
) -> Option<Vec<Listed>> {
    if !stamps.unchanged(threads) {
        return None;
    }
    let parts = in_parallel(&known, threads, MIN_STATS, |part| {
        part.iter()
            .map(|(path, lang)| {
                let meta = std::fs::symlink_metadata(root.join(path)).ok()?;
                meta.is_file().then(|| Listed {
                    path: path.clone(),
                    lang: *lang,
                    size: meta.len(),
                    mtime: mtime_nanos(&meta),
                })
            })
            .collect::<Option<Vec<_>>>()
    });
    let mut found = Vec::with_capacity(known.len());
    for part in parts {
        found.extend(part?);
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Some(found)
}

/// Source files under a host directory, and the stamps that tell next time
/// whether the walk would find the same ones.
pub(crate) fn list_host(root: &Path) -> (Vec<Listed>, Option<TreeStamps>) {
    let walk_started = SystemTime::now();
    let target = HostTarget {
        root: root.to_path_buf(),
        rel: Default::default(),
    };
    let found = Mutex::new(Vec::new());
    let dirs = Mutex::new(Vec::new());
    target.walker().build_parallel().run(|| {
        let found = &found;
        let dirs = &dirs;
        let target = &target;
        Box::new(move |entry| {
            let Ok(entry) = entry else {
                return WalkState::Continue;
            };
            let Some(file_type) = entry.file_type() else {
                return WalkState::Continue;
            };
            if file_type.is_dir() {
                if let Ok(mut dirs) = dirs.lock() {
                    dirs.push(entry.path().to_path_buf());
                }
                return WalkState::Continue;
            }
            // The extension first: most files of a tree are not source files.
            if !file_type.is_file() || entry.file_name().to_str().and_then(Lang::of_path).is_none()
            {
                return WalkState::Continue;
            }
            let Some((path, _)) = target.relative(&entry) else {
                return WalkState::Continue;
            };
            let Some(lang) = Lang::of_path(&path) else {
                return WalkState::Continue;
            };
            let Ok(meta) = entry.metadata() else {
                return WalkState::Continue;
            };
            if let Ok(mut found) = found.lock() {
                found.push(Listed {
                    path,
                    lang,
                    size: meta.len(),
                    mtime: mtime_nanos(&meta),
                });
            }
            WalkState::Continue
        })
    });
    let mut found = found.into_inner().unwrap_or_default();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    let stamps = TreeStamps::take(root, dirs.into_inner().unwrap_or_default(), walk_started);
    (found, stamps)
}

/// Source files in a sandbox without a host workspace.
pub(crate) async fn list_sandbox(sandbox: &dyn Sandbox) -> Result<Vec<Listed>, SandboxError> {
    // `-name .` matches only the starting point: its marker record tells a
    // real `find` from an exec that printed nothing.
    let mut argv: Vec<String> = [".", "(", "-name", ".", "-printf", ".\\0", ")", "-o", "("]
        .map(String::from)
        .to_vec();
    for (i, dir) in PRUNED_DIRS.iter().enumerate() {
        if i > 0 {
            argv.push("-o".into());
        }
        argv.extend(["-name".to_string(), (*dir).to_string()]);
    }
    argv.extend([")", "-prune", "-o", "-type", "f", "-printf", "%s %T@ %P\\0"].map(String::from));
    argv.insert(0, "find".into());
    let found = match sandbox
        .exec(ExecRequest::argv(argv).output_limit(64 * 1024 * 1024))
        .await
    {
        Ok(out) if out.success() && !out.stdout.truncated => {
            out.stdout.text.strip_prefix(".\0").map(parse_find)
        }
        Ok(out) => {
            tracing::debug!(status = %out.status_line(), "find failed in the sandbox; listing through the file API");
            None
        }
        Err(err @ SandboxError::Gone { .. }) => return Err(err),
        Err(err) => {
            tracing::debug!(error = %err, "find did not run in the sandbox; listing through the file API");
            None
        }
    };
    let mut found = match found {
        Some(found) => found,
        None => list_through_api(sandbox).await?,
    };
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Parses `size mtime path\0` records of `find -printf`.
fn parse_find(text: &str) -> Vec<Listed> {
    text.split('\0')
        .filter_map(|record| {
            let mut fields = record.splitn(3, ' ');
            let size = fields.next()?.parse().ok()?;
            let mtime = parse_mtime(fields.next()?);
            let path = fields.next()?.to_string();
            let lang = Lang::of_path(&path)?;
            Some(Listed {
                path,
                lang,
                size,
                mtime,
            })
        })
        .collect()
}

/// `1700000000.123456789` (seconds with a fraction) as nanoseconds; 0 when
/// unreadable, 1 for the epoch itself (see [`mtime_nanos`]).
fn parse_mtime(text: &str) -> u64 {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let Ok(secs) = secs.parse::<u64>() else {
        return 0;
    };
    let mut frac = frac
        .chars()
        .filter(char::is_ascii_digit)
        .take(9)
        .collect::<String>();
    while frac.len() < 9 {
        frac.push('0');
    }
    secs.saturating_mul(1_000_000_000)
        .saturating_add(frac.parse().unwrap_or(0))
        .max(1)
}

async fn list_through_api(sandbox: &dyn Sandbox) -> Result<Vec<Listed>, SandboxError> {
    let mut found = Vec::new();
    let mut dirs = vec![".".to_string()];
    while let Some(dir) = dirs.pop() {
        let entries = match sandbox.list(&dir).await {
            Ok(entries) => entries,
            Err(err) if err.is_infrastructure() => return Err(err),
            Err(err) => {
                tracing::debug!(dir = %dir, error = %err, "directory not listed");
                continue;
            }
        };
        for entry in entries {
            let path = entry.path.trim_start_matches("./").to_string();
            let name = path.rsplit('/').next().unwrap_or(&path);
            match entry.kind {
                FileKind::Dir if !PRUNED_DIRS.contains(&name) => dirs.push(path),
                FileKind::File => {
                    if let Some(lang) = Lang::of_path(&path) {
                        found.push(Listed {
                            path,
                            lang,
                            size: entry.size,
                            mtime: 0,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_output_is_parsed() {
        let text = "12 1700000000.5 src/a.rs\x007 1.0 README.md\x003 1700000001.000000001 b c.py\0";
        let found = parse_find(text);
        assert_eq!(
            found,
            vec![
                Listed {
                    path: "src/a.rs".into(),
                    lang: Lang::Rust,
                    size: 12,
                    mtime: 1_700_000_000_500_000_000
                },
                Listed {
                    path: "b c.py".into(),
                    lang: Lang::Python,
                    size: 3,
                    mtime: 1_700_000_001_000_000_001
                },
            ]
        );
        assert_eq!(
            (parse_mtime("0"), parse_mtime("0.0000000"), parse_mtime("?")),
            (1, 1, 0)
        );
    }

    /// Files dated at the epoch (as in rich's sdist) have a known time, so an
    /// unchanged one is not read again.
    #[test]
    fn a_file_dated_at_the_epoch_has_a_known_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.py");
        std::fs::write(&path, "x = 1\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(UNIX_EPOCH)
            .unwrap();
        let (listed, _) = list_host(dir.path());
        assert_eq!(
            listed,
            vec![Listed {
                path: "old.py".into(),
                lang: Lang::Python,
                size: 6,
                mtime: 1
            }]
        );
    }
}
