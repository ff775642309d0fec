//! The forge's state directory: pull-request records, comments, the lock.
//!
//! ```text
//! <state_dir>/
//!   forge.lock               flock(2)-ed while a publish or comment is written
//!   tickets/<id>.json|.md    tickets (read only)
//!   pulls/<n>.json           one record per pull request (a `PullRequest`)
//!   pulls/<n>.md             the same, rendered for humans
//!   comments/<slug>.jsonl    one `{"task_id", "body", "created_at_ms"}` per line
//! ```
//!
//! Records are written atomically (a temporary file in the same directory,
//! then a rename), so a reader never sees half a record.

use std::io::Write;
use std::path::{Path, PathBuf};

use agentkit_core::forge::{ForgeError, PullRequest, PullRequestState};
use agentkit_core::task::TaskId;
use serde::Serialize;

/// The pull-request directory of a state directory.
pub(crate) fn pulls_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("pulls")
}

/// The JSON record of pull request `id`.
pub(crate) fn record_path(state_dir: &Path, id: &str) -> PathBuf {
    pulls_dir(state_dir).join(format!("{id}.json"))
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> ForgeError {
    ForgeError::Other {
        message: format!("could not {what} `{}`: {err}", path.display()),
    }
}

/// Whether `id` is a pull-request number (`1`, `42`), so it is safe in a file name.
pub(crate) fn is_pull_number(id: &str) -> bool {
    !id.is_empty() && id.len() <= 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Reads pull request `id`.
pub(crate) fn read_pull(state_dir: &Path, id: &str) -> Result<PullRequest, ForgeError> {
    let path = record_path(state_dir, id);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ForgeError::NotFound {
                what: format!("pull request #{id} (no `{}`)", path.display()),
            });
        }
        Err(err) => return Err(io_error("read", &path, err)),
    };
    serde_json::from_str(&text).map_err(|err| ForgeError::Other {
        message: format!(
            "pull-request record `{}` is corrupt: {err}; fix or remove the file",
            path.display()
        ),
    })
}

/// Every pull request, sorted by number.
pub(crate) fn list_pulls(state_dir: &Path) -> Result<Vec<PullRequest>, ForgeError> {
    let dir = pulls_dir(state_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(io_error("list", &dir, err)),
    };
    let mut numbers = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| io_error("list", &dir, err))?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if let (true, Ok(number)) = (is_pull_number(id), id.parse::<u64>()) {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    numbers
        .into_iter()
        .map(|n| read_pull(state_dir, &n.to_string()))
        .collect()
}

/// Writes `pull`'s record and its rendering, atomically each.
pub(crate) fn write_pull(state_dir: &Path, pull: &PullRequest) -> Result<(), ForgeError> {
    let dir = pulls_dir(state_dir);
    std::fs::create_dir_all(&dir).map_err(|err| io_error("create", &dir, err))?;
    let json = serde_json::to_vec_pretty(pull).map_err(|err| ForgeError::Other {
        message: format!("could not encode pull request #{}: {err}", pull.id),
    })?;
    write_atomic(&record_path(state_dir, &pull.id), &json)?;
    let rendered = render_pull_request(pull);
    write_atomic(&dir.join(format!("{}.md", pull.id)), rendered.as_bytes())
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ForgeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|err| io_error("create a temporary file in", dir, err))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|err| io_error("write", file.path(), err))?;
    file.persist(path)
        .map_err(|err| io_error("replace", path, err.error))?;
    Ok(())
}

/// The next free pull-request number among `pulls`.
pub(crate) fn next_number(pulls: &[PullRequest]) -> u64 {
    pulls
        .iter()
        .filter_map(|p| p.id.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1
}

#[derive(Serialize)]
struct CommentLine<'a> {
    task_id: &'a TaskId,
    body: &'a str,
    created_at_ms: u64,
}

