//! Shared by the sandbox benchmarks: a small git repository to clone.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use agentkit_core::sandbox::{ExecOutput, ExecRequest, SandboxProvider, SandboxSpec};

/// Runs host git with a fixed identity and no user or system config.
pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

/// A small repository: 20 files of ~1 KiB in `src/`, two commits.
pub fn small_repo(dir: &Path) {
    git(dir, &["init", "--quiet"]);
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    for i in 0..20 {
        let body = format!("pub fn f{i}() -> u32 {{ {i} }}\n").repeat(40);
        std::fs::write(dir.join(format!("src/f{i}.rs")), body).expect("write");
    }
    git(dir, &["add", "."]);
    git(dir, &["commit", "--quiet", "-m", "first"]);
    std::fs::write(dir.join("README.md"), "bench\n").expect("write");
    git(dir, &["add", "."]);
    git(dir, &["commit", "--quiet", "-m", "second"]);
}

/// Creates a sandbox, runs `argv` in it (it must succeed), closes it.
pub async fn create_run_close(
    provider: &dyn SandboxProvider,
    spec: &SandboxSpec,
    argv: &[&str],
) -> ExecOutput {
    let sandbox = provider.create(spec).await.expect("create");
    let out = sandbox
        .exec(ExecRequest::argv(argv.iter().copied()))
        .await
        .expect("exec");
    assert!(out.success(), "{argv:?}: {out:?}");
    sandbox.close().await.expect("close");
    out
}
