//! `edit_file`: exact string replacement, with a diagnosis when it fails.

use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::edit_hint::{no_match_message, range};
use super::text::{clip_line, count, line_of_offset, looks_binary, numbered, with_not_found_hint};

/// Lines of context shown before and after the edited region.
const CONTEXT_LINES: usize = 3;
/// The most lines of the edited region shown back.
const MAX_SHOWN_LINES: usize = 60;

/// Arguments of the `edit_file` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileArgs {
    /// Path of the file to change, relative to the repository root.
    pub path: String,
    /// The exact text to replace, copied from the file including whitespace and
    /// indentation (without read_file's line-number prefixes). It must occur exactly once
    /// unless replace_all is true; include a few surrounding lines to make it unique.
    pub old_string: String,
    /// The text to put in its place (may be empty to delete old_string).
    pub new_string: String,
    /// Replace every occurrence of old_string instead of requiring exactly one.
    #[serde(default)]
    pub replace_all: bool,
}

/// Replaces an exact piece of text in a file.
#[derive(Debug, Clone, Copy, Default)]
pub struct EditFile;

#[async_trait]
impl Tool for EditFile {
    type Args = EditFileArgs;

    fn name(&self) -> &str {
        "edit_file"
    }

    fn description(&self) -> &str {
        "Change part of a file by replacing old_string with new_string. old_string must match \
         the file exactly (whitespace and indentation included) and occur exactly once, unless \
         replace_all is true. Read the file first. On success the changed lines are shown with \
         some context; if old_string is not found, the closest lines are shown instead."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::destructive()
    }

    async fn call(&self, args: EditFileArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path = args.path.as_str();
        if args.old_string.is_empty() {
            return Err(ToolError::failed(
                "old_string is empty; copy the exact text to replace from read_file output. \
                 To create a file or replace all of it, use write_file.",
            ));
        }
        if args.old_string == args.new_string {
            return Err(ToolError::failed(
                "old_string and new_string are identical, so nothing would change; \
                 put the text you want in new_string.",
            ));
        }
        let bytes = cx.sandbox.read(path).await.map_err(|e| {
            with_not_found_hint(
                e,
                "check the path with list_files, or create the file with write_file",
            )
        })?;
        if looks_binary(&bytes) {
            return Err(ToolError::failed(format!(
                "`{path}` is a binary file; edit_file only changes text files"
            )));
        }
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(ToolError::failed(format!(
                "`{path}` is not valid UTF-8; edit_file only changes UTF-8 text. Use the shell \
                 tool (e.g. sed) for this file."
            )));
        };
        let (old, new) = line_endings_like_file(&text, &args.old_string, &args.new_string);
        let offsets: Vec<usize> = text.match_indices(old.as_str()).map(|(i, _)| i).collect();
        match offsets.len() {
            0 => {
                return Err(ToolError::failed(no_match_message(
                    path,
                    &text,
                    &args.old_string,
                )));
            }
            n if n > 1 && !args.replace_all => {
                let at: Vec<String> = offsets
                    .iter()
                    .map(|&o| line_of_offset(&text, o).to_string())
                    .collect();
                return Err(ToolError::failed(format!(
                    "old_string occurs {n} times in `{path}` (starting at lines {}); the file was \
                     not changed. Add surrounding lines to old_string so that it matches exactly \
                     once, or set replace_all to true to replace every occurrence.",
                    at.join(", ")
                )));
            }
            _ => {}
        }
        let updated = text.replace(old.as_str(), &new);
        cx.sandbox.write(path, updated.as_bytes()).await?;
        Ok(ToolOutput::text(report(
            path, &updated, &offsets, &old, &new,
        )))
    }
}

/// `old` and `new` with `\n` turned into `\r\n` when the file uses CRLF line
/// endings and `old` only matches that way.
fn line_endings_like_file(text: &str, old: &str, new: &str) -> (String, String) {
    let crlf = |s: &str| s.replace("\r\n", "\n").replace('\n', "\r\n");
    if !text.contains(old) && !old.contains('\r') && old.contains('\n') && text.contains("\r\n") {
        let converted = crlf(old);
        if text.contains(&converted) {
            return (converted, crlf(new));
        }
    }
    (old.to_string(), new.to_string())
}

/// The success message: what changed where, and the first changed region with context.
fn report(path: &str, updated: &str, offsets: &[usize], old: &str, new: &str) -> String {
    // Offsets of each replacement in the updated text.
    let shift = new.len() as isize - old.len() as isize;
    let regions: Vec<(usize, usize)> = offsets
        .iter()
        .enumerate()
        .map(|(k, &o)| {
            let at = (o as isize + shift * k as isize).max(0) as usize;
            let first = line_of_offset(updated, at);
            let newlines = new.matches('\n').count();
            let trailing = usize::from(new.ends_with('\n') && newlines > 0);
            (first, first + newlines - trailing)
        })
        .collect();
    let lines: Vec<&str> = updated.lines().collect();
    let (first, last) = regions[0];
    let mut out = if new.is_empty() {
        format!(
            "Edited `{path}`: deleted {} at {} {}.",
            count(regions.len(), "occurrence"),
            if regions.len() == 1 { "line" } else { "lines" },
            list(&regions, |(f, _)| f.to_string())
        )
    } else {
        match regions.as_slice() {
            [(f, l)] => format!(
                "Edited `{path}`: replaced 1 occurrence; now at {}.",
                range(*f, *l)
            ),
            _ => format!(
                "Edited `{path}`: replaced {} occurrences, now starting at lines {}.",
                regions.len(),
                list(&regions, |(f, _)| f.to_string())
            ),
        }
    };
    if lines.is_empty() {
        out.push_str(" The file is now empty.\n");
        return out;
    }
    let from = first.saturating_sub(CONTEXT_LINES).max(1);
    let to = (last + CONTEXT_LINES).min(lines.len()).max(from);
    let shown_to = to.min(from + MAX_SHOWN_LINES - 1);
    out.push_str(&format!(
        " {} now read:\n",
        capitalized(&range(from, shown_to))
    ));
    for number in from..=shown_to {
        out.push_str(&numbered(number, &clip_line(lines[number - 1], 500)));
        out.push('\n');
    }
    if shown_to < to {
        out.push_str(&format!("[... {} more]\n", count(to - shown_to, "line")));
    }
    out
}

fn list(regions: &[(usize, usize)], show: impl Fn(&(usize, usize)) -> String) -> String {
    let items: Vec<String> = regions.iter().map(show).collect();
    items.join(", ")
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
