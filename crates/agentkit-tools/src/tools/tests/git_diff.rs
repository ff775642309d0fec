use std::process::Command;
use std::sync::Arc;

use serde_json::json;

use super::dir_sandbox::DirSandbox;
use super::{failure, text};
use crate::tools::GitDiff;

fn git(sandbox: &DirSandbox, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(sandbox.root())
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
}

fn repo() -> DirSandbox {
    let sandbox = DirSandbox::new();
    git(&sandbox, &["init", "-q"]);
    sandbox.put("a.txt", "one\ntwo\n");
    sandbox.put(".gitignore", "*.log\n");
    git(&sandbox, &["add", "."]);
    git(&sandbox, &["commit", "-qm", "init"]);
    sandbox
}

#[tokio::test]
async fn shows_changes_and_untracked_files_without_touching_the_index() {
    let sandbox = repo();
    sandbox.put("a.txt", "one\n2\n");
    sandbox.put("new.txt", "fresh\n");
    sandbox.put("noise.log", "ignored\n");
    let sandbox = Arc::new(sandbox);
    let out = text(&GitDiff, sandbox.clone(), json!({})).await;
    let (head, _) = out.split_once("\ndiff --git a/a.txt").unwrap();
    assert_eq!(
        head,
        " a.txt | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\nUntracked files (1): new.txt\n"
    );
    assert!(out.contains("-two\n+2\n"), "{out}");
    assert!(
        out.contains("diff --git a/new.txt b/new.txt\nnew file mode 100644\n"),
        "{out}"
    );
    assert!(out.ends_with("@@ -0,0 +1 @@\n+fresh\n"), "{out}");
    assert!(!out.contains("noise.log"));
    // The index is untouched: nothing is staged.
    assert_eq!(
        text(&GitDiff, sandbox, json!({"staged": true})).await,
        "No staged changes.\n"
    );
}

#[tokio::test]
async fn staged_and_path_scoped_views() {
    let sandbox = repo();
    sandbox.put("a.txt", "one\n2\n");
    sandbox.put("b.txt", "bee\n");
    git(&sandbox, &["add", "a.txt"]);
    let sandbox = Arc::new(sandbox);
    let staged = text(&GitDiff, sandbox.clone(), json!({"staged": true})).await;
    assert!(staged.starts_with(" a.txt | 2 +-\n"), "{staged}");
    assert!(!staged.contains("b.txt"), "{staged}");
    assert_eq!(
        text(&GitDiff, sandbox, json!({"path": "a.txt"})).await,
        "No unstaged changes in `a.txt`.\n(Pass staged=true to see changes already staged with git add.)\n"
    );
}

#[tokio::test]
async fn outside_a_repository_the_error_says_so() {
    let sandbox = Arc::new(DirSandbox::new());
    assert_eq!(
        failure(&GitDiff, sandbox, json!({})).await,
        "git_diff needs a git repository, and the workspace is not one (fatal: not a git \
         repository (or any of the parent directories): .git). Review your changes with \
         read_file instead."
    );
}
