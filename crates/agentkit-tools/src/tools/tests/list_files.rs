use std::sync::Arc;

use agentkit_core::sandbox::SandboxError;
use agentkit_core::testing::{MemorySandbox, exec_output};
use serde_json::json;

use super::dir_sandbox::DirSandbox;
use super::{failure, text};
use crate::tools::ListFiles;

/// A tree with ignored files, a nested `.gitignore`, `.git`, a hidden file and
/// a symlink to a directory outside the workspace. Returns the sandbox and the
/// outside directory (kept alive).
pub(super) fn tree(sandbox: DirSandbox) -> (Arc<DirSandbox>, tempfile::TempDir) {
    sandbox.put(".gitignore", "target/\n*.log\n");
    sandbox.put("README.md", "needle in the readme\n");
    sandbox.put("src/lib.rs", "pub fn needle() {}\n// NEEDLE upper\n");
    sandbox.put("src/a/b.rs", "fn other() {}\nlet x = needle();\n");
    sandbox.put("src/a/debug.log", "needle in a log\n");
    sandbox.put("src/.gitignore", "generated.rs\n");
    sandbox.put("src/generated.rs", "needle generated\n");
    sandbox.put("target/debug/out.rs", "needle built\n");
    sandbox.put(".hidden/conf", "needle hidden\n");
    sandbox.put(".git/HEAD", "ref: refs/heads/main needle\n");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "needle secret\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), sandbox.root().join("outside")).unwrap();
    (Arc::new(sandbox), outside)
}

#[tokio::test]
async fn lists_files_respecting_gitignore_without_following_symlinks() {
    let (sandbox, outside) = tree(DirSandbox::new());
    assert_eq!(
        text(&ListFiles, sandbox, json!({})).await,
        format!(
            ".gitignore\n.hidden/conf\nREADME.md\noutside -> {} (symlink, not followed)\n\
             src/.gitignore\nsrc/a/b.rs\nsrc/lib.rs\n",
            outside.path().display()
        )
    );
}

#[tokio::test]
async fn subdirectories_still_honour_ancestor_gitignores() {
    let (sandbox, _outside) = tree(DirSandbox::new());
    assert_eq!(
        text(&ListFiles, sandbox, json!({"path": "src/a"})).await,
        "src/a/b.rs\n"
    );
}

#[tokio::test]
async fn patterns_match_names_or_paths() {
    let (sandbox, _outside) = tree(DirSandbox::new());
    assert_eq!(
        text(&ListFiles, sandbox.clone(), json!({"pattern": "*.rs"})).await,
        "src/a/b.rs\nsrc/lib.rs\n"
    );
    assert_eq!(
        text(
            &ListFiles,
            sandbox.clone(),
            json!({"path": "src", "pattern": "a/*.rs"})
        )
        .await,
        "src/a/b.rs\n"
    );
    assert_eq!(
        text(&ListFiles, sandbox, json!({"pattern": "src/*.rs"})).await,
        "src/lib.rs\n"
    );
}

#[tokio::test]
async fn caps_the_listing_and_says_how_many_were_omitted() {
    let (sandbox, _outside) = tree(DirSandbox::new());
    assert_eq!(
        text(&ListFiles, sandbox, json!({"max_results": 2})).await,
        ".gitignore\n.hidden/conf\n[5 more files omitted (2 of 7 shown). Narrow the listing with \
         path or pattern, or raise max_results (at most 10000).]\n"
    );
}

#[tokio::test]
async fn refuses_symlinked_missing_and_outside_paths() {
    let (sandbox, _outside) = tree(DirSandbox::new());
    assert_eq!(
        failure(&ListFiles, sandbox.clone(), json!({"path": "outside"})).await,
        "`outside` goes through the symlink `outside`, which is not followed; give the path of \
         the link's target inside the workspace instead"
    );
    assert_eq!(
        failure(&ListFiles, sandbox.clone(), json!({"path": "nope"})).await,
        "no such file or directory: `nope`; call list_files to see what exists"
    );
    assert_eq!(
        failure(&ListFiles, sandbox, json!({"path": "../"})).await,
        "path `../` is outside the workspace; use a path relative to the repository root"
    );
}

#[tokio::test]
async fn without_a_host_path_ripgrep_runs_in_the_sandbox() {
    let (sandbox, _outside) = tree(DirSandbox::new().without_host_path());
    assert_eq!(
        text(&ListFiles, sandbox.clone(), json!({})).await,
        ".gitignore\n.hidden/conf\nREADME.md\nsrc/.gitignore\nsrc/a/b.rs\nsrc/lib.rs\n"
    );
    assert_eq!(
        text(
            &ListFiles,
            sandbox,
            json!({"path": "src", "pattern": "*.rs"})
        )
        .await,
        "src/a/b.rs\nsrc/lib.rs\n"
    );
}

#[tokio::test]
async fn without_ripgrep_find_runs_and_the_listing_says_so() {
    let sandbox = Arc::new(MemorySandbox::new().with_exec(|req| match &req.command {
        agentkit_core::sandbox::Command::Argv(argv) if argv[0] == "rg" => {
            Err(SandboxError::Spawn {
                reason: "rg: not found".into(),
            })
        }
        _ => Ok(exec_output(0, "./src/b.rs\n./src/a.rs\n./README.md\n")),
    }));
    assert_eq!(
        text(&ListFiles, sandbox.clone(), json!({"pattern": "*.rs"})).await,
        "src/a.rs\nsrc/b.rs\n[.gitignore was not applied: ripgrep (rg) is not installed in the \
         sandbox.]\n"
    );
    let find = sandbox.executed().pop().unwrap();
    assert_eq!(
        find.command,
        agentkit_core::sandbox::Command::Argv(
            [
                "find", ".", "-name", ".git", "-prune", "-o", "(", "-type", "f", "-o", "-type",
                "l", ")", "-print"
            ]
            .map(String::from)
            .to_vec()
        )
    );
}
