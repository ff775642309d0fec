//! Tickets stored as files.
//!
//! Two formats, chosen by extension (`.json`; `.md` / `.markdown`; any other
//! extension is read as JSON when its first non-blank character is `{`, as
//! Markdown otherwise):
//!
//! - **JSON**: `{"id": "T-1", "title": "...", "body": "...", "labels": ["bug"],
//!   "repo": {"url": "...", "base": "main"}}`. `id` (a string or a number) and
//!   `title` are required; `body` defaults to empty, `labels` to none and
//!   `repo` to the caller's default repository. Unknown fields are ignored.
//! - **Markdown or plain text**: the first `# ` heading outside a code fence
//!   is the title and everything else is the body; without such a heading
//!   the first non-blank line is the title (shortened to
//!   [`MAX_TITLE_CHARS`] at a word boundary, with the whole line kept in
//!   the body when shortened) and the rest is the body. The file's stem is
//!   the id (`tickets/T-7.md` → `T-7`).

use std::path::Path;

use agentkit_core::forge::ForgeError;
use agentkit_core::task::{RepoRef, Task, TaskId, TaskSource};
use serde::Deserialize;

/// The longest title taken from a ticket's first line (a pull-request title
/// should fit on one line).
pub const MAX_TITLE_CHARS: usize = 100;

/// Loads a ticket file as a [`Task`]; `default_repo` is used when the ticket
/// names no repository. The task's source is [`TaskSource::File`].
///
/// Errors: [`ForgeError::NotFound`] when the file does not exist,
/// [`ForgeError::Other`] naming the file and what is wrong with it otherwise.
pub fn load_ticket(path: &Path, default_repo: &RepoRef) -> Result<Task, ForgeError> {
    let bytes = std::fs::read(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => ForgeError::NotFound {
            what: format!("ticket file `{}`", path.display()),
        },
        _ => invalid(path, format!("could not be read: {err}")),
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|err| invalid(path, format!("is not UTF-8 text ({err})")))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let mut task = match extension.as_deref() {
        Some("json") => parse_json(&text, default_repo),
        Some("md" | "markdown") => parse_markdown(&text, path, default_repo),
        _ if text.trim_start().starts_with('{') => parse_json(&text, default_repo),
        _ => parse_markdown(&text, path, default_repo),
    }
    .map_err(|reason| invalid(path, reason))?;
    task.source = TaskSource::File {
        path: path.display().to_string(),
    };
    Ok(task)
}

fn invalid(path: &Path, reason: String) -> ForgeError {
    ForgeError::Other {
        message: format!("ticket file `{}` {reason}", path.display()),
    }
}

/// The JSON ticket format (lenient: unknown fields are ignored).
#[derive(Deserialize)]
struct JsonTicket {
    id: JsonId,
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    repo: Option<RepoRef>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonId {
    Text(String),
    Number(u64),
}

fn parse_json(text: &str, default_repo: &RepoRef) -> Result<Task, String> {
    let ticket: JsonTicket = serde_json::from_str(text).map_err(|err| {
        format!(
            "is not a valid JSON ticket: {err}; expected {{\"id\", \"title\", \"body\", \
             \"labels\"?, \"repo\"?: {{\"url\", \"base\"?}}}}"
        )
    })?;
    let id = match ticket.id {
        JsonId::Text(id) => id.trim().to_string(),
        JsonId::Number(n) => n.to_string(),
    };
    if id.is_empty() {
        return Err("has an empty `id`".into());
    }
    let title = ticket.title.trim().to_string();
    if title.is_empty() {
        return Err("has an empty `title`".into());
    }
    let repo = ticket.repo.unwrap_or_else(|| default_repo.clone());
    if repo.url.trim().is_empty() {
        return Err("has an empty `repo.url`".into());
    }
    Ok(Task {
        id: TaskId(id),
        title,
        body: ticket.body.trim().to_string(),
        repo,
        labels: ticket.labels,
        source: TaskSource::Cli,
    })
}

fn parse_markdown(text: &str, path: &Path, default_repo: &RepoRef) -> Result<Task, String> {
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().trim().to_string())
        .unwrap_or_default();
    if id.is_empty() {
        return Err("has no file name to take the ticket id from".into());
    }
    let mut title = None;
    let mut body = Vec::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
        } else if trimmed.starts_with("```") {
            fence = Some("```");
        } else if trimmed.starts_with("~~~") {
            fence = Some("~~~");
        } else if title.is_none()
            && let Some(heading) = line.strip_prefix("# ")
        {
            title = Some(heading.trim().trim_end_matches('#').trim().to_string());
            continue;
        }
        body.push(line);
    }
    let (title, body) = match title {
        Some(title) if !title.is_empty() => (title, body.join("\n").trim().to_string()),
        Some(_) => return Err("has an empty `# ` title heading".into()),
        None => first_line_as_title(text)
            .ok_or_else(|| "is empty: write the ticket's title on its first line".to_string())?,
    };
    Ok(Task {
        id: TaskId(id),
        title,
        body,
        repo: default_repo.clone(),
        labels: Vec::new(),
        source: TaskSource::Cli,
    })
}

