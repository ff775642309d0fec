//! The code index, the repo map, retrieval and the code tools against the
//! multi-language fixture in `tests/fixtures/polyglot` (copied into a real
//! directory sandbox per test).
#![cfg(feature = "repo-map")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentkit_core::CancellationToken;
use agentkit_core::context::{ContextEngine, ContextProvider, ContextRequest};
use agentkit_core::message::Message;
use agentkit_core::sandbox::{
    ExecOutput, ExecRequest, FileStat, Sandbox, SandboxError, SandboxPolicy,
};
use agentkit_core::task::{RepoRef, Task};
use agentkit_core::testing::MemorySandbox;
use agentkit_core::tokenizer::ApproxTokenizer;
use agentkit_core::tool::{ToolContext, ToolError, ToolOutput, ToolSet};
use agentkit_sandbox::local::LocalSandbox;
use agentkit_tools::context::code::{RefreshStats, SkippedFile};
use agentkit_tools::context::{CodeIndex, CodeSearch, EmbedError, Embedder, RepoMap};
use agentkit_tools::tools::code_tools;
use async_trait::async_trait;

const FIXTURE_FILES: usize = 11;

/// A `LocalSandbox` over a copy of the fixture; `hide_host` makes the index
/// take the in-sandbox path (`find` and `Sandbox::read`).
struct Fixture {
    inner: LocalSandbox,
    hide_host: bool,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/polyglot"),
            dir.path(),
        );
        let env: BTreeMap<String, String> = std::env::var("PATH")
            .map(|p| BTreeMap::from([("PATH".to_string(), p)]))
            .unwrap_or_default();
        let inner = LocalSandbox::attach(dir.path(), SandboxPolicy::default(), env).unwrap();
        Self {
            inner,
            hide_host: false,
            dir,
        }
    }

    fn hiding_host(mut self) -> Self {
        self.hide_host = true;
        self
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file and moves its modification time forward, as an edit would.
    fn edit(&self, rel: &str, contents: &[u8]) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(60))
            .unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[async_trait]
impl Sandbox for Fixture {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn host_workspace(&self) -> Option<&Path> {
        (!self.hide_host).then(|| self.inner.root())
    }
    async fn exec(&self, request: ExecRequest) -> Result<ExecOutput, SandboxError> {
        self.inner.exec(request).await
    }
    async fn read(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        self.inner.read(path).await
    }
    async fn write(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        self.inner.write(path, contents).await
    }
    async fn list(&self, path: &str) -> Result<Vec<FileStat>, SandboxError> {
        self.inner.list(path).await
    }
    async fn remove(&self, path: &str) -> Result<(), SandboxError> {
        self.inner.remove(path).await
    }
    async fn stat(&self, path: &str) -> Result<FileStat, SandboxError> {
        self.inner.stat(path).await
    }
    async fn close(&self) -> Result<(), SandboxError> {
        self.inner.close().await
    }
}

fn map() -> RepoMap {
    RepoMap::new(CodeIndex::new()).tokenizer(Arc::new(ApproxTokenizer))
}

fn tools(map: &RepoMap) -> ToolSet {
    code_tools(ToolSet::new(), map)
}

async fn call(
    tools: &ToolSet,
    name: &str,
    sandbox: Arc<dyn Sandbox>,
    args: serde_json::Value,
) -> Result<ToolOutput, ToolError> {
    let cx = ToolContext {
        sandbox,
        task: Arc::new(Task::new("T-1", "t", "b", RepoRef::new("."))),
        call_id: "call-1".into(),
        cancel: CancellationToken::new(),
    };
    tools
        .get(name)
        .unwrap()
        .call_raw(&args.to_string(), &cx)
        .await
}

async fn text(
    tools: &ToolSet,
    name: &str,
    sandbox: Arc<dyn Sandbox>,
    args: serde_json::Value,
) -> String {
    match call(tools, name, sandbox, args).await {
        Ok(ToolOutput::Text { content }) => content,
        other => panic!("expected text, got {other:?}"),
    }
}

