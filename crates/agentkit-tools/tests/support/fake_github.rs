//! A fake GitHub on 127.0.0.1 for tests: the REST endpoints the forge uses,
//! shaped as GitHub's REST reference describes them (issues, issue comments,
//! pulls, reviews, labels, App installation tokens with JWT checks, rate-limit
//! headers, `Link` pagination), and git's smart HTTP served by the real
//! `git http-backend` as CGI over a local bare repository, with the token
//! required through Basic auth (as GitHub does for pushes).
//!
//! Shared by the forge tests here and the end-to-end trigger test of
//! agentkit-server (included there with `#[path]`).

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// The App id the fake accepts JWTs from.
pub const APP_ID: &str = "4242";
/// The installation of the App on the repository.
pub const INSTALLATION_ID: u64 = 77;
/// The test App's private key (made for these tests only).
pub const APP_KEY: &[u8] = include_bytes!("../fixtures/github_app_test_key.pem");
const APP_PUBLIC_KEY: &[u8] = include_bytes!("../fixtures/github_app_test_key.pub.pem");

/// A clock the test moves; shared by the forge and the fake.
#[derive(Debug)]
pub struct TestClock(Mutex<SystemTime>);

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(
            UNIX_EPOCH + Duration::from_secs(1_900_000_000),
        )))
    }
    pub fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
    /// Sets the time (for clients on the system clock, e.g. a daemon).
    pub fn set(&self, to: SystemTime) {
        *self.0.lock().unwrap() = to;
    }
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// One request the API received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
    pub token: Option<String>,
}

/// A reply served once instead of the normal one, for the first request
/// whose method and path match.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path_contains: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FakeComment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
    pub user: String,
}

#[derive(Debug, Clone)]
pub struct FakePull {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub state: String,
    pub draft: bool,
    pub labels: Vec<String>,
    pub merged_at: Option<String>,
}

/// Everything the fake knows; tests read and seed it.
#[derive(Debug)]
pub struct FakeState {
    pub owner: String,
    pub repo: String,
    pub pat: Option<String>,
    pub issued: Vec<(String, SystemTime)>,
    pub issues: BTreeMap<u64, FakeIssue>,
    pub comments: Vec<FakeComment>,
    pub pulls: Vec<FakePull>,
    pub reviews: BTreeMap<u64, Vec<String>>,
    pub requests: Vec<Recorded>,
    pub faults: VecDeque<Fault>,
    /// The next N searches for open pull requests answer `[]` (a PR created
    /// by someone else between our search and our create).
    pub hide_pull_searches: usize,
    /// Whether reading git needs the token too (pushing always does).
    pub private_git: bool,
    /// `(method, path, authenticated)` of every git request.
    pub git_requests: Vec<(String, String, bool)>,
    pub token_requests: Vec<Value>,
    next_id: u64,
}

/// The running fake.
pub struct FakeGitHub {
    pub url: String,
    pub state: Arc<Mutex<FakeState>>,
    pub clock: Arc<TestClock>,
    pub root: tempfile::TempDir,
    pub bare: PathBuf,
    pub base_commit: String,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<FakeState>>,
    clock: Arc<TestClock>,
    root: PathBuf,
    url: String,
}

/// A `tracing` writer collecting everything logged (to look for leaks).
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs git in `dir` with a fixed identity and no outside configuration.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
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

impl FakeGitHub {
    /// A fake serving `owner/repo`, whose `main` holds `files`.
    pub async fn start(owner: &str, repo: &str, files: &[(&str, &str)]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let seed = root.path().join("seed");
        std::fs::create_dir(&seed).unwrap();
        git(&seed, &["init", "-q", "-b", "main"]);
        for (path, contents) in files {
            let file = seed.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, contents).unwrap();
        }
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "initial"]);
        let base_commit = git(&seed, &["rev-parse", "HEAD"]);
        let repos = root.path().join("repos");
        std::fs::create_dir_all(repos.join(owner)).unwrap();
        let bare = repos.join(owner).join(format!("{repo}.git"));
        git(
            root.path(),
            &["clone", "-q", "--bare", "seed", bare.to_str().unwrap()],
        );
        git(&bare, &["config", "http.receivepack", "true"]);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let clock = TestClock::new();
        let state = Arc::new(Mutex::new(FakeState {
            owner: owner.into(),
            repo: repo.into(),
            pat: None,
            issued: Vec::new(),
            issues: BTreeMap::new(),
            comments: Vec::new(),
            pulls: Vec::new(),
            reviews: BTreeMap::new(),
            requests: Vec::new(),
            faults: VecDeque::new(),
            hide_pull_searches: 0,
            private_git: true,
            git_requests: Vec::new(),
            token_requests: Vec::new(),
            next_id: 1000,
        }));
        let shared = Shared {
            state: state.clone(),
            clock: clock.clone(),
            root: repos,
            url: url.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            state,
            clock,
            root,
            bare,
            base_commit,
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// The git remote of the repository.
    pub fn remote(&self) -> String {
        let s = self.state();
        format!("{}/{}/{}.git", self.url, s.owner, s.repo)
    }

    pub fn add_issue(&self, number: u64, title: &str, body: &str, labels: &[&str]) {
        self.state().issues.insert(
            number,
            FakeIssue {
                title: title.into(),
                body: body.into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
            },
        );
    }

    pub fn add_comment(&self, issue: u64, user: &str, body: &str) -> u64 {
        let mut s = self.state();
        s.next_id += 1;
        let id = s.next_id;
        s.comments.push(FakeComment {
            id,
            issue,
            body: body.into(),
            user: user.into(),
        });
        id
    }

    pub fn fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// API requests so far, without the token (for snapshots).
    pub fn api_calls(&self) -> Vec<Value> {
        self.state()
            .requests
            .iter()
            .map(|r| json!({ "method": r.method, "path": r.path, "body": r.body }))
            .collect()
    }

    /// The commit a branch of the bare repository points at.
    pub fn branch_tip(&self, branch: &str) -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&self.bare)
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}"))
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

