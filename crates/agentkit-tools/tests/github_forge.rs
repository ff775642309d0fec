//! `GitHubForge` against a fake GitHub on 127.0.0.1 (REST as GitHub's
//! reference describes it, git smart HTTP through the real `git http-backend`).

#![cfg(feature = "github")]

mod support {
    pub mod fake_github;
}

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use agentkit_core::forge::{
    ChangeSet, Forge, ForgeError, PublishRequest, PullRequest, PullRequestState, revision_id,
};
use agentkit_core::task::{RepoRef, Task, TaskId, TaskSource};
use agentkit_tools::forge::github::{Clock, GitHubAuth, GitHubForge, RateLimits};
use support::fake_github::{APP_ID, APP_KEY, Captured, FakeGitHub, Fault, TestClock, git};

const CANARY: &str = "ghp_CANARYcanaryCANARYcanaryCANARY0123456789";

#[derive(Debug)]
struct SharedClock(Arc<TestClock>);

impl Clock for SharedClock {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

fn fast_limits() -> RateLimits {
    RateLimits {
        max_wait: Duration::from_secs(5),
        secondary_wait: Duration::from_millis(300),
        max_retries: 3,
        backoff: Duration::from_millis(10),
    }
}

/// A forge on the fake with a personal token (the canary).
fn pat_forge(fake: &FakeGitHub, scratch: &tempfile::TempDir) -> GitHubForge {
    fake.state().pat = Some(CANARY.into());
    GitHubForge::builder("acme", "app", GitHubAuth::token(CANARY))
        .api_base(&fake.url)
        .git_base(&fake.url)
        .scratch_dir(scratch.path().join("scratch.git"))
        .rate_limits(fast_limits())
        .labels(vec!["agent".into()])
        .build()
        .unwrap()
}

fn app_forge(fake: &FakeGitHub, scratch: &tempfile::TempDir) -> GitHubForge {
    let auth = GitHubAuth::app(APP_ID, APP_KEY, None).unwrap();
    GitHubForge::builder("acme", "app", auth)
        .api_base(&fake.url)
        .git_base(&fake.url)
        .scratch_dir(scratch.path().join("scratch.git"))
        .rate_limits(fast_limits())
        .clock(Arc::new(SharedClock(fake.clock.clone())))
        .build()
        .unwrap()
}

/// The fake with `acme/app` (a README on `main`) and issue 7.
async fn fake_with_issue() -> FakeGitHub {
    let fake = FakeGitHub::start("acme", "app", &[("README.md", "hi\n")]).await;
    fake.add_issue(7, "Parser panics", "body", &[]);
    fake
}

/// A clone of `main` with one commit on top.
fn fixed(fake: &FakeGitHub) -> Work {
    let work = Work::new(fake, "main");
    work.commit("fix.txt", "fixed\n");
    work
}

/// A clone of the fake's repository standing in for the sandbox.
struct Work {
    dir: tempfile::TempDir,
    clone: PathBuf,
    base: String,
}

impl Work {
    fn new(fake: &FakeGitHub, rev: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clone = dir.path().join("work");
        git(
            dir.path(),
            &["clone", "-q", fake.bare.to_str().unwrap(), "work"],
        );
        git(&clone, &["checkout", "-q", rev]);
        let base = git(&clone, &["rev-parse", "HEAD"]);
        Self { dir, clone, base }
    }

    fn commit(&self, file: &str, contents: &str) {
        std::fs::write(self.clone.join(file), contents).unwrap();
        git(&self.clone, &["add", "-A"]);
        git(
            &self.clone,
            &["commit", "-q", "-m", &format!("edit {file}")],
        );
    }

    fn changes(&self) -> ChangeSet {
        let file = self.dir.path().join("handover.bundle");
        let range = format!("{}..HEAD", self.base);
        git(
            &self.clone,
            &["bundle", "create", "-q", file.to_str().unwrap(), &range],
        );
        ChangeSet {
            bundle: std::fs::read(&file).unwrap(),
            base_commit: self.base.clone(),
            head_commit: git(&self.clone, &["rev-parse", "HEAD"]),
            diff_stat: String::new(),
            left_out: Vec::new(),
        }
    }

