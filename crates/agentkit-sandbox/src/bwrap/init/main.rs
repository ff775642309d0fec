//! `agentkit-bwrap-init`: the first program bubblewrap starts in every
//! `bwrap` sandbox command. It exists because bubblewrap reports a command
//! killed by signal `n` as exit code `128 + n` and a program that could not
//! be started as `bwrap: execvp …` on stderr with exit 1, both of which a
//! command could also produce on its own.
//!
//! Usage: `agentkit-bwrap-init <status-fd> <program> [args…]`.
//!
//! 1. Writes `agentkit-init ready` to the status descriptor, and makes the
//!    descriptor close-on-exec so the command never sees it (and so cannot
//!    forge a report).
//! 2. Starts `program` with `std::process::Command`, exactly as the `local`
//!    backend does: the same `PATH` search, the same error kinds, its own
//!    process group, standard streams inherited.
//! 3. Reports `agentkit-init spawn-error <errno>` when it could not start, or
//!    `agentkit-init exit <wait status>` (the raw `waitpid` status) when it
//!    ended, then exits with the command's code (or `128 + signal`).
//!
//! It is compiled by the crate's `build.rs` with plain `rustc` (std only, no
//! dependencies) and embedded in the library; each provider writes one copy
//! to disk and mounts it into every sandbox.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode};

/// Exit code when the helper itself was called wrongly.
const USAGE: u8 = 125;
/// Exit code when the program could not be started (as a shell would).
const NOT_STARTED: u8 = 127;

#[allow(dead_code)]
fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(fd) = args
        .next()
        .and_then(|a| a.to_str().and_then(|s| s.parse::<RawFd>().ok()))
        .filter(|fd| *fd > 2)
    else {
        eprintln!("agentkit-bwrap-init: the first argument must be the status descriptor (> 2)");
        return ExitCode::from(USAGE);
    };
    let Some(program) = args.next() else {
        eprintln!("agentkit-bwrap-init: no program given");
        return ExitCode::from(USAGE);
    };
    // SAFETY: the provider passes this descriptor open and owned by nobody
    // else in this process; it is used only through this `OwnedFd`.
    let inherited = unsafe { OwnedFd::from_raw_fd(fd) };
    // `try_clone` duplicates with F_DUPFD_CLOEXEC; dropping the original
    // closes the inheritable copy, so the command starts without it.
    let mut status = match inherited.try_clone() {
        Ok(copy) => File::from(copy),
        Err(err) => {
            eprintln!("agentkit-bwrap-init: the status descriptor {fd} is unusable: {err}");
            return ExitCode::from(USAGE);
        }
    };
    drop(inherited);
    report(&mut status, "ready");

    let mut command = Command::new(&program);
    command.args(args).process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            report(
                &mut status,
                &format!("spawn-error {}", err.raw_os_error().unwrap_or(0)),
            );
            return ExitCode::from(NOT_STARTED);
        }
    };
    match child.wait() {
        Ok(ended) => {
            report(&mut status, &format!("exit {}", ended.into_raw()));
            let code = ended
                .code()
                .or_else(|| ended.signal().map(|s| 128 + s))
                .unwrap_or(255);
            ExitCode::from(u8::try_from(code & 0xff).unwrap_or(255))
        }
        Err(err) => {
            eprintln!("agentkit-bwrap-init: waiting for the command failed: {err}");
            ExitCode::from(USAGE)
        }
    }
}

/// Writes one report line. A reader that went away is not an error: the
/// sandbox is being torn down.
fn report(status: &mut File, what: &str) {
    let _ = status.write_all(format!("agentkit-init {what}\n").as_bytes());
}
