//! Search results shared by `grep`'s in-process search and its sandbox
//! fallback: rows per file, and the capped, sorted rendering the model reads.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use super::fallback::clean_output_path;
use super::text::clip_line;

/// Matched and context lines are cut to this many characters.
pub(crate) const MAX_LINE_CHARS: usize = 500;

/// One output row of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Row {
    /// A matching line: number and text.
    Match(u64, String),
    /// A context line: number and text.
    Context(u64, String),
    /// A gap between non-adjacent groups of lines.
    Break,
}

/// The rows found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileHits {
    /// Path relative to the workspace root, `/`-separated.
    pub path: String,
    /// Rows in line order (possibly only the first ones, see `matches`).
    pub rows: Vec<Row>,
    /// How many lines matched in all, stored or not.
    pub matches: usize,
}

/// A line's text as shown: without its line terminator, cut when very long.
pub(crate) fn shown_text(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    clip_line(text.trim_end_matches(['\n', '\r']), MAX_LINE_CHARS)
}

/// Renders hits sorted by path then line, at most `max` matching lines.
pub(crate) fn render(
    mut files: Vec<FileHits>,
    max: usize,
    separate_files: bool,
) -> (String, usize) {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let total: usize = files.iter().map(|f| f.matches).sum();
    let mut out = String::new();
    let mut shown = 0usize;
    let mut shown_files = 0usize;
    for file in &files {
        if shown >= max {
            break;
        }
        if separate_files && shown_files > 0 {
            out.push_str("--\n");
        }
        shown_files += 1;
        let rows = trim_breaks(&file.rows);
        for row in rows {
            match row {
                Row::Match(n, text) => {
                    if shown >= max {
                        break;
                    }
                    shown += 1;
                    out.push_str(&format!("{}:{n}:{text}\n", file.path));
                }
                Row::Context(n, text) => out.push_str(&format!("{}-{n}-{text}\n", file.path)),
                Row::Break if shown >= max => break,
                Row::Break => out.push_str("--\n"),
            }
        }
    }
    if total > shown {
        out.push_str(&format!(
            "[{shown} of {total} matching lines shown (from {shown_files} of {} files); {} \
             omitted. Narrow the pattern, path or glob, or raise max_results.]\n",
            files.len(),
            total - shown
        ));
    }
    (out, total)
}

fn trim_breaks(rows: &[Row]) -> &[Row] {
    let start = rows
        .iter()
        .position(|r| *r != Row::Break)
        .unwrap_or(rows.len());
    let end = rows
        .iter()
        .rposition(|r| *r != Row::Break)
        .map_or(start, |e| e + 1);
    &rows[start..end]
}

/// Parses `rg`/`grep -n` output (`path:n:text`, context `path-n-text`, `--`).
pub(crate) fn parse_command_output(text: &str) -> Vec<FileHits> {
    static MATCH: OnceLock<Option<Regex>> = OnceLock::new();
    static CONTEXT: OnceLock<Option<Regex>> = OnceLock::new();
    let matched = MATCH.get_or_init(|| Regex::new(r"^(.*?):(\d+):(.*)$").ok());
    let context = CONTEXT.get_or_init(|| Regex::new(r"^(.*?)-(\d+)-(.*)$").ok());
    let mut files: BTreeMap<String, FileHits> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line == "--" {
            if let Some(file) = last.as_ref().and_then(|p| files.get_mut(p)) {
                file.rows.push(Row::Break);
            }
            continue;
        }
        let (caps, is_match) = match matched.as_ref().and_then(|r| r.captures(line)) {
            Some(c) => (c, true),
            None => match context.as_ref().and_then(|r| r.captures(line)) {
                Some(c) => (c, false),
                None => continue,
            },
        };
        let path = clean_output_path(&caps[1]).to_string();
        let number: u64 = caps[2].parse().unwrap_or(0);
        let text = clip_line(&caps[3], MAX_LINE_CHARS);
        let file = files.entry(path.clone()).or_insert_with(|| FileHits {
            path: path.clone(),
            rows: Vec::new(),
            matches: 0,
        });
        if is_match {
            file.matches += 1;
            file.rows.push(Row::Match(number, text));
        } else {
            file.rows.push(Row::Context(number, text));
        }
        last = Some(path);
    }
    for file in files.values_mut() {
        let mut keyed: Vec<Row> = std::mem::take(&mut file.rows);
        if !keyed
            .iter()
            .any(|r| matches!(r, Row::Break | Row::Context(..)))
        {
            keyed.sort_by_key(|r| match r {
                Row::Match(n, _) | Row::Context(n, _) => *n,
                Row::Break => 0,
            });
        }
        file.rows = keyed;
    }
    files.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_output_is_grouped_by_file_and_sorted() {
        let files = parse_command_output("./b.rs:3:x\na.rs:9:late\na.rs:2:early\n");
        assert_eq!(
            files,
            vec![
                FileHits {
                    path: "a.rs".into(),
                    rows: vec![Row::Match(2, "early".into()), Row::Match(9, "late".into())],
                    matches: 2,
                },
                FileHits {
                    path: "b.rs".into(),
                    rows: vec![Row::Match(3, "x".into())],
                    matches: 1,
                },
            ]
        );
    }

    #[test]
    fn render_caps_and_says_how_many_were_omitted() {
        let files = parse_command_output("a:1:x\na:2:x\nb:1:x\n");
        let (text, total) = render(files, 2, false);
        assert_eq!(total, 3);
        assert_eq!(
            text,
            "a:1:x\na:2:x\n[2 of 3 matching lines shown (from 1 of 2 files); 1 omitted. Narrow \
             the pattern, path or glob, or raise max_results.]\n"
        );
    }

    #[test]
    fn context_rows_render_like_ripgrep() {
        let files = parse_command_output("a-1-before\na:2:hit\na-3-after\n--\na:9:hit\n");
        let (text, _) = render(files, 10, true);
        assert_eq!(text, "a-1-before\na:2:hit\na-3-after\n--\na:9:hit\n");
    }
}
