//! End to end, all on 127.0.0.1: a signed "issue labelled" webhook → the
//! trigger router → the task store → a core `Worker` running an agent with a
//! scripted model in a real local sandbox → `GitHubForge` pushes over git's
//! smart HTTP and opens a pull request on the fake GitHub → a signed review
//! comment webhook → revision 2, started from the agent's branch → the same
//! pull request, updated. A canary token seeded in the forge and the host
//! environment never reaches the sandbox, the transcript, the logs, the
//! commits or the pull request.
//!
//! (The `agentd` daemon is built in parallel; this routes through
//! `triggers::router` and the core `Worker`, which `agentd` mounts and runs.)

#![cfg(feature = "triggers")]

#[path = "../../agentkit-tools/tests/support/fake_github.rs"]
mod fake_github;

use std::sync::Arc;

use agentkit_core::CancellationToken;
use agentkit_core::agent::Agent;
use agentkit_core::event::MemorySink;
use agentkit_core::forge::{Forge, start_revision};
use agentkit_core::sandbox::SandboxSpec;
use agentkit_core::scripted::ScriptedModel;
use agentkit_core::store::{MemoryTaskStore, TaskState, TaskStore};
use agentkit_core::task::{Task, TaskId};
use agentkit_core::worker::Worker;
use agentkit_sandbox::local::LocalProvider;
use agentkit_server::triggers::github::GitHubTrigger;
use agentkit_server::triggers::signature::sign_hex;
use agentkit_server::triggers::{TriggerConfig, router};
use agentkit_tools::forge::github::{GitHubAuth, GitHubForge};
use axum::body::Body;
use axum::http::Request;
use fake_github::{Captured, FakeGitHub, git};
use tower::ServiceExt;

const CANARY: &str = "ghp_CANARYe2eCANARYe2eCANARYe2eCANARY012345";
const SECRET: &str = "webhook-secret-for-tests";

fn webhook(event: &str, delivery: &str, payload: &serde_json::Value) -> Request<Body> {
    let body = payload.to_string();
    Request::post("/triggers/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            sign_hex(SECRET.as_bytes(), &[body.as_bytes()], "sha256="),
        )
        .body(Body::from(body))
        .unwrap()
}

