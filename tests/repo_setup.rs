//! A repository's declared setup through a whole job (`FixIssue`, the
//! `local` sandbox, the local forge, a scripted model): a failing setup and
//! a missing toolchain end the run with `StopReason::EnvironmentBroken`
//! before any model call and without a pull request; a working one is in
//! the transcript and in the pull request's body.

use std::path::Path;
use std::sync::Arc;

use agentkit::core::CancellationToken;
use agentkit::core::environment::{EnvironmentPhase, SetupSource};
use agentkit::core::event::{Event, MemorySink};
use agentkit::core::model::Model;
use agentkit::core::outcome::{Outcome, StopReason};
use agentkit::core::sandbox::OutputStream;
use agentkit::core::scripted::ScriptedModel;
use agentkit::core::task::{RepoRef, Task};
use agentkit::job::FixIssue;
use agentkit::sandbox::local::LocalProvider;
use serde_json::{Value, json};

mod support;
use support::python::{FIXED, finish, repo, write};

struct Run {
    outcome: Outcome,
    model: Arc<ScriptedModel>,
    events: Vec<Event>,
    bodies: Vec<String>,
}

async fn run(repo: &Path, turns: Vec<Value>) -> Run {
    let model =
        Arc::new(ScriptedModel::from_json(&Value::Array(turns).to_string(), "test").unwrap());
    let task = Task::new(
        "ENV-1",
        "Fix add",
        "add() subtracts.",
        RepoRef::new(repo.display().to_string()),
    );
    let mut job = FixIssue::new(repo, task, model.clone() as Arc<dyn Model>);
    job.provider = Some(Arc::new(LocalProvider::new()));
    job.forge_dir = Some(repo.join(".git/forge-state"));
    let caches = tempfile::tempdir().unwrap();
    job.setup.cache_root = Some(caches.path().to_path_buf());
    let sink = Arc::new(MemorySink::new());
    job.sinks.push(sink.clone());
    let forge = job.forge().unwrap();
    let outcome = job.run(CancellationToken::new()).await.unwrap();
    let bodies = forge
        .list_pull_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|pr| pr.body)
        .collect();
    Run {
        outcome,
        model,
        events: sink.events(),
        bodies,
    }
}

fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_failing_setup_stops_the_run_before_the_model_with_no_pull_request() {
    let dir = repo(&[(
        ".agentkit/setup.sh",
        "echo installing dependencies\necho 'error: the registry is unreachable' >&2\nexit 7\n",
    )]);
    let run = run(
        dir.path(),
        vec![json!({"tool_calls": [write("calc.py", FIXED)]})],
    )
    .await;
    assert_eq!(
        run.outcome.stop_reason,
        StopReason::EnvironmentBroken {
            phase: EnvironmentPhase::Setup,
            exit: Some(7),
            timed_out: false,
            tail: "installing dependencies\nerror: the registry is unreachable".into(),
        }
    );
    assert_eq!(
        (
            run.model.turns_used(),
            run.bodies.len(),
            run.outcome.pull_request.is_none()
        ),
        (0, 0, true)
    );
    // The setup's output was in the transcript as it ran, then the report.
    assert_eq!(
        kinds(&run.events),
        [
            "setup_output",
            "setup_output",
            "environment_ready",
            "run_finished"
        ]
    );
    let mut live: Vec<(OutputStream, String)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::SetupOutput { stream, text } => Some((*stream, text.clone())),
            _ => None,
        })
        .collect();
    live.sort();
    assert_eq!(
        live,
        [
            (
                OutputStream::Stdout,
                "installing dependencies\n".to_string()
            ),
            (
                OutputStream::Stderr,
                "error: the registry is unreachable\n".to_string()
            ),
        ]
    );
    let Event::EnvironmentReady { report } = &run.events[2] else {
        unreachable!()
    };
    assert_eq!(
        (report.source, report.exit, report.backend.as_str()),
        (Some(SetupSource::RepoScript), Some(7), "local")
    );
}

#[tokio::test]
async fn a_missing_toolchain_is_reported_before_the_model_starts() {
    let dir = repo(&[(
        ".agentkit/policy.toml",
        "[setup]\nneeds = [\"python3\", \"agentkit-no-such-toolchain\"]\n",
    )]);
    let run = run(dir.path(), vec![json!({"tool_calls": [finish()]})]).await;
    let StopReason::EnvironmentBroken {
        phase,
        exit,
        timed_out,
        tail,
    } = &run.outcome.stop_reason
    else {
        panic!(
            "expected a broken environment, got {:?}",
            run.outcome.stop_reason
        );
    };
    assert_eq!(
        (*phase, *exit, *timed_out),
        (EnvironmentPhase::Toolchains, None, false)
    );
    assert!(
        tail.starts_with(
            "the repository needs `agentkit-no-such-toolchain` but the local sandbox has no such program on its PATH (found: "
        ),
        "{tail}"
    );
    assert_eq!((run.model.turns_used(), run.bodies.len()), (0, 0));
    assert_eq!(
        kinds(&run.events),
        [
            "run_started",
            "environment_ready",
            "checkpointed",
            "run_finished"
        ]
    );
}

#[tokio::test]
async fn a_working_setup_is_in_the_transcript_and_the_pull_request() {
    let dir = repo(&[
        (
            ".agentkit/setup.sh",
            "echo deps > .deps-ready\necho setup done\n",
        ),
        (".gitignore", ".deps-ready\n"),
        (".agentkit/policy.toml", "[setup]\nneeds = [\"python3\"]\n"),
    ]);
    let run = run(
        dir.path(),
        vec![
            json!({"tool_calls": [write("calc.py", FIXED)]}),
            json!({"tool_calls": [finish()]}),
        ],
    )
    .await;
    assert!(
        run.outcome.stop_reason.is_success(),
        "{:?}",
        run.outcome.stop_reason
    );
    let ready = run
        .events
        .iter()
        .find_map(|e| match e {
            Event::EnvironmentReady { report } => Some(report.clone()),
            _ => None,
        })
        .unwrap();
    // Live first, before the report.
    let first_live = run
        .events
        .iter()
        .position(|e| matches!(e, Event::SetupOutput { .. }));
    let ready_at = run
        .events
        .iter()
        .position(|e| matches!(e, Event::EnvironmentReady { .. }));
    assert!(first_live < ready_at, "{:?}", kinds(&run.events));
    assert_eq!(
        run.events[first_live.unwrap()],
        Event::SetupOutput {
            stream: OutputStream::Stdout,
            text: "setup done\n".into()
        }
    );
    assert_eq!(
        (
            ready.source,
            ready.exit,
            ready.output.as_str(),
            ready.missing()
        ),
        (
            Some(SetupSource::RepoScript),
            Some(0),
            "setup done",
            Vec::<String>::new()
        )
    );
    let body = &run.bodies[0];
    assert!(
        body.contains(
            "## Environment\n\n- Setup: from the repository's .agentkit/setup.sh; ran in "
        ),
        "{body}"
    );
    assert!(
        body.contains("- Sandbox: `local`\n- Toolchains:\n"),
        "{body}"
    );
    assert!(body.contains("  - `python3`: Python 3."), "{body}");
}