    fn request(&self, task: &str, title: &str) -> PublishRequest {
        let id = TaskId(task.into());
        PublishRequest {
            task: Task::new(task, title, "body", RepoRef::new("unused")),
            branch: agentkit_core::forge::branch_for(&id, "agent/"),
            base_branch: "main".into(),
            title: title.into(),
            body: format!("{title}: done."),
            changes: self.changes(),
        }
    }
}

#[tokio::test]
async fn task_reads_the_issue_and_every_comment_page() {
    let fake = fake_with_issue().await;
    fake.add_issue(
        7,
        "Parser panics",
        "It panics on empty input.",
        &["bug", "agent"],
    );
    fake.add_comment(7, "alice", "Seen on main too.");
    fake.add_comment(
        7,
        "agentkit[bot]",
        "Working…\n\n<!-- agentkit:progress task=gh:acme/app#7 -->",
    );
    fake.add_comment(7, "bob", "Stack trace attached.");
    fake.add_comment(7, "carol", "Please add a test.");
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);

    let task = forge.task("#7").await.unwrap();
    let mut expected = Task::new(
        "gh:acme/app#7",
        "Parser panics",
        "It panics on empty input.\n\n## Comments\n\n**@alice** wrote:\n\nSeen on main too.\n\n---\n\n\
         **@bob** wrote:\n\nStack trace attached.\n\n---\n\n**@carol** wrote:\n\nPlease add a test.",
        RepoRef::new(fake.remote()),
    );
    expected.labels = vec!["bug".into(), "agent".into()];
    expected.source = TaskSource::Forge {
        forge: "github".into(),
        number: "7".into(),
        url: Some(format!("{}/acme/app/issues/7", fake.url)),
    };
    assert_eq!(task, expected);
    for reference in [
        "7",
        "acme/app#7",
        "gh:acme/app#7",
        "https://github.com/acme/app/issues/7",
    ] {
        assert_eq!(
            forge.task(reference).await.unwrap().id,
            expected.id,
            "{reference}"
        );
    }
    let err = forge.task("other/repo#7").await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
    let err = forge.task("#99").await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn an_app_token_is_scoped_cached_and_refreshed_before_it_expires_mid_run() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = app_forge(&fake, &scratch);

    forge.task("7").await.unwrap();
    insta::assert_json_snapshot!("installation_token_request", fake.state().token_requests[0]);
    let first = fake.state().issued[0].0.clone();

    // 50 minutes in: ten minutes left, the cached token is still used.
    fake.clock.advance(Duration::from_secs(50 * 60));
    forge.task("7").await.unwrap();
    assert_eq!(fake.state().issued.len(), 1);

    // 56 minutes in: four minutes left, less than the five-minute margin.
    fake.clock.advance(Duration::from_secs(6 * 60));
    forge.task("7").await.unwrap();
    let state = fake.state();
    assert_eq!(state.issued.len(), 2);
    let last = state.requests.last().unwrap().token.clone().unwrap();
    assert_eq!(last, state.issued[1].0);
    assert_ne!(last, first);
}

