//! Running one command in the container.
//!
//! The algorithm:
//!
//! 1. Create an exec of the wrapper (`helper.pl exec <token> ...`, see
//!    [`helper`](super::helper)) with the working directory, and stdin
//!    attached only when the request has some. The command's environment is
//!    passed to the wrapper, which gives the command exactly that.
//! 2. Start it attached: concurrently write stdin (then half-close the
//!    connection, which the daemon turns into end-of-file) and read the
//!    multiplexed stream into [`HeadTail`] captures (and the request's
//!    tap, live), holding back only what could be the status trailer at
//!    the end of stdout (from its last NUL byte).
//! 3. The stream ends when the wrapper has exited (after the command ended
//!    and nothing it left holds the output open). Only then is the exec
//!    inspected for its exit code, which is cross-checked with the trailer.
//! 4. At the deadline: write a kill request and signal PID 1, which kills
//!    the command's whole tree and the wrapper; drain what is left for at
//!    most [`KILL_GRACE`]; report `timed_out`.
//! 5. If the future is dropped at any point, the [`KillGuard`] writes the
//!    kill request (synchronously) and signals PID 1 on the current runtime
//!    if there is one; PID 1 also finds the request on its next sweep.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agentkit_core::sandbox::{Command, ExecOutput, ExecRequest, OutputStream, SandboxError};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::KillContainerOptions;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::daemon;
use super::helper::{self, Control, Settled, Trailer};
use crate::local::capture::HeadTail;

/// How long the output may take to end after a kill request.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// How long to wait for the daemon to record the exit after the stream ended.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// Frame buffer of the attached stream.
const STREAM_CAPACITY: usize = 64 * 1024;

/// What every command of one sandbox shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The client.
    pub(crate) docker: Docker,
    /// The container id.
    pub(crate) container: String,
    /// The control directory (kill requests).
    pub(crate) control: Control,
}

/// Everything `run` needs besides the request. (No `Debug`: the environment
/// may hold secrets.)
pub(crate) struct Launch {
    /// The command's token (unique in the container).
    pub(crate) token: String,
    /// The working directory in the container.
    pub(crate) cwd: String,
    /// The command's whole environment.
    pub(crate) env: BTreeMap<String, String>,
    /// `RLIMIT_CPU` for the command.
    pub(crate) cpu_seconds: Option<u64>,
}

/// Runs `request` as described in the module docs.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    request: ExecRequest,
    launch: Launch,
) -> Result<ExecOutput, SandboxError> {
    let argv = helper::exec_argv(
        &launch.token,
        launch.cpu_seconds,
        &launch.env,
        &request.command,
    )?;
    let started = Instant::now();
    let deadline = started + request.timeout;
    let options = CreateExecOptions {
        attach_stdin: Some(request.stdin.is_some()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        privileged: Some(false),
        cmd: Some(argv),
        working_dir: Some(launch.cwd.clone()),
        ..CreateExecOptions::default()
    };
    let exec_id = shared
        .docker
        .create_exec(&shared.container, options)
        .await
        .map_err(|err| daemon::sandbox_call(&shared.container, "create the command", &err))?
        .id;
    let mut guard = KillGuard {
        shared: Arc::clone(shared),
        token: launch.token.clone(),
        armed: true,
    };
    let start = shared.docker.start_exec(
        &exec_id,
        Some(StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: Some(STREAM_CAPACITY),
        }),
    );
    let attached = tokio::select! {
        started = start => started
            .map_err(|err| daemon::sandbox_call(&shared.container, "start the command", &err))?,
        _ = sleep_until(deadline) => {
            guard.kill().await;
            return Ok(ExecOutput {
                exit_code: None,
                signal: None,
                stdout: HeadTail::new(0).finish(),
                stderr: HeadTail::new(0).finish(),
                duration: started.elapsed(),
                timed_out: true,
            });
        }
    };
    let StartExecResults::Attached { output, input } = attached else {
        return Err(SandboxError::Spawn {
            reason: "the Docker daemon started the command detached; no output can be read".into(),
        });
    };

    let mut out =
        HeadTail::new(request.output_limit).tapped(request.tap.as_ref(), OutputStream::Stdout);
    let mut err =
        HeadTail::new(request.output_limit).tapped(request.tap.as_ref(), OutputStream::Stderr);
    let mut trailer = Trailer::new(&launch.token);
    let timed_out = {
        let mut io = Box::pin(exchange(
            output,
            input,
            request.stdin,
            &mut out,
            &mut err,
            &mut trailer,
        ));
        tokio::select! {
            _ = &mut io => false,
            _ = sleep_until(deadline) => {
                guard.kill().await;
                if timeout(KILL_GRACE, &mut io).await.is_err() {
                    tracing::warn!(container = %shared.container, "the command's output did not end after it was killed; giving up on it");
                }
                true
            }
        }
    };
    let reported = trailer.finish(&mut out);
    let code = exit_code(shared, &exec_id).await?;
    guard.disarm();
    if timed_out {
        shared.control.forget(&launch.token);
    }
    let settled = helper::settle(reported, code);
    let (exit_code, signal) = match settled {
        Settled::Exit(code) => (Some(code), None),
        Settled::Signal(signal) => (None, Some(signal)),
        Settled::Unknown => (None, None),
        Settled::Spawn { errno, message } if !timed_out => {
            return Err(spawn_error(&request.command, &launch.env, errno, &message));
        }
        Settled::Spawn { .. } => (None, None),
    };
    let output = ExecOutput {
        exit_code,
        signal,
        stdout: out.finish(),
        stderr: err.finish(),
        duration: started.elapsed(),
        timed_out,
    };
    tracing::debug!(status = %output.status_line(), "command ended");
    Ok(output)
}