fn reply(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", "4999")
        .header("x-ratelimit-reset", "1900003600")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn bad_credentials() -> Response {
    reply(
        401,
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
    )
}

async fn handle(AxumState(shared): AxumState<Shared>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let (owner, repo) = {
        let s = shared.state.lock().unwrap();
        (s.owner.clone(), s.repo.clone())
    };
    let git_prefix = format!("/{owner}/{repo}.git/");
    if parts.uri.path().starts_with(&git_prefix) {
        return git_http(&shared, &parts.method, &parts.uri, &parts.headers, body).await;
    }
    api(&shared, &parts.method, &parts.uri, &parts.headers, &body)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .map(str::to_string)
}

fn token_valid(shared: &Shared, token: &str) -> bool {
    let s = shared.state.lock().unwrap();
    let now = shared.clock.now();
    s.pat.as_deref() == Some(token)
        || s.issued
            .iter()
            .any(|(t, expires)| t == token && *expires > now)
}

fn jwt_valid(shared: &Shared, token: &str) -> bool {
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(APP_PUBLIC_KEY).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    let Ok(data) = jsonwebtoken::decode::<Value>(token, &key, &validation) else {
        return false;
    };
    let now = shared
        .clock
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = data.claims;
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    claims["iss"] == APP_ID && iat <= now && exp > now && exp - iat <= 660
}

fn api(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
    let path = uri.path().to_string();
    let full = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let json_body: Option<Value> = serde_json::from_slice(body).ok();
    let token = bearer(headers);
    {
        let mut s = shared.state.lock().unwrap();
        s.requests.push(Recorded {
            method: method.to_string(),
            path: full.clone(),
            body: json_body.clone(),
            token: token.clone(),
        });
        let hit = s
            .faults
            .iter()
            .position(|f| f.method == method.as_str() && full.contains(&f.path_contains));
        if let Some(index) = hit {
            let fault = s.faults.remove(index).unwrap();
            let mut response = Response::builder().status(fault.status);
            for (name, value) in &fault.headers {
                response = response.header(name, value);
            }
            return response.body(Body::from(fault.body)).unwrap();
        }
    }
    let Some(token) = token else {
        return reply(401, json!({"message": "Requires authentication"}));
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // App endpoints take the JWT.
    if segments.first() == Some(&"app") || (segments.len() == 4 && segments[3] == "installation") {
        if !jwt_valid(shared, &token) {
            return reply(
                401,
                json!({"message": "A JSON web token could not be decoded"}),
            );
        }
        return app_endpoint(shared, method, &segments, json_body);
    }
    if !token_valid(shared, &token) {
        return bad_credentials();
    }
    let mut s = shared.state.lock().unwrap();
    if segments.len() < 3
        || segments[0] != "repos"
        || segments[1] != s.owner
        || segments[2] != s.repo
    {
        return reply(404, json!({"message": "Not Found"}));
    }
    let rest: Vec<&str> = segments[3..].to_vec();
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.replace("%3A", ":").replace("%2F", "/")))
                .collect()
        })
        .unwrap_or_default();
    let repo_url = format!("{}/{}/{}", shared.url, s.owner, s.repo);
    let b = json_body.unwrap_or(Value::Null);
    match (method.as_str(), rest.as_slice()) {
        ("GET", []) => reply(
            200,
            json!({"full_name": format!("{}/{}", s.owner, s.repo), "default_branch": "main", "private": true}),
        ),
        ("GET", ["issues", n]) => match n
            .parse::<u64>()
            .ok()
            .and_then(|n| s.issues.get(&n).map(|i| (n, i)))
        {
            Some((n, issue)) => reply(200, issue_json(&repo_url, n, issue)),
            None => reply(404, json!({"message": "Not Found"})),
        },
        ("GET", ["issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let all: Vec<Value> = s
                .comments
                .iter()
                .filter(|c| c.issue == n)
                .map(|c| json!({"id": c.id, "body": c.body, "user": {"login": c.user, "type": "User"}, "html_url": format!("{repo_url}/issues/{n}#issuecomment-{}", c.id)}))
                .collect();
            paginate(shared, &path, &query, all)
        }
        ("POST", ["issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            s.next_id += 1;
            let id = s.next_id;
            let text = b["body"].as_str().unwrap_or_default().to_string();
            s.comments.push(FakeComment {
                id,
                issue: n,
                body: text.clone(),
                user: "agentkit[bot]".into(),
            });
            reply(
                201,
                json!({"id": id, "body": text, "user": {"login": "agentkit[bot]"}}),
            )
        }
        ("PATCH", ["issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match s.comments.iter_mut().find(|c| c.id == id) {
                Some(c) => {
                    c.body = b["body"].as_str().unwrap_or_default().to_string();
                    reply(
                        200,
                        json!({"id": id, "body": c.body, "user": {"login": c.user}}),
                    )
                }
                None => reply(404, json!({"message": "Not Found"})),
            }
        }
        ("POST", ["issues", n, "labels"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let labels: Vec<String> = b["labels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let Some(pull) = s.pulls.iter_mut().find(|p| p.number == n) else {
                return reply(404, json!({"message": "Not Found"}));
            };
            for label in labels {
                if !pull.labels.contains(&label) {
                    pull.labels.push(label);
                }
            }
            let out: Vec<Value> = pull.labels.iter().map(|l| json!({"name": l})).collect();
            reply(200, Value::Array(out))
        }
        ("GET", ["pulls"]) => {
            if s.hide_pull_searches > 0 {
                s.hide_pull_searches -= 1;
                return reply(200, json!([]));
            }
            let head = query.get("head").cloned().unwrap_or_default();
            let state = query.get("state").cloned().unwrap_or_else(|| "open".into());
            let owner = s.owner.clone();
            let found: Vec<Value> = s
                .pulls
                .iter()
                .filter(|p| head.is_empty() || format!("{owner}:{}", p.head) == head)
                .filter(|p| state == "all" || p.state == state)
                .map(|p| pull_json(&repo_url, p))
                .collect();
            reply(200, Value::Array(found))
        }
        ("POST", ["pulls"]) => {
            let head = b["head"].as_str().unwrap_or_default().to_string();
            let base = b["base"].as_str().unwrap_or_default().to_string();
            let bare = shared.root.join(&s.owner).join(format!("{}.git", s.repo));
            let exists = std::process::Command::new("git")
                .arg("--git-dir")
                .arg(&bare)
                .args([
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("refs/heads/{head}"),
                ])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !exists {
                return reply(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]}),
                );
            }
            if s.pulls.iter().any(|p| p.head == head && p.state == "open") {
                return reply(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {}:{head}.", s.owner)}]}),
                );
            }
            let number = s
                .issues
                .keys()
                .chain(s.pulls.iter().map(|p| &p.number))
                .max()
                .copied()
                .unwrap_or(0)
                + 1;
            let pull = FakePull {
                number,
                head,
                base,
                title: b["title"].as_str().unwrap_or_default().into(),
                body: b["body"].as_str().unwrap_or_default().into(),
                state: "open".into(),
                draft: b["draft"].as_bool().unwrap_or(false),
                labels: Vec::new(),
                merged_at: None,
            };
            let out = pull_json(&repo_url, &pull);
            s.pulls.push(pull);
            reply(201, out)
        }
        ("PATCH", ["pulls", n]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let Some(pull) = s.pulls.iter_mut().find(|p| p.number == n) else {
                return reply(404, json!({"message": "Not Found"}));
            };
            if let Some(title) = b["title"].as_str() {
                pull.title = title.into();
            }
            if let Some(body) = b["body"].as_str() {
                pull.body = body.into();
            }
            let out = pull_json(&repo_url, pull);
            reply(200, out)
        }
        ("GET", ["pulls", n]) => {
            let n: u64 = n.parse().unwrap_or(0);
            match s.pulls.iter().find(|p| p.number == n) {
                Some(pull) => reply(200, pull_json(&repo_url, pull)),
                None => reply(404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["pulls", n, "reviews"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let all: Vec<Value> = s
                .reviews
                .get(&n)
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(i, state)| json!({"id": i + 1, "state": state, "user": {"login": "reviewer"}}))
                .collect();
            paginate(shared, &path, &query, all)
        }
        _ => reply(404, json!({"message": "Not Found"})),
    }
}

fn app_endpoint(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    body: Option<Value>,
) -> Response {
    let mut s = shared.state.lock().unwrap();
    match (method.as_str(), segments) {
        ("GET", ["repos", _, _, "installation"]) => {
            reply(200, json!({"id": INSTALLATION_ID, "app_id": 4242}))
        }
        ("POST", ["app", "installations", id, "access_tokens"])
            if *id == INSTALLATION_ID.to_string() =>
        {
            let n = s.issued.len() + 1;
            let token = format!("ghs_fakeinstallationtoken{n:010}abcdefABCDEF");
            let expires = shared.clock.now() + Duration::from_secs(3600);
            s.issued.push((token.clone(), expires));
            s.token_requests.push(body.clone().unwrap_or(Value::Null));
            reply(
                201,
                json!({"token": token, "expires_at": rfc3339(expires), "permissions": body.as_ref().map(|b| b["permissions"].clone()), "repository_selection": "selected"}),
            )
        }
        _ => reply(404, json!({"message": "Not Found"})),
    }
}

fn paginate(
    shared: &Shared,
    path: &str,
    query: &BTreeMap<String, String>,
    all: Vec<Value>,
) -> Response {
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let per_page = per_page.min(2); // small pages, so pagination is exercised
    let page: usize = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let start = (page - 1) * per_page;
    let items: Vec<Value> = all.iter().skip(start).take(per_page).cloned().collect();
    let mut response = reply(200, Value::Array(items));
    if start + per_page < all.len() {
        let link = format!(
            "<{}{path}?per_page={per_page}&page={}>; rel=\"next\", <{}{path}?per_page={per_page}&page=1>; rel=\"first\"",
            shared.url,
            page + 1,
            shared.url
        );
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

fn issue_json(repo_url: &str, number: u64, issue: &FakeIssue) -> Value {
    json!({
        "number": number,
        "title": issue.title,
        "body": issue.body,
        "state": "open",
        "html_url": format!("{repo_url}/issues/{number}"),
        "labels": issue.labels.iter().map(|l| json!({"name": l, "color": "ededed"})).collect::<Vec<_>>(),
        "user": {"login": "octocat"},
    })
}

fn pull_json(repo_url: &str, pull: &FakePull) -> Value {
    json!({
        "number": pull.number,
        "html_url": format!("{repo_url}/pull/{}", pull.number),
        "state": pull.state,
        "title": pull.title,
        "body": pull.body,
        "draft": pull.draft,
        "head": {"ref": pull.head, "sha": "0000000000000000000000000000000000000000"},
        "base": {"ref": pull.base, "sha": "0000000000000000000000000000000000000000"},
        "merged_at": pull.merged_at,
        "created_at": "2030-03-17T17:46:40Z",
        "updated_at": "2030-03-17T17:46:40Z",
        "labels": pull.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
    })
}

/// Smart HTTP through `git http-backend` (CGI), the token required through
/// Basic auth for pushes (and for reads of a private repository).
async fn git_http(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let user = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        })
        .filter(|(_, password)| token_valid(shared, password))
        .map(|(user, _)| user);
    let query = uri.query().unwrap_or_default().to_string();
    let pushing = query.contains("git-receive-pack") || uri.path().ends_with("git-receive-pack");
    let private = shared.state.lock().unwrap().private_git;
    shared.state.lock().unwrap().git_requests.push((
        method.to_string(),
        uri.path().to_string(),
        user.is_some(),
    ));
    if user.is_none() && (pushing || private) {
        return Response::builder()
            .status(401)
            .header("www-authenticate", "Basic realm=\"GitHub\"")
            .body(Body::from("Authentication required"))
            .unwrap();
    }
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", &query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(user) = &user {
        command.env("REMOTE_USER", user);
    }
    if let Some(ct) = headers.get("content-type").and_then(|v| v.to_str().ok()) {
        command.env("CONTENT_TYPE", ct);
    }
    if let Some(enc) = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
    {
        command.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(proto) = headers.get("git-protocol").and_then(|v| v.to_str().ok()) {
        command.env("GIT_PROTOCOL", proto);
    }
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await.unwrap();
    writer.await.unwrap();
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, skip)) = split else {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from(
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ))
            .unwrap();
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut response = Response::builder().status(200);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value
                .trim()
                .split(' ')
                .next()
                .unwrap_or("200")
                .parse()
                .unwrap_or(200);
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value.trim());
        }
    }
    response
        .body(Body::from(raw[end + skip..].to_vec()))
        .unwrap()
}
