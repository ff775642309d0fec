//! The JSON API: enqueue, list, show, cancel, retry, transcript, errors.

use agentkit_core::event::Event;
use agentkit_core::forge::{PullRequest, PullRequestState};
use agentkit_core::model::FinishReason;
use agentkit_core::outcome::{Outcome, StopReason};
use agentkit_core::redact::Redactor;
use agentkit_core::store::TaskState;
use agentkit_core::task::TaskId;
use agentkit_core::usage::{Cost, Usage};
use agentkit_core::verify::{CheckResult, Verification};
use serde_json::json;

use crate::support::{record, serve, serve_with};

#[tokio::test]
async fn enqueue_is_idempotent_by_task_id_and_by_key() {
    let s = serve().await;
    let task = |id: &str| json!({"task": {"id": id, "title": "Fix it", "repo": "/r"}});
    assert_eq!(
        s.post("/api/tasks", task("T-1")).await,
        (201, json!({"id": "T-1", "created": true}))
    );
    assert_eq!(
        s.post("/api/tasks", task("T-1")).await,
        (200, json!({"id": "T-1", "created": false}))
    );
    let keyed = |id: &str| json!({"task": {"id": id, "title": "Fix it", "repo": "/r"}, "idempotency_key": "gh:o/r#7", "priority": 3});
    assert_eq!(
        s.post("/api/tasks", keyed("T-2")).await,
        (201, json!({"id": "T-2", "created": true}))
    );
    assert_eq!(
        s.post("/api/tasks", keyed("T-3")).await,
        (200, json!({"id": "T-2", "created": false}))
    );
    let ids: Vec<String> = s
        .store
        .list(None)
        .await
        .unwrap()
        .iter()
        .map(|r| r.task.id.0.clone())
        .collect();
    assert_eq!(ids, vec!["T-1", "T-2"]);
}

