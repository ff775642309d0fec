//! The bubblewrap command line of one command, as a pure function of what
//! the sandbox decided ([`Mounts`], network, limits) and what the command
//! asks for (working directory, environment, argv).
//!
//! The root is bubblewrap's own empty tmpfs: only what is mounted onto it
//! exists (an allow-list, see `crate::hostview`). Order matters for mounts —
//! a later mount covers an earlier one:
//!
//! 1. the **system**: system directories and a secret-free `/etc`,
//!    read-only (merged-`/usr` symlinks such as `/bin -> usr/bin` recreated);
//!    a fresh `/dev` (with a private `/dev/shm`) and `/proc`, a private `/tmp`;
//! 2. **scratch**: empty writable tmpfs for the agent's home and `/var/tmp`;
//! 3. **read-only binds** of the toolchains and the extra read-only paths
//!    (over the empty home where they live in it);
//! 4. **secrets**: empty read-only tmpfs over directories, `/dev/null` over
//!    files, where an extra path would show them — after 3 so a bound
//!    directory can never expose them;
//! 5. the **workspace** read-write at its host path, then its protected
//!    paths: their ancestors bound onto themselves (a mount point cannot be
//!    renamed or removed, so `.git` cannot be swapped for another), then the
//!    protected paths read-only;
//! 6. the init helper, read-only; then the root tmpfs itself is made
//!    read-only, so nothing can be created beside the mounts.
//!
//! The options go to bubblewrap through `--args <fd>` (so environment
//! values never show in `/proc/<pid>/cmdline`); the command after `--` is
//! `<init> <status-fd> <program> <args…>`.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use super::network::NetworkSetup;

/// The host name commands see.
pub(crate) const HOSTNAME: &str = "agentkit";

/// A system path in the view: a host path bound read-only at the same
/// path, or a symlink recreated as it is on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SystemEntry {
    /// Bound read-only at the same path.
    Bind(PathBuf),
    /// `link` points at `target` (as `readlink` gave it).
    Symlink {
        /// What the link says.
        target: PathBuf,
        /// Where the link is.
        link: PathBuf,
    },
}

/// What a sandbox's commands see of the host filesystem, decided once per
/// sandbox. All paths are absolute host paths, bound at the same path inside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Mounts {
    /// System directories and the secret-free `/etc` (read-only).
    pub(crate) system: Vec<SystemEntry>,
    /// Empty, writable tmpfs directories (the agent's home, `/var/tmp`).
    pub(crate) scratch: Vec<PathBuf>,
    /// Host paths bound read-only after the scratch directories
    /// (toolchains, extra read-only paths).
    pub(crate) read_only: Vec<PathBuf>,
    /// Directories covered by an empty, read-only tmpfs (secrets).
    pub(crate) hidden_dirs: Vec<PathBuf>,
    /// Files covered by `/dev/null` (secrets).
    pub(crate) hidden_files: Vec<PathBuf>,
    /// Host directories bound read-write before the workspace (the
    /// repository's dependency caches).
    pub(crate) writable: Vec<PathBuf>,
    /// The workspace, read-write.
    pub(crate) workspace: PathBuf,
    /// Directories inside the workspace bound onto themselves read-write, so
    /// they cannot be renamed or removed (the ancestors of protected paths).
    pub(crate) pinned: Vec<PathBuf>,
    /// Paths inside the workspace bound read-only onto themselves.
    pub(crate) protected: Vec<PathBuf>,
    /// The init helper.
    pub(crate) init: PathBuf,
}

/// Everything one command's bubblewrap invocation depends on.
#[derive(Debug)]
pub(crate) struct Invocation<'a> {
    /// The sandbox's filesystem view.
    pub(crate) mounts: &'a Mounts,
    /// The network namespace to use.
    pub(crate) network: NetworkSetup,
    /// Whether to pass `--disable-userns` (the probe found it works).
    pub(crate) disable_userns: bool,
    /// Size of every writable tmpfs (`/tmp`, masks, `/dev/shm`), when the
    /// disk is limited.
    pub(crate) tmpfs_bytes: Option<u64>,
    /// Working directory (inside the workspace).
    pub(crate) cwd: &'a Path,
    /// The command's whole environment.
    pub(crate) env: &'a BTreeMap<OsString, OsString>,
    /// The descriptor number the init helper reports on.
    pub(crate) status_fd: RawFd,
    /// The program to run.
    pub(crate) program: &'a OsStr,
    /// Its arguments.
    pub(crate) args: &'a [String],
}

