//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentkit_core::sandbox::{ExecOutput, ExecRequest, Sandbox, SandboxPolicy, SandboxSpec};
use agentkit_sandbox::local::LocalSandbox;
use tempfile::TempDir;

/// A workspace directory plus a sibling "outside" directory with a secret.
pub struct Fixture {
    pub _dir: TempDir,
    pub workspace: PathBuf,
    pub outside: PathBuf,
    pub sandbox: LocalSandbox,
}

pub fn fixture() -> Fixture {
    fixture_with(SandboxPolicy::default())
}

pub fn fixture_with(policy: SandboxPolicy) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("workspace");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&workspace).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "top secret").unwrap();
    let sandbox = LocalSandbox::attach(&workspace, policy, BTreeMap::new()).unwrap();
    let workspace = workspace.canonicalize().unwrap();
    let outside = outside.canonicalize().unwrap();
    Fixture {
        _dir: dir,
        workspace,
        outside,
        sandbox,
    }
}

/// Runs host git with a fixed identity and no global or system config.
pub fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Output of host git (trimmed).
pub fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether process `pid` is alive (zombies count as dead).
pub fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
    }
}

/// Waits up to `limit` for `cond`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Reads a pid written by a test script, waiting for it to appear.
pub async fn wait_for_pid(path: &Path) -> i32 {
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no pid written to {}", path.display());
}

/// A one-commit repository to clone.
pub fn one_commit_repo() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "--quiet"]);
    std::fs::write(dir.path().join("README.md"), "# fixture\n").unwrap();
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "--quiet", "-m", "fixture"]);
    dir
}

/// A spec cloning `repo` under `policy`.
pub fn spec(repo: &TempDir, policy: SandboxPolicy) -> SandboxSpec {
    let mut spec = SandboxSpec::new(repo.path().display().to_string());
    spec.policy = policy;
    spec
}

/// Runs `script` with a 60 s timeout; a sandbox error fails the test.
pub async fn sh(sandbox: &dyn Sandbox, script: &str) -> ExecOutput {
    sandbox
        .exec(ExecRequest::script(script).timeout(Duration::from_secs(60)))
        .await
        .unwrap_or_else(|e| panic!("exec `{script}` failed: {e}"))
}

/// The backend `made`, or `None` after saying why it cannot run here;
/// under `CI` a backend that cannot run fails the test instead, with `fix`.
pub fn available<T, E: std::fmt::Display>(
    backend: &str,
    made: Result<T, E>,
    fix: &str,
) -> Option<T> {
    match made {
        Ok(value) => Some(value),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("the {backend} backend cannot run here: {why}\n{fix}")
        }
        Err(why) => {
            eprintln!("SKIPPED: the {backend} backend cannot run here: {why}");
            None
        }
    }
}

/// What to do when bwrap cannot run.
pub const BWRAP_FIX: &str = "install bubblewrap (`apt-get install bubblewrap`) and allow user \
     namespaces; the limits cases also need writable cgroups (pids, memory) and root";

/// What to do when docker cannot run.
pub const DOCKER_FIX: &str = "run `eval \"$(.ci/docker.sh start)\"` first";

/// The wheels `.ci/setup-fixtures.sh` downloaded, or `None` after saying
/// why not (a failure under `CI`).
pub fn wheels() -> Option<PathBuf> {
    let dir = std::env::var_os("AGENTKIT_SETUP_FIXTURES")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/agentkit/setup-fixtures"))
        })?
        .join("wheels");
    if dir.join(".done").exists() {
        return Some(dir);
    }
    let why = format!("no fixture wheels in {}", dir.display());
    if std::env::var_os("CI").is_some() {
        panic!("{why}; run `eval \"$(.ci/setup-fixtures.sh)\"` first");
    }
    eprintln!("SKIPPED: {why}; run `eval \"$(.ci/setup-fixtures.sh)\"`");
    None
}

/// The bwrap backend, or `None` after saying why it cannot run here.
#[cfg(all(feature = "bwrap", target_os = "linux"))]
pub fn bwrap() -> Option<agentkit_sandbox::bwrap::BwrapProvider> {
    available(
        "bwrap",
        agentkit_sandbox::bwrap::BwrapProvider::new(),
        BWRAP_FIX,
    )
}

/// The docker backend, or `None` after saying why it cannot run here.
#[cfg(all(feature = "docker", target_os = "linux"))]
pub async fn docker() -> Option<agentkit_sandbox::docker::DockerProvider> {
    available(
        "docker",
        agentkit_sandbox::docker::DockerProvider::from_env().await,
        DOCKER_FIX,
    )
}
