//! Warm starts that work: a Python venv made by the setup of one sandbox,
//! restored into the next one — at another workspace path, after the first
//! workspace is gone — runs its console scripts, and the restored
//! workspace is the sandbox's own: mounted as an overlay of the snapshot
//! where the host allows it (root), seen host-side, never written through
//! to the snapshot nor to a sibling sandbox, unmounted on close.
//!
//! Needs the fixture wheels (`eval "$(.ci/setup-fixtures.sh)"`); without
//! them the tests say `SKIPPED` and pass, except under `CI`.

mod common;

use std::path::{Path, PathBuf};

use agentkit_core::environment::SnapshotRestore;
use agentkit_core::sandbox::{SandboxProvider, SandboxSpec};
use agentkit_sandbox::local::LocalProvider;
use agentkit_sandbox::snapshot::SnapshotStore;
use common::{git, sh, wheels};
use tempfile::TempDir;

fn python_repo() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "--quiet"]);
    std::fs::write(p.join("requirements.txt"), "six==1.16.0\n").unwrap();
    std::fs::write(p.join(".gitignore"), ".venv/\n").unwrap();
    git(p, &["add", "."]);
    git(p, &["commit", "--quiet", "-m", "fixture"]);
    dir
}

fn spec(repo: &Path, wheels: &Path) -> SandboxSpec {
    let script = format!(
        "set -e\npython3 -m venv .venv\n\
         .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-index \
         --find-links '{}' -r requirements.txt\n",
        wheels.display()
    );
    let mut spec = SandboxSpec::new(repo.display().to_string()).setup_script(script);
    spec.policy.read_only_paths = vec![wheels.display().to_string()];
    spec
}

/// Whether this process may mount (root): then restores are overlays.
fn expected_restore() -> SnapshotRestore {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0");
    if root {
        SnapshotRestore::Overlay
    } else {
        SnapshotRestore::Copy
    }
}

fn mounted_at(path: &Path) -> bool {
    let needle = format!(" {} ", path.display());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(&needle))
}

