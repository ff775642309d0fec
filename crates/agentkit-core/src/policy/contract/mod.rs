//! The completion contract: what a change must satisfy before it may become
//! a pull request, checked on the host, on the handed-over commits.
//!
//! The model saying "done" and the checks passing is not enough: a change
//! can pass by editing the tests, skipping them, or deleting them; it can
//! carry build output, a 40 MB binary or a token. The contract is checked
//! after the handover and before publishing, on a [`ChangeDiff`] that a
//! [`ChangeInspector`] builds **host-side** from the git bundle (git with
//! hooks disabled, argv only) — never on the sandbox's own account.
//!
//! | rule | default |
//! | --- | --- |
//! | [`Rule::TestFiles`] — no changes to test files | refused ([`DEFAULT_TEST_GLOBS`]) |
//! | [`Rule::CiConfig`] — no changes to CI or agent configuration | refused ([`DEFAULT_CI_GLOBS`]) |
//! | [`Rule::Lockfile`] — no changes to lockfiles | refused ([`DEFAULT_LOCKFILE_GLOBS`]) |
//! | [`Rule::SkipMarker`] — no new skip markers | on |
//! | [`Rule::DeletedTest`] — no deleted tests | on |
//! | [`Rule::DiffTooLarge`] — at most 50 files and 2000 changed lines | on |
//! | [`Rule::GeneratedFile`], [`Rule::BinaryFile`], [`Rule::FileTooLarge`] — no new build output, binaries, files over 1 MiB | on (the handover leaves them out, see [`LeaveOut`]) |
//! | [`Rule::Secret`] — no secrets in added lines | on |
//! | [`Rule::RequiredCheck`] — the named checks ran and passed | none required |
//!
//! A ticket lifts a path rule with a label ([`ALLOW_TEST_CHANGES_LABEL`],
//! [`ALLOW_CI_CHANGES_LABEL`], [`ALLOW_LOCKFILE_CHANGES_LABEL`]); the policy
//! file lifts it for every ticket (see [`crate::policy::file`]).
//!
//! A violation goes back to the model once as feedback
//! ([`CompletionContract::feedback_rounds`]), naming the rule, the file, the
//! line and how to comply; if the change still breaks the contract, the run
//! stops with [`StopReason::ContractViolated`](crate::outcome::StopReason) and
//! nothing is published.
//!
//! ```
//! use agentkit_core::policy::contract::{ChangeDiff, ChangeKind, CompletionContract, ContractContext, DiffLine, FileChange, Rule};
//! use agentkit_core::redact::Redactor;
//! use agentkit_core::task::{RepoRef, Task};
//!
//! let diff = ChangeDiff { files: vec![FileChange {
//!     path: "tests/test_calc.py".into(), kind: ChangeKind::Modified, binary: false, size: 80,
//!     added: vec![DiffLine { number: 3, text: "    assert add(2, 2) == 5".into() }],
//!     removed: vec![DiffLine { number: 3, text: "    assert add(2, 2) == 4".into() }],
//! }]};
//! let task = Task::new("T-1", "Fix add", "", RepoRef::new("."));
//! let redactor = Redactor::new();
//! let cx = ContractContext { task: &task, verification: None, redactor: &redactor, base_commit: "abc123" };
//! let violations = CompletionContract::default().check(&diff, &cx);
//! assert_eq!(violations[0].rule, Rule::TestFiles);
//! assert_eq!(violations[0].line, Some(3));
//! ```

mod diff;
mod globs;
mod markers;
mod secrets;

pub use diff::{ChangeDiff, ChangeKind, DiffLine, DiffParseError, FileChange};
pub use globs::{
    DEFAULT_CI_GLOBS, DEFAULT_GENERATED_GLOBS, DEFAULT_LOCKFILE_GLOBS, DEFAULT_TEST_GLOBS, GlobList,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::forge::ChangeSet;
use crate::redact::Redactor;
use crate::task::Task;
use crate::verify::Verification;

/// The ticket label that allows changes to test files.
pub const ALLOW_TEST_CHANGES_LABEL: &str = "agentkit:allow-test-changes";
/// The ticket label that allows changes to CI configuration.
pub const ALLOW_CI_CHANGES_LABEL: &str = "agentkit:allow-ci-changes";
/// The ticket label that allows changes to lockfiles.
pub const ALLOW_LOCKFILE_CHANGES_LABEL: &str = "agentkit:allow-lockfile-changes";

/// Violations listed in one feedback message at most (all are kept in the stop reason, up to [`MAX_VIOLATIONS`]).
const FEEDBACK_LIMIT: usize = 20;
/// Violations recorded at most.
pub const MAX_VIOLATIONS: usize = 50;

/// A contract rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A test file changed.
    TestFiles,
    /// CI or agent configuration changed.
    CiConfig,
    /// A lockfile changed.
    Lockfile,
    /// A skip marker was added.
    SkipMarker,
    /// A test was removed.
    DeletedTest,
    /// The change is larger than the limits.
    DiffTooLarge,
    /// A generated file or build output was added.
    GeneratedFile,
    /// A binary file was added.
    BinaryFile,
    /// A file over the size limit was added.
    FileTooLarge,
    /// An added line holds a secret.
    Secret,
    /// A required check did not run or did not pass.
    RequiredCheck,
}

