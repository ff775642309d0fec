//! Metrics end to end: pull requests published, merged and closed on a real
//! local forge, figures in the API and in Prometheus text.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::event::Event;
use agentkit_core::forge::{ChangeSet, Forge, PublishRequest};
use agentkit_core::model::FinishReason;
use agentkit_core::outcome::{Outcome, StopReason};
use agentkit_core::store::TaskResult;
use agentkit_core::task::{RepoRef, Task, TaskId};
use agentkit_core::usage::{Cost, Usage};
use agentkit_server::daemon::forges::LocalForges;

use crate::support::{record, serve_with};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare origin with one commit on `main`, and a clone to work in.
fn repos(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let seed = dir.join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(seed.join("a.txt"), "a\n").unwrap();
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "initial"]);
    git(dir, &["clone", "-q", "--bare", "seed", "origin.git"]);
    git(dir, &["clone", "-q", "origin.git", "work"]);
    (dir.join("origin.git"), dir.join("work"))
}

/// Commits `file` on a branch off main in `work` and publishes it for `task`.
async fn publish(forge: &dyn Forge, work: &Path, task: &str, file: &str) -> String {
    git(work, &["checkout", "-q", "-B", task, "origin/main"]);
    std::fs::write(work.join(file), format!("{task}\n")).unwrap();
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", task]);
    let bundle = work.join(format!("{task}.bundle"));
    git(
        work,
        &[
            "bundle",
            "create",
            "-q",
            bundle.to_str().unwrap(),
            "origin/main..HEAD",
        ],
    );
    let head = git(work, &["rev-parse", "HEAD"]);
    let request = PublishRequest {
        task: Task::new(task, task, "", RepoRef::new("x")),
        branch: format!("agent/{task}"),
        base_branch: "main".into(),
        title: task.into(),
        body: String::new(),
        changes: ChangeSet {
            bundle: std::fs::read(&bundle).unwrap(),
            base_commit: git(work, &["rev-parse", "origin/main"]),
            head_commit: head.clone(),
            diff_stat: String::new(),
            left_out: Vec::new(),
        },
    };
    let pr = forge.publish(request).await.unwrap();
    std::fs::remove_file(bundle).unwrap();
    pr.id
}

fn run_events(
    task: &str,
    usd: f64,
    pr: Option<agentkit_core::forge::PullRequest>,
    success: bool,
) -> Vec<agentkit_core::event::EventRecord> {
    let mut events = vec![record(
        task,
        1_000,
        Event::ModelCallFinished {
            step: 1,
            text: String::new(),
            tool_calls: vec![],
            usage: Usage {
                input_tokens: 1000,
                output_tokens: 100,
                ..Default::default()
            },
            cost: Cost { usd },
            finish_reason: FinishReason::Stop,
        },
    )];
    if let Some(pr) = &pr {
        events.push(record(
            task,
            2_000,
            Event::Published {
                pull_request: pr.clone(),
            },
        ));
    }
    let stop_reason = if success {
        StopReason::Finished {
            summary: "done".into(),
        }
    } else {
        StopReason::MaxSteps { limit: 1 }
    };
    let outcome = Outcome {
        task_id: TaskId(task.into()),
        stop_reason,
        steps: 1,
        usage: Usage::default(),
        cost: Cost { usd },
        duration: Duration::from_secs(2),
        verification: None,
        pull_request: pr,
    };
    events.push(record(
        task,
        3_000,
        Event::RunFinished {
            outcome: Box::new(outcome),
        },
    ));
    events
}