#[tokio::test]
async fn a_token_expiring_between_the_ticket_and_the_publish_is_replaced_before_the_push() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = app_forge(&fake, &scratch);
    let task = forge.task("7").await.unwrap();
    let work = fixed(&fake);

    // The run takes 57 minutes: three minutes are left of the first token,
    // which is still valid, but the forge must not start a push with it.
    fake.clock.advance(Duration::from_secs(57 * 60));
    let before = fake.state().requests.len();
    let mut request = work.request(&task.id.0, "Fix the parser");
    request.task = task;
    forge.publish(request).await.unwrap();

    let state = fake.state();
    assert_eq!(state.issued.len(), 2, "a new installation token was bought");
    let fresh = state.issued[1].0.clone();
    let publish_tokens: Vec<_> = state.requests[before..]
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.path.clone(),
                r.token.as_deref() == Some(&fresh),
            )
        })
        .filter(|(_, path, _)| !path.contains("/access_tokens"))
        .collect();
    assert!(
        publish_tokens.iter().all(|(_, _, fresh)| *fresh),
        "every publish request used the new token: {publish_tokens:?}"
    );
    assert!(
        publish_tokens
            .iter()
            .any(|(method, path, _)| method == "POST" && path == "/repos/acme/app/pulls"),
        "{publish_tokens:?}"
    );
    assert_eq!(state.pulls.len(), 1);
    assert!(
        state
            .git_requests
            .iter()
            .any(|(m, p, authed)| m == "POST" && p.ends_with("/git-receive-pack") && *authed),
        "{:?}",
        state.git_requests
    );
}

#[tokio::test]
async fn a_revoked_token_is_replaced_after_a_401() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = app_forge(&fake, &scratch);
    forge.task("7").await.unwrap();
    fake.state().issued.clear(); // GitHub forgot the token
    forge.task("7").await.unwrap();
    assert_eq!(fake.state().issued.len(), 1);
    assert_eq!(fake.state().token_requests.len(), 2);
}

#[tokio::test]
async fn a_secondary_rate_limit_waits_as_told() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);
    let limited = |headers: Vec<(String, String)>| {
        Fault {
        method: "GET",
        path_contains: "/issues/7".into(),
        status: 403,
        headers,
        body: r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#.into(),
    }
    };

    // With retry-after: that long.
    fake.fault(limited(vec![("retry-after".into(), "1".into())]));
    let started = Instant::now();
    forge.task("7").await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");

    // Without: the configured secondary wait (a minute by default).
    fake.fault(limited(Vec::new()));
    let started = Instant::now();
    forge.task("7").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Longer than the forge waits: an error that says so, at once.
    fake.fault(limited(vec![("retry-after".into(), "3600".into())]));
    let started = Instant::now();
    let err = forge.task("7").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        err.to_string()
            .contains("rate-limited GET /repos/acme/app/issues/7 for 3600s"),
        "{err}"
    );
}

#[tokio::test]
async fn an_exhausted_primary_limit_waits_for_the_reset_and_server_errors_are_retried() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let auth = GitHubAuth::token(CANARY);
    fake.state().pat = Some(CANARY.into());
    let forge = GitHubForge::builder("acme", "app", auth)
        .api_base(&fake.url)
        .rate_limits(fast_limits())
        .clock(Arc::new(SharedClock(fake.clock.clone())))
        .scratch_dir(scratch.path().join("s.git"))
        .build()
        .unwrap();
    let reset = fake
        .clock
        .now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    fake.fault(Fault {
        method: "GET",
        path_contains: "/issues/7".into(),
        status: 403,
        headers: vec![
            ("x-ratelimit-remaining".into(), "0".into()),
            ("x-ratelimit-reset".into(), reset.to_string()),
        ],
        body: r#"{"message":"API rate limit exceeded"}"#.into(),
    });
    fake.fault(Fault {
        method: "GET",
        path_contains: "/issues/7/comments".into(),
        status: 502,
        headers: Vec::new(),
        body: "Bad gateway".into(),
    });
    let started = Instant::now();
    forge.task("7").await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    let paths: Vec<String> = fake
        .state()
        .requests
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        paths,
        vec![
            "/repos/acme/app/issues/7",
            "/repos/acme/app/issues/7",
            "/repos/acme/app/issues/7/comments?per_page=100",
            "/repos/acme/app/issues/7/comments?per_page=100",
        ]
    );

    // A 404 is not retried and says what to check.
    let err = forge.pull_request("55").await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn publish_pushes_over_http_with_the_token_and_opens_one_pull_request() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);
    let work = fixed(&fake);
    let request = work.request("gh:acme/app#7", "Fix the parser");
    let head = request.changes.head_commit.clone();

    let pull = forge.publish(request).await.unwrap();
    assert_eq!(
        fake.branch_tip("agent/gh-acme-app-7").as_deref(),
        Some(head.as_str())
    );
    assert_eq!(
        (
            pull.id.as_str(),
            pull.branch.as_str(),
            pull.base_branch.as_str(),
            pull.revisions,
            pull.state
        ),
        (
            "8",
            "agent/gh-acme-app-7",
            "main",
            1,
            PullRequestState::Open
        )
    );
    assert_eq!(pull.task_id, TaskId("gh:acme/app#7".into()));
    insta::assert_json_snapshot!("publish_requests", fake.api_calls());
    let state = fake.state();
    assert_eq!(state.pulls.len(), 1);
    assert_eq!(state.pulls[0].labels, vec!["agent".to_string()]);
    // The push went over HTTP and carried the token (Basic auth).
    assert!(
        state
            .git_requests
            .iter()
            .any(|(m, p, authed)| m == "POST" && p.ends_with("/git-receive-pack") && *authed),
        "{:?}",
        state.git_requests
    );
}