async fn send(app: &axum::Router, request: Request<Body>) -> (u16, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn script() -> ScriptedModel {
    let turns = serde_json::json!([
        // Revision 1.
        {"tool_calls": [{"name": "shell", "arguments": {"command": "env"}}]},
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "src/parse.txt", "content": "parse empty input\n"}}]},
        {"tool_calls": [{"name": "finish", "arguments": {"summary": "Handled empty input."}}]},
        // Revision 2: revision 1's file is in the workspace; build on it.
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "src/parse.txt"}}]},
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "src/parse.txt", "content": "parse empty input\nwith a match\n"}}]},
        {"tool_calls": [{"name": "finish", "arguments": {"summary": "Used a match, as asked."}}]}
    ]);
    ScriptedModel::from_json(&turns.to_string(), "e2e").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_issue_becomes_a_pull_request_and_review_feedback_a_second_revision() {
    let logs = Captured::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish(),
    )
    .unwrap();
    // The canary is in the host environment too, under a name tools know.
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("GITHUB_TOKEN", CANARY) };

    let fake = FakeGitHub::start("acme", "app", &[("README.md", "app\n")]).await;
    fake.state().pat = Some(CANARY.into());
    fake.add_issue(
        7,
        "Parser panics on empty input",
        "Steps: parse(\"\").",
        &["agent"],
    );
    let scratch = tempfile::tempdir().unwrap();
    let forge = Arc::new(
        GitHubForge::builder("acme", "app", GitHubAuth::token(CANARY))
            .api_base(&fake.url)
            .git_base(&fake.url)
            .scratch_dir(scratch.path().join("scratch.git"))
            .build()
            .unwrap(),
    );

    let store = Arc::new(MemoryTaskStore::new());
    let config = TriggerConfig {
        github: Some(GitHubTrigger::new(SECRET)),
        ..TriggerConfig::default()
    };
    let app = router(config, store.clone());

    let model = Arc::new(script());
    let transcript = Arc::new(MemorySink::new());
    let agent = Agent::builder(model.clone())
        .tools(agentkit_tools::tools::standard_tools())
        .forge(forge.clone())
        .shared_sink(transcript.clone())
        .build();
    let sandboxes = tempfile::tempdir().unwrap();
    let worker = Worker::new(
        "w1",
        store.clone(),
        Arc::new(agent),
        Arc::new(LocalProvider::new().with_temp_root(sandboxes.path())),
        Arc::new(|task: &Task| {
            let mut spec = SandboxSpec::new(task.repo.url.clone());
            spec.rev = start_revision(task, "agent/");
            spec
        }),
    );

    // 1. The issue is labelled.
    let repository = serde_json::json!({
        "full_name": "acme/app", "clone_url": fake.remote(), "default_branch": "main"
    });
    let labelled = serde_json::json!({
        "action": "labeled",
        "label": {"name": "agent"},
        "issue": {"number": 7, "title": "Parser panics on empty input", "body": "Steps: parse(\"\").",
                  "labels": [{"name": "agent"}], "html_url": format!("{}/acme/app/issues/7", fake.url)},
        "repository": repository,
        "sender": {"login": "alice", "type": "User"}
    });
    let (status, reply) = send(&app, webhook("issues", "d-1", &labelled)).await;
    assert_eq!(
        (status, reply["enqueued"].as_bool()),
        (202, Some(true)),
        "{reply}"
    );

    let outcome = worker
        .run_next(CancellationToken::new())
        .await
        .unwrap()
        .unwrap();
    let first = outcome.pull_request.clone().expect("a pull request");
    assert_eq!(first.branch, "agent/gh-acme-app-7");
    let record = store
        .get(&TaskId("gh:acme/app#7".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.state, TaskState::Succeeded);
    assert_eq!(
        record.result.unwrap().pull_request_url,
        Some(first.url.clone())
    );
    {
        let state = fake.state();
        assert_eq!(state.pulls.len(), 1);
        assert!(
            state.pulls[0].body.contains("Fixes #7"),
            "{}",
            state.pulls[0].body
        );
    }

    // 2. A reviewer comments on the pull request.
    let review = serde_json::json!({
        "action": "created",
        "comment": {"body": "Please use a match here.", "user": {"login": "bob", "type": "User"},
                    "path": "src/parse.txt", "line": 1, "author_association": "COLLABORATOR"},
        "pull_request": {"number": first.id.parse::<u64>().unwrap(), "html_url": first.url,
                         "head": {"ref": first.branch}},
        "repository": repository,
        "sender": {"login": "bob", "type": "User"}
    });
    let (status, reply) = send(&app, webhook("pull_request_review_comment", "d-2", &review)).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["task_id"], "gh:acme/app#7@rev2");
    // A replayed delivery enqueues nothing new.
    let (_, replay) = send(&app, webhook("pull_request_review_comment", "d-2", &review)).await;
    assert_eq!(replay["enqueued"], false);

    let outcome = worker
        .run_next(CancellationToken::new())
        .await
        .unwrap()
        .unwrap();
    let second = outcome.pull_request.expect("the pull request, updated");
    assert_eq!(
        (second.id.as_str(), second.revisions),
        (first.id.as_str(), 2)
    );
    assert_eq!(fake.state().pulls.len(), 1);
    // Revision 2 built on revision 1: two agent commits on the branch.
    let log = git(
        &fake.bare,
        &["log", "--format=%an %s", "agent/gh-acme-app-7"],
    );
    assert_eq!(log.lines().count(), 3, "{log}");
    assert_eq!(
        git(&fake.bare, &["show", "agent/gh-acme-app-7:src/parse.txt"]),
        "parse empty input\nwith a match"
    );
    // The feedback reached the model.
    let asked = serde_json::to_string(&model.requests()[3]).unwrap();
    assert!(asked.contains("Please use a match here."), "{asked}");
    assert_eq!(forge.pull_request(&first.id).await.unwrap().revisions, 2);

    // The canary is nowhere.
    let sandbox_env = serde_json::to_string(&model.requests()[1]).unwrap();
    assert!(
        sandbox_env.contains("PATH="),
        "the env output reached the model: {sandbox_env}"
    );
    let events = serde_json::to_string(&transcript.records()).unwrap();
    let logged = logs.text();
    let commits = git(
        &fake.bare,
        &["log", "--all", "-p", "--format=%H%n%an <%ae>%n%B"],
    );
    let state = fake.state();
    let pull_text = format!("{} {}", state.pulls[0].title, state.pulls[0].body);
    for (what, text) in [
        ("sandbox environment", sandbox_env.as_str()),
        ("transcript", events.as_str()),
        ("logs", logged.as_str()),
        ("commits", commits.as_str()),
        ("pull request", pull_text.as_str()),
    ] {
        assert!(!text.contains(CANARY), "the token leaked into the {what}");
    }
    assert!(logged.contains("published"), "logs were captured");
}
