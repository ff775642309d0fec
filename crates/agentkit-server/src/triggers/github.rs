//! GitHub webhooks: `POST /triggers/github`.
//!
//! The `X-Hub-Signature-256` header is verified over the raw body before
//! anything is parsed. The `X-GitHub-Delivery` id becomes the idempotency
//! key `gh-delivery:<id>`, so a redelivery enqueues nothing new; the task id
//! (`gh:<owner>/<repo>#<issue>`, `@rev<n>` for follow-ups) deduplicates
//! deliveries about the same ticket and revision.
//!
//! Events ([`parse_event`], pure):
//! - `issues` / `labeled` with the configured label → the issue as a task;
//! - `issue_comment` / `created` mentioning the bot: on an issue → the issue
//!   as a task (the comment included); on a pull request → a follow-up;
//! - `pull_request_review_comment` / `created`, and `pull_request_review` /
//!   `submitted` with a body or changes requested → a follow-up.
//!
//! A **follow-up** continues the task whose pull request it is: the store is
//! searched for the task publishing to the pull request's branch (or whose
//! result links the pull request), and revision `n + 1` of it is enqueued
//! with the comment as feedback. It publishes to the same branch, so it
//! updates the same pull request, and its sandbox starts from that branch
//! ([`start_revision`](agentkit_core::forge::start_revision)). Comments by
//! the bot itself are ignored (no loops).
//!
//! **Who may ask.** Anyone can comment on a public repository, so comments
//! and reviews count only when GitHub's `author_association` for their author
//! is one of [`GitHubTrigger::associations`] (default `OWNER`, `MEMBER`,
//! `COLLABORATOR`); others are ignored with the reason. Labelling an issue
//! needs triage access on GitHub already, so a labelled issue is taken
//! whoever wrote it: the label is the maintainer's decision.

use agentkit_core::forge::{DEFAULT_BRANCH_PREFIX, branch_for, revision_id, split_revision};
use agentkit_core::store::{NewTask, TaskStore};
use agentkit_core::task::{RepoRef, Task, TaskId, TaskSource};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;

use super::signature::verify_github;
use super::{Accepted, Rejection, TriggerState, enqueue_announced, header};

/// Configuration of the GitHub webhook trigger.
#[derive(Clone)]
pub struct GitHubTrigger {
    /// The webhook secret (the App's or the repository webhook's).
    pub secret: String,
    /// Issues labelled with this are picked up (default `agent`).
    pub label: String,
    /// The bot's login; `@login` in a comment is a mention (default `agentkit`).
    pub bot_login: String,
    /// The branch prefix agents publish under (default `agent/`).
    pub branch_prefix: String,
    /// Priority of the tasks enqueued.
    pub priority: i32,
    /// Repositories (`owner/repo`) whose events are accepted; empty: any.
    /// Events of others are ignored (202, nothing enqueued).
    pub repos: Vec<String>,
    /// The `author_association`s whose comments and reviews may ask the
    /// agent for work (default [`DEFAULT_ASSOCIATIONS`]).
    pub associations: Vec<String>,
}

/// Who may ask the agent by comment or review by default: the repository's
/// owner, members of its organisation and its collaborators.
pub const DEFAULT_ASSOCIATIONS: [&str; 3] = ["OWNER", "MEMBER", "COLLABORATOR"];

impl std::fmt::Debug for GitHubTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubTrigger")
            .field("secret", &"[REDACTED]")
            .field("label", &self.label)
            .field("bot_login", &self.bot_login)
            .field("branch_prefix", &self.branch_prefix)
            .field("repos", &self.repos)
            .field("associations", &self.associations)
            .finish()
    }
}

impl GitHubTrigger {
    /// A trigger with `secret` and the defaults.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            label: "agent".into(),
            bot_login: "agentkit".into(),
            branch_prefix: DEFAULT_BRANCH_PREFIX.into(),
            priority: 0,
            repos: Vec::new(),
            associations: DEFAULT_ASSOCIATIONS.map(String::from).to_vec(),
        }
    }
}

/// What an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitHubAction {
    /// Nothing to do, and why.
    Ignore(String),
    /// Work on this ticket.
    Task(Task),
    /// Continue the work behind a pull request with this feedback.
    FollowUp(FollowUp),
}

