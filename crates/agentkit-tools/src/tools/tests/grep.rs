use std::sync::Arc;

use agentkit_core::sandbox::{Command, SandboxError};
use agentkit_core::testing::{MemorySandbox, exec_output};
use serde_json::json;

use super::dir_sandbox::DirSandbox;
use super::list_files::tree;
use super::{invalid, text};
use crate::tools::Grep;

const EXPECTED: &str = ".hidden/conf:1:needle hidden\nREADME.md:1:needle in the readme\n\
                        src/a/b.rs:2:let x = needle();\nsrc/lib.rs:1:pub fn needle() {}\n";

#[tokio::test]
async fn finds_matches_sorted_skipping_ignored_files_git_and_symlinks() {
    let (sandbox, _outside) = tree(DirSandbox::new());
    assert_eq!(
        text(&Grep, sandbox, json!({"pattern": "needle"})).await,
        EXPECTED
    );
}

#[tokio::test]
async fn the_sandbox_fallback_gives_the_same_answer() {
    let (sandbox, _outside) = tree(DirSandbox::new().without_host_path());
    assert_eq!(
        text(&Grep, sandbox, json!({"pattern": "needle"})).await,
        EXPECTED
    );
}

#[tokio::test]
async fn case_path_and_glob_narrow_the_search() {
    let (sandbox, _outside) = tree(DirSandbox::new());
    assert_eq!(
        text(
            &Grep,
            sandbox.clone(),
            json!({"pattern": "NEEDLE", "path": "src", "case_insensitive": true})
        )
        .await,
        "src/a/b.rs:2:let x = needle();\nsrc/lib.rs:1:pub fn needle() {}\nsrc/lib.rs:2:// NEEDLE upper\n"
    );
    assert_eq!(
        text(
            &Grep,
            sandbox.clone(),
            json!({"pattern": "needle", "glob": "src/a/*.rs"})
        )
        .await,
        "src/a/b.rs:2:let x = needle();\n"
    );
    assert_eq!(
        text(
            &Grep,
            sandbox.clone(),
            json!({"pattern": "needle", "path": "src/lib.rs"})
        )
        .await,
        "src/lib.rs:1:pub fn needle() {}\n"
    );
    assert_eq!(
        text(&Grep, sandbox, json!({"pattern": "needle", "glob": "*.py"})).await,
        "No matches for `needle` in `.` (files matching `*.py`).\n"
    );
}

#[tokio::test]
async fn context_lines_are_shown_like_ripgrep() {
    let sandbox = DirSandbox::new();
    sandbox.put("a.txt", "1\n2\nhit\n4\n5\n6\n7\nhit\n9\n");
    sandbox.put("b.txt", "hit\n");
    let out = text(
        &Grep,
        Arc::new(sandbox),
        json!({"pattern": "hit", "context_lines": 1}),
    )
    .await;
    assert_eq!(
        out,
        "a.txt-2-2\na.txt:3:hit\na.txt-4-4\n--\na.txt-7-7\na.txt:8:hit\na.txt-9-9\n--\nb.txt:1:hit\n"
    );
}

#[tokio::test]
async fn output_is_capped_with_a_note() {
    let sandbox = DirSandbox::new();
    sandbox.put("many.txt", &"match\n".repeat(300));
    sandbox.put("z.txt", "match\n");
    let sandbox = Arc::new(sandbox);
    let out = text(&Grep, sandbox.clone(), json!({"pattern": "match"})).await;
    assert_eq!(out.lines().count(), 201);
    assert!(out.starts_with("many.txt:1:match\n"));
    assert!(out.ends_with(
        "many.txt:200:match\n[200 of 301 matching lines shown (from 1 of 2 files); 101 omitted. \
         Narrow the pattern, path or glob, or raise max_results.]\n"
    ));
    let out = text(
        &Grep,
        sandbox,
        json!({"pattern": "match", "max_results": 3}),
    )
    .await;
    assert!(
        out.starts_with("many.txt:1:match\nmany.txt:2:match\nmany.txt:3:match\n[3 of 301"),
        "{out}"
    );
}

#[tokio::test]
async fn an_invalid_regex_is_an_argument_error_with_the_reason() {
    let (sandbox, _outside) = tree(DirSandbox::new());
    let message = invalid(&Grep, sandbox, json!({"pattern": "fn foo("})).await;
    assert!(
        message.starts_with("at `pattern`: `fn foo(` is not a valid regular expression: "),
        "{message}"
    );
    assert!(message.contains("unclosed group"), "{message}");
    assert!(
        message.ends_with("with `\\` to match them literally."),
        "{message}"
    );
}

#[tokio::test]
async fn symlinked_search_paths_are_refused() {
    let (sandbox, _outside) = tree(DirSandbox::new());
    let out = super::failure(
        &Grep,
        sandbox,
        json!({"pattern": "needle", "path": "outside/"}),
    )
    .await;
    assert!(
        out.starts_with("`outside/` goes through the symlink `outside`"),
        "{out}"
    );
}

#[tokio::test]
async fn without_ripgrep_grep_runs_in_the_sandbox() {
    let sandbox = Arc::new(MemorySandbox::new().with_exec(|req| match &req.command {
        Command::Argv(argv) if argv[0] == "rg" => Err(SandboxError::Spawn {
            reason: "rg: not found".into(),
        }),
        _ => Ok(exec_output(
            0,
            "./src/b.rs:7:hit\n./src/a.rs:12:hit\n./src/a.rs:3:hit: two\n",
        )),
    }));
    assert_eq!(
        text(
            &Grep,
            sandbox.clone(),
            json!({"pattern": "hit", "path": "src", "glob": "*.rs"})
        )
        .await,
        "src/a.rs:3:hit: two\nsrc/a.rs:12:hit\nsrc/b.rs:7:hit\n[ripgrep (rg) is not installed in \
         the sandbox, so this used `grep -E`: .gitignore was not applied, and its regex dialect \
         lacks Rust regex features such as \\d, \\w and lazy quantifiers.]\n"
    );
    assert_eq!(
        sandbox.executed().pop().unwrap().command,
        Command::Argv(
            [
                "grep",
                "-rnHIE",
                "--exclude-dir=.git",
                "--include=*.rs",
                "-e",
                "hit",
                "--",
                "src"
            ]
            .map(String::from)
            .to_vec()
        )
    );
}
