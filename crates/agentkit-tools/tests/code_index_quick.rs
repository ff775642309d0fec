//! The quick first refresh of a large cold workspace: files tagged by the
//! lexical scan, the map rendered from them, tree-sitter's tags in place
//! after the background parse, and nothing provisional ever stored.
#![cfg(feature = "repo-map")]

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use agentkit_core::sandbox::SandboxPolicy;
use agentkit_core::tokenizer::ApproxTokenizer;
use agentkit_sandbox::local::LocalSandbox;
use agentkit_tools::context::code::{FileTags, Snapshot};
use agentkit_tools::context::{CodeIndex, RepoMap};

const MODULES: usize = 90;

/// A Python package of `MODULES` modules (about 330 KB, over the 256 KiB
/// from which a cold refresh scans), each calling into the one before it,
/// with the constructs the scan must read right: decorators, annotations,
/// f-string fields, docstrings holding code, nested definitions, constants.
fn write_package(root: &Path) {
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    for i in 0..MODULES {
        let prev = i.saturating_sub(1);
        let mut text = format!(
            "\"\"\"Module {i}: def not_a_definition(): pass\"\"\"\nfrom __future__ import annotations\n\
             from pkg.mod_{prev} import Service{prev}, helper_{prev}\n\nLIMIT_{i}: int = {i}\nNAMES_{i} = (\n    'a',\n    'b',\n)\n\n"
        );
        for k in 0..6 {
            let _ = write!(
                text,
                "\n@register_{prev}\nclass Service{i}_{k}(Service{prev}):\n    \"\"\"Serves {k}.\n\n    Example: Service{i}_{k}().run(helper_{prev}(x))\n    \"\"\"\n\n    rate: float = 0.5\n\n\
                 \x20   def run(self, item: Item{prev}, *, retries: int = 3) -> Result{prev}:\n        # helper_{i}(item) is only a comment\n\
                 \x20       value = helper_{prev}(item, retries)\n        text = f\"{{value!r}} {{format_{prev}(value):>10}} {{{{literal}}}}\"\n\
                 \x20       def inner(y):\n            return self.step_{k}(y) + LIMIT_{i}\n        return inner(value).total\n\n\
                 \x20   async def step_{k}(self, y: list[Item{prev}]) -> Optional[Result{prev}]:\n        await sleep(0)\n        return combine_{prev}(y, key=lambda z: z.score)\n"
            );
        }
        let _ = write!(
            text,
            "\n\ndef helper_{i}(item, retries=1):\n    return [Service{i}_0().run(x) for x in item] + \\\n        helper_{prev}(item)\n"
        );
        std::fs::write(root.join(format!("pkg/mod_{i}.py")), text).unwrap();
    }
}

fn sandbox(root: &Path) -> LocalSandbox {
    LocalSandbox::attach(root, SandboxPolicy::default(), BTreeMap::new()).unwrap()
}

/// Every file's tags, by path.
fn tags(snapshot: &Snapshot) -> BTreeMap<String, FileTags> {
    snapshot
        .files()
        .iter()
        .map(|f| (f.path.clone(), (*f.tags).clone()))
        .collect()
}

#[tokio::test]
async fn a_large_cold_workspace_is_scanned_then_parsed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let caches = tempfile::tempdir().unwrap();
    write_package(dir.path());
    let sandbox = sandbox(dir.path());
    let exact = tags(&CodeIndex::new().refresh(&sandbox).await.unwrap().snapshot);
    assert_eq!(exact.len(), MODULES);

    let index = CodeIndex::with_cache_dir(caches.path());
    let quick = index.refresh_quick(&sandbox).await.unwrap();
    assert_eq!(
        (quick.stats.scanned, quick.stats.parsed),
        (MODULES, 0),
        "{:?}",
        quick.stats
    );
    assert!(quick.snapshot.is_provisional());
    // The scan finds what tree-sitter finds; only the chunks are left out.
    let scanned = tags(&quick.snapshot);
    for (path, exact) in &exact {
        let scanned = &scanned[path];
        assert!(scanned.provisional && scanned.chunks.is_empty());
        let names = |t: &FileTags| -> Vec<(String, u32)> {
            t.defs.iter().map(|d| (d.name.clone(), d.line)).collect()
        };
        assert_eq!(names(scanned), names(exact), "{path}");
        assert_eq!(scanned.refs, exact.refs, "{path}");
        let signatures =
            |t: &FileTags| -> Vec<String> { t.defs.iter().map(|d| d.signature.clone()).collect() };
        assert_eq!(signatures(scanned), signatures(exact), "{path}");
    }
    drop(quick);

    // `refresh` waits for the background parse: every file exact, none parsed by it.
    let after = index.refresh(&sandbox).await.unwrap();
    assert!(!after.snapshot.is_provisional());
    assert_eq!(
        (
            after.stats.unchanged,
            after.stats.parsed,
            after.stats.scanned
        ),
        (MODULES, 0, 0)
    );
    assert_eq!(tags(&after.snapshot), exact);
    assert_eq!(index.total_parses(), MODULES as u64);
    // From then on nothing is read again.
    for again in [
        index.refresh_quick(&sandbox).await.unwrap(),
        index.refresh(&sandbox).await.unwrap(),
    ] {
        assert_eq!(again.stats.unchanged, MODULES, "{:?}", again.stats);
        assert!(std::sync::Arc::ptr_eq(&again.snapshot, &after.snapshot));
    }

    // Only exact tags reached the disk cache.
    let warm = CodeIndex::with_cache_dir(caches.path())
        .refresh_quick(&sandbox)
        .await
        .unwrap();
    assert_eq!(
        (warm.stats.cached, warm.stats.scanned, warm.stats.parsed),
        (MODULES, 0, 0)
    );
    assert_eq!(tags(&warm.snapshot), exact);
}

