//! agentd under load: 100 concurrent scripted sessions in one process.
//!
//! ```text
//! cargo bench --bench agentd --features daemon
//! ```
//!
//! Reports
//! - the peak RSS of the process (`VmHWM`) after 100 sessions ran at once
//!   (goal: ≤ 200 MB in total);
//! - enqueue → first model request (the `model_call_started` event of step 1),
//!   median and p90, on an idle daemon (one task at a time) and for the 100
//!   concurrent ones (goal for the median: ≤ 50 ms).
//!
//! The daemon is the real one (`agentkit_server::daemon::start`): SQLite store
//! in a temporary directory, local sandboxes (a clone per task), the standard
//! tools, the local forge. The model is scripted: list the files, run a
//! one-second command (so the sessions overlap), write a file, finish.

use std::path::Path;
use std::time::{Duration, Instant};

use agentkit::core::event::now_ms;
use agentkit::server::config::Config;
use agentkit::server::daemon::{StartOptions, start};

const SESSIONS: usize = 100;
const IDLE_SAMPLES: usize = 15;

const TRAJECTORY: &str = r#"[
  {"text": "Looking.", "tool_calls": [{"name": "list_files", "arguments": {}}]},
  {"text": "Waiting a second.", "tool_calls": [{"name": "shell", "arguments": {"command": "sleep 1"}}]},
  {"text": "Writing.", "tool_calls": [{"name": "write_file", "arguments": {"path": "out.txt", "content": "done\n"}}]},
  {"text": "Done.", "tool_calls": [{"name": "finish", "arguments": {"summary": "wrote out.txt"}}]}
]"#;

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.invalid")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn enqueue(&self, id: &str) -> u64 {
        let at = now_ms();
        let response = self
            .http
            .post(format!("{}/api/tasks", self.base))
            .json(&serde_json::json!({"task": {"id": id, "title": "bench"}}))
            .send()
            .await
            .expect("agentd answers");
        assert_eq!(response.status(), 201);
        at
    }

    async fn state(&self, id: &str) -> String {
        let body: serde_json::Value = self
            .http
            .get(format!("{}/api/tasks/{id}", self.base))
            .send()
            .await
            .expect("agentd answers")
            .json()
            .await
            .expect("json");
        body["state"].as_str().unwrap_or("").to_string()
    }

    /// When the task's run started (its sandbox ready) and its first model
    /// request started (ms since the epoch).
    async fn first_model_call(&self, id: &str) -> (u64, u64) {
        let text = self
            .http
            .get(format!("{}/api/tasks/{id}/transcript", self.base))
            .send()
            .await
            .expect("agentd answers")
            .text()
            .await
            .expect("text");
        let events: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let at = |kind: &str| {
            events
                .iter()
                .find(|e| e["record"]["type"] == kind)
                .and_then(|e| e["record"]["at_ms"].as_u64())
                .unwrap_or_else(|| panic!("task {id} has no {kind} event"))
        };
        (at("run_started"), at("model_call_started"))
    }

    async fn wait_done(&self, ids: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(600);
        for id in ids {
            loop {
                let state = self.state(id).await;
                if state == "succeeded" {
                    break;
                }
                assert!(
                    !matches!(state.as_str(), "failed" | "cancelled"),
                    "{id} ended {state}"
                );
                assert!(Instant::now() < deadline, "{id} did not finish");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn report(label: &str, mut latencies: Vec<u64>) {
    latencies.sort_unstable();
    println!(
        "{label}: enqueue → first model request median {} ms, p90 {} ms, max {} ms (n = {})",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies[latencies.len() - 1],
        latencies.len()
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "bench\n").expect("write");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "initial"]);
    let script = dir.path().join("trajectory.json");
    std::fs::write(&script, TRAJECTORY).expect("write");

    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.workers.concurrency = SESSIONS;
    config.sandbox.backend = "local".into();
    config.forge.state_dir = Some(dir.path().join("forge"));
    let options = StartOptions::new(
        format!("scripted:{}", script.display()),
        Some(repo.display().to_string()),
    );
    let daemon = start(&config, options).await.expect("agentd starts");
    let client = Client {
        http: reqwest::Client::new(),
        base: format!("http://{}", daemon.addr()),
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("agentd bench: SQLite store, local sandboxes, scripted model; {SESSIONS} sessions");
    println!("load average before: {}", load.trim());
    println!("peak RSS after start: {:.1} MiB", peak_rss_mib());

    // Idle: one task at a time.
    let (mut idle, mut to_run, mut to_model) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..IDLE_SAMPLES {
        let id = format!("idle-{n}");
        let at = client.enqueue(&id).await;
        client.wait_done(std::slice::from_ref(&id)).await;
        let (run, model) = client.first_model_call(&id).await;
        idle.push(model.saturating_sub(at));
        to_run.push(run.saturating_sub(at));
        to_model.push(model.saturating_sub(run));
    }
    to_run.sort_unstable();
    to_model.sort_unstable();
    println!(
        "idle daemon, medians: enqueue → run started (lease, sandbox clone) {} ms, \
         run started → first model request (context) {} ms",
        percentile(&to_run, 0.5),
        percentile(&to_model, 0.5)
    );
    report("idle daemon", idle);

    // 100 at once.
    let started = Instant::now();
    let ids: Vec<String> = (0..SESSIONS).map(|n| format!("load-{n}")).collect();
    let mut enqueued = Vec::new();
    for id in &ids {
        enqueued.push(client.enqueue(id).await);
    }
    client.wait_done(&ids).await;
    let elapsed = started.elapsed();
    let mut loaded = Vec::new();
    for (id, at) in ids.iter().zip(enqueued) {
        loaded.push(client.first_model_call(id).await.1.saturating_sub(at));
    }
    report(&format!("{SESSIONS} concurrent"), loaded);
    println!(
        "{SESSIONS} concurrent sessions finished in {:.1} s; peak RSS of the process: {:.1} MiB",
        elapsed.as_secs_f64(),
        peak_rss_mib()
    );
    daemon.shutdown().await;
}
