//! End to end through the real agentd, all on 127.0.0.1: agentd is started
//! in-process from a TOML config (`[forge.github]` with a token from the
//! environment, `[triggers.github]` with its secret in a file) against the
//! fake GitHub. A signed "issue labelled" webhook → agentd's trigger route →
//! its store → its worker pool running a scripted model in a local sandbox →
//! `GitHubForge` pushes over git's smart HTTP and opens a pull request → a
//! signed review-comment webhook → revision 2 from the agent's branch → the
//! same pull request with new commits. The issue gets ONE progress comment,
//! edited in place (queued → working → pull request opened → … updated).
//! A canary token (the forge token, also in the host environment) never
//! reaches the sandbox's environment, the transcripts served by the API, the
//! logs, the commits, the pull request or the comment.

#[path = "../../agentkit-tools/tests/support/fake_github.rs"]
mod fake_github;

use std::path::Path;
use std::time::{Duration, Instant};

use agentkit_server::config::Config;
use agentkit_server::daemon::{StartOptions, start};
use agentkit_server::triggers::signature::sign_hex;
use fake_github::{Captured, FakeGitHub, git};
use serde_json::{Value, json};

const CANARY: &str = "ghp_CANARYagentdCANARYagentdCANARY0123456";
const SECRET: &str = "agentd-webhook-secret-for-tests";
const TOKEN_VAR: &str = "AGENTD_E2E_GITHUB_TOKEN";

/// One script for every revision (agentd builds a fresh model per task):
/// record the sandbox's environment, append how many commits the workspace
/// starts from (1 on `main`, 2 on revision 1's branch), finish.
const SCRIPT: &str = r#"[
  {"tool_calls": [{"name": "shell", "arguments": {"command": "env | sort > sandbox-env.txt && git rev-list --count HEAD >> revisions.txt"}}]},
  {"tool_calls": [{"name": "finish", "arguments": {"summary": "Recorded the revision."}}]}
]"#;

fn config(fake: &FakeGitHub, dir: &Path) -> Config {
    let secret = dir.join("webhook-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let text = format!(
        r#"
listen = "127.0.0.1:0"
data_dir = "{data}"

[store]
kind = "memory"

[sandbox]
backend = "local"

[workers]
concurrency = 1
retry_delay_secs = 1

[forge]
kind = "github"

[forge.github]
token = "env:{TOKEN_VAR}"
repos = ["acme/app"]
api_base = "{url}"
git_base = "{url}"

[triggers.github]
webhook_secret = "file:{secret}"
label = "agent"
bot_login = "agentkit"
"#,
        data = dir.join("data").display(),
        url = fake.url,
        secret = secret.display(),
    );
    let config = Config::parse(Path::new("agentd.toml"), &text).unwrap();
    config.check().unwrap();
    config
}

struct Hooks {
    client: reqwest::Client,
    base: String,
}

