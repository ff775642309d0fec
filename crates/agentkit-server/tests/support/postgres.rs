//! A private PostgreSQL server for tests and benchmarks, from the Debian
//! packages (`/usr/lib/postgresql/<version>/bin`, or `AGENTKIT_PG_BIN`).
//!
//! The server lives in a temporary directory, listens only on a unix socket
//! there, and is stopped and deleted when its [`PgServer`] drops (or, for the
//! [`shared`] one, when the test binary exits). It is started from a thread
//! that waits on it, with a parent-death signal, so a test binary killed
//! outright takes the server with it. As root, the server runs as the
//! `postgres` user (PostgreSQL refuses to run as root).
//!
//! `initdb` runs once per machine (a template data directory in the system's
//! temporary directory); each server starts from a copy of it.
//!
//! Without a server binary, [`PgServer::start`] prints `SKIPPED: <why>` and
//! returns `None`; under `CI` it panics instead.
#![allow(dead_code)] // Each test binary uses its own part.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How the server trades durability for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync = off`, `synchronous_commit = off`: for tests.
    Fast,
    /// PostgreSQL's defaults (every commit flushed): for benchmarks.
    Default,
}

/// A running private server.
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    durability: Durability,
    pid: Option<i32>,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

impl PgServer {
    /// Starts a server (about a second), or prints `SKIPPED` and returns
    /// `None` when PostgreSQL is not installed (panics under `CI`).
    pub fn start(durability: Durability) -> Option<Self> {
        let bin = match find_bin() {
            Ok(bin) => bin,
            Err(why) => {
                if std::env::var_os("CI").is_some() {
                    panic!("PostgreSQL is required under CI: {why} (run .ci/postgres.sh)");
                }
                println!("SKIPPED: {why}; install Debian's `postgresql` to run this test");
                return None;
            }
        };
        let owner = unprivileged_owner();
        let template = template(&bin, owner);
        let dir = tempfile::Builder::new()
            .prefix("agentkit-pg-")
            .tempdir()
            .expect("temporary directory")
            .keep();
        copy_dir(&template, &dir.join("data"));
        if let Some((uid, gid)) = owner {
            chown_tree(&dir, uid, gid);
        }
        let mut server = Self {
            dir,
            bin,
            owner,
            durability,
            pid: None,
        };
        server.restart();
        Some(server)
    }

    /// The server every test in this binary shares (started on first use,
    /// stopped and deleted at exit), or `None` after `SKIPPED`.
    pub fn shared() -> Option<&'static Mutex<PgServer>> {
        static SHARED: OnceLock<Option<Mutex<PgServer>>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let server = PgServer::start(Durability::Fast)?;
                extern "C" fn stop_at_exit() {
                    if let Some(Some(server)) = SHARED.get()
                        && let Ok(mut server) = server.lock()
                    {
                        server.stop();
                        let _ = std::fs::remove_dir_all(&server.dir);
                    }
                }
                // SAFETY: registers a plain function to run at exit.
                unsafe { libc::atexit(stop_at_exit) };
                Some(Mutex::new(server))
            })
            .as_ref()
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost/{database}?host={}",
            self.dir.display()
        )
    }

    /// Creates a new, empty database and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let status = self
            .command("createdb")
            .args(["-h"])
            .arg(&self.dir)
            .args(["-U", "postgres", &name])
            .status()
            .expect("run createdb");
        assert!(status.success(), "createdb {name} failed");
        self.url(&name)
    }

    /// Runs `sql` on `database` with `psql` and returns its unaligned,
    /// tuples-only output (fields separated by `|`), trimmed.
    pub fn query(&self, database: &str, sql: &str) -> String {
        let output = self
            .command("psql")
            .arg("-h")
            .arg(&self.dir)
            .args(["-U", "postgres", "-d", database, "-XAtc", sql])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Stops the server (fast shutdown: clients are disconnected). The data
    /// stays; [`restart`](Self::restart) brings it back.
    pub fn stop(&mut self) {
        let Some(pid) = self.pid.take() else { return };
        // SAFETY: signals the postmaster this server started.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        // SAFETY: probes whether the process still exists.
        while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }

    /// Starts the server on its data directory and waits until it accepts
    /// connections.
    pub fn restart(&mut self) {
        assert!(self.pid.is_none(), "the server is already running");
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("server.log")).expect("log"));
        // Extra settings for profiling, e.g.
        // `shared_preload_libraries=pg_stat_statements`.
        if let Ok(settings) = std::env::var("AGENTKIT_PG_SETTINGS") {
            for setting in settings.split_whitespace() {
                command.args(["-c", setting]);
            }
        }
        if self.durability == Durability::Fast {
            command.args(["-c", "fsync=off", "-c", "synchronous_commit=off"]);
            command.args(["-c", "full_page_writes=off"]);
        }
        // SAFETY: prctl is async-signal-safe; the server dies with the
        // thread that waits on it, i.e. with this process.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = sender.send(Ok(child.id() as i32));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = sender.send(Err(e));
            }
        });
        let pid = receiver
            .recv()
            .expect("server thread")
            .expect("start postgres");
        self.pid = Some(pid);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .command("pg_isready")
                .arg("-h")
                .arg(&self.dir)
                .args(["-U", "postgres", "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "postgres did not start:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command.env("LC_ALL", "C");
        command
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory of `postgres`, `initdb` and friends.
fn find_bin() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("AGENTKIT_PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no PostgreSQL under /usr/lib/postgresql".to_string())?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists() && bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|p| {
        let version = p.parent().and_then(|v| v.file_name());
        version.and_then(|v| v.to_str()?.parse::<u32>().ok())
    });
    versions
        .pop()
        .ok_or_else(|| "no postgres/initdb under /usr/lib/postgresql/*/bin".to_string())
}

/// As root, the `postgres` user's ids (PostgreSQL refuses to run as root).
fn unprivileged_owner() -> Option<(u32, u32)> {
    // SAFETY: plain libc calls; getpwnam's result is read at once.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let entry = libc::getpwnam(c"postgres".as_ptr());
        assert!(
            !entry.is_null(),
            "running as root, but there is no `postgres` user to run the server as \
             (Debian's postgresql package creates it)"
        );
        Some(((*entry).pw_uid, (*entry).pw_gid))
    }
}

/// An initialized data directory, made once per build and copied per server.
fn template(bin: &Path, owner: Option<(u32, u32)>) -> PathBuf {
    let version = bin
        .parent()
        .and_then(|v| v.file_name())
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    let root = std::env::temp_dir();
    let template = root.join(format!("agentkit-postgres-template-{version}"));
    if template.join("PG_VERSION").exists() {
        return template;
    }
    let work = tempfile::Builder::new()
        .prefix("postgres-template-")
        .tempdir_in(&root)
        .expect("temporary directory")
        .keep();
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if let Some((uid, gid)) = owner {
        chown_tree(&work, uid, gid);
    }
    let data = work.join("data");
    let mut initdb = Command::new(bin.join("initdb"));
    if let Some((uid, gid)) = owner {
        initdb.uid(uid).gid(gid);
    }
    let output = initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
        .args(["--locale=C"])
        .env("LC_ALL", "C")
        .output()
        .expect("run initdb");
    assert!(
        output.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Another process may have won the race: either copy is good.
    if std::fs::rename(&data, &template).is_err() {
        assert!(template.join("PG_VERSION").exists(), "template missing");
    }
    let _ = std::fs::remove_dir_all(&work);
    template
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(
        status.success(),
        "cp -a {} {} failed",
        from.display(),
        to.display()
    );
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown -R {}", path.display());
}
