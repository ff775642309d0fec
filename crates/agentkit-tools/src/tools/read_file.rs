//! `read_file`: a text file with line numbers, a range of it, capped.

use agentkit_core::sandbox::FileKind;
use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::text::{clip_line, count, looks_binary, numbered, with_not_found_hint};

/// The most lines one call shows.
pub const MAX_LINES: usize = 2000;
/// The most bytes of file text one call shows.
pub const MAX_BYTES: usize = 256 * 1024;
/// Longer lines are cut to this many characters.
pub const MAX_LINE_CHARS: usize = 2000;

/// Arguments of the `read_file` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileArgs {
    /// Path of the file, relative to the repository root, e.g. `src/main.rs`.
    pub path: String,
    /// First line to show, 1-based. Omit to start at the first line.
    #[schemars(range(min = 1))]
    pub start_line: Option<usize>,
    /// Last line to show, 1-based and inclusive. Omit to read to the end of the file.
    #[schemars(range(min = 1))]
    pub end_line: Option<usize>,
}

/// Reads a text file and shows it with line numbers.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadFile;

#[async_trait]
impl Tool for ReadFile {
    type Args = ReadFileArgs;

    fn name(&self) -> &str {
        "read_file"
    }

    fn description(&self) -> &str {
        "Read a text file from the repository. Each line is shown as its 1-based line number, a \
         tab, then the line's text; the number and tab are not part of the file. At most 2000 \
         lines (256 KiB) are shown per call; use start_line and end_line to read a large file \
         in parts. Binary files are detected and not shown."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }

    async fn call(&self, args: ReadFileArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path = args.path.as_str();
        let hint = "call list_files to find the right path";
        let stat = cx
            .sandbox
            .stat(path)
            .await
            .map_err(|e| with_not_found_hint(e, hint))?;
        if stat.kind == FileKind::Dir {
            return Err(ToolError::failed(format!(
                "`{path}` is a directory; call list_files with this path to see its files"
            )));
        }
        let bytes = cx
            .sandbox
            .read(path)
            .await
            .map_err(|e| with_not_found_hint(e, hint))?;
        if looks_binary(&bytes) {
            return Ok(ToolOutput::text(format!(
                "`{path}` is a binary file ({} bytes); its content is not shown. \
                 Use the shell tool (e.g. `xxd {path} | head`) if you need to inspect it.",
                bytes.len()
            )));
        }
        let text = String::from_utf8_lossy(&bytes);
        render(path, &text, args.start_line, args.end_line).map(ToolOutput::text)
    }
}

/// The numbered view of lines `start..=end` of `text`, or the error for a bad range.
fn render(
    path: &str,
    text: &str,
    start: Option<usize>,
    end: Option<usize>,
) -> Result<String, ToolError> {
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    if total == 0 {
        return Ok(format!("`{path}` is empty (0 lines)."));
    }
    let has = count(total, "line");
    let first = start.unwrap_or(1);
    if first == 0 {
        return Err(ToolError::failed(format!(
            "start_line must be 1 or more (lines are numbered from 1); `{path}` has {has}"
        )));
    }
    if let Some(last) = end
        && last < first
    {
        return Err(ToolError::failed(format!(
            "start_line {first} is after end_line {last}; `{path}` has {has}"
        )));
    }
    if first > total {
        return Err(ToolError::failed(format!(
            "start_line {first} is beyond the end of `{path}`, which has {has}"
        )));
    }
    let last = end.unwrap_or(total).min(total);

    let mut out = String::new();
    let mut shown_to = first - 1;
    for (index, line) in lines[first - 1..last].iter().enumerate() {
        let number = first + index;
        let row = numbered(number, &clip_line(line, MAX_LINE_CHARS));
        if number - first >= MAX_LINES || out.len() + row.len() + 1 > MAX_BYTES {
            break;
        }
        out.push_str(&row);
        out.push('\n');
        shown_to = number;
    }
    if shown_to < last {
        out.push_str(&format!(
            "[Lines {first}-{shown_to} of {total} shown; output is capped at {MAX_LINES} lines \
             or {} KiB per call. Call read_file with start_line={} to read on.]\n",
            MAX_BYTES / 1024,
            shown_to + 1
        ));
    } else if first > 1 || last < total {
        out.push_str(&format!("[Lines {first}-{last} of {total}.]\n"));
    }
    Ok(out)
}