/// Feeds stdin and reads the stream until the daemon ends it.
async fn exchange(
    mut output: impl Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
    input: impl AsyncWrite + Unpin,
    stdin: Option<Vec<u8>>,
    out: &mut HeadTail,
    err: &mut HeadTail,
    trailer: &mut Trailer,
) {
    let feeding = feed(input, stdin);
    tokio::pin!(feeding);
    let mut fed = false;
    loop {
        tokio::select! {
            _ = &mut feeding, if !fed => fed = true,
            item = output.next() => match item {
                Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                    trailer.push(&message, out);
                }
                Some(Ok(LogOutput::StdErr { message })) => err.push(&message),
                Some(Ok(LogOutput::StdIn { .. })) => {}
                Some(Err(error)) => {
                    tracing::debug!(error = %error, "reading the command's output failed; keeping what was read");
                    return;
                }
                None => return,
            },
        }
    }
}

/// Writes `bytes`, then half-closes (the daemon closes the command's stdin).
/// A command that exits without reading everything is not an error.
async fn feed(mut input: impl AsyncWrite + Unpin, bytes: Option<Vec<u8>>) {
    let Some(bytes) = bytes else {
        return;
    };
    if let Err(err) = input.write_all(&bytes).await {
        tracing::debug!(error = %err, "writing the command's stdin failed");
    }
    if let Err(err) = input.shutdown().await {
        tracing::debug!(error = %err, "closing the command's stdin failed");
    }
}

/// The exec's exit code, once the daemon has recorded it.
async fn exit_code(shared: &Shared, exec_id: &str) -> Result<Option<i64>, SandboxError> {
    let until = Instant::now() + EXIT_WAIT;
    loop {
        let inspect =
            shared.docker.inspect_exec(exec_id).await.map_err(|err| {
                daemon::sandbox_call(&shared.container, "inspect the command", &err)
            })?;
        if inspect.running != Some(true) {
            return Ok(inspect.exit_code);
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        sleep(Duration::from_millis(20)).await;
    }
}

fn spawn_error(
    command: &Command,
    env: &BTreeMap<String, String>,
    errno: i32,
    message: &str,
) -> SandboxError {
    let reason = match (command, errno) {
        (Command::Script(_), libc::ENOENT) => {
            "neither bash nor sh was found in the sandbox image; use an image with a shell or an argv command".to_string()
        }
        (Command::Argv(argv), libc::ENOENT) => format!(
            "program `{}` was not found in the sandbox (PATH in the sandbox: {}); check the name or give a full path",
            argv.first().map(String::as_str).unwrap_or_default(),
            env.get("PATH").map(String::as_str).unwrap_or("(not set)")
        ),
        (Command::Argv(argv), libc::EACCES) => format!(
            "program `{}` is not executable (permission denied)",
            argv.first().map(String::as_str).unwrap_or_default()
        ),
        (Command::Argv(argv), _) => format!(
            "starting `{}` in the sandbox failed: {message}",
            argv.first().map(String::as_str).unwrap_or_default()
        ),
        (Command::Script(_), _) => format!("starting the script's shell failed: {message}"),
    };
    SandboxError::Spawn { reason }
}

/// Kills the command's whole tree when dropped while armed.
struct KillGuard {
    shared: Arc<Shared>,
    token: String,
    armed: bool,
}

impl KillGuard {
    /// Asks PID 1 to kill the command now.
    async fn kill(&mut self) {
        if self.armed {
            self.shared.control.request_kill(&self.token);
            wake_init(&self.shared.docker, &self.shared.container).await;
        }
        self.armed = false;
    }

    /// The command ended by itself; nothing to kill.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for KillGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Written now, so PID 1's next sweep finds it even if the signal
        // below is never sent.
        self.shared.control.request_kill(&self.token);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let docker = self.shared.docker.clone();
            let container = self.shared.container.clone();
            runtime.spawn(async move { wake_init(&docker, &container).await });
        }
    }
}

/// Sends SIGUSR1 to PID 1 so it looks at the kill requests at once.
async fn wake_init(docker: &Docker, container: &str) {
    let options = KillContainerOptions {
        signal: "SIGUSR1".into(),
    };
    if let Err(err) = docker.kill_container(container, Some(options)).await {
        tracing::debug!(container, error = %err, "could not signal the container's init; it sweeps kill requests every 250 ms anyway");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_errors_say_what_was_missing() {
        let env = BTreeMap::from([("PATH".to_string(), "/usr/bin".to_string())]);
        let argv = Command::Argv(vec!["nope".into()]);
        let SandboxError::Spawn { reason } = spawn_error(&argv, &env, libc::ENOENT, "x") else {
            panic!("not a spawn error");
        };
        assert_eq!(
            reason,
            "program `nope` was not found in the sandbox (PATH in the sandbox: /usr/bin); check the name or give a full path"
        );
        let SandboxError::Spawn { reason } =
            spawn_error(&Command::Script("x".into()), &env, libc::ENOENT, "x")
        else {
            panic!("not a spawn error");
        };
        assert!(reason.starts_with("neither bash nor sh"), "{reason}");
    }
}