impl Hooks {
    async fn send(
        &self,
        event: &str,
        delivery: &str,
        payload: &Value,
        secret: &str,
    ) -> (u16, Value) {
        let body = payload.to_string();
        let response = self
            .client
            .post(format!("{}/triggers/github", self.base))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                sign_hex(secret.as_bytes(), &[body.as_bytes()], "sha256="),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn task(&self, id: &str) -> Value {
        self.get(&format!("/api/tasks/{}", encode(id)))
            .await
            .json()
            .await
            .unwrap()
    }

    async fn transcript(&self, id: &str) -> String {
        let response = self
            .get(&format!("/api/tasks/{}/transcript", encode(id)))
            .await;
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

fn encode(id: &str) -> String {
    id.replace('%', "%25")
        .replace('/', "%2F")
        .replace('#', "%23")
        .replace('@', "%40")
}

/// Waits until `done` holds, up to a minute.
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

/// A pull request body without what differs between machines: the diff
/// stat of the recorded environment and the estimated token counts.
fn stable_pull_body(body: &str) -> String {
    let mut in_stat = false;
    let mut lines = Vec::new();
    for line in body.lines() {
        if line == "```" {
            in_stat = !in_stat;
            lines.push(line.to_string());
        } else if in_stat && line.contains(" changed") {
            lines.push("[totals]".into());
        } else if in_stat {
            lines.push(
                line.split('|')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            );
        } else if line.starts_with("- Tokens:") {
            lines.push("- Tokens: [estimated]".into());
        } else if let Some((setup, _)) = line.split_once("; ran in ") {
            lines.push(format!("{setup}; ran in [ms]"));
        } else if line.starts_with("  - `") {
            // This machine's toolchains and versions.
        } else if line.starts_with("- Toolchains:") {
            lines.push("- Toolchains: [this machine's]".into());
        } else {
            lines.push(line.to_string());
        }
    }
    lines.join("\n")
}

/// The progress comments on issue 7.
fn progress_comments(fake: &FakeGitHub) -> Vec<(u64, String)> {
    fake.state()
        .comments
        .iter()
        .filter(|c| c.issue == 7 && c.body.contains("agentkit:progress"))
        .map(|c| (c.id, c.body.clone()))
        .collect()
}

/// Every write to the issue's comments, in order: `(method, path, body)`.
fn comment_writes(fake: &FakeGitHub) -> Vec<(String, String, String)> {
    fake.state()
        .requests
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("/issues/") && r.path.contains("comments"))
        .map(|r| {
            let body = r
                .body
                .as_ref()
                .and_then(|b| b["body"].as_str())
                .unwrap_or_default();
            (r.method.clone(), r.path.clone(), body.to_string())
        })
        .collect()
}

#[test]
fn a_labelled_issue_becomes_a_pull_request_through_agentd_and_review_feedback_a_second_revision() {
    let logs = Captured::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish(),
    )
    .unwrap();
    // SAFETY: set before the runtime (and any other thread) starts.
    unsafe {
        std::env::set_var(TOKEN_VAR, CANARY);
        std::env::set_var("GITHUB_TOKEN", CANARY);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(scenario(logs));
    runtime.block_on(app_scenario());
}

/// agentd authenticated as a GitHub App from `[forge.github]` (`app_id` +
/// `private_key_path`, the installation looked up): a task enqueued through
/// the API publishes with an installation token bought with the App's JWT.
async fn app_scenario() {
    let fake = FakeGitHub::start("acme", "app", &[("README.md", "app\n")]).await;
    // agentd's forge signs its JWT on the system clock.
    fake.clock.set(std::time::SystemTime::now());
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, fake_github::APP_KEY).unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(&script, SCRIPT).unwrap();
    let text = format!(
        r#"
listen = "127.0.0.1:0"
data_dir = "{data}"
[store]
kind = "memory"
[sandbox]
backend = "local"
[forge]
kind = "github"
[forge.github]
app_id = "{app_id}"
private_key_path = "{key}"
repos = ["acme/app"]
api_base = "{url}"
git_base = "{url}"
draft = true
"#,
        data = dir.path().join("data").display(),
        app_id = fake_github::APP_ID,
        key = key.display(),
        url = fake.url,
    );
    let config = Config::parse(Path::new("agentd.toml"), &text).unwrap();
    config.check().unwrap();
    let daemon = start(
        &config,
        StartOptions::new(format!("scripted:{}", script.display()), None),
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://{}", daemon.addr());
    let refused = client
        .post(format!("{base}/api/tasks"))
        .json(&json!({"task": {"id": "elsewhere", "title": "t", "repo": format!("{}/acme/other.git", fake.url)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        400,
        "a repository outside forge.github.repos"
    );
    let enqueued = client
        .post(format!("{base}/api/tasks"))
        .json(&json!({"task": {"id": "APP-1", "title": "Record the revision", "repo": fake.remote()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(enqueued.status(), 201);
    let start = Instant::now();
    while fake.state().pulls.is_empty() {
        let shown: Value = client
            .get(format!("{base}/api/tasks/APP-1"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(60) && shown["state"] != "failed",
            "no pull request: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.shutdown().await;
    let state = fake.state();
    assert!(state.pulls[0].draft, "forge.github.draft");
    assert_eq!(
        state.token_requests.len(),
        1,
        "one installation token, cached"
    );
    let installation_token = state.issued[0].0.clone();
    let create = state
        .requests
        .iter()
        .find(|r| r.method == "POST" && r.path == "/repos/acme/app/pulls")
        .expect("the pull request was created");
    assert_eq!(create.token.as_deref(), Some(installation_token.as_str()));
}

async fn scenario(logs: Captured) {
    // The private repository declares its setup: agentd reads it from the
    // forge's host-side mirror (git cannot read the URL in place).
    let fake = FakeGitHub::start(
        "acme",
        "app",
        &[
            ("README.md", "app\n"),
            (".agentkit/setup.sh", "echo setup-from-the-repository\n"),
        ],
    )
    .await;
    fake.state().pat = Some(CANARY.into());
    fake.add_issue(
        7,
        "Parser panics on empty input",
        "Steps: parse(\"\").",
        &["agent"],
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(&script, SCRIPT).unwrap();
    let config = config(&fake, dir.path());
    let daemon = start(
        &config,
        StartOptions::new(format!("scripted:{}", script.display()), None),
    )
    .await
    .unwrap();
    let hooks = Hooks {
        client: reqwest::Client::new(),
        base: format!("http://{}", daemon.addr()),
    };

    // 1. The issue is labelled. A forged delivery is refused first.
    let repository = json!({
        "full_name": "acme/app", "clone_url": fake.remote(), "default_branch": "main"
    });
    let labelled = json!({
        "action": "labeled",
        "label": {"name": "agent"},
        "issue": {"number": 7, "title": "Parser panics on empty input", "body": "Steps: parse(\"\").",
                  "labels": [{"name": "agent"}], "html_url": format!("{}/acme/app/issues/7", fake.url)},
        "repository": repository,
        "sender": {"login": "alice", "type": "User"}
    });
    let (status, _) = hooks
        .send("issues", "d-0", &labelled, "not-the-secret")
        .await;
    assert_eq!(status, 401);
    let listed: Value = hooks.get("/api/tasks").await.json().await.unwrap();
    assert_eq!(
        listed.to_string().matches("\"id\"").count(),
        0,
        "nothing enqueued: {listed}"
    );
    let (status, reply) = hooks.send("issues", "d-1", &labelled, SECRET).await;
    assert_eq!(
        (status, reply["task_id"].as_str()),
        (202, Some("gh:acme/app#7")),
        "{reply}"
    );
    assert_eq!(reply["enqueued"], true);
    let (_, replay) = hooks.send("issues", "d-1", &labelled, SECRET).await;
    assert_eq!(replay["enqueued"], false);

    until("revision 1's pull request and its progress update", || {
        progress_comments(&fake)
            .first()
            .is_some_and(|(_, body)| body.contains("Pull request opened"))
    })
    .await;
    let shown = hooks.task("gh:acme/app#7").await;
    assert_eq!(shown["state"], "succeeded", "{shown}");
    let (number, url, branch) = {
        let state = fake.state();
        assert_eq!(state.pulls.len(), 1);
        let pull = &state.pulls[0];
        assert!(pull.body.contains("Fixes #7"), "{}", pull.body);
        (
            pull.number,
            format!("{}/acme/app/pull/{}", fake.url, pull.number),
            pull.head.clone(),
        )
    };
    assert_eq!(branch, "agent/gh-acme-app-7");
    let rev1_comment = progress_comments(&fake);
    assert_eq!(
        rev1_comment.len(),
        1,
        "one progress comment: {rev1_comment:?}"
    );
    let comment_id = rev1_comment[0].0;
    let rev1_body = rev1_comment[0].1.replace(&fake.url, "http://fake");

    // 2. A reviewer comments on the pull request.
    let review = json!({
        "action": "created",
        "comment": {"body": "Please also record the revision count.", "user": {"login": "bob", "type": "User"},
                    "path": "revisions.txt", "line": 1, "author_association": "MEMBER"},
        "pull_request": {"number": number, "html_url": url, "head": {"ref": branch}},
        "repository": repository,
        "sender": {"login": "bob", "type": "User"}
    });
    let (status, reply) = hooks
        .send("pull_request_review_comment", "d-2", &review, SECRET)
        .await;
    assert_eq!(
        (status, reply["task_id"].as_str()),
        (202, Some("gh:acme/app#7@rev2")),
        "{reply}"
    );

    until("revision 2's progress update", || {
        progress_comments(&fake)
            .first()
            .is_some_and(|(_, body)| body.contains("Pull request updated"))
    })
    .await;
    let shown = hooks.task("gh:acme/app#7@rev2").await;
    assert_eq!(shown["state"], "succeeded", "{shown}");
    let (pulls, revision_marker) = {
        let state = fake.state();
        (
            state.pulls.len(),
            state.pulls[0].body.contains("revision=2"),
        )
    };
    assert_eq!(
        (pulls, revision_marker),
        (1, true),
        "the same pull request, revision 2"
    );
    // Revision 2 built on revision 1: two agent commits on the branch, and
    // the workspace of each started from one more commit.
    let log = git(&fake.bare, &["log", "--format=%s", &branch]);
    assert_eq!(log.lines().count(), 3, "{log}");
    assert_eq!(
        git(&fake.bare, &["show", &format!("{branch}:revisions.txt")]),
        "1\n2"
    );

    // One comment, edited in place: one POST, then PATCHes of that comment,
    // whose stages never go backwards.
    let final_comments = progress_comments(&fake);
    assert_eq!(final_comments.len(), 1);
    assert_eq!(final_comments[0].0, comment_id);
    let writes = comment_writes(&fake);
    let posts: Vec<_> = writes.iter().filter(|w| w.0 == "POST").collect();
    assert_eq!(posts.len(), 1, "{writes:#?}");
    assert_eq!(posts[0].1, "/repos/acme/app/issues/7/comments");
    assert_eq!(writes[0].0, "POST");
    for write in &writes[1..] {
        assert_eq!(
            (write.0.as_str(), write.1.clone()),
            (
                "PATCH",
                format!("/repos/acme/app/issues/comments/{comment_id}")
            )
        );
    }
    let stage = |body: &str| {
        let step = ["**Queued**", "**Working**", "**Pull request "]
            .iter()
            .position(|s| body.starts_with(s))
            .unwrap_or_else(|| panic!("unknown stage: {body}"));
        if body.contains("(revision 2") {
            step + 3
        } else {
            step
        }
    };
    let stages: Vec<usize> = writes.iter().map(|w| stage(&w.2)).collect();
    assert!(stages.windows(2).all(|w| w[0] <= w[1]), "{stages:?}");
    assert!(
        stages.contains(&2) && stages.last() == Some(&5),
        "{stages:?}"
    );

    insta::assert_snapshot!("agentd_progress_after_revision_1", rev1_body);
    insta::assert_snapshot!(
        "agentd_progress_after_revision_2",
        final_comments[0].1.replace(&fake.url, "http://fake")
    );
    let pull_writes: Vec<Value> = fake
        .state()
        .requests
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("/pulls"))
        .map(|r| {
            let mut body = r.body.clone().unwrap_or_default();
            if let Some(text) = body["body"].as_str() {
                body["body"] = json!(stable_pull_body(text));
            }
            json!({"method": r.method, "path": r.path, "body": body})
        })
        .collect();
    insta::assert_json_snapshot!("agentd_pull_request_writes", pull_writes);

    // The canary is nowhere.
    let sandbox_env = git(&fake.bare, &["show", &format!("{branch}:sandbox-env.txt")]);
    assert!(sandbox_env.contains("PATH="), "{sandbox_env}");
    let transcripts = format!(
        "{}\n{}",
        hooks.transcript("gh:acme/app#7").await,
        hooks.transcript("gh:acme/app#7@rev2").await
    );
    assert!(
        transcripts.contains("sandbox-env.txt"),
        "the transcripts were served"
    );
    // The repository's setup ran, its output live in the transcript.
    assert!(
        transcripts.contains(
            r#""type":"setup_output","stream":"stdout","text":"setup-from-the-repository\n""#
        ),
        "{transcripts}"
    );
    assert!(
        transcripts.contains(r#""source":"repo_script""#),
        "{transcripts}"
    );
    assert!(
        transcripts.contains("Please also record the revision count."),
        "the review feedback reached revision 2"
    );
    let commits = git(
        &fake.bare,
        &["log", "--all", "-p", "--format=%H%n%an <%ae>%n%B"],
    );
    let (pull_text, comment_text) = {
        let state = fake.state();
        let pull = format!("{} {}", state.pulls[0].title, state.pulls[0].body);
        let comments: Vec<String> = state.comments.iter().map(|c| c.body.clone()).collect();
        (pull, comments.join("\n"))
    };
    daemon.shutdown().await;
    let logged = logs.text();
    assert!(logged.contains("trigger enqueue"), "logs were captured");
    for (what, text) in [
        ("sandbox environment", sandbox_env.as_str()),
        ("transcripts", transcripts.as_str()),
        ("logs", logged.as_str()),
        ("commits", commits.as_str()),
        ("pull request", pull_text.as_str()),
        ("comments", comment_text.as_str()),
    ] {
        assert!(!text.contains(CANARY), "the token leaked into the {what}");
        assert!(
            !text.contains(SECRET),
            "the webhook secret leaked into the {what}"
        );
    }
}