#[tokio::test]
async fn the_first_map_of_a_large_cold_workspace_is_the_exact_map() {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path());
    let sandbox = sandbox(dir.path());
    let ticket = ["Service41_3.run loses retries (pkg/mod_41.py); see helper_40."];
    let map =
        |index: CodeIndex| RepoMap::new(index).tokenizer(std::sync::Arc::new(ApproxTokenizer));

    let exact_index = CodeIndex::new();
    exact_index.refresh(&sandbox).await.unwrap();
    let exact = map(exact_index)
        .render(&sandbox, ticket, 1024)
        .await
        .unwrap();

    let quick_index = CodeIndex::new();
    let quick = map(quick_index.clone())
        .render(&sandbox, ticket, 1024)
        .await
        .unwrap();
    assert_eq!(quick.text, exact.text);
    assert!(quick.text.starts_with("pkg/mod_41.py:\n"), "{}", quick.text);
    // Nothing was parsed for that map; everything was, after it.
    assert!(quick_index.refresh(&sandbox).await.unwrap().stats.parsed == 0);
    assert_eq!(quick_index.total_parses(), MODULES as u64);
}

#[tokio::test]
async fn a_file_edited_while_the_background_parse_runs_gets_its_new_tags() {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path());
    let sandbox = sandbox(dir.path());
    let index = CodeIndex::new();
    assert!(
        index
            .refresh_quick(&sandbox)
            .await
            .unwrap()
            .snapshot
            .is_provisional()
    );
    // Whether the background parse read the old content or the new one,
    // the next refresh has the new content's exact tags.
    let edited = dir.path().join("pkg/mod_7.py");
    let mut text = std::fs::read_to_string(&edited).unwrap();
    text.push_str("\n\ndef added_after_the_scan():\n    return helper_7(1)\n");
    std::fs::write(&edited, text).unwrap();
    let file = std::fs::File::options().write(true).open(&edited).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let after = index.refresh(&sandbox).await.unwrap();
    assert!(!after.snapshot.is_provisional());
    let defs = after.snapshot.definitions("added_after_the_scan");
    assert_eq!(defs.len(), 1);
    assert_eq!(defs[0].0.path, "pkg/mod_7.py");
    assert!(!defs[0].0.tags.chunks.is_empty());
}

#[tokio::test]
async fn small_batches_and_warm_indexes_are_parsed_not_scanned() {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path());
    // Under the threshold: one module.
    let small = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(small.path().join("pkg")).unwrap();
    std::fs::copy(
        dir.path().join("pkg/mod_3.py"),
        small.path().join("pkg/mod_3.py"),
    )
    .unwrap();
    let refresh = CodeIndex::new()
        .refresh_quick(&sandbox(small.path()))
        .await
        .unwrap();
    assert_eq!((refresh.stats.parsed, refresh.stats.scanned), (1, 0));
    assert!(!refresh.snapshot.is_provisional());

    // A dropped index stops its background parse without harm, and a new
    // one starts cold again.
    let sandbox = sandbox(dir.path());
    let index = CodeIndex::new();
    assert_eq!(
        index.refresh_quick(&sandbox).await.unwrap().stats.scanned,
        MODULES
    );
    drop(index);
    let index = CodeIndex::new();
    let refresh = index.refresh_quick(&sandbox).await.unwrap();
    assert_eq!(refresh.stats.scanned, MODULES);
    // Once exact, a quick refresh of an edit parses it.
    index.refresh(&sandbox).await.unwrap();
    let edited = dir.path().join("pkg/mod_9.py");
    std::fs::write(&edited, "def only_this():\n    return 1\n").unwrap();
    let file = std::fs::File::options().write(true).open(&edited).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let refresh = index.refresh_quick(&sandbox).await.unwrap();
    assert_eq!((refresh.stats.parsed, refresh.stats.scanned), (1, 0));
    assert!(!refresh.snapshot.is_provisional());
}