async fn invalid(
    tools: &ToolSet,
    name: &str,
    sandbox: Arc<dyn Sandbox>,
    args: serde_json::Value,
) -> String {
    match call(tools, name, sandbox, args).await {
        Err(err @ ToolError::InvalidArguments { .. }) => err.message_for_model(),
        other => panic!("expected invalid arguments, got {other:?}"),
    }
}

#[tokio::test]
async fn the_whole_map_of_the_fixture() {
    let sandbox = Fixture::new();
    let map = map().render(&sandbox, [], 4096).await.unwrap();
    assert_eq!((map.shown, map.total), (37, 37));
    insta::assert_snapshot!("polyglot_map", map.text);
}

#[tokio::test]
async fn a_ticket_naming_a_file_and_a_symbol_puts_them_first() {
    let sandbox = Fixture::new();
    let ticket = "Discounts are wrong: `apply_discount` in pricing.py rounds badly when the cart total is large.";
    let map = map().render(&sandbox, [ticket], 4096).await.unwrap();
    assert_eq!(
        map.focus,
        vec!["apply_discount", "python/shop/pricing.py", "total"]
    );
    let head: Vec<&str> = map.text.lines().take(6).collect();
    assert_eq!(
        head,
        vec![
            "python/shop/pricing.py:",
            "     3│TAX_RATE = 0.2",
            "     6│def apply_discount(price, percentage):",
            "    11│def with_tax(price):",
            "python/shop/cart.py:",
            "     4│class LineItem:",
        ]
    );
    insta::assert_snapshot!("polyglot_map_focused", map.text);
}

#[tokio::test]
async fn identifiers_from_the_conversation_personalise_the_map() {
    let sandbox = Fixture::new();
    let index = CodeIndex::new();
    let provider = RepoMap::new(index).max_tokens(40);
    let task = Task::new(
        "T-1",
        "Fix stock counts",
        "Counts are off after a restock.",
        RepoRef::new("."),
    );
    let history = vec![Message::assistant("Looking at Restock and NewStore.")];
    let request = ContextRequest {
        task: &task,
        sandbox: &sandbox,
        history: &history,
        budget_tokens: 1000,
    };
    let items = provider.provide(&request).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            items[0].title.as_str(),
            items[0].priority,
            items[0].source.as_str()
        ),
        ("Repository map", 60, "repo_map")
    );
    assert_eq!(
        items[0].body,
        "go/store/store.go:\n    13│func NewStore() *Store {\n    21│func (s *Store) Restock(id string, n int) {\n"
    );
}

#[tokio::test]
async fn the_map_fits_the_budget_with_as_many_entries_as_fit() {
    let sandbox = Fixture::new();
    let tokenizer = ApproxTokenizer;
    for budget in [20, 57, 120, 300] {
        let map = map().render(&sandbox, [], budget).await.unwrap();
        assert!(map.tokens <= budget, "{budget}: {} tokens", map.tokens);
        assert_eq!(
            agentkit_core::tokenizer::Tokenizer::count(&tokenizer, &map.text),
            map.tokens
        );
        let more = map.clone();
        let bigger = self::map()
            .render(&sandbox, [], budget + 200)
            .await
            .unwrap();
        assert!(
            bigger.shown > more.shown,
            "{budget}: a bigger budget shows more"
        );
    }
}

/// The stats of a refresh after one fixture file was edited.
fn one_file_parsed_again() -> RefreshStats {
    RefreshStats {
        files: FIXTURE_FILES,
        unchanged: FIXTURE_FILES - 1,
        changed: 1,
        parsed: 1,
        ..Default::default()
    }
}

