//! A complete background agent for a local repository.
//!
//! ```text
//! # work on a ticket: sandbox, tools, verification, pull request
//! cargo run --example fix_issue -- run --repo PATH --ticket TICKET.json|.md \
//!     --model scripted:PATH --check "tests=cargo test"
//! cargo run --example fix_issue -- run --repo PATH --title "..." --body "..." --model ...
//!
//! # a real model, a fallback, and a cassette of every exchange
//! ANTHROPIC_API_KEY=... OPENAI_API_KEY=... cargo run --example fix_issue -- run \
//!     --repo PATH --ticket T.md --model anthropic:claude-sonnet-4-5 \
//!     --fallback openai:gpt-5 --check "tests=cargo test"
//! cargo run --example fix_issue -- run --repo PATH --ticket T.md \
//!     --model openai-compatible:http://127.0.0.1:8080/v1#qwen3 --record run.json
//! cargo run --example fix_issue -- models
//!
//! # commands run in the strongest sandbox the host supports (bwrap, else
//! # docker, else local with a warning); only crates.io reachable
//! cargo run --example fix_issue -- run --repo PATH --ticket T.md \
//!     --model ... --allow-host crates.io --allow-host static.crates.io
//! # trusted code, no isolation, fastest
//! cargo run --example fix_issue -- run ... --sandbox local
//!
//! # read the pull requests the agent opened
//! cargo run --example fix_issue -- prs list --repo PATH
//! cargo run --example fix_issue -- prs show 1 --repo PATH [--diff]
//! ```
//!
//! `--repo` is a local git repository (with a work tree, or bare). It plays
//! the remote: the agent's commits are pushed to `agent/<task-id>` in it, and
//! pull-request records are kept in its git directory (`agentkit-forge/`)
//! unless `--forge-dir` says otherwise.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agentkit::core::CancellationToken;
use agentkit::core::engine::Budgets;
use agentkit::core::forge::Forge;
use agentkit::core::model::{Model, ReasoningEffort};
use agentkit::core::sandbox::{NetworkPolicy, SandboxProvider};
use agentkit::core::task::{RepoRef, Task};
use agentkit::job::{FixIssue, local_forge};
use agentkit::llm::wrap::Fallback;
use agentkit::llm::{ACCEPTED_SPECS, BuildOptions, ModelSpec};
use agentkit::progress::ConsoleProgress;
use agentkit::sandbox::auto;
use agentkit::sandbox::snapshot::SnapshotStore;
use agentkit::tools::forge::{load_ticket, render_pull_request};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "A complete background coding agent for a local repository")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Work on a ticket and open a pull request.
    Run(Box<RunArgs>),
    /// List the accepted model specs and the environment variables they read.
    Models,
    /// Read the pull requests the agent opened.
    Prs {
        #[command(subcommand)]
        command: PrCmd,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The repository (a local git repository, with a work tree or bare).
    #[arg(long)]
    repo: PathBuf,
    /// A ticket file: JSON {id, title, body, labels?} or Markdown (`# Title` then the body).
    #[arg(long, conflicts_with_all = ["title", "body"])]
    ticket: Option<PathBuf>,
    /// The ticket's title (instead of --ticket).
    #[arg(long, requires = "body")]
    title: Option<String>,
    /// The ticket's body (instead of --ticket).
    #[arg(long, requires = "title")]
    body: Option<String>,
    /// The ticket's id with --title/--body (the branch is `agent/<id>`).
    #[arg(long, default_value = "cli-task")]
    id: String,
    /// The branch to start from and open the pull request against (default: the repository's HEAD).
    #[arg(long)]
    base: Option<String>,
    /// The model spec: `anthropic:claude-sonnet-4-5`, `openai:gpt-5`,
    /// `openai-compatible:http://127.0.0.1:8080/v1#MODEL`, `ollama:MODEL`,
    /// `openrouter:MODEL`, `scripted:PATH`, `replay:CASSETTE` (`fix_issue models` lists them).
    #[arg(long)]
    model: String,
    /// A model to fall back to when the previous one is rate limited, failing
    /// or out of quota (repeatable, tried in order).
    #[arg(long = "fallback")]
    fallbacks: Vec<String>,
    /// Record every model exchange (real HTTP, secrets redacted) to this
    /// cassette; replay it later with `--model replay:PATH`.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Sampling temperature (0 for the most repeatable runs).
    #[arg(long)]
    temperature: Option<f32>,
    /// Reasoning effort for reasoning models: minimal, low, medium or high.
    #[arg(long, value_parser = parse_effort)]
    effort: Option<ReasoningEffort>,

    /// A verification check, `NAME=COMMAND` (repeatable), e.g. `tests=cargo test`.
    #[arg(long = "check", value_parser = parse_check)]
    checks: Vec<(String, String)>,
    /// A setup script run once in the fresh sandbox; it wins over the
    /// repository's `.agentkit/setup.sh` and `[setup]` table.
    #[arg(long)]
    setup: Option<String>,
    /// Do not run the repository's own setup (`.agentkit/setup.sh`, `[setup] script`).
    #[arg(long)]
    no_repo_setup: bool,
    /// When the repository declares no setup, run the detected one
    /// (`cargo fetch`, a venv with pip, `npm ci`, `go mod download`...);
    /// without this flag it is only shown.
    #[arg(long)]
    auto_setup: bool,
    /// Offer this host variable to the setup (repeatable): it passes in only
    /// when the repository's `[setup] env` asks for it by name.
    #[arg(long = "setup-env")]
    setup_env: Vec<String>,
    /// Where commands run: `auto` (the strongest backend this host supports:
    /// bwrap, else docker, else local with a loud warning), `local` (no
    /// isolation: for trusted code), `bwrap` (Linux namespaces; feature
    /// `sandbox-bwrap`, on by default) or `docker` (feature `sandbox-docker`;
    /// reads DOCKER_HOST and AGENTKIT_DOCKER_IMAGE).
    #[arg(long, env = "AGENTKIT_SANDBOX", default_value = "auto")]
    sandbox: String,
    /// Let commands reach this host through the allow-list proxy
    /// (repeatable): `host`, `host:port` or `*.domain`. Default: no network.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// Give commands the host's full network instead.
    #[arg(long, conflicts_with = "allow_hosts")]
    full_network: bool,
    /// Keep what the setup script leaves (in ~/.cache/agentkit/snapshots) and
    /// start later runs of the same repository, commit and setup from it.
    #[arg(long)]
    snapshots: bool,
    /// Where to keep pull-request records (default: inside the repository's git directory).
    #[arg(long)]
    forge_dir: Option<PathBuf>,
    /// Write a JSONL transcript (secrets redacted) here.
    #[arg(long)]
    transcript: Option<PathBuf>,
    /// Maximum model calls.
    #[arg(long, default_value_t = 50)]
    max_steps: u32,
    /// Maximum minutes of wall time.
    #[arg(long, default_value_t = 30)]
    max_minutes: u64,
    /// Maximum spend in US dollars (needs model pricing).
    #[arg(long)]
    max_cost: Option<f64>,
    /// The operator's policy file (TOML; see the README's policy file
    /// reference). It overrides the repository's `.agentkit/policy.toml`.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print whole tool outputs.
    #[arg(long)]
    verbose: bool,
}

