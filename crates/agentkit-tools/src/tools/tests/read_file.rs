use std::sync::Arc;

use agentkit_core::testing::MemorySandbox;
use serde_json::json;

use super::{failure, text};
use crate::tools::ReadFile;

fn sandbox() -> Arc<MemorySandbox> {
    Arc::new(
        MemorySandbox::new()
            .with_file("src/lib.rs", "fn a() {}\nfn b() {}\nfn c() {}\n")
            .with_file("bin/blob", "PK\u{0}\u{3}binary")
            .with_file("empty.txt", ""),
    )
}

#[tokio::test]
async fn whole_file_is_numbered() {
    assert_eq!(
        text(&ReadFile, sandbox(), json!({"path": "src/lib.rs"})).await,
        "     1\tfn a() {}\n     2\tfn b() {}\n     3\tfn c() {}\n"
    );
}

#[tokio::test]
async fn a_range_is_shown_with_its_place_in_the_file() {
    assert_eq!(
        text(
            &ReadFile,
            sandbox(),
            json!({"path": "src/lib.rs", "start_line": 2, "end_line": 2})
        )
        .await,
        "     2\tfn b() {}\n[Lines 2-2 of 3.]\n"
    );
    // An end past the last line is clamped.
    assert_eq!(
        text(
            &ReadFile,
            sandbox(),
            json!({"path": "src/lib.rs", "start_line": 3, "end_line": 99})
        )
        .await,
        "     3\tfn c() {}\n[Lines 3-3 of 3.]\n"
    );
}

#[tokio::test]
async fn invalid_ranges_state_the_line_count() {
    assert_eq!(
        failure(
            &ReadFile,
            sandbox(),
            json!({"path": "src/lib.rs", "start_line": 3, "end_line": 2})
        )
        .await,
        "start_line 3 is after end_line 2; `src/lib.rs` has 3 lines"
    );
    assert_eq!(
        failure(
            &ReadFile,
            sandbox(),
            json!({"path": "src/lib.rs", "start_line": 4})
        )
        .await,
        "start_line 4 is beyond the end of `src/lib.rs`, which has 3 lines"
    );
    assert_eq!(
        failure(
            &ReadFile,
            sandbox(),
            json!({"path": "src/lib.rs", "start_line": 0})
        )
        .await,
        "start_line must be 1 or more (lines are numbered from 1); `src/lib.rs` has 3 lines"
    );
}

#[tokio::test]
async fn binary_files_are_described_not_dumped() {
    assert_eq!(
        text(&ReadFile, sandbox(), json!({"path": "bin/blob"})).await,
        "`bin/blob` is a binary file (10 bytes); its content is not shown. Use the shell tool \
         (e.g. `xxd bin/blob | head`) if you need to inspect it."
    );
}

#[tokio::test]
async fn empty_missing_and_directory_paths() {
    assert_eq!(
        text(&ReadFile, sandbox(), json!({"path": "empty.txt"})).await,
        "`empty.txt` is empty (0 lines)."
    );
    assert_eq!(
        failure(&ReadFile, sandbox(), json!({"path": "nope.rs"})).await,
        "no such file or directory: `nope.rs`; call list_files to find the right path"
    );
    assert_eq!(
        failure(&ReadFile, sandbox(), json!({"path": "src"})).await,
        "`src` is a directory; call list_files with this path to see its files"
    );
    assert_eq!(
        failure(&ReadFile, sandbox(), json!({"path": "../etc/passwd"})).await,
        "path `../etc/passwd` is outside the workspace; use a path relative to the repository root"
    );
}

#[tokio::test]
async fn long_files_are_capped_with_directions_to_read_on() {
    let body: String = (1..=2500).map(|n| format!("line {n}\n")).collect();
    let sandbox = Arc::new(MemorySandbox::new().with_file("big.txt", &body));
    let out = text(&ReadFile, sandbox.clone(), json!({"path": "big.txt"})).await;
    assert_eq!(out.lines().count(), 2001);
    assert!(out.starts_with("     1\tline 1\n"));
    assert!(out.contains("  2000\tline 2000\n"));
    assert!(out.ends_with(
        "[Lines 1-2000 of 2500 shown; output is capped at 2000 lines or 256 KiB per call. \
         Call read_file with start_line=2001 to read on.]\n"
    ));
    let rest = text(
        &ReadFile,
        sandbox,
        json!({"path": "big.txt", "start_line": 2001}),
    )
    .await;
    assert!(rest.starts_with("  2001\tline 2001\n"));
    assert!(rest.ends_with("  2500\tline 2500\n[Lines 2001-2500 of 2500.]\n"));
}

#[tokio::test]
async fn the_byte_cap_applies_to_wide_files() {
    let line = "x".repeat(1000);
    let body: String = (0..400).map(|_| format!("{line}\n")).collect();
    let sandbox = Arc::new(MemorySandbox::new().with_file("wide.txt", &body));
    let out = text(&ReadFile, sandbox, json!({"path": "wide.txt"})).await;
    assert!(out.len() <= 256 * 1024 + 300, "{}", out.len());
    assert!(
        out.contains("Call read_file with start_line=261 to read on."),
        "{}",
        &out[out.len() - 200..]
    );
}
