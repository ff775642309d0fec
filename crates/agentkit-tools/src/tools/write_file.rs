//! `write_file`: creates or replaces a whole file.

use agentkit_core::sandbox::{FileKind, SandboxError};
use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::text::count;

/// Arguments of the `write_file` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFileArgs {
    /// Path of the file, relative to the repository root, e.g. `src/new_module.rs`.
    /// Missing parent directories are created.
    pub path: String,
    /// The complete new content of the file. It replaces everything the file held.
    pub content: String,
}

/// Writes a whole file, creating it (and its parents) or replacing it.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteFile;

#[async_trait]
impl Tool for WriteFile {
    type Args = WriteFileArgs;

    fn name(&self) -> &str {
        "write_file"
    }

    fn description(&self) -> &str {
        "Create a file, or replace the entire content of an existing one, with `content`. \
         Missing parent directories are created. To change part of an existing file, prefer \
         edit_file, which cannot lose the parts you did not mean to touch."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations {
            idempotent: true,
            ..ToolAnnotations::destructive()
        }
    }

    async fn call(&self, args: WriteFileArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path = args.path.as_str();
        let previous = match cx.sandbox.stat(path).await {
            Ok(stat) if stat.kind == FileKind::Dir => {
                return Err(ToolError::failed(format!(
                    "`{path}` is a directory; give the path of a file inside it"
                )));
            }
            Ok(stat) => Some(stat.size),
            Err(SandboxError::NotFound { .. }) => None,
            Err(err) => return Err(err.into()),
        };
        cx.sandbox.write(path, args.content.as_bytes()).await?;
        let bytes = count(args.content.len(), "byte");
        let lines = count(args.content.lines().count(), "line");
        let message = match previous {
            None => format!("Created `{path}` ({bytes}, {lines})."),
            Some(old) => format!(
                "Overwrote `{path}` ({bytes}, {lines}; it held {} before).",
                count(old as usize, "byte")
            ),
        };
        Ok(ToolOutput::text(message))
    }
}