#[derive(Subcommand)]
enum PrCmd {
    /// List pull requests.
    List {
        /// The repository.
        #[arg(long)]
        repo: PathBuf,
        /// Where the records are (default: inside the repository's git directory).
        #[arg(long)]
        forge_dir: Option<PathBuf>,
    },
    /// Show one pull request.
    Show {
        /// The pull request's id.
        id: String,
        /// The repository.
        #[arg(long)]
        repo: PathBuf,
        /// Where the records are (default: inside the repository's git directory).
        #[arg(long)]
        forge_dir: Option<PathBuf>,
        /// Also print the diff.
        #[arg(long)]
        diff: bool,
    },
}

fn parse_effort(s: &str) -> Result<ReasoningEffort, String> {
    use ReasoningEffort::*;
    [Minimal, Low, Medium, High]
        .into_iter()
        .find(|effort| effort.as_str() == s)
        .ok_or_else(|| format!("`{s}` is not an effort; use minimal, low, medium or high"))
}

/// The model, its fallbacks, and the recording, from the command line.
fn build_model(args: &RunArgs) -> Result<Arc<dyn Model>, String> {
    let spec = &args.model;
    let mut options = BuildOptions::default();
    if let Some(path) = &args.record {
        if !args.fallbacks.is_empty() {
            return Err("--record records one model; leave out --fallback while recording".into());
        }
        options = options.recording(path);
    }
    let build = |spec: &str| {
        ModelSpec::parse(spec)
            .and_then(|s| s.build_with(&options))
            .map_err(|e| e.to_string())
    };
    let primary = build(spec)?;
    if args.fallbacks.is_empty() {
        return Ok(primary);
    }
    let fallbacks = args
        .fallbacks
        .iter()
        .map(|spec| build(spec))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Fallback::new(primary, fallbacks)))
}

