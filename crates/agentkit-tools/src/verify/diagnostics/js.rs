//! TypeScript (`tsc --pretty false`) and ESLint (`-f json`).

use serde::Deserialize;

use super::Diagnostic;

/// `src/a.ts(3,7): error TS2322: message`
pub(super) fn parse_tsc(output: &str) -> Vec<Diagnostic> {
    output
        .lines()
        .filter_map(|line| {
            let (head, rest) = line.split_once("): error ")?;
            let (file, position) = head.rsplit_once('(')?;
            let (l, c) = position.split_once(',')?;
            Some(Diagnostic {
                test: None,
                file: Some(file.trim().to_string()),
                line: l.parse().ok(),
                column: c.parse().ok(),
                message: rest.trim().to_string(),
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EslintFile {
    file_path: String,
    #[serde(default)]
    messages: Vec<EslintMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EslintMessage {
    rule_id: Option<String>,
    severity: u8,
    message: String,
    line: Option<u32>,
    column: Option<u32>,
}

/// Errors (severity 2) from ESLint's JSON report; warnings are left out.
pub(super) fn parse_eslint(output: &str) -> Vec<Diagnostic> {
    let start = output.find("[{").unwrap_or(0);
    let Ok(files) = serde_json::from_str::<Vec<EslintFile>>(output[start..].trim()) else {
        return Vec::new();
    };
    files
        .into_iter()
        .flat_map(|file| {
            let path = file.file_path;
            file.messages
                .into_iter()
                .filter(|m| m.severity >= 2)
                .map(move |m| Diagnostic {
                    test: None,
                    file: Some(path.clone()),
                    line: m.line,
                    column: m.column,
                    message: match m.rule_id {
                        Some(rule) => format!("{rule}: {}", m.message),
                        None => m.message,
                    },
                })
        })
        .collect()
}
