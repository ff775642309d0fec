//! The in-container helper (`helper.pl`) and the host's side of talking to it.
//!
//! The Docker exec API can start a process but not kill it, and reports an
//! exit code that cannot tell `exit 137` from SIGKILL. So every container
//! runs a small perl program (perl's core only, as every Debian or Ubuntu
//! image has `perl-base`; with the default host binds it is the host's perl):
//!
//! - as **PID 1** (`helper.pl init`) it reaps orphans and carries out *kill
//!   requests*: the host creates `kill/<token>` in the control directory
//!   (bind-mounted read-only at [`CONTROL_DIR`]) and sends the container
//!   SIGUSR1; PID 1 SIGKILLs everything below that command's wrapper, round
//!   after round, then the wrapper. It needs no new process for that, so it
//!   works when a fork bomb has used up the pids limit. It also sweeps the
//!   requests every 250 ms, so a request whose signal was never sent (a
//!   future dropped while the runtime shut down) is still carried out.
//! - as the **wrapper** of each command (`helper.pl exec <token> ...`) it
//!   becomes a child subreaper (orphans of the command stay below it, so a
//!   kill request finds them: background jobs, `nohup`, double forks,
//!   `setsid`), runs the command with exactly the environment given, and
//!   ends stdout with a *status trailer* that says how the command ended
//!   (exit code, signal, or why it could not start). See `helper.pl`.
//!
//! The trailer is found only at the very end of stdout and only with this
//! command's token in it; it is cut off before the output is returned. It is
//! cross-checked with the exit code the daemon reports ([`settle`]).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use agentkit_core::sandbox::{Command, SandboxError};

use crate::local::capture::HeadTail;

/// The helper program.
pub(crate) const SCRIPT: &str = include_str!("helper.pl");

/// Where the control directory is mounted in the container.
pub(crate) const CONTROL_DIR: &str = "/run/agentkit";

/// Where the workspace is mounted in the container.
pub(crate) const WORKSPACE: &str = "/workspace";

/// The helper's path in the container.
fn script_path() -> String {
    format!("{CONTROL_DIR}/helper.pl")
}

/// PID 1 of every container.
pub(crate) fn init_argv() -> Vec<String> {
    vec!["perl".into(), script_path(), "init".into()]
}

/// The exec argv that runs `command` under the wrapper, with exactly `env`
/// and, when `cpu_seconds` is set, `RLIMIT_CPU`.
pub(crate) fn exec_argv(
    token: &str,
    cpu_seconds: Option<u64>,
    env: &BTreeMap<String, String>,
    command: &Command,
) -> Result<Vec<String>, SandboxError> {
    let mut argv = vec![
        "perl".to_string(),
        script_path(),
        "exec".into(),
        token.into(),
        cpu_seconds.unwrap_or(0).to_string(),
        env.len().to_string(),
    ];
    for (key, value) in env {
        check_env(key, value)?;
        argv.push(format!("{key}={value}"));
    }
    match command {
        Command::Argv(args) => {
            match args.first() {
                Some(program) if !program.is_empty() => {}
                _ => {
                    return Err(SandboxError::Spawn {
                        reason: "the argv is empty; give at least the program name".into(),
                    });
                }
            }
            argv.push("argv".into());
            for arg in args {
                check_arg(arg)?;
                argv.push(arg.clone());
            }
        }
        Command::Script(script) => {
            check_arg(script)?;
            argv.push("script".into());
            argv.push(script.clone());
        }
    }
    Ok(argv)
}

fn check_env(key: &str, value: &str) -> Result<(), SandboxError> {
    if key.is_empty() || key.contains('=') || key.contains('\0') {
        return Err(SandboxError::Spawn {
            reason: format!(
                "`{}` is not a valid environment variable name (empty, or it contains `=` or a NUL byte)",
                key.escape_debug()
            ),
        });
    }
    if value.contains('\0') {
        return Err(SandboxError::Spawn {
            reason: format!("the value of environment variable `{key}` contains a NUL byte"),
        });
    }
    Ok(())
}

fn check_arg(arg: &str) -> Result<(), SandboxError> {
    if arg.contains('\0') {
        return Err(SandboxError::Spawn {
            reason: "an argument of the command contains a NUL byte, which no program can receive"
                .into(),
        });
    }
    Ok(())
}

/// The control directory on the host: the helper and the kill requests.
#[derive(Debug)]
pub(crate) struct Control {
    dir: PathBuf,
}

impl Control {
    /// Creates `dir` with the helper and an empty `kill/` in it.
    pub(crate) fn install(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(dir.join("kill"))?;
        std::fs::write(dir.join("helper.pl"), SCRIPT)?;
        Ok(Self { dir })
    }

