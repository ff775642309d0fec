//! A small Python repository with a bug, and scripted-model helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Whether `python3 -m pytest` runs here; prints `SKIPPED` (or fails under CI) when not.
pub fn pytest_available() -> bool {
    let ok = Command::new("python3")
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

pub const CALC: &str = "def add(a, b):\n    return a - b\n";
pub const FIXED: &str = "def add(a, b):\n    return a + b\n";
pub const TESTS: &str = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_add_zero():\n    assert add(0, 4) == 4\n";

/// A repository with a bug in `calc.py`, its tests, and `extra` files
/// (e.g. `.agentkit/policy.toml`). Nothing is ignored: `__pycache__` would be
/// committed by a careless handover.
pub fn repo(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let mut files = vec![
        ("calc.py", CALC),
        ("tests/test_calc.py", TESTS),
        (
            "tests/conftest.py",
            "import os, sys\nsys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))\n",
        ),
    ];
    files.extend_from_slice(extra);
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "init"]);
    dir
}

pub fn write(path: &str, content: &str) -> Value {
    json!({"name": "write_file", "arguments": {"path": path, "content": content}})
}

pub fn shell(command: &str) -> Value {
    json!({"name": "shell", "arguments": {"command": command}})
}

pub fn finish() -> Value {
    json!({"name": "finish", "arguments": {"summary": "Fixed add."}})
}
