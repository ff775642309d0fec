//! One conformance and escape suite for every sandbox backend.
//!
//! A backend's test file builds a [`Harness`] (its provider and what it
//! claims to isolate) and expands [`conformance_suite!`], which makes one
//! test per case. The cases fall in three groups:
//!
//! - **exec semantics**, required of every backend: exit codes and signals,
//!   streams, stdin, environment, working directory, timeouts and
//!   cancellation that kill the whole process tree, output caps;
//! - **the file API**, required of every backend: paths outside the
//!   workspace, symlinks leading out, protected paths;
//! - **escapes through commands**, required of backends that claim the
//!   isolation in question ([`Isolation`]): writing and reading outside the
//!   workspace, host secrets, protected paths, the host's loopback, listed and
//!   unlisted hosts, fork bombs, memory hogs, disk fill, privileges, other
//!   processes. A case that does not apply says so on stderr and passes:
//!   what a backend does not isolate is documented in its module and in the
//!   README's table, and the flags here are that table.
//!
//! Every escape case asserts both that the attempt failed *and* that the host
//! is unchanged: the canary directory outside the workspace has the same
//! files with the same contents, and listeners saw zero connections.
//!
//! Network cases only ever connect to listeners the test itself started on
//! 127.0.0.0/8.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentkit_core::sandbox::{
    ExecRequest, NetworkPolicy, ResourceLimits, Sandbox, SandboxError, SandboxPolicy,
    SandboxProvider, SandboxSpec,
};
use tempfile::TempDir;

pub use crate::common::{git, sh};

/// What a backend claims to enforce. Each flag turns on the escape cases
/// that test it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Isolation {
    /// Commands cannot read or write host files outside the workspace, and
    /// the protected paths are read-only to them.
    pub filesystem: bool,
    /// `NetworkPolicy::Deny` is enforced: no connection leaves the sandbox.
    pub network: bool,
    /// `NetworkPolicy::AllowList` is enforced through a proxy.
    pub allow_list: bool,
    /// `limits.pids` holds (for root too).
    pub pids: bool,
    /// `limits.memory_bytes` holds.
    pub memory: bool,
    /// `limits.disk_bytes` holds for the workspace.
    pub disk: bool,
    /// Commands run without capabilities and with `no_new_privs`.
    pub privileges: bool,
    /// Commands cannot see or signal host processes.
    pub processes: bool,
}

/// A backend under test.
pub struct Harness {
    /// The backend's name, for messages.
    pub name: &'static str,
    /// Creates the sandboxes.
    pub provider: Arc<dyn SandboxProvider>,
    /// What it claims to isolate.
    pub isolation: Isolation,
}

/// Expands to one `#[tokio::test]` per case, each calling `$harness()` (an
/// `async fn() -> Option<Harness>`; `None` skips, after the harness said why).
#[macro_export]
macro_rules! conformance_suite {
    ($harness:path) => {
        $crate::conformance_cases!(
            $harness;
            exit_codes_streams_and_signals,
            argv_runs_without_a_shell_and_a_missing_program_is_a_spawn_error,
            stdin_environment_and_working_directory,
            host_environment_does_not_leak_in,
            files_written_by_commands_and_by_the_file_api_are_the_same_files,
            timeout_kills_the_whole_process_tree,
            dropping_the_exec_future_kills_the_process_tree,
            sleep_infinity_times_out,
            output_cap_keeps_head_and_tail,
            an_output_flood_is_capped_and_counted,
            close_kills_running_commands_and_later_calls_fail,
            file_api_refuses_paths_outside_the_workspace,
            file_api_refuses_symlinks_leading_out,
            file_api_protects_git_hooks_and_config,
            commands_cannot_write_outside_the_workspace,
            commands_cannot_read_host_files_or_secrets,
            commands_cannot_escape_through_symlinks,
            commands_cannot_change_protected_paths,
            commands_cannot_reach_a_host_listener_under_deny,
            allow_list_reaches_listed_hosts_only,
            a_fork_bomb_is_contained,
            a_memory_hog_is_stopped,
            a_disk_fill_is_stopped,
            privileges_are_dropped,
            host_processes_are_invisible,
        );
    };
}

#[macro_export]
macro_rules! conformance_cases {
    ($harness:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(harness) = $harness().await else {
                    return;
                };
                conformance::$case(&harness).await;
            }
        )*
    };
}