#[tokio::test]
async fn only_the_edited_file_is_parsed_again_and_the_disk_cache_warms_a_new_index() {
    let sandbox = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    let index = CodeIndex::with_cache_dir(cache.path());
    let cold = index.refresh(&sandbox).await.unwrap();
    assert_eq!(
        cold.stats,
        RefreshStats {
            files: FIXTURE_FILES,
            changed: FIXTURE_FILES,
            parsed: FIXTURE_FILES,
            ..Default::default()
        }
    );

    let warm = index.refresh(&sandbox).await.unwrap();
    assert_eq!(
        warm.stats,
        RefreshStats {
            files: FIXTURE_FILES,
            unchanged: FIXTURE_FILES,
            ..Default::default()
        }
    );
    assert!(
        Arc::ptr_eq(&cold.snapshot, &warm.snapshot),
        "an unchanged workspace keeps its snapshot"
    );

    sandbox.edit(
        "python/shop/pricing.py",
        b"def apply_discount(price, percentage, cap=None):\n    return price\n",
    );
    let edited = index.refresh(&sandbox).await.unwrap();
    assert_eq!(edited.stats, one_file_parsed_again());
    assert_eq!(
        edited.snapshot.definitions("apply_discount")[0].1.signature,
        "def apply_discount(price, percentage, cap=None):"
    );
    assert_eq!(edited.snapshot.definitions("with_tax").len(), 0);
    assert_eq!(index.total_parses(), FIXTURE_FILES as u64 + 1);

    // A new process with the same cache directory parses nothing.
    let fresh = CodeIndex::with_cache_dir(cache.path());
    let restarted = fresh.refresh(&sandbox).await.unwrap();
    assert_eq!(
        restarted.stats,
        RefreshStats {
            files: FIXTURE_FILES,
            changed: FIXTURE_FILES,
            cached: FIXTURE_FILES,
            ..Default::default()
        }
    );
    assert_eq!(fresh.total_parses(), 0);

    // A new file and a removed one.
    sandbox.edit("go/store/extra.go", b"package store\nfunc Extra() {}\n");
    std::fs::remove_file(sandbox.path("java/shop/Order.java")).unwrap();
    let moved = fresh.refresh(&sandbox).await.unwrap();
    assert_eq!(
        moved.stats,
        RefreshStats {
            files: FIXTURE_FILES,
            unchanged: FIXTURE_FILES - 1,
            changed: 1,
            parsed: 1,
            removed: 1,
            ..Default::default()
        }
    );

    // Nothing was written into the workspace.
    let mut names: Vec<String> = walk(sandbox.dir.path());
    names.sort();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("cache") && !n.ends_with(".bin")),
        "{names:?}"
    );
}

/// Sets the modification time of `dir` and of every directory below it.
fn set_dir_times(dir: &Path, at: SystemTime) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            set_dir_times(&entry.path(), at);
        }
    }
    std::fs::File::open(dir).unwrap().set_modified(at).unwrap();
}