    /// The host directory (mounted read-only at [`CONTROL_DIR`]).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Asks PID 1 to kill command `token` (the caller then signals it).
    pub(crate) fn request_kill(&self, token: &str) {
        let path = self.dir.join("kill").join(token);
        if let Err(err) = std::fs::write(&path, b"") {
            tracing::warn!(path = %path.display(), error = %err, "could not write a kill request; the command may outlive its timeout until the sandbox closes");
        }
    }

    /// Removes a kill request whose command is known to be gone.
    pub(crate) fn forget(&self, token: &str) {
        let _ = std::fs::remove_file(self.dir.join("kill").join(token));
    }
}

/// How the wrapper said the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reported {
    /// Exited with this code.
    Exit(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Could not be started: `errno` and the system's message.
    Spawn { errno: i32, message: String },
}

impl Reported {
    /// The exit code the wrapper exits with for this status.
    fn wrapper_code(&self) -> i64 {
        match self {
            Reported::Exit(code) => i64::from(*code),
            Reported::Signal(signal) => 128 + i64::from(*signal),
            Reported::Spawn { .. } => 127,
        }
    }
}

/// The longest trailer kept back from the output (marker excluded).
const TRAILER_BODY_MAX: usize = 512;

/// Holds back the end of stdout until it is known whether it is the
/// wrapper's status trailer.
#[derive(Debug)]
pub(crate) struct Trailer {
    marker: Vec<u8>,
    held: Vec<u8>,
}

impl Trailer {
    /// A watcher for the trailer of command `token`.
    pub(crate) fn new(token: &str) -> Self {
        Self {
            marker: format!("\0agentkit-status {token} ").into_bytes(),
            held: Vec::new(),
        }
    }

    fn keep(&self) -> usize {
        self.marker.len() + TRAILER_BODY_MAX
    }

    /// Passes `bytes` on to `sink` at once, except from the last NUL byte
    /// on while what follows it could still be the trailer (which starts
    /// with NUL and is at most a few hundred bytes): live output is not
    /// held back behind the trailer.
    pub(crate) fn push(&mut self, bytes: &[u8], sink: &mut HeadTail) {
        self.held.extend_from_slice(bytes);
        let start = match self.held.iter().rposition(|b| *b == 0) {
            Some(at) if self.held.len() - at <= self.keep() => at,
            _ => self.held.len(),
        };
        if start > 0 {
            sink.push(&self.held[..start]);
            self.held.drain(..start);
        }
    }

    /// The stream ended: cuts off a trailer that ends it exactly and passes
    /// the rest on.
    pub(crate) fn finish(self, sink: &mut HeadTail) -> Option<Reported> {
        let found = rfind(&self.held, &self.marker).and_then(|at| {
            let body = self.held[at + self.marker.len()..].strip_suffix(b"\n")?;
            parse(body).map(|reported| (at, reported))
        });
        match found {
            Some((at, reported)) => {
                sink.push(&self.held[..at]);
                Some(reported)
            }
            None => {
                sink.push(&self.held);
                None
            }
        }
    }
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > haystack.len() {
        return None;
    }
    (0..=haystack.len() - needle.len())
        .rev()
        .find(|&i| &haystack[i..i + needle.len()] == needle)
}

fn parse(body: &[u8]) -> Option<Reported> {
    let text = std::str::from_utf8(body).ok()?;
    let (kind, rest) = text.split_once(' ')?;
    match kind {
        "exit" => rest.parse().ok().map(Reported::Exit),
        "signal" => rest.parse().ok().map(Reported::Signal),
        "spawn" => {
            let (errno, message) = rest.split_once(' ').unwrap_or((rest, ""));
            Some(Reported::Spawn {
                errno: errno.parse().ok()?,
                message: message.to_string(),
            })
        }
        _ => None,
    }
}

/// How a command ended, all things considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Exited with this code.
    Exit(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Could not be started.
    Spawn { errno: i32, message: String },
    /// Nothing is known (the daemon has no exit code).
    Unknown,
}

