use agentkit_core::context::{ContextItem, ContextProvider, ContextRequest};
use agentkit_core::sandbox::{ExecOutput, ExecRequest, FileKind, FileStat, Sandbox, SandboxError};
use agentkit_core::task::{RepoRef, Task};
use agentkit_core::testing::MemorySandbox;
use async_trait::async_trait;

use super::RuleFiles;

async fn provide(rules: &RuleFiles, sandbox: &dyn Sandbox) -> Vec<ContextItem> {
    let task = Task::new("T-1", "t", "b", RepoRef::new("/repo"));
    let request = ContextRequest {
        task: &task,
        sandbox,
        history: &[],
        budget_tokens: 0,
    };
    rules.provide(&request).await.unwrap()
}

fn titles(items: &[ContextItem]) -> Vec<(&str, i32)> {
    items
        .iter()
        .map(|i| (i.title.as_str(), i.priority))
        .collect()
}

#[tokio::test]
async fn reads_agents_files_down_to_the_working_dir_and_root_rule_files() {
    let sandbox = MemorySandbox::new()
        .with_file("AGENTS.md", "# Root rules\nUse tabs.\n")
        .with_file("crates/AGENTS.md", "crates rules")
        .with_file("crates/foo/AGENTS.md", "foo rules")
        .with_file("crates/bar/AGENTS.md", "not on the way")
        .with_file("crates/foo/src/AGENTS.md", "below the working dir")
        .with_file("CLAUDE.md", "claude rules")
        .with_file(".github/copilot-instructions.md", "copilot rules")
        .with_file("docs/AGENTS.md", "elsewhere");
    let rules = RuleFiles::new().working_dir("./crates/foo/");
    let items = provide(&rules, &sandbox).await;
    assert_eq!(
        titles(&items),
        vec![
            ("crates/foo/AGENTS.md", 120),
            ("crates/AGENTS.md", 110),
            ("AGENTS.md", 100),
            ("CLAUDE.md", 90),
            (".github/copilot-instructions.md", 90),
        ]
    );
    assert_eq!(
        items[2],
        ContextItem {
            source: "rules".into(),
            title: "AGENTS.md".into(),
            body: "# Root rules\nUse tabs.".into(),
            priority: 100,
            tokens: 0,
        }
    );
}

#[tokio::test]
async fn an_empty_repository_gives_nothing() {
    let items = provide(&RuleFiles::new().working_dir("a/b"), &MemorySandbox::new()).await;
    assert_eq!(items, vec![]);
}

#[tokio::test]
async fn a_working_dir_outside_the_repository_is_an_error() {
    let task = Task::new("T-1", "t", "b", RepoRef::new("/repo"));
    let sandbox = MemorySandbox::new();
    let request = ContextRequest {
        task: &task,
        sandbox: &sandbox,
        history: &[],
        budget_tokens: 0,
    };
    let err = RuleFiles::new()
        .working_dir("../elsewhere")
        .provide(&request)
        .await
        .unwrap_err();
    assert!(err.message.contains("not inside the repository"), "{err}");
}

#[tokio::test]
async fn the_budget_truncates_then_drops_files_most_specific_first() {
    let sandbox = MemorySandbox::new()
        .with_file("sub/AGENTS.md", &"specific rule\n".repeat(40)) // 560 bytes
        .with_file("AGENTS.md", &"root rule line\n".repeat(200)) // 3000 bytes
        .with_file("CLAUDE.md", "dropped for lack of room");
    let rules = RuleFiles::new().working_dir("sub").budget_bytes(2048);
    let items = provide(&rules, &sandbox).await;
    assert_eq!(
        titles(&items),
        vec![
            ("sub/AGENTS.md", 110),
            ("AGENTS.md", 100),
            (RuleFiles::NOT_SHOWN_TITLE, 80),
        ]
    );
    assert_eq!(items[0].body, "specific rule\n".repeat(40).trim_end());
    let root = &items[1].body;
    assert!(root.starts_with("root rule line\n"));
    assert!(
        root.ends_with(
            "root rule line\n\n[truncated: `AGENTS.md` is 2999 bytes; the rest is over the \
             2048-byte rule-file budget — read the file for all of it]"
        ),
        "{root}"
    );
    assert!(items[0].body.len() + root.len() <= 2048);
    assert_eq!(
        items[2].body,
        "These rule files exist but are not shown; read them with the file tools if they \
         matter:\n- `CLAUDE.md` (24 bytes): over the 2048-byte rule-file budget"
    );
}

