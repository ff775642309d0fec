//! `LocalForge` against real git repositories, all local.

use std::path::{Path, PathBuf};
use std::process::Command;

use agentkit_core::forge::{ChangeSet, Forge, ForgeError, PublishRequest, PullRequestState};
use agentkit_core::task::{RepoRef, Task, TaskId, TaskSource};
use agentkit_tools::forge::{LocalForge, render_pull_request};

/// Runs git in `dir` with a fixed identity and no outside configuration.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A seed repository cloned `--bare` as the origin, a clone standing in for
/// the sandbox, and a state directory.
struct Fixture {
    dir: tempfile::TempDir,
    origin: PathBuf,
    sandbox: PathBuf,
    state: PathBuf,
    base: String,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed");
        std::fs::create_dir(&seed).unwrap();
        git(&seed, &["init", "-q", "-b", "main"]);
        std::fs::write(seed.join("README.md"), "hello\n").unwrap();
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "initial"]);
        let origin = dir.path().join("origin.git");
        let sandbox = dir.path().join("sandbox");
        git(dir.path(), &["clone", "-q", "--bare", "seed", "origin.git"]);
        git(dir.path(), &["clone", "-q", "origin.git", "sandbox"]);
        let base = git(&sandbox, &["rev-parse", "HEAD"]);
        let state = dir.path().join("state");
        Self {
            dir,
            origin,
            sandbox,
            state,
            base,
        }
    }

    fn forge(&self) -> LocalForge {
        LocalForge::new(self.origin.clone(), self.state.clone())
    }

    /// Commits `contents` to `file` in the sandbox clone; returns the new head.
    fn commit(&self, file: &str, contents: &str) -> String {
        std::fs::write(self.sandbox.join(file), contents).unwrap();
        git(&self.sandbox, &["add", "-A"]);
        git(
            &self.sandbox,
            &["commit", "-q", "-m", &format!("edit {file}")],
        );
        git(&self.sandbox, &["rev-parse", "HEAD"])
    }

    /// The change set as the handover makes it: a bundle of `base..HEAD`.
    fn changes(&self) -> ChangeSet {
        let file = self.dir.path().join("handover.bundle");
        let range = format!("{}..HEAD", self.base);
        git(
            &self.sandbox,
            &["bundle", "create", "-q", file.to_str().unwrap(), &range],
        );
        let bundle = std::fs::read(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        ChangeSet {
            bundle,
            base_commit: self.base.clone(),
            head_commit: git(&self.sandbox, &["rev-parse", "HEAD"]),
            diff_stat: String::new(),
            left_out: Vec::new(),
        }
    }

    /// Every ref of the origin with its target.
    fn origin_refs(&self) -> String {
        git(
            &self.origin,
            &["for-each-ref", "--format=%(refname) %(objectname)"],
        )
    }

    fn request(&self, task_id: &str, branch: &str, title: &str) -> PublishRequest {
        PublishRequest {
            task: Task::new(
                task_id,
                title,
                "body",
                RepoRef::new(self.origin.display().to_string()),
            ),
            branch: branch.to_string(),
            base_branch: "main".to_string(),
            title: title.to_string(),
            body: format!("{title}: done."),
            changes: self.changes(),
        }
    }
}

#[tokio::test]
async fn publish_pushes_the_branch_and_records_a_pull_request() {
    let fx = Fixture::new();
    let head = fx.commit("fix.txt", "fixed\n");
    let forge = fx.forge();

    let pr = forge
        .publish(fx.request("T-1", "agent/T-1", "Fix it"))
        .await
        .unwrap();

    assert_eq!(pr.id, "1");
    assert_eq!(pr.task_id, TaskId("T-1".into()));
    assert_eq!(pr.branch, "agent/T-1");
    assert_eq!(pr.base_branch, "main");
    assert_eq!(pr.head_commit, head);
    assert_eq!(pr.state, PullRequestState::Open);
    assert_eq!(pr.revisions, 1);
    assert_eq!(pr.url, fx.state.join("pulls/1.json").display().to_string());
    assert_eq!(
        git(&fx.origin, &["rev-parse", "refs/heads/agent/T-1"]),
        head
    );
    assert_eq!(forge.pull_request("1").await.unwrap(), pr);
    assert_eq!(forge.pull_request("#1").await.unwrap(), pr);
    assert_eq!(forge.list_pull_requests().await.unwrap(), vec![pr.clone()]);
    let rendered = std::fs::read_to_string(fx.state.join("pulls/1.md")).unwrap();
    assert_eq!(rendered, render_pull_request(&pr));
    assert!(rendered.starts_with("# #1 Fix it\n"), "{rendered}");

    let diff = forge.diff(&pr).await.unwrap();
    assert!(diff.contains("+++ b/fix.txt"), "{diff}");
    assert!(diff.contains("+fixed"), "{diff}");
}

