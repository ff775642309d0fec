//! The host-side clone runs no git hooks, even ones a hostile host
//! configuration (here: `GIT_TEMPLATE_DIR`) would install.
//!
//! One test in its own binary: it sets a variable in this process before any
//! other thread exists, which `std::env::set_var` requires.

mod common;

use std::os::unix::fs::PermissionsExt;

use agentkit_core::sandbox::{SandboxProvider, SandboxSpec};
use agentkit_sandbox::local::LocalProvider;
use common::git;

#[test]
fn clone_runs_no_hooks() {
    let templates = tempfile::tempdir().unwrap();
    let hooks = templates.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let marker = templates.path().join("hook-ran");
    let hook = hooks.join("post-checkout");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch '{}'\n", marker.display())).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    // SAFETY: the only test in this binary; no other thread exists yet.
    unsafe { std::env::set_var("GIT_TEMPLATE_DIR", templates.path()) };

    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "--quiet"]);
    std::fs::write(repo.path().join("a.txt"), "a").unwrap();
    git(repo.path(), &["add", "a.txt"]);
    git(repo.path(), &["commit", "--quiet", "-m", "a"]);

    // Sanity check: a plain clone with these templates does run the hook.
    let probe = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("git")
        .arg("clone")
        .arg("--quiet")
        .arg(repo.path())
        .arg(probe.path().join("clone"))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(marker.exists(), "the probe clone should have run the hook");
    std::fs::remove_file(&marker).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let spec = SandboxSpec::new(repo.path().display().to_string());
        let sandbox = LocalProvider::new().create(&spec).await.unwrap();
        assert!(!marker.exists(), "a hook ran during the sandbox clone");
        sandbox.close().await.unwrap();
    });
}
