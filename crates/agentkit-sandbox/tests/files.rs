//! File operations: basics, containment (including symlinks), protected
//! paths.

mod common;

use std::os::unix::fs::symlink;

use agentkit_core::sandbox::{FileKind, FileStat, Sandbox, SandboxError};
use common::fixture;

fn stat(path: &str, kind: FileKind, size: u64) -> FileStat {
    FileStat {
        path: path.into(),
        kind,
        size,
    }
}

fn is_outside(err: &SandboxError, given: &str) -> bool {
    matches!(err, SandboxError::OutsideWorkspace { path } if path == given)
}

#[tokio::test]
async fn write_read_list_stat_remove_round_trip() {
    let fx = fixture();
    let sb = &fx.sandbox;
    sb.write("src/deep/b.rs", b"fn b() {}").await.unwrap();
    sb.write("src/a.rs", b"fn a() {}\n").await.unwrap();
    sb.write("./top.txt", b"top").await.unwrap();
    assert_eq!(sb.read("src/a.rs").await.unwrap(), b"fn a() {}\n");
    assert_eq!(sb.read("src/deep/../a.rs").await.unwrap(), b"fn a() {}\n");

    // Overwrite truncates.
    sb.write("src/a.rs", b"x").await.unwrap();
    assert_eq!(sb.read("src/a.rs").await.unwrap(), b"x");

    let listed = sb.list("src").await.unwrap();
    let dir_size = std::fs::metadata(fx.workspace.join("src/deep"))
        .unwrap()
        .len();
    assert_eq!(
        listed,
        vec![
            stat("src/a.rs", FileKind::File, 1),
            stat("src/deep", FileKind::Dir, dir_size),
        ]
    );
    let root: Vec<String> = sb
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(root, vec!["src".to_string(), "top.txt".to_string()]);

    assert_eq!(
        sb.stat("src/deep/b.rs").await.unwrap(),
        stat("src/deep/b.rs", FileKind::File, 9)
    );
    assert_eq!(sb.stat("").await.unwrap().kind, FileKind::Dir);

    sb.remove("src/deep/b.rs").await.unwrap();
    sb.remove("src/deep").await.unwrap();
    assert_eq!(
        sb.list("src").await.unwrap(),
        vec![stat("src/a.rs", FileKind::File, 1)]
    );
}

#[tokio::test]
async fn wrong_kinds_and_missing_paths_are_reported() {
    let fx = fixture();
    let sb = &fx.sandbox;
    sb.write("dir/file", b"1").await.unwrap();
    let err = sb.read("nope.txt").await.unwrap_err();
    assert!(
        matches!(&err, SandboxError::NotFound { path } if path == "nope.txt"),
        "{err:?}"
    );
    assert!(matches!(
        sb.stat("nope").await.unwrap_err(),
        SandboxError::NotFound { .. }
    ));
    assert!(matches!(
        sb.remove("nope").await.unwrap_err(),
        SandboxError::NotFound { .. }
    ));
    assert!(matches!(
        sb.list("nope").await.unwrap_err(),
        SandboxError::NotFound { .. }
    ));
    assert!(matches!(
        sb.read("dir").await.unwrap_err(),
        SandboxError::WrongKind { .. }
    ));
    assert!(matches!(
        sb.list("dir/file").await.unwrap_err(),
        SandboxError::WrongKind { .. }
    ));
    assert!(matches!(
        sb.write("dir", b"").await.unwrap_err(),
        SandboxError::WrongKind { .. }
    ));
    assert!(matches!(
        sb.write("", b"").await.unwrap_err(),
        SandboxError::WrongKind { .. }
    ));
    assert!(matches!(
        sb.write("dir/file/under", b"").await.unwrap_err(),
        SandboxError::WrongKind { .. }
    ));
    // A directory with entries is not removed.
    assert!(matches!(
        sb.remove("dir").await.unwrap_err(),
        SandboxError::WrongKind { .. }
    ));
    assert!(matches!(
        sb.remove("").await.unwrap_err(),
        SandboxError::WrongKind { .. }
    ));
}

