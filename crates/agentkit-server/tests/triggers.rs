//! The trigger router over HTTP semantics (through `tower::ServiceExt`), and
//! the notifiers against local Slack and Linear API servers on 127.0.0.1.

#![cfg(feature = "triggers")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentkit_core::store::{MemoryTaskStore, TaskResult, TaskStore};
use agentkit_core::task::{RepoRef, Task, TaskSource};
use agentkit_server::triggers::generic::GenericWebhook;
use agentkit_server::triggers::github::GitHubTrigger;
use agentkit_server::triggers::linear::LinearTrigger;
use agentkit_server::triggers::notify::{LinearNotifier, Notifier, SlackNotifier};
use agentkit_server::triggers::signature::sign_hex;
use agentkit_server::triggers::slack::SlackTrigger;
use agentkit_server::triggers::{TriggerConfig, router};
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "trigger-secret";

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn app() -> (axum::Router, Arc<MemoryTaskStore>) {
    let repo = RepoRef::new("https://github.com/acme/app.git");
    let config = TriggerConfig {
        github: Some(GitHubTrigger::new(SECRET)),
        slack: Some(SlackTrigger {
            signing_secret: SECRET.into(),
            repo: repo.clone(),
            users: Vec::new(),
            channels: Vec::new(),
        }),
        linear: Some(LinearTrigger {
            signing_secret: SECRET.into(),
            agent_user_id: Some("user-agent".into()),
            label: None,
            repo: repo.clone(),
        }),
        webhooks: vec![GenericWebhook {
            name: "tickets".into(),
            secret: SECRET.into(),
            signature_header: "x-signature".into(),
            signature_prefix: "sha256=".into(),
            delivery_header: Some("x-delivery".into()),
            id_pointer: Some("/id".into()),
            title: "{{/title}}".into(),
            body: "{{/details}}".into(),
            repo,
        }],
        notifier: None,
    };
    let store = Arc::new(MemoryTaskStore::new());
    (router(config, store.clone()), store)
}

