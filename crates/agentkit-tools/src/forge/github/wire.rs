//! The GitHub REST shapes the forge reads, lenient as wire types are: only
//! the fields used, unknown ones ignored, optional ones defaulted.

use serde::Deserialize;

/// `GET /repos/{owner}/{repo}/installation`.
#[derive(Debug, Deserialize)]
pub(crate) struct Installation {
    pub(crate) id: u64,
}

/// `POST /app/installations/{id}/access_tokens`.
#[derive(Debug, Deserialize)]
pub(crate) struct InstallationToken {
    pub(crate) token: String,
    pub(crate) expires_at: String,
}

/// An error body.
#[derive(Debug, Deserialize)]
pub(crate) struct ApiError {
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) errors: Vec<serde_json::Value>,
}

/// `GET /repos/{owner}/{repo}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Repository {
    pub(crate) default_branch: String,
}

/// A user.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct User {
    #[serde(default)]
    pub(crate) login: String,
}

/// A label on an issue.
#[derive(Debug, Deserialize)]
pub(crate) struct Label {
    pub(crate) name: String,
}

/// `GET /repos/{owner}/{repo}/issues/{n}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Issue {
    pub(crate) number: u64,
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) labels: Vec<Label>,
    #[serde(default)]
    pub(crate) html_url: Option<String>,
    /// Present when the "issue" is a pull request.
    #[serde(default)]
    pub(crate) pull_request: Option<serde_json::Value>,
}

/// An issue comment.
#[derive(Debug, Deserialize)]
pub(crate) struct IssueComment {
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) body: Option<String>,
    #[serde(default)]
    pub(crate) user: Option<User>,
}

/// A branch end of a pull request.
#[derive(Debug, Deserialize)]
pub(crate) struct PullEnd {
    #[serde(rename = "ref")]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) sha: String,
}

/// A pull request.
#[derive(Debug, Deserialize)]
pub(crate) struct Pull {
    pub(crate) number: u64,
    #[serde(default)]
    pub(crate) html_url: String,
    #[serde(default)]
    pub(crate) state: String,
    #[serde(default)]
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) body: Option<String>,
    pub(crate) head: PullEnd,
    pub(crate) base: PullEnd,
    #[serde(default)]
    pub(crate) merged_at: Option<String>,
    #[serde(default)]
    pub(crate) created_at: Option<String>,
    #[serde(default)]
    pub(crate) updated_at: Option<String>,
}

/// A pull-request review.
#[derive(Debug, Deserialize)]
pub(crate) struct Review {
    #[serde(default)]
    pub(crate) state: String,
}