#[tokio::test]
async fn lexical_escapes_are_refused_everywhere() {
    let fx = fixture();
    let sb = &fx.sandbox;
    for path in [
        "../outside/secret.txt",
        "/etc/passwd",
        "a/../../outside/secret.txt",
    ] {
        assert!(
            is_outside(&sb.read(path).await.unwrap_err(), path),
            "read {path}"
        );
        assert!(
            is_outside(&sb.write(path, b"x").await.unwrap_err(), path),
            "write {path}"
        );
        assert!(
            is_outside(&sb.stat(path).await.unwrap_err(), path),
            "stat {path}"
        );
        assert!(
            is_outside(&sb.remove(path).await.unwrap_err(), path),
            "remove {path}"
        );
        assert!(
            is_outside(&sb.list(path).await.unwrap_err(), path),
            "list {path}"
        );
    }
    assert!(is_outside(&sb.list("..").await.unwrap_err(), ".."));
    assert_eq!(
        std::fs::read_to_string(fx.outside.join("secret.txt")).unwrap(),
        "top secret"
    );
}

#[tokio::test]
async fn symlinked_file_pointing_outside_is_refused() {
    let fx = fixture();
    let sb = &fx.sandbox;
    symlink(fx.outside.join("secret.txt"), fx.workspace.join("link")).unwrap();

    assert!(is_outside(&sb.read("link").await.unwrap_err(), "link"));
    assert!(is_outside(
        &sb.write("link", b"pwned").await.unwrap_err(),
        "link"
    ));
    assert!(is_outside(&sb.list("link").await.unwrap_err(), "link"));
    assert_eq!(
        std::fs::read_to_string(fx.outside.join("secret.txt")).unwrap(),
        "top secret"
    );

    // stat and list describe the link itself, without following it.
    let link_size = std::fs::symlink_metadata(fx.workspace.join("link"))
        .unwrap()
        .len();
    assert_eq!(
        sb.stat("link").await.unwrap(),
        stat("link", FileKind::Symlink, link_size)
    );
    assert_eq!(
        sb.list("").await.unwrap(),
        vec![stat("link", FileKind::Symlink, link_size)]
    );

    // Removing the link removes the link, not its target.
    sb.remove("link").await.unwrap();
    assert!(fx.outside.join("secret.txt").exists());
}

#[tokio::test]
async fn symlinked_parent_directory_pointing_outside_is_refused() {
    let fx = fixture();
    let sb = &fx.sandbox;
    symlink(&fx.outside, fx.workspace.join("out")).unwrap();
    for path in ["out/secret.txt", "out/new.txt", "out/new/deeper.txt"] {
        assert!(
            is_outside(&sb.write(path, b"x").await.unwrap_err(), path),
            "write {path}"
        );
    }
    for path in ["out/secret.txt", "out", "out/."] {
        assert!(
            is_outside(&sb.read(path).await.unwrap_err(), path),
            "read {path}"
        );
        assert!(
            is_outside(&sb.list(path).await.unwrap_err(), path),
            "list {path}"
        );
    }
    assert!(is_outside(
        &sb.stat("out/secret.txt").await.unwrap_err(),
        "out/secret.txt"
    ));
    assert!(is_outside(
        &sb.remove("out/secret.txt").await.unwrap_err(),
        "out/secret.txt"
    ));

    let mut left: Vec<_> = std::fs::read_dir(&fx.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, vec!["secret.txt".to_string()]);
    assert_eq!(
        std::fs::read_to_string(fx.outside.join("secret.txt")).unwrap(),
        "top secret"
    );
}

#[tokio::test]
async fn dangling_symlink_is_never_written_through() {
    let fx = fixture();
    let sb = &fx.sandbox;
    symlink(
        fx.outside.join("created.txt"),
        fx.workspace.join("dangling"),
    )
    .unwrap();
    symlink(fx.outside.join("newdir"), fx.workspace.join("dangling_dir")).unwrap();
    assert!(is_outside(
        &sb.write("dangling", b"x").await.unwrap_err(),
        "dangling"
    ));
    assert!(is_outside(
        &sb.write("dangling_dir/f.txt", b"x").await.unwrap_err(),
        "dangling_dir/f.txt"
    ));
    assert!(!fx.outside.join("created.txt").exists());
    assert!(!fx.outside.join("newdir").exists());
    // Reading does not follow it either. (This used to be `NotFound`: the
    // old resolver asked the host whether the absolute target existed. An
    // absolute target is now never followed, so whether it exists on the
    // host is neither checked nor revealed.)
    assert!(is_outside(
        &sb.read("dangling").await.unwrap_err(),
        "dangling"
    ));
}

