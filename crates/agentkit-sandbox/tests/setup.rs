//! Repository-declared setups, end to end: a fixture repository declares
//! its setup (`.agentkit/setup.sh` and a `[setup]` table) that installs a
//! real package (`six`, a wheel from PyPI) from a real package index — a
//! PEP 503 "simple" index this test serves on 127.0.0.1 from wheels that
//! `.ci/setup-fixtures.sh` fetched — under `local`, `bwrap` (the setup
//! reaches the index through the allow-list proxy; the agent's sandbox
//! has no network) and `docker`. Then: warm starts keyed by lockfiles,
//! per-repository caches that never meet, and what a failing setup reports.
//!
//! Needs `eval "$(.ci/setup-fixtures.sh)"` (wheels); without them every
//! test says `SKIPPED` and passes, except under `CI`, where they fail.

mod common;

use std::path::Path;
use std::sync::Arc;

use agentkit_core::environment::{EnvironmentPhase, SetupSource};
use agentkit_core::policy::file::{Policy, PolicyLayer, REPO_POLICY_PATH};
use agentkit_core::sandbox::{NetworkPolicy, Sandbox, SandboxError, SandboxProvider, SandboxSpec};
use agentkit_sandbox::local::LocalProvider;
use agentkit_sandbox::setup::{SetupOptions, SetupPlan, plan};
use agentkit_sandbox::snapshot::SnapshotStore;
use common::{git, sh, wheels};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A PEP 503 simple index of the wheels in `wheels`, served on
/// 127.0.0.1 until the returned guard drops: `/simple/<name>/` lists the
/// files, `/files/<wheel>` serves them.
struct Index {
    url: String,
    port: u16,
    _root: TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Index {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_index(wheels: &Path) -> Index {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("files")).unwrap();
    for entry in std::fs::read_dir(wheels).unwrap() {
        let path = entry.unwrap().path();
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !file.ends_with(".whl") {
            continue;
        }
        std::fs::copy(&path, root.path().join("files").join(file)).unwrap();
        let project = file
            .split('-')
            .next()
            .unwrap()
            .to_lowercase()
            .replace('_', "-");
        let dir = root.path().join("simple").join(&project);
        std::fs::create_dir_all(&dir).unwrap();
        let page = format!(
            "<!DOCTYPE html><html><body><a href=\"/files/{file}\">{file}</a></body></html>\n"
        );
        std::fs::write(dir.join("index.html"), page).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = root.path().to_path_buf();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let base = base.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                // Through a proxy the target is absolute (`http://host:port/path`).
                let target = text.split_whitespace().nth(1).unwrap_or("/");
                let path = match target.find("://") {
                    Some(i) => target[i + 3..]
                        .find('/')
                        .map_or("/", |j| &target[i + 3 + j..]),
                    None => target,
                };
                let mut file = base.join(path.trim_start_matches('/'));
                if path.contains("..") {
                    file = base.join("missing");
                }
                if file.is_dir() {
                    file = file.join("index.html");
                }
                let (status, body, kind) = match std::fs::read(&file) {
                    Ok(body) if path.ends_with(".whl") => {
                        ("200 OK", body, "application/octet-stream")
                    }
                    Ok(body) => ("200 OK", body, "text/html"),
                    Err(_) => ("404 Not Found", b"not found".to_vec(), "text/plain"),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    Index {
        url: format!("http://127.0.0.1:{port}/simple/"),
        port,
        _root: root,
        task,
    }
}

const SETUP_SH: &str = "set -e\n\
    export PIP_DISABLE_PIP_VERSION_CHECK=1\n\
    python3 -m venv .venv\n\
    .venv/bin/python -m pip install --quiet --index-url \"$PIP_INDEX_URL\" -r requirements.txt\n\
    echo installed from \"$PIP_INDEX_URL\"\n";

/// A repository that declares its setup: `.agentkit/setup.sh` installs
/// `requirements.txt` into a venv from `$PIP_INDEX_URL`, which its
/// `[setup]` table asks for, with the index as its only network.
fn python_repo(port: u16) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "--quiet"]);
    std::fs::create_dir_all(p.join(".agentkit")).unwrap();
    std::fs::write(p.join(".agentkit/setup.sh"), SETUP_SH).unwrap();
    std::fs::write(
        p.join(REPO_POLICY_PATH),
        format!(
            "[setup]\nenv = [\"PIP_INDEX_URL\"]\nnetwork = [\"127.0.0.1:{port}\"]\nneeds = [\"python3\"]\ntimeout_secs = 300\n"
        ),
    )
    .unwrap();
    std::fs::write(p.join("requirements.txt"), "six==1.16.0\n").unwrap();
    std::fs::write(p.join(".gitignore"), ".venv/\n").unwrap();
    std::fs::write(p.join("app.py"), "import six\nprint(six.__version__)\n").unwrap();
    git(p, &["add", "."]);
    git(p, &["commit", "--quiet", "-m", "fixture"]);
    dir
}

