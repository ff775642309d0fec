//! Repository setups, cold and warm: create → first command for a Rust
//! and a Python fixture with real dependencies, declared the way a team
//! declares them (`.agentkit/setup.sh`, `[setup]` in `.agentkit/policy.toml`)
//! and decided by `agentkit_sandbox::setup::plan`.
//!
//! - **Rust**: `itoa`, `ryu`, `memchr` from a `cargo vendor` directory (the
//!   fixture's `.cargo/config.toml` makes it the crates.io source); the
//!   setup is `cargo build --locked --offline` (dependencies compiled).
//! - **Python**: `six` and `iniconfig` wheels; the setup makes a venv and
//!   `pip install`s them with `PIP_NO_INDEX`/`PIP_FIND_LINKS`, variables
//!   the `[setup]` table asks for and the operator provides.
//!
//! **cold**: an empty snapshot store (clone, setup, toolchain probe, `true`);
//! **warm**: the store holds the setup's snapshot, keyed by the lockfiles
//! (the warm runs start from a *later commit* with the same lockfiles).
//!
//! ```text
//! eval "$(.ci/setup-fixtures.sh)"
//! cargo bench --bench repo_setup
//! AGENTKIT_BENCH_SAMPLES=10 cargo bench --bench repo_setup --features sandbox-bwrap
//! ```

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit::core::policy::file::{Policy, PolicyLayer, REPO_POLICY_PATH};
use agentkit::core::sandbox::{ExecRequest, SandboxProvider, SandboxSpec};
use agentkit::sandbox::local::LocalProvider;
use agentkit::sandbox::setup::{SetupOptions, plan};
use agentkit::sandbox::snapshot::SnapshotStore;
use common::git;

const RUST_SETUP: &str = "set -e\ncargo build --locked --offline --quiet\n";
const PYTHON_SETUP: &str = "set -e\npython3 -m venv .venv\n\
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt\n";

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn commit(root: &Path, message: &str) {
    git(root, &["add", "-A"]);
    git(root, &["commit", "--quiet", "-m", message]);
}

fn rust_repo(root: &Path, vendor: &Path) {
    git(root, &["init", "--quiet"]);
    write(
        root,
        "Cargo.toml",
        "[package]\nname = \"setup-fixture-deps\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nitoa = \"=1.0.11\"\nryu = \"=1.0.18\"\n\
         memchr = { version = \"=2.7.4\", default-features = false, features = [\"std\"] }\n",
    );
    let lock =
        std::fs::read_to_string(vendor.join("Cargo.lock.fixture")).expect("vendored lockfile");
    write(root, "Cargo.lock", &lock);
    write(
        root,
        ".cargo/config.toml",
        &format!(
            "[source.crates-io]\nreplace-with = \"vendored\"\n\n[source.vendored]\ndirectory = \"{}\"\n",
            vendor.display()
        ),
    );
    write(
        root,
        "src/main.rs",
        "fn main() {\n    let mut b = itoa::Buffer::new();\n    let mut r = ryu::Buffer::new();\n    \
         println!(\"{} {} {:?}\", b.format(42), r.format(1.5), memchr::memchr(b'x', b\"abx\"));\n}\n",
    );
    write(root, ".gitignore", "target/\n");
    write(root, ".agentkit/setup.sh", RUST_SETUP);
    write(
        root,
        REPO_POLICY_PATH,
        "[setup]\nneeds = [\"cargo\"]\ntimeout_secs = 600\n",
    );
    commit(root, "rust fixture");
}

fn python_repo(root: &Path) {
    git(root, &["init", "--quiet"]);
    write(root, "requirements.txt", "six==1.16.0\niniconfig==2.0.0\n");
    write(
        root,
        "app.py",
        "import six, iniconfig\nprint(six.__version__)\n",
    );
    write(root, ".gitignore", ".venv/\n");
    write(root, ".agentkit/setup.sh", PYTHON_SETUP);
    write(
        root,
        REPO_POLICY_PATH,
        "[setup]\nenv = [\"PIP_NO_INDEX\", \"PIP_FIND_LINKS\"]\nneeds = [\"python3\"]\n",
    );
    commit(root, "python fixture");
}

async fn spec_for(repo: &Path, options: &SetupOptions, read_only: &[PathBuf]) -> SandboxSpec {
    let text = std::fs::read_to_string(repo.join(REPO_POLICY_PATH)).expect("policy");
    let layer = PolicyLayer::parse(REPO_POLICY_PATH, &text).expect("policy parses");
    let policy = Policy::from_layers([layer]).expect("policy");
    let decided = plan(repo, None, policy.setup.as_ref(), options)
        .await
        .expect("plan");
    let mut spec = SandboxSpec::new(repo.display().to_string());
    decided.apply(&mut spec);
    spec.policy.read_only_paths = read_only.iter().map(|p| p.display().to_string()).collect();
    spec
}

