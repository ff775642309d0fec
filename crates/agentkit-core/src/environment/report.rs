//! What making the environment found: the setup's result and the
//! toolchains, for the transcript, the pull request and the stop reason.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{EnvironmentPhase, SetupSource};
use crate::outcome::{Outcome, StopReason};
use crate::sandbox::NetworkPolicy;
use crate::task::TaskId;

/// The toolchains every report lists, besides the ones a repository needs.
const DEFAULT_TOOLCHAINS: [&str; 6] = ["cargo", "rustc", "python3", "node", "npm", "go"];

/// How many characters of the setup's output a report keeps (the end).
pub const OUTPUT_TAIL_CHARS: usize = 4000;

/// A shell script printing one `name<TAB>path<TAB>version` line per
/// default toolchain (path and version empty when it is missing), the
/// programs asked in parallel (`npm --version` alone takes most of a
/// second). Use [`toolchain_probe`](EnvironmentReport::toolchain_probe) to
/// add the ones a repository needs; parse with [`parse_toolchains`].
pub const TOOLCHAIN_PROBE: &str = r#"for t in cargo rustc python3 node npm go; do
  ( p=$(command -v "$t" 2>/dev/null) || { printf '%s\t\t\n' "$t"; exit 0; }
    case "$t" in go) v=$("$t" version 2>&1 | head -n 1) ;; *) v=$("$t" --version 2>&1 | head -n 1) ;; esac
    printf '%s\t%s\t%s\n' "$t" "$p" "$v" ) &
done
wait"#;

/// One toolchain as seen inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    /// The program (`cargo`, `python3`, ...).
    pub name: String,
    /// Where it is on the sandbox's `PATH` (`None`: not found).
    pub path: Option<String>,
    /// The first line of its version output.
    pub version: Option<String>,
}

impl Toolchain {
    /// A toolchain that was found.
    pub fn found(name: &str, path: &str, version: &str) -> Self {
        Self {
            name: name.into(),
            path: Some(path.into()),
            version: Some(version.into()),
        }
    }

    /// A toolchain that is not there.
    pub fn missing(name: &str) -> Self {
        Self {
            name: name.into(),
            path: None,
            version: None,
        }
    }
}

/// Parses the output of a toolchain probe script.
pub fn parse_toolchains(stdout: &str) -> Vec<Toolchain> {
    let mut found = Vec::new();
    for line in stdout.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(name), Some(path), version) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if name.is_empty() || found.iter().any(|t: &Toolchain| t.name == name) {
            continue;
        }
        let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        found.push(Toolchain {
            name: name.to_string(),
            path: nonempty(path),
            version: version.and_then(nonempty).filter(|_| !path.is_empty()),
        });
    }
    found
}

/// Why the environment cannot be used: the payload of
/// [`StopReason::EnvironmentBroken`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// Which phase failed.
    pub phase: EnvironmentPhase,
    /// The setup's exit code, when it exited.
    pub exit: Option<i32>,
    /// Whether the setup ran out of time.
    pub timed_out: bool,
    /// The end of its output, or what is missing.
    pub tail: String,
}

impl Broken {
    /// The stop reason this is.
    pub fn into_stop(self) -> StopReason {
        StopReason::EnvironmentBroken {
            phase: self.phase,
            exit: self.exit,
            timed_out: self.timed_out,
            tail: self.tail,
        }
    }
}

