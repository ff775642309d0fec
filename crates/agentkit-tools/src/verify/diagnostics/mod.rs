//! Structured diagnostics: failing tests and errors read out of a check's
//! output, so the model reads `file:line`, the test and the message instead
//! of a wall of log.
//!
//! | [`Format`] | what it reads |
//! | --- | --- |
//! | `Cargo` | `cargo … --message-format=json` compiler messages (errors with their primary span) and libtest's text (`---- name stdout ----` blocks, `panicked at file:line:col:`) |
//! | `Pytest` | pytest's summary (`-rA`/`-ra`: `FAILED path::test - message`, `ERROR …`) and the `path:line: Error` location lines of its tracebacks |
//! | `GoTest` | `go test -json` events (`fail` actions and the `file.go:line: message` output of each failing test) |
//! | `Tsc` | `tsc --pretty false` (`file(line,col): error TSnnnn: message`) |
//! | `Eslint` | `eslint -f json` (`[{filePath, messages: [{ruleId, severity, message, line, column}]}]`) |
//!
//! [`Format::Auto`] picks the parser by what the output looks like; output
//! no parser understands returns `None`, and the verifier falls back to
//! [`relevant_output`](super::relevant_output)'s text windows.
//!
//! ```
//! use agentkit_tools::verify::diagnostics::{Format, parse, render};
//!
//! let out = "src/a.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.\n";
//! let found = parse(Format::Auto, out).unwrap();
//! assert_eq!(render(&found, 1000), "1 problem:\n- src/a.ts:3:7: TS2322: Type 'string' is not assignable to type 'number'.\n");
//! ```

mod cargo;
mod gotest;
mod js;
mod pytest;

use serde::{Deserialize, Serialize};

/// Which tool printed the output.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Guess from the output.
    #[default]
    Auto,
    /// cargo build/test/clippy, JSON messages and libtest text.
    Cargo,
    /// pytest.
    Pytest,
    /// `go test -json`.
    GoTest,
    /// The TypeScript compiler.
    Tsc,
    /// ESLint's JSON formatter.
    Eslint,
    /// Never parse: always the text-window fallback.
    Text,
}

/// One problem found in a check's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The failing test, when the problem is a test failure.
    pub test: Option<String>,
    /// The file, relative as the tool printed it.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column.
    pub column: Option<u32>,
    /// What went wrong (first lines of the message), with the tool's code
    /// (`E0308`, `TS2322`, the ESLint rule) in front when there is one.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic with only a message.
    pub fn message(message: impl Into<String>) -> Self {
        Self {
            test: None,
            file: None,
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

/// The problems in `output`, or `None` when `format` (or, for
/// [`Format::Auto`], no parser) understands it or it names no problem.
pub fn parse(format: Format, output: &str) -> Option<Vec<Diagnostic>> {
    let found = match format {
        Format::Auto => {
            return [
                Format::Cargo,
                Format::GoTest,
                Format::Eslint,
                Format::Pytest,
                Format::Tsc,
            ]
            .into_iter()
            .filter(|f| looks_like(*f, output))
            .find_map(|f| parse(f, output));
        }
        Format::Cargo => cargo::parse(output),
        Format::Pytest => pytest::parse(output),
        Format::GoTest => gotest::parse(output),
        Format::Tsc => js::parse_tsc(output),
        Format::Eslint => js::parse_eslint(output),
        Format::Text => Vec::new(),
    };
    (!found.is_empty()).then_some(found)
}

fn looks_like(format: Format, output: &str) -> bool {
    match format {
        Format::Cargo => {
            output.contains("\"reason\":\"compiler-message\"")
                || output.contains("test result: FAILED")
                || output.contains("error[E")
        }
        Format::GoTest => output.contains("\"Action\":"),
        Format::Eslint => output.trim_start().starts_with("[{\"filePath\""),
        Format::Pytest => {
            output.contains("short test summary info")
                || output.contains("= FAILURES =")
                || output.contains("= ERRORS =")
        }
        Format::Tsc => output.contains(": error TS"),
        Format::Auto | Format::Text => false,
    }
}

/// A compact list for the model: `file:line:col: [test] message`, one per
/// problem, within `budget` bytes (the rest counted, not shown).
pub fn render(diagnostics: &[Diagnostic], budget: usize) -> String {
    let count = diagnostics.len();
    let mut out = format!("{count} problem{}:\n", if count == 1 { "" } else { "s" });
    for (i, d) in diagnostics.iter().enumerate() {
        let mut line = String::from("- ");
        if let Some(file) = &d.file {
            line.push_str(file);
            if let Some(l) = d.line {
                line.push_str(&format!(":{l}"));
                if let Some(c) = d.column {
                    line.push_str(&format!(":{c}"));
                }
            }
            line.push_str(": ");
        }
        if let Some(test) = &d.test {
            line.push_str(&format!("test `{test}` failed: "));
        }
        let message = d.message.trim().replace('\n', "\n    ");
        line.push_str(&message);
        line.push('\n');
        if out.len() + line.len() > budget {
            out.push_str(&format!("- … and {} more\n", count - i));
            break;
        }
        out.push_str(&line);
    }
    out
}

/// The first `max` non-empty lines of `text`, trimmed.
fn first_lines(text: &str, max: usize) -> String {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .take(max)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `path:line[:col]` at the start of `text` → (path, line, column).
fn location(text: &str) -> Option<(String, u32, Option<u32>)> {
    let mut parts = text.splitn(4, ':');
    let file = parts.next()?.trim();
    let line = parts.next()?.trim().parse().ok()?;
    let column = parts.next().and_then(|c| c.trim().parse().ok());
    if file.is_empty() || file.contains(' ') {
        return None;
    }
    Some((file.to_string(), line, column))
}

#[cfg(test)]
mod tests;
