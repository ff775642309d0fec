use std::sync::Arc;

use agentkit_core::testing::MemorySandbox;
use serde_json::json;

use super::{failure, text};
use crate::tools::EditFile;

const SOURCE: &str = "\
fn main() {
    let total = add(1, 2);
    println!(\"{total}\");
}

fn add(a: i32, b: i32) -> i32 {
    a + b
}
";

fn sandbox() -> Arc<MemorySandbox> {
    Arc::new(MemorySandbox::new().with_file("src/main.rs", SOURCE))
}

#[tokio::test]
async fn replaces_one_occurrence_and_shows_the_result() {
    let sandbox = sandbox();
    let out = text(
        &EditFile,
        sandbox.clone(),
        json!({"path": "src/main.rs", "old_string": "    a + b\n", "new_string": "    // Sum.\n    a + b\n"}),
    )
    .await;
    assert_eq!(
        out,
        "Edited `src/main.rs`: replaced 1 occurrence; now at lines 7-8. Lines 4-9 now read:\n\
         \x20    4\t}\n\
         \x20    5\t\n\
         \x20    6\tfn add(a: i32, b: i32) -> i32 {\n\
         \x20    7\t    // Sum.\n\
         \x20    8\t    a + b\n\
         \x20    9\t}\n"
    );
    assert_eq!(
        sandbox.file("src/main.rs").unwrap(),
        SOURCE.replace("    a + b\n", "    // Sum.\n    a + b\n")
    );
}

#[tokio::test]
async fn replace_all_replaces_every_occurrence() {
    let sandbox = Arc::new(MemorySandbox::new().with_file("a.txt", "x = 1\ny = 2\nx = 3\n"));
    let out = text(
        &EditFile,
        sandbox.clone(),
        json!({"path": "a.txt", "old_string": "x =", "new_string": "z =", "replace_all": true}),
    )
    .await;
    assert_eq!(
        out,
        "Edited `a.txt`: replaced 2 occurrences, now starting at lines 1, 3. Lines 1-3 now read:\n\
         \x20    1\tz = 1\n\
         \x20    2\ty = 2\n\
         \x20    3\tz = 3\n"
    );
    assert_eq!(sandbox.file("a.txt").unwrap(), "z = 1\ny = 2\nz = 3\n");
}

#[tokio::test]
async fn deleting_text_reports_where() {
    let sandbox = Arc::new(MemorySandbox::new().with_file("a.txt", "keep\ndrop\nkeep too\n"));
    let out = text(
        &EditFile,
        sandbox.clone(),
        json!({"path": "a.txt", "old_string": "drop\n", "new_string": ""}),
    )
    .await;
    assert_eq!(
        out,
        "Edited `a.txt`: deleted 1 occurrence at line 2. Lines 1-2 now read:\n\
         \x20    1\tkeep\n\
         \x20    2\tkeep too\n"
    );
}

#[tokio::test]
async fn several_matches_without_replace_all_list_their_lines() {
    let sandbox = Arc::new(MemorySandbox::new().with_file("a.txt", "x = 1\ny = 2\nx = 3\n"));
    assert_eq!(
        failure(
            &EditFile,
            sandbox.clone(),
            json!({"path": "a.txt", "old_string": "x =", "new_string": "z ="})
        )
        .await,
        "old_string occurs 2 times in `a.txt` (starting at lines 1, 3); the file was not changed. \
         Add surrounding lines to old_string so that it matches exactly once, or set replace_all \
         to true to replace every occurrence."
    );
    assert_eq!(sandbox.file("a.txt").unwrap(), "x = 1\ny = 2\nx = 3\n");
}

#[tokio::test]
async fn no_match_shows_the_closest_lines() {
    let out = failure(
        &EditFile,
        sandbox(),
        json!({"path": "src/main.rs", "old_string": "fn add(a: i64, b: i64) -> i64 {\n    a + b", "new_string": "x"}),
    )
    .await;
    assert_eq!(
        out,
        "No match for old_string in `src/main.rs`; the file was not changed.\n\
         The closest text starts at line 6 (its line is 70% similar to the first line of old_string):\n\
         \x20    6\tfn add(a: i32, b: i32) -> i32 {\n\
         \x20    7\t    a + b\n\
         old_string must match the file exactly, including whitespace, indentation and line \
         breaks: copy it from read_file output, without the line-number prefixes."
    );
}

#[tokio::test]
async fn no_match_because_of_indentation_says_so() {
    let out = failure(
        &EditFile,
        sandbox(),
        json!({"path": "src/main.rs", "old_string": "  let total = add(1, 2);\n  println!(\"{total}\");", "new_string": "x"}),
    )
    .await;
    assert_eq!(
        out,
        "No match for old_string in `src/main.rs`; the file was not changed.\n\
         old_string matches lines 2-3 if whitespace at the start and end of each line is ignored, \
         so the indentation or spacing differs. The file has:\n\
         \x20    2\t    let total = add(1, 2);\n\
         \x20    3\t    println!(\"{total}\");\n\
         old_string must match the file exactly, including whitespace, indentation and line \
         breaks: copy it from read_file output, without the line-number prefixes."
    );
}

#[tokio::test]
async fn no_match_with_line_number_prefixes_or_nothing_similar() {
    let out = failure(
        &EditFile,
        sandbox(),
        json!({"path": "src/main.rs", "old_string": "     7\t    a + b", "new_string": "x"}),
    )
    .await;
    assert!(
        out.contains("old_string seems to start its lines with line numbers and a tab"),
        "{out}"
    );
    let out = failure(
        &EditFile,
        sandbox(),
        json!({"path": "src/main.rs", "old_string": "completely unrelated", "new_string": "x"}),
    )
    .await;
    assert!(
        out.contains("No line in the file resembles the first line of old_string"),
        "{out}"
    );
}

#[tokio::test]
async fn crlf_files_match_old_strings_written_with_lf() {
    let sandbox = Arc::new(MemorySandbox::new().with_file("w.txt", "a\r\nb\r\nc\r\n"));
    text(
        &EditFile,
        sandbox.clone(),
        json!({"path": "w.txt", "old_string": "a\nb", "new_string": "A\nB"}),
    )
    .await;
    assert_eq!(sandbox.file("w.txt").unwrap(), "A\r\nB\r\nc\r\n");
}

#[tokio::test]
async fn degenerate_requests_are_refused() {
    assert_eq!(
        failure(
            &EditFile,
            sandbox(),
            json!({"path": "src/main.rs", "old_string": "", "new_string": "x"})
        )
        .await,
        "old_string is empty; copy the exact text to replace from read_file output. To create a \
         file or replace all of it, use write_file."
    );
    assert_eq!(
        failure(
            &EditFile,
            sandbox(),
            json!({"path": "src/main.rs", "old_string": "a + b", "new_string": "a + b"})
        )
        .await,
        "old_string and new_string are identical, so nothing would change; put the text you want \
         in new_string."
    );
    assert_eq!(
        failure(
            &EditFile,
            sandbox(),
            json!({"path": "missing.rs", "old_string": "a", "new_string": "b"})
        )
        .await,
        "no such file or directory: `missing.rs`; check the path with list_files, or create the \
         file with write_file"
    );
}