/// What making the environment found. Carried by the sandbox
/// ([`Sandbox::environment`](crate::sandbox::Sandbox::environment)) and by
/// [`SandboxError::SetupFailed`](crate::sandbox::SandboxError::SetupFailed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvironmentReport {
    /// Where the setup came from (`None`: there was no setup).
    pub source: Option<SetupSource>,
    /// The backend that made the sandbox.
    pub backend: String,
    /// Whether the sandbox started from a snapshot (no setup run).
    pub warm: bool,
    /// The snapshot key, when snapshots are on.
    pub snapshot: Option<String>,
    /// How long the setup ran (zero when warm), in milliseconds.
    pub setup_ms: u64,
    /// The setup's exit code.
    pub exit: Option<i32>,
    /// Whether the setup ran out of time.
    pub timed_out: bool,
    /// The end of the setup's output (stdout then stderr), secrets not yet
    /// redacted (sinks redact).
    pub output: String,
    /// The network the setup ran with.
    pub network: Option<NetworkPolicy>,
    /// Whether the backend enforced that network (`local` cannot).
    pub network_enforced: bool,
    /// The names of the variables passed into the setup (never values).
    pub env: Vec<String>,
    /// The repository's cache directory on the host, when caches are on.
    pub caches: Option<String>,
    /// The toolchains found in the sandbox.
    pub toolchains: Vec<Toolchain>,
    /// Whether `toolchains` were probed when the snapshot this sandbox
    /// started from was made (same backend and image: both are part of the
    /// key) rather than in this sandbox.
    pub toolchains_from_snapshot: bool,
    /// The toolchains the repository needs.
    pub needs: Vec<String>,
    /// How the workspace was made from a snapshot: a warm start, or the
    /// handover from a setup run in a sandbox of its own (`None`: cloned,
    /// the setup ran in place).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<SnapshotRestore>,
}

/// How a snapshot became a sandbox's workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SnapshotRestore {
    /// The snapshot is the read-only lower layer of an overlay mount and
    /// the sandbox writes to an upper layer of its own: no file is copied.
    Overlay,
    /// The snapshot was copied (`cp -a --reflink=auto`): copy-on-write
    /// where the filesystem supports it, a real copy elsewhere. Used where
    /// overlays are not available (no `CAP_SYS_ADMIN`, a disk limit, docker).
    Copy,
}

impl EnvironmentReport {
    /// The probe script for the default toolchains plus `needs` (names
    /// that are not plain program names are left out, so a repository
    /// cannot put shell code in it).
    pub fn toolchain_probe(needs: &[String]) -> String {
        TOOLCHAIN_PROBE.replacen(
            "cargo rustc python3 node npm go",
            &Self::toolchain_names(needs).join(" "),
            1,
        )
    }

    /// The programs the probe asks about, in report order: the defaults,
    /// then the plain program names among `needs`.
    pub fn toolchain_names(needs: &[String]) -> Vec<String> {
        let mut names: Vec<String> = DEFAULT_TOOLCHAINS.iter().map(|s| s.to_string()).collect();
        for need in needs {
            let plain = !need.is_empty()
                && need
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
            if plain && !names.contains(need) {
                names.push(need.clone());
            }
        }
        names
    }

    /// The toolchains the repository needs that the sandbox lacks.
    pub fn missing(&self) -> Vec<String> {
        self.needs
            .iter()
            .filter(|need| {
                !self
                    .toolchains
                    .iter()
                    .any(|t| &t.name == *need && t.path.is_some())
            })
            .cloned()
            .collect()
    }

    /// Whether the agent can work here: the setup succeeded and every
    /// needed toolchain is present.
    pub fn check(&self) -> Result<(), Broken> {
        if self.source.is_some() && !self.warm && (self.timed_out || self.exit != Some(0)) {
            return Err(Broken {
                phase: EnvironmentPhase::Setup,
                exit: self.exit,
                timed_out: self.timed_out,
                tail: self.output.clone(),
            });
        }
        let missing = self.missing();
        if missing.is_empty() {
            return Ok(());
        }
        let found: Vec<String> = self
            .toolchains
            .iter()
            .filter(|t| t.path.is_some())
            .map(|t| t.name.clone())
            .collect();
        Err(Broken {
            phase: EnvironmentPhase::Toolchains,
            exit: None,
            timed_out: false,
            tail: format!(
                "the repository needs {} but the {} sandbox has no such program on its PATH (found: {}); \
                 install it in the sandbox image or make it visible to the backend (read-only paths)",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.backend,
                if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                }
            ),
        })
    }

    /// The report as a Markdown section for a pull request body.
    pub fn markdown(&self) -> String {
        let mut out = String::from("## Environment\n\n");
        match self.source {
            None => out.push_str("- Setup: none\n"),
            Some(source) if self.warm => out.push_str(&format!(
                "- Setup: from {source}; warm start from snapshot `{}`\n",
                self.snapshot
                    .as_deref()
                    .map_or("?", |s| &s[..s.len().min(12)])
            )),
            Some(source) => out.push_str(&format!(
                "- Setup: from {source}; ran in {:.1}s ({})\n",
                Duration::from_millis(self.setup_ms).as_secs_f64(),
                match self.exit {
                    Some(code) => format!("exit {code}"),
                    None => "no exit status".into(),
                }
            )),
        }
        out.push_str(&format!("- Sandbox: `{}`\n", self.backend));
        if !self.toolchains.is_empty() {
            out.push_str(if self.toolchains_from_snapshot {
                "- Toolchains (probed when the snapshot was made):\n"
            } else {
                "- Toolchains:\n"
            });
            for t in &self.toolchains {
                match (&t.path, &t.version) {
                    (Some(path), version) => out.push_str(&format!(
                        "  - `{}`: {} (`{path}`)\n",
                        t.name,
                        version.as_deref().unwrap_or("version unknown")
                    )),
                    (None, _) => out.push_str(&format!("  - `{}`: not installed\n", t.name)),
                }
            }
        }
        out
    }
}