#[tokio::test]
async fn a_task_without_a_repo_takes_the_default_or_is_refused_naming_the_field() {
    let s = serve().await;
    let (status, body) = s.post("/api/tasks", json!({"task": {"title": "x"}})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "task.repo");

    let s = serve_with(None, |services| {
        services.default_repo = Some("/srv/app".into())
    })
    .await;
    let (status, body) = s
        .post("/api/tasks", json!({"task": {"id": "D-1", "title": "x"}}))
        .await;
    assert_eq!((status, body), (201, json!({"id": "D-1", "created": true})));
    let (_, shown) = s.get("/api/tasks/D-1").await;
    assert_eq!(
        shown["task"]["repo"],
        json!({"url": "/srv/app", "base": null})
    );
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_field() {
    let s = serve().await;
    let cases = [
        (
            json!({"task": {"title": 5, "repo": "/r"}}),
            Some("task.title"),
        ),
        (
            json!({"task": {"title": "t", "repo": "/r"}, "priority": "high"}),
            Some("priority"),
        ),
        (
            json!({"task": {"title": "t", "repo": "/r", "labels": ["a", 2]}}),
            Some("task.labels[1]"),
        ),
        (
            json!({"task": {"title": "t", "repo": "/r", "colour": "red"}}),
            Some("task.colour"),
        ),
        (
            json!({"task": {"title": "  ", "repo": "/r"}}),
            Some("task.title"),
        ),
        (json!({"tusk": {}}), Some("tusk")),
        (json!({}), None),
    ];
    for (body, field) in cases {
        let (status, reply) = s.post("/api/tasks", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(reply["error"]["code"], "bad_request");
        assert_eq!(reply["error"]["field"].as_str(), field, "{body}: {reply}");
    }
    let response = s
        .client
        .post(s.url("/api/tasks"))
        .header("content-type", "application/json")
        .body("{\"task\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert!(
        reply["error"]["message"].as_str().unwrap().contains("EOF"),
        "{reply}"
    );
}

#[tokio::test]
async fn unknown_tasks_routes_and_methods_are_json_errors() {
    let s = serve().await;
    assert_eq!(
        s.get("/api/tasks/nope").await,
        (
            404,
            json!({"error": {"code": "not_found", "message": "no task `nope`: check the id (GET /api/tasks lists them)"}})
        )
    );
    assert_eq!(s.post("/api/tasks/nope/cancel", json!({})).await.0, 404);
    assert_eq!(s.get("/api/tasks/nope/transcript").await.0, 404);
    assert_eq!(
        s.get("/api/nothing").await,
        (
            404,
            json!({"error": {"code": "not_found", "message": "no such route: /api/nothing"}})
        )
    );
    let response = s.client.delete(s.url("/api/tasks")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn list_filters_by_state_and_repo_newest_first() {
    let s = serve().await;
    s.enqueue("A-1", "/a").await;
    s.enqueue("B-1", "/b").await;
    s.enqueue("A-2", "/a").await;
    assert_eq!(
        s.post("/api/tasks/A-1/cancel", json!({})).await,
        (200, json!({"id": "A-1", "state": "cancelled"}))
    );
    let ids = |body: serde_json::Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(s.get("/api/tasks").await.1), vec!["A-2", "B-1", "A-1"]);
    assert_eq!(ids(s.get("/api/tasks?repo=/a").await.1), vec!["A-2", "A-1"]);
    assert_eq!(
        ids(s.get("/api/tasks?state=cancelled").await.1),
        vec!["A-1"]
    );
    assert_eq!(
        ids(s.get("/api/tasks?state=queued&repo=/b").await.1),
        vec!["B-1"]
    );
    let (status, body) = s.get("/api/tasks?state=done").await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("state"))
    );
}

fn pull_request(id: &str) -> PullRequest {
    PullRequest {
        id: id.into(),
        url: "https://forge.test/pr/1".into(),
        task_id: TaskId("S-1".into()),
        branch: "agent/S-1".into(),
        base_branch: "main".into(),
        title: "Fix".into(),
        body: String::new(),
        head_commit: "0".repeat(40),
        state: PullRequestState::Open,
        revisions: 1,
        review_rounds: 0,
        created_at_ms: 2_000,
        updated_at_ms: 2_000,
        merged_at_ms: None,
    }
}

fn model_call(step: u32, input: u64, output: u64, usd: f64) -> Event {
    Event::ModelCallFinished {
        step,
        text: "thinking".into(),
        tool_calls: vec![],
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            ..Default::default()
        },
        cost: Cost { usd },
        finish_reason: FinishReason::ToolCalls,
    }
}

#[tokio::test]
async fn show_reports_state_attempts_steps_tokens_cost_duration_pr_and_verification() {
    let s = serve().await;
    s.enqueue("S-1", "/r").await;
    let verification = Verification::from_checks(vec![CheckResult {
        name: "tests".into(),
        command: "cargo test".into(),
        passed: true,
        status: "exit 0".into(),
        output: "ok".into(),
        duration: std::time::Duration::from_millis(5),
    }]);
    let outcome = Outcome {
        task_id: TaskId("S-1".into()),
        stop_reason: StopReason::Finished {
            summary: "done".into(),
        },
        steps: 2,
        usage: Usage::default(),
        cost: Cost::default(),
        duration: std::time::Duration::from_secs(3),
        verification: Some(verification.clone()),
        pull_request: Some(pull_request("1")),
    };
    let events = vec![
        record("S-1", 1_000, model_call(1, 100, 10, 0.01)),
        record("S-1", 1_500, model_call(2, 200, 20, 0.02)),
        record(
            "S-1",
            2_000,
            Event::VerificationFinished {
                attempt: 1,
                verification: verification.clone(),
            },
        ),
        record(
            "S-1",
            2_500,
            Event::Published {
                pull_request: pull_request("1"),
            },
        ),
        record(
            "S-1",
            4_000,
            Event::RunFinished {
                outcome: Box::new(outcome),
            },
        ),
    ];
    s.log.append(&TaskId("S-1".into()), &events).await.unwrap();
    let (status, body) = s.get("/api/tasks/S-1").await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "queued");
    assert_eq!(body["attempts"], 0);
    assert_eq!(body["max_attempts"], 3);
    assert_eq!(body["pull_request"]["url"], "https://forge.test/pr/1");
    let mut metrics = body["metrics"].clone();
    metrics.as_object_mut().unwrap().remove("verification");
    metrics.as_object_mut().unwrap().remove("pull_request");
    assert_eq!(
        metrics,
        json!({
            "steps": 2, "input_tokens": 300, "output_tokens": 30, "cost_usd": 0.03,
            "tool_calls": 0, "verification_attempts": 1, "wall_ms": 3000,
            "started_at_ms": 1000, "last_event_at_ms": 4000, "outcome": "finished",
            "outcome_detail": "finished", "success": true, "runs": 0, "last_event_id": 5
        })
    );
    assert_eq!(
        body["metrics"]["verification"],
        serde_json::to_value(&verification).unwrap()
    );
}

