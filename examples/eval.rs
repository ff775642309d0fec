//! Measure an agent on real tasks.
//!
//! ```text
//! # is the task set sound? (the no-op agent must score 0, the upstream fix 1)
//! cargo run --features eval --example eval -- --self-check
//!
//! # agentkit's own loop with any model spec, four tasks at a time
//! cargo run --features eval --example eval -- --agent model:openai:gpt-5 --jobs 4
//!
//! # mini-swe-agent as the backbone, against a local OpenAI-compatible server
//! cargo run --features eval --example eval -- --agent external:mini \
//!     --model openai/qwen3 --api-base http://127.0.0.1:8080/v1 --program ~/.cache/agentkit/mini-swe-agent/bin/mini
//!
//! # a SWE-bench subset, with the repositories cloned under ./repos
//! cargo run --features eval --example eval -- --swe-bench instances.jsonl --repos ./repos --only django__django-11099
//!
//! # the last 50 commits of a repository that changed code and tests, as tasks
//! cargo run --features eval --example eval -- --replay ~/src/myproject \
//!     --test-command "cargo test --offline --no-fail-fast" --log-parser cargo --agent oracle
//! ```
//!
//! The report goes to `--out` (`target/agentkit-eval/` by default) as
//! `report.json` and `report.md`; the Markdown table is also printed.
//! Sources are fetched from PyPI and crates.io once, into
//! `~/.cache/agentkit/eval` (`--prefetch` only fetches). Python tasks run
//! their tests with `$AGENTKIT_EVAL_PYTHON` (a Python with pytest: `eval
//! "$(.ci/mini-swe-agent.sh)"` installs one).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agentkit::core::CancellationToken;
use agentkit::core::engine::Budgets;
use agentkit::eval::history::{HistoryOptions, calibrate, replay};
use agentkit::eval::swebench::{ImportOptions, import};
use agentkit::eval::{
    EvalAgent, EvalTask, Harness, LogParser, ModelAgent, NoopAgent, OracleAgent, Report, load_tasks,
};
use agentkit::external::{ExternalAgent, Preset};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Run an agent over eval tasks and report how many it resolves")]
struct Cli {
    /// Directory of task definitions (searched for task.json).
    #[arg(long, default_value = "evals/tasks")]
    tasks: PathBuf,
    /// Only these task ids (repeatable, or comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only the tasks marked quick.
    #[arg(long)]
    quick: bool,
    /// Tasks run at once.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// `noop`, `oracle`, `model:SPEC` (agentkit's loop) or `external:mini|codex|claude|aider`.
    #[arg(long, default_value = "noop")]
    agent: String,
    /// The model of an external agent, in its own naming (e.g. `openai/gpt-4o-mini`).
    #[arg(long, default_value = "")]
    model: String,
    /// The model server of an external agent.
    #[arg(long, default_value = "")]
    api_base: String,
    /// The external agent's program (default: the preset's, e.g. `mini` on PATH).
    #[arg(long)]
    program: Option<String>,
    /// Step budget per task.
    #[arg(long, default_value_t = 50)]
    max_steps: u32,
    /// Wall-time budget per task, in seconds.
    #[arg(long, default_value_t = 1800)]
    max_seconds: u64,
    /// Cost budget per task, in dollars.
    #[arg(long)]
    max_cost: Option<f64>,
    /// Run the no-op agent and the oracle; fail unless they score exactly 0 and 1.
    #[arg(long)]
    self_check: bool,
    /// Only fetch the tasks' sources into the cache.
    #[arg(long)]
    prefetch: bool,
    /// Import SWE-bench instances from this JSONL file instead of --tasks.
    #[arg(long)]
    swe_bench: Option<PathBuf>,
    /// Where the SWE-bench repositories are (`owner__name`, `owner/name` or `name`).
    #[arg(long, default_value = "repos")]
    repos: PathBuf,
    /// Replay this repository's history as tasks instead of --tasks.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Commits looked at by --replay.
    #[arg(long, default_value_t = 50)]
    replay_commits: usize,
    /// Test command for --replay and --swe-bench (`{python}`, `{tests}`).
    #[arg(long)]
    test_command: Option<String>,
    /// How the test output is read for --replay and --swe-bench: pytest or cargo.
    #[arg(long, default_value = "pytest")]
    log_parser: String,
    /// Where report.json and report.md go.
    #[arg(long, default_value = "target/agentkit-eval")]
    out: PathBuf,
    /// Where transcripts of model runs go (one JSONL per task).
    #[arg(long)]
    transcripts: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,agentkit_sandbox::local=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let harness = Harness {
        jobs: cli.jobs.max(1),
        progress: true,
        ..Harness::new()
    };
    let tasks = tasks(&cli, &harness).await?;
    if tasks.is_empty() {
        return Err("no tasks selected".into());
    }
    if cli.prefetch {
        let failed = harness.prefetch(&tasks).await;
        for (id, why) in &failed {
            eprintln!("{id}: {why}");
        }
        eprintln!(
            "fetched {} of {} sources into {}",
            tasks.len() - failed.len(),
            tasks.len(),
            harness.sources.root().display()
        );
        return Ok(if failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    std::fs::create_dir_all(&cli.out)
        .map_err(|e| format!("creating {}: {e}", cli.out.display()))?;
    if cli.self_check {
        let check = harness.self_check(&tasks, cancel).await;
        write_report(&cli, "noop", &check.noop)?;
        write_report(&cli, "oracle", &check.oracle)?;
        println!(
            "{}\n{}",
            check.noop.to_markdown(),
            check.oracle.to_markdown()
        );
        let problems = check.problems();
        if problems.is_empty() {
            println!(
                "self-check passed: no-op {}/{}, oracle {}/{}",
                check.noop.resolved(),
                tasks.len(),
                check.oracle.resolved(),
                tasks.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        for problem in problems {
            eprintln!("self-check: {problem}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let agent = agent(&cli)?;
    let report = harness.run(&tasks, agent.as_ref(), cancel).await;
    write_report(&cli, "report", &report)?;
    println!("{}", report.to_markdown());
    Ok(ExitCode::SUCCESS)
}

async fn tasks(cli: &Cli, harness: &Harness) -> Result<Vec<EvalTask>, String> {
    let parser = match cli.log_parser.as_str() {
        "pytest" => LogParser::Pytest,
        "cargo" => LogParser::Cargo,
        other => return Err(format!("unknown --log-parser `{other}` (pytest or cargo)")),
    };
    let mut tasks = if let Some(file) = &cli.swe_bench {
        let mut options = ImportOptions::new(&cli.repos);
        options.log_parser = parser;
        if let Some(command) = &cli.test_command {
            options.test_command = command.clone();
        }
        import(file, &options, &cli.only).map_err(|e| e.to_string())?
    } else if let Some(repo) = &cli.replay {
        let command = cli.test_command.clone().ok_or(
            "--replay needs --test-command (the whole suite; its output is parsed per test)",
        )?;
        let mut options = HistoryOptions::new(command, parser);
        options.max_commits = cli.replay_commits;
        let candidates = replay(repo, &options).await.map_err(|e| e.to_string())?;
        eprintln!(
            "{} commits changed code and tests; calibrating them...",
            candidates.len()
        );
        calibrate(harness, candidates).await
    } else {
        load_tasks(&cli.tasks).map_err(|e| e.to_string())?
    };
    if !cli.only.is_empty() {
        tasks.retain(|t| cli.only.contains(&t.id));
    }
    if cli.quick {
        tasks.retain(|t| t.quick);
    }
    Ok(tasks)
}

fn agent(cli: &Cli) -> Result<Box<dyn EvalAgent>, String> {
    let budgets = Budgets {
        max_steps: cli.max_steps,
        max_tokens: None,
        max_cost_usd: cli.max_cost,
        max_wall_time: Some(Duration::from_secs(cli.max_seconds)),
    };
    if cli.agent == "noop" {
        return Ok(Box::new(NoopAgent));
    }
    if cli.agent == "oracle" {
        return Ok(Box::new(OracleAgent));
    }
    if let Some(spec) = cli.agent.strip_prefix("model:") {
        let mut agent = ModelAgent::new(spec);
        agent.budgets = budgets;
        agent.transcripts = cli.transcripts.clone();
        return Ok(Box::new(agent));
    }
    if let Some(key) = cli.agent.strip_prefix("external:") {
        let preset = Preset::from_key(key).ok_or_else(|| {
            format!(
                "unknown external agent `{key}`; presets: {}",
                Preset::ALL.map(Preset::key).join(", ")
            )
        })?;
        let mut agent = ExternalAgent::preset(preset, cli.model.clone())
            .api_base(cli.api_base.clone())
            .budgets(budgets);
        if let Some(program) = &cli.program {
            agent = agent.program(program.clone());
        }
        return Ok(Box::new(agent));
    }
    Err(format!(
        "unknown --agent `{}` (noop, oracle, model:SPEC, external:PRESET)",
        cli.agent
    ))
}

fn write_report(cli: &Cli, name: &str, report: &Report) -> Result<(), String> {
    for (ext, text) in [("json", report.to_json()), ("md", report.to_markdown())] {
        let path = cli.out.join(format!("{name}.{ext}"));
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