/// A bubblewrap command line, split where `--args` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BwrapArgs {
    /// Options, passed NUL-separated through `--args <fd>`.
    pub(crate) options: Vec<OsString>,
    /// What follows `--`: the init helper, its status descriptor, the argv.
    pub(crate) command: Vec<OsString>,
}

/// Builds the command line for `inv` (see the module docs for the order).
pub(crate) fn bwrap_args(inv: &Invocation<'_>) -> BwrapArgs {
    let mut o = Options::default();
    o.flags(&[
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup",
    ]);
    o.0.extend(inv.network.args());
    if inv.disable_userns {
        o.flags(&["--disable-userns"]);
    }
    o.flags(&["--hostname", HOSTNAME]);
    o.flags(&["--die-with-parent", "--new-session", "--cap-drop", "ALL"]);

    let m = inv.mounts;
    for entry in &m.system {
        match entry {
            SystemEntry::Bind(path) => o.bind("--ro-bind", path, path),
            SystemEntry::Symlink { target, link } => o.bind("--symlink", target, link),
        }
    }
    o.flags(&["--dev", "/dev", "--proc", "/proc"]);
    o.tmpfs("/dev/shm".as_ref(), inv.tmpfs_bytes);
    o.tmpfs("/tmp".as_ref(), inv.tmpfs_bytes);
    for dir in &m.scratch {
        o.tmpfs(dir, inv.tmpfs_bytes);
    }
    for dir in &m.read_only {
        o.bind("--ro-bind", dir, dir);
    }
    for dir in &m.hidden_dirs {
        o.tmpfs(dir, None);
        o.path("--remount-ro", dir);
    }
    for file in &m.hidden_files {
        o.bind("--ro-bind", Path::new("/dev/null"), file);
    }
    for dir in &m.writable {
        o.bind("--bind", dir, dir);
    }
    o.bind("--bind", &m.workspace, &m.workspace);
    for dir in &m.pinned {
        o.bind("--bind", dir, dir);
    }
    for path in &m.protected {
        o.bind("--ro-bind", path, path);
    }
    o.bind("--ro-bind", &m.init, &m.init);
    o.path("--remount-ro", "/".as_ref());
    o.path("--chdir", inv.cwd);

    o.flags(&["--clearenv"]);
    for (key, value) in inv.env {
        o.0.push("--setenv".into());
        o.0.push(key.clone());
        o.0.push(value.clone());
    }

    let mut command = vec![
        m.init.clone().into_os_string(),
        inv.status_fd.to_string().into(),
        inv.program.to_owned(),
    ];
    command.extend(inv.args.iter().map(OsString::from));
    BwrapArgs {
        options: o.0,
        command,
    }
}

#[derive(Default)]
struct Options(Vec<OsString>);

impl Options {
    fn flags(&mut self, flags: &[&str]) {
        self.0.extend(flags.iter().map(OsString::from));
    }

    fn path(&mut self, option: &str, path: &Path) {
        self.0.push(option.into());
        self.0.push(path.as_os_str().to_owned());
    }

    fn bind(&mut self, option: &str, source: &Path, dest: &Path) {
        self.0.push(option.into());
        self.0.push(source.as_os_str().to_owned());
        self.0.push(dest.as_os_str().to_owned());
    }