#[tokio::test]
async fn publishing_the_same_task_again_updates_its_pull_request() {
    let fx = Fixture::new();
    fx.commit("fix.txt", "first\n");
    let forge = fx.forge();
    let first = forge
        .publish(fx.request("T-1", "agent/T-1", "First try"))
        .await
        .unwrap();
    let second_head = fx.commit("fix.txt", "second\n");

    let second = forge
        .publish(fx.request("T-1", "agent/T-1", "Second try"))
        .await
        .unwrap();

    assert_eq!(second.id, first.id);
    assert_eq!(second.revisions, 2);
    assert_eq!(second.title, "Second try");
    assert_eq!(second.body, "Second try: done.");
    assert_eq!(second.head_commit, second_head);
    assert_eq!(second.created_at_ms, first.created_at_ms);
    assert!(second.updated_at_ms >= first.updated_at_ms);
    assert_eq!(
        git(&fx.origin, &["rev-parse", "refs/heads/agent/T-1"]),
        second_head
    );
    assert_eq!(forge.list_pull_requests().await.unwrap(), vec![second]);
    let files: Vec<_> = std::fs::read_dir(fx.state.join("pulls"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "one record and its rendering: {files:?}");
}

#[tokio::test]
async fn a_new_task_gets_the_next_number_and_concurrent_publishes_do_not_collide() {
    let fx = Fixture::new();
    fx.commit("fix.txt", "fixed\n");
    let forge = fx.forge();
    let (a, b, c) = tokio::join!(
        forge.publish(fx.request("T-1", "agent/T-1", "One")),
        forge.publish(fx.request("T-2", "agent/T-2", "Two")),
        forge.publish(fx.request("T-1", "agent/T-1", "One again")),
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let mut ids = vec![a.id.clone(), b.id.clone(), c.id.clone()];
    ids.sort();
    ids.dedup();
    assert_eq!(ids, vec!["1".to_string(), "2".to_string()]);
    let all = forge.list_pull_requests().await.unwrap();
    assert_eq!(all.len(), 2);
    let t1 = all.iter().find(|p| p.branch == "agent/T-1").unwrap();
    assert_eq!(t1.revisions, 2);
}

#[tokio::test]
async fn refuses_protected_and_malformed_branches_and_leaves_the_origin_alone() {
    let fx = Fixture::new();
    fx.commit("fix.txt", "fixed\n");
    // The origin's default branch is protected even inside the agent prefix.
    git(&fx.origin, &["branch", "agent/trunk", "main"]);
    git(
        &fx.origin,
        &["symbolic-ref", "HEAD", "refs/heads/agent/trunk"],
    );
    let forge = fx.forge();
    let before = fx.origin_refs();

    for branch in [
        "main",
        "master",
        "agent/trunk",
        "feature/x",
        "agent/",
        "agent/../main",
        "agent/a b",
    ] {
        let err = forge
            .publish(fx.request("T-1", branch, "Nope"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ForgeError::Refused { .. }),
            "{branch}: expected a refusal, got {err}"
        );
        assert_eq!(fx.origin_refs(), before, "{branch} changed the origin");
    }

    // The pull request's own target is protected as well.
    let mut onto_target = fx.request("T-1", "agent/base", "Nope");
    onto_target.base_branch = "agent/base".into();
    let err = forge.publish(onto_target).await.unwrap_err();
    assert!(matches!(err, ForgeError::Refused { .. }), "{err}");

    assert_eq!(fx.origin_refs(), before);
    assert!(forge.list_pull_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_custom_prefix_and_protected_list_are_honoured() {
    let fx = Fixture::new();
    fx.commit("fix.txt", "fixed\n");
    let forge = fx
        .forge()
        .with_branch_prefix("bot/")
        .with_protected_branches(vec!["bot/frozen".into()]);
    let before = fx.origin_refs();
    for branch in ["agent/T-1", "bot/frozen", "main"] {
        let err = forge
            .publish(fx.request("T-1", branch, "Nope"))
            .await
            .unwrap_err();
        assert!(matches!(err, ForgeError::Refused { .. }), "{branch}: {err}");
    }
    assert_eq!(fx.origin_refs(), before);
    let pr = forge
        .publish(fx.request("T-1", "bot/T-1", "Yes"))
        .await
        .unwrap();
    assert_eq!(pr.branch, "bot/T-1");
}

#[tokio::test]
async fn a_bundle_whose_head_is_not_the_claimed_commit_is_refused() {
    let fx = Fixture::new();
    fx.commit("fix.txt", "fixed\n");
    let forge = fx.forge();
    let before = fx.origin_refs();

    let mut request = fx.request("T-1", "agent/T-1", "Lie");
    request.changes.head_commit = fx.base.clone();
    let err = forge.publish(request).await.unwrap_err();
    assert!(matches!(err, ForgeError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("claimed head commit"), "{err}");

    let mut request = fx.request("T-1", "agent/T-1", "Not a commit id");
    request.changes.head_commit = "HEAD".into();
    let err = forge.publish(request).await.unwrap_err();
    assert!(matches!(err, ForgeError::Refused { .. }), "{err}");

    let mut request = fx.request("T-1", "agent/T-1", "Garbage");
    request.changes.bundle = b"not a bundle".to_vec();
    let err = forge.publish(request).await.unwrap_err();
    assert!(matches!(err, ForgeError::Git { .. }), "{err}");

    assert_eq!(fx.origin_refs(), before);
    assert!(forge.list_pull_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn hooks_planted_in_the_origin_do_not_run() {
    use std::os::unix::fs::PermissionsExt;

    let fx = Fixture::new();
    fx.commit("fix.txt", "fixed\n");
    let canary = fx.dir.path().join("canary");
    let script = format!("#!/bin/sh\necho \"$0\" >> '{}'\n", canary.display());
    let custom_hooks = fx.dir.path().join("custom-hooks");
    std::fs::create_dir_all(&custom_hooks).unwrap();
    for dir in [fx.origin.join("hooks"), custom_hooks.clone()] {
        for hook in [
            "reference-transaction",
            "post-update",
            "pre-receive",
            "update",
            "post-receive",
            "pre-auto-gc",
        ] {
            let path = dir.join(hook);
            std::fs::write(&path, &script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    // The origin's own config points at more hooks: still nothing may run.
    git(
        &fx.origin,
        &["config", "core.hooksPath", custom_hooks.to_str().unwrap()],
    );

    let forge = fx.forge();
    forge
        .publish(fx.request("T-1", "agent/T-1", "Hooked"))
        .await
        .unwrap();
    assert!(!canary.exists(), "a hook ran during publish");

    // Control: the planted hook does fire when git runs with hooks enabled.
    git(&fx.origin, &["update-ref", "refs/heads/control", "main"]);
    assert!(canary.exists(), "the planted hook is not runnable");
}

#[tokio::test]
async fn comments_are_appended_per_task() {
    let fx = Fixture::new();
    let forge = fx.forge();
    let task = TaskId("gh/owner repo#7".into());
    forge.comment(&task, "first").await.unwrap();
    forge.comment(&task, "second\nline").await.unwrap();
    let text = std::fs::read_to_string(fx.state.join("comments/gh-owner-repo-7.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["task_id"], "gh/owner repo#7");
    assert_eq!(lines[0]["body"], "first");
    assert_eq!(lines[1]["body"], "second\nline");
}

#[tokio::test]
async fn tickets_are_found_by_path_or_by_id() {
    let fx = Fixture::new();
    let forge = fx.forge();
    let tickets = fx.state.join("tickets");
    std::fs::create_dir_all(&tickets).unwrap();
    std::fs::write(
        tickets.join("T-9.json"),
        r#"{"id": "T-9", "title": "From JSON", "body": "b", "labels": ["x"]}"#,
    )
    .unwrap();
    std::fs::write(tickets.join("T-10.md"), "# From Markdown\n\nDo it.\n").unwrap();
    let elsewhere = fx.dir.path().join("ticket.md");
    std::fs::write(&elsewhere, "# Elsewhere\n").unwrap();

    let json = forge.task("T-9").await.unwrap();
    assert_eq!(json.title, "From JSON");
    assert_eq!(json.labels, vec!["x".to_string()]);
    assert_eq!(json.repo, forge.default_repo());
    assert_eq!(
        json.source,
        TaskSource::File {
            path: tickets.join("T-9.json").display().to_string()
        }
    );

    let md = forge.task("T-10").await.unwrap();
    assert_eq!(
        (md.id.0.as_str(), md.title.as_str()),
        ("T-10", "From Markdown")
    );
    assert_eq!(md.body, "Do it.");

    let by_path = forge.task(elsewhere.to_str().unwrap()).await.unwrap();
    assert_eq!(by_path.id, TaskId("ticket".into()));

    for missing in ["T-404", "../state/tickets/T-9", ""] {
        let err = forge.task(missing).await.unwrap_err();
        assert!(
            matches!(err, ForgeError::NotFound { .. }),
            "{missing}: {err}"
        );
    }
    let err = forge.pull_request("../x").await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
    let err = forge.pull_request("7").await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
}