async fn send(app: &axum::Router, request: Request<Body>) -> (u16, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn ids(store: &MemoryTaskStore) -> Vec<String> {
    store
        .list(None)
        .await
        .unwrap()
        .iter()
        .map(|r| r.task.id.0.clone())
        .collect()
}

fn labelled() -> String {
    json!({
        "action": "labeled", "label": {"name": "agent"},
        "issue": {"number": 7, "title": "Parser panics", "body": "b", "labels": []},
        "repository": {"full_name": "acme/app"}
    })
    .to_string()
}

fn github(body: &str, delivery: &str, signature: Option<String>) -> Request<Body> {
    let mut request = Request::post("/triggers/github")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery);
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn a_github_webhook_with_a_bad_signature_gets_401_and_enqueues_nothing() {
    let (app, store) = app();
    let body = labelled();
    let forged = sign_hex(b"not the secret", &[body.as_bytes()], "sha256=");
    for signature in [Some(forged), None, Some("sha256=nothex".into())] {
        let (status, _) = send(&app, github(&body, "d-1", signature)).await;
        assert_eq!(status, 401);
    }
    // Unparseable bytes with a bad signature are refused before parsing: 401, not 400.
    let (status, _) = send(&app, github("{garbage", "d-1", Some("sha256=00".into()))).await;
    assert_eq!(status, 401);
    assert_eq!(ids(&store).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_replayed_github_delivery_enqueues_nothing_new() {
    let (app, store) = app();
    let body = labelled();
    let signature = sign_hex(SECRET.as_bytes(), &[body.as_bytes()], "sha256=");
    let (status, first) = send(&app, github(&body, "d-1", Some(signature.clone()))).await;
    assert_eq!(
        (status, first),
        (
            202,
            json!({"enqueued": true, "task_id": "gh:acme/app#7", "reason": "enqueued `gh:acme/app#7`"})
        )
    );
    let (status, replay) = send(&app, github(&body, "d-1", Some(signature.clone()))).await;
    assert_eq!((status, replay["enqueued"].clone()), (202, json!(false)));
    // Another delivery about the same issue (labelled twice) is the same task.
    let (_, again) = send(&app, github(&body, "d-2", Some(signature))).await;
    assert_eq!(again["enqueued"], json!(false));
    assert_eq!(ids(&store).await, vec!["gh:acme/app#7".to_string()]);
}

fn slack(path: &str, body: &str, timestamp: i64, secret: &str) -> Request<Body> {
    let ts = timestamp.to_string();
    let signature = sign_hex(
        secret.as_bytes(),
        &[b"v0:", ts.as_bytes(), b":", body.as_bytes()],
        "v0=",
    );
    Request::post(path)
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn slack_mentions_and_commands_are_verified_acknowledged_at_once_and_deduplicated() {
    let (app, store) = app();
    let mention = json!({
        "type": "event_callback", "team_id": "T1", "event_id": "Ev1",
        "event": {"type": "app_mention", "text": "<@UBOT> bump serde", "user": "U1", "channel": "C7", "ts": "1.000100"}
    })
    .to_string();
    let started = Instant::now();
    let (status, reply) = send(
        &app,
        slack("/triggers/slack/events", &mention, now_secs(), SECRET),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        (status, reply["task_id"].clone()),
        (202, json!("slack:T1/C7/1.000100"))
    );
    // Slack's retry of the same event.
    let (_, retry) = send(
        &app,
        slack("/triggers/slack/events", &mention, now_secs(), SECRET),
    )
    .await;
    assert_eq!(retry["enqueued"], json!(false));
    // Too old, or signed with another secret: refused.
    let (status, _) = send(
        &app,
        slack("/triggers/slack/events", &mention, now_secs() - 600, SECRET),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(
        &app,
        slack("/triggers/slack/events", &mention, now_secs(), "other"),
    )
    .await;
    assert_eq!(status, 401);
    // URL verification.
    let challenge = json!({"type": "url_verification", "challenge": "3eZbrw1a"}).to_string();
    let (status, reply) = send(
        &app,
        slack("/triggers/slack/events", &challenge, now_secs(), SECRET),
    )
    .await;
    assert_eq!((status, reply), (200, json!({"challenge": "3eZbrw1a"})));
    // A slash command.
    let command = "command=%2Fagent&text=fix+the+flaky+test&team_id=T1&channel_id=C7&user_id=U1&trigger_id=99.1";
    let (status, reply) = send(
        &app,
        slack("/triggers/slack/commands", command, now_secs(), SECRET),
    )
    .await;
    assert_eq!(
        (status, reply),
        (
            200,
            json!({"response_type": "in_channel", "text": "On it: fix the flaky test. I will reply here with the pull request."})
        )
    );
    assert_eq!(
        ids(&store).await,
        vec![
            "slack:T1/C7/1.000100".to_string(),
            "slack:T1/99.1".to_string()
        ]
    );
}

#[tokio::test]
async fn linear_issues_assigned_to_the_agent_are_picked_up_once() {
    let (app, store) = app();
    let now_ms = now_secs() * 1000;
    let body = json!({
        "action": "update", "type": "Issue", "webhookTimestamp": now_ms,
        "data": {"id": "9f1e", "identifier": "ENG-12", "title": "Slow query", "assigneeId": "user-agent"}
    })
    .to_string();
    let signed = |body: &str, delivery: &str, secret: &str| {
        Request::post("/triggers/linear")
            .header(
                "linear-signature",
                sign_hex(secret.as_bytes(), &[body.as_bytes()], ""),
            )
            .header("linear-delivery", delivery)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (status, _) = send(&app, signed(&body, "L1", "wrong")).await;
    assert_eq!(status, 401);
    let (status, reply) = send(&app, signed(&body, "L1", SECRET)).await;
    assert_eq!(
        (status, reply["task_id"].clone()),
        (202, json!("linear:ENG-12"))
    );
    let (_, replay) = send(&app, signed(&body, "L1", SECRET)).await;
    assert_eq!(replay["enqueued"], json!(false));
    let stale = body.replace(&now_ms.to_string(), &(now_ms - 600_000).to_string());
    let (status, _) = send(&app, signed(&stale, "L2", SECRET)).await;
    assert_eq!(status, 400);
    assert_eq!(ids(&store).await, vec!["linear:ENG-12".to_string()]);
}

#[tokio::test]
async fn generic_webhooks_are_signed_templated_and_deduplicated() {
    let (app, store) = app();
    let body =
        json!({"id": "T-77", "title": "Rotate logs", "details": "They fill the disk."}).to_string();
    let request = |signature: String, delivery: &str| {
        Request::post("/triggers/webhooks/tickets")
            .header("x-signature", signature)
            .header("x-delivery", delivery)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let good = sign_hex(SECRET.as_bytes(), &[body.as_bytes()], "sha256=");
    let (status, _) = send(&app, request("sha256=00".into(), "x1")).await;
    assert_eq!(status, 401);
    let (status, reply) = send(&app, request(good.clone(), "x1")).await;
    assert_eq!(
        (status, reply["task_id"].clone()),
        (202, json!("hook:tickets:T-77"))
    );
    let (_, replay) = send(&app, request(good, "x1")).await;
    assert_eq!(replay["enqueued"], json!(false));
    let (status, _) = send(
        &app,
        Request::post("/triggers/webhooks/unknown")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let record = store.list(None).await.unwrap().remove(0);
    assert_eq!(
        (record.task.title.as_str(), record.task.body.as_str()),
        ("Rotate logs", "They fill the disk.")
    );
}

/// A local API server recording `(path, authorization, body)` and answering `answer`.
async fn api_server(answer: Value) -> (String, Arc<Mutex<Vec<(String, String, Value)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let record = record.clone();
        let answer = answer.clone();
        async move {
            let path = request.uri().path().to_string();
            let auth = request
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
                .await
                .unwrap();
            record
                .lock()
                .unwrap()
                .push((path, auth, serde_json::from_slice(&bytes).unwrap()));
            axum::Json(answer)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn finished(source: TaskSource) -> (Task, TaskResult) {
    let mut task = Task::new("t", "Bump serde", "b", RepoRef::new("."));
    task.source = source;
    let result = TaskResult {
        summary: "Bumped serde to 1.0.229.".into(),
        pull_request_url: Some("https://github.com/acme/app/pull/8".into()),
        success: true,
    };
    (task, result)
}

#[tokio::test]
async fn slack_replies_in_the_thread_with_the_pull_request_link() {
    let (url, seen) = api_server(json!({"ok": true, "channel": "C7", "ts": "2.0"})).await;
    let notifier = SlackNotifier::new("xoxb-test-token").api_base(&url);
    let (task, result) = finished(TaskSource::Forge {
        forge: "slack".into(),
        number: "C7/1.000100".into(),
        url: None,
    });
    notifier.task_finished(&task, &result).await.unwrap();
    // A task from elsewhere is not Slack's business.
    let (other, _) = finished(TaskSource::Cli);
    notifier.task_finished(&other, &result).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1.as_str()),
        ("/chat.postMessage", "Bearer xoxb-test-token")
    );
    insta::assert_json_snapshot!("slack_chat_post_message", seen[0].2);

    let (url, _) = api_server(json!({"ok": false, "error": "not_in_channel"})).await;
    let err = SlackNotifier::new("xoxb-test-token")
        .api_base(&url)
        .task_finished(&task, &result)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not_in_channel"), "{err}");
}

#[tokio::test]
async fn linear_gets_a_comment_with_the_pull_request_link() {
    let (url, seen) =
        api_server(json!({"data": {"commentCreate": {"success": true, "comment": {"id": "c1"}}}}))
            .await;
    let notifier = LinearNotifier::new("lin_api_test").api_url(format!("{url}/graphql"));
    let (task, result) = finished(TaskSource::Forge {
        forge: "linear".into(),
        number: "9f1e".into(),
        url: None,
    });
    notifier.task_finished(&task, &result).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1.as_str()),
        ("/graphql", "lin_api_test")
    );
    insta::assert_json_snapshot!("linear_comment_create", seen[0].2);
}

fn signed_github(event: &str, delivery: &str, payload: &Value) -> Request<Body> {
    let body = payload.to_string();
    Request::post("/triggers/github")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            sign_hex(SECRET.as_bytes(), &[body.as_bytes()], "sha256="),
        )
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn a_mention_on_the_agents_pull_request_enqueues_the_next_revision() {
    let (app, store) = app();
    let (status, _) = send(
        &app,
        signed_github("issues", "d-1", &serde_json::from_str(&labelled()).unwrap()),
    )
    .await;
    assert_eq!(status, 202);
    // The first revision ran and opened pull request #8.
    let lease = store
        .lease("w", Duration::from_secs(60), 0)
        .await
        .unwrap()
        .unwrap();
    let url = "https://github.com/acme/app/pull/8";
    store
        .complete(
            &lease.task.id,
            lease.token,
            TaskResult {
                summary: "done".into(),
                pull_request_url: Some(url.into()),
                success: true,
            },
        )
        .await
        .unwrap();
    let comment_by = |login: &str, association: &str, text: &str| {
        json!({
            "action": "created",
            "issue": {"number": 8, "title": "Parser panics", "pull_request": {"html_url": url}},
            "comment": {"body": text, "user": {"login": login, "type": "User"},
                        "author_association": association},
            "repository": {"full_name": "acme/app"},
            "sender": {"login": login, "type": "User"}
        })
    };
    let comment = |login: &str, text: &str| comment_by(login, "COLLABORATOR", text);
    let (_, outsider) = send(
        &app,
        signed_github(
            "issue_comment",
            "d-1b",
            &comment_by("mallory", "NONE", "@agentkit push my change"),
        ),
    )
    .await;
    assert_eq!(
        outsider,
        json!({"enqueued": false, "task_id": null, "reason": "@mallory is NONE of the repository; only OWNER, \
               MEMBER, COLLABORATOR may ask the agent (triggers.github.associations)"})
    );
    let (_, ignored) = send(
        &app,
        signed_github("issue_comment", "d-2", &comment("bob", "looks good")),
    )
    .await;
    assert_eq!(ignored["enqueued"], json!(false));
    let (_, own) = send(
        &app,
        signed_github(
            "issue_comment",
            "d-3",
            &comment("agentkit[bot]", "@agentkit done"),
        ),
    )
    .await;
    assert_eq!(own["enqueued"], json!(false));
    let (status, next) = send(
        &app,
        signed_github(
            "issue_comment",
            "d-4",
            &comment("bob", "@agentkit rename `p` to `parser`"),
        ),
    )
    .await;
    assert_eq!(
        (status, next["task_id"].clone()),
        (202, json!("gh:acme/app#7@rev2"))
    );
    let revision = store.list(None).await.unwrap().pop().unwrap().task;
    assert!(revision.body.ends_with(
        "@bob asked:\n\n@agentkit rename `p` to `parser`\n\nChange the work accordingly; do not start over."
    ), "{}", revision.body);
    // Without a delivery id the request is refused.
    let mut request = signed_github("issue_comment", "", &comment("bob", "@agentkit again"));
    request.headers_mut().remove("x-github-delivery");
    assert_eq!(send(&app, request).await.0, 400);
    assert_eq!(
        ids(&store).await,
        vec![
            "gh:acme/app#7".to_string(),
            "gh:acme/app#7@rev2".to_string()
        ]
    );
}