#[tokio::test]
async fn an_existing_pull_request_is_updated_not_duplicated() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);
    let work = Work::new(&fake, "main");
    work.commit("fix.txt", "one\n");
    let first = forge
        .publish(work.request("T-1", "First try"))
        .await
        .unwrap();

    // Revision 2 starts from the agent's branch and builds on it.
    let follow_up = Work::new(&fake, "agent/T-1");
    follow_up.commit("fix.txt", "two\n");
    let mut request = follow_up.request("T-1", "Second try");
    request.task.id = revision_id(&TaskId("T-1".into()), 2);
    let head = request.changes.head_commit.clone();
    let second = forge.publish(request).await.unwrap();

    assert_eq!(second.id, first.id);
    assert_eq!(second.revisions, 2);
    assert_eq!(second.title, "Second try");
    assert_eq!(fake.branch_tip("agent/T-1").as_deref(), Some(head.as_str()));
    let state = fake.state();
    assert_eq!(state.pulls.len(), 1);
    assert_eq!(
        state.pulls[0].body,
        "Second try: done.\n\n_Revision 2, after review feedback._\n\n<!-- agentkit:task=T-1 revision=2 -->\n"
    );
    assert_eq!(
        git(&fake.bare, &["log", "--format=%s", "agent/T-1"]),
        "edit fix.txt\nedit fix.txt\ninitial"
    );
}

#[tokio::test]
async fn concurrent_publishes_of_one_task_produce_one_pull_request() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let other_scratch = tempfile::tempdir().unwrap();
    let forge = Arc::new(pat_forge(&fake, &scratch));
    let other = Arc::new(pat_forge(&fake, &other_scratch)); // another process
    let work = fixed(&fake);
    let request = work.request("T-9", "Fix it");

    let mut runs = Vec::new();
    for forge in [forge.clone(), forge.clone(), other.clone(), other.clone()] {
        let request = request.clone();
        runs.push(tokio::spawn(async move { forge.publish(request).await }));
    }
    let mut ids = Vec::new();
    for run in runs {
        ids.push(run.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(fake.state().pulls.len(), 1);
}

#[tokio::test]
async fn a_pull_request_created_meanwhile_is_adopted_after_the_422() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);
    let work = fixed(&fake);
    let first = forge.publish(work.request("T-3", "Fix")).await.unwrap();
    fake.state().hide_pull_searches = 1; // our search misses it, the create gets 422
    let again = forge
        .publish(work.request("T-3", "Fix, again"))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    let state = fake.state();
    assert_eq!(state.pulls.len(), 1);
    assert_eq!(state.pulls[0].title, "Fix, again");
}

