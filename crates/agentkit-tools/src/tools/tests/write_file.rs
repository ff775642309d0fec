use std::sync::Arc;

use agentkit_core::testing::MemorySandbox;
use serde_json::json;

use super::{failure, text};
use crate::tools::WriteFile;

#[tokio::test]
async fn creates_then_overwrites() {
    let sandbox = Arc::new(MemorySandbox::new());
    assert_eq!(
        text(
            &WriteFile,
            sandbox.clone(),
            json!({"path": "a/b/new.txt", "content": "one\ntwo\n"})
        )
        .await,
        "Created `a/b/new.txt` (8 bytes, 2 lines)."
    );
    assert_eq!(sandbox.file("a/b/new.txt").as_deref(), Some("one\ntwo\n"));
    assert_eq!(
        text(
            &WriteFile,
            sandbox.clone(),
            json!({"path": "a/b/new.txt", "content": "1"})
        )
        .await,
        "Overwrote `a/b/new.txt` (1 byte, 1 line; it held 8 bytes before)."
    );
    assert_eq!(sandbox.file("a/b/new.txt").as_deref(), Some("1"));
}

#[tokio::test]
async fn refuses_directories_and_escapes() {
    let sandbox = Arc::new(MemorySandbox::new().with_file("src/lib.rs", ""));
    assert_eq!(
        failure(
            &WriteFile,
            sandbox.clone(),
            json!({"path": "src", "content": "x"})
        )
        .await,
        "`src` is a directory; give the path of a file inside it"
    );
    assert_eq!(
        failure(
            &WriteFile,
            sandbox,
            json!({"path": "/etc/passwd", "content": "x"})
        )
        .await,
        "path `/etc/passwd` is outside the workspace; use a path relative to the repository root"
    );
}