/// Feedback on an agent's pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    /// `owner/repo`.
    pub repository: String,
    /// The pull request's number.
    pub number: u64,
    /// Its link.
    pub url: String,
    /// Its head branch, when the event says.
    pub branch: Option<String>,
    /// Who wrote the feedback.
    pub author: String,
    /// The feedback.
    pub feedback: String,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(default)]
    action: String,
    #[serde(default)]
    label: Option<Named>,
    #[serde(default)]
    issue: Option<Issue>,
    #[serde(default)]
    comment: Option<Comment>,
    #[serde(default)]
    review: Option<Review>,
    #[serde(default)]
    pull_request: Option<Pull>,
    repository: Repository,
    #[serde(default)]
    sender: Option<User>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
struct User {
    #[serde(default)]
    login: String,
    #[serde(default, rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct Issue {
    number: u64,
    title: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    labels: Vec<Named>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    pull_request: Option<IssuePull>,
}

#[derive(Debug, Deserialize)]
struct IssuePull {
    #[serde(default)]
    html_url: String,
}

#[derive(Debug, Deserialize)]
struct Comment {
    #[serde(default)]
    body: String,
    #[serde(default)]
    user: User,
    #[serde(default)]
    author_association: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    line: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Review {
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    state: String,
    #[serde(default)]
    user: User,
    #[serde(default)]
    author_association: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Pull {
    number: u64,
    #[serde(default)]
    html_url: String,
    head: Head,
}

#[derive(Debug, Deserialize)]
struct Head {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
    #[serde(default)]
    clone_url: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
}

impl GitHubTrigger {
    fn is_bot(&self, user: &User) -> bool {
        let login = user.login.trim_end_matches("[bot]");
        user.kind.eq_ignore_ascii_case("bot") || login.eq_ignore_ascii_case(&self.bot_login)
    }

    /// `None` when `user`, whose relation to the repository is
    /// `association`, may ask the agent for work; else why not.
    fn refuses(&self, user: &User, association: Option<&str>) -> Option<String> {
        let association = association.unwrap_or("NONE");
        if self
            .associations
            .iter()
            .any(|a| a.eq_ignore_ascii_case(association))
        {
            return None;
        }
        Some(format!(
            "@{} is {association} of the repository; only {} may ask the agent \
             (triggers.github.associations)",
            user.login,
            self.associations.join(", ")
        ))
    }

    fn mentions(&self, text: &str) -> bool {
        let wanted = format!("@{}", self.bot_login.to_ascii_lowercase());
        let text = text.to_ascii_lowercase();
        text.match_indices(&wanted).any(|(at, _)| {
            let next = text[at + wanted.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    }
}

/// The task for issue `issue` of `repository` (id `gh:<owner>/<repo>#<n>`).
fn issue_task(repository: &Repository, issue: &Issue, extra: Option<&Comment>) -> Task {
    let mut body = issue.body.clone().unwrap_or_default();
    if let Some(comment) = extra {
        body = format!(
            "{}\n\n## Request from @{}\n\n{}",
            body.trim_end(),
            comment.user.login,
            comment.body.trim()
        );
    }
    let url = repository
        .clone_url
        .clone()
        .unwrap_or_else(|| format!("https://github.com/{}.git", repository.full_name));
    let mut repo = RepoRef::new(url);
    repo.base = repository.default_branch.clone();
    let mut task = Task::new(
        format!("gh:{}#{}", repository.full_name, issue.number),
        issue.title.clone(),
        body,
        repo,
    );
    task.labels = issue.labels.iter().map(|l| l.name.clone()).collect();
    task.source = TaskSource::Forge {
        forge: "github".into(),
        number: issue.number.to_string(),
        url: issue.html_url.clone(),
    };
    task
}

/// What the event `event` (the `X-GitHub-Event` header) with `payload` asks
/// for. Call it only after the signature is verified.
pub fn parse_event(
    config: &GitHubTrigger,
    event: &str,
    payload: &[u8],
) -> Result<GitHubAction, String> {
    let ignore = |why: String| Ok(GitHubAction::Ignore(why));
    if event == "ping" {
        return ignore("ping".into());
    }
    let p: Payload = serde_json::from_slice(payload)
        .map_err(|err| format!("the `{event}` payload is not what GitHub sends: {err}"))?;
    if p.sender.as_ref().is_some_and(|s| config.is_bot(s)) {
        return ignore("sent by the bot itself".into());
    }
    let full_name = &p.repository.full_name;
    if !config.repos.is_empty()
        && !config
            .repos
            .iter()
            .any(|r| r.eq_ignore_ascii_case(full_name))
    {
        return ignore(format!(
            "repository `{full_name}` is not one this server works on"
        ));
    }
    match (event, p.action.as_str()) {
        ("issues", "labeled") => {
            let (Some(label), Some(issue)) = (&p.label, &p.issue) else {
                return Err("an `issues.labeled` event without label or issue".into());
            };
            if !label.name.eq_ignore_ascii_case(&config.label) {
                return ignore(format!("label `{}` is not `{}`", label.name, config.label));
            }
            Ok(GitHubAction::Task(issue_task(&p.repository, issue, None)))
        }
        ("issue_comment", "created") => {
            let (Some(issue), Some(comment)) = (&p.issue, &p.comment) else {
                return Err("an `issue_comment` event without issue or comment".into());
            };
            if config.is_bot(&comment.user) || !config.mentions(&comment.body) {
                return ignore(format!(
                    "the comment does not mention @{}",
                    config.bot_login
                ));
            }
            if let Some(why) = config.refuses(&comment.user, comment.author_association.as_deref())
            {
                return ignore(why);
            }
            match &issue.pull_request {
                Some(pull) => Ok(GitHubAction::FollowUp(FollowUp {
                    repository: p.repository.full_name.clone(),
                    number: issue.number,
                    url: pull.html_url.clone(),
                    branch: None,
                    author: comment.user.login.clone(),
                    feedback: comment.body.trim().to_string(),
                })),
                None => Ok(GitHubAction::Task(issue_task(
                    &p.repository,
                    issue,
                    Some(comment),
                ))),
            }
        }
        ("pull_request_review_comment", "created") => {
            let (Some(pull), Some(comment)) = (&p.pull_request, &p.comment) else {
                return Err("a review-comment event without pull request or comment".into());
            };
            if config.is_bot(&comment.user) {
                return ignore("a comment by the bot".into());
            }
            if let Some(why) = config.refuses(&comment.user, comment.author_association.as_deref())
            {
                return ignore(why);
            }
            let place = match (&comment.path, comment.line) {
                (Some(path), Some(line)) => format!("On `{path}` line {line}: "),
                (Some(path), None) => format!("On `{path}`: "),
                _ => String::new(),
            };
            Ok(follow_up(
                &p.repository,
                pull,
                &comment.user,
                format!("{place}{}", comment.body.trim()),
            ))
        }
        ("pull_request_review", "submitted") => {
            let (Some(pull), Some(review)) = (&p.pull_request, &p.review) else {
                return Err("a review event without pull request or review".into());
            };
            let body = review.body.clone().unwrap_or_default();
            let wants_changes = review.state.eq_ignore_ascii_case("changes_requested");
            if config.is_bot(&review.user) || (body.trim().is_empty() && !wants_changes) {
                return ignore("a review without feedback".into());
            }
            if let Some(why) = config.refuses(&review.user, review.author_association.as_deref()) {
                return ignore(why);
            }
            Ok(follow_up(
                &p.repository,
                pull,
                &review.user,
                body.trim().to_string(),
            ))
        }
        _ => ignore(format!("`{event}.{}` is not handled", p.action)),
    }
}

fn follow_up(repository: &Repository, pull: &Pull, user: &User, feedback: String) -> GitHubAction {
    GitHubAction::FollowUp(FollowUp {
        repository: repository.full_name.clone(),
        number: pull.number,
        url: pull.html_url.clone(),
        branch: Some(pull.head.name.clone()),
        author: user.login.clone(),
        feedback,
    })
}

/// The next revision of the task behind `follow_up`, or `None` when no task
/// in the store published that pull request.
pub async fn follow_up_task(
    store: &dyn TaskStore,
    branch_prefix: &str,
    follow_up: &FollowUp,
) -> Result<Option<Task>, agentkit_core::store::StoreError> {
    let records = store.list(None).await?;
    let repo_prefix = format!("gh:{}#", follow_up.repository);
    let matches = |id: &TaskId, pr_url: Option<&str>| {
        let by_branch = follow_up
            .branch
            .as_deref()
            .is_some_and(|b| b == branch_for(id, branch_prefix));
        let by_link = !follow_up.url.is_empty() && pr_url == Some(follow_up.url.as_str());
        by_branch || by_link
    };
    // The ticket: any revision of it published this pull request.
    let Some(base) = records.iter().find_map(|r| {
        let link = r
            .result
            .as_ref()
            .and_then(|res| res.pull_request_url.as_deref());
        matches(&r.task.id, link).then(|| split_revision(&r.task.id).0.to_string())
    }) else {
        return Ok(None);
    };
    let base_id = TaskId(base);
    let revisions = records
        .iter()
        .filter(|r| split_revision(&r.task.id).0 == base_id.0);
    let Some(latest) = revisions.max_by_key(|r| split_revision(&r.task.id).1) else {
        return Ok(None);
    };
    let next = split_revision(&latest.task.id).1 + 1;
    let original = records
        .iter()
        .find(|r| r.task.id == base_id)
        .unwrap_or(latest);
    let mut task = original.task.clone();
    task.id = revision_id(&base_id, next);
    task.body = format!(
        "{}\n\n## Review feedback (revision {next})\n\nThe pull request {} is open for this \
         ticket and the workspace holds its commits. @{} asked:\n\n{}\n\nChange the work \
         accordingly; do not start over.",
        original.task.body.trim_end(),
        follow_up.url,
        follow_up.author,
        follow_up.feedback
    );
    if !task.id.0.starts_with(&repo_prefix) {
        tracing::debug!(task = %task.id, "follow-up of a task that is not a GitHub issue");
    }
    Ok(Some(task))
}

pub(crate) async fn handle(
    State(state): State<TriggerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Accepted, Rejection> {
    let config = state
        .config
        .github
        .as_ref()
        .ok_or(Rejection::NotConfigured("GitHub"))?;
    verify_github(
        config.secret.as_bytes(),
        &body,
        header(&headers, "x-hub-signature-256"),
    )?;
    let delivery = header(&headers, "x-github-delivery")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| Rejection::BadRequest("the `X-GitHub-Delivery` header is missing".into()))?;
    let event = header(&headers, "x-github-event").unwrap_or_default();
    let key = format!("gh-delivery:{delivery}");
    match parse_event(config, event, &body).map_err(Rejection::BadRequest)? {
        GitHubAction::Ignore(reason) => Ok(Accepted::ignored(reason)),
        GitHubAction::Task(task) => {
            let new = NewTask::new(task)
                .idempotency_key(key)
                .priority(config.priority);
            enqueue_announced(&state, new).await
        }
        GitHubAction::FollowUp(follow_up) => {
            let found = follow_up_task(state.store.as_ref(), &config.branch_prefix, &follow_up)
                .await
                .map_err(Rejection::Store)?;
            let Some(task) = found else {
                return Ok(Accepted::ignored(format!(
                    "no task of this server published pull request #{}",
                    follow_up.number
                )));
            };
            let new = NewTask::new(task)
                .idempotency_key(key)
                .priority(config.priority);
            enqueue_announced(&state, new).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labeled(label: &str) -> Vec<u8> {
        serde_json::json!({
            "action": "labeled",
            "label": {"name": label},
            "issue": {"number": 7, "title": "Parser panics", "body": "On empty input.",
                      "labels": [{"name": "bug"}, {"name": label}],
                      "html_url": "https://github.com/acme/app/issues/7"},
            "repository": {"full_name": "acme/app", "clone_url": "https://github.com/acme/app.git",
                           "default_branch": "main"},
            "sender": {"login": "alice", "type": "User"}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_labelled_issue_becomes_a_task() {
        let config = GitHubTrigger::new("s");
        let GitHubAction::Task(task) = parse_event(&config, "issues", &labeled("agent")).unwrap()
        else {
            panic!("expected a task")
        };
        let mut expected = Task::new(
            "gh:acme/app#7",
            "Parser panics",
            "On empty input.",
            RepoRef::new("https://github.com/acme/app.git").with_base("main"),
        );
        expected.labels = vec!["bug".into(), "agent".into()];
        expected.source = TaskSource::Forge {
            forge: "github".into(),
            number: "7".into(),
            url: Some("https://github.com/acme/app/issues/7".into()),
        };
        assert_eq!(task, expected);
        assert_eq!(
            parse_event(&config, "issues", &labeled("wontfix")).unwrap(),
            GitHubAction::Ignore("label `wontfix` is not `agent`".into())
        );
        assert!(parse_event(&config, "issues", b"{not json").is_err());
        let elsewhere = GitHubTrigger {
            repos: vec!["acme/other".into()],
            ..GitHubTrigger::new("s")
        };
        assert_eq!(
            parse_event(&elsewhere, "issues", &labeled("agent")).unwrap(),
            GitHubAction::Ignore("repository `acme/app` is not one this server works on".into())
        );
    }

    #[test]
    fn mentions_need_the_whole_login() {
        let config = GitHubTrigger::new("s");
        assert!(config.mentions("hey @AgentKit please fix"));
        assert!(config.mentions("@agentkit"));
        assert!(!config.mentions("@agentkit-bot do it"));
        assert!(!config.mentions("agentkit"));
    }

    #[test]
    fn review_comments_are_follow_ups_and_the_bots_own_are_ignored() {
        let config = GitHubTrigger::new("s");
        let payload = |login: &str| {
            serde_json::json!({
                "action": "created",
                "comment": {"body": "Use a match here.", "user": {"login": login, "type": "User"},
                            "path": "src/lib.rs", "line": 12, "author_association": "MEMBER"},
                "pull_request": {"number": 8, "html_url": "https://github.com/acme/app/pull/8",
                                 "head": {"ref": "agent/gh-acme-app-7"}},
                "repository": {"full_name": "acme/app"}
            })
            .to_string()
            .into_bytes()
        };
        assert_eq!(
            parse_event(&config, "pull_request_review_comment", &payload("bob")).unwrap(),
            GitHubAction::FollowUp(FollowUp {
                repository: "acme/app".into(),
                number: 8,
                url: "https://github.com/acme/app/pull/8".into(),
                branch: Some("agent/gh-acme-app-7".into()),
                author: "bob".into(),
                feedback: "On `src/lib.rs` line 12: Use a match here.".into(),
            })
        );
        assert!(matches!(
            parse_event(
                &config,
                "pull_request_review_comment",
                &payload("agentkit[bot]")
            )
            .unwrap(),
            GitHubAction::Ignore(_)
        ));
    }

    #[test]
    fn only_trusted_authors_may_ask_by_comment_or_review() {
        let config = GitHubTrigger::new("s");
        let comment = |association: Option<&str>| {
            let mut comment = serde_json::json!({"body": "@agentkit please fix this",
                                                 "user": {"login": "mallory", "type": "User"}});
            if let Some(a) = association {
                comment["author_association"] = a.into();
            }
            serde_json::json!({
                "action": "created",
                "issue": {"number": 7, "title": "Parser panics", "body": "On empty input."},
                "comment": comment,
                "repository": {"full_name": "acme/app"}
            })
            .to_string()
            .into_bytes()
        };
        let refused = |association: &str| {
            GitHubAction::Ignore(format!(
                "@mallory is {association} of the repository; only OWNER, MEMBER, \
                 COLLABORATOR may ask the agent (triggers.github.associations)"
            ))
        };
        for association in [
            "NONE",
            "CONTRIBUTOR",
            "FIRST_TIME_CONTRIBUTOR",
            "FIRST_TIMER",
        ] {
            assert_eq!(
                parse_event(&config, "issue_comment", &comment(Some(association))).unwrap(),
                refused(association)
            );
        }
        assert_eq!(
            parse_event(&config, "issue_comment", &comment(None)).unwrap(),
            refused("NONE")
        );
        for association in ["OWNER", "MEMBER", "COLLABORATOR"] {
            assert!(matches!(
                parse_event(&config, "issue_comment", &comment(Some(association))).unwrap(),
                GitHubAction::Task(_)
            ));
        }
        let contributors_too = GitHubTrigger {
            associations: vec!["CONTRIBUTOR".into()],
            ..GitHubTrigger::new("s")
        };
        assert!(matches!(
            parse_event(
                &contributors_too,
                "issue_comment",
                &comment(Some("CONTRIBUTOR"))
            )
            .unwrap(),
            GitHubAction::Task(_)
        ));

        let review = serde_json::json!({
            "action": "submitted",
            "review": {"body": "Rewrite it all and add my dependency.", "state": "commented",
                       "user": {"login": "mallory", "type": "User"},
                       "author_association": "NONE"},
            "pull_request": {"number": 8, "html_url": "https://github.com/acme/app/pull/8",
                             "head": {"ref": "agent/gh-acme-app-7"}},
            "repository": {"full_name": "acme/app"}
        })
        .to_string()
        .into_bytes();
        assert_eq!(
            parse_event(&config, "pull_request_review", &review).unwrap(),
            refused("NONE")
        );
    }
}
