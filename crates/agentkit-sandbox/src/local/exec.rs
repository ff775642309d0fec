//! Running one command: spawn, feed stdin, capture output, enforce the
//! timeout, kill the process group.
//!
//! The algorithm:
//!
//! 1. Spawn the program (or `bash -c script`) with an **empty** environment
//!    plus the variables the caller computed, as the leader of a new process
//!    group, with rlimits applied before `exec`.
//! 2. Concurrently write stdin (then close it) and read stdout and stderr
//!    into [`HeadTail`] captures, so neither side can block the other.
//! 3. Wait for the child to exit or the deadline, whichever comes first.
//!    - Exit: give the pipes [`DRAIN_GRACE`] to reach end-of-file. If
//!      something the command left behind still holds them open, kill the
//!      group and stop reading.
//!    - Deadline: SIGKILL the whole group, reap the child, and drain what is
//!      left for at most [`DRAIN_GRACE`] (a process that escaped the group
//!      with `setsid` could hold the pipes open forever).
//! 4. If the future is dropped at any point, the [`GroupGuard`] kills the
//!    group and tokio kills and reaps the child (`kill_on_drop`).
//!
//! A command that exits normally, with its pipes closed, keeps whatever it
//! deliberately detached (for example `nohup server >log 2>&1 &`).
//!
//! [`run`] prepares the command for the local backend (program, working
//! directory, environment, rlimits); [`supervise`] does the rest and is
//! shared with the `bwrap` backend, which prepares a bubblewrap invocation
//! instead.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use agentkit_core::sandbox::{Command, ExecOutput, ExecRequest, OutputStream, SandboxError};
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::time::{Instant, sleep_until, timeout};

use super::capture::HeadTail;
use super::groups::LiveGroups;
use super::limits::Rlimits;

/// How long the pipes may stay open after the command exited or was killed.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// How long to wait for a SIGKILLed child to be reaped.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// Everything `run` needs besides the request. (No `Debug`: the
/// environment may hold secrets.)
pub(crate) struct Launch<'a> {
    /// The resolved working directory on the host.
    pub(crate) cwd: PathBuf,
    /// The full environment of the command (nothing else is inherited).
    pub(crate) env: BTreeMap<OsString, OsString>,
    /// Resource limits.
    pub(crate) limits: Rlimits,
    /// Where the command's process group is registered while it runs.
    pub(crate) groups: &'a LiveGroups,
}

enum Ended {
    Exited(io::Result<ExitStatus>),
    TimedOut,
}

/// Runs `request` as described in the module docs.
pub(crate) async fn run(
    request: ExecRequest,
    launch: Launch<'_>,
) -> Result<ExecOutput, SandboxError> {
    let (program, args) = program_and_args(&request.command)?;
    let mut std_cmd = std::process::Command::new(&program);
    std_cmd
        .args(&args)
        .current_dir(&launch.cwd)
        .env_clear()
        .envs(&launch.env);
    if launch.limits.any() {
        let limits = launch.limits;
        // SAFETY: the closure runs between fork and exec; `Rlimits::apply`
        // only calls getrlimit/setrlimit (async-signal-safe) and allocates
        // nothing.
        unsafe {
            std_cmd.pre_exec(move || limits.apply());
        }
    }
    let env = &launch.env;
    supervise(std_cmd, request, launch.groups, |err| {
        spawn_error(&program, env, err)
    })
    .await
}

