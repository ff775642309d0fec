//! Why `old_string` did not match: the diagnosis `edit_file` gives the model.
//!
//! In order of usefulness: the text matches once whitespace at the ends of
//! each line is ignored (an indentation mistake); otherwise the lines most
//! like the first line of `old_string` (bigram similarity), with their line
//! numbers; otherwise a note that the file may have changed. Line-number
//! prefixes copied from `read_file` output are called out too.

use super::text::numbered;

/// Candidates below this similarity are not shown.
const MIN_SIMILARITY: f64 = 0.5;
/// How many lines of a candidate region are shown.
const MAX_SHOWN_LINES: usize = 12;

/// The model-facing explanation of why `old` was not found in `text`.
pub(crate) fn no_match_message(path: &str, text: &str, old: &str) -> String {
    let mut out = format!("No match for old_string in `{path}`; the file was not changed.\n");
    let lines: Vec<&str> = text.lines().collect();
    let wanted: Vec<&str> = trimmed_block(old);

    if has_line_number_prefixes(old) {
        out.push_str(
            "old_string seems to start its lines with line numbers and a tab copied from \
             read_file output; those prefixes are not part of the file, so remove them.\n",
        );
    }
    if text.contains("\r\n") && !old.contains('\r') && old.contains('\n') {
        out.push_str("Note: the file uses CRLF (\\r\\n) line endings.\n");
    }

    if let Some(start) = whitespace_insensitive_match(&lines, &wanted) {
        let end = start + wanted.len() - 1;
        out.push_str(&format!(
            "old_string matches {} if whitespace at the start and end of each line is ignored, \
             so the indentation or spacing differs. The file has:\n",
            range(start + 1, end + 1)
        ));
        push_lines(&mut out, &lines, start, wanted.len());
    } else if let Some(first) = wanted.first() {
        let mut scored: Vec<(f64, usize)> = lines
            .iter()
            .enumerate()
            .map(|(i, line)| (similarity(first, line.trim()), i))
            .filter(|(score, _)| *score >= MIN_SIMILARITY)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        match scored.first() {
            Some(&(score, best)) => {
                out.push_str(&format!(
                    "The closest text starts at line {} (its line is {:.0}% similar to the first \
                     line of old_string):\n",
                    best + 1,
                    score * 100.0
                ));
                push_lines(&mut out, &lines, best, wanted.len());
                let others: Vec<String> = scored[1..]
                    .iter()
                    .take(5)
                    .map(|(_, i)| (i + 1).to_string())
                    .collect();
                if !others.is_empty() {
                    out.push_str(&format!("Other similar lines: {}.\n", others.join(", ")));
                }
            }
            None => out.push_str(
                "No line in the file resembles the first line of old_string; the file may have \
                 changed since you read it. Call read_file to see its current content.\n",
            ),
        }
    }
    out.push_str(
        "old_string must match the file exactly, including whitespace, indentation and line \
         breaks: copy it from read_file output, without the line-number prefixes.",
    );
    out
}

/// The lines of `old`, each trimmed, without leading and trailing blank lines.
fn trimmed_block(old: &str) -> Vec<&str> {
    let lines: Vec<&str> = old.lines().map(str::trim).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    lines[start..end].to_vec()
}

/// The 0-based line where `wanted` matches `lines` line by line, ignoring
/// whitespace at the ends of each line.
fn whitespace_insensitive_match(lines: &[&str], wanted: &[&str]) -> Option<usize> {
    if wanted.is_empty() || wanted.len() > lines.len() {
        return None;
    }
    (0..=lines.len() - wanted.len()).find(|&start| {
        wanted
            .iter()
            .zip(&lines[start..])
            .all(|(w, l)| *w == l.trim())
    })
}

/// Whether every non-blank line of `old` starts like a `read_file` row (`   12\t`).
fn has_line_number_prefixes(old: &str) -> bool {
    let mut rows = old.lines().filter(|l| !l.trim().is_empty()).peekable();
    rows.peek().is_some()
        && rows.all(|line| {
            let rest = line.trim_start_matches(' ');
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            digits > 0 && rest[digits..].starts_with('\t')
        })
}

/// Sørensen–Dice similarity of the character bigrams of `a` and `b`, in `0..=1`.
pub(crate) fn similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let bigrams = |s: &str| {
        let chars: Vec<char> = s.chars().collect();
        let mut pairs: Vec<(char, char)> = chars.windows(2).map(|w| (w[0], w[1])).collect();
        pairs.sort_unstable();
        pairs
    };
    let (x, y) = (bigrams(a), bigrams(b));
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * shared as f64 / (x.len() + y.len()) as f64
}

/// `line 3` or `lines 3-5`.
pub(crate) fn range(first: usize, last: usize) -> String {
    if first == last {
        format!("line {first}")
    } else {
        format!("lines {first}-{last}")
    }
}

/// Appends up to `len` (at least 1, at most [`MAX_SHOWN_LINES`]) numbered lines from 0-based `start`.
fn push_lines(out: &mut String, lines: &[&str], start: usize, len: usize) {
    let end = (start + len.clamp(1, MAX_SHOWN_LINES)).min(lines.len());
    for (i, line) in lines[start..end].iter().enumerate() {
        out.push_str(&numbered(start + i + 1, line));
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_one_for_equal_and_zero_for_disjoint() {
        assert_eq!(similarity("abc", "abc"), 1.0);
        assert_eq!(similarity("abc", "xyz"), 0.0);
        assert!(similarity("let x = 1;", "let x = 2;") > 0.7);
    }

    #[test]
    fn line_number_prefixes_are_recognised() {
        assert!(has_line_number_prefixes("     3\tfn main() {\n     4\t}\n"));
        assert!(!has_line_number_prefixes("fn main() {\n}\n"));
        assert!(!has_line_number_prefixes(""));
    }
}
