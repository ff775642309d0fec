//! Create → first command latency of every sandbox backend built in, cold
//! and warm, as median and 99th percentile.
//!
//! - **cold**: clone the repository, run the setup script, run `true`;
//! - **warm**: the setup's snapshot is restored instead (see
//!   `agentkit_sandbox::snapshot`), then `true` runs.
//!
//! The setup script writes 500 files (2 MB) into `deps/` after 0.2 s, the
//! shape of a small dependency install. `close` is not timed.
//!
//! ```text
//! cargo bench --bench sandbox_startup --all-features
//! AGENTKIT_BENCH_SAMPLES=50 cargo bench --bench sandbox_startup --all-features
//! ```
//!
//! Backends that cannot run on the host (no bubblewrap, no Docker daemon)
//! are listed as skipped with the reason.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit::core::sandbox::{ExecRequest, SandboxProvider, SandboxSpec};
use agentkit::sandbox::local::LocalProvider;
use agentkit::sandbox::snapshot::SnapshotStore;
use common::small_repo;

const SETUP: &str = "sleep 0.2; mkdir -p deps; for d in $(seq 1 10); do mkdir deps/p$d; \
    for f in $(seq 1 50); do head -c 4096 /dev/urandom > deps/p$d/f$f; done; done";

/// One backend: a provider without snapshots (cold) and one with (warm).
struct Backend {
    name: &'static str,
    cold: Arc<dyn SandboxProvider>,
    warm: Arc<dyn SandboxProvider>,
}

type Built = Result<Backend, String>;

fn backends(snapshots: &Path) -> Vec<(&'static str, Built)> {
    let store = || SnapshotStore::new(snapshots.join("local"));
    #[allow(unused_mut)]
    let mut all: Vec<(&'static str, Built)> = vec![(
        "local",
        Ok(Backend {
            name: "local",
            cold: Arc::new(LocalProvider::new()),
            warm: Arc::new(LocalProvider::new().with_snapshots(store())),
        }),
    )];
    #[cfg(all(feature = "sandbox-bwrap", target_os = "linux"))]
    all.push((
        "bwrap",
        agentkit::sandbox::bwrap::BwrapProvider::new()
            .map(|provider| Backend {
                name: "bwrap",
                cold: Arc::new(provider.clone()),
                warm: Arc::new(
                    provider.with_snapshots(SnapshotStore::new(snapshots.join("bwrap"))),
                ),
            })
            .map_err(|e| e.to_string()),
    ));
    #[cfg(all(feature = "sandbox-docker", target_os = "linux"))]
    all.push((
        "docker",
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(agentkit::sandbox::docker::DockerProvider::from_env())
            .and_then(|provider| {
                let warm = tokio::runtime::Runtime::new().expect("runtime").block_on(
                    agentkit::sandbox::docker::DockerProvider::builder(provider.image())
                        .snapshots(SnapshotStore::new(snapshots.join("docker")))
                        .connect(),
                )?;
                Ok(Backend {
                    name: "docker",
                    cold: Arc::new(provider),
                    warm: Arc::new(warm),
                })
            })
            .map_err(|e| e.to_string()),
    ));
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn sample(provider: &dyn SandboxProvider, spec: &SandboxSpec) -> Duration {
    let started = Instant::now();
    let sandbox = provider.create(spec).await.expect("create");
    let out = sandbox
        .exec(ExecRequest::argv(["true"]))
        .await
        .expect("exec");
    let took = started.elapsed();
    assert!(out.success());
    sandbox.close().await.expect("close");
    took
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let samples: usize = std::env::var("AGENTKIT_BENCH_SAMPLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let repo = tempfile::tempdir().expect("tempdir");
    small_repo(repo.path());
    let snapshots = tempfile::tempdir().expect("tempdir");
    let spec = SandboxSpec::new(repo.path().display().to_string()).setup_script(SETUP);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!("create → first command, {samples} samples each (setup: 500 files after 0.2 s)\n");
    println!(
        "{:<8} {:<5} {:>10} {:>10} {:>10} {:>10}",
        "backend", "mode", "median", "p99", "min", "max"
    );
    for (name, backend) in backends(snapshots.path()) {
        let backend = match backend {
            Ok(backend) => backend,
            Err(why) => {
                println!("{name:<8} skipped: {why}");
                continue;
            }
        };
        // One warm-up run fills the snapshot store.
        runtime.block_on(sample(backend.warm.as_ref(), &spec));
        for (mode, provider) in [("cold", &backend.cold), ("warm", &backend.warm)] {
            let mut times: Vec<Duration> = (0..samples)
                .map(|_| runtime.block_on(sample(provider.as_ref(), &spec)))
                .collect();
            times.sort();
            let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
            println!(
                "{:<8} {:<5} {:>10} {:>10} {:>10} {:>10}",
                backend.name,
                mode,
                ms(percentile(&times, 50.0)),
                ms(percentile(&times, 99.0)),
                ms(times[0]),
                ms(times[times.len() - 1])
            );
        }
    }
}
