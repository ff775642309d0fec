//! Behaviour specific to the `bwrap` backend, beyond the shared suite: the
//! probe, the setup script running inside, exact statuses through
//! bubblewrap, what is hidden and re-exposed, and that nothing outlives a
//! command. (Argument building and the policy check against an injected
//! probe are unit tests in the crate.)

#![cfg(all(feature = "bwrap", target_os = "linux"))]

mod common;

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::sandbox::{
    ExecRequest, NetworkPolicy, Sandbox, SandboxError, SandboxProvider, SandboxSpec,
};
use agentkit_sandbox::bwrap::BwrapProvider;
use common::{BWRAP_FIX, available, sh};

fn provider() -> Option<BwrapProvider> {
    available("bwrap", BwrapProvider::new(), BWRAP_FIX)
}

fn repo() -> TempDir {
    common::one_commit_repo()
}

fn spec(repo: &TempDir) -> SandboxSpec {
    common::spec(repo, Default::default())
}
use tempfile::TempDir;

#[test]
fn the_probe_says_what_is_enforced() {
    let Some(provider) = provider() else { return };
    let probe = provider.probe();
    assert!(probe.bwrap.is_absolute(), "{probe:?}");
    assert!(probe.version.starts_with("bubblewrap"), "{probe:?}");
    assert!(probe.network_deny.is_enforced());
    assert!(probe.network_full.is_enforced());
    assert!(probe.cpu_seconds.is_enforced());
    assert!(probe.network_allow_list.is_enforced(), "{probe}");
    let shown = probe.to_string();
    let labels: Vec<&str> = shown
        .lines()
        .skip(1)
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        labels,
        [
            "isolation",
            "nested user namespaces",
            "network deny",
            "network full",
            "network allow-list",
            "pids",
            "memory",
            "cpu seconds",
            "disk"
        ],
        "{shown}"
    );
    eprintln!("{shown}");
}

