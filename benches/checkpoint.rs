//! What resumable checkpoints cost per step.
//!
//! - `checkpoint/encode`: a run state of 40 messages plus a workspace diff
//!   into the stored byte format (every step pays this).
//! - `checkpoint/capture`: the workspace's changes taken out of a `local`
//!   sandbox (one `sh` + git command, one file read): paid only after turns
//!   that ran a mutating tool.
//! - `checkpoint/create_and_restore`: a fresh clone with the diff applied
//!   (once per resume; compare with `sandbox_local` for the clone alone).

use std::sync::Arc;

use agentkit::core::agent::workspace;
use agentkit::core::checkpoint::{RunCheckpoint, WorkspaceCapture};
use agentkit::core::engine::{Engine, EngineConfig};
use agentkit::core::prelude::*;
use agentkit::sandbox::local::LocalProvider;
use criterion::{Criterion, criterion_group, criterion_main};

fn git(dir: &std::path::Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=b", "-c", "user.email=b@b"])
        .args(args)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

fn checkpoint(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let repo = tempfile::tempdir().unwrap();
    for i in 0..200 {
        let body = format!("// file {i}\n{}", "fn f() {}\n".repeat(50));
        std::fs::write(repo.path().join(format!("f{i}.rs")), body).unwrap();
    }
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "start"]);
    let provider = LocalProvider::new();
    let spec = SandboxSpec::new(repo.path().display().to_string());
    let sandbox: Arc<dyn Sandbox> = rt.block_on(provider.create(&spec)).unwrap();
    let base = rt
        .block_on(agentkit::core::handover::current_base(sandbox.as_ref()))
        .unwrap()
        .0;
    rt.block_on(sandbox.write("f3.rs", b"fn changed() {}\n"))
        .unwrap();
    rt.block_on(sandbox.write("new/notes.md", &"a note\n".repeat(100).into_bytes()))
        .unwrap();

    let mut group = c.benchmark_group("checkpoint");
    group.bench_function("capture", |b| {
        b.iter(|| {
            rt.block_on(workspace::capture(sandbox.as_ref(), &base))
                .unwrap()
        })
    });
    let patch = rt
        .block_on(workspace::capture(sandbox.as_ref(), &base))
        .unwrap();
    println!("diff: {} bytes", patch.len());

    let task = Task::new("B-1", "bench", "bench", RepoRef::new("."));
    let mut engine = Engine::new(EngineConfig::default(), task, "go".into());
    for i in 0..20 {
        let reply = format!(
            r#"[{{"text":"step {i}","tool_calls":[{{"name":"read_file","arguments":{{"path":"f{i}.rs"}}}}]}}]"#
        );
        let model = ScriptedModel::from_json(&reply, "bench").unwrap();
        let Step::CallModel(request) = engine.next_step() else {
            unreachable!()
        };
        let response = rt.block_on(model.complete(*request)).unwrap();
        engine.on_model_response(response);
        engine.on_tool_result(
            0,
            agentkit::core::engine::ToolCallOutcome::Output {
                content: "fn f() {}\n".repeat(50),
                is_error: false,
            },
        );
    }
    let state = engine.state().clone();
    let capture = WorkspaceCapture::Changes {
        base_commit: base.clone(),
        patch: patch.clone(),
    };
    let bytes = RunCheckpoint::encode(&state, &capture).unwrap();
    println!(
        "checkpoint: {} messages, {} bytes",
        state.messages.len(),
        bytes.len()
    );
    group.bench_function("encode", |b| {
        b.iter(|| RunCheckpoint::encode(&state, &capture).unwrap())
    });
    group.bench_function("decode", |b| {
        b.iter(|| RunCheckpoint::decode(&state.task.id, &bytes).unwrap())
    });
    group.sample_size(10);
    group.bench_function("create_and_restore", |b| {
        b.iter(|| {
            let fresh = rt.block_on(provider.create(&spec)).unwrap();
            rt.block_on(workspace::restore(fresh.as_ref(), &base, &patch))
                .unwrap();
            rt.block_on(fresh.close()).unwrap();
        })
    });
    group.finish();
    rt.block_on(sandbox.close()).unwrap();
}

criterion_group!(benches, checkpoint);
criterion_main!(benches);