impl Rule {
    /// The rule's name as written in policy files and feedback (`test_files`).
    pub fn name(self) -> &'static str {
        match self {
            Rule::TestFiles => "test_files",
            Rule::CiConfig => "ci_config",
            Rule::Lockfile => "lockfile",
            Rule::SkipMarker => "skip_marker",
            Rule::DeletedTest => "deleted_test",
            Rule::DiffTooLarge => "diff_too_large",
            Rule::GeneratedFile => "generated_file",
            Rule::BinaryFile => "binary_file",
            Rule::FileTooLarge => "file_too_large",
            Rule::Secret => "secret",
            Rule::RequiredCheck => "required_check",
        }
    }
}

/// One broken rule. Never contains a secret: secrets appear masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Which rule.
    pub rule: Rule,
    /// The file, when the rule is about one.
    pub path: Option<String>,
    /// The line (in the new file; in the old one for removed lines).
    pub line: Option<u32>,
    /// What is wrong.
    pub message: String,
    /// How to comply.
    pub fix: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}]", self.rule.name())?;
        match (&self.path, self.line) {
            (Some(path), Some(line)) => write!(f, " {path}:{line}")?,
            (Some(path), None) => write!(f, " {path}")?,
            _ => {}
        }
        write!(f, ": {}", self.message)
    }
}

/// A path rule: globs, and whether changes there are allowed anyway.
#[derive(Debug, Clone)]
pub struct PathRule {
    /// The paths it protects.
    pub globs: GlobList,
    /// Whether changes are allowed for every ticket.
    pub allowed: bool,
}

/// What the handover leaves out of the commit, and what the contract refuses
/// if it arrives anyway. Applies to files the change **adds**.
#[derive(Debug, Clone)]
pub struct LeaveOut {
    /// Generated files and build output.
    pub generated: GlobList,
    /// New files larger than this are left out.
    pub max_file_bytes: u64,
    /// Whether new binary files are kept.
    pub allow_binary: bool,
}

impl Default for LeaveOut {
    fn default() -> Self {
        Self {
            generated: GlobList::builtin(DEFAULT_GENERATED_GLOBS),
            max_file_bytes: 1024 * 1024,
            allow_binary: false,
        }
    }
}

impl LeaveOut {
    /// Why a new file is left out, if it is.
    pub fn reason(&self, path: &str, binary: bool, size: u64) -> Option<String> {
        if let Some(glob) = self.generated.matching(path) {
            return Some(format!("generated or build output (matches `{glob}`)"));
        }
        if size > self.max_file_bytes {
            return Some(format!(
                "{size} bytes, over the {} byte limit for new files",
                self.max_file_bytes
            ));
        }
        if binary && !self.allow_binary {
            return Some("a binary file".into());
        }
        None
    }
}

/// Settings of secret scanning.
#[derive(Debug, Clone)]
pub struct SecretScan {
    /// Whether added lines are scanned at all.
    pub enabled: bool,
    /// Whether high-entropy quoted strings count.
    pub entropy: bool,
    /// Shortest quoted string the entropy detector looks at.
    pub entropy_min_length: usize,
    /// Bits per character from which a string counts as random.
    pub entropy_threshold: f64,
    /// Files the entropy detector skips (token formats are still found there).
    pub entropy_ignore: GlobList,
}

impl Default for SecretScan {
    fn default() -> Self {
        let mut ignore: Vec<&str> = DEFAULT_LOCKFILE_GLOBS.to_vec();
        ignore.extend(["**/*.svg", "**/*.min.js", "**/*.map"]);
        Self {
            enabled: true,
            entropy: true,
            entropy_min_length: 24,
            entropy_threshold: 4.0,
            entropy_ignore: GlobList::builtin(&ignore),
        }
    }
}

/// The completion contract. [`Default`] is the safe default of the
/// [module docs](self); the policy file adjusts it.
#[derive(Debug, Clone)]
pub struct CompletionContract {
    /// Test files.
    pub tests: PathRule,
    /// CI and agent configuration.
    pub ci: PathRule,
    /// Lockfiles.
    pub lockfiles: PathRule,
    /// Refuse new skip markers.
    pub forbid_skip_markers: bool,
    /// Refuse deleted tests.
    pub forbid_deleted_tests: bool,
    /// Most files a change may touch.
    pub max_files: Option<usize>,
    /// Most lines (added + removed) a change may touch.
    pub max_lines: Option<usize>,
    /// New files that never belong in a commit.
    pub leave_out: LeaveOut,
    /// Secret scanning.
    pub secrets: SecretScan,
    /// Checks (by verifier check name) that must have run and passed.
    pub required_checks: Vec<String>,
    /// How many times a violation goes back to the model before the run stops.
    pub feedback_rounds: u32,
}

