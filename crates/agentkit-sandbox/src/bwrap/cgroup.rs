//! Process-count and memory limits through cgroups.
//!
//! Layout: one cgroup per sandbox, holding the limits, and inside it one
//! child cgroup per command. The child of `fork` joins the command's cgroup
//! (writing `0` to a `cgroup.procs` descriptor opened before the fork)
//! before it executes bubblewrap, so bubblewrap and everything inside the
//! sandbox are counted from the first instruction. When the command ends
//! (or is cancelled), whatever is left in its cgroup is killed and the
//! cgroup removed, so the next command starts with the whole budget; the
//! sandbox's cgroup is removed on close.
//!
//! Detection prefers the unified hierarchy (cgroup v2: `pids.max`,
//! `memory.max`, `memory.swap.max = 0`) when it offers the controllers the
//! agent can use, and falls back to cgroup v1 (`pids.max`,
//! `memory.limit_in_bytes` and, when present, `memory.memsw.limit_in_bytes`
//! so swap cannot dodge the limit). Sandbox cgroups are created under the
//! agent's own cgroup in each hierarchy; detection checks that this works by
//! creating and removing a probe cgroup.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agentkit_core::sandbox::{ResourceLimits, SandboxError};

/// How long to wait for a command's leftover processes to die.
const DRAIN: Duration = Duration::from_secs(5);
/// Pause between kill-and-check rounds.
const ROUND: Duration = Duration::from_millis(10);

/// The cgroup hierarchy in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CgroupVersion {
    /// The legacy, per-controller hierarchies.
    V1,
    /// The unified hierarchy.
    V2,
}

/// Where sandbox cgroups can be made, found by [`detect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupHost {
    /// Which hierarchy.
    pub(crate) version: CgroupVersion,
    /// Parent directory for `pids` cgroups, or why there is none.
    pub(crate) pids: Result<PathBuf, String>,
    /// Parent directory for `memory` cgroups, or why there is none.
    pub(crate) memory: Result<PathBuf, String>,
    /// v1 only: swap can be limited too (`memory.memsw.*`).
    pub(crate) memsw: bool,
}

/// Finds a hierarchy where the agent can create cgroups with the `pids` and
/// `memory` controllers: v2 unless v1 offers more.
pub(crate) fn detect() -> CgroupHost {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let v2 = detect_v2(&mountinfo, &own);
    let v1 = detect_v1(&mountinfo, &own);
    let count = |h: &CgroupHost| usize::from(h.pids.is_ok()) + usize::from(h.memory.is_ok());
    if count(&v1) > count(&v2) { v1 } else { v2 }
}

fn detect_v2(mountinfo: &str, own: &str) -> CgroupHost {
    let host = |pids, memory| CgroupHost {
        version: CgroupVersion::V2,
        pids,
        memory,
        memsw: false,
    };
    let Some(dir) = own_dir(mountinfo, own, None) else {
        let why = "no cgroup v2 (unified) hierarchy is mounted".to_string();
        return host(Err(why.clone()), Err(why));
    };
    let available = read_words(&dir.join("cgroup.controllers"));
    let enabled = read_words(&dir.join("cgroup.subtree_control"));
    let check = |controller: &str| -> Result<PathBuf, String> {
        if !available.contains(controller) {
            return Err(format!(
                "the `{controller}` controller is not available in the cgroup v2 hierarchy at {} (it may be bound to cgroup v1)",
                dir.display()
            ));
        }
        if !enabled.contains(controller) {
            write_file(&dir.join("cgroup.subtree_control"), &format!("+{controller}")).map_err(
                |err| {
                    format!(
                        "cannot enable `{controller}` for child cgroups of {} ({err}); run the agent in a cgroup delegated to it whose children may use `{controller}` (for example a systemd unit with Delegate=yes, the agent in a leaf below it)",
                        dir.display()
                    )
                },
            )?;
        }
        try_child(&dir, &[&format!("{controller}.max")])?;
        Ok(dir.clone())
    };
    host(check("pids"), check("memory"))
}

fn detect_v1(mountinfo: &str, own: &str) -> CgroupHost {
    let find = |controller: &str| -> Result<PathBuf, String> {
        let dir = own_dir(mountinfo, own, Some(controller)).ok_or_else(|| {
            format!("no cgroup v1 hierarchy with the `{controller}` controller is mounted")
        })?;
        let control = match controller {
            "pids" => "pids.max",
            _ => "memory.limit_in_bytes",
        };
        try_child(&dir, &[control])?;
        Ok(dir)
    };
    let memory = find("memory");
    let memsw = memory
        .as_ref()
        .is_ok_and(|dir| dir.join("memory.memsw.limit_in_bytes").exists());
    CgroupHost {
        version: CgroupVersion::V1,
        pids: find("pids"),
        memory,
        memsw,
    }
}

