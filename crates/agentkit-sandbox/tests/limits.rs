//! Resource limits are applied as rlimits to each command.

use std::collections::BTreeMap;
use std::time::Duration;

use agentkit_core::sandbox::{ExecRequest, ResourceLimits, Sandbox, SandboxPolicy};
use agentkit_sandbox::local::LocalSandbox;

fn sandbox_with(limits: ResourceLimits) -> (tempfile::TempDir, LocalSandbox) {
    let dir = tempfile::tempdir().unwrap();
    let policy = SandboxPolicy {
        limits,
        ..SandboxPolicy::default()
    };
    let sandbox = LocalSandbox::attach(dir.path(), policy, BTreeMap::new()).unwrap();
    (dir, sandbox)
}

#[tokio::test]
async fn limits_are_visible_to_the_command() {
    let (_dir, sandbox) = sandbox_with(ResourceLimits {
        cpu_seconds: Some(7),
        memory_bytes: Some(512 * 1024 * 1024),
        pids: Some(300),
        disk_bytes: None,
    });
    let out = sandbox
        .exec(ExecRequest::script("ulimit -t; ulimit -v; ulimit -u"))
        .await
        .unwrap();
    assert_eq!(out.stdout.text, "7\n524288\n300\n");
}

#[tokio::test]
async fn no_limits_means_unchanged_limits() {
    let (_dir, sandbox) = sandbox_with(ResourceLimits::default());
    let script = "ulimit -t; ulimit -v; ulimit -u";
    let out = sandbox.exec(ExecRequest::script(script)).await.unwrap();
    let host = std::process::Command::new("bash")
        .args(["-c", script])
        .output()
        .unwrap();
    assert_eq!(out.stdout.text, String::from_utf8_lossy(&host.stdout));
}

#[tokio::test]
async fn cpu_limit_stops_a_busy_loop() {
    let (_dir, sandbox) = sandbox_with(ResourceLimits {
        cpu_seconds: Some(1),
        ..ResourceLimits::default()
    });
    let out = sandbox
        .exec(ExecRequest::script("while :; do :; done").timeout(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.signal, out.timed_out),
        (None, Some(libc::SIGXCPU), false)
    );
}