/// The repository's own `[setup]` table at HEAD.
fn repo_table(repo: &Path) -> Policy {
    let text = std::fs::read_to_string(repo.join(REPO_POLICY_PATH)).unwrap();
    let layer = PolicyLayer::parse(&format!("{REPO_POLICY_PATH} (at HEAD)"), &text).unwrap();
    Policy::from_layers([layer]).unwrap()
}

async fn planned(repo: &Path, options: &SetupOptions) -> (SetupPlan, SandboxSpec) {
    let policy = repo_table(repo);
    let plan = plan(repo, None, policy.setup.as_ref(), options)
        .await
        .unwrap();
    let mut spec = SandboxSpec::new(repo.display().to_string());
    plan.apply(&mut spec);
    (plan, spec)
}

/// The declared setup ran in `sandbox`: `six` imports from the venv, and
/// the report says where the setup came from and what the sandbox has.
async fn assert_installed(sandbox: &dyn Sandbox, backend: &str) {
    let out = sh(sandbox, ".venv/bin/python app.py").await;
    assert_eq!(
        (out.exit_code, out.stdout.text.as_str()),
        (Some(0), "1.16.0\n"),
        "{out:?}"
    );
    let report = sandbox
        .environment()
        .expect("the sandbox reports its environment");
    assert_eq!(
        (
            report.source,
            report.backend.as_str(),
            report.warm,
            report.exit,
            report.env.clone(),
            report.needs.clone(),
            report.missing(),
        ),
        (
            Some(SetupSource::RepoScript),
            backend,
            false,
            Some(0),
            vec!["PIP_INDEX_URL".to_string()],
            vec!["python3".to_string()],
            Vec::<String>::new(),
        )
    );
    assert!(
        report.output.contains("installed from http://127.0.0.1:"),
        "{report:?}"
    );
    let python = report
        .toolchains
        .iter()
        .find(|t| t.name == "python3")
        .unwrap();
    assert!(
        python
            .version
            .as_deref()
            .unwrap_or("")
            .starts_with("Python 3."),
        "{python:?}"
    );
}