/// The directory of this process's cgroup in the v2 hierarchy
/// (`controller: None`) or in the v1 hierarchy holding `controller`.
fn own_dir(mountinfo: &str, own: &str, controller: Option<&str>) -> Option<PathBuf> {
    let path = own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            None => id == "0" && controllers.is_empty(),
            Some(c) => controllers.split(',').any(|x| x == c),
        };
        matches.then(|| path.to_string())
    })?;
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        let mut fs = fs.split(' ');
        let (fstype, _source, options) = (fs.next()?, fs.next()?, fs.next().unwrap_or(""));
        let wanted = match controller {
            None => fstype == "cgroup2",
            Some(c) => fstype == "cgroup" && options.split(',').any(|o| o == c),
        };
        if !wanted {
            return None;
        }
        let mut fields = mount.split(' ');
        let root = unescape(fields.nth(3)?);
        let point = unescape(fields.next()?);
        let relative = Path::new(&path).strip_prefix(&root).ok()?;
        Some(Path::new(&point).join(relative))
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if bytes[i] == b'\\'
            && let Some(digits) = octal
        {
            out.push(
                digits
                    .iter()
                    .fold(0u8, |acc, d| acc.wrapping_mul(8).wrapping_add(d - b'0')),
            );
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_words(path: &Path) -> HashSet<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Creates and removes a probe cgroup under `dir`, checking that `files`
/// appear in it.
fn try_child(dir: &Path, files: &[&str]) -> Result<(), String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let probe = dir.join(format!(
        "agentkit-probe-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&probe).map_err(|err| {
        format!(
            "cannot create cgroups under {} ({err}); run the agent as root or in a cgroup delegated to its user",
            dir.display()
        )
    })?;
    let missing = files.iter().find(|f| !probe.join(f).exists()).copied();
    let _ = fs::remove_dir(&probe);
    match missing {
        Some(file) => Err(format!(
            "cgroups created under {} have no `{file}`",
            dir.display()
        )),
        None => Ok(()),
    }
}

fn write_file(path: &Path, value: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}

/// One directory per hierarchy a sandbox uses.
#[derive(Debug, Clone)]
struct Dirs(Vec<PathBuf>);

/// The cgroup(s) of one sandbox, holding its limits.
#[derive(Debug)]
pub(crate) struct SandboxCgroup {
    dirs: Dirs,
    version: CgroupVersion,
    next: AtomicU64,
}

impl SandboxCgroup {
    /// Creates `name` under the hierarchies `limits` needs and writes the
    /// limits. `host` must offer them (the provider checked).
    pub(crate) fn create(
        host: &CgroupHost,
        name: &str,
        limits: &ResourceLimits,
    ) -> Result<SandboxCgroup, SandboxError> {
        let mut made = SandboxCgroup {
            dirs: Dirs(Vec::new()),
            version: host.version,
            next: AtomicU64::new(0),
        };
        let parent = |p: &Result<PathBuf, String>, what: &str| {
            p.clone().map_err(|why| SandboxError::Unsupported {
                what: format!("`limits.{what}` (cgroups)"),
                hint: why,
            })
        };
        let mut wanted: Vec<(PathBuf, bool, bool)> = Vec::new();
        if limits.pids.is_some() {
            wanted.push((parent(&host.pids, "pids")?, true, false));
        }
        if limits.memory_bytes.is_some() {
            let dir = parent(&host.memory, "memory_bytes")?;
            match wanted.iter_mut().find(|(d, _, _)| *d == dir) {
                Some(entry) => entry.2 = true,
                None => wanted.push((dir, false, true)),
            }
        }
        for (parent, pids, memory) in wanted {
            let dir = parent.join(name);
            let done = fs::create_dir(&dir)
                .map_err(|e| io_error(&dir, e))
                .and_then(|()| {
                    made.dirs.0.push(dir.clone());
                    if let (true, Some(max)) = (pids, limits.pids) {
                        set(&dir, "pids.max", &max.to_string())?;
                    }
                    match (memory, limits.memory_bytes) {
                        (true, Some(bytes)) => made.limit_memory(&dir, bytes, host.memsw),
                        _ => Ok(()),
                    }
                });
            if let Err(err) = done {
                made.remove();
                return Err(err);
            }
        }
        Ok(made)
    }

    fn limit_memory(&self, dir: &Path, bytes: u64, memsw: bool) -> Result<(), SandboxError> {
        let bytes = bytes.to_string();
        match self.version {
            CgroupVersion::V2 => {
                set(dir, "memory.max", &bytes)?;
                if dir.join("memory.swap.max").exists() {
                    set(dir, "memory.swap.max", "0")?;
                }
            }
            CgroupVersion::V1 => {
                // Children must be charged to this cgroup (always so on
                // recent kernels, where the file is fixed at 1).
                if fs::read_to_string(dir.join("memory.use_hierarchy"))
                    .is_ok_and(|v| v.trim() == "0")
                {
                    set(dir, "memory.use_hierarchy", "1")?;
                }
                set(dir, "memory.limit_in_bytes", &bytes)?;
                if memsw {
                    set(dir, "memory.memsw.limit_in_bytes", &bytes)?;
                }
            }
        }
        Ok(())
    }

