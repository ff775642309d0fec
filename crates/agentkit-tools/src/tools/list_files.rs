//! `list_files`: the files under a directory, gitignore-aware, sorted, capped.

use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::fallback::{below_target, clean_output_path, has_program, run_search, workspace_path};
use super::walk::{HostTarget, PathGlob};

/// Files listed when `max_results` is not given.
pub const DEFAULT_MAX_RESULTS: usize = 500;
/// The largest `max_results` honoured.
pub const MAX_RESULTS_LIMIT: usize = 10_000;

/// Arguments of the `list_files` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFilesArgs {
    /// Directory to list, relative to the repository root. Defaults to `.` (the whole repository).
    pub path: Option<String>,
    /// Only list files matching this glob. Without a `/` it matches file names (`*.rs`);
    /// with one it matches paths relative to the repository root or to `path`
    /// (`src/**/*.rs`). `*` stays within one directory, `**` crosses directories.
    pub pattern: Option<String>,
    /// The most files to list (default 500, at most 10000).
    #[schemars(range(min = 1))]
    pub max_results: Option<usize>,
}

/// Lists files recursively, honouring `.gitignore`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFiles;

#[async_trait]
impl Tool for ListFiles {
    type Args = ListFilesArgs;

    fn name(&self) -> &str {
        "list_files"
    }

    fn description(&self) -> &str {
        "List the files under a directory of the repository, recursively, one path per line \
         (relative to the repository root), sorted. Files ignored by .gitignore and the .git \
         directory are left out; symlinks are listed but not followed. Filter with a glob \
         pattern, e.g. `*.rs` or `src/**/*.ts`."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }

    async fn call(&self, args: ListFilesArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path = args.path.as_deref().unwrap_or(".");
        let max = match args.max_results {
            Some(0) => {
                return Err(ToolError::InvalidArguments {
                    message: "at `max_results`: must be at least 1".into(),
                });
            }
            Some(n) => n.min(MAX_RESULTS_LIMIT),
            None => DEFAULT_MAX_RESULTS,
        };
        let glob = args
            .pattern
            .as_deref()
            .map(|p| PathGlob::new(p, "pattern"))
            .transpose()?;
        let (mut files, note) = match cx.sandbox.host_workspace() {
            Some(root) => {
                let target = HostTarget::resolve(root, path)?;
                let files = tokio::task::spawn_blocking(move || walk_host(&target, glob.as_ref()))
                    .await
                    .map_err(|err| ToolError::Fatal {
                        message: format!("list_files walk panicked: {err}"),
                    })?;
                (files, None)
            }
            None => list_in_sandbox(cx, path, glob.as_ref()).await?,
        };
        files.sort();
        files.dedup();
        Ok(ToolOutput::text(render(
            path,
            args.pattern.as_deref(),
            files,
            max,
            note,
        )))
    }
}

fn walk_host(target: &HostTarget, glob: Option<&PathGlob>) -> Vec<String> {
    let mut files = Vec::new();
    for entry in target.walker().build().flatten() {
        let Some(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            continue;
        }
        let Some((from_root, from_target)) = target.relative(&entry) else {
            continue;
        };
        if glob.is_some_and(|g| !g.matches(&from_root, &from_target)) {
            continue;
        }
        if kind.is_symlink() {
            let to = std::fs::read_link(entry.path())
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "?".into());
            files.push(format!("{from_root} -> {to} (symlink, not followed)"));
        } else {
            files.push(from_root);
        }
    }
    files
}

async fn list_in_sandbox(
    cx: &ToolContext,
    path: &str,
    glob: Option<&PathGlob>,
) -> Result<(Vec<String>, Option<&'static str>), ToolError> {
    let target = workspace_path(path)?;
    let sandbox = cx.sandbox.as_ref();
    let (argv, note) = if has_program(sandbox, "rg").await? {
        let argv = [
            "rg",
            "--files",
            "--hidden",
            "--no-require-git",
            "--no-ignore-global",
            "--glob",
            "!.git",
            "--no-messages",
            "--",
            &target,
        ];
        (argv.map(String::from).to_vec(), None)
    } else {
        let argv = [
            "find", &target, "-name", ".git", "-prune", "-o", "(", "-type", "f", "-o", "-type",
            "l", ")", "-print",
        ];
        (
            argv.map(String::from).to_vec(),
            Some(".gitignore was not applied: ripgrep (rg) is not installed in the sandbox."),
        )
    };
    let out = run_search(sandbox, argv).await?;
    let files = out
        .stdout
        .text
        .lines()
        .map(clean_output_path)
        .filter(|f| !f.is_empty())
        .filter(|f| glob.is_none_or(|g| g.matches(f, below_target(f, &target))))
        .map(String::from)
        .collect();
    Ok((files, note))
}

fn render(
    path: &str,
    pattern: Option<&str>,
    files: Vec<String>,
    max: usize,
    note: Option<&str>,
) -> String {
    let mut out = String::new();
    if files.is_empty() {
        out.push_str(&match pattern {
            Some(p) => format!("No files under `{path}` match `{p}`.\n"),
            None => format!("No files under `{path}`.\n"),
        });
    }
    let total = files.len();
    for file in files.iter().take(max) {
        out.push_str(file);
        out.push('\n');
    }
    if total > max {
        out.push_str(&format!(
            "[{} more files omitted ({max} of {total} shown). Narrow the listing with path or \
             pattern, or raise max_results (at most {MAX_RESULTS_LIMIT}).]\n",
            total - max
        ));
    }
    if let Some(note) = note {
        out.push_str(&format!("[{note}]\n"));
    }
    out
}
