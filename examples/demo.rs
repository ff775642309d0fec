//! The offline demo: a complete agent fixes a real bug in a fixture crate.
//!
//! ```text
//! cargo run --example demo [-- --out DIR] [--verbose]
//! ```
//!
//! The model is SCRIPTED: it replays a recorded trajectory and does not
//! think. Everything else is real — the sandbox clones the repository, the
//! tools edit the code and run `cargo test`, the verifier runs the whole
//! suite, and the local forge pushes `agent/ROMAN-1` and records a pull
//! request you can read afterwards.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agentkit::core::CancellationToken;
use agentkit::progress::ConsoleProgress;
use agentkit::tools::forge::render_pull_request;
use clap::Parser;

/// Runs the offline demo.
#[derive(Parser)]
struct Args {
    /// Where to put the demo repository, the forge records and the transcript
    /// (emptied first).
    #[arg(long, default_value = "target/agentkit-demo")]
    out: PathBuf,
    /// Print whole tool outputs.
    #[arg(long)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    eprintln!(
        "agentkit demo — the model is SCRIPTED: it replays examples/data/roman-trajectory.json.\n\
         The sandbox, tools, tests, verification and pull request are real.\n"
    );
    if args.out.exists()
        && let Err(e) = std::fs::remove_dir_all(&args.out)
    {
        eprintln!("error: cannot empty {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    let mut job = match agentkit::demo::job(&args.out) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    job.sinks.push(Arc::new(ConsoleProgress {
        verbose: args.verbose,
    }));
    // The strongest sandbox this host supports; say loudly when it is none.
    match job.choose_sandbox().await {
        (_, _, Some(warning)) => eprintln!("{warning}\n"),
        (_, backend, None) => eprintln!("sandbox: {backend}\n"),
    }
    let forge = match job.forge() {
        Ok(forge) => forge,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let repo = job.repo.clone();
    let transcript = job.transcript.clone();
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let outcome = match job.run(cancel).await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(pr) = outcome.pull_request.as_ref() else {
        eprintln!(
            "\nThe run ended without a pull request: {}",
            outcome.stop_reason
        );
        return ExitCode::FAILURE;
    };
    println!("\n{}", render_pull_request(pr));
    if let Ok(diff) = forge.diff(pr).await {
        println!("```diff\n{}```", diff);
    }
    println!(
        "\nRepository: {}\n  (the fix is on branch `{}`; try `git -C {} log --oneline --all`)",
        repo.display(),
        pr.branch,
        repo.display()
    );
    println!(
        "Pull requests: cargo run --example fix_issue -- prs list --repo {}",
        repo.display()
    );
    if let Some(t) = transcript {
        println!("Transcript: {}", t.display());
    }
    if outcome.stop_reason.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