/// A ticket without a `# ` heading: its first non-blank line (without
/// heading marks) is the title and the rest is the body. A line too long
/// for a title is cut at a word boundary and kept whole in the body.
fn first_line_as_title(text: &str) -> Option<(String, String)> {
    let text = text.trim();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let line = first.trim().trim_start_matches('#').trim();
    if line.is_empty() {
        return None;
    }
    if line.chars().count() <= MAX_TITLE_CHARS {
        return Some((line.to_string(), rest.trim().to_string()));
    }
    let cut: String = line.chars().take(MAX_TITLE_CHARS - 1).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(space) if space > MAX_TITLE_CHARS / 2 => cut[..space].trim_end().to_string(),
        _ => cut,
    };
    let body = format!("{}\n{}", first.trim(), rest.trim());
    Some((format!("{at_word}…"), body.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn origin() -> RepoRef {
        RepoRef::new("/srv/origin.git")
    }

    #[test]
    fn loads_a_json_ticket_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "t.json",
            r#"{"id": "T-1", "title": " Fix the parser ", "body": "It breaks.\n", "labels": ["bug"], "extra": 1}"#,
        );
        let task = load_ticket(&path, &origin()).unwrap();
        assert_eq!(
            task,
            Task {
                id: TaskId("T-1".into()),
                title: "Fix the parser".into(),
                body: "It breaks.".into(),
                repo: origin(),
                labels: vec!["bug".into()],
                source: TaskSource::File {
                    path: path.display().to_string()
                },
            }
        );
    }

    #[test]
    fn json_ticket_may_name_its_repository_and_a_numeric_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "t.json",
            r#"{"id": 42, "title": "T", "repo": {"url": "/other.git", "base": "dev"}}"#,
        );
        let task = load_ticket(&path, &origin()).unwrap();
        assert_eq!(task.id, TaskId("42".into()));
        assert_eq!(task.body, "");
        assert_eq!(task.repo, RepoRef::new("/other.git").with_base("dev"));
    }

    #[test]
    fn loads_a_markdown_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "ISSUE-7.md",
            "<!-- from the tracker -->\n\n# Make `parse` accept tabs\n\nSee:\n```sh\n# not a title\n```\n",
        );
        let task = load_ticket(&path, &origin()).unwrap();
        assert_eq!(task.id, TaskId("ISSUE-7".into()));
        assert_eq!(task.title, "Make `parse` accept tabs");
        assert_eq!(
            task.body,
            "<!-- from the tracker -->\n\n\nSee:\n```sh\n# not a title\n```"
        );
        assert_eq!(task.repo, origin());
    }

    #[test]
    fn a_plain_text_ticket_takes_its_first_line_as_the_title() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "BUG-3.txt",
            "\n  mean() divides by len + 1  \n\nSee tests/test_mean.py.\nThanks!\n",
        );
        let task = load_ticket(&path, &origin()).unwrap();
        assert_eq!(
            (task.id, task.title, task.body),
            (
                TaskId("BUG-3".into()),
                "mean() divides by len + 1".to_string(),
                "See tests/test_mean.py.\nThanks!".to_string()
            )
        );
        let md = write(dir.path(), "one-line.md", "## Bump serde\n");
        let task = load_ticket(&md, &origin()).unwrap();
        assert_eq!(
            (task.title, task.body),
            ("Bump serde".into(), String::new())
        );
    }

    #[test]
    fn a_long_first_line_is_shortened_at_a_word_and_kept_in_the_body() {
        let dir = tempfile::tempdir().unwrap();
        let line = "word ".repeat(40);
        let path = write(dir.path(), "long.txt", &format!("{line}\nmore"));
        let task = load_ticket(&path, &origin()).unwrap();
        assert_eq!(task.title, format!("{}…", "word ".repeat(19).trim_end()));
        assert!(task.title.chars().count() <= MAX_TITLE_CHARS);
        assert_eq!(task.body, format!("{}\nmore", line.trim_end()));
    }

    #[test]
    fn malformed_tickets_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let json = write(dir.path(), "bad.json", r#"{"id": "T-1", "body": "x"}"#);
        let err = load_ticket(&json, &origin()).unwrap_err().to_string();
        assert!(err.contains("bad.json"), "{err}");
        assert!(err.contains("missing field `title`"), "{err}");

        let md = write(dir.path(), "bad.md", "\n  \n");
        let err = load_ticket(&md, &origin()).unwrap_err().to_string();
        assert!(err.contains("bad.md"), "{err}");
        assert!(err.contains("is empty"), "{err}");

        let empty = write(dir.path(), "empty.json", r#"{"id": "", "title": "x"}"#);
        let err = load_ticket(&empty, &origin()).unwrap_err().to_string();
        assert!(err.contains("empty `id`"), "{err}");

        let missing = load_ticket(&dir.path().join("nope.json"), &origin()).unwrap_err();
        assert!(matches!(missing, ForgeError::NotFound { .. }), "{missing}");
    }
}
