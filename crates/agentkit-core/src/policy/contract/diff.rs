//! The handed-over change as the host sees it: which files changed, how, and
//! the lines added and removed ([`ChangeDiff`]).
//!
//! A [`ChangeInspector`](super::ChangeInspector) builds it host-side from the
//! bundle (with git, hooks disabled, argv only) and [`ChangeDiff::from_git`]
//! parses what git printed:
//!
//! - `git diff --raw -z --no-abbrev --no-renames BASE HEAD` — status and paths;
//! - `git diff --numstat -z --no-renames BASE HEAD` — line counts (`-` for binary);
//! - `git diff -U0 --no-color --no-ext-diff --no-textconv --no-renames BASE HEAD`
//!   — the added and removed lines with their line numbers;
//! - `git ls-tree -r -l -z HEAD` — the size of every file in the new tree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The file is new.
    Added,
    /// The file changed.
    Modified,
    /// The file was removed.
    Deleted,
    /// Its type changed (file ↔ symlink).
    TypeChanged,
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    /// The line number: in the new file for added lines, in the old file for
    /// removed ones (1-based).
    pub number: u32,
    /// The text, without the leading `+`/`-` and line end.
    pub text: String,
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Path relative to the repository root.
    pub path: String,
    /// How it changed.
    pub kind: ChangeKind,
    /// Whether git treats it as binary.
    pub binary: bool,
    /// Size in bytes after the change (0 when deleted).
    pub size: u64,
    /// Added lines (empty for binary files).
    pub added: Vec<DiffLine>,
    /// Removed lines (empty for binary files).
    pub removed: Vec<DiffLine>,
}

/// Every file the change touches, in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeDiff {
    /// The changed files.
    pub files: Vec<FileChange>,
}

/// What git printed could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read git's diff output: {0}")]
pub struct DiffParseError(pub String);

impl ChangeDiff {
    /// Lines added plus lines removed over all text files.
    pub fn changed_lines(&self) -> usize {
        self.files
            .iter()
            .map(|f| f.added.len() + f.removed.len())
            .sum()
    }

    /// Parses the outputs of, in this order: `git diff --raw -z --no-abbrev
    /// --no-renames BASE HEAD`, `git diff --numstat -z --no-renames BASE
    /// HEAD`, `git diff -U0 --no-color --no-ext-diff --no-textconv
    /// --no-renames BASE HEAD` and `git ls-tree -r -l -z HEAD`.
    pub fn from_git(
        raw: &str,
        numstat: &str,
        patch: &str,
        tree: &str,
    ) -> Result<Self, DiffParseError> {
        let sizes = parse_tree_sizes(tree);
        let binary = parse_numstat(numstat)?;
        let mut hunks = parse_patch(patch);
        let mut files = Vec::new();
        let mut fields = raw.split('\0');
        while let Some(meta) = fields.next() {
            if meta.is_empty() {
                continue;
            }
            let path = fields
                .next()
                .ok_or_else(|| DiffParseError(format!("raw entry `{meta}` has no path")))?;
            let status = meta
                .rsplit(' ')
                .next()
                .and_then(|s| s.chars().next())
                .ok_or_else(|| DiffParseError(format!("raw entry `{meta}` has no status")))?;
            let kind = match status {
                'A' => ChangeKind::Added,
                'M' => ChangeKind::Modified,
                'D' => ChangeKind::Deleted,
                'T' => ChangeKind::TypeChanged,
                other => {
                    return Err(DiffParseError(format!(
                        "unexpected status `{other}` for `{path}` (renames and copies are off)"
                    )));
                }
            };
            let (added, removed) = hunks.remove(path).unwrap_or_default();
            files.push(FileChange {
                path: path.to_string(),
                kind,
                binary: binary.get(path).copied().unwrap_or(false),
                size: if kind == ChangeKind::Deleted {
                    0
                } else {
                    sizes.get(path).copied().unwrap_or(0)
                },
                added,
                removed,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self { files })
    }
}

/// `path → binary?` from `--numstat -z` (`added\tremoved\tpath\0`).
fn parse_numstat(numstat: &str) -> Result<BTreeMap<String, bool>, DiffParseError> {
    let mut out = BTreeMap::new();
    for entry in numstat.split('\0').filter(|e| !e.is_empty()) {
        let mut parts = entry.trim_start_matches('\n').splitn(3, '\t');
        let (Some(added), Some(_), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(DiffParseError(format!("numstat entry `{entry}`")));
        };
        out.insert(path.to_string(), added == "-");
    }
    Ok(out)
}

/// `path → size` from `ls-tree -r -l -z` (`mode type id size\tpath\0`).
fn parse_tree_sizes(tree: &str) -> BTreeMap<String, u64> {
    tree.split('\0')
        .filter_map(|entry| {
            let (meta, path) = entry.split_once('\t')?;
            let size = meta.split_whitespace().nth(3)?.parse().ok()?;
            Some((path.to_string(), size))
        })
        .collect()
}

type Lines = (Vec<DiffLine>, Vec<DiffLine>);

/// Added and removed lines per path from a `-U0` patch. The path comes from
/// the `+++ b/…` (or `--- a/…` for deletions) header; paths git quotes are
/// unquoted.
fn parse_patch(patch: &str) -> BTreeMap<String, Lines> {
    let mut out: BTreeMap<String, Lines> = BTreeMap::new();
    let mut old_path: Option<String> = None;
    let mut current: Option<String> = None;
    let (mut old_line, mut new_line) = (0u32, 0u32);
    let mut in_hunk = false;
    for line in patch.split('\n') {
        if line.starts_with("diff --git ") {
            current = None;
            old_path = None;
            in_hunk = false;
            continue;
        }
        if !in_hunk {
            if let Some(rest) = line.strip_prefix("--- ") {
                old_path = header_path(rest, "a/");
                continue;
            }
            if let Some(rest) = line.strip_prefix("+++ ") {
                current = header_path(rest, "b/").or_else(|| old_path.clone());
                if let Some(path) = &current {
                    out.entry(path.clone()).or_default();
                }
                continue;
            }
        }
        if let Some(rest) = line.strip_prefix("@@ ") {
            if let Some((old, new)) = hunk_starts(rest) {
                old_line = old;
                new_line = new;
                in_hunk = true;
            }
            continue;
        }
        let Some(path) = current.as_ref().filter(|_| in_hunk) else {
            continue;
        };
        let entry = out.entry(path.clone()).or_default();
        if let Some(text) = line.strip_prefix('+') {
            entry.0.push(DiffLine {
                number: new_line,
                text: text.to_string(),
            });
            new_line += 1;
        } else if let Some(text) = line.strip_prefix('-') {
            entry.1.push(DiffLine {
                number: old_line,
                text: text.to_string(),
            });
            old_line += 1;
        } else if line.starts_with(' ') {
            old_line += 1;
            new_line += 1;
        }
    }
    out
}

/// The path of a `---`/`+++` header, `None` for `/dev/null`.
fn header_path(rest: &str, prefix: &str) -> Option<String> {
    let rest = rest.trim_end_matches('\t');
    if rest == "/dev/null" {
        return None;
    }
    let unquoted = if rest.starts_with('"') {
        unquote(rest)
    } else {
        rest.to_string()
    };
    Some(
        unquoted
            .strip_prefix(prefix)
            .unwrap_or(&unquoted)
            .to_string(),
    )
}

/// Undoes git's C-style quoting of unusual paths (`"a\tb\303\251"`).
fn unquote(quoted: &str) -> String {
    let inner = quoted.trim_matches('"');
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.bytes().peekable();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match chars.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'"') => bytes.push(b'"'),
            Some(b'\\') => bytes.push(b'\\'),
            Some(d @ b'0'..=b'7') => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&n @ b'0'..=b'7') = chars.peek() {
                        value = value * 8 + u32::from(n - b'0');
                        chars.next();
                    }
                }
                bytes.push(value as u8);
            }
            Some(other) => bytes.push(other),
            None => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The old and new start lines of `-a,b +c,d @@`.