/// The outcome of a run that never started because its environment is
/// broken: no model call, no pull request.
pub fn broken_outcome(task_id: TaskId, broken: Broken) -> Outcome {
    Outcome::nothing_done(task_id, broken.into_stop())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_parses_found_and_missing_toolchains() {
        let out = "cargo\t/usr/bin/cargo\tcargo 1.88.0 (abc 2025-01-01)\ngo\t\t\nnode\t/usr/bin/node\tv18.19.0\n";
        assert_eq!(
            parse_toolchains(out),
            vec![
                Toolchain::found("cargo", "/usr/bin/cargo", "cargo 1.88.0 (abc 2025-01-01)"),
                Toolchain::missing("go"),
                Toolchain::found("node", "/usr/bin/node", "v18.19.0"),
            ]
        );
    }

    #[test]
    fn the_probe_lists_needed_programs_but_never_shell_code() {
        let probe =
            EnvironmentReport::toolchain_probe(&["pnpm".into(), "x; rm -rf /".into(), "go".into()]);
        assert!(probe.starts_with("for t in cargo rustc python3 node npm go pnpm; do"));
        assert!(!probe.contains("rm -rf"));
    }

    #[test]
    fn a_failed_setup_is_broken_in_the_setup_phase() {
        let report = EnvironmentReport {
            source: Some(SetupSource::RepoScript),
            exit: Some(3),
            output: "boom".into(),
            ..Default::default()
        };
        assert_eq!(
            report.check(),
            Err(Broken {
                phase: EnvironmentPhase::Setup,
                exit: Some(3),
                timed_out: false,
                tail: "boom".into()
            })
        );
    }
}

#[cfg(test)]
mod wire {
    use super::*;
    use crate::event::Event;

    /// The transcript's `environment_ready` event, as sinks write it.
    #[test]
    fn the_environment_event_on_the_wire() {
        let report = EnvironmentReport {
            source: Some(SetupSource::RepoPolicy),
            backend: "bwrap".into(),
            warm: false,
            snapshot: Some("5f1c".into()),
            setup_ms: 1234,
            exit: Some(0),
            timed_out: false,
            output: "Successfully installed six-1.16.0".into(),
            network: Some(crate::sandbox::NetworkPolicy::AllowList(vec![
                "pypi.org".into(),
            ])),
            network_enforced: true,
            env: vec!["PIP_INDEX_URL".into()],
            caches: Some("/cache/0a1b".into()),
            toolchains: vec![
                Toolchain::found("python3", "/usr/bin/python3", "Python 3.11.2"),
                Toolchain::missing("go"),
            ],
            toolchains_from_snapshot: false,
            needs: vec!["python3".into()],
            restore: Some(SnapshotRestore::Overlay),
        };
        insta::assert_json_snapshot!(Event::EnvironmentReady {
            report: Box::new(report)
        });
        insta::assert_json_snapshot!(
            "environment_broken_stop",
            Broken {
                phase: EnvironmentPhase::Setup,
                exit: Some(1),
                timed_out: false,
                tail: "error: no matching distribution".into(),
            }
            .into_stop()
        );
    }
}
