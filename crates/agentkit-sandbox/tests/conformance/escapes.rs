//! The file API (required of every backend) and escapes through commands
//! (required of backends that claim the isolation in question).

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentkit_core::sandbox::{
    ExecRequest, NetworkPolicy, ResourceLimits, Sandbox, SandboxError, SandboxPolicy,
};

use super::*;

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

/// A directory planted outside every place a sandbox may see: under the
/// build's temporary directory (in the checkout, not `/tmp`) and under
/// `/var/tmp` — neither is a system directory, a toolchain or the workspace.
fn planted_dirs() -> Vec<tempfile::TempDir> {
    let mut dirs = vec![
        tempfile::Builder::new()
            .prefix("agentkit-canary-view-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap(),
    ];
    if let Ok(dir) = tempfile::Builder::new()
        .prefix("agentkit-canary-view-")
        .tempdir_in("/var/tmp")
    {
        dirs.push(dir);
    }
    for dir in &dirs {
        std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    }
    dirs
}

pub async fn commands_see_only_the_allowed_view(h: &Harness) {
    let case = "commands_see_only_the_allowed_view";
    if !h.isolation.filesystem {
        return h.not_applicable(case, "commands run with the host user's file access");
    }
    let f = Fixture::new();
    let planted = planted_dirs();
    let sb = h.default_sandbox(&f).await;
    let mut script = String::new();
    for dir in &planted {
        let dir = dir.path().display();
        script.push_str(&format!(
            "cat {dir}/secret.txt; test -e {dir} && echo visible: {dir}; "
        ));
    }
    script.push_str("echo done");
    let out = sh(sb.as_ref(), &script).await;
    assert!(out.stdout.text.ends_with("done\n"), "{}: {out:?}", h.name);
    assert!(
        !out.stdout.text.contains(SECRET) && !out.stdout.text.contains("visible:"),
        "{}: a host directory outside the allowed view is visible: {}",
        h.name,
        out.stdout.text
    );
    // The usual tools still work in the narrowed view.
    let tools = sh(
        sb.as_ref(),
        "git --version && sh -c 'echo ok' && ls /usr/bin >/dev/null && echo tools-ok",
    )
    .await;
    assert!(
        tools.stdout.text.contains("tools-ok"),
        "{}: {tools:?}",
        h.name
    );
    sb.close().await.unwrap();
}

pub async fn commands_cannot_read_another_sandboxs_workspace(h: &Harness) {
    let case = "commands_cannot_read_another_sandboxs_workspace";
    if !h.isolation.filesystem {
        return h.not_applicable(case, "commands run with the host user's file access");
    }
    let f = Fixture::new();
    let a = h.default_sandbox(&f).await;
    let b = h.default_sandbox(&f).await;
    let Some(a_ws) = a.host_workspace().map(Path::to_path_buf) else {
        a.close().await.unwrap();
        b.close().await.unwrap();
        return h.not_applicable(case, "the backend has no host workspace to aim at");
    };
    a.write("other-secret.txt", SECRET.as_bytes())
        .await
        .unwrap();
    let out = sh(
        b.as_ref(),
        &format!(
            "cat {w}/other-secret.txt; test -e {w} && echo visible; echo pwned > {w}/other-secret.txt; echo done",
            w = a_ws.display()
        ),
    )
    .await;
    assert!(out.stdout.text.ends_with("done\n"), "{}: {out:?}", h.name);
    assert!(
        !out.stdout.text.contains(SECRET) && !out.stdout.text.contains("visible"),
        "{}: another sandbox's workspace is visible: {}",
        h.name,
        out.stdout.text
    );
    assert_eq!(a.read("other-secret.txt").await.unwrap(), SECRET.as_bytes());
    a.close().await.unwrap();
    b.close().await.unwrap();
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
