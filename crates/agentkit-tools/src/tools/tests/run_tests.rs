//! `run_tests` on a real pytest run in a real directory.

use std::sync::Arc;

use agentkit_core::sandbox::Sandbox;
use agentkit_core::tool::ToolOutput;
use serde_json::json;

use super::call;
use super::dir_sandbox::DirSandbox;
use crate::tools::RunTests;

fn pytest_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-m", "pytest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 -m pytest is required under CI"
        );
        eprintln!("SKIPPED: python3 -m pytest is not installed");
    }
    ok
}

#[tokio::test]
async fn failures_are_listed_with_test_file_line_and_message() {
    if !pytest_available() {
        return;
    }
    let sandbox = Arc::new(DirSandbox::new());
    sandbox
        .write("calc.py", b"def add(a, b):\n    return a - b\n")
        .await
        .unwrap();
    sandbox
        .write("test_calc.py", b"from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n")
        .await
        .unwrap();
    let out = call(
        &RunTests,
        sandbox.clone(),
        // `-B`: no bytecode cache: calc.py is rewritten with the same size within
        // the same second, which a cached .pyc would not notice.
        json!({"command": "python3 -B -m pytest -rA -p no:cacheprovider"}),
    )
    .await
    .unwrap();
    let ToolOutput::Text { content: text } = out else {
        panic!("{out:?}")
    };
    assert!(
        text.starts_with("exit 1\n1 problem:\n- test_calc.py:5: test `test_calc.py::test_add` failed: assert -1 == 5\n--- end of output ---\n"),
        "{text}"
    );
    sandbox
        .write("calc.py", b"def add(a, b):\n    return a + b\n")
        .await
        .unwrap();
    let out = call(
        &RunTests,
        sandbox,
        json!({"command": "python3 -B -m pytest -q -p no:cacheprovider"}),
    )
    .await
    .unwrap();
    let ToolOutput::Text { content: text } = out else {
        panic!("{out:?}")
    };
    assert!(
        text.starts_with("exit 0\nPassed.\n") && text.contains("2 passed"),
        "{text}"
    );
}
