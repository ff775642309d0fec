//! `HostWorkspace` directly: the rules the backends share, including where
//! they are stricter than plain path resolution.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agentkit_core::sandbox::{FileKind, SandboxError, SandboxPolicy};
use agentkit_sandbox::workspace::{HostWorkspace, Resolution};
use tempfile::TempDir;

struct Fx {
    _dir: TempDir,
    root: PathBuf,
    outside: PathBuf,
    ws: HostWorkspace,
}

fn fx() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "top secret").unwrap();
    let ws = HostWorkspace::open(&root, &SandboxPolicy::default().protected_paths).unwrap();
    Fx {
        root: root.canonicalize().unwrap(),
        outside: outside.canonicalize().unwrap(),
        _dir: dir,
        ws,
    }
}

fn is_outside<T: std::fmt::Debug>(result: Result<T, SandboxError>, given: &str) -> bool {
    matches!(result, Err(SandboxError::OutsideWorkspace { path }) if path == given)
}

fn is_protected<T: std::fmt::Debug>(result: Result<T, SandboxError>) -> bool {
    matches!(result, Err(SandboxError::Protected { .. }))
}

fn wrong_kind<T: std::fmt::Debug>(result: Result<T, SandboxError>) -> String {
    match result {
        Err(SandboxError::WrongKind { reason, .. }) => reason,
        other => panic!("expected WrongKind, got {other:?}"),
    }
}

#[test]
fn root_is_the_canonical_path() {
    let fx = fx();
    assert_eq!(fx.ws.root(), fx.root.as_path());
}

#[test]
fn absolute_symlinks_are_refused_even_when_they_point_inside() {
    // Stricter than the kernel: an absolute target names one place on the
    // host and another inside an isolating sandbox, so it is never followed.
    let fx = fx();
    fx.ws.write("real/file.txt", b"inside").unwrap();
    symlink(fx.root.join("real"), fx.root.join("abs_dir")).unwrap();
    symlink(fx.root.join("real/file.txt"), fx.root.join("abs_file")).unwrap();

    assert!(is_outside(fx.ws.read("abs_file"), "abs_file"));
    assert!(is_outside(
        fx.ws.read("abs_dir/file.txt"),
        "abs_dir/file.txt"
    ));
    assert!(is_outside(fx.ws.list("abs_dir"), "abs_dir"));
    assert!(is_outside(
        fx.ws.write("abs_dir/new.txt", b"x"),
        "abs_dir/new.txt"
    ));
    assert!(is_outside(fx.ws.write("abs_file", b"x"), "abs_file"));
    assert!(is_outside(fx.ws.resolve("abs_dir"), "abs_dir"));
    assert!(!fx.root.join("real/new.txt").exists());
    assert_eq!(
        std::fs::read(fx.root.join("real/file.txt")).unwrap(),
        b"inside"
    );
    // The links themselves can be described and removed.
    assert_eq!(fx.ws.stat("abs_dir").unwrap().kind, FileKind::Symlink);
    fx.ws.remove("abs_dir").unwrap();
    assert!(fx.root.join("real").is_dir());
}

#[test]
fn relative_symlinks_with_dotdot_resolve_on_real_directories() {
    let fx = fx();
    fx.ws.write("real/file.txt", b"inside").unwrap();
    fx.ws.write("sub/deeper/keep", b"").unwrap();
    symlink("../../real", fx.root.join("sub/deeper/up")).unwrap();
    // `sub/alias` -> `deeper/up` -> `../../real`: `..` is taken from where
    // each link lives.
    symlink("deeper/up", fx.root.join("sub/alias")).unwrap();

    assert_eq!(fx.ws.read("sub/deeper/up/file.txt").unwrap(), b"inside");
    assert_eq!(fx.ws.read("sub/alias/file.txt").unwrap(), b"inside");
    assert_eq!(
        fx.ws.resolve("sub/alias/file.txt").unwrap(),
        Resolution {
            relative: PathBuf::from("real/file.txt"),
            kind: Some(FileKind::File),
        }
    );
    assert_eq!(
        fx.ws.resolve("sub/alias/missing").unwrap(),
        Resolution {
            relative: PathBuf::from("real/missing"),
            kind: None,
        }
    );
    fx.ws.write("sub/alias/new.txt", b"2").unwrap();
    assert_eq!(std::fs::read(fx.root.join("real/new.txt")).unwrap(), b"2");

    // One `..` too many leaves the workspace.
    symlink("../../../outside", fx.root.join("sub/deeper/out")).unwrap();
    assert!(is_outside(
        fx.ws.read("sub/deeper/out/secret.txt"),
        "sub/deeper/out/secret.txt"
    ));
    assert!(is_outside(
        fx.ws.write("sub/deeper/out/new.txt", b"x"),
        "sub/deeper/out/new.txt"
    ));
    assert!(!fx.outside.join("new.txt").exists());
}

