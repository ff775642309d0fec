//! `go test -json`: test events.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Diagnostic, location};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Event {
    action: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    test: Option<String>,
    #[serde(default)]
    output: Option<String>,
}

pub(super) fn parse(output: &str) -> Vec<Diagnostic> {
    let mut outputs: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut build_failed = Vec::new();
    for line in output.lines() {
        let Ok(event) = serde_json::from_str::<Event>(line.trim()) else {
            // Build errors are printed as text before the events: `./calc.go:4:9: undefined: x`.
            let trimmed = line.trim().trim_start_matches("./");
            if let Some((file, line_no, column)) =
                location(trimmed).filter(|(f, ..)| f.ends_with(".go"))
            {
                let message = trimmed
                    .splitn(4, ':')
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                build_failed.push(Diagnostic {
                    test: None,
                    file: Some(file),
                    line: Some(line_no),
                    column,
                    message,
                });
            }
            continue;
        };
        let Some(test) = event.test else { continue };
        let key = (event.package.clone(), test);
        match event.action.as_str() {
            "output" => outputs
                .entry(key)
                .or_default()
                .push(event.output.unwrap_or_default()),
            "fail" => failed.push(key),
            _ => {}
        }
    }
    let mut found = build_failed;
    for key in failed {
        let lines = outputs.remove(&key).unwrap_or_default();
        let mut diagnostic = Diagnostic::message("failed");
        diagnostic.test = Some(key.1.clone());
        // `    calc_test.go:8: Add(2, 3) = -1, want 5`
        let mut messages = Vec::new();
        for text in &lines {
            let trimmed = text.trim();
            if trimmed.starts_with("=== ") || trimmed.starts_with("--- ") || trimmed.is_empty() {
                continue;
            }
            if let Some((file, line_no, _)) = location(trimmed).filter(|(f, ..)| f.ends_with(".go"))
            {
                if diagnostic.file.is_none() {
                    diagnostic.file = Some(file);
                    diagnostic.line = Some(line_no);
                }
                messages.push(
                    trimmed
                        .splitn(3, ':')
                        .nth(2)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                );
            } else if messages.len() < 4 {
                messages.push(trimmed.to_string());
            }
        }
        if !messages.is_empty() {
            diagnostic.message = messages.into_iter().take(4).collect::<Vec<_>>().join("\n");
        }
        // A parent test fails when a subtest does; keep only the leaves with output.
        if diagnostic.file.is_some()
            || !found.iter().any(|d: &Diagnostic| {
                d.test
                    .as_deref()
                    .is_some_and(|t| t.starts_with(&format!("{}/", key.1)))
            })
        {
            found.push(diagnostic);
        }
    }
    found
}
