//! The `bwrap` sandbox's start-up cost: `BwrapProvider::create` (temp dir,
//! host `git clone` of a small local repository, no setup script, default
//! policy: no network, no limits) followed by the first command (`true`,
//! its own bubblewrap sandbox: namespaces, mounts, the init helper), then
//! `close` (deleting the temp dir).
//!
//! The same repository as `sandbox_local`, so the difference between the
//! two is the sandbox. The host probe runs once, outside the measurement.
//! Skips (with a message) where bubblewrap cannot run.

mod common;

use std::hint::black_box;

use agentkit_core::sandbox::{ExecRequest, SandboxProvider, SandboxSpec};
use agentkit_sandbox::bwrap::BwrapProvider;
use common::{create_run_close, small_repo};
use criterion::{Criterion, criterion_group, criterion_main};

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
        b.iter(|| black_box(runtime.block_on(create_run_close(&provider, &spec, &["true"]))))
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
