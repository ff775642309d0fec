//! Against a real LLM: llama-cpp-python's OpenAI-compatible server serving
//! SmolLM2-135M-Instruct on 127.0.0.1, installed by `.ci/local-llm.sh
//! install` (`.ci/run` does that). Each live test starts its own server.
//!
//! The live tests record their exchanges as cassettes and check that the
//! replay of the fresh recording gives back exactly what the live calls
//! gave. The cassettes committed under `tests/cassettes/local_llm/` were
//! recorded the same way (`AGENTKIT_RECORD_CASSETTES=1` rewrites them) and
//! are replayed by the `replayed_*` tests, which need no server.
//!
//! The model is tiny: it follows the chat template and, with a grammar
//! forcing a tool call, names a tool, but the arguments it writes are often
//! not valid JSON. That is what the agent must survive: the engine tells the
//! model what was wrong instead of running the tool with made-up arguments.
//!
//! Without the server installed these tests are skipped with a message,
//! except when `CI` or `AGENTKIT_REQUIRE_LOCAL_LLM` is set: then a missing
//! server fails them.

#![cfg(all(feature = "llm", feature = "sandbox-local", feature = "tools"))]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentkit::core::CancellationToken;
use agentkit::core::agent::Agent;
use agentkit::core::event::{Event, MemorySink};
use agentkit::core::message::{Message, Part, Role, ToolCall, ToolResult};
use agentkit::core::model::{FinishReason, Model, ModelRequest, ToolChoice};
use agentkit::core::outcome::{Outcome, StopReason};
use agentkit::core::sandbox::SandboxPolicy;
use agentkit::core::task::{RepoRef, Task};
use agentkit::core::tool::ToolSpec;
use agentkit::llm::cassette::{Cassette, ReplayMode};
use agentkit::llm::{BuildOptions, HttpRequest, ModelSpec, ReqwestTransport, Transport};
use agentkit::sandbox::local::LocalSandbox;
use agentkit::tools::tools::standard_tools;

// ------------------------------------------------------------ the server

/// A running `llama_cpp.server`; killed (its whole process group) on drop.
struct LlamaServer {
    child: Child,
    port: u16,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        // SAFETY: plain syscalls on the child's own process group.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn spec(&self) -> String {
        format!("openai-compatible:{}#smollm2", self.base_url())
    }
}

