//! Turning a bubblewrap command line into a process: the option file, the
//! report pipe, and what the child does between `fork` and `exec`.
//!
//! Between `fork` and `exec` of bubblewrap the child, in this order:
//!
//! 1. joins the command's cgroups (writes `0` to `cgroup.procs` descriptors
//!    opened before the fork), so bubblewrap itself is already counted;
//! 2. marks every inherited descriptor above 2 close-on-exec (whatever the
//!    agent's process had open without `O_CLOEXEC` must not reach the
//!    sandbox), then clears the flag on exactly two: the option file and
//!    the write end of the report pipe;
//! 3. applies the rlimits (`RLIMIT_CPU`), inherited by everything inside.
//!
//! Only async-signal-safe calls happen there (`write`, `close_range`,
//! `fcntl`, `getrlimit`, `setrlimit`) and nothing is allocated.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use super::args::BwrapArgs;
use super::report::{self, MAX_REPORT, Report};
use crate::local::limits::Rlimits;

/// How long to wait for the report pipe to close after bubblewrap ended.
const REPORT_GRACE: Duration = Duration::from_secs(2);

/// The parent's side of a bubblewrap process: the report pipe, and the
/// descriptors the child inherits, kept open until it has started.
pub(crate) struct Pending {
    /// Read end of the report pipe.
    reports: OwnedFd,
    /// The option file and the write end of the report pipe.
    keep: Option<(File, OwnedFd)>,
}

/// Prepares `bwrap` (`bwrap --args <fd> -- <init> <fd> <argv…>`) with the
/// arguments `build` makes for the report descriptor number it is given.
/// Spawn the command, then ask the [`Pending`] for the report once it ended.
pub(crate) fn prepare(
    bwrap: &Path,
    build: impl FnOnce(RawFd) -> BwrapArgs,
    cgroup_procs: Vec<RawFd>,
    rlimits: Rlimits,
) -> io::Result<(std::process::Command, Pending)> {
    let (reader, writer) = io::pipe()?;
    let reports = OwnedFd::from(reader);
    let status = above_stdio(OwnedFd::from(writer))?;
    let args = build(status.as_raw_fd());
    // The options are NUL-separated: a NUL inside one (an environment value,
    // say) would split it into options of its choosing, `--bind / /` among
    // them. Refuse rather than escape.
    if let Some(bad) = args.options.iter().find(|o| o.as_bytes().contains(&0)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a bubblewrap option contains a NUL byte ({:?})",
                bad.to_string_lossy()
            ),
        ));
    }
    let mut options = File::from(above_stdio(OwnedFd::from(option_file()?))?);
    for option in &args.options {
        options.write_all(option.as_bytes())?;
        options.write_all(b"\0")?;
    }
    options.rewind()?;

    let mut command = std::process::Command::new(bwrap);
    command
        .arg("--args")
        .arg(options.as_raw_fd().to_string())
        .arg("--")
        .args(&args.command)
        .env_clear()
        .current_dir("/");
    let child = ChildSetup {
        cgroup_procs,
        pass: [options.as_raw_fd(), status.as_raw_fd()],
        rlimits,
    };
    // SAFETY: `ChildSetup::apply` runs between fork and exec and only
    // makes async-signal-safe system calls on descriptors and numbers it
    // owns; it allocates nothing.
    unsafe {
        command.pre_exec(move || child.apply());
    }
    Ok((
        command,
        Pending {
            reports,
            keep: Some((options, status)),
        },
    ))
}

impl Pending {
    /// Closes the parent's copies and reads what the helper reported, once
    /// bubblewrap has ended (async).
    pub(crate) async fn report(mut self) -> Report {
        self.keep = None;
        let fallback = match self.reports.try_clone() {
            Ok(fd) => fd,
            Err(_) => return Report::Silent,
        };
        let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(self.reports) else {
            // A runtime without IO enabled: read on the blocking pool.
            return tokio::task::spawn_blocking(move || read_blocking(fallback))
                .await
                .unwrap_or(Report::Silent);
        };
        drop(fallback);
        let mut bytes = Vec::new();
        let read = async {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 512];
            loop {
                match pipe.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) if bytes.len() + n <= MAX_REPORT => bytes.extend_from_slice(&buf[..n]),
                    Ok(_) => break,
                }
            }
        };
        if tokio::time::timeout(REPORT_GRACE, read).await.is_err() {
            tracing::debug!("the sandbox's report pipe stayed open; using what was read");
        }
        report::parse(&bytes)
    }

    /// The same, blocking (for the probe, after the child was reaped).
    pub(crate) fn report_blocking(mut self) -> Report {
        self.keep = None;
        read_blocking(self.reports)
    }
}

fn read_blocking(reports: OwnedFd) -> Report {
    let mut bytes = Vec::new();
    let _ = File::from(reports)
        .take(MAX_REPORT as u64)
        .read_to_end(&mut bytes);
    report::parse(&bytes)
}

/// An anonymous file for the options: a memfd, or an unlinked temp file
/// where memfds are unavailable. Close-on-exec either way.
fn option_file() -> io::Result<File> {
    // SAFETY: the name is a NUL-terminated literal; memfd_create returns a
    // new descriptor that nothing else owns, or -1.
    let fd = unsafe { libc::memfd_create(c"agentkit-bwrap-args".as_ptr(), libc::MFD_CLOEXEC) };
    if fd >= 0 {
        // SAFETY: `fd` was just created and is owned by nobody else.
        return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    tempfile::tempfile()
}

/// `fd` itself, or a close-on-exec duplicate numbered 3 or more: a
/// descriptor the child inherits must not be one of 0–2, which the child's
/// standard streams replace. (Rust programs start with 0–2 open, so this
/// only matters when a process closed them.)
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC duplicates a descriptor we own onto the
    // lowest free number >= 3 and returns it, or -1.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// What the child does between fork and exec (see the module docs).
struct ChildSetup {
    cgroup_procs: Vec<RawFd>,
    pass: [RawFd; 2],
    rlimits: Rlimits,
}

impl ChildSetup {
    fn apply(&self) -> io::Result<()> {
        for &fd in &self.cgroup_procs {
            // SAFETY: writes one byte from a static buffer to a descriptor
            // opened before the fork.
            let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
            if written != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        mark_inherited_close_on_exec()?;
        for &fd in &self.pass {
            // SAFETY: fcntl on a descriptor number we own; F_SETFD with 0
            // only clears FD_CLOEXEC.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        self.rlimits.apply()
    }
}

/// Sets FD_CLOEXEC on every descriptor above 2: one `close_range` call
/// (Linux 5.11+), else one `fcntl` per possible descriptor number.
fn mark_inherited_close_on_exec() -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor
    // flags; it closes nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = RawFd::try_from(limit.rlim_cur).unwrap_or(RawFd::MAX);
    for fd in 3..max {
        // SAFETY: fcntl on a number that may or may not be open: EBADF for
        // the closed ones, which is ignored.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_option_with_a_nul_byte_is_refused_not_split() {
        let build = |_fd| BwrapArgs {
            options: vec!["--setenv".into(), "X".into(), "a\0--bind\0/\0/".into()],
            command: vec!["true".into()],
        };
        let err = prepare(
            Path::new("/usr/bin/bwrap"),
            build,
            Vec::new(),
            Rlimits::default(),
        )
        .err()
        .expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
