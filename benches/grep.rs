//! The `grep` tool against the `rg` binary on the same tree.
//!
//! Builds a tree of 5,000 text files (~50 MB) in a temp directory, with a
//! `.gitignore` that hides a further 500 files, and searches it for a pattern
//! that matches ~1,000 lines: once through the `grep` tool's `Tool` API (an
//! in-process, parallel, gitignore-aware search over a `LocalSandbox`, output
//! sorted by path and capped), once by spawning `rg` (parallel, unsorted), and
//! once `rg --sort path` (sorted, single-threaded), so the tool's cost of
//! sorting can be told apart from its search.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use agentkit_core::CancellationToken;
use agentkit_core::sandbox::SandboxPolicy;
use agentkit_core::task::{RepoRef, Task};
use agentkit_core::tool::{DynTool, ToolContext, ToolOutput};
use agentkit_sandbox::local::LocalSandbox;
use agentkit_tools::tools::Grep;
use criterion::{Criterion, criterion_group, criterion_main};

const FILES: usize = 5_000;
const IGNORED_FILES: usize = 500;
const FILE_BYTES: usize = 10_000;
const PATTERN: &str = r"fn\s+needle_\w+";
const WORDS: &[&str] = &[
    "let", "value", "return", "match", "self", "impl", "struct", "config", "error", "result",
    "buffer", "index", "parse", "token", "stream", "option", "vector", "string", "handle", "fn",
];

/// A deterministic pseudo-random line of code-like words; about 1 line in 1,000
/// defines a `needle_` function.
fn fill(out: &mut String, seed: &mut u64, bytes: usize) {
    while out.len() < bytes {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (*seed >> 33) as usize;
        if r.is_multiple_of(1_000) {
            out.push_str(&format!(
                "    pub fn needle_{}(x: u32) -> u32 {{ x }}\n",
                r % 97
            ));
            continue;
        }
        out.push_str("    ");
        for i in 0..(4 + r % 8) {
            out.push_str(WORDS[(r >> (i * 3)) % WORDS.len()]);
            out.push(' ');
        }
        out.push_str(";\n");
    }
}

fn build_tree(root: &Path) {
    std::fs::write(root.join(".gitignore"), "target/\n*.tmp\n").unwrap();
    let mut seed = 42u64;
    for i in 0..FILES + IGNORED_FILES {
        let dir = if i < FILES {
            root.join(format!("src/m{:02}/d{:02}", i % 50, (i / 50) % 10))
        } else {
            root.join(format!("target/debug/d{:02}", i % 20))
        };
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::with_capacity(FILE_BYTES + 100);
        fill(&mut text, &mut seed, FILE_BYTES);
        std::fs::write(dir.join(format!("f{i:05}.rs")), text).unwrap();
    }
}

fn rg(root: &Path, sorted: bool) -> usize {
    let mut command = Command::new("rg");
    command.args(["--line-number", "--no-heading", "--color=never", "--hidden"]);
    command.args(["--no-require-git", "--glob=!.git"]);
    if sorted {
        command.arg("--sort=path");
    }
    let out = command
        .args(["-e", PATTERN])
        .current_dir(root)
        .output()
        .unwrap();
    out.stdout.iter().filter(|b| **b == b'\n').count()
}

fn grep(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    build_tree(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox =
        LocalSandbox::attach(dir.path(), SandboxPolicy::default(), BTreeMap::new()).unwrap();
    let cx = ToolContext {
        sandbox: Arc::new(sandbox),
        task: Arc::new(Task::new("bench", "bench", "bench", RepoRef::new("."))),
        call_id: "bench".into(),
        cancel: CancellationToken::new(),
    };
    let args = serde_json::json!({"pattern": PATTERN, "max_results": 2000}).to_string();
    let run_tool = || match runtime.block_on(Grep.call_raw(&args, &cx)).unwrap() {
        ToolOutput::Text { content } => content.lines().count(),
        other => panic!("unexpected output {other:?}"),
    };
    let (tool_lines, rg_lines) = (run_tool(), rg(dir.path(), false));
    println!(
        "tree: {FILES} files (+{IGNORED_FILES} ignored); tool lines {tool_lines}, rg lines {rg_lines}"
    );
    assert_eq!(
        tool_lines, rg_lines,
        "the tool and rg disagree on the matches"
    );

    let mut group = c.benchmark_group("grep_5000_files_50MB");
    group.sample_size(10);
    group.bench_function("grep_tool", |b| b.iter(|| black_box(run_tool())));
    group.bench_function("rg_binary", |b| b.iter(|| black_box(rg(dir.path(), false))));
    group.bench_function("rg_binary_sorted", |b| {
        b.iter(|| black_box(rg(dir.path(), true)))
    });
    group.finish();
}

criterion_group!(benches, grep);
criterion_main!(benches);
