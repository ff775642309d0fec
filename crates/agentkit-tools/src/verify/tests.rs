use std::path::Path;
use std::time::Duration;

use agentkit_core::sandbox::{
    CapturedOutput, Command, ExecOutput, ExecRequest, FileStat, Sandbox, SandboxError,
};
use agentkit_core::testing::{MemorySandbox, exec_output};
use agentkit_core::verify::{CheckResult, Verifier, VerifyError};
use async_trait::async_trait;

use super::*;

fn script(request: &ExecRequest) -> &str {
    match &request.command {
        Command::Script(script) => script,
        Command::Argv(_) => panic!("checks run as scripts"),
    }
}

fn failing(stdout: &str, stderr: &str, code: i32) -> ExecOutput {
    let mut out = exec_output(code, stdout);
    out.stderr = CapturedOutput {
        text: stderr.to_string(),
        truncated: false,
        total_bytes: stderr.len() as u64,
    };
    out
}

#[tokio::test]
async fn passing_checks_pass_with_a_short_tail() {
    let sandbox = MemorySandbox::new().with_exec(|request| {
        let noise = "running test\n".repeat(500);
        Ok(exec_output(
            0,
            &format!("{noise}{}: ok. 42 passed\n", script(request)),
        ))
    });
    let verifier = CommandVerifier::new()
        .check("tests", "cargo test")
        .check("lint", "cargo clippy");
    let verification = verifier.verify(&sandbox).await.unwrap();
    assert!(verification.passed);
    assert_eq!(verification.checks.len(), 2);
    let tests = &verification.checks[0];
    assert_eq!(
        (tests.name.as_str(), tests.command.as_str()),
        ("tests", "cargo test")
    );
    assert_eq!(tests.status, "exit 0");
    assert!(tests.output.len() <= 1024);
    assert!(tests.output.ends_with("cargo test: ok. 42 passed"));

    let executed = sandbox.executed();
    assert_eq!(executed.len(), 2);
    assert_eq!(executed[0].command, Command::Script("cargo test".into()));
    assert_eq!(executed[0].timeout, CommandVerifier::DEFAULT_TIMEOUT);
    assert_eq!(executed[1].command, Command::Script("cargo clippy".into()));
}

#[tokio::test]
async fn a_failing_check_reports_the_relevant_part_of_long_output() {
    let sandbox = MemorySandbox::new().with_exec(|request| {
        if script(request) == "make lint" {
            return Ok(exec_output(0, "clean"));
        }
        let mut stdout = String::new();
        for i in 0..3000 {
            stdout.push_str(&format!("test module::case_{i} ... ok\n"));
        }
        stdout.push_str("test module::parses_tabs ... FAILED\n");
        for i in 0..3000 {
            stdout.push_str(&format!("test other::case_{i} ... ok\n"));
        }
        stdout.push_str(
            "\nfailures:\n\n---- module::parses_tabs stdout ----\n\
             thread 'module::parses_tabs' panicked at src/parse.rs:88:9:\n\
             assertion `left == right` failed\n  left: 1\n right: 2\n",
        );
        stdout.push_str(&"padding\n".repeat(2000));
        stdout.push_str("test result: FAILED. 6000 passed; 1 failed\n");
        Ok(failing(
            &stdout,
            "error: test failed, to rerun pass `--lib`\n",
            101,
        ))
    });
    // The text windows (structured diagnostics are pinned below).
    let verifier = CommandVerifier::new()
        .with_check(Check::new("tests", "cargo test").diagnostics(diagnostics::Format::Text))
        .check("lint", "make lint")
        .output_budget(4096);
    let verification = verifier.verify(&sandbox).await.unwrap();
    assert!(!verification.passed);
    assert!(verification.checks[1].passed, "later checks still run");
    let tests = &verification.checks[0];
    assert!(!tests.passed);
    assert_eq!(tests.status, "exit 101");
    let out = &tests.output;
    assert!(out.len() <= 4096, "{} bytes", out.len());
    assert!(out.starts_with("[output truncated: "), "{out}");
    for needle in [
        "test module::parses_tabs ... FAILED",
        "panicked at src/parse.rs:88:9",
        "assertion `left == right` failed",
        " right: 2",
        "test result: FAILED. 6000 passed; 1 failed",
        "--- stderr ---\nerror: test failed, to rerun pass `--lib`",
        "lines omitted …]",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert!(!out.contains("case_1500 "), "{out}");
    let feedback = verification.feedback();
    assert!(
        feedback.contains("### `tests` (cargo test) — exit 101"),
        "{feedback}"
    );
}

#[tokio::test]
async fn a_timed_out_check_fails_with_a_clear_status() {
    let sandbox = MemorySandbox::new().with_exec(|request| {
        Ok(ExecOutput {
            exit_code: None,
            signal: Some(9),
            stdout: CapturedOutput {
                text: "test slow ... ".into(),
                truncated: false,
                total_bytes: 14,
            },
            stderr: CapturedOutput::default(),
            duration: request.timeout,
            timed_out: true,
        })
    });
    let verifier = CommandVerifier::new().with_check(
        Check::new("tests", "pytest")
            .timeout(Duration::from_secs(90))
            .cwd("py")
            .env("CI", "1"),
    );
    let verification = verifier.verify(&sandbox).await.unwrap();
    assert_eq!(
        verification.checks,
        vec![CheckResult {
            name: "tests".into(),
            command: "pytest".into(),
            passed: false,
            status: "timed out after 90.0s".into(),
            output: "The check was stopped after its 90s time limit. \
                     Output before it was stopped:\ntest slow ..."
                .into(),
            duration: Duration::from_secs(90),
        }]
    );
    let executed = sandbox.executed();
    assert_eq!(executed[0].timeout, Duration::from_secs(90));
    assert_eq!(executed[0].cwd.as_deref(), Some("py"));
    assert_eq!(executed[0].env.get("CI").map(String::as_str), Some("1"));
}

#[tokio::test]
async fn a_sandbox_failure_is_an_error_not_a_failed_check() {
    let sandbox = MemorySandbox::new().with_exec(|_| {
        Err(SandboxError::Gone {
            reason: "container exited".into(),
        })
    });
    let err = CommandVerifier::new()
        .check("tests", "cargo test")
        .verify(&sandbox)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Sandbox(SandboxError::Gone { .. })
    ));
}