#[tokio::test]
async fn branches_outside_the_prefix_and_protected_ones_are_refused_before_any_push() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);
    let work = fixed(&fake);
    for branch in ["main", "feature/x", "agent/../main"] {
        let mut request = work.request("T-1", "Fix");
        request.branch = branch.into();
        let err = forge.publish(request).await.unwrap_err();
        assert!(matches!(err, ForgeError::Refused { .. }), "{branch}: {err}");
    }
    let mut request = work.request("T-1", "Fix");
    request.base_branch = "agent/T-1".into();
    assert!(matches!(
        forge.publish(request).await,
        Err(ForgeError::Refused { .. })
    ));
    assert_eq!(fake.state().git_requests.len(), 0);
    assert_eq!(fake.branch_tip("feature/x"), None);
}

#[tokio::test]
async fn the_progress_comment_is_edited_in_place() {
    let fake = fake_with_issue().await;
    fake.add_comment(7, "alice", "first!");
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);
    let task = TaskId("gh:acme/app#7".into());
    for step in [
        "Reading the code.",
        "Running the tests.",
        "Opened a pull request.",
    ] {
        forge.comment(&task, step).await.unwrap();
    }
    // A second forge (a restarted daemon) finds the same comment by its marker.
    let other_scratch = tempfile::tempdir().unwrap();
    pat_forge(&fake, &other_scratch)
        .comment(&revision_id(&task, 2), "Revision 2: working.")
        .await
        .unwrap();
    let bodies: Vec<(String, String)> = fake
        .state()
        .comments
        .iter()
        .map(|c| (c.user.clone(), c.body.clone()))
        .collect();
    assert_eq!(
        bodies,
        vec![
            ("alice".into(), "first!".into()),
            (
                "agentkit[bot]".into(),
                "Revision 2: working.\n\n<!-- agentkit:progress task=gh:acme/app#7 -->".into()
            ),
        ]
    );
}

#[tokio::test]
async fn pull_request_state_reports_merges_and_review_rounds() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);
    let work = fixed(&fake);
    let opened = forge.publish(work.request("T-5", "Fix")).await.unwrap();
    {
        let mut state = fake.state();
        let number: u64 = opened.id.parse().unwrap();
        state.reviews.insert(
            number,
            vec![
                "CHANGES_REQUESTED".into(),
                "COMMENTED".into(),
                "PENDING".into(),
                "APPROVED".into(),
            ],
        );
        state.pulls[0].merged_at = Some("2030-03-18T10:00:00Z".into());
        state.pulls[0].state = "closed".into();
    }
    let pull = forge.pull_request(&opened.id).await.unwrap();
    assert_eq!(
        pull,
        PullRequest {
            id: opened.id.clone(),
            url: format!("{}/acme/app/pull/{}", fake.url, opened.id),
            task_id: TaskId("T-5".into()),
            branch: "agent/T-5".into(),
            base_branch: "main".into(),
            title: "Fix".into(),
            body: "Fix: done.\n\n<!-- agentkit:task=T-5 revision=1 -->\n".into(),
            head_commit: "0000000000000000000000000000000000000000".into(),
            state: PullRequestState::Merged,
            revisions: 1,
            review_rounds: 3,
            created_at_ms: 1_900_000_000_000,
            updated_at_ms: 1_900_000_000_000,
            merged_at_ms: Some(1_900_058_400_000),
        }
    );
}