fn options(index: &Index, caches: &Path) -> SetupOptions {
    SetupOptions::default()
        .env("PIP_INDEX_URL", index.url.clone())
        .env("NOT_ASKED_FOR", "secret")
        .cache_root(Some(caches.to_path_buf()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_setup_installs_a_real_package_under_local() {
    let Some(wheels) = wheels() else { return };
    let index = serve_index(&wheels).await;
    let repo = python_repo(index.port);
    let caches = tempfile::tempdir().unwrap();
    let (plan, spec) = planned(repo.path(), &options(&index, caches.path())).await;
    assert_eq!(plan.script.as_deref(), Some(SETUP_SH));
    assert_eq!(
        plan.environment.setup_env.keys().collect::<Vec<_>>(),
        ["PIP_INDEX_URL"]
    );
    assert_eq!(
        plan.environment
            .inputs
            .iter()
            .map(|i| i.path.as_str())
            .collect::<Vec<_>>(),
        [".agentkit/setup.sh", "requirements.txt"]
    );
    let sandbox = LocalProvider::new().create(&spec).await.unwrap();
    assert_installed(sandbox.as_ref(), "local").await;
    let report = sandbox.environment().unwrap();
    // Reported honestly: `local` cannot hold the setup to its allow-list.
    assert_eq!(
        (report.network.clone(), report.network_enforced),
        (
            Some(NetworkPolicy::AllowList(vec![format!(
                "127.0.0.1:{}",
                index.port
            )])),
            false
        )
    );
    // The variable the setup did not ask for never reached it.
    let out = sh(
        sandbox.as_ref(),
        "echo \"[$NOT_ASKED_FOR][$PIP_INDEX_URL]\"",
    )
    .await;
    assert_eq!(out.stdout.text, "[][]\n");
    sandbox.close().await.unwrap();
}

#[cfg(all(feature = "bwrap", target_os = "linux"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_setup_installs_through_the_allow_list_proxy_under_bwrap_and_the_agent_gets_no_network()
 {
    let Some(wheels) = wheels() else { return };
    let Some(provider) = common::available(
        "bwrap",
        agentkit_sandbox::bwrap::BwrapProvider::new(),
        common::BWRAP_FIX,
    ) else {
        return;
    };
    let index = serve_index(&wheels).await;
    let repo = python_repo(index.port);
    let caches = tempfile::tempdir().unwrap();
    let (_, spec) = planned(repo.path(), &options(&index, caches.path())).await;
    assert_eq!(spec.policy.network, NetworkPolicy::Deny);
    let sandbox = provider.create(&spec).await.unwrap();
    assert_installed(sandbox.as_ref(), "bwrap").await;
    assert!(sandbox.environment().unwrap().network_enforced);
    // The setup's network stayed with the setup: the agent's commands
    // cannot reach the index (no proxy variables, no route).
    let fetch = format!(
        ".venv/bin/python -c \"import urllib.request as u; u.urlopen('{}six/', timeout=5)\" 2>/dev/null && echo reached || echo refused",
        index.url
    );
    assert_eq!(sh(sandbox.as_ref(), &fetch).await.stdout.text, "refused\n");
    // The per-repository cache is mounted read-write at the host path the
    // package managers are pointed at.
    let pip_cache =
        agentkit_sandbox::setup::repo_cache_dir(&caches.path().canonicalize().unwrap(), &spec.repo)
            .join("pip");
    let out = sh(
        sandbox.as_ref(),
        "echo kept > \"$PIP_CACHE_DIR/probe\" && echo \"$PIP_CACHE_DIR\"",
    )
    .await;
    assert_eq!(out.stdout.text, format!("{}\n", pip_cache.display()));
    assert_eq!(
        std::fs::read_to_string(pip_cache.join("probe")).unwrap(),
        "kept\n"
    );
    sandbox.close().await.unwrap();
}

#[cfg(all(feature = "docker", target_os = "linux"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_setup_installs_through_the_allow_list_proxy_under_docker() {
    let Some(wheels) = wheels() else { return };
    let Some(provider) = common::available(
        "docker",
        agentkit_sandbox::docker::DockerProvider::from_env().await,
        common::DOCKER_FIX,
    ) else {
        return;
    };
    let index = serve_index(&wheels).await;
    let repo = python_repo(index.port);
    let caches = tempfile::tempdir().unwrap();
    let (_, spec) = planned(repo.path(), &options(&index, caches.path())).await;
    let sandbox = provider.create(&spec).await.unwrap();
    let backend = format!("docker:{}", provider.image());
    assert_installed(sandbox.as_ref(), &backend).await;
    sandbox.close().await.unwrap();
}

/// A repository whose setup records each run in its cache directory.
fn counting_repo() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "--quiet"]);
    std::fs::create_dir_all(p.join(".agentkit")).unwrap();
    std::fs::write(
        p.join(".agentkit/setup.sh"),
        "set -e\necho run >> \"$PIP_CACHE_DIR/runs\"\nmkdir -p .deps\ncp requirements.txt .deps/installed.txt\n",
    )
    .unwrap();
    std::fs::write(p.join(".gitignore"), ".deps/\n").unwrap();
    std::fs::write(p.join("requirements.txt"), "six==1.16.0\n").unwrap();
    std::fs::write(p.join("code.py"), "v = 1\n").unwrap();
    git(p, &["add", "."]);
    git(p, &["commit", "--quiet", "-m", "one"]);
    dir
}

async fn create_counted(provider: &LocalProvider, repo: &Path, caches: &Path) -> Arc<dyn Sandbox> {
    let options = SetupOptions::default().cache_root(Some(caches.to_path_buf()));
    let (_, spec) = planned_without_table(repo, &options).await;
    provider.create(&spec).await.unwrap()
}

async fn planned_without_table(repo: &Path, options: &SetupOptions) -> (SetupPlan, SandboxSpec) {
    let plan = plan(repo, None, None, options).await.unwrap();
    let mut spec = SandboxSpec::new(repo.display().to_string());
    plan.apply(&mut spec);
    (plan, spec)
}