#[tokio::test]
async fn repository_figures_follow_the_forges_pull_request_state() {
    let dir = tempfile::tempdir().unwrap();
    let (origin, work) = repos(dir.path());
    let repo = origin.display().to_string();
    let forges = Arc::new(LocalForges::new(Some(dir.path().join("forge")), vec![]));
    let forge = forges.forge_for(&repo).unwrap();

    let pr1 = publish(forge.as_ref(), &work, "M-1", "one.txt").await;
    let pr2 = publish(forge.as_ref(), &work, "M-2", "two.txt").await;
    let published1 = forge.pull_request(&pr1).await.unwrap();
    let published2 = forge.pull_request(&pr2).await.unwrap();
    forge.request_changes(&pr1).await.unwrap();
    let merged = forge.merge(&pr1).await.unwrap();
    let closed = forge.close(&pr2).await.unwrap();
    assert_eq!(
        (merged.state, closed.state),
        (
            agentkit_core::forge::PullRequestState::Merged,
            agentkit_core::forge::PullRequestState::Closed
        )
    );
    assert_eq!(
        git(&origin, &["rev-parse", "main"]),
        published1.head_commit,
        "a fast-forward merge moves main"
    );
    assert!(
        forge.merge(&pr2).await.is_err(),
        "a closed pull request cannot be merged"
    );
    assert_eq!(
        forge.pull_request(&pr1).await.unwrap().merged_at_ms,
        merged.merged_at_ms
    );

    let pulls = forges.clone();
    let s = serve_with(None, move |services| services.pulls = Some(pulls)).await;
    for (id, usd, pr, success) in [
        ("M-1", 0.5, Some(published1), true),
        ("M-2", 0.25, Some(published2), true),
        ("M-3", 0.25, None, false),
    ] {
        s.enqueue(id, &repo).await;
        let lease = s
            .store
            .lease("w", Duration::from_secs(60), agentkit_core::event::now_ms())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lease.task.id.0, id);
        s.log
            .append(&lease.task.id, &run_events(id, usd, pr, success))
            .await
            .unwrap();
        let result = TaskResult {
            summary: "s".into(),
            pull_request_url: None,
            success,
        };
        s.store
            .complete(&lease.task.id, lease.token, result)
            .await
            .unwrap();
    }
    s.enqueue("other", "/elsewhere").await;

    let (status, body) = s.get(&format!("/api/metrics?repo={repo}&since=1d")).await;
    assert_eq!(status, 200);
    let mut figures = body["repos"][0].clone();
    let to_merge = figures
        .as_object_mut()
        .unwrap()
        .remove("mean_time_to_merge_secs")
        .unwrap();
    assert!(to_merge.as_f64().unwrap() >= 0.0);
    assert_eq!(body["repos"].as_array().unwrap().len(), 1);
    assert_eq!(
        figures,
        serde_json::json!({
            "repo": repo, "tasks": 3, "finished": 3, "succeeded": 2,
            "success_rate": 2.0 / 3.0, "prs_opened": 2, "prs_merged": 1, "prs_closed": 1,
            "merged_pr_rate": 0.5, "mean_review_rounds": 0.5, "steps": 3, "tokens": 3300,
            "verification_attempts": 0, "cost_usd": 1.0, "cost_per_merged_pr_usd": 1.0
        })
    );
    let (_, future) = s.get("/api/metrics?since=99999999999999").await;
    assert_eq!(future["repos"], serde_json::json!([]));

    let response = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("agentd_repo_time_to_merge_seconds_mean{"))
        .collect();
    let label = repo.replace('\\', "\\\\").replace('"', "\\\"");
    let expected = format!(
        "# HELP agentd_tasks Tasks in the store, by state.
# TYPE agentd_tasks gauge
agentd_tasks{{state=\"queued\"}} 1
agentd_tasks{{state=\"leased\"}} 0
agentd_tasks{{state=\"succeeded\"}} 3
agentd_tasks{{state=\"failed\"}} 0
agentd_tasks{{state=\"cancelled\"}} 0
# HELP agentd_sessions_running Sessions running in this agentd process.
# TYPE agentd_sessions_running gauge
agentd_sessions_running 0
# HELP agentd_repo_tasks_total Tasks enqueued.
# TYPE agentd_repo_tasks_total counter
agentd_repo_tasks_total{{repo=\"/elsewhere\"}} 1
agentd_repo_tasks_total{{repo=\"{label}\"}} 3
# HELP agentd_repo_tasks_finished_total Tasks in a final state.
# TYPE agentd_repo_tasks_finished_total counter
agentd_repo_tasks_finished_total{{repo=\"/elsewhere\"}} 0
agentd_repo_tasks_finished_total{{repo=\"{label}\"}} 3
# HELP agentd_repo_tasks_succeeded_total Tasks finished with the ticket resolved.
# TYPE agentd_repo_tasks_succeeded_total counter
agentd_repo_tasks_succeeded_total{{repo=\"/elsewhere\"}} 0
agentd_repo_tasks_succeeded_total{{repo=\"{label}\"}} 2
# HELP agentd_repo_success_ratio Succeeded over finished tasks.
# TYPE agentd_repo_success_ratio gauge
agentd_repo_success_ratio{{repo=\"{label}\"}} 0.6666666666666666
# HELP agentd_repo_pull_requests_opened_total Pull requests opened.
# TYPE agentd_repo_pull_requests_opened_total counter
agentd_repo_pull_requests_opened_total{{repo=\"/elsewhere\"}} 0
agentd_repo_pull_requests_opened_total{{repo=\"{label}\"}} 2
# HELP agentd_repo_pull_requests_merged_total Pull requests merged.
# TYPE agentd_repo_pull_requests_merged_total counter
agentd_repo_pull_requests_merged_total{{repo=\"/elsewhere\"}} 0
agentd_repo_pull_requests_merged_total{{repo=\"{label}\"}} 1
# HELP agentd_repo_merged_pull_request_ratio Merged over opened pull requests.
# TYPE agentd_repo_merged_pull_request_ratio gauge
agentd_repo_merged_pull_request_ratio{{repo=\"{label}\"}} 0.5
# HELP agentd_repo_time_to_merge_seconds_mean Mean time from opening to merging a pull request.
# TYPE agentd_repo_time_to_merge_seconds_mean gauge
# HELP agentd_repo_review_rounds_mean Mean review rounds per pull request.
# TYPE agentd_repo_review_rounds_mean gauge
agentd_repo_review_rounds_mean{{repo=\"{label}\"}} 0.5
# HELP agentd_repo_cost_usd_total Model spend in dollars.
# TYPE agentd_repo_cost_usd_total counter
agentd_repo_cost_usd_total{{repo=\"/elsewhere\"}} 0
agentd_repo_cost_usd_total{{repo=\"{label}\"}} 1
# HELP agentd_repo_cost_per_merged_pull_request_usd Model spend per merged pull request.
# TYPE agentd_repo_cost_per_merged_pull_request_usd gauge
agentd_repo_cost_per_merged_pull_request_usd{{repo=\"{label}\"}} 1
# HELP agentd_repo_steps_total Model calls.
# TYPE agentd_repo_steps_total counter
agentd_repo_steps_total{{repo=\"/elsewhere\"}} 0
agentd_repo_steps_total{{repo=\"{label}\"}} 3
# HELP agentd_repo_tokens_total Input and output tokens.
# TYPE agentd_repo_tokens_total counter
agentd_repo_tokens_total{{repo=\"/elsewhere\"}} 0
agentd_repo_tokens_total{{repo=\"{label}\"}} 3300"
    );
    assert_eq!(lines.join("\n"), expected);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("agentd_repo_time_to_merge_seconds_mean{"))
            .count(),
        1
    );
}