/// Combines the trailer with the exit code the daemon reports (read after
/// the output was drained). They must agree; when they do not, or there is
/// no trailer (the wrapper itself was killed), the daemon's code decides,
/// and codes 129..=192 are read as `128 + signal`.
pub(crate) fn settle(reported: Option<Reported>, code: Option<i64>) -> Settled {
    let Some(code) = code else {
        return Settled::Unknown;
    };
    if let Some(reported) = reported
        && reported.wrapper_code() == code
    {
        return match reported {
            Reported::Exit(code) => Settled::Exit(code),
            Reported::Signal(signal) => Settled::Signal(signal),
            Reported::Spawn { errno, message } => Settled::Spawn { errno, message },
        };
    }
    match i32::try_from(code) {
        Ok(code @ 129..=192) => Settled::Signal(code - 128),
        Ok(code) => Settled::Exit(code),
        Err(_) => Settled::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn exec_argv_passes_the_environment_and_the_command_as_arguments() {
        let argv = exec_argv(
            "ab12",
            Some(5),
            &env(&[("PATH", "/usr/bin"), ("X", "a=b c")]),
            &Command::Argv(vec!["printf".into(), "%s".into(), "a b".into()]),
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "perl",
                "/run/agentkit/helper.pl",
                "exec",
                "ab12",
                "5",
                "2",
                "PATH=/usr/bin",
                "X=a=b c",
                "argv",
                "printf",
                "%s",
                "a b"
            ]
        );
        let argv = exec_argv("1", None, &env(&[]), &Command::Script("echo hi".into())).unwrap();
        assert_eq!(
            argv,
            [
                "perl",
                "/run/agentkit/helper.pl",
                "exec",
                "1",
                "0",
                "0",
                "script",
                "echo hi"
            ]
        );
    }

    #[test]
    fn exec_argv_refuses_what_cannot_reach_a_program() {
        let cases = [
            (env(&[("A=B", "x")]), Command::Script("true".into())),
            (env(&[("", "x")]), Command::Script("true".into())),
            (env(&[("A", "x\0y")]), Command::Script("true".into())),
            (env(&[]), Command::Script("a\0b".into())),
            (env(&[]), Command::Argv(vec![])),
            (env(&[]), Command::Argv(vec!["".into()])),
        ];
        for (env, command) in cases {
            let result = exec_argv("1", None, &env, &command);
            assert!(
                matches!(result, Err(SandboxError::Spawn { .. })),
                "{command:?} {env:?}: {result:?}"
            );
        }
    }

    fn run_trailer(token: &str, chunks: &[&[u8]]) -> (String, Option<Reported>, u64) {
        let mut sink = HeadTail::new(1 << 20);
        let mut trailer = Trailer::new(token);
        for chunk in chunks {
            trailer.push(chunk, &mut sink);
        }
        let reported = trailer.finish(&mut sink);
        let out = sink.finish();
        (out.text, reported, out.total_bytes)
    }

    #[test]
    fn the_trailer_is_cut_off_the_end_of_stdout() {
        let (text, reported, total) =
            run_trailer("7f", &[b"hello\n", b"\0agentkit-status 7f exit 3\n"]);
        assert_eq!(
            (text.as_str(), reported, total),
            ("hello\n", Some(Reported::Exit(3)), 6)
        );
        // Split anywhere, after a lot of output.
        let big = vec![b'x'; 100_000];
        let all = [big.as_slice(), b"\0agentkit-status 7f signal 9\n"].concat();
        let (first, second) = all.split_at(99_990);
        let (text, reported, total) = run_trailer("7f", &[first, second]);
        assert_eq!(text.len(), 100_000);
        assert_eq!((reported, total), (Some(Reported::Signal(9)), 100_000));
        let (text, reported, _) = run_trailer(
            "7f",
            &[b"\0agentkit-status 7f spawn 2 No such file or directory\n"],
        );
        assert_eq!(
            (text.as_str(), reported),
            (
                "",
                Some(Reported::Spawn {
                    errno: 2,
                    message: "No such file or directory".into()
                })
            )
        );
    }

    #[test]
    fn only_this_commands_trailer_at_the_very_end_counts() {
        for chunks in [
            // Another token.
            &[b"\0agentkit-status 11 exit 0\n".as_slice()][..],
            // Not at the end.
            &[b"\0agentkit-status 7f exit 0\n", b"more"],
            // Malformed.
            &[b"\0agentkit-status 7f exit zero\n"],
            &[b"\0agentkit-status 7f exit 0"],
        ] {
            let expected: Vec<u8> = chunks.concat();
            let (text, reported, total) = run_trailer("7f", chunks);
            assert_eq!(reported, None, "{chunks:?}");
            assert_eq!(text.as_bytes(), expected.as_slice());
            assert_eq!(total, expected.len() as u64);
        }
    }

    #[test]
    fn the_daemons_exit_code_must_agree_with_the_trailer() {
        assert_eq!(settle(Some(Reported::Exit(3)), Some(3)), Settled::Exit(3));
        assert_eq!(
            settle(Some(Reported::Exit(137)), Some(137)),
            Settled::Exit(137)
        );
        assert_eq!(
            settle(Some(Reported::Signal(9)), Some(137)),
            Settled::Signal(9)
        );
        assert_eq!(
            settle(
                Some(Reported::Spawn {
                    errno: 2,
                    message: "x".into()
                }),
                Some(127)
            ),
            Settled::Spawn {
                errno: 2,
                message: "x".into()
            }
        );
        // A forged or stale trailer loses to the daemon.
        assert_eq!(settle(Some(Reported::Exit(0)), Some(1)), Settled::Exit(1));
        // No trailer: the wrapper itself was killed.
        assert_eq!(settle(None, Some(137)), Settled::Signal(9));
        assert_eq!(settle(None, Some(2)), Settled::Exit(2));
        assert_eq!(settle(None, Some(255)), Settled::Exit(255));
        assert_eq!(settle(Some(Reported::Exit(0)), None), Settled::Unknown);
    }
}
