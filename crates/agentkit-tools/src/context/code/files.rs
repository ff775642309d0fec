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

use std::path::Path;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

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

/// Source files under a host directory.
pub(crate) fn list_host(root: &Path) -> Vec<Listed> {
    let target = HostTarget {
        root: root.to_path_buf(),
        rel: Default::default(),
    };
    let found = Mutex::new(Vec::new());
    target.walker().build_parallel().run(|| {
        let found = &found;
        let target = &target;
        Box::new(move |entry| {
            let Ok(entry) = entry else {
                return WalkState::Continue;
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
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
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as u64);
            if let Ok(mut found) = found.lock() {
                found.push(Listed {
                    path,
                    lang,
                    size: meta.len(),
                    mtime,
                });
            }
            WalkState::Continue
        })
    });
    let mut found = found.into_inner().unwrap_or_default();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
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

/// `1700000000.123456789` (seconds with a fraction) as nanoseconds.
fn parse_mtime(text: &str) -> u64 {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: u64 = secs.parse().unwrap_or(0);
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
    }
}