    fn tmpfs(&mut self, dir: &Path, bytes: Option<u64>) {
        if let Some(bytes) = bytes {
            self.0.push("--size".into());
            self.0.push(bytes.to_string().into());
        }
        self.path("--tmpfs", dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts() -> Mounts {
        Mounts {
            system: vec![
                SystemEntry::Bind("/usr".into()),
                SystemEntry::Symlink {
                    target: "usr/bin".into(),
                    link: "/bin".into(),
                },
                SystemEntry::Bind("/etc/ssl/certs".into()),
            ],
            scratch: vec!["/root".into(), "/var/tmp".into()],
            read_only: vec!["/root/.rustup".into(), "/root/.cargo/bin".into()],
            hidden_dirs: vec!["/etc/ssl/private".into()],
            hidden_files: vec!["/etc/shadow".into()],
            writable: Vec::new(),
            workspace: "/tmp/agentkit-bwrap-x/workspace".into(),
            pinned: vec!["/tmp/agentkit-bwrap-x/workspace/.git".into()],
            protected: vec![
                "/tmp/agentkit-bwrap-x/workspace/.git/hooks".into(),
                "/tmp/agentkit-bwrap-x/workspace/.git/config".into(),
            ],
            init: "/tmp/agentkit-bwrap-x/agentkit-bwrap-init".into(),
        }
    }

    fn env() -> BTreeMap<OsString, OsString> {
        [("PATH", "/usr/bin:/bin"), ("TOKEN", "s3cret")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    const WS: &str = "/tmp/agentkit-bwrap-x/workspace";

    #[test]
    fn default_policy_isolates_everything() {
        let mounts = mounts();
        let env = env();
        let args = bwrap_args(&Invocation {
            mounts: &mounts,
            network: NetworkSetup::Isolated,
            disable_userns: true,
            tmpfs_bytes: None,
            cwd: Path::new("/tmp/agentkit-bwrap-x/workspace/src"),
            env: &env,
            status_fd: 5,
            program: OsStr::new("cargo"),
            args: &["test".to_string(), "--all".to_string()],
        });
        let expected_options = [
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup",
            "--unshare-net",
            "--disable-userns",
            "--hostname",
            "agentkit",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--ro-bind",
            "/etc/ssl/certs",
            "/etc/ssl/certs",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/dev/shm",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/root",
            "--tmpfs",
            "/var/tmp",
            "--ro-bind",
            "/root/.rustup",
            "/root/.rustup",
            "--ro-bind",
            "/root/.cargo/bin",
            "/root/.cargo/bin",
            "--tmpfs",
            "/etc/ssl/private",
            "--remount-ro",
            "/etc/ssl/private",
            "--ro-bind",
            "/dev/null",
            "/etc/shadow",
            "--bind",
            WS,
            WS,
            "--bind",
            "/tmp/agentkit-bwrap-x/workspace/.git",
            "/tmp/agentkit-bwrap-x/workspace/.git",
            "--ro-bind",
            "/tmp/agentkit-bwrap-x/workspace/.git/hooks",
            "/tmp/agentkit-bwrap-x/workspace/.git/hooks",
            "--ro-bind",
            "/tmp/agentkit-bwrap-x/workspace/.git/config",
            "/tmp/agentkit-bwrap-x/workspace/.git/config",
            "--ro-bind",
            "/tmp/agentkit-bwrap-x/agentkit-bwrap-init",
            "/tmp/agentkit-bwrap-x/agentkit-bwrap-init",
            "--remount-ro",
            "/",
            "--chdir",
            "/tmp/agentkit-bwrap-x/workspace/src",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "TOKEN",
            "s3cret",
        ];
        assert_eq!(
            (strings(&args.options), strings(&args.command)),
            (
                expected_options.map(String::from).to_vec(),
                [
                    "/tmp/agentkit-bwrap-x/agentkit-bwrap-init",
                    "5",
                    "cargo",
                    "test",
                    "--all"
                ]
                .map(String::from)
                .to_vec()
            )
        );
    }

    #[test]
    fn full_network_with_a_disk_limit_shares_the_network_and_sizes_every_writable_tmpfs() {
        let mounts = Mounts {
            system: vec![SystemEntry::Bind("/usr".into())],
            scratch: vec!["/root".into()],
            read_only: Vec::new(),
            hidden_dirs: Vec::new(),
            hidden_files: Vec::new(),
            writable: Vec::new(),
            workspace: WS.into(),
            pinned: Vec::new(),
            protected: Vec::new(),
            init: "/init".into(),
        };
        let env = BTreeMap::new();
        let args = bwrap_args(&Invocation {
            mounts: &mounts,
            network: NetworkSetup::Host,
            disable_userns: false,
            tmpfs_bytes: Some(1 << 20),
            cwd: Path::new(WS),
            env: &env,
            status_fd: 7,
            program: OsStr::new("/bin/bash"),
            args: &["-c".to_string(), "echo $HOME".to_string()],
        });
        let expected_options = [
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup",
            "--hostname",
            "agentkit",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--ro-bind",
            "/usr",
            "/usr",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--size",
            "1048576",
            "--tmpfs",
            "/dev/shm",
            "--size",
            "1048576",
            "--tmpfs",
            "/tmp",
            "--size",
            "1048576",
            "--tmpfs",
            "/root",
            "--bind",
            WS,
            WS,
            "--ro-bind",
            "/init",
            "/init",
            "--remount-ro",
            "/",
            "--chdir",
            WS,
            "--clearenv",
        ];
        assert_eq!(
            (strings(&args.options), strings(&args.command)),
            (
                expected_options.map(String::from).to_vec(),
                ["/init", "7", "/bin/bash", "-c", "echo $HOME"]
                    .map(String::from)
                    .to_vec()
            )
        );
    }
}