impl Default for CompletionContract {
    fn default() -> Self {
        Self {
            tests: PathRule {
                globs: GlobList::builtin(DEFAULT_TEST_GLOBS),
                allowed: false,
            },
            ci: PathRule {
                globs: GlobList::builtin(DEFAULT_CI_GLOBS),
                allowed: false,
            },
            lockfiles: PathRule {
                globs: GlobList::builtin(DEFAULT_LOCKFILE_GLOBS),
                allowed: false,
            },
            forbid_skip_markers: true,
            forbid_deleted_tests: true,
            max_files: Some(50),
            max_lines: Some(2000),
            leave_out: LeaveOut::default(),
            secrets: SecretScan::default(),
            required_checks: Vec::new(),
            feedback_rounds: 1,
        }
    }
}

/// What the contract is checked against besides the diff.
#[derive(Debug, Clone, Copy)]
pub struct ContractContext<'a> {
    /// The ticket (its labels may allow path rules).
    pub task: &'a Task,
    /// The verification that passed, if one ran.
    pub verification: Option<&'a Verification>,
    /// Secrets known to the agent.
    pub redactor: &'a Redactor,
    /// The commit the work started from (named in fixes).
    pub base_commit: &'a str,
}

impl CompletionContract {
    /// Every violation of `diff`, in rule order, at most [`MAX_VIOLATIONS`].
    pub fn check(&self, diff: &ChangeDiff, cx: &ContractContext<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        self.check_paths(diff, cx, &mut out);
        self.check_tests(diff, &mut out);
        self.check_size(diff, &mut out);
        self.check_new_files(diff, &mut out);
        self.check_secrets(diff, cx, &mut out);
        self.check_required(cx, &mut out);
        out.truncate(MAX_VIOLATIONS);
        out
    }

    fn check_paths(&self, diff: &ChangeDiff, cx: &ContractContext<'_>, out: &mut Vec<Violation>) {
        let labelled = |label: &str| cx.task.labels.iter().any(|l| l == label);
        let rules = [
            (
                Rule::TestFiles,
                &self.tests,
                ALLOW_TEST_CHANGES_LABEL,
                "test file",
            ),
            (
                Rule::CiConfig,
                &self.ci,
                ALLOW_CI_CHANGES_LABEL,
                "CI or agent configuration file",
            ),
            (
                Rule::Lockfile,
                &self.lockfiles,
                ALLOW_LOCKFILE_CHANGES_LABEL,
                "lockfile",
            ),
        ];
        for (rule, path_rule, label, what) in rules {
            if path_rule.allowed || labelled(label) {
                continue;
            }
            for file in &diff.files {
                let Some(glob) = path_rule.globs.matching(&file.path) else {
                    continue;
                };
                let line = file
                    .added
                    .first()
                    .or(file.removed.first())
                    .map(|l| l.number);
                out.push(Violation {
                    rule,
                    path: Some(file.path.clone()),
                    line,
                    message: format!(
                        "this task may not change the {what} `{}` (it matches `{glob}`)",
                        file.path
                    ),
                    fix: format!(
                        "restore it with `git checkout {} -- '{}'` and solve the task in the code under test \
                         (a ticket that needs this change carries the label `{label}`)",
                        cx.base_commit, file.path
                    ),
                });
            }
        }
    }

    fn check_tests(&self, diff: &ChangeDiff, out: &mut Vec<Violation>) {
        if self.forbid_skip_markers {
            for skip in markers::new_skips(diff) {
                out.push(Violation {
                    rule: Rule::SkipMarker,
                    path: Some(skip.path),
                    line: Some(skip.line),
                    message: format!("the change adds a skip marker ({})", skip.marker),
                    fix: "remove the marker; make the test pass by fixing the code it tests".into(),
                });
            }
        }
        if self.forbid_deleted_tests {
            for test in markers::deleted_tests(diff) {
                out.push(Violation {
                    rule: Rule::DeletedTest,
                    path: Some(test.path),
                    line: Some(test.line),
                    message: format!("the change deletes the test `{}`", test.name),
                    fix: "restore the test; fix the code so that it passes".into(),
                });
            }
        }
    }

