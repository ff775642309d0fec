//! agentd mounts `[triggers.slack]`, `[triggers.linear]` and
//! `[[triggers.cron]]` from its config and calls the notifiers when tasks
//! end: a signed Slack mention and a signed Linear webhook each become a
//! task, run by the pool (scripted model, local sandbox, local forge), and
//! Slack gets a thread reply and Linear a comment with the pull-request
//! link, on local servers that answer as Slack's and Linear's APIs do. An
//! hourly schedule enqueues its latest missed instant once at start.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentkit_server::config::Config;
use agentkit_server::daemon::{StartOptions, start};
use agentkit_server::triggers::signature::sign_hex;
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

const SLACK_SECRET: &str = "slack-signing-secret-for-tests";
const LINEAR_SECRET: &str = "linear-webhook-secret-for-tests";

const SCRIPT: &str = r#"[
  {"tool_calls": [{"name": "write_file", "arguments": {"path": "done.txt", "content": "done\n"}}]},
  {"tool_calls": [{"name": "finish", "arguments": {"summary": "Wrote done.txt."}}]}
]"#;

type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A local API recording `(path, authorization, JSON body)` and answering `answer`.
async fn api(answer: Value) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let (record, answer) = (record.clone(), answer.clone());
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
            let body = serde_json::from_slice(&bytes).unwrap();
            record.lock().unwrap().push((path, auth, body));
            axum::Json(answer)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    format!("file:{}", path.display())
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_linear_tasks_run_in_agentd_and_get_the_pull_request_link_back() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "app\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "initial"]);
    let script = dir.path().join("script.json");
    std::fs::write(&script, SCRIPT).unwrap();
    let (slack_url, slack_seen) = api(json!({"ok": true, "channel": "C7", "ts": "2.0"})).await;
    let (linear_url, linear_seen) =
        api(json!({"data": {"commentCreate": {"success": true, "comment": {"id": "c1"}}}})).await;

    let text = format!(
        r#"
listen = "127.0.0.1:0"
[store]
kind = "memory"
[sandbox]
backend = "local"
[workers]
concurrency = 2
[forge]
repos = ["{repo}"]
state_dir = "{forge}"
[triggers.slack]
signing_secret = "{slack_secret}"
bot_token = "{slack_token}"
api_base = "{slack_url}"
[triggers.linear]
webhook_secret = "{linear_secret}"
api_key = "{linear_key}"
agent_user_id = "user-agent"
api_url = "{linear_url}/graphql"
[[triggers.cron]]
name = "hourly"
schedule = "0 * * * *"
title = "Tidy up"
"#,
        repo = repo.display(),
        forge = dir.path().join("forge").display(),
        slack_secret = secret_file(dir.path(), "slack", SLACK_SECRET),
        slack_token = secret_file(dir.path(), "slack-token", "xoxb-test-token\n"),
        linear_secret = secret_file(dir.path(), "linear", LINEAR_SECRET),
        linear_key = secret_file(dir.path(), "linear-key", "lin_api_test"),
    );
    let config = Config::parse(Path::new("agentd.toml"), &text).unwrap();
    config.check().unwrap();
    let daemon = start(
        &config,
        StartOptions::new(format!("scripted:{}", script.display()), None),
    )
    .await
    .unwrap();
    let base = format!("http://{}", daemon.addr());
    let client = reqwest::Client::new();

    // Slack: an app mention, signed with the v0 scheme.
    let mention = json!({
        "type": "event_callback", "team_id": "T1", "event_id": "Ev1",
        "event": {"type": "app_mention", "text": "<@UBOT> write done.txt", "user": "U1",
                  "channel": "C7", "ts": "1.000100"}
    })
    .to_string();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let signature = sign_hex(
        SLACK_SECRET.as_bytes(),
        &[b"v0:", ts.as_bytes(), b":", mention.as_bytes()],
        "v0=",
    );
    let reply = client
        .post(format!("{base}/triggers/slack/events"))
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", signature)
        .body(mention)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);

    // Linear: an issue assigned to the agent.
    let issue = json!({
        "action": "update", "type": "Issue",
        "webhookTimestamp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64,
        "data": {"id": "9f1e", "identifier": "ENG-12", "title": "Write done.txt", "assigneeId": "user-agent"}
    })
    .to_string();
    let reply = client
        .post(format!("{base}/triggers/linear"))
        .header(
            "linear-signature",
            sign_hex(LINEAR_SECRET.as_bytes(), &[issue.as_bytes()], ""),
        )
        .header("linear-delivery", "L1")
        .body(issue)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);

    until("the Slack reply and the Linear comment", || {
        !slack_seen.lock().unwrap().is_empty() && !linear_seen.lock().unwrap().is_empty()
    })
    .await;
    let tasks: Value = client
        .get(format!("{base}/api/tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids: Vec<String> = tasks
        .as_array()
        .unwrap_or_else(|| tasks["tasks"].as_array().unwrap())
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids[0].starts_with("cron:hourly@"), "{ids:?}");
    assert_eq!(&ids[1..], ["linear:ENG-12", "slack:T1/C7/1.000100"]);
    daemon.shutdown().await;

    // The local forge's pull-request link is a record file whose directory
    // and number depend on the temporary directory and on which task ran first.
    let forge_dir = dir.path().join("forge").display().to_string();
    let normalized = |seen: &Seen| {
        let (path, auth, body) = seen.lock().unwrap()[0].clone();
        let text = body.to_string();
        let start = text.find(&forge_dir).expect("the pull request's link");
        let end = start + text[start..].find(".json").expect("a record file") + ".json".len();
        let link = &text[start..end];
        assert!(link.contains("/pulls/"), "{link}");
        let text = text.replace(link, "<forge>/<repo>/pulls/<n>.json");
        (path, auth, serde_json::from_str::<Value>(&text).unwrap())
    };
    let (path, auth, slack_body) = normalized(&slack_seen);
    assert_eq!(
        (path.as_str(), auth.as_str()),
        ("/chat.postMessage", "Bearer xoxb-test-token")
    );
    assert_eq!(slack_seen.lock().unwrap().len(), 1);
    insta::assert_json_snapshot!("agentd_slack_thread_reply", slack_body);
    let (path, auth, linear_body) = normalized(&linear_seen);
    assert_eq!((path.as_str(), auth.as_str()), ("/graphql", "lin_api_test"));
    assert_eq!(linear_seen.lock().unwrap().len(), 1);
    insta::assert_json_snapshot!("agentd_linear_comment", linear_body);
}
