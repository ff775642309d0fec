//! Python virtual environments restored at another path.
//!
//! A venv names the directory it was made in: the shebangs of its console
//! scripts (`.venv/bin/pip`, `.venv/bin/pytest`), `pyvenv.cfg` and the
//! `activate` scripts. Where commands see the workspace at its host path
//! (`local`, `bwrap`), every sandbox has another path, so a venv restored
//! from a snapshot would still point into the workspace the setup ran in —
//! gone once that sandbox closed (`bad interpreter: No such file`).
//!
//! On restore, the workspace's path at snapshot time is replaced by the
//! new one in those files of every venv (a directory holding a
//! `pyvenv.cfg`) within [`MAX_DEPTH`] levels of the workspace root. Only
//! files that contain the old path are written (under an overlay, only
//! they are copied up).

use std::path::Path;

/// How deep below the workspace root venvs are looked for (`.venv`,
/// `backend/.venv`, `services/api/venv`).
pub(crate) const MAX_DEPTH: usize = 3;

/// Files larger than this in a venv's `bin/` are binaries, not scripts.
const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// Directories never searched for venvs.
const SKIPPED: [&str; 4] = [".git", "node_modules", "target", "site-packages"];

/// Rewrites `from` to `to` in the venvs under `workspace`; returns how many
/// files changed. Best effort: a file that cannot be read or written is
/// logged and left alone.
pub(crate) fn relocate_venvs(workspace: &Path, from: &str, to: &str) -> usize {
    if from == to || from.is_empty() {
        return 0;
    }
    let mut venvs = Vec::new();
    find_venvs(workspace, MAX_DEPTH, &mut venvs);
    let mut changed = 0;
    for venv in venvs {
        let mut files = vec![venv.join("pyvenv.cfg")];
        if let Ok(entries) = std::fs::read_dir(venv.join("bin")) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
        for file in files {
            match rewrite(&file, from.as_bytes(), to.as_bytes()) {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, path = %file.display(), "could not point a restored venv file at its new workspace")
                }
            }
        }
    }
    changed
}

fn find_venvs(dir: &Path, depth: usize, found: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !kind.is_dir() {
            continue;
        }
        let path = entry.path();
        if path.join("pyvenv.cfg").is_file() {
            found.push(path);
        } else if depth > 1 && !SKIPPED.iter().any(|s| entry.file_name() == *s) {
            find_venvs(&path, depth - 1, found);
        }
    }
}

/// Replaces `from` by `to` in the regular file `path` (not a symlink);
/// `Ok(false)` when it holds no `from`.
fn rewrite(path: &Path, from: &[u8], to: &[u8]) -> std::io::Result<bool> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() || meta.len() > MAX_SCRIPT_BYTES {
        return Ok(false);
    }
    let text = std::fs::read(path)?;
    let Some(first) = find(&text, from) else {
        return Ok(false);
    };
    let mut out = Vec::with_capacity(text.len() + to.len());
    let mut rest = &text[..];
    let mut at = Some(first);
    while let Some(i) = at {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
        at = find(rest, from);
    }
    out.extend_from_slice(rest);
    // Truncate and write in place: the mode (executable) stays.
    std::fs::write(path, out)?;
    Ok(true)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_scripts_and_config_follow_the_workspace_and_nothing_else_changes() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let venv = ws.join("svc/.venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::create_dir_all(ws.join("node_modules/x/.venv/bin")).unwrap();
        std::fs::write(
            venv.join("pyvenv.cfg"),
            "home = /usr/bin\ncommand = /usr/bin/python3 -m venv /old/ws/svc/.venv\n",
        )
        .unwrap();
        std::fs::write(
            venv.join("bin/pip"),
            "#!/old/ws/svc/.venv/bin/python3\nimport pip\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/usr/bin/python3", venv.join("bin/python3")).unwrap();
        std::fs::write(ws.join("notes.txt"), "/old/ws\n").unwrap();
        std::fs::write(ws.join("node_modules/x/.venv/pyvenv.cfg"), "/old/ws\n").unwrap();

        assert_eq!(relocate_venvs(ws, "/old/ws", "/new/workspace"), 2);
        assert_eq!(
            std::fs::read_to_string(venv.join("bin/pip")).unwrap(),
            "#!/new/workspace/svc/.venv/bin/python3\nimport pip\n"
        );
        assert_eq!(
            std::fs::read_to_string(venv.join("pyvenv.cfg")).unwrap(),
            "home = /usr/bin\ncommand = /usr/bin/python3 -m venv /new/workspace/svc/.venv\n"
        );
        assert_eq!(
            std::fs::read_link(venv.join("bin/python3")).unwrap(),
            Path::new("/usr/bin/python3")
        );
        assert_eq!(
            std::fs::read_to_string(ws.join("notes.txt")).unwrap(),
            "/old/ws\n"
        );
        assert_eq!(
            std::fs::read_to_string(ws.join("node_modules/x/.venv/pyvenv.cfg")).unwrap(),
            "/old/ws\n"
        );
        assert_eq!(relocate_venvs(ws, "/new/workspace", "/new/workspace"), 0);
    }
}