    /// A fresh cgroup for one command, inside this one.
    pub(crate) fn command(&self) -> Result<CommandCgroup, SandboxError> {
        let name = format!("cmd-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let mut cgroup = CommandCgroup {
            dirs: Vec::new(),
            procs: Vec::new(),
            version: self.version,
            removed: false,
        };
        for parent in &self.dirs.0 {
            let dir = parent.join(&name);
            fs::create_dir(&dir).map_err(|e| io_error(&dir, e))?;
            cgroup.dirs.push(dir.clone());
            let procs = dir.join("cgroup.procs");
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&procs)
                .map_err(|e| io_error(&procs, e))?;
            cgroup.procs.push(file);
        }
        Ok(cgroup)
    }

    /// Kills whatever is left in the sandbox's cgroups and removes them
    /// (blocking, bounded). Leftovers are logged, not fatal.
    pub(crate) fn remove(&self) {
        for dir in &self.dirs.0 {
            let children: Vec<PathBuf> = fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            for child in children {
                drain_and_remove(&[child], self.version, DRAIN);
            }
        }
        drain_and_remove(&self.dirs.0, self.version, DRAIN);
    }
}

/// The cgroup(s) of one command.
#[derive(Debug)]
pub(crate) struct CommandCgroup {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each, open for writing before the fork.
    procs: Vec<fs::File>,
    version: CgroupVersion,
    removed: bool,
}

impl CommandCgroup {
    /// The descriptors the child writes `0` to, to join the cgroups.
    pub(crate) fn procs_fds(&self) -> Vec<RawFd> {
        self.procs.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// Kills what the command left behind and removes its cgroups, waiting
    /// (off the async threads) until they are empty.
    pub(crate) async fn finish(mut self) {
        let dirs = std::mem::take(&mut self.dirs);
        let version = self.version;
        self.removed = true;
        let _ = tokio::task::spawn_blocking(move || drain_and_remove(&dirs, version, DRAIN)).await;
    }
}

impl Drop for CommandCgroup {
    fn drop(&mut self) {
        if self.removed || self.dirs.is_empty() {
            return;
        }
        // Cancelled: kill now, remove in the background once empty.
        kill_all(&self.dirs, self.version);
        let dirs = std::mem::take(&mut self.dirs);
        let version = self.version;
        let spawned = std::thread::Builder::new()
            .name("agentkit-cgroup-cleanup".into())
            .spawn(move || drain_and_remove(&dirs, version, DRAIN));
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "could not start the cgroup cleanup thread; a command cgroup is left behind");
        }
    }
}

/// Kills every process in `dirs` until they are empty (at most `limit`),
/// then removes them.
fn drain_and_remove(dirs: &[PathBuf], version: CgroupVersion, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        kill_all(dirs, version);
        let empty = dirs.iter().all(|d| pids_in(d).is_empty());
        if empty {
            for dir in dirs {
                match fs::remove_dir(dir) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => {
                        tracing::warn!(cgroup = %dir.display(), error = %err, "could not remove the cgroup");
                    }
                }
            }
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(cgroups = ?dirs, "processes survived SIGKILL in the cgroup; leaving it behind");
            return;
        }
        std::thread::sleep(ROUND);
    }
}

fn kill_all(dirs: &[PathBuf], version: CgroupVersion) {
    for dir in dirs {
        if version == CgroupVersion::V2 && write_file(&dir.join("cgroup.kill"), "1").is_ok() {
            continue;
        }
        for pid in pids_in(dir) {
            // SAFETY: kill only sends a signal. The pid was just read from
            // the cgroup; it could in principle be reused by then, the
            // same window every kill-by-pid has.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

fn pids_in(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| *p > 0)
        .collect()
}

fn set(dir: &Path, file: &str, value: &str) -> Result<(), SandboxError> {
    let path = dir.join(file);
    write_file(&path, value).map_err(|e| io_error(&path, e))
}

fn io_error(path: &Path, source: io::Error) -> SandboxError {
    SandboxError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 /docker/abc /sys/fs/cgroup/with\\040space rw,relatime - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const OWN: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/84d9
2:cpu,cpuacct:/docker/abc/inner
0::/user.slice
";

    #[test]
    fn finds_the_own_cgroup_directory_in_each_hierarchy() {
        assert_eq!(
            own_dir(MOUNTINFO, OWN, Some("pids")),
            Some(PathBuf::from("/sys/fs/cgroup/pids/"))
        );
        assert_eq!(
            own_dir(MOUNTINFO, OWN, Some("memory")),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/84d9"))
        );
        assert_eq!(
            own_dir(MOUNTINFO, OWN, Some("cpuacct")),
            Some(PathBuf::from("/sys/fs/cgroup/with space/inner"))
        );
        assert_eq!(
            own_dir(MOUNTINFO, OWN, None),
            Some(PathBuf::from("/sys/fs/cgroup/unified/user.slice"))
        );
        assert_eq!(own_dir(MOUNTINFO, OWN, Some("hugetlb")), None);
    }
}
