//! The `bwrap` sandbox's start-up cost: `BwrapProvider::create` (temp dir,
//! host `git clone` of a small local repository, no setup script, default
//! policy: no network, no limits) followed by the first command (`true`,
//! its own bubblewrap sandbox: namespaces, mounts, the init helper), then
//! `close` (deleting the temp dir).
//!
//! The same repository as `sandbox_local`, so the difference between the
//! two is the sandbox. The host probe runs once, outside the measurement.
//! Skips (with a message) where bubblewrap cannot run.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use agentkit_core::sandbox::{ExecRequest, SandboxProvider, SandboxSpec};
use agentkit_sandbox::bwrap::BwrapProvider;
use criterion::{Criterion, criterion_group, criterion_main};

/// Runs host git with a fixed identity and no user or system config.
fn git(dir: &Path, args: &[&str]) {
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
fn small_repo(dir: &Path) {
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

fn create_then_first_command(c: &mut Criterion) {
    let provider = match BwrapProvider::new() {
        Ok(provider) => provider,
        Err(err) => {
            eprintln!("skipping the bwrap benchmark: {err}");
            return;
        }
    };
    let repo = tempfile::tempdir().expect("tempdir");
    small_repo(repo.path());
    let temp_root = tempfile::tempdir().expect("tempdir");
    let provider = provider.with_temp_root(temp_root.path());
    let spec = SandboxSpec::new(repo.path().display().to_string());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    c.bench_function("bwrap: create + first command (`true`) + close", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let sandbox = provider.create(&spec).await.expect("create");
                let out = sandbox
                    .exec(ExecRequest::argv(["true"]))
                    .await
                    .expect("exec");
                assert!(out.success());
                sandbox.close().await.expect("close");
                black_box(out)
            })
        })
    });

    let sandbox = runtime.block_on(provider.create(&spec)).expect("create");
    c.bench_function("bwrap: one more command (`true`) in a ready sandbox", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let out = sandbox
                    .exec(ExecRequest::argv(["true"]))
                    .await
                    .expect("exec");
                assert!(out.success());
                black_box(out)
            })
        })
    });
    runtime.block_on(sandbox.close()).expect("close");
}

criterion_group!(benches, create_then_first_command);
criterion_main!(benches);