#[tokio::test]
async fn an_unchanged_tree_is_statted_not_walked_again() {
    let sandbox = Fixture::new();
    let old = SystemTime::now() - Duration::from_secs(3600);
    set_dir_times(sandbox.dir.path(), old);
    let index = CodeIndex::new();
    assert_eq!(
        index.refresh(&sandbox).await.unwrap().stats.files,
        FIXTURE_FILES
    );

    // An edit in place changes no directory: the known files are statted and it is seen.
    sandbox.edit(
        "python/shop/pricing.py",
        b"def priced(amount):\n    return amount\n",
    );
    let edited = index.refresh(&sandbox).await.unwrap();
    assert_eq!(edited.stats, one_file_parsed_again());
    assert_eq!(edited.snapshot.definitions("priced").len(), 1);

    // A file added behind the stamps' back (its directory's time put back) is
    // not looked for: the tree is not walked while no directory changed...
    sandbox.edit("go/store/extra.go", b"package store\nfunc Extra() {}\n");
    set_dir_times(&sandbox.path("go/store"), old);
    let stale = index.refresh(&sandbox).await.unwrap();
    assert_eq!(
        (stale.stats.files, stale.stats.unchanged),
        (FIXTURE_FILES, FIXTURE_FILES)
    );
    // ...and found once its directory really changes.
    std::fs::File::open(sandbox.path("go/store"))
        .unwrap()
        .set_modified(old + Duration::from_secs(1))
        .unwrap();
    let added = index.refresh(&sandbox).await.unwrap();
    assert_eq!(
        (added.stats.files, added.stats.changed, added.stats.parsed),
        (FIXTURE_FILES + 1, 1, 1)
    );
    assert_eq!(added.snapshot.definitions("Extra").len(), 1);

    // A new ignore file is a change even with every directory's time put back.
    std::fs::write(sandbox.path(".gitignore"), "java/\n").unwrap();
    set_dir_times(sandbox.dir.path(), old);
    let ignored = index.refresh(&sandbox).await.unwrap();
    assert_eq!(
        (ignored.stats.files, ignored.stats.removed),
        (FIXTURE_FILES - 1, 2)
    );
    assert_eq!(ignored.snapshot.definitions("Inventory").len(), 0);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path().display().to_string());
        }
    }
    out
}

#[tokio::test]
async fn a_corrupt_cache_file_is_ignored_and_rewritten() {
    let sandbox = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    CodeIndex::with_cache_dir(cache.path())
        .refresh(&sandbox)
        .await
        .unwrap();
    let file = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.truncate(bytes.len() - 7);
    std::fs::write(&file, &bytes).unwrap();
    let index = CodeIndex::with_cache_dir(cache.path());
    let stats = index.refresh(&sandbox).await.unwrap().stats;
    assert_eq!((stats.cached, stats.parsed), (FIXTURE_FILES - 1, 1));
    let again = CodeIndex::with_cache_dir(cache.path())
        .refresh(&sandbox)
        .await
        .unwrap()
        .stats;
    assert_eq!((again.cached, again.parsed), (FIXTURE_FILES, 0));
}

#[tokio::test]
async fn bad_files_are_skipped_not_fatal() {
    let sandbox = Fixture::new();
    sandbox.edit("bad/binary.py", b"def f():\n\x00\x01\x02 pass\n");
    sandbox.edit(
        "bad/huge.js",
        "function big() {}\n".repeat(80_000).as_bytes(),
    );
    sandbox.edit("bad/latin1.rs", b"// caf\xe9\npub fn still_found() {}\n");
    sandbox.edit("bad/broken.py", b"def ok():\n    pass\n\nclass (:\n  def\n");
    sandbox.edit("bad/empty.go", b"");
    let refresh = CodeIndex::new().refresh(&sandbox).await.unwrap();
    assert_eq!(
        refresh.snapshot.skipped(),
        &[
            SkippedFile {
                path: "bad/binary.py".into(),
                reason: "binary file".into()
            },
            SkippedFile {
                path: "bad/huge.js".into(),
                reason: "1440000 bytes, over the 1048576-byte limit".into()
            },
        ]
    );
    assert_eq!(refresh.stats.skipped, 2);
    let snapshot = &refresh.snapshot;
    assert_eq!(
        snapshot.definitions("still_found")[0].0.path,
        "bad/latin1.rs"
    );
    assert_eq!(snapshot.definitions("ok")[0].0.path, "bad/broken.py");
    assert!(snapshot.file("bad/broken.py").unwrap().tags.has_errors);
    assert_eq!(snapshot.file("bad/empty.go").unwrap().tags.defs, vec![]);
}