#[tokio::test]
async fn the_request_token_budget_lowers_the_byte_budget() {
    let sandbox = MemorySandbox::new().with_file("AGENTS.md", &"x".repeat(10_000));
    let task = Task::new("T-1", "t", "b", RepoRef::new("/repo"));
    let request = ContextRequest {
        task: &task,
        sandbox: &sandbox,
        history: &[],
        budget_tokens: 500,
    };
    let items = RuleFiles::new().provide(&request).await.unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].body.len() <= 2000, "{}", items[0].body.len());
    assert!(
        items[0]
            .body
            .contains("[truncated: `AGENTS.md` is 10000 bytes")
    );
}

#[tokio::test]
async fn non_utf8_is_decoded_lossily_and_duplicates_are_shown_once() {
    let sandbox = MemorySandbox::new().with_file("CLAUDE.md", "same rules");
    sandbox.write("AGENTS.md", b"caf\xe9 rules").await.unwrap();
    sandbox.write(".cursorrules", b"same rules").await.unwrap();
    sandbox
        .write(".github/copilot-instructions.md", b"  \n")
        .await
        .unwrap();
    let items = provide(&RuleFiles::new(), &sandbox).await;
    assert_eq!(titles(&items), vec![("AGENTS.md", 100), ("CLAUDE.md", 90)]);
    assert_eq!(items[0].body, "caf\u{fffd} rules");
}

/// A sandbox where one path is a symlink leading out of the workspace, and
/// one protected path: the sandbox refuses both.
struct Escaping(MemorySandbox);

#[async_trait]
impl Sandbox for Escaping {
    fn id(&self) -> &str {
        "escaping"
    }

    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, SandboxError> {
        self.0.exec(request).await
    }

    async fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        match path {
            "CLAUDE.md" => Err(SandboxError::OutsideWorkspace { path: path.into() }),
            _ => self.0.read(path).await,
        }
    }

    async fn write(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        self.0.write(path, contents).await
    }

    async fn list(&self, path: &str) -> Result<Vec<FileStat>, SandboxError> {
        self.0.list(path).await
    }

    async fn remove(&self, path: &str) -> Result<(), SandboxError> {
        self.0.remove(path).await
    }

    async fn stat(&self, path: &str) -> Result<FileStat, SandboxError> {
        match path {
            "CLAUDE.md" => Ok(FileStat {
                path: path.into(),
                kind: FileKind::Symlink,
                size: 11,
            }),
            ".cursorrules" => Err(SandboxError::Protected { path: path.into() }),
            _ => self.0.stat(path).await,
        }
    }

    async fn close(&self) -> Result<(), SandboxError> {
        self.0.close().await
    }
}

#[tokio::test]
async fn a_file_the_sandbox_refuses_is_listed_not_fatal() {
    let sandbox = Escaping(MemorySandbox::new().with_file("AGENTS.md", "rules"));
    let items = provide(&RuleFiles::new(), &sandbox).await;
    assert_eq!(
        titles(&items),
        vec![("AGENTS.md", 100), (RuleFiles::NOT_SHOWN_TITLE, 80)]
    );
    let note = &items[1].body;
    assert!(
        note.contains("- `CLAUDE.md`: path `CLAUDE.md` is outside the workspace"),
        "{note}"
    );
    assert!(
        note.contains("- `.cursorrules`: path `.cursorrules` is protected"),
        "{note}"
    );
}

#[tokio::test]
async fn a_closed_sandbox_fails_the_provider() {
    let sandbox = MemorySandbox::new().with_file("AGENTS.md", "rules");
    sandbox.close().await.unwrap();
    let task = Task::new("T-1", "t", "b", RepoRef::new("/repo"));
    let request = ContextRequest {
        task: &task,
        sandbox: &sandbox,
        history: &[],
        budget_tokens: 0,
    };
    let err = RuleFiles::new().provide(&request).await.unwrap_err();
    assert_eq!(err.provider, "rules");
    assert!(err.message.contains("gone"), "{err}");
}
