//! The diagnostics parsers on real output: cargo, pytest and go are run here
//! on small failing projects. A missing program prints `SKIPPED` (and fails
//! under `CI`, where `.ci/run` installs pytest and Go).

use std::path::Path;
use std::process::Command;

use agentkit_tools::verify::diagnostics::{Diagnostic, Format, parse};

fn have(program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{program}` is required under CI"
        );
        eprintln!("SKIPPED: `{program} {}` does not run here", args.join(" "));
    }
    ok
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the fixture must fail");
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn d(test: Option<&str>, file: &str, line: u32, column: Option<u32>, message: &str) -> Diagnostic {
    Diagnostic {
        test: test.map(str::to_string),
        file: Some(file.into()),
        line: Some(line),
        column,
        message: message.into(),
    }
}

const CARGO_TOML: &str =
    "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";

#[test]
fn cargo_test_failures_from_libtest() {
    if !have("cargo", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("Cargo.toml", CARGO_TOML),
            (
                "src/lib.rs",
                "pub fn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::add(2, 3), 5);\n    }\n}\n",
            ),
        ],
    );
    let out = run(
        dir.path(),
        "cargo",
        &["test", "--offline", "--quiet", "--message-format=json"],
    );
    assert_eq!(
        parse(Format::Auto, &out).unwrap(),
        vec![d(
            Some("tests::adds"),
            "src/lib.rs",
            9,
            Some(9),
            "assertion `left == right` failed\n  left: -1\n right: 5"
        )]
    );
}

#[test]
fn cargo_compile_errors_from_json_messages() {
    if !have("cargo", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("Cargo.toml", CARGO_TOML),
            (
                "src/lib.rs",
                "pub fn n() -> u32 {\n    let x: u32 = \"one\";\n    x\n}\n",
            ),
        ],
    );
    let out = run(
        dir.path(),
        "cargo",
        &["build", "--offline", "--quiet", "--message-format=json"],
    );
    assert_eq!(
        parse(Format::Auto, &out).unwrap(),
        vec![d(
            None,
            "src/lib.rs",
            2,
            Some(18),
            "E0308: mismatched types"
        )]
    );
}

#[test]
fn pytest_summary_and_locations() {
    if !have("python3", &["-m", "pytest", "--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("calc.py", "def add(a, b):\n    return a - b\n"),
            (
                "tests/test_calc.py",
                "import sys, os\nsys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))\nfrom calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n\n\nclass TestMore:\n    def test_neg(self):\n        assert add(-1, -1) == -2\n",
            ),
        ],
    );
    let out = run(
        dir.path(),
        "python3",
        &["-m", "pytest", "-rA", "-p", "no:cacheprovider", "tests"],
    );
    assert_eq!(
        parse(Format::Auto, &out).unwrap(),
        vec![
            d(
                Some("tests/test_calc.py::test_add"),
                "tests/test_calc.py",
                7,
                None,
                "assert -1 == 5"
            ),
            d(
                Some("tests/test_calc.py::TestMore::test_neg"),
                "tests/test_calc.py",
                16,
                None,
                "assert 0 == -2"
            ),
        ]
    );
}

#[test]
fn go_test_json_events() {
    if !have("go", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("go.mod", "module calc\n\ngo 1.18\n"),
            (
                "calc.go",
                "package calc\n\nfunc Add(a, b int) int { return a - b }\n",
            ),
            (
                "calc_test.go",
                "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif got := Add(2, 3); got != 5 {\n\t\tt.Errorf(\"Add(2, 3) = %d, want 5\", got)\n\t}\n}\n\nfunc TestZero(t *testing.T) {\n\tif Add(0, 0) != 0 {\n\t\tt.Fatal(\"zero\")\n\t}\n}\n",
            ),
        ],
    );
    let cache = dir.path().join(".gocache");
    let out = Command::new("go")
        .args(["test", "-json", "./..."])
        .current_dir(dir.path())
        .env("GOCACHE", &cache)
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        parse(Format::Auto, &text).unwrap(),
        vec![d(
            Some("TestAdd"),
            "calc_test.go",
            7,
            None,
            "Add(2, 3) = -1, want 5"
        )]
    );
}