/// The sandbox backend named by `--sandbox`: `auto` takes the strongest
/// the host supports (and warns loudly when that is `local`); a named
/// backend that cannot run here is an error, never a silent fallback.
async fn build_provider(args: &RunArgs) -> Result<Arc<dyn SandboxProvider>, String> {
    let options = auto::Options {
        snapshots: args
            .snapshots
            .then(|| SnapshotStore::new(SnapshotStore::default_root())),
    };
    let choice = match args.sandbox.as_str() {
        "auto" => auto::strongest(&options).await,
        name => auto::by_name(name, &options)
            .await
            .map_err(|e| e.to_string())?,
    };
    match &choice.warning {
        Some(warning) => eprintln!("{warning}\n"),
        None => eprintln!("sandbox: {}", choice.backend),
    }
    Ok(choice.provider)
}

fn parse_check(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, cmd)) if !name.trim().is_empty() && !cmd.trim().is_empty() => {
            Ok((name.trim().to_string(), cmd.trim().to_string()))
        }
        _ => Err(format!(
            "expected NAME=COMMAND, e.g. `tests=cargo test`, got `{s}`"
        )),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run(args) => run(*args).await,
        Cmd::Prs { command } => prs(command).await,
        Cmd::Models => {
            println!("Model specs:\n  {}", ACCEPTED_SPECS.join("\n  "));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<ExitCode, String> {
    let repo_ref = RepoRef {
        url: args.repo.display().to_string(),
        base: args.base.clone(),
    };
    let task = match (&args.ticket, &args.title, &args.body) {
        (Some(path), _, _) => load_ticket(path, &repo_ref).map_err(|e| e.to_string())?,
        (None, Some(title), Some(body)) => Task::new(args.id.clone(), title, body, repo_ref),
        _ => return Err("give a ticket: --ticket FILE, or --title and --body".into()),
    };
    let model = build_model(&args)?;
    let mut job = FixIssue::new(&args.repo, task, model);
    job.provider = Some(build_provider(&args).await?);
    job.policy.network = if args.full_network {
        NetworkPolicy::Full
    } else if args.allow_hosts.is_empty() {
        NetworkPolicy::Deny
    } else {
        NetworkPolicy::AllowList(args.allow_hosts.clone())
    };
    job.call.temperature = args.temperature;
    job.call.reasoning_effort = args.effort;
    job.checks = args.checks;
    job.setup_script = args.setup;
    job.setup.allow_repo = !args.no_repo_setup;
    job.setup.auto = args.auto_setup;
    for name in &args.setup_env {
        if let Ok(value) = std::env::var(name) {
            job.setup.env.insert(name.clone(), value);
        }
    }
    job.forge_dir = args.forge_dir;
    job.transcript = args.transcript;
    job.policy_file = args.policy;
    job.budgets = Budgets {
        max_steps: args.max_steps,
        max_tokens: None,
        max_cost_usd: args.max_cost,
        max_wall_time: Some(Duration::from_secs(args.max_minutes * 60)),
    };
    job.sinks.push(Arc::new(ConsoleProgress {
        verbose: args.verbose,
    }));
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let outcome = job.run(cancel).await.map_err(|e| e.to_string())?;
    match &outcome.pull_request {
        Some(pr) => println!("\n{}", render_pull_request(pr)),
        None => println!("\nNo pull request: {}", outcome.stop_reason),
    }
    Ok(if outcome.stop_reason.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn prs(command: PrCmd) -> Result<ExitCode, String> {
    match command {
        PrCmd::List { repo, forge_dir } => {
            let forge = local_forge(&repo, forge_dir.as_deref()).map_err(|e| e.to_string())?;
            let pulls = forge
                .list_pull_requests()
                .await
                .map_err(|e| e.to_string())?;
            if pulls.is_empty() {
                println!("no pull requests");
            }
            for pr in pulls {
                println!(
                    "#{:<4} {:<8} {:<28} rev {}  {}",
                    pr.id,
                    format!("{:?}", pr.state).to_lowercase(),
                    pr.branch,
                    pr.revisions,
                    pr.title
                );
            }
        }
        PrCmd::Show {
            id,
            repo,
            forge_dir,
            diff,
        } => {
            let forge = local_forge(&repo, forge_dir.as_deref()).map_err(|e| e.to_string())?;
            let pr = forge.pull_request(&id).await.map_err(|e| e.to_string())?;
            println!("{}", render_pull_request(&pr));
            if diff {
                let text = forge.diff(&pr).await.map_err(|e| e.to_string())?;
                println!("```diff\n{text}```");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