#[tokio::test]
async fn cancel_and_retry_follow_the_documented_rules() {
    let s = serve().await;
    s.enqueue("R-1", "/r").await;
    assert_eq!(s.post("/api/tasks/R-1/retry", json!({})).await.0, 409);
    assert_eq!(
        s.post("/api/tasks/R-1/cancel", json!({})).await,
        (200, json!({"id": "R-1", "state": "cancelled"}))
    );
    assert_eq!(
        s.post("/api/tasks/R-1/cancel", json!({})).await.0,
        200,
        "cancelling twice is a no-op"
    );
    assert_eq!(
        s.post("/api/tasks/R-1/retry", json!({})).await,
        (201, json!({"id": "R-1.retry-1", "retry_of": "R-1"}))
    );
    assert_eq!(
        s.post("/api/tasks/R-1/retry", json!({})).await,
        (201, json!({"id": "R-1.retry-2", "retry_of": "R-1"}))
    );
    let retried = s
        .store
        .get(&TaskId("R-1.retry-1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (retried.state, retried.task.title.as_str()),
        (TaskState::Queued, "title of R-1")
    );
    // A retry of a retry counts from the root id.
    s.post("/api/tasks/R-1.retry-1/cancel", json!({})).await;
    assert_eq!(
        s.post("/api/tasks/R-1.retry-1/retry", json!({})).await,
        (201, json!({"id": "R-1.retry-3", "retry_of": "R-1.retry-1"}))
    );
}

#[tokio::test]
async fn transcripts_are_jsonl_with_secrets_redacted() {
    let secret = "seeded-secret-value-4711";
    let s = serve_with(None, |services| {
        services.redactor = Redactor::new().with_secret(secret)
    })
    .await;
    s.enqueue("X-1", "/r").await;
    let leak = Event::ToolCallFinished {
        call_id: "c1".into(),
        name: "shell".into(),
        is_error: false,
        content: format!("TOKEN={secret} and sk-ant-abcdefghijklmnopqrstuvwxyz0123"),
        operator_detail: None,
        duration_ms: 3,
    };
    s.log
        .append(
            &TaskId("X-1".into()),
            &[
                record("X-1", 1, leak),
                record(
                    "X-1",
                    2,
                    Event::Nudged {
                        message: "go".into(),
                    },
                ),
            ],
        )
        .await
        .unwrap();
    let response = s
        .client
        .get(s.url("/api/tasks/X-1/transcript"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    assert!(
        !text.contains(secret) && !text.contains("sk-ant-"),
        "{text}"
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(
        lines[0]["record"]["content"],
        "TOKEN=[REDACTED] and [REDACTED]"
    );
    assert_eq!(
        lines[1]["record"],
        json!({"seq": 2, "task_id": "X-1", "at_ms": 2, "type": "nudged", "message": "go"})
    );
}

#[tokio::test]
async fn state_changes_from_other_sites_pages_are_refused() {
    let s = serve().await;
    let body = r#"{"task": {"id": "C-1", "title": "t", "repo": "/r"}}"#;
    let form = s
        .client
        .post(s.url("/api/tasks"))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let cross = s
        .client
        .post(s.url("/api/tasks"))
        .header("content-type", "application/json")
        .header("origin", "http://evil.example")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let reply: serde_json::Value = cross.json().await.unwrap();
    assert_eq!(reply["error"]["code"], "cross_site");
    assert_eq!(s.store.list(None).await.unwrap(), vec![]);
}
