//! The clone has no way back to the repository it came from (required of
//! every backend: the agent's work leaves only as a handed-over bundle).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::*;

/// `(device, inode)` of every file under `dir`.
fn inodes(dir: &Path, out: &mut HashSet<(u64, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            inodes(&entry.path(), out);
        } else {
            out.insert((meta.dev(), meta.ino()));
        }
    }
}

pub async fn the_clone_cannot_push_to_its_origin(h: &Harness) {
    let f = Fixture::new();
    let sb = h.default_sandbox(&f).await;
    let refs_before = git_out(
        &f.repo,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    );
    // The bypass that string-matching command policies miss.
    let out = sh(
        sb.as_ref(),
        "git remote -v; echo remotes-listed; \
         g=git; p=push; $g $p origin HEAD:refs/heads/release; echo push-exit=$?; \
         git push --all 2>&1; echo push-all-exit=$?; \
         test -e .git/objects/info/alternates && echo alternates-present; echo done",
    )
    .await;
    let text = &out.stdout.text;
    assert!(text.ends_with("done\n"), "{}: {out:?}", h.name);
    assert!(
        text.starts_with("remotes-listed\n"),
        "{}: the clone still has a remote: {out:?}",
        h.name
    );
    assert!(!text.contains("push-exit=0\n"), "{}: {out:?}", h.name);
    assert!(!text.contains("push-all-exit=0\n"), "{}: {out:?}", h.name);
    assert!(!text.contains("alternates-present"), "{}: {out:?}", h.name);
    assert_eq!(
        git_out(
            &f.repo,
            &["for-each-ref", "--format=%(refname) %(objectname)"]
        ),
        refs_before,
        "{}: the origin's refs changed",
        h.name
    );
    if let Some(workspace) = sb.host_workspace() {
        let mut origin = HashSet::new();
        inodes(&f.repo.join(".git/objects"), &mut origin);
        let mut clone = HashSet::new();
        inodes(&workspace.join(".git/objects"), &mut clone);
        assert!(!clone.is_empty(), "{}: the clone has no objects", h.name);
        assert!(
            origin.is_disjoint(&clone),
            "{}: the clone shares object files (hard links) with its origin",
            h.name
        );
    }
    sb.close().await.unwrap();
}