#[tokio::test]
async fn a_new_commit_with_the_same_lockfile_starts_warm_and_a_changed_lockfile_starts_cold() {
    let repo = counting_repo();
    let caches = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let provider = LocalProvider::new().with_snapshots(SnapshotStore::new(store_dir.path()));
    let runs = || {
        let dir = agentkit_sandbox::setup::repo_cache_dir(
            caches.path(),
            &repo.path().display().to_string(),
        );
        std::fs::read_to_string(dir.join("pip/runs")).unwrap_or_default()
    };
    let state = |s: &dyn Sandbox| {
        let e = s.environment().unwrap();
        (e.warm, e.snapshot.clone().unwrap())
    };

    let first = create_counted(&provider, repo.path(), caches.path()).await;
    let (warm, key) = state(first.as_ref());
    assert_eq!((warm, runs().as_str()), (false, "run\n"));
    first.close().await.unwrap();

    // Code changes, the lockfile does not: warm, at the new commit.
    std::fs::write(repo.path().join("code.py"), "v = 2\n").unwrap();
    git(repo.path(), &["commit", "--quiet", "-am", "two"]);
    let second = create_counted(&provider, repo.path(), caches.path()).await;
    assert_eq!(state(second.as_ref()), (true, key.clone()));
    assert_eq!(runs(), "run\n");
    let out = sh(
        second.as_ref(),
        "cat code.py .deps/installed.txt; git status --porcelain",
    )
    .await;
    assert_eq!(out.stdout.text, "v = 2\nsix==1.16.0\n");
    second.close().await.unwrap();

    // The lockfile changes: a new key, the setup runs again.
    std::fs::write(repo.path().join("requirements.txt"), "six==1.17.0\n").unwrap();
    git(repo.path(), &["commit", "--quiet", "-am", "three"]);
    let third = create_counted(&provider, repo.path(), caches.path()).await;
    let (warm, new_key) = state(third.as_ref());
    assert_eq!(
        (warm, new_key != key, runs().as_str()),
        (false, true, "run\nrun\n")
    );
    let out = sh(third.as_ref(), "cat .deps/installed.txt").await;
    assert_eq!(out.stdout.text, "six==1.17.0\n");
    third.close().await.unwrap();
}

#[tokio::test]
async fn a_failing_setup_is_a_typed_failure_with_its_status_and_output() {
    let repo = common::one_commit_repo();
    std::fs::create_dir_all(repo.path().join(".agentkit")).unwrap();
    std::fs::write(
        repo.path().join(".agentkit/setup.sh"),
        "echo resolving dependencies\necho 'error: no matching package named `nope`' >&2\nexit 101\n",
    )
    .unwrap();
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "--quiet", "-m", "setup"]);
    let options = SetupOptions::default().cache_root(None);
    let (_, spec) = planned_without_table(repo.path(), &options).await;
    let Err(SandboxError::SetupFailed { report }) = LocalProvider::new().create(&spec).await else {
        panic!("a failing setup made a sandbox");
    };
    assert_eq!(
        (
            report.source,
            report.exit,
            report.timed_out,
            report.output.as_str()
        ),
        (
            Some(SetupSource::RepoScript),
            Some(101),
            false,
            "resolving dependencies\nerror: no matching package named `nope`"
        )
    );
    let broken = report.check().unwrap_err();
    assert_eq!(
        (broken.phase, broken.exit),
        (EnvironmentPhase::Setup, Some(101))
    );

    // A setup over its time limit is a timeout, not an exit.
    let mut spec = spec.clone();
    spec.setup_script = Some("sleep 30".into());
    spec.setup_timeout = std::time::Duration::from_millis(300);
    let Err(SandboxError::SetupFailed { report }) = LocalProvider::new().create(&spec).await else {
        panic!("a hanging setup made a sandbox");
    };
    assert_eq!(
        (report.timed_out, report.check().unwrap_err().timed_out),
        (true, true)
    );
}

