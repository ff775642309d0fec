//! Picking the part of a check's output the model needs: see [`relevant_output`].

use std::collections::HashSet;

/// Lines kept before a marker line.
const BEFORE: usize = 3;
/// Lines kept after a marker line.
const AFTER: usize = 10;
/// Room kept for the header and gap notes.
const NOTES_RESERVE: usize = 160;

/// Whether `line` signals a failure.
fn is_marker(line: &str) -> bool {
    if line.starts_with("E   ") {
        return true;
    }
    let lower = line.to_ascii_lowercase();
    ["error", "failed", "panicked", "assert", "traceback"]
        .iter()
        .any(|m| lower.contains(m))
}

/// The most relevant part of a check's output, within `budget` bytes.
///
/// Test and build output is long and mostly noise; the model needs the
/// failures. When `text` does not fit, this keeps:
///
/// 1. the **tail** (up to a quarter of the budget): summaries and the last
///    error usually sit at the end;
/// 2. **windows around failure markers** — lines containing `error`, `failed`,
///    `panicked`, `assert`, `traceback` (any case) or starting with `E   `
///    (pytest) — from a few lines before to several after, first occurrences
///    first (the first error is usually the cause). A marker line repeated
///    word for word opens no second window.
///
/// Overlapping windows are merged, gaps are marked with
/// `[… N lines omitted …]`, over-long lines are clipped, and a first line says
/// how much was left out. Text that fits the budget is returned whole (minus
/// trailing whitespace).
///
/// ```
/// let log = format!("{}error: boom\n{}", "noise\n".repeat(1000), "done\n");
/// let out = agentkit_tools::verify::relevant_output(&log, 512);
/// assert!(out.len() <= 512);
/// assert!(out.contains("error: boom") && out.ends_with("done"));
/// ```
pub fn relevant_output(text: &str, budget: usize) -> String {
    let text = text.trim_end();
    if text.len() <= budget {
        return text.to_string();
    }
    let max_line = (budget / 8).max(80);
    let lines: Vec<String> = text.lines().map(|l| clip_line(l, max_line)).collect();
    let cost = |i: usize| lines[i].len() + 1;
    let mut keep = vec![false; lines.len()];
    let mut spent = 0usize;
    let usable = budget.saturating_sub(NOTES_RESERVE);

    // 1. The tail.
    let mut tail_start = lines.len();
    while tail_start > 0 && spent + cost(tail_start - 1) <= usable / 4 {
        tail_start -= 1;
        spent += cost(tail_start);
        keep[tail_start] = true;
    }
    if tail_start == lines.len() && !lines.is_empty() && cost(lines.len() - 1) <= usable {
        // Even one line of tail is over the quarter: keep the last line anyway.
        tail_start -= 1;
        spent += cost(tail_start);
        keep[tail_start] = true;
    }

    // 2. Windows around markers, in order of appearance.
    let mut seen = HashSet::new();
    for marker in (0..tail_start).filter(|&i| is_marker(&lines[i])) {
        if !seen.insert(lines[marker].trim()) {
            continue;
        }
        let start = marker.saturating_sub(BEFORE);
        let end = (marker + AFTER).min(tail_start.saturating_sub(1));
        // Shrink the window until it fits; at least the marker line itself.
        let mut window_end = end;
        loop {
            let extra: usize = (start..=window_end).filter(|&i| !keep[i]).map(cost).sum();
            if spent + extra <= usable {
                for flag in &mut keep[start..=window_end] {
                    *flag = true;
                }
                spent += extra;
                break;
            }
            if window_end <= marker {
                break;
            }
            window_end = marker.max(window_end.saturating_sub(4));
        }
        if spent + 40 > usable {
            break;
        }
    }

    render(&lines, &keep, text.len(), budget)
}

/// Joins the kept lines, marking gaps, behind a header saying what was left out.
fn render(lines: &[String], keep: &[bool], total_bytes: usize, budget: usize) -> String {
    let mut body = String::new();
    let mut gap = 0usize;
    let mut shown = 0usize;
    for (line, &kept) in lines.iter().zip(keep) {
        if !kept {
            gap += 1;
            continue;
        }
        if gap > 0 {
            body.push_str(&format!("[… {gap} lines omitted …]\n"));
            gap = 0;
        }
        body.push_str(line);
        body.push('\n');
        shown += 1;
    }
    if gap > 0 {
        body.push_str(&format!("[… {gap} lines omitted …]\n"));
    }
    let omitted_lines = lines.len() - shown;
    let header = format!(
        "[output truncated: {total_bytes} bytes in {} lines; {omitted_lines} lines omitted, \
         keeping lines around errors and the end]\n",
        lines.len()
    );
    let mut out = header;
    out.push_str(body.trim_end());
    clip_bytes(out, budget)
}