#[tokio::test]
async fn sandboxes_without_a_host_path_index_the_same_files() {
    let host = Fixture::new();
    let hidden = Fixture::new().hiding_host();
    let a = CodeIndex::new().refresh(&host).await.unwrap();
    let b = CodeIndex::new().refresh(&hidden).await.unwrap();
    let paths = |s: &agentkit_tools::context::code::Snapshot| {
        s.files()
            .iter()
            .map(|f| (f.path.clone(), f.tags.defs.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(&a.snapshot), paths(&b.snapshot));
    assert_eq!(b.stats.parsed, FIXTURE_FILES);

    // `find` gave modification times: an unchanged tree is not read again.
    let index = CodeIndex::new();
    index.refresh(&hidden).await.unwrap();
    let again = index.refresh(&hidden).await.unwrap();
    assert_eq!(again.stats.unchanged, FIXTURE_FILES);

    // A sandbox whose exec does nothing useful is walked through its file API.
    let memory = MemorySandbox::new()
        .with_file("src/a.py", "def alpha():\n    return beta()\n")
        .with_file("src/b.py", "def beta():\n    return 1\n")
        .with_file("README.md", "# not code\n");
    let refresh = CodeIndex::new().refresh(&memory).await.unwrap();
    assert_eq!(
        refresh
            .snapshot
            .files()
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        vec!["src/a.py", "src/b.py"]
    );
}

#[tokio::test]
async fn find_symbol_lists_definitions_and_references() {
    let sandbox: Arc<dyn Sandbox> = Arc::new(Fixture::new());
    let tools = tools(&map());
    let out = text(
        &tools,
        "find_symbol",
        sandbox.clone(),
        serde_json::json!({"name": "Config"}),
    )
    .await;
    assert_eq!(
        out,
        "Definitions of `Config` (2):\n\
         rust/src/config.rs:5: struct  pub struct Config {\n\
         rust/src/config.rs:10: impl  impl Config {\n\
         References to `Config` (5 lines in 2 files):\n\
         rust/src/config.rs:11,13,17,19\n\
         rust/src/lib.rs:4\n"
    );
    let out = text(
        &tools,
        "find_symbol",
        sandbox.clone(),
        serde_json::json!({"name": "restock", "show": "definitions"}),
    )
    .await;
    assert_eq!(
        out,
        "No symbol named `restock` is defined or referred to. Similar names: Restock.\n"
    );
    let out = text(
        &tools,
        "find_symbol",
        sandbox.clone(),
        serde_json::json!({"name": "Count", "show": "references", "path_prefix": "go/"}),
    )
    .await;
    assert_eq!(
        out,
        "References to `Count` (1 lines in 1 files):\ngo/main.go:12\n"
    );
}

#[tokio::test]
async fn search_code_ranks_the_matching_definition_first() {
    let sandbox: Arc<dyn Sandbox> = Arc::new(Fixture::new());
    let tools = tools(&map());
    let out = text(
        &tools,
        "search_code",
        sandbox.clone(),
        serde_json::json!({"query": "discount percentage off the price", "max_results": 1}),
    )
    .await;
    assert_eq!(
        out,
        "python/shop/pricing.py:6-8 (apply_discount)\n\
         \x20    6│def apply_discount(price, percentage):\n\
         \x20    7│    \"\"\"Takes a discount percentage off a price.\"\"\"\n\
         \x20    8│    return price * (1 - percentage / 100)\n\n"
    );
    let out = text(
        &tools,
        "search_code",
        sandbox,
        serde_json::json!({"query": "zebra quokka"}),
    )
    .await;
    assert_eq!(
        out,
        "No code matches `zebra quokka`. Try other words, or grep for exact text.\n"
    );
}

/// Scores texts by whether they mention stock: enough to reorder BM25's hits.
struct StockEmbedder;

#[async_trait]
impl Embedder for StockEmbedder {
    fn name(&self) -> &str {
        "stock"
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                if t.contains("stock") {
                    vec![1.0, 0.0]
                } else {
                    vec![0.0, 1.0]
                }
            })
            .collect())
    }
}

struct BrokenEmbedder;

#[async_trait]
impl Embedder for BrokenEmbedder {
    fn name(&self) -> &str {
        "broken"
    }
    async fn embed(&self, _: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Err(EmbedError {
            message: "model not loaded".into(),
        })
    }
}

