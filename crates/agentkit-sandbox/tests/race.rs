//! Containment under concurrent modification.
//!
//! A process inside the sandbox (hostile, in the isolating backends) can swap
//! a workspace directory for a symlink to the outside at any moment. The
//! host-side file operations must never act outside the workspace however the
//! swaps interleave with them: errors are fine, escapes are not.
//!
//! A background thread flips `d` between a real directory and a symlink
//! (to the outside directory, or to the protected `.git/hooks`) with
//! `renameat2(RENAME_EXCHANGE)` (one atomic syscall, so the window is as
//! small as it gets; plain renames where the filesystem lacks it), while the
//! test drives file operations through `d` thousands of times. Each run is
//! bounded by a round count and a time cap; nothing is asserted about
//! timing.

mod common;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agentkit_core::sandbox::Sandbox;
use common::fixture;

const ROUNDS: usize = 3000;
const TIME_CAP: Duration = Duration::from_secs(2);
const SECRET: &[u8] = b"top secret";
const VICTIM: &[u8] = b"victim";

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// Atomically exchanges two directory entries.
fn exchange(a: &CString, b: &CString) -> io::Result<()> {
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the
    // call; renameat2 only reads them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Flips `d` between the real directory and a symlink to `link_target`
/// until `stop` is set; returns how many flips it made.
fn swapper(workspace: &Path, link_target: &Path, stop: &AtomicBool) -> u64 {
    let d = workspace.join("d");
    let alt = workspace.join("d_alt");
    std::os::unix::fs::symlink(link_target, &alt).unwrap();
    let (cd, calt) = (c_path(&d), c_path(&alt));
    let mut flips = 0;
    if exchange(&cd, &calt).is_ok() {
        flips += 1;
        while !stop.load(Ordering::Relaxed) {
            exchange(&cd, &calt).unwrap();
            flips += 1;
        }
        return flips;
    }
    // No RENAME_EXCHANGE on this filesystem: park the directory, put the
    // link in its place, and back.
    let parked = workspace.join("d_parked");
    while !stop.load(Ordering::Relaxed) {
        std::fs::rename(&d, &parked).unwrap();
        std::fs::rename(&alt, &d).unwrap();
        std::fs::rename(&d, &alt).unwrap();
        std::fs::rename(&parked, &d).unwrap();
        flips += 2;
    }
    flips
}

/// Runs `swapper` on a thread until the returned guard's `stop`.
struct Swapping {
    stop: Arc<AtomicBool>,
    flips: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Swapping {
    fn start(workspace: &Path, link_target: &Path) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flips = Arc::new(AtomicU64::new(0));
        let thread = {
            let (workspace, target) = (workspace.to_path_buf(), link_target.to_path_buf());
            let (stop, flips) = (Arc::clone(&stop), Arc::clone(&flips));
            std::thread::spawn(move || {
                flips.store(swapper(&workspace, &target, &stop), Ordering::SeqCst);
            })
        };
        Self {
            stop,
            flips,
            thread: Some(thread),
        }
    }

    /// Stops the thread; returns how many flips it made.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.flips.load(Ordering::SeqCst)
    }
}

#[derive(Default, Debug)]
struct Tally {
    ok: u64,
    read_leaks: u64,
    list_leaks: u64,
    stat_leaks: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_a_directory_for_an_outside_symlink_never_escapes() {
    let fx = fixture();
    let sb = &fx.sandbox;
    // `outside` holds the secret and a file that exists only there.
    std::fs::write(fx.outside.join("victim.txt"), VICTIM).unwrap();
    // The real `d` has its own `secret.txt` with other contents.
    std::fs::create_dir(fx.workspace.join("d")).unwrap();
    std::fs::write(fx.workspace.join("d/secret.txt"), "inside copy").unwrap();

    let swapping = Swapping::start(&fx.workspace, &fx.outside);
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < ROUNDS && started.elapsed() < TIME_CAP {
        rounds += 1;
        if sb.write("d/f", b"payload").await.is_ok() {
            tally.ok += 1;
        }
        if sb.write("d/sub/g", b"payload").await.is_ok() {
            tally.ok += 1;
        }
        match sb.read("d/secret.txt").await {
            Ok(bytes) if bytes == SECRET => tally.read_leaks += 1,
            Ok(_) => tally.ok += 1,
            Err(_) => {}
        }
        if let Ok(entries) = sb.list("d").await {
            tally.ok += 1;
            if entries.iter().any(|e| e.path.ends_with("victim.txt")) {
                tally.list_leaks += 1;
            }
        }
        // `victim.txt` exists only outside: seeing or removing it is a leak.
        if sb.stat("d/victim.txt").await.is_ok() {
            tally.stat_leaks += 1;
        }
        let _ = sb.remove("d/victim.txt").await;
        let _ = sb.remove("d/sub/g").await;
        let _ = sb.remove("d/sub").await;
    }
    let flips = swapping.stop();
    eprintln!(
        "{rounds} rounds, {flips} swaps of `d`, {:?}: {tally:?}",
        started.elapsed()
    );

    let mut left: Vec<String> = std::fs::read_dir(&fx.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec!["secret.txt".to_string(), "victim.txt".to_string()],
        "the outside directory was changed through the sandbox ({tally:?})"
    );
    assert_eq!(
        std::fs::read(fx.outside.join("secret.txt")).unwrap(),
        SECRET
    );
    assert_eq!(
        std::fs::read(fx.outside.join("victim.txt")).unwrap(),
        VICTIM
    );
    assert_eq!(
        (tally.read_leaks, tally.list_leaks, tally.stat_leaks),
        (0, 0, 0),
        "outside contents were seen through the sandbox ({tally:?})"
    );
    // The run exercised something: `d` was swapped, and operations got
    // through while it was a real directory.
    assert!(flips > 0);
    assert!(tally.ok > 0, "{tally:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_a_directory_for_a_symlink_into_a_protected_path_never_writes_there() {
    let fx = fixture();
    let sb = &fx.sandbox;
    let hooks = fx.workspace.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(hooks.join("pre-commit"), "#!/bin/sh\n").unwrap();
    std::fs::create_dir(fx.workspace.join("d")).unwrap();
    std::fs::write(fx.workspace.join("d/pre-commit"), "not a hook").unwrap();

    // A relative link: it stays inside, so only the protected-path rule
    // stands between the write and the hooks directory.
    let swapping = Swapping::start(&fx.workspace, Path::new(".git/hooks"));
    let mut ok = 0u64;
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < ROUNDS && started.elapsed() < TIME_CAP {
        rounds += 1;
        for path in ["d/f", "d/sub/g", "d/pre-commit"] {
            if sb.write(path, b"evil").await.is_ok() {
                ok += 1;
            }
        }
        let _ = sb.remove("d/sub/g").await;
        let _ = sb.remove("d/sub").await;
        let _ = sb.remove("d/f").await;
    }
    let flips = swapping.stop();
    eprintln!(
        "{rounds} rounds, {flips} swaps of `d`, {:?}: {ok} writes got through",
        started.elapsed()
    );

    let left: Vec<String> = std::fs::read_dir(&hooks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["pre-commit".to_string()], "hooks were written");
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        "#!/bin/sh\n"
    );
    assert!(flips > 0);
    assert!(ok > 0);
}
