//! What the cases work on: a repository to clone, a canary directory
//! outside it, listeners that count what reaches them, heartbeat writers.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentkit_core::sandbox::{Sandbox, SandboxPolicy, SandboxSpec};
use tempfile::TempDir;

use super::*;

// ------------------------------------------------------------- fixtures

/// A source repository to clone, and a canary directory outside it.
pub struct Fixture {
    _repo: TempDir,
    _outside: TempDir,
    /// The repository the provider clones.
    pub repo: PathBuf,
    /// A directory outside every workspace, with a secret in it.
    pub outside: PathBuf,
    canary: Vec<(String, Vec<u8>)>,
}

/// The secret in the canary directory.
pub const SECRET: &str = "canary-secret-4f1c9e";

impl Fixture {
    pub fn new() -> Self {
        let repo_dir = tempfile::tempdir().unwrap();
        let repo = repo_dir.path().to_path_buf();
        git(&repo, &["init", "--quiet"]);
        git(&repo, &["symbolic-ref", "HEAD", "refs/heads/main"]);
        std::fs::create_dir_all(repo.join("src")).unwrap();
        std::fs::write(repo.join("README.md"), "# fixture\n").unwrap();
        std::fs::write(repo.join("src/lib.rs"), "pub fn one() -> u32 { 1 }\n").unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "fixture"]);
        let outside_dir = tempfile::tempdir().unwrap();
        let outside = outside_dir.path().canonicalize().unwrap();
        std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
        std::fs::create_dir(outside.join("dir")).unwrap();
        std::fs::write(outside.join("dir/inner.txt"), SECRET).unwrap();
        let mut fixture = Self {
            _repo: repo_dir,
            _outside: outside_dir,
            repo,
            outside,
            canary: Vec::new(),
        };
        fixture.canary = fixture.snapshot();
        fixture
    }

    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        walk(&self.outside, &self.outside, &mut files);
        files.sort();
        files
    }

    /// Panics when anything under the canary directory changed.
    pub fn assert_outside_unchanged(&self, case: &str) {
        assert_eq!(
            self.snapshot(),
            self.canary,
            "{case}: the directory outside the workspace changed"
        );
    }

    /// The spec for this fixture with `policy`.
    pub fn spec(&self, policy: SandboxPolicy) -> SandboxSpec {
        let mut spec = SandboxSpec::new(self.repo.display().to_string());
        spec.policy = policy;
        spec
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.push((format!("{rel}/"), Vec::new()));
            walk(root, &path, out);
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            out.push((
                format!("{rel} ->"),
                target.display().to_string().into_bytes(),
            ));
        } else {
            out.push((rel, std::fs::read(&path).unwrap()));
        }
    }
}

/// A TCP listener on `ip` that counts connections and bytes, never answers.
pub struct Listener {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub bytes: Arc<AtomicUsize>,
}

impl Listener {
    pub fn start(ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicUsize::new(0));
        let (c, b) = (connections.clone(), bytes.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let b = b.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        b.fetch_add(n, Ordering::SeqCst);
                    }
                });
            }
        });
        Self {
            port,
            connections,
            bytes,
        }
    }

    pub fn untouched(&self) -> bool {
        self.connections.load(Ordering::SeqCst) == 0 && self.bytes.load(Ordering::SeqCst) == 0
    }
}

/// A small HTTP server on `ip` answering every request with `body`.
pub struct HttpServer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
}

impl HttpServer {
    pub fn start(ip: &str, body: &'static str) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let r = requests.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                r.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { port, requests }
    }
}

/// Reads a heartbeat file twice, far enough apart that a live writer would
/// have changed it; `true` when it did not change (the writer is dead).
pub async fn heartbeat_stopped(sandbox: &dyn Sandbox, file: &str) -> bool {
    tokio::time::sleep(Duration::from_millis(400)).await;
    let first = sandbox.read(file).await.unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = sandbox.read(file).await.unwrap_or_default();
    first == second
}

/// A script that starts heartbeat writers: a background job, a grandchild
/// in a subshell, a `nohup`ed one, then blocks.
pub const HEARTBEATS: &str = r#"
beat() { while true; do date +%s%N > "$1"; sleep 0.05; done; }
beat hb-job &
( beat hb-grandchild & ) 
nohup bash -c 'while true; do date +%s%N > hb-nohup; sleep 0.05; done' >/dev/null 2>&1 &
sleep 1000
"#;

pub const HEARTBEAT_FILES: [&str; 3] = ["hb-job", "hb-grandchild", "hb-nohup"];

pub async fn wait_for_heartbeats(sandbox: &dyn Sandbox) {
    for _ in 0..200 {
        let mut all = true;
        for file in HEARTBEAT_FILES {
            all &= sandbox.read(file).await.is_ok();
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the heartbeat writers never started");
}
