//! pytest: the short test summary and traceback locations.

use std::collections::HashMap;

use super::{Diagnostic, location};

pub(super) fn parse(output: &str) -> Vec<Diagnostic> {
    let locations = failure_locations(output);
    let mut found = Vec::new();
    for line in output.lines() {
        let (kind, rest) = if let Some(rest) = line.strip_prefix("FAILED ") {
            ("", rest)
        } else if let Some(rest) = line.strip_prefix("ERROR ") {
            ("error: ", rest)
        } else {
            continue;
        };
        let (test, message) = rest.split_once(" - ").unwrap_or((rest, ""));
        let test = test.trim();
        let (file, line) = match locations.get(test) {
            Some((file, line)) => (Some(file.clone()), Some(*line)),
            None => (test.split("::").next().map(str::to_string), None),
        };
        found.push(Diagnostic {
            test: test.contains("::").then(|| test.to_string()),
            file,
            line,
            column: None,
            message: format!(
                "{kind}{}",
                if message.is_empty() {
                    "failed"
                } else {
                    message.trim()
                }
            ),
        });
    }
    found
}

/// For each failure section `____ test_name ____` of the long report, the
/// last `path:line: Error` line in it (where the failure was raised in the
/// test file), keyed by `path::test_name`.
fn failure_locations(output: &str) -> HashMap<String, (String, u32)> {
    let mut out = HashMap::new();
    let mut current: Option<String> = None;
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('_') && trimmed.ends_with('_') && trimmed.len() > 4 {
            let name = trimmed.trim_matches('_').trim();
            current = (!name.is_empty()).then(|| name.to_string());
            continue;
        }
        let Some(name) = &current else { continue };
        if trimmed.starts_with('=') {
            current = None;
            continue;
        }
        if let Some((file, line_no, _)) = location(trimmed)
            && file.ends_with(".py")
        {
            // `Class.test` in the heading is `Class::test` in the summary.
            let test = name.replace('.', "::");
            out.insert(format!("{file}::{test}"), (file, line_no));
        }
    }
    out
}
