//! The `docker` sandbox's start-up cost: `DockerProvider::create` (temp dir,
//! host `git clone` of a small local repository, container create + start,
//! no setup script), the first command (`true`, through the exec API and the
//! in-container wrapper), then `close` (container removal, temp dir deleted).
//!
//! Needs a daemon and the image: `eval "$(.ci/docker.sh start)"`. Without
//! them it says so and measures nothing. The repository is the one of
//! `sandbox_local` (20 small files, two commits), so the difference between
//! the two benches is the container's cost.

mod common;

use std::hint::black_box;
use std::time::Duration;

use agentkit_core::sandbox::SandboxSpec;
use agentkit_sandbox::docker::DockerProvider;
use common::{create_run_close, small_repo};
use criterion::{Criterion, criterion_group, criterion_main};

fn create_then_first_command(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let repo = tempfile::tempdir().expect("tempdir");
    small_repo(repo.path());
    let temp_root = tempfile::tempdir().expect("tempdir");
    let provider = match runtime.block_on(
        DockerProvider::builder_from_env()
            .temp_root(temp_root.path())
            .connect(),
    ) {
        Ok(provider) => provider,
        Err(err) => {
            eprintln!("SKIPPED: {err}");
            return;
        }
    };
    let spec = SandboxSpec::new(repo.path().display().to_string());

    let mut group = c.benchmark_group("sandbox");
    // Each iteration starts and removes a container: fewer, longer samples.
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("docker: create + first command (`true`) + close", |b| {
        b.iter(|| black_box(runtime.block_on(create_run_close(&provider, &spec, &["true"]))))
    });
    group.finish();
}

criterion_group!(benches, create_then_first_command);
criterion_main!(benches);