#[test]
fn symlink_loops_are_reported() {
    let fx = fx();
    symlink("b", fx.root.join("a")).unwrap();
    symlink("a", fx.root.join("b")).unwrap();
    symlink(".", fx.root.join("self")).unwrap();
    assert!(wrong_kind(fx.ws.read("a")).contains("loop"));
    assert!(wrong_kind(fx.ws.write("a/f", b"x")).contains("loop"));
    // A link to its own directory is no loop: it just stays in place.
    fx.ws.write("f.txt", b"1").unwrap();
    assert_eq!(fx.ws.read("self/self/self/f.txt").unwrap(), b"1");
}

#[test]
fn protected_paths_cannot_be_reached_through_symlinks() {
    let fx = fx();
    std::fs::create_dir_all(fx.root.join(".git/hooks")).unwrap();
    std::fs::write(fx.root.join(".git/config"), "[core]\n").unwrap();
    symlink(".git/hooks", fx.root.join("hooks")).unwrap();
    symlink(".git/config", fx.root.join("config_link")).unwrap();
    symlink(".git", fx.root.join("gitlink")).unwrap();

    // Writing into them through a symlinked directory, creating directories
    // there on the way, or writing to a link that points at them.
    assert!(is_protected(fx.ws.write("hooks/pre-commit", b"evil")));
    assert!(is_protected(
        fx.ws.write("gitlink/hooks/new/deeper", b"evil")
    ));
    assert!(is_protected(fx.ws.write("config_link", b"evil")));
    assert!(is_protected(fx.ws.remove("gitlink/config")));
    assert!(!fx.root.join(".git/hooks/pre-commit").exists());
    assert!(!fx.root.join(".git/hooks/new").exists());
    assert_eq!(
        std::fs::read_to_string(fx.root.join(".git/config")).unwrap(),
        "[core]\n"
    );
    // Reading is fine, and removing a link removes only the link.
    assert_eq!(fx.ws.read("config_link").unwrap(), b"[core]\n");
    fx.ws.remove("config_link").unwrap();
    assert!(fx.root.join(".git/config").exists());
}

#[test]
fn a_symlinked_git_directory_protects_its_target() {
    let fx = fx();
    std::fs::create_dir_all(fx.root.join("realgit/hooks")).unwrap();
    std::fs::write(fx.root.join("realgit/config"), "[core]\n").unwrap();
    symlink("realgit", fx.root.join(".git")).unwrap();
    assert!(is_protected(
        fx.ws.write("realgit/hooks/pre-commit", b"evil")
    ));
    assert!(is_protected(fx.ws.write("realgit/config", b"evil")));
    assert!(is_protected(fx.ws.remove("realgit/config")));
    fx.ws
        .write("realgit/HEAD", b"ref: refs/heads/main\n")
        .unwrap();
}

#[test]
fn special_files_are_neither_read_nor_written() {
    let fx = fx();
    let fifo = fx.root.join("fifo");
    let c_fifo = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o644) }, 0);
    symlink("fifo", fx.root.join("fifo_link")).unwrap();

    // Without the checks these would block forever on the FIFO; run them on
    // a thread so a regression fails instead of hanging.
    let (tx, rx) = std::sync::mpsc::channel();
    let ws = fx.ws;
    std::thread::spawn(move || {
        let results = (
            wrong_kind(ws.read("fifo")),
            wrong_kind(ws.read("fifo_link")),
            wrong_kind(ws.write("fifo", b"x")),
        );
        tx.send(results).unwrap();
    });
    let (read, via_link, write) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    for reason in [read, via_link, write] {
        assert!(reason.contains("not a regular file"), "{reason}");
    }
}

#[test]
fn open_refuses_missing_roots_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert!(matches!(
        HostWorkspace::open(dir.path().join("nope"), &[]),
        Err(SandboxError::NotFound { .. })
    ));
    let reason = wrong_kind(HostWorkspace::open(&file, &[]));
    assert!(reason.contains("must be a directory"), "{reason}");
}

#[test]
fn the_root_handle_survives_the_root_path_being_replaced() {
    // The root is opened once: renaming it away and planting a symlink at
    // its old path does not redirect the operations.
    let fx = fx();
    fx.ws.write("a.txt", b"1").unwrap();
    let moved = fx.root.with_file_name("ws-moved");
    std::fs::rename(&fx.root, &moved).unwrap();
    symlink(&fx.outside, &fx.root).unwrap();
    fx.ws.write("b.txt", b"2").unwrap();
    assert!(moved.join("b.txt").exists());
    assert!(!fx.outside.join("b.txt").exists());
    assert_eq!(fx.ws.read("a.txt").unwrap(), b"1");
    assert!(Path::new(&moved).join("a.txt").exists());
}