fn hunk_starts(rest: &str) -> Option<(u32, u32)> {
    let mut parts = rest.split_whitespace();
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let start = |s: &str| s.split(',').next()?.parse::<u32>().ok();
    Some((start(old)?, start(new)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_outputs_into_files_and_numbered_lines() {
        let raw = ":100644 100644 aaa bbb M\0src/lib.rs\0:000000 100644 000 ccc A\0logo.png\0:100644 000000 ddd 000 D\0old.txt\0";
        let numstat = "1\t1\tsrc/lib.rs\0-\t-\tlogo.png\x000\t1\told.txt\0";
        let patch = "diff --git a/logo.png b/logo.png\nnew file mode 100644\nindex 000..ccc\nBinary files /dev/null and b/logo.png differ\n\
diff --git a/old.txt b/old.txt\ndeleted file mode 100644\n--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n\
diff --git a/src/lib.rs b/src/lib.rs\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -3 +3 @@ fn x()\n-    a - b\n+    a + b\n";
        let tree = "100644 blob ccc     120\tlogo.png\x00100644 blob bbb      40\tsrc/lib.rs\0";
        let diff = ChangeDiff::from_git(raw, numstat, patch, tree).unwrap();
        let line = |number, text: &str| DiffLine {
            number,
            text: text.into(),
        };
        assert_eq!(
            diff,
            ChangeDiff {
                files: vec![
                    FileChange {
                        path: "logo.png".into(),
                        kind: ChangeKind::Added,
                        binary: true,
                        size: 120,
                        added: vec![],
                        removed: vec![],
                    },
                    FileChange {
                        path: "old.txt".into(),
                        kind: ChangeKind::Deleted,
                        binary: false,
                        size: 0,
                        added: vec![],
                        removed: vec![line(1, "bye")],
                    },
                    FileChange {
                        path: "src/lib.rs".into(),
                        kind: ChangeKind::Modified,
                        binary: false,
                        size: 40,
                        added: vec![line(3, "    a + b")],
                        removed: vec![line(3, "    a - b")],
                    },
                ]
            }
        );
        assert_eq!(diff.changed_lines(), 3);
    }

    #[test]
    fn quoted_paths_are_unquoted() {
        assert_eq!(
            header_path("\"b/caf\\303\\251 \\\"x\\\".txt\"", "b/").as_deref(),
            Some("café \"x\".txt")
        );
    }
}