#[tokio::test]
async fn dangling_relative_symlink_inside_is_not_written_through_either() {
    let fx = fixture();
    let sb = &fx.sandbox;
    symlink("missing.txt", fx.workspace.join("dangling")).unwrap();
    symlink("missing_dir", fx.workspace.join("dangling_dir")).unwrap();

    let err = sb.write("dangling", b"x").await.unwrap_err();
    assert!(
        matches!(&err, SandboxError::WrongKind { reason, .. } if reason.contains("`missing.txt`")),
        "{err:?}"
    );
    let err = sb.write("dangling_dir/f.txt", b"x").await.unwrap_err();
    assert!(
        matches!(&err, SandboxError::WrongKind { reason, .. } if reason.contains("`missing_dir`")),
        "{err:?}"
    );
    assert!(!fx.workspace.join("missing.txt").exists());
    assert!(!fx.workspace.join("missing_dir").exists());
    assert!(matches!(
        sb.read("dangling").await.unwrap_err(),
        SandboxError::NotFound { .. }
    ));
    assert!(matches!(
        sb.read("dangling_dir/f.txt").await.unwrap_err(),
        SandboxError::NotFound { .. }
    ));
    // The link itself can still be described and removed.
    assert_eq!(sb.stat("dangling").await.unwrap().kind, FileKind::Symlink);
    sb.remove("dangling").await.unwrap();
}

#[tokio::test]
async fn symlinks_inside_the_workspace_are_followed_for_reading_only() {
    let fx = fixture();
    let sb = &fx.sandbox;
    sb.write("real/file.txt", b"inside").await.unwrap();
    symlink("real", fx.workspace.join("alias")).unwrap();
    symlink("real/file.txt", fx.workspace.join("file_link")).unwrap();

    assert_eq!(sb.read("alias/file.txt").await.unwrap(), b"inside");
    assert_eq!(sb.read("file_link").await.unwrap(), b"inside");
    assert_eq!(
        sb.list("alias").await.unwrap(),
        vec![stat("alias/file.txt", FileKind::File, 6)]
    );
    // Writing through a directory link that stays inside is fine ...
    sb.write("alias/other.txt", b"2").await.unwrap();
    assert_eq!(
        std::fs::read(fx.workspace.join("real/other.txt")).unwrap(),
        b"2"
    );
    // ... but the final component is never a link.
    let err = sb.write("file_link", b"x").await.unwrap_err();
    assert!(matches!(err, SandboxError::WrongKind { .. }), "{err:?}");
}

#[tokio::test]
async fn protected_paths_cannot_be_written_or_removed() {
    let fx = fixture();
    let sb = &fx.sandbox;
    std::fs::create_dir_all(fx.workspace.join(".git/hooks")).unwrap();
    std::fs::write(fx.workspace.join(".git/config"), "[core]\n").unwrap();
    std::fs::write(fx.workspace.join(".git/hooks/pre-commit"), "#!/bin/sh\n").unwrap();

    for path in [
        ".git/config",
        ".git/hooks",
        ".git/hooks/pre-commit",
        ".git/hooks/new/deeper",
        "./.git/../.git/config",
    ] {
        let err = sb.write(path, b"evil").await.unwrap_err();
        assert!(
            matches!(&err, SandboxError::Protected { path: p } if p == path),
            "write {path}: {err:?}"
        );
    }
    for path in [".git/config", ".git/hooks/pre-commit", ".git/hooks"] {
        let err = sb.remove(path).await.unwrap_err();
        assert!(
            matches!(err, SandboxError::Protected { .. }),
            "remove {path}: {err:?}"
        );
    }
    // Through a symlinked directory that aliases `.git`.
    symlink(".git", fx.workspace.join("gitlink")).unwrap();
    let err = sb
        .write("gitlink/hooks/post-checkout", b"evil")
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Protected { .. }), "{err:?}");

    // Reading is allowed, and a name that merely starts the same is not protected.
    assert_eq!(sb.read(".git/config").await.unwrap(), b"[core]\n");
    sb.write(".git/configured", b"ok").await.unwrap();
    sb.write(".git/HEAD", b"ref: refs/heads/main\n")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(fx.workspace.join(".git/hooks/pre-commit")).unwrap(),
        "#!/bin/sh\n"
    );
}

#[tokio::test]
async fn attach_refuses_missing_or_non_directories() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let policy = agentkit_core::sandbox::SandboxPolicy::default();
    let err = agentkit_sandbox::local::LocalSandbox::attach(
        dir.path().join("nope"),
        policy.clone(),
        Default::default(),
    )
    .unwrap_err();
    assert!(matches!(err, SandboxError::NotFound { .. }), "{err:?}");
    let err = agentkit_sandbox::local::LocalSandbox::attach(&file, policy, Default::default())
        .unwrap_err();
    assert!(matches!(err, SandboxError::WrongKind { .. }), "{err:?}");
}
