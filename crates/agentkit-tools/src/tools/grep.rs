//! `grep`: regex search over the repository's files, gitignore-aware.
//!
//! With a host workspace the search runs in-process (ripgrep's crates,
//! parallel walk); otherwise `rg` runs inside the sandbox, or `grep -rnE`
//! where ripgrep is missing. Either way the output is `path:line:text`,
//! sorted by path then line, capped.

use agentkit_core::tool::{Tool, ToolAnnotations, ToolContext, ToolError, ToolOutput};
use async_trait::async_trait;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use schemars::JsonSchema;
use serde::Deserialize;

use super::fallback::{has_program, run_search, workspace_path};
use super::grep_hits::{FileHits, parse_command_output, render};
use super::grep_host::HostSearch;
use super::walk::{HostTarget, PathGlob};

/// Matching lines shown when `max_results` is not given.
pub const DEFAULT_MAX_RESULTS: usize = 200;
/// The largest `max_results` honoured.
pub const MAX_RESULTS_LIMIT: usize = 2000;
/// The largest `context_lines` honoured.
pub const MAX_CONTEXT_LINES: usize = 10;

/// Arguments of the `grep` tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrepArgs {
    /// Regular expression to search for (Rust/ripgrep syntax, e.g. `fn\s+parse_\w+`).
    /// Escape regex characters such as `(`, `[`, `{`, `.`, `*` with `\` to match them literally.
    pub pattern: String,
    /// File or directory to search, relative to the repository root. Defaults to `.` (everything).
    pub path: Option<String>,
    /// Only search files matching this glob. Without a `/` it matches file names (`*.rs`);
    /// with one it matches paths relative to the repository root or to `path` (`src/**/*.ts`).
    pub glob: Option<String>,
    /// Match letters regardless of case. Default false.
    #[serde(default)]
    pub case_insensitive: bool,
    /// The most matching lines to show (default 200, at most 2000).
    #[schemars(range(min = 1))]
    pub max_results: Option<usize>,
    /// Lines of context to show before and after each match (default 0, at most 10).
    pub context_lines: Option<usize>,
}

/// Searches file contents with a regular expression.
#[derive(Debug, Clone, Copy, Default)]
pub struct Grep;

#[async_trait]
impl Tool for Grep {
    type Args = GrepArgs;

    fn name(&self) -> &str {
        "grep"
    }

    fn description(&self) -> &str {
        "Search the contents of the repository's files with a regular expression. Prints \
         `path:line:text` for each matching line (context lines as `path-line-text`, groups \
         separated by `--`), sorted by path then line. Files ignored by .gitignore, binary \
         files and .git are skipped; symlinks are not followed. Use it to find definitions, \
         usages and strings before reading files."
    }

    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }

    async fn call(&self, args: GrepArgs, cx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path = args.path.clone().unwrap_or_else(|| ".".into());
        let max = match args.max_results {
            Some(0) => {
                return Err(ToolError::InvalidArguments {
                    message: "at `max_results`: must be at least 1".into(),
                });
            }
            Some(n) => n.min(MAX_RESULTS_LIMIT),
            None => DEFAULT_MAX_RESULTS,
        };
        let context = args.context_lines.unwrap_or(0).min(MAX_CONTEXT_LINES);
        let matcher = compile(&args.pattern, args.case_insensitive)?;
        let glob = args
            .glob
            .as_deref()
            .map(|g| PathGlob::new(g, "glob"))
            .transpose()?;
        let (hits, note) = match cx.sandbox.host_workspace() {
            Some(root) => {
                let search = HostSearch {
                    target: HostTarget::resolve(root, &path)?,
                    matcher,
                    glob,
                    context,
                    keep_per_file: max,
                };
                let cancel = cx.cancel.clone();
                let hits = tokio::task::spawn_blocking(move || search.run(&cancel))
                    .await
                    .map_err(|err| ToolError::Fatal {
                        message: format!("grep search panicked: {err}"),
                    })?;
                (hits, None)
            }
            None => search_in_sandbox(cx, &args, &path, context).await?,
        };
        if cx.cancel.is_cancelled() {
            return Err(ToolError::failed("the search was cancelled"));
        }
        let (mut text, total) = render(hits, max, context > 0);
        if total == 0 {
            text = format!("No matches for `{}` in `{path}`", args.pattern);
            if let Some(glob) = &args.glob {
                text.push_str(&format!(" (files matching `{glob}`)"));
            }
            text.push_str(".\n");
        }
        if let Some(note) = note {
            text.push_str(&format!("[{note}]\n"));
        }
        Ok(ToolOutput::text(text))
    }
}

/// Compiles the pattern the way ripgrep does, or says what is wrong with it.
fn compile(pattern: &str, case_insensitive: bool) -> Result<RegexMatcher, ToolError> {
    RegexMatcherBuilder::new()
        .case_insensitive(case_insensitive)
        .line_terminator(Some(b'\n'))
        .build(pattern)
        .map_err(|err| ToolError::InvalidArguments {
            message: format!(
                "at `pattern`: `{pattern}` is not a valid regular expression: {err}\n\
                 Use Rust regex syntax; escape characters such as `(`, `[`, `{{`, `.` and `*` \
                 with `\\` to match them literally."
            ),
        })
}

async fn search_in_sandbox(
    cx: &ToolContext,
    args: &GrepArgs,
    path: &str,
    context: usize,
) -> Result<(Vec<FileHits>, Option<&'static str>), ToolError> {
    let target = workspace_path(path)?;
    let sandbox = cx.sandbox.as_ref();
    let mut note = None;
    let mut argv: Vec<String> = Vec::new();
    if has_program(sandbox, "rg").await? {
        argv.extend(
            [
                "rg",
                "--line-number",
                "--no-heading",
                "--with-filename",
                "--color=never",
                "--hidden",
                "--no-require-git",
                "--no-ignore-global",
                "--no-messages",
                "--glob=!.git",
            ]
            .map(String::from),
        );
        if let Some(glob) = &args.glob {
            argv.push(format!("--glob={glob}"));
        }
    } else {
        argv.extend(["grep", "-rnHIE", "--exclude-dir=.git"].map(String::from));
        if let Some(glob) = &args.glob {
            let name = glob.rsplit('/').next().unwrap_or(glob);
            argv.push(format!("--include={name}"));
        }
        note = Some(
            "ripgrep (rg) is not installed in the sandbox, so this used `grep -E`: .gitignore \
             was not applied, and its regex dialect lacks Rust regex features such as \\d, \\w \
             and lazy quantifiers.",
        );
    }
    if args.case_insensitive {
        argv.push("-i".into());
    }
    if context > 0 {
        argv.push(format!("--context={context}"));
    }
    argv.extend(["-e".to_string(), args.pattern.clone(), "--".into(), target]);
    let out = run_search(sandbox, argv).await?;
    Ok((parse_command_output(&out.stdout.text), note))
}
