//! The setup's output reaches `EnvironmentSpec::setup_output` while the
//! setup runs, not when it ends: the setup below waits (up to 10 s) for a
//! file that only the tap creates when it sees the setup's first line, and
//! says whether it came.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use agentkit_core::sandbox::{OutputStream, OutputTap, SandboxProvider, SandboxSpec};
use agentkit_sandbox::local::LocalProvider;

async fn the_setup_output_is_seen_while_it_runs(provider: &dyn SandboxProvider) {
    let repo = common::one_commit_repo();
    // Not under /tmp: docker binds no host path there.
    let gate = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let go = gate.path().join("go");
    let script = format!(
        "echo waiting\necho to-stderr >&2\n\
         for i in $(seq 100); do [ -f '{go}' ] && break; sleep 0.1; done\n\
         [ -f '{go}' ] && echo released || echo 'never released'\n",
        go = go.display()
    );
    let mut spec = SandboxSpec::new(repo.path().display().to_string()).setup_script(script);
    spec.policy.read_only_paths = vec![gate.path().display().to_string()];
    let seen: Arc<Mutex<Vec<(OutputStream, String)>>> = Arc::default();
    let (log, gate_file) = (Arc::clone(&seen), go.clone());
    spec.environment.setup_output = Some(OutputTap::new(move |stream, bytes| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        if text.contains("waiting") {
            std::fs::write(&gate_file, "go").unwrap();
        }
        log.lock().unwrap().push((stream, text));
    }));
    let sandbox = provider.create(&spec).await.unwrap();
    let report = sandbox.environment().unwrap();
    assert_eq!(
        (report.exit, report.output.as_str()),
        (Some(0), "waiting\nreleased\nto-stderr")
    );
    let seen = seen.lock().unwrap().clone();
    let joined = |want: OutputStream| -> String {
        seen.iter()
            .filter(|(s, _)| *s == want)
            .map(|(_, t)| t.as_str())
            .collect()
    };
    assert_eq!(
        (joined(OutputStream::Stdout), joined(OutputStream::Stderr)),
        ("waiting\nreleased\n".to_string(), "to-stderr\n".to_string())
    );
    assert!(Path::new(&go).exists());
    sandbox.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_streams_the_setup_output() {
    the_setup_output_is_seen_while_it_runs(&LocalProvider::new()).await;
}

#[cfg(all(feature = "bwrap", target_os = "linux"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bwrap_streams_the_setup_output() {
    let Some(provider) = common::bwrap() else {
        return;
    };
    the_setup_output_is_seen_while_it_runs(&provider).await;
}

#[cfg(all(feature = "docker", target_os = "linux"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_streams_the_setup_output() {
    let Some(provider) = common::docker().await else {
        return;
    };
    the_setup_output_is_seen_while_it_runs(&provider).await;
}
