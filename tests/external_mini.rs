//! mini-swe-agent (from PyPI) as the backbone: run inside an agentkit
//! sandbox against a scripted OpenAI-compatible server on 127.0.0.1, verified,
//! and published through the same handover and forge as the built-in loop.
//!
//! Needs `AGENTKIT_MINI` (the `mini` of a venv with mini-swe-agent 2.4.6:
//! `eval "$(.ci/mini-swe-agent.sh)"`). Without it these tests print
//! `SKIPPED`; under `CI` they fail.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentkit::core::CancellationToken;
use agentkit::core::engine::Budgets;
use agentkit::core::event::{Event, MemorySink};
use agentkit::core::outcome::StopReason;
use agentkit::core::sandbox::{SandboxProvider, SandboxSpec};
use agentkit::core::task::{RepoRef, Task};
use agentkit::core::usage::Usage;
use agentkit::eval::{
    EvalTask, Harness, HiddenTests, LogParser, Provenance, Source, SourceCache, TaskStatus,
};
use agentkit::external::{ExternalAgent, Preset};
use agentkit::sandbox::local::LocalProvider;
use agentkit::tools::forge::LocalForge;
use agentkit::tools::verify::CommandVerifier;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn mini() -> Option<String> {
    let mini = std::env::var("AGENTKIT_MINI")
        .ok()
        .filter(|p| Path::new(p).is_file());
    if mini.is_none() {
        let message = "AGENTKIT_MINI is not set to mini-swe-agent's `mini`; run `eval \"$(.ci/mini-swe-agent.sh)\"`";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
    }
    mini
}

