//! agentd: the agentkit daemon. Runs tasks from a durable queue in sandboxes,
//! serves the HTTP API, live events, the web view and metrics.
//!
//! ```text
//! agentd [--config agentd.toml]              # serve (the default)
//! agentd enqueue-demo [--url URL] [--token T] # enqueue the demo ticket
//! ```
//!
//! With no configuration at all it serves on 127.0.0.1:7878 with the
//! strongest sandbox this host supports and the local forge, and — when no
//! model is configured — the scripted demo model and the demo repository
//! under `<data_dir>/demo/`. `[forge.github]` (feature `github`) and
//! `[triggers.*]` connect it to GitHub, Slack, Linear and cron.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentkit::server::config::Config;
use agentkit::server::daemon::{StartOptions, start};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "agentd",
    about = "The agentkit daemon: a queue of tickets, agents that work on them, a web view."
)]
struct Cli {
    /// The TOML config file (every key is optional; AGENTD_* variables override it).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Serve,
    /// Enqueue the demo ticket (the roman-numeral bug) on a running agentd.
    EnqueueDemo {
        /// Where agentd listens.
        #[arg(long, default_value = "http://127.0.0.1:7878")]
        url: String,
        /// The bearer token (default: AGENTD_TOKEN).
        #[arg(long, env = "AGENTD_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,agentkit::event=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config.as_deref()).await,
        Command::EnqueueDemo { url, token } => enqueue_demo(&url, token.as_deref()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("agentd: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The model spec and default repository: the configured ones, or the demo's
/// (the scripted trajectory and the fixture crate, written under `data_dir`).
fn model_and_repo(config: &mut Config) -> Result<(String, Option<String>), String> {
    if let Some(spec) = &config.model.spec {
        return Ok((spec.clone(), config.first_repo()));
    }
    let demo = std::path::absolute(config.data_dir.join("demo")).map_err(|e| e.to_string())?;
    let repo = demo.join("roman");
    if !repo.join(".git").is_dir() {
        agentkit::demo::prepare_repo(&repo).map_err(|e| e.to_string())?;
    }
    let script = demo.join("roman-trajectory.json");
    std::fs::write(&script, agentkit::demo::TRAJECTORY)
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    if config.checks.is_empty() {
        config
            .checks
            .insert("tests".into(), agentkit::demo::TEST_COMMAND.into());
    }
    eprintln!(
        "agentd: no model configured (model.spec / AGENTD_MODEL): using the SCRIPTED demo model, \
         which replays {} against the demo repository {}",
        script.display(),
        repo.display()
    );
    Ok((
        format!("scripted:{}", script.display()),
        Some(repo.display().to_string()),
    ))
}

async fn serve(config_path: Option<&Path>) -> Result<(), String> {
    let mut config = Config::load(config_path).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create data_dir {}: {e}", config.data_dir.display()))?;
    let (model_spec, default_repo) = model_and_repo(&mut config)?;
    let daemon = start(&config, StartOptions::new(model_spec, default_repo))
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("agentd: serving on http://{}", daemon.addr());
    wait_for_signal().await;
    eprintln!("agentd: shutting down");
    daemon.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn enqueue_demo(url: &str, token: Option<&str>) -> Result<(), String> {
    let ticket: serde_json::Value =
        serde_json::from_str(agentkit::demo::TICKET).map_err(|e| e.to_string())?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let body = serde_json::json!({
        "task": {
            "id": format!("{}-{stamp}", ticket["id"].as_str().unwrap_or("ROMAN-1")),
            "title": ticket["title"],
            "body": ticket["body"],
            "labels": ticket["labels"],
        }
    });
    let endpoint = format!("{}/api/tasks", url.trim_end_matches('/'));
    let mut request = reqwest::Client::new().post(&endpoint).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach agentd at {endpoint}: {e} (is `agentd` running?)"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!("agentd refused the ticket ({status}): {text}"));
    }
    let reply: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let id = reply["id"].as_str().unwrap_or("?");
    println!(
        "enqueued {id}; watch it at {}/tasks/{id}",
        url.trim_end_matches('/')
    );
    Ok(())
}
