//! What the init helper reports about a command, and how a bubblewrap run
//! ends.
//!
//! Bubblewrap reports a command killed by signal `n` as exit code `128 + n`
//! and a program it could not start as `bwrap: execvp …` on stderr with
//! exit 1 — both indistinguishable from what a command may do on its own.
//! The init helper (`init/main.rs`) therefore reports on a descriptor the
//! command never sees: `agentkit-init ready`, then either
//! `agentkit-init spawn-error <errno>` or `agentkit-init exit <status>`
//! (the raw wait status). [`interpret`] combines that report with how the
//! bubblewrap process itself ended.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use agentkit_core::sandbox::ExecOutput;

/// The most report bytes worth reading (three short lines are expected).
pub(crate) const MAX_REPORT: usize = 4096;

/// What the init helper said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// Nothing: bubblewrap never started the helper.
    Silent,
    /// The helper started, then said nothing more (it was killed).
    Ready,
    /// The program could not be started; the `errno`.
    SpawnFailed(i32),
    /// The program ended with this raw wait status.
    Ended(i32),
}

/// Parses the helper's lines; the most informative one wins.
pub(crate) fn parse(bytes: &[u8]) -> Report {
    let text = String::from_utf8_lossy(bytes);
    let mut report = Report::Silent;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("agentkit-init ") else {
            continue;
        };
        let mut words = rest.split(' ');
        let number = |w: Option<&str>| w.and_then(|n| n.parse::<i32>().ok());
        report = match (words.next(), report) {
            (Some("ready"), Report::Silent) => Report::Ready,
            (Some("spawn-error"), _) => number(words.next()).map_or(report, Report::SpawnFailed),
            (Some("exit"), _) => number(words.next()).map_or(report, Report::Ended),
            _ => report,
        };
    }
    report
}

/// How a command run through bubblewrap ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The command ran (or was killed); its output, with the exact status.
    Ran(ExecOutput),
    /// The program could not be started; the `errno`.
    NotStarted(i32),
    /// Bubblewrap failed before starting anything; what it said.
    SetupFailed(String),
}

/// Combines `raw` (bubblewrap's own end, as the exec pipeline saw it) with
/// the helper's `report`.
pub(crate) fn interpret(mut raw: ExecOutput, report: Report) -> Verdict {
    if raw.timed_out {
        // The whole namespace was killed on the deadline; like the local
        // backend, the status is the kill's.
        return Verdict::Ran(raw);
    }
    match report {
        Report::Ended(status) => {
            let status = ExitStatus::from_raw(status);
            raw.exit_code = status.code();
            raw.signal = status.signal();
            Verdict::Ran(raw)
        }
        Report::SpawnFailed(errno) => Verdict::NotStarted(errno),
        // Bubblewrap was killed (close, or the group kill after the
        // command left processes behind): report that kill.
        _ if raw.signal.is_some() => Verdict::Ran(raw),
        Report::Ready => {
            // The helper died with the command (the OOM killer, `kill -9 -1`
            // inside); bubblewrap turned a signal `n` into `128 + n`.
            if let Some(code) = raw.exit_code
                && (129..=128 + 64).contains(&code)
            {
                raw.exit_code = None;
                raw.signal = Some(code - 128);
            }
            Verdict::Ran(raw)
        }
        Report::Silent => Verdict::SetupFailed(format!(
            "bubblewrap ended ({}) before starting the command: {}",
            raw.status_line(),
            tail(&raw.stderr.text)
        )),
    }
}

fn tail(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(no message)".into();
    }
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(1000)).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use agentkit_core::sandbox::CapturedOutput;

    use super::*;

    fn output(exit_code: Option<i32>, signal: Option<i32>, stderr: &str) -> ExecOutput {
        ExecOutput {
            exit_code,
            signal,
            stdout: CapturedOutput::default(),
            stderr: CapturedOutput {
                text: stderr.into(),
                truncated: false,
                total_bytes: stderr.len() as u64,
            },
            duration: Duration::from_millis(5),
            timed_out: false,
        }
    }

    #[test]
    fn parses_each_report() {
        assert_eq!(parse(b""), Report::Silent);
        assert_eq!(parse(b"agentkit-init ready\n"), Report::Ready);
        assert_eq!(
            parse(b"agentkit-init ready\nagentkit-init spawn-error 2\n"),
            Report::SpawnFailed(2)
        );
        assert_eq!(
            parse(b"agentkit-init ready\nagentkit-init exit 9\n"),
            Report::Ended(9)
        );
        assert_eq!(
            parse(b"agentkit-init ready\nagentkit-init exit nine\ngarbage\n"),
            Report::Ready
        );
    }

    #[test]
    fn the_helper_report_gives_the_exact_status() {
        // exit 3 (status 3 << 8), then killed by SIGKILL (status 9), though
        // bubblewrap itself said 3 and 137.
        assert_eq!(
            interpret(output(Some(3), None, ""), Report::Ended(3 << 8)),
            Verdict::Ran(output(Some(3), None, ""))
        );
        assert_eq!(
            interpret(output(Some(137), None, ""), Report::Ended(9)),
            Verdict::Ran(output(None, Some(9), ""))
        );
        // A command that exits 137 on its own stays an exit code.
        assert_eq!(
            interpret(output(Some(137), None, ""), Report::Ended(137 << 8)),
            Verdict::Ran(output(Some(137), None, ""))
        );
    }

    #[test]
    fn a_missing_program_is_not_started_whatever_stderr_says() {
        let said = "bwrap: execvp nope: No such file or directory\n";
        assert_eq!(
            interpret(output(Some(127), None, said), Report::SpawnFailed(2)),
            Verdict::NotStarted(2)
        );
        // A program printing bubblewrap's message ran, and that is data.
        assert_eq!(
            interpret(output(Some(1), None, said), Report::Ended(1 << 8)),
            Verdict::Ran(output(Some(1), None, said))
        );
    }

    #[test]
    fn silence_means_bubblewrap_failed_unless_it_was_killed() {
        assert_eq!(
            interpret(
                output(Some(1), None, "bwrap: Can't mount tmpfs on /x: No such file\n"),
                Report::Silent
            ),
            Verdict::SetupFailed(
                "bubblewrap ended (exit 1) before starting the command: bwrap: Can't mount tmpfs on /x: No such file"
                    .into()
            )
        );
        assert_eq!(
            interpret(output(None, Some(9), ""), Report::Silent),
            Verdict::Ran(output(None, Some(9), ""))
        );
    }

    #[test]
    fn a_helper_killed_with_its_command_maps_back_the_signal() {
        assert_eq!(
            interpret(output(Some(137), None, ""), Report::Ready),
            Verdict::Ran(output(None, Some(9), ""))
        );
        let mut timed_out = output(None, Some(9), "");
        timed_out.timed_out = true;
        assert_eq!(
            interpret(timed_out.clone(), Report::Ready),
            Verdict::Ran(timed_out)
        );
    }
}