// ------------------------------------------------------------- fixtures

/// A source repository to clone, and a canary directory outside it.
pub struct Fixture {
    _repo: TempDir,
    _outside: TempDir,
    /// The repository the provider clones.
    pub repo: PathBuf,
    /// A directory outside every workspace, with a secret in it.
    pub outside: PathBuf,
    canary: Vec<(String, Vec<u8>)>,
}

/// The secret in the canary directory.
pub const SECRET: &str = "canary-secret-4f1c9e";

impl Fixture {
    pub fn new() -> Self {
        let repo_dir = tempfile::tempdir().unwrap();
        let repo = repo_dir.path().to_path_buf();
        git(&repo, &["init", "--quiet"]);
        git(&repo, &["symbolic-ref", "HEAD", "refs/heads/main"]);
        std::fs::create_dir_all(repo.join("src")).unwrap();
        std::fs::write(repo.join("README.md"), "# fixture\n").unwrap();
        std::fs::write(repo.join("src/lib.rs"), "pub fn one() -> u32 { 1 }\n").unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "fixture"]);
        let outside_dir = tempfile::tempdir().unwrap();
        let outside = outside_dir.path().canonicalize().unwrap();
        std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
        std::fs::create_dir(outside.join("dir")).unwrap();
        std::fs::write(outside.join("dir/inner.txt"), SECRET).unwrap();
        let mut fixture = Self {
            _repo: repo_dir,
            _outside: outside_dir,
            repo,
            outside,
            canary: Vec::new(),
        };
        fixture.canary = fixture.snapshot();
        fixture
    }

    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        walk(&self.outside, &self.outside, &mut files);
        files.sort();
        files
    }

    /// Panics when anything under the canary directory changed.
    pub fn assert_outside_unchanged(&self, case: &str) {
        assert_eq!(
            self.snapshot(),
            self.canary,
            "{case}: the directory outside the workspace changed"
        );
    }

    /// The spec for this fixture with `policy`.
    pub fn spec(&self, policy: SandboxPolicy) -> SandboxSpec {
        let mut spec = SandboxSpec::new(self.repo.display().to_string());
        spec.policy = policy;
        spec
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.push((format!("{rel}/"), Vec::new()));
            walk(root, &path, out);
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            out.push((
                format!("{rel} ->"),
                target.display().to_string().into_bytes(),
            ));
        } else {
            out.push((rel, std::fs::read(&path).unwrap()));
        }
    }
}

impl Harness {
    /// A sandbox of this backend for `fixture`, with `policy`.
    pub async fn sandbox(&self, fixture: &Fixture, policy: SandboxPolicy) -> Arc<dyn Sandbox> {
        self.provider
            .create(&fixture.spec(policy))
            .await
            .unwrap_or_else(|e| panic!("{}: create failed: {e}", self.name))
    }

    /// A sandbox with the default policy.
    pub async fn default_sandbox(&self, fixture: &Fixture) -> Arc<dyn Sandbox> {
        self.sandbox(fixture, SandboxPolicy::default()).await
    }

    /// Says that `case` does not apply and why (the test passes).
    fn not_applicable(&self, case: &str, why: &str) {
        eprintln!("NOT APPLICABLE to {}: {case}: {why}", self.name);
    }
}

/// A TCP listener on `ip` that counts connections and bytes, never answers.
pub struct Listener {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub bytes: Arc<AtomicUsize>,
}

impl Listener {
    pub fn start(ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicUsize::new(0));
        let (c, b) = (connections.clone(), bytes.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let b = b.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        b.fetch_add(n, Ordering::SeqCst);
                    }
                });
            }
        });
        Self {
            port,
            connections,
            bytes,
        }
    }

    pub fn untouched(&self) -> bool {
        self.connections.load(Ordering::SeqCst) == 0 && self.bytes.load(Ordering::SeqCst) == 0
    }
}

/// A small HTTP server on `ip` answering every request with `body`.
pub struct HttpServer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
}

impl HttpServer {
    pub fn start(ip: &str, body: &'static str) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let r = requests.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                r.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { port, requests }
    }
}

/// Reads a heartbeat file twice, far enough apart that a live writer would
/// have changed it; `true` when it did not change (the writer is dead).
async fn heartbeat_stopped(sandbox: &dyn Sandbox, file: &str) -> bool {
    tokio::time::sleep(Duration::from_millis(400)).await;
    let first = sandbox.read(file).await.unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = sandbox.read(file).await.unwrap_or_default();
    first == second
}

