//! The `local` sandbox's start-up cost: `LocalProvider::create` (temp dir,
//! host `git clone` of a small local repository, no setup script) followed by
//! the first command (`true`), then `close` (deleting the temp dir).
//!
//! The repository has 20 small files in two commits, so the figure is
//! dominated by the fixed costs: spawning git, writing the checkout, spawning
//! the first command.

mod common;

use std::hint::black_box;

use agentkit_core::sandbox::SandboxSpec;
use agentkit_sandbox::local::LocalProvider;
use agentkit_sandbox::snapshot::SnapshotStore;
use common::{create_run_close, small_repo};
use criterion::{Criterion, criterion_group, criterion_main};

fn create_then_first_command(c: &mut Criterion) {
    let repo = tempfile::tempdir().expect("tempdir");
    small_repo(repo.path());
    let temp_root = tempfile::tempdir().expect("tempdir");
    let provider = LocalProvider::new().with_temp_root(temp_root.path());
    let spec = SandboxSpec::new(repo.path().display().to_string());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    c.bench_function("local: create + first command (`true`) + close", |b| {
        b.iter(|| black_box(runtime.block_on(create_run_close(&provider, &spec, &["true"]))))
    });
}

/// A setup script shaped like a dependency install: 2,000 files, 8 MB, in
/// `deps/` (what `npm ci` or `pip install -t` leave behind), after 0.3 s of
/// "resolving".
const SETUP: &str = "sleep 0.3; mkdir -p deps; for d in $(seq 1 40); do mkdir deps/p$d; \
    for f in $(seq 1 50); do head -c 4096 /dev/urandom > deps/p$d/f$f; done; done";

fn cold_and_warm_start_with_a_setup_script(c: &mut Criterion) {
    let repo = tempfile::tempdir().expect("tempdir");
    small_repo(repo.path());
    let temp_root = tempfile::tempdir().expect("tempdir");
    let store_dir = tempfile::tempdir().expect("tempdir");
    let spec = SandboxSpec::new(repo.path().display().to_string()).setup_script(SETUP);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let run = |provider: &LocalProvider| {
        runtime.block_on(create_run_close(
            provider,
            &spec,
            &["test", "-f", "deps/p40/f50"],
        ))
    };
    let mut group = c.benchmark_group("local setup (2,000 files)");
    group.sample_size(10);
    let cold = LocalProvider::new().with_temp_root(temp_root.path());
    group.bench_function("cold: clone + setup script", |b| b.iter(|| run(&cold)));
    let warm = LocalProvider::new()
        .with_temp_root(temp_root.path())
        .with_snapshots(SnapshotStore::new(store_dir.path()));
    run(&warm); // takes the snapshot
    group.bench_function("warm: snapshot restored", |b| b.iter(|| run(&warm)));
    group.finish();
}

criterion_group!(
    benches,
    create_then_first_command,
    cold_and_warm_start_with_a_setup_script
);
criterion_main!(benches);