/// Appends a comment to `<state_dir>/comments/<slug>.jsonl`.
pub(crate) fn append_comment(
    state_dir: &Path,
    task: &TaskId,
    body: &str,
    now_ms: u64,
) -> Result<(), ForgeError> {
    let dir = state_dir.join("comments");
    std::fs::create_dir_all(&dir).map_err(|err| io_error("create", &dir, err))?;
    let path = dir.join(format!("{}.jsonl", task.slug()));
    let mut line = serde_json::to_vec(&CommentLine {
        task_id: task,
        body,
        created_at_ms: now_ms,
    })
    .map_err(|err| ForgeError::Other {
        message: format!("could not encode a comment for `{task}`: {err}"),
    })?;
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(&line))
        .map_err(|err| io_error("append to", &path, err))
}

/// An exclusive lock on the state directory, held until dropped.
pub(crate) struct StateLock {
    _file: std::fs::File,
}

/// Takes the state directory's lock file (`flock(2)` on Unix, so other
/// processes using the same directory wait; released when dropped, or when the
/// process dies). Blocking: call from a blocking thread.
pub(crate) fn lock_state(state_dir: &Path) -> Result<StateLock, ForgeError> {
    std::fs::create_dir_all(state_dir).map_err(|err| io_error("create", state_dir, err))?;
    let path = state_dir.join("forge.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| io_error("open the lock file", &path, err))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        loop {
            // SAFETY: the descriptor belongs to `file`, which outlives the call;
            // flock(2) only takes an advisory lock on it.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_error("lock", &path, err));
            }
        }
    }
    Ok(StateLock { _file: file })
}

/// Renders a pull request as markdown for a human in a terminal.
pub fn render_pull_request(pr: &PullRequest) -> String {
    let state = match pr.state {
        PullRequestState::Open => "open",
        PullRequestState::Merged => "merged",
        PullRequestState::Closed => "closed",
    };
    let short: String = pr.head_commit.chars().take(12).collect();
    let mut out = format!(
        "# #{id} {title}\n\n\
         - State: {state}\n\
         - Task: `{task}`\n\
         - Branch: `{branch}` → `{base}`\n\
         - Head: `{short}` (revision {revisions})\n\
         - Review rounds: {rounds}\n\
         - Opened: {created}\n\
         - Updated: {updated}\n",
        id = pr.id,
        title = pr.title.trim(),
        task = pr.task_id,
        branch = pr.branch,
        base = pr.base_branch,
        revisions = pr.revisions,
        rounds = pr.review_rounds,
        created = format_time(pr.created_at_ms),
        updated = format_time(pr.updated_at_ms),
    );
    if let Some(merged) = pr.merged_at_ms {
        out.push_str(&format!("- Merged: {}\n", format_time(merged)));
    }
    out.push_str(&format!("- Record: {}\n", pr.url));
    let body = pr.body.trim();
    if !body.is_empty() {
        out.push_str("\n---\n\n");
        out.push_str(body);
        out.push('\n');
    }
    out
}

/// `2024-05-01 12:30:00 UTC` from milliseconds since the Unix epoch.
fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_714_566_600_123), "2024-05-01 12:30:00 UTC");
    }

    #[test]
    fn renders_a_pull_request_for_humans() {
        let pr = PullRequest {
            id: "3".into(),
            url: "/state/pulls/3.json".into(),
            task_id: TaskId("T-1".into()),
            branch: "agent/T-1".into(),
            base_branch: "main".into(),
            title: "Fix the parser".into(),
            body: "Done.\n".into(),
            head_commit: "0123456789abcdef0123456789abcdef01234567".into(),
            state: PullRequestState::Open,
            revisions: 2,
            review_rounds: 0,
            created_at_ms: 0,
            updated_at_ms: 1_714_566_600_123,
            merged_at_ms: None,
        };
        assert_eq!(
            render_pull_request(&pr),
            "# #3 Fix the parser\n\n\
             - State: open\n\
             - Task: `T-1`\n\
             - Branch: `agent/T-1` → `main`\n\
             - Head: `0123456789ab` (revision 2)\n\
             - Review rounds: 0\n\
             - Opened: 1970-01-01 00:00:00 UTC\n\
             - Updated: 2024-05-01 12:30:00 UTC\n\
             - Record: /state/pulls/3.json\n\
             \n---\n\nDone.\n"
        );
    }
}