    fn check_size(&self, diff: &ChangeDiff, out: &mut Vec<Violation>) {
        let files = diff.files.len();
        let lines = diff.changed_lines();
        let fix = "make the smallest change that solves the task; revert unrelated edits and reformatting";
        if let Some(max) = self.max_files.filter(|&m| files > m) {
            out.push(Violation {
                rule: Rule::DiffTooLarge,
                path: None,
                line: None,
                message: format!("the change touches {files} files (the limit is {max})"),
                fix: fix.into(),
            });
        }
        if let Some(max) = self.max_lines.filter(|&m| lines > m) {
            out.push(Violation {
                rule: Rule::DiffTooLarge,
                path: None,
                line: None,
                message: format!("the change touches {lines} lines (the limit is {max})"),
                fix: fix.into(),
            });
        }
    }

    fn check_new_files(&self, diff: &ChangeDiff, out: &mut Vec<Violation>) {
        for file in diff.files.iter().filter(|f| f.kind == ChangeKind::Added) {
            let leave = &self.leave_out;
            let (rule, message) = if let Some(glob) = leave.generated.matching(&file.path) {
                (
                    Rule::GeneratedFile,
                    format!("generated file or build output (matches `{glob}`)"),
                )
            } else if file.size > leave.max_file_bytes {
                (
                    Rule::FileTooLarge,
                    format!(
                        "{} bytes, over the {} byte limit for new files",
                        file.size, leave.max_file_bytes
                    ),
                )
            } else if file.binary && !leave.allow_binary {
                (Rule::BinaryFile, "a new binary file".to_string())
            } else {
                continue;
            };
            out.push(Violation {
                rule,
                path: Some(file.path.clone()),
                line: None,
                message,
                fix: format!("remove it from the commit (`git rm --cached '{}'`) and add its pattern to .gitignore", file.path),
            });
        }
    }

    fn check_secrets(&self, diff: &ChangeDiff, cx: &ContractContext<'_>, out: &mut Vec<Violation>) {
        if !self.secrets.enabled {
            return;
        }
        let entropy = secrets::EntropySettings {
            enabled: self.secrets.entropy,
            min_length: self.secrets.entropy_min_length,
            threshold: self.secrets.entropy_threshold,
        };
        for file in &diff.files {
            for line in &file.added {
                let found = secrets::scan_line(
                    &file.path,
                    &line.text,
                    cx.redactor,
                    &entropy,
                    &self.secrets.entropy_ignore,
                );
                if let Some(finding) = found {
                    out.push(Violation {
                        rule: Rule::Secret,
                        path: Some(file.path.clone()),
                        line: Some(line.number),
                        message: format!("the line holds {} ({})", finding.kind, finding.masked),
                        fix: "never commit credentials: read them from the environment or a secrets store, \
                              and use an obviously fake placeholder in code and tests"
                            .into(),
                    });
                }
            }
        }
    }

    fn check_required(&self, cx: &ContractContext<'_>, out: &mut Vec<Violation>) {
        for name in &self.required_checks {
            let check = cx
                .verification
                .and_then(|v| v.checks.iter().find(|c| &c.name == name));
            let message = match check {
                None => format!("the required check `{name}` did not run"),
                Some(c) if !c.passed => {
                    format!("the required check `{name}` failed ({})", c.status)
                }
                Some(_) => continue,
            };
            out.push(Violation {
                rule: Rule::RequiredCheck,
                path: None,
                line: None,
                message,
                fix: format!("make `{name}` pass, then call `finish` again"),
            });
        }
    }
}

/// The message the model reads after a violation.
pub fn feedback(violations: &[Violation], final_warning: bool) -> String {
    let mut text = String::from(
        "The change cannot be published: it breaks the completion contract that every pull request must meet.\n",
    );
    for v in violations.iter().take(FEEDBACK_LIMIT) {
        text.push_str(&format!("\n- {v}\n  How to comply: {}", v.fix));
    }
    if violations.len() > FEEDBACK_LIMIT {
        text.push_str(&format!(
            "\n- … and {} more of the same kinds",
            violations.len() - FEEDBACK_LIMIT
        ));
    }
    text.push_str("\n\nFix these, run the tests again, then call `finish`.");
    if final_warning {
        text.push_str(
            " If the change still breaks the contract, the run stops without a pull request.",
        );
    }
    text
}

/// A host-side inspection of handed-over commits failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot inspect the handed-over change: {message}")]
pub struct InspectError {
    /// What happened.
    pub message: String,
}

/// Reads a [`ChangeSet`] on the host: unpacks the bundle next to the
/// repository that holds its base and diffs `base..head` with git (hooks
/// disabled, argv only). `agentkit-tools` ships `BundleInspector`.
#[async_trait]
pub trait ChangeInspector: Send + Sync {
    /// The files and lines `changes` adds and removes.
    async fn inspect(&self, changes: &ChangeSet) -> Result<ChangeDiff, InspectError>;
}

#[cfg(test)]
mod tests;