async fn sample(provider: &dyn SandboxProvider, spec: &SandboxSpec, expect_warm: bool) -> Duration {
    let started = Instant::now();
    let sandbox = provider.create(spec).await.expect("create");
    let out = sandbox
        .exec(ExecRequest::argv(["true"]))
        .await
        .expect("exec");
    let took = started.elapsed();
    assert!(out.success());
    let warm = sandbox.environment().is_some_and(|e| e.warm);
    assert_eq!(warm, expect_warm, "{:?}", sandbox.environment());
    sandbox.close().await.expect("close");
    took
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

type Make = Box<dyn Fn(Option<SnapshotStore>) -> Arc<dyn SandboxProvider>>;

fn backends() -> Vec<(&'static str, Result<Make, String>)> {
    #[allow(unused_mut)]
    let mut all: Vec<(&'static str, Result<Make, String>)> = vec![(
        "local",
        Ok(Box::new(|store: Option<SnapshotStore>| {
            let p = LocalProvider::new();
            Arc::new(match store {
                Some(s) => p.with_snapshots(s),
                None => p,
            }) as Arc<dyn SandboxProvider>
        })),
    )];
    #[cfg(all(feature = "sandbox-bwrap", target_os = "linux"))]
    all.push((
        "bwrap",
        agentkit::sandbox::bwrap::BwrapProvider::new()
            .map(|p| {
                Box::new(move |store: Option<SnapshotStore>| {
                    let p = p.clone();
                    Arc::new(match store {
                        Some(s) => p.with_snapshots(s),
                        None => p,
                    }) as Arc<dyn SandboxProvider>
                }) as Make
            })
            .map_err(|e| e.to_string()),
    ));
    all
}

fn main() {
    let samples: usize = std::env::var("AGENTKIT_BENCH_SAMPLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let fixtures = std::env::var_os("AGENTKIT_SETUP_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/agentkit/setup-fixtures")
        });
    let (vendor, wheels) = (fixtures.join("vendor"), fixtures.join("wheels"));
    if !vendor.join(".done").exists() || !wheels.join(".done").exists() {
        println!(
            "skipped: no fixtures in {}; run `eval \"$(.ci/setup-fixtures.sh)\"`",
            fixtures.display()
        );
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let caches = tempfile::tempdir().expect("tempdir");
    let options = SetupOptions::default()
        .cache_root(Some(caches.path().to_path_buf()))
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", wheels.display().to_string());
    println!(
        "create → first command, median of {samples} samples (cold: empty snapshot store; warm: a later commit, same lockfiles)\n"
    );
    println!(
        "{:<8} {:<7} {:>12} {:>12} {:>9}",
        "backend", "fixture", "cold", "warm", "speed-up"
    );
    for (name, make) in backends() {
        let make = match make {
            Ok(make) => make,
            Err(why) => {
                println!("{name:<8} skipped: {why}");
                continue;
            }
        };
        for fixture in ["rust", "python"] {
            let repo = tempfile::tempdir().expect("tempdir");
            let read_only = match fixture {
                "rust" => {
                    rust_repo(repo.path(), &vendor);
                    vec![vendor.clone()]
                }
                _ => {
                    python_repo(repo.path());
                    vec![wheels.clone()]
                }
            };
            let spec = runtime.block_on(spec_for(repo.path(), &options, &read_only));
            let cold: Vec<Duration> = (0..samples)
                .map(|_| {
                    let store = tempfile::tempdir().expect("tempdir");
                    let provider = make(Some(SnapshotStore::new(store.path())));
                    runtime.block_on(sample(provider.as_ref(), &spec, false))
                })
                .collect();
            let store = tempfile::tempdir().expect("tempdir");
            let provider = make(Some(SnapshotStore::new(store.path())));
            runtime.block_on(sample(provider.as_ref(), &spec, false));
            // A later commit that leaves the lockfiles alone.
            write(repo.path(), "NOTES.md", "unrelated change\n");
            commit(repo.path(), "notes");
            let spec = runtime.block_on(spec_for(repo.path(), &options, &read_only));
            let warm: Vec<Duration> = (0..samples)
                .map(|_| runtime.block_on(sample(provider.as_ref(), &spec, true)))
                .collect();
            let (cold, warm) = (median(cold), median(warm));
            let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
            println!(
                "{name:<8} {fixture:<7} {:>12} {:>12} {:>8.1}×",
                ms(cold),
                ms(warm),
                cold.as_secs_f64() / warm.as_secs_f64()
            );
        }
    }
}