/// Shortens one line to at most about `max` bytes, noting how much was cut.
fn clip_line(line: &str, max: usize) -> String {
    if line.len() <= max {
        return line.to_string();
    }
    let cut = floor_char_boundary(line, max.saturating_sub(24));
    format!("{}… [{} more bytes]", &line[..cut], line.len() - cut)
}

/// Hard cap: cuts `text` to `budget` bytes at a character boundary.
fn clip_bytes(mut text: String, budget: usize) -> String {
    if text.len() > budget {
        let cut = floor_char_boundary(&text, budget);
        text.truncate(cut);
    }
    text
}

/// The largest character boundary at or below `index`.
pub(crate) fn floor_char_boundary(text: &str, index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    (0..=index)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// The last lines of `text`, at most `budget` bytes, whole lines where possible.
pub(crate) fn tail(text: &str, budget: usize) -> String {
    let text = text.trim_end();
    if text.len() <= budget {
        return text.to_string();
    }
    let start = text.len() - budget;
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    let rest = &text[start..];
    match rest.find('\n') {
        Some(newline) if newline + 1 < rest.len() => rest[newline + 1..].to_string(),
        _ => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        assert_eq!(relevant_output("a\nb\n\n", 100), "a\nb");
    }

    #[test]
    fn keeps_errors_and_the_tail_of_long_output() {
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!("   Compiling crate-{i} v1.0.0\n"));
        }
        text.push_str("error[E0308]: mismatched types\n --> src/lib.rs:3:5\n");
        for i in 0..500 {
            text.push_str(&format!("noise line {i}\n"));
        }
        text.push_str("error: could not compile `app` (lib) due to 1 previous error\n");
        let out = relevant_output(&text, 2048);
        assert!(out.len() <= 2048, "{} bytes", out.len());
        assert!(out.starts_with("[output truncated: "), "{out}");
        assert!(out.contains("error[E0308]: mismatched types\n --> src/lib.rs:3:5"));
        assert!(
            out.contains("   Compiling crate-499 v1.0.0"),
            "context before"
        );
        assert!(out.contains("lines omitted …]"));
        assert!(out.ends_with("error: could not compile `app` (lib) due to 1 previous error"));
        assert!(!out.contains("Compiling crate-3 "), "{out}");
    }

    #[test]
    fn repeated_marker_lines_open_one_window() {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!("filler {i}\nerror: the same thing\n"));
        }
        let out = relevant_output(&text, 1500);
        // The first marker's window (lines 0..=11) and the tail; the repeats
        // in between open no windows of their own.
        assert!(
            out.contains("filler 0\nerror: the same thing\nfiller 1\n"),
            "{out}"
        );
        assert!(out.contains("filler 5\n"), "{out}");
        assert!(!out.contains("\nfiller 6\n"), "{out}");
        assert_eq!(out.matches("lines omitted …]").count(), 1, "{out}");
        assert!(out.ends_with("filler 199\nerror: the same thing"), "{out}");
    }

    #[test]
    fn pytest_and_python_markers_are_found() {
        let mut text = String::from("Traceback (most recent call last):\n  File \"x.py\"\n");
        text.push_str(&"x\n".repeat(2000));
        text.push_str("E   AssertionError: 1 != 2\n");
        text.push_str(&"y\n".repeat(2000));
        let out = relevant_output(&text, 1024);
        assert!(out.contains("Traceback (most recent call last):"), "{out}");
        assert!(out.contains("E   AssertionError: 1 != 2"), "{out}");
        assert!(out.len() <= 1024);
    }

    #[test]
    fn long_lines_are_clipped_and_multibyte_text_is_cut_safely() {
        let line = "é".repeat(5000);
        let out = relevant_output(&format!("{line}\nerror: {line}\n{line}"), 1000);
        assert!(out.len() <= 1000, "{}", out.len());
        assert!(out.contains("more bytes]"), "{out}");
    }

    #[test]
    fn tail_keeps_whole_last_lines() {
        assert_eq!(tail("one\ntwo\nthree\n", 9), "three");
        assert_eq!(tail("short", 100), "short");
    }
}