#[tokio::test]
async fn an_embedder_reranks_and_a_failing_one_falls_back_to_bm25() {
    let sandbox = Fixture::new();
    let query = "count the stock of a product id";
    let titles = |hits: Vec<agentkit_tools::context::CodeHit>| {
        hits.iter().map(|h| h.title()).collect::<Vec<_>>()
    };
    let bm25 = titles(
        CodeSearch::new(CodeIndex::new())
            .search(&sandbox, query, 3)
            .await
            .unwrap(),
    );
    let broken = titles(
        CodeSearch::new(CodeIndex::new())
            .embedder(Arc::new(BrokenEmbedder))
            .search(&sandbox, query, 3)
            .await
            .unwrap(),
    );
    assert_eq!(broken, bm25);
    let hybrid = titles(
        CodeSearch::new(CodeIndex::new())
            .embedder(Arc::new(StockEmbedder))
            .search(&sandbox, query, 3)
            .await
            .unwrap(),
    );
    assert_ne!(hybrid, bm25);
    insta::assert_debug_snapshot!("hybrid_vs_bm25", (bm25, hybrid));
}

#[tokio::test]
async fn retrieval_gives_the_ticket_its_chunks_within_budget() {
    let sandbox = Fixture::new();
    let engine = ContextEngine::new(Arc::new(ApproxTokenizer), 6000)
        .with_provider(CodeSearch::new(CodeIndex::new()).max_chunks(2));
    let task = Task::new(
        "T-9",
        "Restock does not add to the stock count",
        "Store.Restock loses counts.",
        RepoRef::new("."),
    );
    let packed = engine.assemble(&task, &sandbox, &[]).await;
    let titles: Vec<(&str, i32)> = packed
        .items
        .iter()
        .map(|i| (i.title.as_str(), i.priority))
        .collect();
    assert_eq!(
        titles,
        vec![
            ("go/store/store.go:21-23 (Restock)", 50),
            ("go/store/store.go:3-6 (Store)", 49)
        ]
    );
}

#[tokio::test]
async fn tool_argument_errors_are_told_to_the_model() {
    let sandbox: Arc<dyn Sandbox> = Arc::new(Fixture::new());
    let tools = tools(&map());
    assert_eq!(
        invalid(
            &tools,
            "repo_map",
            sandbox.clone(),
            serde_json::json!({"max_tokens": 10})
        )
        .await,
        "Invalid arguments: at `max_tokens`: 10 is too small for a map; give at least 64"
    );
    assert_eq!(
        invalid(
            &tools,
            "repo_map",
            sandbox.clone(),
            serde_json::json!({"focus": ["ok", " "]})
        )
        .await,
        "Invalid arguments: at `focus[1]`: empty; give a file path or an identifier"
    );
    assert_eq!(
        invalid(
            &tools,
            "find_symbol",
            sandbox.clone(),
            serde_json::json!({"name": ""})
        )
        .await,
        "Invalid arguments: at `name`: empty; give a symbol name such as `parse_header`"
    );
    let unknown = invalid(
        &tools,
        "find_symbol",
        sandbox.clone(),
        serde_json::json!({"name": "x", "show": "everything"}),
    )
    .await;
    assert!(
        unknown.starts_with("Invalid arguments: at `show`: unknown variant `everything`"),
        "{unknown}"
    );
    assert_eq!(
        invalid(
            &tools,
            "search_code",
            sandbox.clone(),
            serde_json::json!({"query": "x", "max_results": 0})
        )
        .await,
        "Invalid arguments: at `max_results`: must be at least 1"
    );
    let out = text(
        &tools,
        "repo_map",
        sandbox,
        serde_json::json!({"focus": ["NoSuchThing", "Inventory"], "max_tokens": 64}),
    )
    .await;
    insta::assert_snapshot!("repo_map_tool_focus", out);
}
