//! The handover of commits out of a real sandbox: bundles, limits, and
//! repository configuration that must not execute anything.

use std::collections::BTreeMap;
use std::process::Command;

use agentkit::core::handover::{HandoverError, MAX_CHANGED_FILES, current_base, export_changes};
use agentkit::core::sandbox::{Sandbox, SandboxPolicy};
use agentkit::sandbox::local::LocalSandbox;

mod support;
use support::python::git;

fn repo() -> (tempfile::TempDir, LocalSandbox, String) {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    std::fs::write(dir.path().join("a.txt"), "one\n").unwrap();
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "init"]);
    let base = git(dir.path(), &["rev-parse", "HEAD"]).trim().to_string();
    let sandbox =
        LocalSandbox::attach(dir.path(), SandboxPolicy::default(), BTreeMap::new()).unwrap();
    (dir, sandbox, base)
}

#[tokio::test]
async fn nothing_changed_means_nothing_to_publish() {
    let (_dir, sandbox, base) = repo();
    assert_eq!(
        current_base(&sandbox).await.unwrap(),
        (base.clone(), "main".to_string())
    );
    assert!(
        export_changes(&sandbox, &base, "msg")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn changes_are_committed_verbatim_and_bundled() {
    let (dir, sandbox, base) = repo();
    sandbox.write("a.txt", b"two\n").await.unwrap();
    sandbox.write("new/b.txt", b"b\n").await.unwrap();
    let message = "Fix it\n\nQuotes ' \" and $(touch pwned) `touch pwned2` stay text.";
    let change = export_changes(&sandbox, &base, message)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(change.base_commit, base);
    assert_eq!(
        change.head_commit,
        git(dir.path(), &["rev-parse", "HEAD"]).trim()
    );
    assert!(
        change.diff_stat.contains("a.txt") && change.diff_stat.contains("new/b.txt"),
        "{}",
        change.diff_stat
    );
    assert!(
        change.bundle.starts_with(b"# v2 git bundle")
            || change.bundle.starts_with(b"# v3 git bundle")
    );
    assert_eq!(
        git(dir.path(), &["log", "-1", "--format=%B"]).trim_end(),
        message
    );
    assert_eq!(
        git(dir.path(), &["log", "-1", "--format=%an <%ae>"]).trim(),
        "agentkit <agentkit@localhost>"
    );
    assert!(!dir.path().join("pwned").exists() && !dir.path().join("pwned2").exists());
    // The bundle file itself is not left behind.
    assert!(!dir.path().join(".git/agentkit-handover.bundle").exists());
}

#[tokio::test]
async fn planted_hooks_and_fsmonitor_do_not_run() {
    let (dir, sandbox, base) = repo();
    let canary = dir.path().join("canary");
    let script = format!("#!/bin/sh\ntouch {}\n", canary.display());
    for hook in [
        "pre-commit",
        "commit-msg",
        "post-commit",
        "reference-transaction",
    ] {
        let path = dir.path().join(".git/hooks").join(hook);
        std::fs::write(&path, &script).unwrap();
        Command::new("chmod")
            .arg("755")
            .arg(&path)
            .status()
            .unwrap();
    }
    let monitor = dir.path().join("monitor.sh");
    std::fs::write(&monitor, &script).unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&monitor)
        .status()
        .unwrap();
    git(
        dir.path(),
        &["config", "core.fsmonitor", monitor.to_str().unwrap()],
    );
    // Control: plain git does run the planted fsmonitor.
    git(dir.path(), &["status", "--porcelain"]);
    assert!(
        canary.exists(),
        "the control must show the planted command is live"
    );
    std::fs::remove_file(&canary).unwrap();

    sandbox.write("a.txt", b"changed\n").await.unwrap();
    let change = export_changes(&sandbox, &base, "msg").await.unwrap();
    assert!(change.is_some());
    assert!(
        !canary.exists(),
        "a planted hook or fsmonitor ran during the handover"
    );
}

#[tokio::test]
async fn unignored_build_output_is_refused_and_unstaged() {
    let (dir, sandbox, base) = repo();
    for i in 0..=MAX_CHANGED_FILES {
        // Not a known build-output path, so it is staged (and then refused).
        std::fs::create_dir_all(dir.path().join("out/debug")).unwrap();
        std::fs::write(dir.path().join(format!("out/debug/f{i}.txt")), "x").unwrap();
    }
    let err = export_changes(&sandbox, &base, "msg").await.unwrap_err();
    assert!(matches!(err, HandoverError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("add them to .gitignore"));
    assert_eq!(git(dir.path(), &["rev-parse", "HEAD"]).trim(), base);
    assert_eq!(git(dir.path(), &["diff", "--cached", "--name-only"]), "");
}

#[tokio::test]
async fn new_build_output_binaries_and_oversized_files_stay_out_of_the_commit() {
    let (dir, sandbox, base) = repo();
    sandbox.write("a.txt", b"two\n").await.unwrap();
    sandbox
        .write("pkg/__pycache__/m.cpython-311.pyc", b"\x00pyc")
        .await
        .unwrap();
    sandbox
        .write("node_modules/x/index.js", b"x")
        .await
        .unwrap();
    sandbox
        .write("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00")
        .await
        .unwrap();
    sandbox
        .write("data.csv", "x,y\n".repeat(300_000).as_bytes())
        .await
        .unwrap();
    // Already committed by the agent itself: squashed away.
    sandbox.write("build/out.o", b"obj").await.unwrap();
    git(dir.path(), &["add", "-f", "build/out.o"]);
    git(dir.path(), &["commit", "-q", "-m", "wip"]);
    let change = export_changes(&sandbox, &base, "msg")
        .await
        .unwrap()
        .unwrap();
    let files = git(dir.path(), &["diff", "--name-only", &base, "HEAD"]);
    assert_eq!(files, "a.txt\n");
    assert_eq!(
        git(
            dir.path(),
            &["rev-list", "--count", &format!("{base}..HEAD")]
        )
        .trim(),
        "1"
    );
    let left: Vec<(&str, &str)> = change
        .left_out
        .iter()
        .map(|l| (l.path.as_str(), l.reason.as_str()))
        .collect();
    assert_eq!(
        left,
        vec![
            (
                "build/out.o",
                "generated or build output (matches `**/build/**`)"
            ),
            (
                "data.csv",
                "1200000 bytes, over the 1048576 byte limit for new files"
            ),
            ("logo.png", "a binary file"),
            (
                "node_modules/x/index.js",
                "generated or build output (matches `**/node_modules/**`)"
            ),
            (
                "pkg/__pycache__/m.cpython-311.pyc",
                "generated or build output (matches `**/__pycache__/**`)"
            ),
        ]
    );
    // They stay in the workspace, untracked.
    assert!(dir.path().join("logo.png").exists() && dir.path().join("build/out.o").exists());
}