/// A scripted OpenAI-compatible server: the reply to a request is the
/// script's entry at the number of assistant messages the request carries
/// (so concurrent conversations each follow the script). Every request
/// body is kept. `stall` makes it never answer.
struct FakeLlm {
    url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

const USAGE: (u64, u64) = (120, 30);

async fn fake_llm(script: Vec<Value>, stall: bool) -> FakeLlm {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    let script = Arc::new(script);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let seen = Arc::clone(&seen);
            let script = Arc::clone(&script);
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                    return;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                let (status, reply) = if request_line.starts_with("POST")
                    && request_line.contains("/chat/completions")
                {
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let step = body["messages"]
                        .as_array()
                        .map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count());
                    seen.lock().unwrap().push(body.clone());
                    if stall {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    let turn = script
                        .get(step)
                        .cloned()
                        .unwrap_or_else(|| script[script.len() - 1].clone());
                    ("200 OK", completion(&body, turn))
                } else {
                    ("404 Not Found", json!({"error": {"message": "not found"}}))
                };
                let text = reply.to_string();
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let mut stream = reader.into_inner();
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    FakeLlm { url, requests }
}

fn completion(request: &Value, turn: Value) -> Value {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request["model"],
        "choices": [{"index": 0, "message": turn, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": USAGE.0, "completion_tokens": USAGE.1, "total_tokens": USAGE.0 + USAGE.1}
    })
}

fn bash(id: &str, text: &str, command: &str) -> Value {
    json!({
        "role": "assistant",
        "content": text,
        "tool_calls": [{"id": id, "type": "function", "function": {"name": "bash", "arguments": json!({"command": command}).to_string()}}]
    })
}

/// Fix `mean`, then submit.
fn fixing_script() -> Vec<Value> {
    vec![
        bash(
            "call_1",
            "The divisor is off by one.",
            "sed -i 's/(len(xs) + 1)/len(xs)/' mathutils.py && cat mathutils.py",
        ),
        bash(
            "call_2",
            "Fixed; submitting.",
            "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT",
        ),
    ]
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fixture_repo(root: &Path) -> std::path::PathBuf {
    let repo = root.join("repo");
    std::fs::create_dir_all(repo.join("tests")).unwrap();
    std::fs::write(
        repo.join("mathutils.py"),
        "def mean(xs):\n    return sum(xs) / (len(xs) + 1)\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("tests/mean.sh"),
        "out=$(python3 -c 'import mathutils; print(mathutils.mean([1, 2, 3]))')\n[ \"$out\" = 2.0 ]\n",
    )
    .unwrap();
    std::fs::write(repo.join(".gitignore"), "__pycache__/\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "mathutils"]);
    repo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mini_backbone_opens_a_pull_request_on_the_local_forge() {
    let Some(mini) = mini() else { return };
    let root = tempfile::tempdir().unwrap();
    let repo = fixture_repo(root.path());
    let server = fake_llm(fixing_script(), false).await;
    let forge = Arc::new(LocalForge::new(
        repo.join(".git"),
        root.path().join("forge"),
    ));
    let events = Arc::new(MemorySink::new());
    let agent = ExternalAgent::preset(Preset::MiniSweAgent, "openai/gpt-4o-mini")
        .program(mini)
        .api_base(server.url.clone())
        .verifier(CommandVerifier::new().check("tests", "bash tests/mean.sh"))
        .forge(forge.clone())
        .sink(events.clone());
    let sandbox = LocalProvider::new()
        .create(&SandboxSpec::new(repo.display().to_string()))
        .await
        .unwrap();
    let task = Task::new(
        "MATH-1",
        "mean() is wrong",
        "mean([1, 2, 3]) returns 1.5; it should be 2.0.",
        RepoRef::new(repo.display().to_string()),
    );
    let outcome = agent
        .run(task, sandbox.clone(), CancellationToken::new())
        .await;
    sandbox.close().await.unwrap();

    assert!(
        matches!(outcome.stop_reason, StopReason::Finished { .. }),
        "{:?}",
        outcome.stop_reason
    );
    assert_eq!(outcome.steps, 2);
    assert_eq!(
        outcome.usage,
        Usage {
            input_tokens: 2 * USAGE.0,
            output_tokens: 2 * USAGE.1,
            ..Usage::default()
        }
    );
    assert!(outcome.verification.as_ref().is_some_and(|v| v.passed));
    let pr = outcome.pull_request.expect("a pull request");
    assert_eq!(
        (pr.branch.as_str(), pr.base_branch.as_str()),
        ("agent/MATH-1", "main")
    );
    assert!(
        pr.body.contains("mini-swe-agent (`openai/gpt-4o-mini`)"),
        "{}",
        pr.body
    );
    let fixed = git(&repo, &["show", "agent/MATH-1:mathutils.py"]);
    assert_eq!(fixed, "def mean(xs):\n    return sum(xs) / len(xs)\n");
    // The trajectory and the agent's own log are in the transcript.
    let kinds: Vec<String> = events
        .events()
        .iter()
        .map(|e| match e {
            Event::ToolCallFinished { name, .. } => format!("tool:{name}"),
            Event::ModelCallFinished { step, .. } => format!("model:{step}"),
            other => serde_json::to_value(other).unwrap()["type"]
                .as_str()
                .unwrap_or("?")
                .to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "run_started",
            "prompt_prepared",
            "tool_call_started",
            "tool:external:mini-swe-agent",
            "model:1",
            "tool:bash",
            "model:2",
            "tool:bash",
            "verification_started",
            "verification_finished",
            "published",
            "run_finished"
        ]
    );
    // What mini sent: our model name, its bash tool, the ticket.
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["model"], "gpt-4o-mini");
    assert_eq!(requests[0]["tools"][0]["function"]["name"], "bash");
    assert!(
        requests[0]["messages"]
            .to_string()
            .contains("mean([1, 2, 3]) returns 1.5")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mini_backbone_in_the_eval_harness() {
    let Some(mini) = mini() else { return };
    let root = tempfile::tempdir().unwrap();
    let repo = fixture_repo(root.path());
    let server = fake_llm(fixing_script(), false).await;
    let task_dir = root.path().join("task");
    std::fs::create_dir_all(task_dir.join("hidden/tests")).unwrap();
    std::fs::write(
        task_dir.join("hidden/tests/run.sh"),
        "for t in tests/*.sh; do n=$(basename $t .sh); [ $n = run ] && continue; if bash $t; then echo \"test $n ... ok\"; else echo \"test $n ... FAILED\"; fi; done\n",
    )
    .unwrap();
    let task = EvalTask {
        id: "mean-off-by-one".into(),
        title: "mean() is wrong".into(),
        ticket: "mean([1, 2, 3]) returns 1.5; it should be 2.0.".into(),
        language: "python".into(),
        source: Source::Git {
            path: repo,
            commit: "main".into(),
        },
        provenance: Provenance::default(),
        setup: None,
        env: Default::default(),
        test_command: "bash tests/run.sh".into(),
        log_parser: LogParser::Cargo,
        test_files: vec!["tests/**".into()],
        hidden_tests: HiddenTests {
            dir: Some("hidden".into()),
            ..HiddenTests::default()
        },
        fail_to_pass: vec!["mean".into()],
        pass_to_pass: vec![],
        oracle: None,
        oracle_patch: None,
        quick: true,
        dir: task_dir,
    };
    let agent = ExternalAgent::preset(Preset::MiniSweAgent, "openai/gpt-4o-mini")
        .program(mini)
        .api_base(server.url.clone());
    let harness = Harness {
        sources: SourceCache::new(root.path().join("cache"), "python3"),
        ..Harness::new()
    };
    let report = harness.run(&[task], &agent, CancellationToken::new()).await;
    let result = &report.tasks[0];
    assert_eq!(result.status, TaskStatus::Resolved, "{}", report.to_json());
    assert_eq!(
        (result.steps, result.usage.total()),
        (2, 2 * (USAGE.0 + USAGE.1))
    );
    assert!(matches!(
        result.stop_reason,
        Some(StopReason::Finished { .. })
    ));
    assert!(
        result.diff.contains("+    return sum(xs) / len(xs)"),
        "{}",
        result.diff
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_backbone_runs_out_of_wall_time_and_publishes_nothing() {
    let Some(mini) = mini() else { return };
    let root = tempfile::tempdir().unwrap();
    let repo = fixture_repo(root.path());
    let server = fake_llm(fixing_script(), true).await;
    let forge = Arc::new(LocalForge::new(
        repo.join(".git"),
        root.path().join("forge"),
    ));
    let agent = ExternalAgent::preset(Preset::MiniSweAgent, "openai/gpt-4o-mini")
        .program(mini)
        .api_base(server.url.clone())
        .forge(forge.clone())
        .budgets(Budgets {
            max_wall_time: Some(Duration::from_secs(8)),
            ..Budgets::default()
        });
    let sandbox = LocalProvider::new()
        .create(&SandboxSpec::new(repo.display().to_string()))
        .await
        .unwrap();
    let task = Task::new(
        "MATH-2",
        "mean() is wrong",
        "Fix mean().",
        RepoRef::new(repo.display().to_string()),
    );
    let outcome = agent
        .run(task, sandbox.clone(), CancellationToken::new())
        .await;
    sandbox.close().await.unwrap();
    assert_eq!(
        outcome.stop_reason,
        StopReason::WallTime {
            limit: Duration::from_secs(8)
        }
    );
    assert_eq!(outcome.pull_request, None);
    assert_eq!(forge.list_pull_requests().await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backbone_over_its_token_budget_is_not_published() {
    let Some(mini) = mini() else { return };
    let root = tempfile::tempdir().unwrap();
    let repo = fixture_repo(root.path());
    let server = fake_llm(fixing_script(), false).await;
    let forge = Arc::new(LocalForge::new(
        repo.join(".git"),
        root.path().join("forge"),
    ));
    // mini cannot be stopped at a token count: its trajectory is read when it
    // exits (2 calls of 150 tokens) and the run is not published.
    let agent = ExternalAgent::preset(Preset::MiniSweAgent, "openai/gpt-4o-mini")
        .program(mini)
        .api_base(server.url.clone())
        .forge(forge.clone())
        .budgets(Budgets {
            max_tokens: Some(200),
            ..Budgets::default()
        });
    let sandbox = LocalProvider::new()
        .create(&SandboxSpec::new(repo.display().to_string()))
        .await
        .unwrap();
    let task = Task::new(
        "MATH-3",
        "mean() is wrong",
        "Fix mean().",
        RepoRef::new(repo.display().to_string()),
    );
    let outcome = agent
        .run(task, sandbox.clone(), CancellationToken::new())
        .await;
    sandbox.close().await.unwrap();
    assert_eq!(
        outcome.stop_reason,
        StopReason::TokenBudget {
            limit: 200,
            used: 2 * (USAGE.0 + USAGE.1)
        }
    );
    assert_eq!(forge.list_pull_requests().await.unwrap(), vec![]);
}