fn cache_dir() -> PathBuf {
    if let Ok(home) = std::env::var("AGENTKIT_LLM_HOME") {
        return PathBuf::from(home);
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("agentkit")
}

fn installed() -> Option<(PathBuf, PathBuf)> {
    let python = std::env::var("AGENTKIT_LLM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache_dir().join("venv/bin/python"));
    let model = std::env::var("AGENTKIT_LLM_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache_dir().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    (python.exists() && model.exists()).then_some((python, model))
}

fn required() -> bool {
    ["CI", "AGENTKIT_REQUIRE_LOCAL_LLM"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"))
}

/// Starts a server, or returns `None` (after saying so) when none is
/// installed and none is required.
async fn start_server() -> Option<LlamaServer> {
    let Some((python, model)) = installed() else {
        let message = "the local LLM server is not installed; run `.ci/local-llm.sh install` \
                       (or `.ci/run`, which does)";
        assert!(!required(), "{message}");
        eprintln!("SKIPPED: {message}");
        return None;
    };
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().unwrap().port()
    };
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = {
        use std::os::unix::process::CommandExt;
        // The same server command line the script documents, plus a seed.
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/local-llm.sh"))
            .args(["serve", &port.to_string(), "--seed", "7"])
            .env("AGENTKIT_LLM_PYTHON", &python)
            .env("AGENTKIT_LLM_MODEL", &model)
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .process_group(0)
            .spawn()
            .expect("start llama_cpp.server")
    };
    let mut server = LlamaServer { child, port };
    let transport = ReqwestTransport::new().unwrap();
    let started = Instant::now();
    loop {
        let probe = HttpRequest {
            method: "GET".into(),
            url: format!("{}/models", server.base_url()),
            headers: vec![],
            body: Default::default(),
        };
        if let Ok(response) = transport.send(probe).await
            && response.status == 200
        {
            return Some(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "llama_cpp.server exited ({status}) before answering:\n{}",
                std::fs::read_to_string(log.path()).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "llama_cpp.server did not answer within 180 s:\n{}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ------------------------------------------------------------ cassettes

fn committed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cassettes/local_llm")
        .join(name)
}

/// Where a live test records: the committed cassette when re-recording,
/// else a temporary file.
fn recording_path(name: &str, temp: &Path) -> PathBuf {
    if std::env::var("AGENTKIT_RECORD_CASSETTES").is_ok_and(|v| v == "1") {
        let path = committed(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        path
    } else {
        temp.join(name)
    }
}

/// A live model that records into `path`.
fn live(server: &LlamaServer, path: &Path, streaming: bool) -> Arc<dyn Model> {
    let options = BuildOptions {
        streaming,
        ..BuildOptions::default().with_env(&[]).recording(path)
    };
    ModelSpec::parse(&server.spec())
        .unwrap()
        .build_with(&options)
        .unwrap()
}

/// A model that replays the cassette at `path`.
fn replay(path: &Path, streaming: bool, mode: ReplayMode) -> Arc<dyn Model> {
    let options = BuildOptions {
        streaming,
        replay_mode: mode,
        ..BuildOptions::default().with_env(&[])
    };
    ModelSpec::parse(&format!("replay:{}", path.display()))
        .unwrap()
        .build_with(&options)
        .unwrap()
}

// ------------------------------------------------------------ the checks

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        system: "You are a helpful assistant. Answer in one short sentence.".into(),
        messages,
        tools: vec![],
        tool_choice: ToolChoice::Auto,
        max_output_tokens: Some(24),
        temperature: Some(0.0),
        reasoning_effort: None,
    }
}

fn list_files_tool() -> ToolSpec {
    standard_tools()
        .specs()
        .into_iter()
        .find(|s| s.name == "list_files")
        .expect("list_files is a standard tool")
}

/// A plain question: a text reply that ends normally, with usage when the
/// server reports it (llama.cpp reports it for whole replies only).
async fn check_plain(model: &dyn Model, streaming: bool) -> String {
    let reply = model
        .complete(request(vec![Message::user("What colour is the sky?")]))
        .await
        .expect("the server answers");
    assert!(!reply.message.text().trim().is_empty(), "{reply:?}");
    assert_eq!(reply.message.tool_calls().count(), 0);
    assert!(
        matches!(
            reply.finish_reason,
            FinishReason::Stop | FinishReason::Length
        ),
        "{reply:?}"
    );
    if !streaming {
        assert!(reply.usage.input_tokens > 10, "{:?}", reply.usage);
        assert!(reply.usage.output_tokens > 0, "{:?}", reply.usage);
    }
    reply.message.text()
}

/// A forced tool call, then the conversation continued with its result
/// (an assistant turn with tool calls and empty content, which this server
/// only accepts as `""`, never `null`).
async fn check_tool_call(model: &dyn Model) -> ToolCall {
    let mut ask = request(vec![Message::user("List the files in the src directory.")]);
    ask.tools = vec![list_files_tool()];
    ask.tool_choice = ToolChoice::Tool {
        name: "list_files".into(),
    };
    ask.max_output_tokens = Some(64);
    let reply = model
        .complete(ask.clone())
        .await
        .expect("the server answers");
    let calls: Vec<ToolCall> = reply.message.tool_calls().cloned().collect();
    assert_eq!(calls.len(), 1, "{reply:?}");
    assert_eq!(calls[0].name, "list_files");
    assert!(!calls[0].id.is_empty());
    assert!(
        !calls[0].arguments.trim().is_empty(),
        "arguments are never dropped"
    );
    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);

    let mut next = ask;
    next.messages.push(reply.message.clone());
    next.messages.push(Message {
        role: Role::User,
        parts: vec![Part::ToolResult(ToolResult {
            call_id: calls[0].id.clone(),
            name: "list_files".into(),
            content: "src/lib.rs\nsrc/main.rs".into(),
            is_error: false,
        })],
    });
    next.tool_choice = ToolChoice::Auto;
    let answer = model
        .complete(next)
        .await
        .expect("a history with a tool call and its result is accepted");
    assert!(
        !answer.message.text().trim().is_empty() || answer.message.tool_calls().count() > 0,
        "{answer:?}"
    );
    calls[0].clone()
}

/// A small repository for the agent to look at.
fn repo(dir: &Path) -> PathBuf {
    let root = dir.join("repo");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("README.md"), "# calc\n\nAdds numbers.\n").unwrap();
    std::fs::write(
        root.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    )
    .unwrap();
    root
}

/// A short agent run: the first call must list files, later calls must
/// finish. Whatever the tiny model writes, the run ends by a rule of the
/// loop (finished, or out of steps after being told what was wrong), every
/// tool call is answered once, and no tool ever runs on made-up arguments.
async fn run_agent(model: Arc<dyn Model>, dir: &Path) -> (Outcome, Vec<Event>) {
    let sink = Arc::new(MemorySink::new());
    let agent = Agent::builder(model)
        .tools(standard_tools())
        .first_tool_choice(ToolChoice::Tool {
            name: "list_files".into(),
        })
        .tool_choice(ToolChoice::Tool {
            name: "finish".into(),
        })
        .temperature(0.0)
        .max_output_tokens(96)
        .budgets(agentkit::core::engine::Budgets {
            max_steps: 4,
            max_tokens: None,
            max_cost_usd: None,
            max_wall_time: Some(Duration::from_secs(300)),
        })
        .shared_sink(sink.clone())
        .build();
    let sandbox =
        LocalSandbox::attach(repo(dir), SandboxPolicy::default(), BTreeMap::new()).unwrap();
    let task = Task::new(
        "LLM-1",
        "Look around",
        "List the files in the repository, then finish with a one-line summary.",
        RepoRef::new("repo"),
    );
    let outcome = agent
        .run(task, Arc::new(sandbox), CancellationToken::new())
        .await;
    (outcome, sink.events())
}

fn check_agent_run(outcome: &Outcome, events: &[Event]) {
    assert!(
        matches!(
            outcome.stop_reason,
            StopReason::Finished { .. } | StopReason::MaxSteps { .. }
        ),
        "the run must end by a rule of the loop, not an error: {:?}",
        outcome.stop_reason
    );
    let calls: Vec<&ToolCall> = events
        .iter()
        .filter_map(|e| match e {
            Event::ModelCallFinished { tool_calls, .. } => Some(tool_calls),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(!calls.is_empty(), "the model called no tool");
    assert_eq!(calls[0].name, "list_files", "the first call was forced");
    let finished: Vec<(&str, bool, &str)> = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCallFinished {
                call_id,
                is_error,
                content,
                ..
            } => Some((call_id.as_str(), *is_error, content.as_str())),
            _ => None,
        })
        .collect();
    // Every call answered exactly once, in order.
    let answered: Vec<&str> = finished.iter().map(|(id, _, _)| *id).collect();
    let asked: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(answered, asked);
    for (call, (_, is_error, content)) in calls.iter().zip(&finished) {
        let valid =
            serde_json::from_str::<serde_json::Value>(&call.arguments).is_ok_and(|v| v.is_object());
        if !valid {
            assert!(*is_error, "invalid arguments were run: {call:?}");
            assert!(
                content.contains("arguments") || content.contains("JSON"),
                "the model must be told what was wrong: {content}"
            );
        }
    }
    if let StopReason::Finished { summary } = &outcome.stop_reason {
        assert!(!summary.trim().is_empty());
    }
    assert!(
        outcome.usage.input_tokens > 0,
        "usage was counted: {outcome:?}"
    );
}

// ------------------------------------------------------------ live tests

#[tokio::test]
async fn live_plain_and_streamed_replies_and_their_cassettes() {
    let Some(server) = start_server().await else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    for (name, streaming) in [("plain.json", false), ("streamed.json", true)] {
        let path = recording_path(name, temp.path());
        let said = check_plain(live(&server, &path, streaming).as_ref(), streaming).await;
        let replayed = check_plain(
            replay(&path, streaming, ReplayMode::Strict).as_ref(),
            streaming,
        )
        .await;
        assert_eq!(
            replayed, said,
            "{name}: the replay says what the server said"
        );
    }
}

#[tokio::test]
async fn live_tool_calls_streamed_and_whole_and_their_cassettes() {
    let Some(server) = start_server().await else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    for (name, streaming) in [("tool_call.json", false), ("tool_call_streamed.json", true)] {
        let path = recording_path(name, temp.path());
        let call = check_tool_call(live(&server, &path, streaming).as_ref()).await;
        let replayed = check_tool_call(replay(&path, streaming, ReplayMode::Strict).as_ref()).await;
        assert_eq!(replayed, call, "{name}");
    }
}

#[tokio::test]
async fn live_short_agent_run_and_its_cassette() {
    let Some(server) = start_server().await else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let path = recording_path("agent_run.json", temp.path());
    let (outcome, events) = run_agent(live(&server, &path, true), &temp.path().join("live")).await;
    check_agent_run(&outcome, &events);
    let (replayed, replayed_events) = run_agent(
        replay(&path, true, ReplayMode::Strict),
        &temp.path().join("replay"),
    )
    .await;
    assert_eq!(replayed.stop_reason, outcome.stop_reason);
    assert_eq!(replayed.steps, outcome.steps);
    check_agent_run(&replayed, &replayed_events);
}

// ------------------------------------------------- committed cassettes

#[tokio::test]
async fn replayed_plain_and_streamed_replies() {
    for (name, streaming) in [("plain.json", false), ("streamed.json", true)] {
        let path = committed(name);
        let cassette = Cassette::load(&path).unwrap();
        assert!(
            cassette
                .spec
                .as_deref()
                .is_some_and(|s| s.ends_with("#smollm2")),
            "{name} was recorded from the real server"
        );
        check_plain(
            replay(&path, streaming, ReplayMode::Strict).as_ref(),
            streaming,
        )
        .await;
    }
}

#[tokio::test]
async fn replayed_tool_calls() {
    for (name, streaming) in [("tool_call.json", false), ("tool_call_streamed.json", true)] {
        check_tool_call(replay(&committed(name), streaming, ReplayMode::Strict).as_ref()).await;
    }
}

#[tokio::test]
async fn replayed_short_agent_run() {
    let temp = tempfile::tempdir().unwrap();
    let (outcome, events) = run_agent(
        replay(&committed("agent_run.json"), true, ReplayMode::Strict),
        temp.path(),
    )
    .await;
    check_agent_run(&outcome, &events);
    // What the recorded run went through: a path outside the workspace was
    // refused, then arguments that were not JSON were explained, then the
    // model finished properly.
    assert_eq!(outcome.steps, 3);
    assert!(matches!(outcome.stop_reason, StopReason::Finished { .. }));
    let results: Vec<(bool, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCallFinished {
                is_error, content, ..
            } => Some((*is_error, content.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(
        results[0].0 && results[0].1.contains("outside the workspace"),
        "{results:?}"
    );
    assert!(
        results[1].0 && results[1].1.contains("not valid JSON"),
        "{results:?}"
    );
    assert!(!results[2].0, "{results:?}");
}