/// Steps 1 (the spawn itself) to 4 of the module docs for a command that is
/// already prepared (program, arguments, working directory, environment,
/// `pre_exec` hooks). Sets up the standard streams and the process group,
/// then feeds `request.stdin`, captures output within
/// `request.output_limit` and enforces `request.timeout`; `request.command`,
/// `cwd` and `env` are not looked at. `spawn_failed` turns a failed spawn
/// into the error the caller wants to report.
pub(crate) async fn supervise(
    mut std_cmd: std::process::Command,
    request: ExecRequest,
    groups: &LiveGroups,
    spawn_failed: impl FnOnce(io::Error) -> SandboxError,
) -> Result<ExecOutput, SandboxError> {
    let program = std_cmd.get_program().to_owned();
    std_cmd
        .stdin(if request.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut cmd = tokio::process::Command::from(std_cmd);
    cmd.kill_on_drop(true);

    let started = Instant::now();
    let deadline = started + request.timeout;
    let mut child = cmd.spawn().map_err(spawn_failed)?;
    let mut guard = groups.register(child.id());
    tracing::debug!(program = %program.to_string_lossy(), pid = child.id(), "command started");

    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut out =
        HeadTail::new(request.output_limit).tapped(request.tap.as_ref(), OutputStream::Stdout);
    let mut err =
        HeadTail::new(request.output_limit).tapped(request.tap.as_ref(), OutputStream::Stderr);

    let (status, timed_out) = {
        let mut io = Box::pin(async {
            tokio::join!(
                async {
                    if let Some(pipe) = stdout {
                        out.pump(pipe).await;
                    }
                },
                async {
                    if let Some(pipe) = stderr {
                        err.pump(pipe).await;
                    }
                },
                feed(stdin, request.stdin),
            )
        });
        let mut io_done = false;
        let ended = loop {
            tokio::select! {
                _ = &mut io, if !io_done => io_done = true,
                status = child.wait() => break Ended::Exited(status),
                _ = sleep_until(deadline) => break Ended::TimedOut,
            }
        };
        match ended {
            Ended::Exited(status) => {
                if !io_done && timeout(DRAIN_GRACE, &mut io).await.is_err() {
                    tracing::debug!(
                        "command exited but left processes holding its output open; killing its group"
                    );
                    guard.kill();
                    let _ = timeout(DRAIN_GRACE, &mut io).await;
                }
                let status = status.map_err(|err| SandboxError::Spawn {
                    reason: format!("waiting for `{}` failed: {err}", program.to_string_lossy()),
                })?;
                (Some(status), false)
            }
            Ended::TimedOut => {
                guard.kill();
                let status = timeout(REAP_GRACE, child.wait())
                    .await
                    .ok()
                    .and_then(Result::ok);
                if !io_done {
                    let _ = timeout(DRAIN_GRACE, &mut io).await;
                }
                (status, true)
            }
        }
    };
    guard.disarm();

    let output = ExecOutput {
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout: out.finish(),
        stderr: err.finish(),
        duration: started.elapsed(),
        timed_out,
    };
    tracing::debug!(status = %output.status_line(), "command ended");
    Ok(output)
}

/// Writes `bytes` to the child's stdin, then closes it. A child that exits
/// without reading everything is not an error.
async fn feed(stdin: Option<ChildStdin>, bytes: Option<Vec<u8>>) {
    let (Some(mut pipe), Some(bytes)) = (stdin, bytes) else {
        return;
    };
    if let Err(err) = pipe.write_all(&bytes).await
        && err.kind() != io::ErrorKind::BrokenPipe
    {
        tracing::debug!(error = %err, "writing the command's stdin failed");
    }
    drop(pipe);
}

pub(crate) fn program_and_args(command: &Command) -> Result<(OsString, Vec<String>), SandboxError> {
    match command {
        Command::Argv(argv) => match argv.split_first() {
            Some((program, args)) if !program.is_empty() => {
                Ok((OsString::from(program), args.to_vec()))
            }
            _ => Err(SandboxError::Spawn {
                reason: "the argv is empty; give at least the program name".into(),
            }),
        },
        Command::Script(script) => {
            let shell = shell().ok_or_else(|| SandboxError::Spawn {
                reason:
                    "neither bash nor sh was found on the host; install bash or use an argv command"
                        .into(),
            })?;
            Ok((
                shell.as_os_str().to_owned(),
                vec!["-c".into(), script.clone()],
            ))
        }
    }
}

/// The host's bash, or sh where bash is missing (looked up once).
fn shell() -> Option<&'static Path> {
    static SHELL: OnceLock<Option<PathBuf>> = OnceLock::new();
    SHELL
        .get_or_init(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let dirs: Vec<PathBuf> = std::env::split_paths(&path)
                .chain(["/bin".into(), "/usr/bin".into()])
                .collect();
            ["bash", "sh"].iter().find_map(|name| {
                dirs.iter()
                    .map(|dir| dir.join(name))
                    .find(|candidate| is_executable(candidate))
            })
        })
        .as_deref()
}

/// Whether `path` is a regular file someone may execute.
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

pub(crate) fn spawn_error(
    program: &OsString,
    env: &BTreeMap<OsString, OsString>,
    err: io::Error,
) -> SandboxError {
    let name = program.to_string_lossy();
    let reason = match err.kind() {
        io::ErrorKind::NotFound => {
            let path = env
                .get(&OsString::from("PATH"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "(not set)".into());
            format!(
                "program `{name}` was not found (PATH in the sandbox: {path}); check the name or give a full path"
            )
        }
        io::ErrorKind::PermissionDenied => {
            format!("program `{name}` is not executable (permission denied)")
        }
        _ => format!("starting `{name}` failed: {err}"),
    };
    SandboxError::Spawn { reason }
}