/// A script that starts heartbeat writers: a background job, a grandchild
/// in a subshell, a `nohup`ed one, then blocks.
const HEARTBEATS: &str = r#"
beat() { while true; do date +%s%N > "$1"; sleep 0.05; done; }
beat hb-job &
( beat hb-grandchild & ) 
nohup bash -c 'while true; do date +%s%N > hb-nohup; sleep 0.05; done' >/dev/null 2>&1 &
sleep 1000
"#;

const HEARTBEAT_FILES: [&str; 3] = ["hb-job", "hb-grandchild", "hb-nohup"];

async fn wait_for_heartbeats(sandbox: &dyn Sandbox) {
    for _ in 0..200 {
        let mut all = true;
        for file in HEARTBEAT_FILES {
            all &= sandbox.read(file).await.is_ok();
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the heartbeat writers never started");
}

// ------------------------------------------------------- exec semantics

pub async fn exit_codes_streams_and_signals(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sh(sb.as_ref(), "echo out; echo err >&2; exit 3").await;
    assert_eq!(out.exit_code, Some(3), "{}: {out:?}", h.name);
    assert_eq!(out.stdout.text, "out\n");
    assert_eq!(out.stderr.text, "err\n");
    assert!(!out.timed_out && !out.success());

    let out = sh(sb.as_ref(), "echo fine").await;
    assert!(out.success(), "{}: {out:?}", h.name);

    let out = sh(sb.as_ref(), "kill -KILL $$").await;
    assert_eq!(
        (out.exit_code, out.signal),
        (None, Some(9)),
        "{}: a command killed by a signal reports the signal: {out:?}",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn argv_runs_without_a_shell_and_a_missing_program_is_a_spawn_error(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(ExecRequest::argv(["printf", "%s|", "a b", "$HOME", "*"]))
        .await
        .unwrap();
    assert_eq!(out.stdout.text, "a b|$HOME|*|", "{}: {out:?}", h.name);
    let err = sb
        .exec(ExecRequest::argv(["definitely-not-a-program-7c1a"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SandboxError::Spawn { .. }),
        "{}: a missing program must be a spawn error, got {err:?}",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn stdin_environment_and_working_directory(h: &Harness) {
    let f = Fixture::new();
    let mut spec_env = BTreeMap::new();
    spec_env.insert("FROM_SPEC".to_string(), "spec-value".to_string());
    let mut spec = f.spec(SandboxPolicy::default());
    spec.env = spec_env;
    let sb = h.provider.create(&spec).await.unwrap();
    let out = sb
        .exec(
            ExecRequest::script(
                "cat; echo; echo \"$FROM_SPEC $FROM_REQUEST\"; basename \"$PWD\"; cat lib.rs",
            )
            .stdin(b"line from stdin".to_vec())
            .env("FROM_REQUEST", "request-value")
            .cwd("src"),
        )
        .await
        .unwrap();
    assert_eq!(
        out.stdout.text,
        "line from stdin\nspec-value request-value\nsrc\npub fn one() -> u32 { 1 }\n",
        "{}: {out:?}",
        h.name
    );
    let err = sb
        .exec(ExecRequest::script("pwd").cwd("../.."))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SandboxError::OutsideWorkspace { .. }),
        "{}: {err:?}",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn host_environment_does_not_leak_in(h: &Harness) {
    // Cargo sets these for every test process; none is on the allow-list.
    let leaks: Vec<String> = ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .collect();
    assert!(!leaks.is_empty(), "the test process has cargo's variables");
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sh(sb.as_ref(), "env").await;
    assert!(out.success());
    for leak in leaks {
        assert!(
            !out.stdout.text.contains(&leak),
            "{}: the host variable value `{leak}` leaked into the sandbox",
            h.name
        );
    }
    sb.close().await.unwrap();
}

pub async fn files_written_by_commands_and_by_the_file_api_are_the_same_files(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    sb.write("notes/from-api.txt", b"api\n").await.unwrap();
    let out = sh(
        sb.as_ref(),
        "cat notes/from-api.txt; printf 'cmd\\n' > notes/from-cmd.txt",
    )
    .await;
    assert_eq!(out.stdout.text, "api\n", "{}", h.name);
    assert_eq!(sb.read("notes/from-cmd.txt").await.unwrap(), b"cmd\n");
    let names: Vec<String> = sb
        .list("notes")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(names, vec!["notes/from-api.txt", "notes/from-cmd.txt"]);
    assert_eq!(
        sb.read("README.md").await.unwrap(),
        b"# fixture\n",
        "the clone is there"
    );
    sb.remove("notes/from-cmd.txt").await.unwrap();
    let out = sh(sb.as_ref(), "test -e notes/from-cmd.txt; echo $?").await;
    assert_eq!(out.stdout.text, "1\n");
    sb.close().await.unwrap();
}

pub async fn timeout_kills_the_whole_process_tree(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(ExecRequest::script(HEARTBEATS).timeout(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(out.timed_out, "{}: {out:?}", h.name);
    for file in HEARTBEAT_FILES {
        assert!(
            heartbeat_stopped(sb.as_ref(), file).await,
            "{}: `{file}` is still being written after the timeout",
            h.name
        );
    }
    assert!(sh(sb.as_ref(), "echo alive").await.success());
    sb.close().await.unwrap();
}

pub async fn dropping_the_exec_future_kills_the_process_tree(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    {
        let exec = sb.exec(ExecRequest::script(HEARTBEATS).timeout(Duration::from_secs(120)));
        let _ = tokio::time::timeout(Duration::from_secs(2), exec).await;
    }
    wait_for_heartbeats(sb.as_ref()).await;
    for file in HEARTBEAT_FILES {
        assert!(
            heartbeat_stopped(sb.as_ref(), file).await,
            "{}: `{file}` is still being written after the call was dropped",
            h.name
        );
    }
    sb.close().await.unwrap();
}

pub async fn sleep_infinity_times_out(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(ExecRequest::argv(["sleep", "infinity"]).timeout(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(out.timed_out, "{}: {out:?}", h.name);
    assert_eq!(out.exit_code, None);
    sb.close().await.unwrap();
}

pub async fn output_cap_keeps_head_and_tail(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(ExecRequest::argv(["seq", "1", "200000"]).output_limit(4096))
        .await
        .unwrap();
    let expected: String = (1..=200000).map(|n| format!("{n}\n")).collect();
    assert!(out.success());
    assert!(out.stdout.truncated, "{}", h.name);
    assert_eq!(out.stdout.total_bytes, expected.len() as u64);
    assert!(out.stdout.text.starts_with("1\n2\n3\n"), "{}", h.name);
    assert!(out.stdout.text.ends_with("199999\n200000\n"), "{}", h.name);
    assert!(out.stdout.text.len() < 4096 + 200, "{}", h.name);
    sb.close().await.unwrap();
}

pub async fn an_output_flood_is_capped_and_counted(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sb
        .exec(
            ExecRequest::script("head -c 50000000 /dev/zero | tr '\\0' x; echo done >&2")
                .output_limit(64 * 1024)
                .timeout(Duration::from_secs(120)),
        )
        .await
        .unwrap();
    assert!(out.success(), "{}: {out:?}", h.name);
    assert_eq!(out.stdout.total_bytes, 50_000_000);
    assert!(out.stdout.truncated);
    assert!(out.stdout.text.len() < 64 * 1024 + 200);
    assert_eq!(out.stderr.text, "done\n");
    sb.close().await.unwrap();
}

pub async fn close_kills_running_commands_and_later_calls_fail(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let running = {
        let sb = sb.clone();
        tokio::spawn(async move {
            sb.exec(ExecRequest::argv(["sleep", "1000"]).timeout(Duration::from_secs(600)))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    sb.close().await.unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap_or_else(|_| panic!("{}: close left a command running", h.name))
        .unwrap();
    match finished {
        Ok(out) => assert!(!out.success(), "{}: {out:?}", h.name),
        Err(e) => assert!(matches!(e, SandboxError::Gone { .. }), "{}: {e:?}", h.name),
    }
    let err = sb.exec(ExecRequest::argv(["true"])).await.unwrap_err();
    assert!(
        matches!(err, SandboxError::Gone { .. }),
        "{}: {err:?}",
        h.name
    );
    assert!(matches!(
        sb.read("README.md").await,
        Err(SandboxError::Gone { .. })
    ));
}

// ------------------------------------------------------------ file API

pub async fn file_api_refuses_paths_outside_the_workspace(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let outside_file = f.outside.join("secret.txt").display().to_string();
    for path in ["../x", "a/../../x", "/etc/passwd", outside_file.as_str()] {
        assert!(
            matches!(
                sb.read(path).await,
                Err(SandboxError::OutsideWorkspace { .. })
            ),
            "{}: read `{path}`",
            h.name
        );
        assert!(
            matches!(
                sb.write(path, b"pwned").await,
                Err(SandboxError::OutsideWorkspace { .. })
            ),
            "{}: write `{path}`",
            h.name
        );
        assert!(
            matches!(
                sb.remove(path).await,
                Err(SandboxError::OutsideWorkspace { .. })
            ),
            "{}: remove `{path}`",
            h.name
        );
    }
    f.assert_outside_unchanged("file API");
    sb.close().await.unwrap();
}

pub async fn file_api_refuses_symlinks_leading_out(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let outside = f.outside.display();
    let out = sh(
        sb.as_ref(),
        &format!(
            "ln -s {outside}/secret.txt leak-file && ln -s {outside} leak-dir && ln -s ../../.. up"
        ),
    )
    .await;
    assert!(out.success(), "{}: {out:?}", h.name);
    for path in ["leak-file", "leak-dir/secret.txt", "up/etc/passwd"] {
        match sb.read(path).await {
            Err(SandboxError::OutsideWorkspace { .. }) => {}
            other => panic!("{}: read `{path}` gave {other:?}", h.name),
        }
    }
    for path in ["leak-file", "leak-dir/new.txt", "leak-dir/secret.txt"] {
        assert!(
            sb.write(path, b"pwned").await.is_err(),
            "{}: write `{path}` went through",
            h.name
        );
    }
    f.assert_outside_unchanged("symlinks via the file API");
    sb.close().await.unwrap();
}

pub async fn file_api_protects_git_hooks_and_config(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    for path in [".git/hooks/pre-commit", ".git/config", ".git/hooks"] {
        let write = sb.write(path, b"#!/bin/sh\ntouch /tmp/pwned\n").await;
        assert!(
            matches!(write, Err(SandboxError::Protected { .. })),
            "{}: write `{path}` gave {write:?}",
            h.name
        );
        let remove = sb.remove(path).await;
        assert!(
            matches!(remove, Err(SandboxError::Protected { .. })),
            "{}: remove `{path}` gave {remove:?}",
            h.name
        );
    }
    sb.close().await.unwrap();
}

// ------------------------------------------------- escapes via commands

pub async fn commands_cannot_write_outside_the_workspace(h: &Harness) {
    let case = "commands_cannot_write_outside_the_workspace";
    if !h.isolation.filesystem {
        return h.not_applicable(case, "commands run with the host user's file access");
    }
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let marker = format!("/etc/agentkit-escape-{}", std::process::id());
    let out = sh(
        sb.as_ref(),
        &format!(
            "echo pwned >> {o}/secret.txt; echo pwned > {o}/new.txt; rm -rf {o}/dir; \
             touch {marker}; touch /usr/agentkit-escape; echo done",
            o = f.outside.display()
        ),
    )
    .await;
    let escaped = [Path::new(&marker), Path::new("/usr/agentkit-escape")]
        .iter()
        .filter(|p| p.exists())
        .map(|p| {
            let _ = std::fs::remove_file(p);
            p.display().to_string()
        })
        .collect::<Vec<_>>();
    assert_eq!(out.stdout.text, "done\n", "{}: {out:?}", h.name);
    f.assert_outside_unchanged(case);
    assert!(
        escaped.is_empty(),
        "{}: wrote {escaped:?} on the host",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn commands_cannot_read_host_files_or_secrets(h: &Harness) {
    let case = "commands_cannot_read_host_files_or_secrets";
    if !h.isolation.filesystem {
        return h.not_applicable(case, "commands run with the host user's file access");
    }
    let f = Fixture::new();
    // Something shaped like ~/.ssh in the host user's home.
    let home = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()));
    let ssh = home.join(format!(".agentkit-canary-ssh-{}", std::process::id()));
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("id_ed25519"), SECRET).unwrap();
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(ssh.clone());
    let sb = h.default_sandbox(&f).await;
    let out = sh(
        sb.as_ref(),
        &format!(
            "cat {o}/secret.txt {o}/dir/inner.txt {s}/id_ed25519; ls -la {h}; env; echo done",
            o = f.outside.display(),
            s = ssh.display(),
            h = home.display()
        ),
    )
    .await;
    assert!(out.stdout.text.ends_with("done\n"), "{}: {out:?}", h.name);
    assert!(
        !out.stdout.text.contains(SECRET),
        "{}: a host secret was readable: {}",
        h.name,
        out.stdout.text
    );
    assert!(
        !out.stdout.text.contains(".agentkit-canary-ssh"),
        "{}: the host home is listable",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn commands_cannot_escape_through_symlinks(h: &Harness) {
    let case = "commands_cannot_escape_through_symlinks";
    if !h.isolation.filesystem {
        return h.not_applicable(case, "commands run with the host user's file access");
    }
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sh(
        sb.as_ref(),
        &format!(
            "ln -s {o}/secret.txt l; cat l; echo pwned > l; ln -s {o} d; echo pwned > d/new; \
             ln -s / root; cat root{o}/secret.txt; echo done",
            o = f.outside.display()
        ),
    )
    .await;
    assert!(out.stdout.text.ends_with("done\n"), "{}: {out:?}", h.name);
    assert!(!out.stdout.text.contains(SECRET), "{}: {out:?}", h.name);
    f.assert_outside_unchanged(case);
    sb.close().await.unwrap();
}

pub async fn commands_cannot_change_protected_paths(h: &Harness) {
    let case = "commands_cannot_change_protected_paths";
    if !h.isolation.filesystem {
        return h.not_applicable(case, "commands can write anything the host user can");
    }
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let before_config = sb.read(".git/config").await.unwrap();
    let before_hooks = names(sb.as_ref(), ".git/hooks").await;
    let out = sh(
        sb.as_ref(),
        &format!(
            "echo '[core] hooksPath = {o}' >> .git/config; \
             printf '#!/bin/sh\\necho pwned\\n' > .git/hooks/post-checkout; \
             chmod +x .git/hooks/post-checkout; \
             rm -rf .git/hooks; mv .git/hooks .git/hooks-old; ln -sfn {o} .git/hooks; \
             mv .git/config .git/config-old; ln -s {o}/evil-config .git/config; \
             git config core.hooksPath {o}; echo done",
            o = f.outside.display()
        ),
    )
    .await;
    f.assert_outside_unchanged(case);
    assert!(out.stdout.text.ends_with("done\n"), "{}: {out:?}", h.name);
    assert_eq!(
        sb.read(".git/config").await.unwrap(),
        before_config,
        "{}: .git/config changed",
        h.name
    );
    let hooks = sb.stat(".git/hooks").await.unwrap();
    assert_eq!(
        hooks.kind,
        agentkit_core::sandbox::FileKind::Dir,
        "{}: .git/hooks was replaced",
        h.name
    );
    assert_eq!(
        names(sb.as_ref(), ".git/hooks").await,
        before_hooks,
        "{}",
        h.name
    );
    sb.close().await.unwrap();
}

async fn names(sb: &dyn Sandbox, dir: &str) -> Vec<String> {
    sb.list(dir)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.path)
        .collect()
}

pub async fn commands_cannot_reach_a_host_listener_under_deny(h: &Harness) {
    let case = "commands_cannot_reach_a_host_listener_under_deny";
    if !h.isolation.network {
        return h.not_applicable(case, "commands share the host's network");
    }
    let listener = Listener::start("127.0.0.1");
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sh(
        sb.as_ref(),
        &format!(
            "(exec 3<>/dev/tcp/127.0.0.1/{p} && echo connected && echo hello >&3) 2>/dev/null; \
             curl -s -m 3 http://127.0.0.1:{p}/ && echo curl-connected; echo done",
            p = listener.port
        ),
    )
    .await;
    assert_eq!(out.stdout.text, "done\n", "{}: {out:?}", h.name);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        listener.untouched(),
        "{}: the host listener saw a connection",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn allow_list_reaches_listed_hosts_only(h: &Harness) {
    let case = "allow_list_reaches_listed_hosts_only";
    if !h.isolation.allow_list {
        return h.not_applicable(case, "the backend does not enforce allow-lists");
    }
    let allowed = HttpServer::start("127.0.0.1", "hello from the allowed host");
    let unlisted = Listener::start("127.0.0.2");
    let f = Fixture::new();
    let policy = SandboxPolicy {
        network: NetworkPolicy::AllowList(vec![format!("127.0.0.1:{}", allowed.port)]),
        ..SandboxPolicy::default()
    };
    let sb = h.sandbox(&f, policy).await;
    let out = sh(
        sb.as_ref(),
        &format!(
            "curl -s -m 10 http://127.0.0.1:{a}/; echo; \
             curl -s -m 10 -o /dev/null -w 'unlisted:%{{http_code}}\\n' http://127.0.0.2:{u}/; \
             curl -s -m 5 --noproxy '*' http://127.0.0.2:{u}/ && echo direct-connected; \
             (exec 3<>/dev/tcp/127.0.0.2/{u} && echo raw-connected) 2>/dev/null; echo done",
            a = allowed.port,
            u = unlisted.port
        ),
    )
    .await;
    let text = &out.stdout.text;
    assert!(
        text.starts_with("hello from the allowed host\n"),
        "{}: {out:?}",
        h.name
    );
    assert!(text.contains("unlisted:403"), "{}: {out:?}", h.name);
    assert!(!text.contains("connected"), "{}: {out:?}", h.name);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        unlisted.untouched(),
        "{}: the unlisted listener saw bytes",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn a_fork_bomb_is_contained(h: &Harness) {
    let case = "a_fork_bomb_is_contained";
    if !h.isolation.pids {
        return h.not_applicable(case, "the backend has no process-count limit for root");
    }
    let f = Fixture::new();
    let policy = SandboxPolicy {
        limits: ResourceLimits {
            pids: Some(64),
            ..ResourceLimits::default()
        },
        ..SandboxPolicy::default()
    };
    let sb = h.sandbox(&f, policy).await;
    // First a bounded probe: 200 sleepers cannot hurt a host, and they show
    // whether the limit holds before anything unbounded runs.
    // (perl, because bash retries a failed fork for seconds each time.)
    let probe = sh(
        sb.as_ref(),
        "perl -e 'my $n = 0; for (1..200) { my $p = fork(); last unless defined $p; \
         if ($p == 0) { sleep 3; exit 0 } $n++ } print \"started $n\\n\"'",
    )
    .await;
    let started: usize = probe
        .stdout
        .text
        .trim()
        .strip_prefix("started ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}: {probe:?}", h.name));
    assert!(
        started < 64,
        "{}: {started} processes started under a limit of 64; not running the fork bomb",
        h.name
    );
    // Only a sandbox with its own PID namespace can count its processes.
    let before = if h.isolation.processes {
        Some(live_processes(sb.as_ref()).await)
    } else {
        None
    };
    let out = sb
        .exec(
            ExecRequest::script("bomb() { bomb | bomb & }; bomb; sleep 5")
                .timeout(Duration::from_secs(8)),
        )
        .await
        .unwrap();
    // The shell itself may well exit 0: `sleep 5` usually gets its process
    // before the bomb fills the limit, and what a command leaves holding its
    // output is killed when it exits, its status kept (see exec.rs,
    // `exit_with_a_background_process_holding_output_returns_and_kills_it`).
    // Contained means: the bomb ran into the limit (or was stopped) ...
    assert!(
        out.timed_out
            || !out.success()
            || out.stderr.text.contains("Resource temporarily unavailable"),
        "{}: the bomb's forks were never refused: {out:?}",
        h.name
    );
    // ... and nothing of it runs once the call has returned.
    if let Some(before) = before {
        let after = live_processes(sb.as_ref()).await;
        assert!(
            after <= before,
            "{}: {after} processes run after the bomb, {before} before",
            h.name
        );
    }
    assert!(
        sh(sb.as_ref(), "echo alive").await.success(),
        "{}: the sandbox is unusable after the bomb",
        h.name
    );
    // The host can still start processes.
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
    sb.close().await.unwrap();
}

/// Processes (zombies excluded) the sandbox sees, except those of the
/// counting command's own session (which vary with scheduling).
async fn live_processes(sb: &dyn Sandbox) -> usize {
    let out = sh(
        sb,
        "me=$(cut -d' ' -f6 /proc/$$/stat); cat /proc/[0-9]*/stat 2>/dev/null | \
         awk -v me=\"$me\" '{ sub(/.*\\) /, \"\"); if ($1 != \"Z\" && $4 != me) n++ } END { print n + 0 }'",
    )
    .await;
    out.stdout
        .text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("counting processes failed: {out:?}"))
}

pub async fn a_memory_hog_is_stopped(h: &Harness) {
    let case = "a_memory_hog_is_stopped";
    if !h.isolation.memory {
        return h.not_applicable(case, "the backend has no memory limit");
    }
    let f = Fixture::new();
    let policy = SandboxPolicy {
        limits: ResourceLimits {
            memory_bytes: Some(256 << 20),
            ..ResourceLimits::default()
        },
        ..SandboxPolicy::default()
    };
    let sb = h.sandbox(&f, policy).await;
    let out = sb
        .exec(
            ExecRequest::script(
                "x=$(head -c 1200000000 /dev/zero | tr '\\0' x); echo allocated ${#x}",
            )
            .timeout(Duration::from_secs(120)),
        )
        .await
        .unwrap();
    assert!(
        !out.stdout.text.contains("allocated 1200000000"),
        "{}: 1.2 GB were allocated under a 256 MiB limit: {out:?}",
        h.name
    );
    assert!(sh(sb.as_ref(), "echo alive").await.success());
    sb.close().await.unwrap();
}

pub async fn a_disk_fill_is_stopped(h: &Harness) {
    let case = "a_disk_fill_is_stopped";
    if !h.isolation.disk {
        return h.not_applicable(case, "the backend has no disk limit");
    }
    let f = Fixture::new();
    let policy = SandboxPolicy {
        limits: ResourceLimits {
            disk_bytes: Some(32 << 20),
            ..ResourceLimits::default()
        },
        ..SandboxPolicy::default()
    };
    let sb = h.sandbox(&f, policy).await;
    let out = sh(
        sb.as_ref(),
        "for i in 1 2 3 4 5 6 7 8; do dd if=/dev/zero of=fill$i bs=1M count=16 status=none || break; done; \
         du -sk . | cut -f1",
    )
    .await;
    let kib: u64 = out
        .stdout
        .text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}: {out:?}", h.name));
    assert!(
        kib <= (40 << 10),
        "{}: the workspace grew to {kib} KiB under a 32 MiB limit",
        h.name
    );
    assert!(
        sh(sb.as_ref(), "rm -f fill*; echo ok > small")
            .await
            .success()
    );
    sb.close().await.unwrap();
}

pub async fn privileges_are_dropped(h: &Harness) {
    let case = "privileges_are_dropped";
    if !h.isolation.privileges {
        return h.not_applicable(case, "commands run with the host user's privileges");
    }
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let out = sh(
        sb.as_ref(),
        "grep -E '^(NoNewPrivs|CapEff|CapPrm|CapBnd):' /proc/self/status; \
         mkdir -p mnt && mount -t tmpfs none ./mnt 2>/dev/null && echo mounted; \
         cp \"$(command -v id)\" ./suid-id && chmod u+s ./suid-id; ./suid-id -u; echo done",
    )
    .await;
    let text = &out.stdout.text;
    assert!(text.contains("NoNewPrivs:\t1"), "{}: {out:?}", h.name);
    assert!(
        text.contains("CapEff:\t0000000000000000"),
        "{}: {out:?}",
        h.name
    );
    assert!(!text.contains("mounted"), "{}: {out:?}", h.name);
    assert!(text.ends_with("done\n"), "{}: {out:?}", h.name);
    sb.close().await.unwrap();
}

pub async fn host_processes_are_invisible(h: &Harness) {
    let case = "host_processes_are_invisible";
    if !h.isolation.processes {
        return h.not_applicable(case, "commands see the host's processes");
    }
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let me = std::process::id();
    let exe = std::env::current_exe().unwrap();
    let exe_name = exe.file_name().unwrap().to_string_lossy().to_string();
    let out = sh(
        sb.as_ref(),
        &format!("cat /proc/{me}/cmdline 2>/dev/null; cat /proc/*/comm 2>/dev/null | sort -u; kill -0 {me} 2>/dev/null && echo signalled; echo done"),
    )
    .await;
    assert!(
        !out.stdout
            .text
            .contains(&exe_name[..exe_name.len().min(15)]),
        "{}: the test process is visible inside: {out:?}",
        h.name
    );
    assert!(
        !out.stdout.text.contains("signalled") || me < 100,
        "{}: {out:?}",
        h.name
    );
    sb.close().await.unwrap();
}