#[tokio::test]
async fn the_setup_script_runs_inside_and_cannot_write_outside() {
    let Some(provider) = provider() else { return };
    let repo = repo();
    let outside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    let o = outside.path().display();
    let marker = format!("/etc/agentkit-setup-{}", std::process::id());
    let script = format!(
        "(echo pwned > {o}/secret.txt) 2>/dev/null || echo blocked-outside >> setup.log; \
         (touch {marker}) 2>/dev/null || echo blocked-etc >> setup.log; \
         hostname >> setup.log; \
         cat /proc/self/status | grep -c '^CapEff:\t0000000000000000' >> setup.log"
    );
    let sandbox = provider
        .create(&spec(&repo).setup_script(script))
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(sandbox.read("setup.log").await.unwrap()).unwrap(),
        "blocked-outside\nblocked-etc\nagentkit\n1\n"
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
        "secret"
    );
    assert!(!Path::new(&marker).exists());
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn a_failing_setup_script_is_a_setup_error_and_leaves_nothing_behind() {
    let Some(provider) = provider() else { return };
    let root = tempfile::tempdir().unwrap();
    let provider = provider.with_temp_root(root.path());
    let repo = repo();
    let Err(err) = provider
        .create(&spec(&repo).setup_script("echo about to fail >&2; exit 4"))
        .await
    else {
        panic!("a failing setup script made a sandbox");
    };
    let SandboxError::SetupFailed { report } = err else {
        panic!("expected a failed setup, got {err:?}");
    };
    assert_eq!(
        (
            report.exit,
            report.timed_out,
            report.output.as_str(),
            report.source
        ),
        (
            Some(4),
            false,
            "about to fail",
            Some(agentkit_core::environment::SetupSource::Operator)
        )
    );
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn statuses_are_exact_through_bubblewrap() {
    let Some(provider) = provider() else { return };
    let repo = repo();
    let sandbox = provider.create(&spec(&repo)).await.unwrap();
    // bubblewrap alone would turn the second into exit 143 and the first
    // into a signal-less 137.
    let out = sh(sandbox.as_ref(), "exit 137").await;
    assert_eq!((out.exit_code, out.signal), (Some(137), None));
    let out = sh(sandbox.as_ref(), "kill -TERM $$").await;
    assert_eq!((out.exit_code, out.signal), (None, Some(libc::SIGTERM)));
    // A program that prints bubblewrap's error message ran: that is data.
    let out = sandbox
        .exec(ExecRequest::script(
            "echo 'bwrap: execvp nope: No such file or directory' >&2; exit 1",
        ))
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(1));
    // A file that is not executable is a spawn error, as in the local backend.
    sandbox.write("data.txt", b"not a program").await.unwrap();
    let err = sandbox
        .exec(ExecRequest::argv(["./data.txt"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Spawn { reason } if reason.contains("not executable")),
        "{err:?}"
    );
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn nothing_outlives_its_command_even_after_a_normal_exit() {
    let Some(provider) = provider() else { return };
    let repo = repo();
    let sandbox = provider.create(&spec(&repo)).await.unwrap();
    let out = sh(
        sandbox.as_ref(),
        "setsid nohup bash -c 'while true; do date +%s%N > beat; sleep 0.05; done' \
         >/dev/null 2>&1 < /dev/null & sleep 0.3; echo started",
    )
    .await;
    assert_eq!(out.stdout.text, "started\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = sandbox.read("beat").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sandbox.read("beat").await.unwrap(), first);
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn host_descriptors_and_secrets_do_not_reach_commands() {
    let Some(provider) = provider() else { return };
    // A descriptor this process leaves inheritable (no O_CLOEXEC).
    let leaked = std::fs::File::open("/etc/hostname").unwrap();
    // SAFETY: clears FD_CLOEXEC on a descriptor this test owns.
    unsafe {
        libc::fcntl(leaked.as_raw_fd(), libc::F_SETFD, 0);
    }
    // Under the masked home, re-exposed read-only, with one file hidden.
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    let visible = tempfile::tempdir_in(home).unwrap();
    std::fs::write(visible.path().join("tool.txt"), "tool").unwrap();
    std::fs::write(visible.path().join("token.txt"), "token").unwrap();
    let provider = provider
        .with_read_only(visible.path())
        .with_hidden(visible.path().join("token.txt"));
    let repo = repo();
    let sandbox = provider.create(&spec(&repo)).await.unwrap();
    let v = visible.path().display();
    let out = sh(
        sandbox.as_ref(),
        &format!(
            "ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; \
             cat {v}/tool.txt; echo; cat {v}/token.txt; echo; \
             (echo x > {v}/tool.txt) 2>/dev/null || echo read-only; \
             echo shadow-bytes=$(cat /etc/shadow 2>/dev/null | wc -c); \
             ls -A /run | wc -l"
        ),
    )
    .await;
    // 0-2, plus the descriptor `ls` opens to read the directory.
    assert_eq!(
        out.stdout.text, "0 1 2 3 \ntool\n\nread-only\nshadow-bytes=0\n0\n",
        "{out:?}"
    );
    drop(leaked);
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn a_policy_adds_read_only_paths_to_the_view() {
    let Some(provider) = provider() else { return };
    let extra = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(extra.path().join("data.txt"), "shared data\n").unwrap();
    let repo = repo();
    let script = format!(
        "cat {e}/data.txt 2>/dev/null || echo absent; (echo x > {e}/data.txt) 2>/dev/null || echo read-only",
        e = extra.path().display()
    );
    let plain = provider.create(&spec(&repo)).await.unwrap();
    let out = sh(plain.as_ref(), &script).await;
    assert_eq!(out.stdout.text, "absent\nread-only\n", "{out:?}");
    plain.close().await.unwrap();

    let mut with_extra = spec(&repo);
    with_extra.policy.read_only_paths = vec![extra.path().display().to_string()];
    let sandbox = provider.create(&with_extra).await.unwrap();
    let out = sh(sandbox.as_ref(), &script).await;
    assert_eq!(out.stdout.text, "shared data\nread-only\n", "{out:?}");
    sandbox.close().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(extra.path().join("data.txt")).unwrap(),
        "shared data\n"
    );
}

#[tokio::test]
async fn git_dir_cannot_be_swapped_for_one_with_other_hooks() {
    let Some(provider) = provider() else { return };
    let repo = repo();
    let sandbox = provider.create(&spec(&repo)).await.unwrap();
    let out = sh(
        sandbox.as_ref(),
        "mv .git .git-old 2>&1 | grep -c busy; rm -rf .git/hooks 2>/dev/null; \
         test -d .git/hooks && echo hooks-kept",
    )
    .await;
    assert_eq!(out.stdout.text, "1\nhooks-kept\n", "{out:?}");
    assert_eq!(
        sandbox.stat(".git/config").await.unwrap().kind,
        agentkit_core::sandbox::FileKind::File
    );
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn full_network_shares_the_hosts_loopback() {
    let Some(provider) = provider() else { return };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let repo = repo();
    let mut spec = spec(&repo);
    spec.policy.network = NetworkPolicy::Full;
    let sandbox = provider.create(&spec).await.unwrap();
    let out = sh(
        sandbox.as_ref(),
        &format!("(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo connected"),
    )
    .await;
    assert_eq!(out.stdout.text, "connected\n", "{out:?}");
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn an_invalid_allow_list_is_refused_before_anything_starts() {
    let Some(provider) = provider() else { return };
    let repo = repo();
    let mut spec = spec(&repo);
    spec.policy.network = NetworkPolicy::AllowList(vec!["https://crates.io/".into()]);
    let Err(err) = provider.create(&spec).await else {
        panic!("an invalid allow-list made a sandbox");
    };
    assert!(
        matches!(&err, SandboxError::Setup { reason } if reason.contains("allow-list")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_setup_script_fetches_through_the_allow_list() {
    let Some(provider) = provider() else { return };
    // A server this test starts on the host's loopback, and the only entry.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().flatten().take(1) {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\ndep 1.0.0",
            );
        }
    });
    let repo = repo();
    let mut spec = spec(&repo);
    spec.policy.network = NetworkPolicy::AllowList(vec![format!("127.0.0.1:{port}")]);
    spec.setup_script = Some(format!(
        "curl -sf -m 10 http://127.0.0.1:{port}/dep > fetched.txt"
    ));
    let sandbox = provider.create(&spec).await.unwrap();
    assert_eq!(sandbox.read("fetched.txt").await.unwrap(), b"dep 1.0.0");
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn close_removes_the_workspace_and_the_cgroups() {
    let Some(provider) = provider() else { return };
    if !provider.probe().pids.is_enforced() {
        eprintln!("SKIPPED: no pids cgroup here");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let provider = provider.with_temp_root(root.path());
    let repo = repo();
    let mut spec = spec(&repo);
    spec.policy.limits.pids = Some(32);
    spec.policy.limits.cpu_seconds = Some(1);
    let sandbox: Arc<dyn Sandbox> = provider.create(&spec).await.unwrap();
    let out = sh(
        sandbox.as_ref(),
        "ulimit -t; perl -e 'my $n = 0; for (1..100) { my $p = fork(); last unless defined $p; \
         if ($p == 0) { sleep 2; exit 0 } $n++ } print \"$n\\n\"'",
    )
    .await;
    let mut lines = out.stdout.text.lines();
    assert_eq!(lines.next(), Some("1"), "{out:?}");
    let started: u32 = lines.next().and_then(|n| n.parse().ok()).unwrap();
    assert!(
        (20..32).contains(&started),
        "{started} under pids 32: {out:?}"
    );
    let busy = sandbox
        .exec(ExecRequest::script("while :; do :; done").timeout(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        (busy.exit_code, busy.signal, busy.timed_out),
        (None, Some(libc::SIGXCPU), false)
    );
    sandbox.close().await.unwrap();
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_nul_byte_in_the_environment_cannot_smuggle_in_bubblewrap_options() {
    let Some(provider) = provider() else { return };
    let repo = repo();
    let sandbox = provider.create(&spec(&repo)).await.unwrap();
    let marker = format!("/etc/agentkit-nul-{}", std::process::id());
    let err = sandbox
        .exec(ExecRequest::script(format!("touch {marker}")).env("X", "a\0--bind\0/\0/"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Spawn { reason } if reason.contains("NUL")),
        "{err:?}"
    );
    assert!(!Path::new(&marker).exists());
    sandbox.close().await.unwrap();
}

/// Host processes whose command line contains `marker`.
fn host_processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) && !cmdline.contains("bash -c") {
                found.push(format!("{name}: {cmdline}"));
            }
        }
    }
    found
}

/// Starts sleepers named `marker` in every way a command can try to
/// outlive its group: background job, grandchild, `nohup`, `setsid`.
fn escapees(marker: &str) -> String {
    format!(
        "exec -a {marker} sleep 1000 & \
         ( exec -a {marker} sleep 1000 & ) ; \
         nohup bash -c 'exec -a {marker} sleep 1000' >/dev/null 2>&1 & \
         setsid bash -c 'exec -a {marker} sleep 1000' >/dev/null 2>&1 < /dev/null & \
         sleep 1000"
    )
}

async fn none_left(marker: &str) -> Vec<String> {
    for _ in 0..50 {
        let left = host_processes_with(marker);
        if left.is_empty() {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    host_processes_with(marker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_namespace_dies_on_timeout_on_drop_and_on_close() {
    let Some(provider) = provider() else { return };
    let repo = repo();
    let sandbox = provider.create(&spec(&repo)).await.unwrap();
    let tag = format!("agentkit-escapee-{}", std::process::id());

    let marker = format!("{tag}-timeout");
    let out = sandbox
        .exec(ExecRequest::script(escapees(&marker)).timeout(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(out.timed_out, "{out:?}");
    assert_eq!(none_left(&marker).await, Vec::<String>::new());

    let marker = format!("{tag}-drop");
    {
        let exec = sandbox.exec(ExecRequest::script(escapees(&marker)));
        let _ = tokio::time::timeout(Duration::from_millis(800), exec).await;
    }
    assert_eq!(none_left(&marker).await, Vec::<String>::new());

    let marker = format!("{tag}-close");
    let running = {
        let sandbox = sandbox.clone();
        let script = escapees(&marker);
        tokio::spawn(async move { sandbox.exec(ExecRequest::script(script)).await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !host_processes_with(&marker).is_empty(),
        "the sleepers never started"
    );
    sandbox.close().await.unwrap();
    let _ = running.await;
    assert_eq!(none_left(&marker).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_setup_snapshot_starts_the_next_sandbox_warm() {
    let Some(provider) = provider() else { return };
    let store_dir = tempfile::tempdir().unwrap();
    let provider = provider.with_snapshots(agentkit_sandbox::snapshot::SnapshotStore::new(
        store_dir.path(),
    ));
    let repo = repo();
    let mut spec = spec(&repo);
    spec.setup_script = Some(
        "mkdir -p deps && date +%s%N > deps/stamp && echo $RANDOM$RANDOM >> deps/stamp".into(),
    );
    let first = provider.create(&spec).await.unwrap();
    let cold = first.read("deps/stamp").await.unwrap();
    first.close().await.unwrap();
    let second = provider.create(&spec).await.unwrap();
    assert_eq!(
        second.read("deps/stamp").await.unwrap(),
        cold,
        "the setup did not run again"
    );
    // The restored workspace is a working sandbox, protected paths included.
    let out = second
        .exec(agentkit_core::sandbox::ExecRequest::script(
            "git status --short >/dev/null && echo ok; echo x >> .git/config 2>/dev/null || echo protected",
        ))
        .await
        .unwrap();
    assert_eq!(out.stdout.text, "ok\nprotected\n", "{out:?}");
    second.close().await.unwrap();
}
