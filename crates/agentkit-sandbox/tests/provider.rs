//! `LocalProvider`: clone, revision checkout, setup script, lifecycle.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentkit_core::sandbox::{ExecRequest, Sandbox, SandboxError, SandboxProvider, SandboxSpec};
use agentkit_sandbox::local::LocalProvider;
use common::{git, git_out};
use tempfile::TempDir;

/// A repository with two commits on `main` (tag `v1` on the first) and a
/// branch `feature` with one more.
struct Repo {
    dir: TempDir,
    first: String,
}

impl Repo {
    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }
}

fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "--quiet"]);
    git(p, &["symbolic-ref", "HEAD", "refs/heads/main"]);
    std::fs::write(p.join("README.md"), "v1\n").unwrap();
    git(p, &["add", "README.md"]);
    git(p, &["commit", "--quiet", "-m", "first"]);
    git(p, &["tag", "v1"]);
    let first = git_out(p, &["rev-parse", "HEAD"]);
    std::fs::write(p.join("README.md"), "v2\n").unwrap();
    git(p, &["commit", "--quiet", "-am", "second"]);
    git(p, &["checkout", "--quiet", "-b", "feature"]);
    std::fs::write(p.join("feature.txt"), "feature\n").unwrap();
    git(p, &["add", "feature.txt"]);
    git(p, &["commit", "--quiet", "-m", "feature"]);
    git(p, &["checkout", "--quiet", "main"]);
    Repo { dir, first }
}