#[tokio::test]
async fn the_operator_can_forbid_repository_setups_and_detection_only_proposes_without_auto() {
    let repo = counting_repo();
    let forbid = SetupOptions::default().allow_repo(false).cache_root(None);
    let (plan, spec) = planned_without_table(repo.path(), &forbid).await;
    assert_eq!(
        (plan.script, spec.setup_script, plan.warnings),
        (
            None,
            None,
            vec!["the repository declares a setup (.agentkit/setup.sh) but the operator forbids repository setups; it does not run".to_string()]
        )
    );
    let operator = SetupOptions::default()
        .allow_repo(false)
        .script("make deps")
        .cache_root(None);
    let (plan, _) = planned_without_table(repo.path(), &operator).await;
    assert_eq!(
        (plan.script.as_deref(), plan.environment.source),
        (Some("make deps"), SetupSource::Operator)
    );

    let cargo = common::one_commit_repo();
    std::fs::write(
        cargo.path().join("Cargo.toml"),
        "[package]\nname = \"x\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::write(cargo.path().join("Cargo.lock"), "version = 3\n").unwrap();
    git(cargo.path(), &["add", "."]);
    git(cargo.path(), &["commit", "--quiet", "-m", "cargo"]);
    let shown = SetupOptions::default().cache_root(None);
    let (plan, _) = planned_without_table(cargo.path(), &shown).await;
    let proposed = plan.proposed.clone().unwrap();
    assert_eq!(
        (
            plan.script,
            proposed.script.as_str(),
            plan.environment.needs
        ),
        (
            None,
            "set -e\ncargo fetch --locked\n",
            vec!["cargo".to_string()]
        )
    );
    let (plan, _) = planned_without_table(cargo.path(), &shown.clone().auto(true)).await;
    assert_eq!(
        (
            plan.script.as_deref(),
            plan.environment.source,
            plan.environment.inputs.len()
        ),
        (
            Some("set -e\ncargo fetch --locked\n"),
            SetupSource::Detected,
            2
        )
    );
}

#[cfg(all(feature = "bwrap", target_os = "linux"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_repositories_caches_never_see_each_other() {
    let Some(provider) = common::available(
        "bwrap",
        agentkit_sandbox::bwrap::BwrapProvider::new(),
        common::BWRAP_FIX,
    ) else {
        return;
    };
    let caches = tempfile::tempdir().unwrap();
    let root = caches.path().canonicalize().unwrap();
    let options = SetupOptions::default()
        .script("echo from-a > \"$PIP_CACHE_DIR/a.txt\"; echo from-a > \"$CARGO_HOME/a.txt\"")
        .cache_root(Some(root.clone()));
    let a = common::one_commit_repo();
    let b = common::one_commit_repo();
    let (_, spec_a) = planned_without_table(a.path(), &options).await;
    let sandbox_a = provider.create(&spec_a).await.unwrap();
    sandbox_a.close().await.unwrap();

    let (_, spec_b) = planned_without_table(b.path(), &options.clone().script("true")).await;
    let sandbox_b = provider.create(&spec_b).await.unwrap();
    let dir_a = agentkit_sandbox::setup::repo_cache_dir(&root, &spec_a.repo);
    let dir_b = agentkit_sandbox::setup::repo_cache_dir(&root, &spec_b.repo);
    assert_ne!(dir_a, dir_b);
    let script = format!(
        "ls -A {root}; test -e {a} && echo a-visible || echo a-hidden; ls -A \"$PIP_CACHE_DIR\"; echo \"$PIP_CACHE_DIR\"",
        root = root.display(),
        a = dir_a.display()
    );
    let out = sh(sandbox_b.as_ref(), &script).await;
    assert_eq!(
        out.stdout.text,
        format!(
            "{}\na-hidden\n{}/pip\n",
            dir_b.file_name().unwrap().to_str().unwrap(),
            dir_b.display()
        )
    );
    // On the host, each repository's files stayed in its own directory.
    assert_eq!(
        std::fs::read_to_string(dir_a.join("pip/a.txt")).unwrap(),
        "from-a\n"
    );
    assert!(!dir_b.join("pip/a.txt").exists());
    sandbox_b.close().await.unwrap();
}

#[cfg(all(feature = "bwrap", target_os = "linux"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_bwrap_the_setup_sandboxs_workspace_becomes_the_snapshot_the_next_task_starts_from() {
    let Some(wheels) = wheels() else { return };
    let Some(provider) = common::available(
        "bwrap",
        agentkit_sandbox::bwrap::BwrapProvider::new(),
        common::BWRAP_FIX,
    ) else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let provider = provider.with_snapshots(SnapshotStore::new(store.path()));
    let index = serve_index(&wheels).await;
    let repo = python_repo(index.port);
    let caches = tempfile::tempdir().unwrap();
    let (_, spec) = planned(repo.path(), &options(&index, caches.path())).await;
    let first = provider.create(&spec).await.unwrap();
    assert_installed(first.as_ref(), "bwrap").await;
    let key = first.environment().unwrap().snapshot.clone();
    assert!(key.is_some());
    first.close().await.unwrap();
    // The index goes away: the second sandbox must not need it.
    drop(index);
    let second = provider.create(&spec).await.unwrap();
    let report = second.environment().unwrap();
    assert_eq!(
        (
            report.warm,
            report.snapshot.clone(),
            report.toolchains_from_snapshot,
            report.missing()
        ),
        (true, key, true, Vec::<String>::new())
    );
    let out = sh(second.as_ref(), ".venv/bin/python app.py").await;
    assert_eq!(out.stdout.text, "1.16.0\n");
    second.close().await.unwrap();
}
