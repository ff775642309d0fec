//! The web view in a real headless Chromium (Debian's `chromium`), driven
//! over the DevTools protocol: the task page of a scripted task shows its
//! transcript growing live, escapes the attacker-controlled title, and ends
//! with the verification and the final diff. A screenshot is saved to
//! `target/agentd-web-view.png`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use agentkit_server::config::{Config, StoreKind};
use agentkit_server::daemon::{StartOptions, start};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const TITLE: &str = "Fix <img src=x onerror=\"document.title='pwned'\"> & friends";

const TRAJECTORY: &str = r#"[
  {"text": "Looking at the repository.", "tool_calls": [{"name": "list_files", "arguments": {}}]},
  {"text": "A slow step first.", "tool_calls": [{"name": "shell", "arguments": {"command": "sleep 1; echo slow-step-done"}}]},
  {"text": "Writing the fix.", "tool_calls": [{"name": "write_file", "arguments": {"path": "fix.txt", "content": "fixed <script>alert(1)</script>\n"}}]},
  {"text": "Another slow step.", "tool_calls": [{"name": "shell", "arguments": {"command": "sleep 1; echo second-step-done"}}]},
  {"text": "The change is complete.", "tool_calls": [{"name": "finish", "arguments": {"summary": "wrote fix.txt"}}]}
]"#;

/// The chromium to drive: `AGENTKIT_CHROMIUM`, else `chromium` on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AGENTKIT_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    })
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A DevTools-protocol client over one websocket (flat sessions).
struct Cdp {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next: u64,
}

impl Cdp {
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no reply to {method}"))
                .unwrap()
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == json!(id) {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let result = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        result["result"]["value"].clone()
    }
}

#[tokio::test]
async fn the_task_page_shows_the_transcript_live_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing under CI: run .ci/chromium.sh"
        );
        println!("SKIPPED: no chromium on PATH (install it with .ci/chromium.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "demo\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "initial"]);
    let script = dir.path().join("trajectory.json");
    std::fs::write(&script, TRAJECTORY).unwrap();

    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.store.kind = StoreKind::Memory;
    config.sandbox.backend = "local".into();
    config.workers.concurrency = 1;
    config.forge.state_dir = Some(dir.path().join("forge"));
    config
        .checks
        .insert("fix present".into(), "test -f fix.txt".into());
    let options = StartOptions::new(
        format!("scripted:{}", script.display()),
        Some(repo.display().to_string()),
    );
    let daemon = start(&config, options).await.unwrap();
    let base = format!("http://{}", daemon.addr());

    // The task exists but may not run for 3 seconds, so the page is open first.
    let run_at = agentkit_core::event::now_ms() + 3_000;
    let enqueued = reqwest::Client::new()
        .post(format!("{base}/api/tasks"))
        .json(&json!({"task": {"id": "WEB-1", "title": TITLE, "body": "Write <b>fix.txt</b>."}, "run_at_ms": run_at}))
        .send()
        .await
        .unwrap();
    assert_eq!(enqueued.status(), 201);

    let profile = tempfile::tempdir().unwrap();
    let mut browser = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium does not start");
    let mut stderr = BufReader::new(browser.stderr.take().unwrap()).lines();
    let ws_url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                return url.trim().to_string();
            }
        }
        panic!("chromium exited without a DevTools address");
    })
    .await
    .expect("chromium printed no DevTools address within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    assert!(ws_url.starts_with("ws://127.0.0.1:"), "{ws_url}");
    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    let mut cdp = Cdp { ws, next: 0 };

    let target = cdp
        .call(
            None,
            "Target.createTarget",
            json!({"url": format!("{base}/tasks/WEB-1")}),
        )
        .await;
    let attached = cdp
        .call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )
        .await;
    let session = attached["sessionId"].as_str().unwrap().to_string();
    cdp.call(Some(&session), "Runtime.enable", json!({})).await;

    // Count the transcript's entries until the run has ended; it must be seen growing.
    let started = Instant::now();
    let mut counts = Vec::new();
    let status = loop {
        let state = cdp
            .eval(
                &session,
                "JSON.stringify({n: document.querySelectorAll('#transcript li').length, \
                 status: (document.getElementById('live-status') || {}).textContent || ''})",
            )
            .await;
        let state: Value = serde_json::from_str(state.as_str().unwrap_or("{}")).unwrap();
        let n = state["n"].as_u64().unwrap_or(0);
        if counts.last() != Some(&n) {
            counts.push(n);
        }
        let status = state["status"].as_str().unwrap_or("").to_string();
        if status.starts_with("ended") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run did not end: {counts:?} {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, "ended: succeeded");
    assert_eq!(counts[0], 0, "the page opened before the run started");
    let nonzero: Vec<u64> = counts.iter().copied().filter(|n| *n > 0).collect();
    assert!(
        nonzero.len() >= 3,
        "the transcript did not grow live: {counts:?}"
    );

    let texts = cdp
        .eval(
            &session,
            "Array.from(document.querySelectorAll('#transcript .title')).map(e => e.textContent)",
        )
        .await;
    let texts: Vec<String> = serde_json::from_value(texts).unwrap();
    assert_eq!(
        texts.first().map(String::as_str),
        Some("Run started with scripted")
    );
    assert!(
        texts.contains(&"✓ write_file".to_string())
            || texts.iter().any(|t| t.starts_with("✓ write_file")),
        "{texts:?}"
    );
    assert_eq!(
        texts.last().map(String::as_str),
        Some("Run finished: finished")
    );
    assert!(
        texts.iter().any(|t| t.starts_with("Pull request #1")),
        "{texts:?}"
    );

    // The title was shown as text, not run as markup.
    let heading = cdp
        .eval(&session, "document.querySelector('h1').textContent")
        .await;
    assert_eq!(heading, json!(TITLE));
    let page_title = cdp.eval(&session, "document.title").await;
    assert_eq!(page_title, json!(format!("{TITLE} · agentd")));
    assert_eq!(
        cdp.eval(
            &session,
            "document.querySelectorAll('main img, main script, main b').length"
        )
        .await,
        json!(0)
    );

    // Reload: verification results and the final diff are rendered by the server.
    cdp.call(Some(&session), "Page.enable", json!({})).await;
    cdp.call(Some(&session), "Page.reload", json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let diff = loop {
        let diff = cdp
            .eval(
                &session,
                "(document.getElementById('final-diff') || {}).textContent || ''",
            )
            .await;
        let done = cdp
            .eval(
                &session,
                "document.querySelectorAll('#transcript li').length",
            )
            .await;
        if diff.as_str().is_some_and(|d| !d.is_empty())
            && done.as_u64().unwrap_or(0) >= nonzero[nonzero.len() - 1]
        {
            break diff.as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no final diff after reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(diff.contains("+fixed <script>alert(1)</script>"), "{diff}");
    let checks = cdp
        .eval(
            &session,
            "document.querySelector('.checks li.pass strong').textContent",
        )
        .await;
    assert_eq!(checks, json!("fix present"));

    let shot = cdp
        .call(
            Some(&session),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        )
        .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/agentd-web-view.png");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, &png).unwrap();
    println!("screenshot: {}", out.display());

    drop(cdp);
    let _ = browser.kill().await;
    daemon.shutdown().await;
}