/// A provider creating its temp dirs under a root the test can inspect.
fn provider() -> (TempDir, LocalProvider) {
    let root = tempfile::tempdir().unwrap();
    let provider = LocalProvider::new().with_temp_root(root.path());
    (root, provider)
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn workspace(sandbox: &Arc<dyn Sandbox>) -> PathBuf {
    sandbox.host_workspace().unwrap().to_path_buf()
}

#[tokio::test]
async fn provider_is_named_local() {
    assert_eq!(LocalProvider::new().name(), "local");
}

#[tokio::test]
async fn create_clones_the_default_branch() {
    let repo = repo();
    let (root, provider) = provider();
    let sandbox = provider
        .create(&SandboxSpec::new(repo.path()))
        .await
        .unwrap();
    assert_eq!(sandbox.read("README.md").await.unwrap(), b"v2\n");
    assert!(matches!(
        sandbox.read("feature.txt").await.unwrap_err(),
        SandboxError::NotFound { .. }
    ));
    let ws = workspace(&sandbox);
    assert_eq!(ws.file_name().unwrap(), "workspace");
    assert!(ws.starts_with(root.path().canonicalize().unwrap()));
    let out = sandbox
        .exec(ExecRequest::argv(["git", "branch", "--show-current"]))
        .await
        .unwrap();
    assert_eq!(out.stdout.text, "main\n");
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn create_checks_out_a_tag_a_commit_or_a_remote_branch() {
    let repo = repo();
    let (_root, provider) = provider();
    for (rev, readme, has_feature) in [
        ("v1", "v1\n", false),
        (repo.first.as_str(), "v1\n", false),
        ("feature", "v2\n", true),
        ("main", "v2\n", false),
    ] {
        let sandbox = provider
            .create(&SandboxSpec::new(repo.path()).rev(rev))
            .await
            .unwrap();
        assert_eq!(
            sandbox.read("README.md").await.unwrap(),
            readme.as_bytes(),
            "{rev}"
        );
        assert_eq!(
            sandbox.stat("feature.txt").await.is_ok(),
            has_feature,
            "{rev}"
        );
        sandbox.close().await.unwrap();
    }
}

#[tokio::test]
async fn unknown_revision_or_repository_is_a_setup_error_and_leaves_nothing() {
    let repo = repo();
    let (root, provider) = provider();
    let err = provider
        .create(&SandboxSpec::new(repo.path()).rev("no-such-branch"))
        .await
        .err()
        .unwrap();
    let SandboxError::Setup { reason } = &err else {
        panic!("{err:?}")
    };
    assert!(
        reason.contains("`no-such-branch` was not found"),
        "{reason}"
    );

    let err = provider
        .create(&SandboxSpec::new(repo.path()).rev("--upload-pack=x"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SandboxError::Setup { .. }), "{err:?}");

    let missing = root.path().join("missing-repo").display().to_string();
    let err = provider
        .create(&SandboxSpec::new(missing))
        .await
        .err()
        .unwrap();
    let SandboxError::Setup { reason } = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("git clone"), "{reason}");

    // Option-looking repository names are taken as repositories, not options.
    let err = provider
        .create(&SandboxSpec::new("--help"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SandboxError::Setup { .. }), "{err:?}");

    assert_eq!(entries(root.path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn setup_script_runs_in_the_workspace() {
    let repo = repo();
    let (_root, provider) = provider();
    let mut spec = SandboxSpec::new(repo.path())
        .setup_script("cat README.md > setup.out; echo \"$GREETING\" >> setup.out");
    spec.env.insert("GREETING".into(), "hello".into());
    let sandbox = provider.create(&spec).await.unwrap();
    assert_eq!(sandbox.read("setup.out").await.unwrap(), b"v2\nhello\n");
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn failing_setup_script_is_a_setup_error_with_its_output() {
    let repo = repo();
    let (root, provider) = provider();
    let spec = SandboxSpec::new(repo.path())
        .setup_script("echo installing; echo 'npm ERR! missing package' >&2; exit 7");
    let err = provider.create(&spec).await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "the setup script failed (exit 7); fix the setup or the repository:\ninstalling\nnpm ERR! missing package"
    );
    let SandboxError::SetupFailed { report } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (report.exit, report.timed_out, report.output.as_str()),
        (Some(7), false, "installing\nnpm ERR! missing package")
    );
    assert!(err.is_infrastructure());
    // The half-made sandbox was deleted.
    assert_eq!(entries(root.path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn setup_script_timeout_is_a_setup_error() {
    let repo = repo();
    let (_root, provider) = provider();
    let mut spec = SandboxSpec::new(repo.path()).setup_script("sleep 30");
    spec.setup_timeout = std::time::Duration::from_millis(200);
    let err = provider.create(&spec).await.err().unwrap();
    let SandboxError::SetupFailed { report } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((report.exit, report.timed_out), (None, true));
    assert!(
        err.to_string()
            .starts_with("the setup script failed (timed out after "),
        "{err}"
    );
}

#[tokio::test]
async fn close_deletes_the_workspace_and_then_everything_is_gone() {
    let repo = repo();
    let (root, provider) = provider();
    let sandbox = provider
        .create(&SandboxSpec::new(repo.path()))
        .await
        .unwrap();
    let ws = workspace(&sandbox);
    assert!(ws.join("README.md").exists());
    sandbox.close().await.unwrap();
    assert!(!ws.exists());
    assert_eq!(entries(root.path()), Vec::<PathBuf>::new());

    let gone = |r: Result<(), SandboxError>| matches!(r, Err(SandboxError::Gone { .. }));
    assert!(gone(sandbox.read("README.md").await.map(|_| ())));
    assert!(gone(sandbox.write("x", b"x").await));
    assert!(gone(sandbox.list("").await.map(|_| ())));
    assert!(gone(sandbox.stat("").await.map(|_| ())));
    assert!(gone(sandbox.remove("README.md").await));
    assert!(gone(
        sandbox.exec(ExecRequest::argv(["true"])).await.map(|_| ())
    ));
    // Closing again is harmless.
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn dropping_a_provider_made_sandbox_deletes_its_directory() {
    let repo = repo();
    let (root, provider) = provider();
    let sandbox = provider
        .create(&SandboxSpec::new(repo.path()))
        .await
        .unwrap();
    let ws = workspace(&sandbox);
    drop(sandbox);
    assert!(!ws.exists());
    assert_eq!(entries(root.path()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn closing_an_attached_sandbox_keeps_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "keep").unwrap();
    let sandbox = agentkit_sandbox::local::LocalSandbox::attach(
        dir.path(),
        Default::default(),
        Default::default(),
    )
    .unwrap();
    sandbox.close().await.unwrap();
    assert!(matches!(
        sandbox.read("keep.txt").await.unwrap_err(),
        SandboxError::Gone { .. }
    ));
    drop(sandbox);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "keep"
    );
}

#[tokio::test]
async fn a_setup_snapshot_starts_the_next_sandbox_warm_until_the_commit_moves() {
    let repo = repo();
    let (_root, provider) = provider();
    let store_dir = tempfile::tempdir().unwrap();
    let store = agentkit_sandbox::snapshot::SnapshotStore::new(store_dir.path());
    let provider = provider.with_snapshots(store);
    // The setup leaves a unique stamp: a rerun would change it.
    let spec = SandboxSpec::new(repo.path()).setup_script(
        "mkdir -p deps && date +%s%N > deps/stamp && echo $RANDOM$RANDOM >> deps/stamp",
    );
    let stamp = |sandbox: Arc<dyn Sandbox>| async move {
        let stamp = sandbox.read("deps/stamp").await.unwrap();
        let readme = sandbox.read("README.md").await.unwrap();
        sandbox.close().await.unwrap();
        (stamp, readme)
    };
    let (cold, readme) = stamp(provider.create(&spec).await.unwrap()).await;
    assert_eq!(readme, b"v2\n");
    let (warm, _) = stamp(provider.create(&spec).await.unwrap()).await;
    assert_eq!(warm, cold, "the second sandbox reused the setup's result");

    // A new commit on the branch: the snapshot no longer applies.
    git(
        repo.dir.path(),
        &["commit", "--quiet", "--allow-empty", "-m", "third"],
    );
    let (moved, _) = stamp(provider.create(&spec).await.unwrap()).await;
    assert_ne!(moved, cold, "a moved branch runs the setup again");

    // Another setup script: another snapshot.
    let other =
        SandboxSpec::new(repo.path()).setup_script("mkdir -p deps && echo other > deps/stamp");
    let (other_stamp, _) = stamp(provider.create(&other).await.unwrap()).await;
    assert_eq!(other_stamp, b"other\n");
}

#[tokio::test]
async fn a_clone_of_an_origin_with_alternates_holds_every_object_itself() {
    let upstream = repo();
    // An origin that borrows its objects from `upstream` (`clone --shared`).
    let shared = tempfile::tempdir().unwrap();
    let origin = shared.path().join("origin");
    git(
        shared.path(),
        &["clone", "--quiet", "--shared", &upstream.path(), "origin"],
    );
    assert!(origin.join(".git/objects/info/alternates").is_file());
    let (_root, provider) = provider();
    let sandbox = provider
        .create(&SandboxSpec::new(origin.display().to_string()).rev("v1"))
        .await
        .unwrap();
    let ws = workspace(&sandbox);
    assert!(!ws.join(".git/objects/info/alternates").exists());
    // Every object is there without the upstream repository.
    drop(upstream);
    let out = sandbox
        .exec(ExecRequest::argv([
            "git",
            "fsck",
            "--full",
            "--no-dangling",
        ]))
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(git_out(&ws, &["remote"]), "");
    sandbox.close().await.unwrap();
}