async fn restored_venvs_work_at_a_new_path(provider: &dyn SandboxProvider, store: &Path) {
    let Some(wheels) = wheels() else { return };
    let repo = python_repo();
    let spec = spec(repo.path(), &wheels);

    let first = provider.create(&spec).await.unwrap();
    let report = first.environment().unwrap().clone();
    assert_eq!(
        (report.warm, report.restore, report.exit),
        (false, None, Some(0))
    );
    let first_ws: PathBuf = first.host_workspace().unwrap().to_path_buf();
    first.close().await.unwrap();
    assert!(
        !first_ws.exists(),
        "the first workspace is deleted on close"
    );

    let second = provider.create(&spec).await.unwrap();
    let third = provider.create(&spec).await.unwrap();
    let report = second.environment().unwrap();
    assert_eq!(
        (report.warm, report.restore),
        (true, Some(expected_restore()))
    );
    let ws = second.host_workspace().unwrap().to_path_buf();
    assert_ne!(ws, first_ws);
    // A console script (its shebang names the venv's python) and the
    // venv's own idea of where it lives.
    let out = sh(
        second.as_ref(),
        ".venv/bin/pip --version >/dev/null && echo pip-ok; \
         .venv/bin/python -c 'import sys, six; print(sys.prefix)'",
    )
    .await;
    assert_eq!(
        (out.exit_code, out.stdout.text.clone()),
        (Some(0), format!("pip-ok\n{}\n", ws.join(".venv").display())),
        "{out:?}"
    );
    let head = std::fs::read_to_string(ws.join(".venv/bin/pip")).unwrap();
    assert!(
        head.starts_with(&format!("#!{}/.venv/bin/python", ws.display())),
        "{head}"
    );

    // The workspace is the sandbox's own: its writes are seen host-side,
    // not by its sibling, not in the snapshot.
    let wrote = sh(
        second.as_ref(),
        "echo mine > scratch.txt && rm requirements.txt",
    )
    .await;
    assert_eq!(wrote.exit_code, Some(0), "{wrote:?}");
    assert_eq!(
        std::fs::read_to_string(ws.join("scratch.txt")).unwrap(),
        "mine\n"
    );
    let sibling = sh(
        third.as_ref(),
        "ls scratch.txt requirements.txt 2>&1 | sort",
    )
    .await;
    assert_eq!(
        sibling.stdout.text,
        "ls: cannot access 'scratch.txt': No such file or directory\nrequirements.txt\n"
    );
    let snapshot = store.join(report.snapshot.clone().unwrap());
    assert!(snapshot.join("requirements.txt").is_file());
    assert!(!snapshot.join("scratch.txt").exists());

    second.close().await.unwrap();
    assert!(!ws.exists(), "the restored workspace is deleted on close");
    assert!(!mounted_at(&ws), "the overlay is unmounted on close");
    let ws3 = third.host_workspace().unwrap().to_path_buf();
    drop(third); // dropped without close: still unmounted
    assert!(!mounted_at(&ws3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_restored_venvs_work_after_the_first_workspace_is_gone() {
    let store = tempfile::tempdir().unwrap();
    let provider = LocalProvider::new().with_snapshots(SnapshotStore::new(store.path()));
    restored_venvs_work_at_a_new_path(&provider, store.path()).await;
}

#[cfg(all(feature = "bwrap", target_os = "linux"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bwrap_restored_venvs_work_after_the_first_workspace_is_gone() {
    let Some(provider) = common::bwrap() else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let provider = provider.with_snapshots(SnapshotStore::new(store.path()));
    restored_venvs_work_at_a_new_path(&provider, store.path()).await;
}

#[test]
fn a_snapshot_in_use_by_an_overlay_is_not_deleted_under_it() {
    if expected_restore() != SnapshotRestore::Overlay {
        eprintln!("SKIPPED: overlays need root");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let repo = python_repo();
    let store_dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::new(store_dir.path());
    let provider = LocalProvider::new().with_snapshots(store.clone());
    let spec =
        SandboxSpec::new(repo.path().display().to_string()).setup_script("echo made > made.txt");
    runtime.block_on(async {
        provider.create(&spec).await.unwrap().close().await.unwrap();
        let warm = provider.create(&spec).await.unwrap();
        assert_eq!(
            warm.environment().unwrap().restore,
            Some(SnapshotRestore::Overlay)
        );
        store.clear().unwrap();
        // The snapshot left the store, but the sandbox still reads it.
        assert_eq!(
            sh(warm.as_ref(), "cat made.txt").await.stdout.text,
            "made\n"
        );
        let names = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            names
        };
        let kept = names(store_dir.path());
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept[0].starts_with(".retired-"), "{kept:?}");
        warm.close().await.unwrap();
        // Swept once nothing uses it.
        store.clear().unwrap();
        assert_eq!(names(store_dir.path()), Vec::<String>::new());
    });
}

/// Docker's workspace is `/workspace` in every container: venvs need no
/// relocation, and restores copy (the daemon may not see host mounts).
#[cfg(all(feature = "docker", target_os = "linux"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_restored_venvs_work_and_restores_copy() {
    let Some(wheels) = wheels() else { return };
    let Some(provider) = common::docker().await else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let provider = agentkit_sandbox::docker::DockerProvider::builder(provider.image())
        .snapshots(SnapshotStore::new(store.path()))
        .connect()
        .await
        .unwrap();
    let repo = python_repo();
    let spec = spec(repo.path(), &wheels);
    provider.create(&spec).await.unwrap().close().await.unwrap();
    let warm = provider.create(&spec).await.unwrap();
    let report = warm.environment().unwrap();
    assert_eq!(
        (report.warm, report.restore),
        (true, Some(SnapshotRestore::Copy))
    );
    let out = sh(
        warm.as_ref(),
        ".venv/bin/pip --version >/dev/null && echo pip-ok; .venv/bin/python -c 'import sys, six; print(sys.prefix)'",
    )
    .await;
    assert_eq!(out.stdout.text, "pip-ok\n/workspace/.venv\n", "{out:?}");
    warm.close().await.unwrap();
}
