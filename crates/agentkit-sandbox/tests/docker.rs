//! Behaviour specific to the `docker` backend: containers never outlive
//! their sandbox (close, drop, panic), the exit code is read after the
//! output, policies the daemon cannot enforce are refused, and the details
//! of exec that the conformance suite does not pin.
//!
//! Needs `eval "$(.ci/docker.sh start)"`; without a daemon every test says
//! so on stderr and passes, except under `CI`, where they fail.
#![cfg(all(feature = "docker", target_os = "linux"))]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentkit_core::sandbox::{
    ExecRequest, NetworkPolicy, ResourceLimits, Sandbox, SandboxError, SandboxPolicy,
    SandboxProvider,
};
use agentkit_sandbox::docker::DockerProvider;
use bollard::Docker;
use common::{DOCKER_FIX, available, git, sh, spec};
use tempfile::TempDir;

async fn provider() -> Option<DockerProvider> {
    available("docker", DockerProvider::from_env().await, DOCKER_FIX)
}

fn repo() -> TempDir {
    common::one_commit_repo()
}

/// A client of our own, to look at containers behind the backend's back.
async fn daemon() -> Docker {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    Docker::connect_with_unix(&host, 30, bollard::API_DEFAULT_VERSION)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

/// The container of sandbox `id` (named `agentkit-<id>`) still exists.
async fn container_exists(docker: &Docker, sandbox_id: &str) -> bool {
    match docker
        .inspect_container(&format!("agentkit-{sandbox_id}"), None)
        .await
    {
        Ok(_) => true,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => false,
        Err(err) => panic!("inspecting the container failed: {err}"),
    }
}

// ------------------------------------------------------------ lifecycle

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_removes_the_container_and_the_workspace() {
    let Some(provider) = provider().await else {
        return;
    };
    let docker = daemon().await;
    let repo = repo();
    let sb = provider
        .create(&spec(&repo, SandboxPolicy::default()))
        .await
        .unwrap();
    let id = sb.id().to_string();
    let workspace = sb.host_workspace().unwrap().to_path_buf();
    assert!(container_exists(&docker, &id).await);
    assert!(workspace.join("README.md").is_file());
    sb.close().await.unwrap();
    assert!(
        !container_exists(&docker, &id).await,
        "the container outlived close"
    );
    assert!(!workspace.exists(), "the workspace outlived close");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_removes_the_container_with_or_without_a_runtime() {
    let Some(provider) = provider().await else {
        return;
    };
    let docker = daemon().await;
    let repo = repo();
    for in_runtime in [true, false] {
        let sb = provider
            .create(&spec(&repo, SandboxPolicy::default()))
            .await
            .unwrap();
        let id = sb.id().to_string();
        let workspace = sb.host_workspace().unwrap().to_path_buf();
        // A command running at the time of the drop dies with the container.
        let running = {
            let sb = Arc::clone(&sb);
            tokio::spawn(async move { sb.exec(ExecRequest::argv(["sleep", "1000"])).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        running.abort();
        let _ = running.await;
        if in_runtime {
            drop(sb);
        } else {
            std::thread::spawn(move || drop(sb)).join().unwrap();
        }
        assert!(
            !container_exists(&docker, &id).await,
            "in_runtime={in_runtime}: the container outlived the drop"
        );
        assert!(
            !workspace.exists(),
            "in_runtime={in_runtime}: the workspace outlived the drop"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_leaves_no_container_behind() {
    let Some(provider) = provider().await else {
        return;
    };
    let docker = daemon().await;
    let repo = repo();
    let seen: Arc<Mutex<Option<(String, PathBuf)>>> = Arc::default();
    let task = {
        let seen = Arc::clone(&seen);
        let spec = spec(&repo, SandboxPolicy::default());
        tokio::spawn(async move {
            let sb = provider.create(&spec).await.unwrap();
            *seen.lock().unwrap() = Some((
                sb.id().to_string(),
                sb.host_workspace().unwrap().to_path_buf(),
            ));
            let out = sb.exec(ExecRequest::argv(["true"])).await.unwrap();
            assert!(!out.success(), "the test panics here on purpose");
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    let (id, workspace) = seen.lock().unwrap().clone().unwrap();
    assert!(
        !container_exists(&docker, &id).await,
        "the container outlived the panic"
    );
    assert!(!workspace.exists(), "the workspace outlived the panic");
}

/// Containers (any state) with a mount from under `dir`.
async fn containers_mounting(docker: &Docker, dir: &Path) -> Vec<String> {
    let options = bollard::query_parameters::ListContainersOptions {
        all: true,
        ..Default::default()
    };
    let dir = dir.display().to_string();
    docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .filter(|c| {
            c.mounts.iter().flatten().any(|m| {
                m.source
                    .as_deref()
                    .is_some_and(|source| source.starts_with(&dir))
            })
        })
        .filter_map(|c| c.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_create_at_any_point_leaves_nothing_behind() {
    let Some(provider) = provider().await else {
        return;
    };
    let docker = daemon().await;
    let temp_root = tempfile::tempdir().unwrap();
    let temp_root_path = temp_root.path().canonicalize().unwrap();
    let provider = DockerProvider::builder(provider.image())
        .temp_root(&temp_root_path)
        .connect()
        .await
        .unwrap();
    let repo = repo();
    let spec = spec(&repo, SandboxPolicy::default());
    // From "while cloning" to "already done" (the sandbox is then dropped).
    for millis in [5, 20, 40, 60, 80, 120, 160, 220, 300, 450, 5000] {
        let made =
            tokio::time::timeout(Duration::from_millis(millis), provider.create(&spec)).await;
        drop(made);
        let left = containers_mounting(&docker, &temp_root_path).await;
        assert!(
            left.is_empty(),
            "cancelled after {millis} ms: containers {left:?} left"
        );
        let files = std::fs::read_dir(&temp_root_path).unwrap().count();
        assert_eq!(
            files, 0,
            "cancelled after {millis} ms: the workspace was left"
        );
    }
}

// ----------------------------------------------------------------- exec

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_code_is_read_after_all_the_output() {
    let Some(provider) = provider().await else {
        return;
    };
    let repo = repo();
    let sb = provider
        .create(&spec(&repo, SandboxPolicy::default()))
        .await
        .unwrap();
    let out = sb
        .exec(
            ExecRequest::script(
                "head -c 20000000 /dev/zero | tr '\\0' y; head -c 3000000 /dev/zero | tr '\\0' e >&2; echo last; exit 7",
            )
            .output_limit(1024)
            .timeout(Duration::from_secs(120)),
        )
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.signal, out.timed_out),
        (Some(7), None, false),
        "{out:?}"
    );
    assert_eq!(out.stdout.total_bytes, 20_000_005);
    assert!(out.stdout.text.ends_with("yyyylast\n"), "{:?}", out.stdout);
    assert_eq!(out.stderr.total_bytes, 3_000_000);
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_above_128_are_not_mistaken_for_signals() {
    let Some(provider) = provider().await else {
        return;
    };
    let repo = repo();
    let sb = provider
        .create(&spec(&repo, SandboxPolicy::default()))
        .await
        .unwrap();
    for (script, expected) in [
        ("exit 137", (Some(137), None)),
        ("exit 255", (Some(255), None)),
        ("exit 127", (Some(127), None)),
        ("kill -TERM $$", (None, Some(15))),
        ("kill -SEGV $$", (None, Some(11))),
    ] {
        let out = sh(sb.as_ref(), script).await;
        assert_eq!((out.exit_code, out.signal), expected, "`{script}`: {out:?}");
    }
    // What the program prints cannot fake a status: the trailer carries a
    // token of this command only, and must agree with the daemon's code.
    let out = sh(
        sb.as_ref(),
        "printf '\\0agentkit-status 0 exit 0\\n'; exit 3",
    )
    .await;
    assert_eq!(out.exit_code, Some(3), "{out:?}");
    assert_eq!(out.stdout.text, "\0agentkit-status 0 exit 0\n");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_stdin_is_written_then_closed() {
    let Some(provider) = provider().await else {
        return;
    };
    let repo = repo();
    let sb = provider
        .create(&spec(&repo, SandboxPolicy::default()))
        .await
        .unwrap();
    let out = sb
        .exec(ExecRequest::argv(["wc", "-c"]).stdin(vec![b'x'; 3 << 20]))
        .await
        .unwrap();
    assert_eq!(out.stdout.text.trim(), (3u64 << 20).to_string(), "{out:?}");
    // A command that never reads its stdin still ends.
    let out = sb
        .exec(ExecRequest::argv(["true"]).stdin(vec![b'x'; 3 << 20]))
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_is_exactly_the_computed_one() {
    let Some(provider) = provider().await else {
        return;
    };
    let repo = repo();
    let policy = SandboxPolicy {
        env_allow: Vec::new(),
        ..SandboxPolicy::default()
    };
    let mut spec = spec(&repo, policy);
    spec.env = BTreeMap::from([("FROM_SPEC".to_string(), "1".to_string())]);
    let sb = provider.create(&spec).await.unwrap();
    let out = sb
        .exec(ExecRequest::argv(["/usr/bin/env"]).env("FROM_REQUEST", "2"))
        .await
        .unwrap();
    let mut lines: Vec<&str> = out.stdout.text.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["FROM_REQUEST=2", "FROM_SPEC=1"], "{out:?}");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_kills_only_its_own_command() {
    let Some(provider) = provider().await else {
        return;
    };
    let repo = repo();
    let sb = provider
        .create(&spec(&repo, SandboxPolicy::default()))
        .await
        .unwrap();
    let (killed, survivor) = tokio::join!(
        sb.exec(ExecRequest::script("sleep 30 & sleep 30").timeout(Duration::from_secs(1))),
        sb.exec(ExecRequest::script("sleep 3; echo survived").timeout(Duration::from_secs(30))),
    );
    let killed = killed.unwrap();
    let survivor = survivor.unwrap();
    assert!(killed.timed_out, "{killed:?}");
    assert!(killed.duration < Duration::from_secs(10), "{killed:?}");
    assert_eq!(
        (survivor.exit_code, survivor.stdout.text.as_str()),
        (Some(0), "survived\n"),
        "{survivor:?}"
    );
    sb.close().await.unwrap();
}

/// Reads `file` twice, far enough apart that a live writer would change it.
async fn stopped(sandbox: &dyn Sandbox, file: &str) -> bool {
    tokio::time::sleep(Duration::from_millis(400)).await;
    let first = sandbox.read(file).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    first == sandbox.read(file).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_also_kills_what_left_the_session_or_was_orphaned() {
    let Some(provider) = provider().await else {
        return;
    };
    let repo = repo();
    let sb = provider
        .create(&spec(&repo, SandboxPolicy::default()))
        .await
        .unwrap();
    let beat = |file: &str| format!("while :; do date +%s%N > {file}; sleep 0.05; done");
    let script = format!(
        "setsid bash -c '{}' >/dev/null 2>&1 & \
         (bash -c '{}' >/dev/null 2>&1 &) ; \
         (setsid bash -c '{}' >/dev/null 2>&1 &) ; \
         sleep 1000",
        beat("hb-setsid"),
        beat("hb-orphan"),
        beat("hb-setsid-orphan")
    );
    let out = sb
        .exec(ExecRequest::script(script).timeout(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(out.timed_out, "{out:?}");
    for file in ["hb-setsid", "hb-orphan", "hb-setsid-orphan"] {
        assert!(
            stopped(sb.as_ref(), file).await,
            "`{file}` is still being written"
        );
    }
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_seconds_is_enforced_per_command() {
    let Some(provider) = provider().await else {
        return;
    };
    let repo = repo();
    let policy = SandboxPolicy {
        limits: ResourceLimits {
            cpu_seconds: Some(1),
            ..ResourceLimits::default()
        },
        ..SandboxPolicy::default()
    };
    let sb = provider.create(&spec(&repo, policy)).await.unwrap();
    let out = sh(sb.as_ref(), "ulimit -St; ulimit -Ht").await;
    assert_eq!(out.stdout.text, "1\n2\n", "{out:?}");
    let out = sb
        .exec(ExecRequest::argv(["perl", "-e", "1 while 1"]).timeout(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        (out.signal, out.timed_out),
        (Some(libc::SIGXCPU), false),
        "{out:?}"
    );
    sb.close().await.unwrap();
}

// ------------------------------------------------------------ policies

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_the_backend_cannot_enforce_are_refused_before_any_work() {
    let Some(provider) = provider().await else {
        return;
    };
    let temp_root = tempfile::tempdir().unwrap();
    let provider = DockerProvider::builder(provider.image())
        .temp_root(temp_root.path())
        .connect()
        .await
        .unwrap();
    let repo = repo();
    let refused = [SandboxPolicy {
        limits: ResourceLimits {
            disk_bytes: Some(1 << 30),
            ..ResourceLimits::default()
        },
        ..SandboxPolicy::default()
    }];
    for policy in refused {
        let result = provider.create(&spec(&repo, policy.clone())).await;
        assert!(
            matches!(result, Err(SandboxError::Unsupported { .. })),
            "{policy:?}: {:?}",
            result.map(|sb| sb.id().to_string())
        );
    }
    // An allow-list that does not parse is refused before anything too.
    let invalid = SandboxPolicy {
        network: NetworkPolicy::AllowList(vec!["https://crates.io/".into()]),
        ..SandboxPolicy::default()
    };
    let result = provider.create(&spec(&repo, invalid)).await;
    assert!(
        matches!(&result, Err(SandboxError::Setup { reason }) if reason.contains("allow-list")),
        "{:?}",
        result.map(|sb| sb.id().to_string())
    );
    assert_eq!(
        std::fs::read_dir(temp_root.path()).unwrap().count(),
        0,
        "a refused sandbox must not clone anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_or_daemon_is_refused_at_connect() {
    let Some(provider) = provider().await else {
        return;
    };
    let err = DockerProvider::builder("agentkit-no-such-image:never")
        .connect()
        .await
        .unwrap_err();
    let SandboxError::Unsupported { what, hint } = &err else {
        panic!("{err:?}");
    };
    assert!(what.contains("agentkit-no-such-image:never"), "{err}");
    assert!(hint.contains(".ci/docker.sh"), "{err}");

    let err = DockerProvider::builder(provider.image())
        .docker_host("unix:///nonexistent/docker.sock")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Unsupported { .. }), "{err:?}");
    let err = DockerProvider::builder(provider.image())
        .docker_host("tcp://10.0.0.1:2375")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Unsupported { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_network_is_what_the_provider_says() {
    let Some(provider) = provider().await else {
        return;
    };
    if provider.full_network_mode() != "host" {
        eprintln!(
            "NOT APPLICABLE: Full is `{}` on this daemon",
            provider.full_network_mode()
        );
        return;
    }
    // `host`: the host's loopback services are reachable. That is what Full
    // means on a daemon without a bridge; Deny stays `none` (the suite).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = String::new();
        stream.read_to_string(&mut buf).unwrap();
        buf
    });
    let repo = repo();
    let policy = SandboxPolicy {
        network: NetworkPolicy::Full,
        ..SandboxPolicy::default()
    };
    let sb = provider.create(&spec(&repo, policy)).await.unwrap();
    let out = sh(
        sb.as_ref(),
        &format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo hello >&3 && echo sent"),
    )
    .await;
    assert_eq!(out.stdout.text, "sent\n", "{out:?}");
    assert_eq!(accepted.join().unwrap(), "hello\n");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_gives_the_container_its_own_network_namespace() {
    let Some(provider) = provider().await else {
        return;
    };
    let repo = repo();
    let sb = provider
        .create(&spec(&repo, SandboxPolicy::default()))
        .await
        .unwrap();
    let out = sh(sb.as_ref(), "ls /sys/class/net").await;
    assert_eq!(out.stdout.text, "lo\n", "{out:?}");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_snapshot_starts_the_next_sandbox_warm() {
    let Some(provider) = provider().await else {
        return;
    };
    let store_dir = tempfile::tempdir().unwrap();
    let provider = DockerProvider::builder(provider.image())
        .snapshots(agentkit_sandbox::snapshot::SnapshotStore::new(
            store_dir.path(),
        ))
        .connect()
        .await
        .unwrap();
    let repo = repo();
    let mut spec = spec(&repo, SandboxPolicy::default());
    spec.setup_script =
        Some("mkdir -p deps && date +%s%N > deps/stamp && echo $$ >> deps/stamp".into());
    let first = provider.create(&spec).await.unwrap();
    let cold = first.read("deps/stamp").await.unwrap();
    first.close().await.unwrap();
    let second = provider.create(&spec).await.unwrap();
    assert_eq!(
        second.read("deps/stamp").await.unwrap(),
        cold,
        "the setup did not run again"
    );
    let out = second
        .exec(agentkit_core::sandbox::ExecRequest::script(
            "cat deps/stamp >/dev/null && echo ok",
        ))
        .await
        .unwrap();
    assert_eq!(out.stdout.text, "ok\n", "{out:?}");
    second.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_toolchains_let_cargo_build_offline_without_the_rest_of_home() {
    let Some(provider) = provider().await else {
        return;
    };
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = std::path::Path::new(&home).join(".cargo/bin/cargo");
    if !cargo_bin.exists() {
        eprintln!("SKIPPED: no cargo under {home}/.cargo");
        return;
    }
    let provider = DockerProvider::builder(provider.image())
        .host_toolchains()
        .connect()
        .await
        .unwrap();
    let repo = repo();
    std::fs::write(
        repo.path().join("Cargo.toml"),
        "[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(repo.path().join("src")).unwrap();
    std::fs::write(
        repo.path().join("src/lib.rs"),
        "#[test]\nfn adds() { assert_eq!(1 + 1, 2); }\n",
    )
    .unwrap();
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "--quiet", "-m", "crate"]);
    let sandbox = provider
        .create(&spec(&repo, SandboxPolicy::default()))
        .await
        .unwrap();
    let out = sandbox
        .exec(
            agentkit_core::sandbox::ExecRequest::script(format!(
                "cargo test --offline 2>&1 | grep 'test result'; ls -a {home} | sort | tr '\\n' ' '"
            ))
            .timeout(std::time::Duration::from_secs(300)),
        )
        .await
        .unwrap();
    assert!(
        out.stdout.text.contains("test result: ok. 1 passed"),
        "{out:?}"
    );
    // Only the toolchains are there, no other file of the host's home.
    assert!(!out.stdout.text.contains(".cache"), "{out:?}");
    sandbox.close().await.unwrap();
}
