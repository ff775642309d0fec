//! cargo: JSON compiler messages and libtest's text output.

use serde::Deserialize;

use super::{Diagnostic, first_lines, location};

#[derive(Deserialize)]
struct Line {
    reason: String,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    level: String,
    message: String,
    code: Option<Code>,
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
struct Span {
    file_name: String,
    line_start: u32,
    column_start: u32,
    is_primary: bool,
}

pub(super) fn parse(output: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for text in output.lines() {
        let text = text.trim();
        if !text.starts_with('{') {
            continue;
        }
        let Ok(line) = serde_json::from_str::<Line>(text) else {
            continue;
        };
        let Some(message) = line.message.filter(|_| line.reason == "compiler-message") else {
            continue;
        };
        if message.level != "error" {
            continue;
        }
        let span = message.spans.iter().find(|s| s.is_primary);
        let code = message
            .code
            .map(|c| format!("{}: ", c.code))
            .unwrap_or_default();
        let diagnostic = Diagnostic {
            test: None,
            file: span.map(|s| s.file_name.clone()),
            line: span.map(|s| s.line_start),
            column: span.map(|s| s.column_start),
            message: format!("{code}{}", message.message),
        };
        if !found.contains(&diagnostic) {
            found.push(diagnostic);
        }
    }
    found.extend(libtest_failures(output));
    found
}

/// `---- name stdout ----` blocks: the test, where it panicked, and why.
fn libtest_failures(output: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let lines: Vec<&str> = output.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = lines[i]
            .strip_prefix("---- ")
            .and_then(|rest| rest.strip_suffix(" stdout ----"))
        else {
            i += 1;
            continue;
        };
        let end = (i + 1..lines.len())
            .find(|&j| {
                lines[j].starts_with("---- ")
                    || lines[j] == "failures:"
                    || lines[j].starts_with("test result:")
            })
            .unwrap_or(lines.len());
        let block = &lines[i + 1..end];
        let mut diagnostic = Diagnostic::message(String::new());
        diagnostic.test = Some(name.to_string());
        if let Some(pos) = block.iter().position(|l| l.contains("panicked at ")) {
            let at = block[pos].split("panicked at ").nth(1).unwrap_or_default();
            // Since Rust 1.73: `panicked at src/lib.rs:9:5:` then the message on the next lines.
            if let Some((file, line, column)) = location(at.trim_end_matches(':')) {
                diagnostic.file = Some(file.trim_matches('\'').to_string());
                diagnostic.line = Some(line);
                diagnostic.column = column;
            }
            let rest: Vec<&str> = block[pos + 1..]
                .iter()
                .copied()
                // The message ends where the backtrace hint or the backtrace
                // itself (RUST_BACKTRACE=1 in the environment) begins.
                .take_while(|l| {
                    !l.starts_with("note: run with `RUST_BACKTRACE") && *l != "stack backtrace:"
                })
                .collect();
            diagnostic.message = first_lines(&rest.join("\n"), 4);
        } else {
            diagnostic.message = first_lines(&block.join("\n"), 4);
        }
        found.push(diagnostic);
        i = end;
    }
    found
}