#[tokio::test]
async fn no_checks_pass_trivially() {
    let verification = CommandVerifier::new()
        .verify(&MemorySandbox::new())
        .await
        .unwrap();
    assert!(verification.passed);
    assert!(verification.checks.is_empty());
}

/// A sandbox that runs scripts on the host with `sh -c`, for one real check.
struct HostShell;

#[async_trait]
impl Sandbox for HostShell {
    fn id(&self) -> &str {
        "host-shell"
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, SandboxError> {
        let Command::Script(script) = &request.command else {
            return Err(SandboxError::Spawn {
                reason: "argv unsupported".into(),
            });
        };
        let started = std::time::Instant::now();
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|err| SandboxError::Spawn {
                reason: err.to_string(),
            })?;
        let captured = |bytes: &[u8]| CapturedOutput {
            text: String::from_utf8_lossy(bytes).into_owned(),
            truncated: false,
            total_bytes: bytes.len() as u64,
        };
        Ok(ExecOutput {
            exit_code: out.status.code(),
            signal: None,
            stdout: captured(&out.stdout),
            stderr: captured(&out.stderr),
            duration: started.elapsed(),
            timed_out: false,
        })
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        Err(SandboxError::NotFound { path: path.into() })
    }

    async fn write(&self, path: &str, _: &[u8]) -> Result<(), SandboxError> {
        Err(SandboxError::NotFound { path: path.into() })
    }

    async fn list(&self, path: &str) -> Result<Vec<FileStat>, SandboxError> {
        Err(SandboxError::NotFound { path: path.into() })
    }

    async fn remove(&self, path: &str) -> Result<(), SandboxError> {
        Err(SandboxError::NotFound { path: path.into() })
    }

    async fn stat(&self, path: &str) -> Result<FileStat, SandboxError> {
        Err(SandboxError::NotFound { path: path.into() })
    }

    async fn close(&self) -> Result<(), SandboxError> {
        Ok(())
    }

    fn host_workspace(&self) -> Option<&Path> {
        None
    }
}

#[tokio::test]
async fn runs_real_commands() {
    let verifier = CommandVerifier::new().check("ok", "echo all good").check(
        "broken",
        "echo building; echo 'error: expected `;`' >&2; exit 3",
    );
    let verification = verifier.verify(&HostShell).await.unwrap();
    assert!(!verification.passed);
    let ok = &verification.checks[0];
    assert_eq!((ok.passed, ok.output.as_str()), (true, "all good"));
    let broken = &verification.checks[1];
    assert!(!broken.passed);
    assert_eq!(broken.status, "exit 3");
    assert_eq!(
        broken.output,
        "building\n--- stderr ---\nerror: expected `;`"
    );
}

#[tokio::test]
async fn a_failing_check_reports_structured_diagnostics_when_it_can() {
    let sandbox = MemorySandbox::new().with_exec(|_| {
        Ok(failing(
            "============================= test session starts ==============================\n\
             tests/test_calc.py F                                                     [100%]\n\
             =================================== FAILURES ===================================\n\
             ___________________________________ test_add ___________________________________\n\
             \n    def test_add():\n>       assert add(2, 3) == 5\nE       assert -1 == 5\n\n\
             tests/test_calc.py:7: AssertionError\n\
             =========================== short test summary info ============================\n\
             FAILED tests/test_calc.py::test_add - assert -1 == 5\n\
             ============================== 1 failed in 0.01s ===============================\n",
            "",
            1,
        ))
    });
    let verifier = CommandVerifier::new().check("tests", "python3 -m pytest -rA");
    let verification = verifier.verify(&sandbox).await.unwrap();
    let out = &verification.checks[0].output;
    assert!(
        out.starts_with(
            "1 problem:\n- tests/test_calc.py:7: test `tests/test_calc.py::test_add` failed: assert -1 == 5\n--- end of output ---\n"
        ),
        "{out}"
    );
}