#[tokio::test]
async fn the_token_never_reaches_logs_commits_the_pull_request_or_errors() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    // Global: a thread-local subscriber can miss callsites whose interest
    // another test thread cached first. Every test's logs land here (the
    // others use the canary too).
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);
    let work = fixed(&fake);
    let mut request = work.request("gh:acme/app#7", "Fix");
    // Even an agent that pasted the token into its summary does not publish it.
    request.body = format!("Used {CANARY} to test.");
    let pull = forge.publish(request).await.unwrap();
    forge
        .comment(&TaskId("gh:acme/app#7".into()), &format!("token {CANARY}"))
        .await
        .unwrap();

    // A push that fails: its error does not carry the token either.
    let diverged = Work::new(&fake, "main");
    diverged.commit("other.txt", "x\n");
    let mut request = diverged.request("gh:acme/app#7", "Fix");
    request.task.id = revision_id(&request.task.id, 2); // must fast-forward: it does not
    let err = forge.publish(request).await.unwrap_err();
    assert!(matches!(err, ForgeError::Refused { .. }), "{err}");

    let logged = logs.text();
    assert!(logged.contains("published"), "logs were captured: {logged}");
    let history = git(&fake.bare, &["log", "--all", "-p", "--format=%H%n%B"]);
    let state = fake.state();
    let comments: Vec<String> = state.comments.iter().map(|c| c.body.clone()).collect();
    let comments = comments.join("\n");
    let error = err.to_string();
    let config = std::fs::read_to_string(scratch.path().join("scratch.git/config")).unwrap();
    for (what, text) in [
        ("logs", logged.as_str()),
        ("commits", history.as_str()),
        ("pull request body", state.pulls[0].body.as_str()),
        ("returned pull request", pull.body.as_str()),
        ("comments", comments.as_str()),
        ("error", error.as_str()),
        ("scratch config", config.as_str()),
    ] {
        assert!(
            !text.contains(CANARY),
            "the token leaked into the {what}: {text}"
        );
    }
}

/// Every file under `dir`, read as bytes, joined (to look for a secret).
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.extend(std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

// Multi-threaded: the anonymous `git ls-remote` blocks its thread while the
// fake answers on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_is_cloned_from_a_host_side_mirror_without_the_token() {
    let fake = fake_with_issue().await;
    let scratch = tempfile::tempdir().unwrap();
    let forge = pat_forge(&fake, &scratch);
    let remote = fake.remote();

    // Anonymous git cannot read the private repository.
    let out = std::process::Command::new("git")
        .args(["ls-remote", &remote])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the fake repository must be private");

    // Another repository is not this forge's to mirror.
    assert_eq!(
        forge
            .source("https://example.invalid/x/y.git", None)
            .await
            .unwrap(),
        None
    );

    // The default branch: the mirror's HEAD, at GitHub's commit.
    let source = forge.source(&remote, None).await.unwrap().unwrap();
    let clones = tempfile::tempdir().unwrap();
    git(clones.path(), &["clone", "-q", &source, "default"]);
    let default = clones.path().join("default");
    assert_eq!(git(&default, &["rev-parse", "HEAD"]), fake.base_commit);
    assert_eq!(
        git(&default, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main"
    );

    // A branch pushed since (a follow-up revision starts from the agent's
    // branch), fetched on demand and cloned by name.
    let work = fixed(&fake);
    git(
        &work.clone,
        &[
            "push",
            "-q",
            fake.bare.to_str().unwrap(),
            "HEAD:refs/heads/agent/gh-7",
        ],
    );
    let tip = fake.branch_tip("agent/gh-7").unwrap();
    let source = forge
        .source(&remote, Some("agent/gh-7"))
        .await
        .unwrap()
        .unwrap();
    git(
        clones.path(),
        &["clone", "-q", "-b", "agent/gh-7", &source, "branch"],
    );
    assert_eq!(
        git(&clones.path().join("branch"), &["rev-parse", "HEAD"]),
        tip
    );

    // A commit id is kept under a branch, so a clone carries it.
    let source = forge
        .source(&remote, Some(&fake.base_commit))
        .await
        .unwrap()
        .unwrap();
    git(clones.path(), &["clone", "-q", &source, "commit"]);
    let commit = clones.path().join("commit");
    git(&commit, &["checkout", "-q", "--detach", &fake.base_commit]);
    assert_eq!(git(&commit, &["rev-parse", "HEAD"]), fake.base_commit);

    // An unknown name is a clear error, not an empty clone.
    let err = forge
        .source(&remote, Some("no-such-branch"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ForgeError::NotFound { what } if what.contains("`no-such-branch`")),
        "{err:?}"
    );

    // The token is nowhere in the mirror or in the clones.
    for dir in [scratch.path(), clones.path()] {
        let bytes = all_bytes(dir);
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "the token was written under {}",
            dir.display()
        );
    }
}
