use super::*;

fn defs(lang: Lang, source: &str) -> Vec<(String, &'static str, u32)> {
    Extractor::new()
        .extract(lang, source.as_bytes())
        .unwrap()
        .defs
        .into_iter()
        .map(|d| (d.name, d.kind.name(), d.line))
        .collect()
}

#[test]
fn python_definitions_and_references() {
    let source = "import os\nLIMIT = 3\n\nclass Shape(Base):\n    @cached\n    def area(self):\n        return compute(self.width)\n";
    let tags = Extractor::new()
        .extract(Lang::Python, source.as_bytes())
        .unwrap();
    let defs: Vec<_> = tags
        .defs
        .iter()
        .map(|d| (d.name.as_str(), d.kind, d.line, d.start_line, d.end_line))
        .collect();
    assert_eq!(
        defs,
        vec![
            ("LIMIT", SymbolKind::Const, 2, 2, 2),
            ("Shape", SymbolKind::Class, 4, 4, 7),
            ("area", SymbolKind::Function, 6, 6, 7),
        ]
    );
    let refs: Vec<_> = tags
        .refs
        .iter()
        .map(|r| (r.name.as_str(), r.lines.clone()))
        .collect();
    assert_eq!(
        refs,
        vec![
            ("Base", vec![4]),
            ("cached", vec![5]),
            ("compute", vec![7]),
            ("width", vec![7])
        ]
    );
    assert_eq!(tags.defs[2].signature, "    def area(self):");
}

#[test]
fn rust_go_java_and_typescript_definitions() {
    assert_eq!(
        defs(
            Lang::Rust,
            "pub struct A;\nimpl A {\n    fn run(&self) {}\n}\nmacro_rules! m { () => {} }\n"
        ),
        vec![
            ("A".into(), "struct", 1),
            ("A".into(), "impl", 2),
            ("run".into(), "function", 3),
            ("m".into(), "macro", 5)
        ]
    );
    assert_eq!(
        defs(
            Lang::Go,
            "package p\ntype S struct{}\nfunc (s S) Do() {}\nfunc Top() {}\n"
        ),
        vec![
            ("S".into(), "struct", 2),
            ("Do".into(), "method", 3),
            ("Top".into(), "function", 4)
        ]
    );
    assert_eq!(
        defs(Lang::Java, "class A {\n  A() {}\n  void go() {}\n}\n"),
        vec![
            ("A".into(), "class", 1),
            ("A".into(), "method", 2),
            ("go".into(), "method", 3)
        ]
    );
    assert_eq!(
        defs(
            Lang::TypeScript,
            "interface I { x(): void }\nexport const f = () => 1;\nclass C { m() {} }\n"
        ),
        vec![
            ("I".into(), "interface", 1),
            ("x".into(), "method", 1),
            ("f".into(), "function", 2),
            ("C".into(), "class", 3),
            ("m".into(), "method", 3)
        ]
    );
}

/// The tree walk against its specification, the tags queries: the same
/// tags for every source file of this repository (Rust, the polyglot
/// fixtures, Python, JavaScript) and of the trees listed in
/// `AGENTKIT_TAGS_TREES` (`:`-separated, e.g. the benchmark's rich and
/// Django sdists).
#[test]
fn the_tree_walk_finds_what_the_queries_find() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut roots = vec![repo];
    if let Some(extra) = std::env::var_os("AGENTKIT_TAGS_TREES") {
        roots.extend(std::env::split_paths(&extra));
    }
    let mut extractor = Extractor::new();
    let mut checked = std::collections::BTreeMap::new();
    for root in roots {
        let (files, _) = super::super::files::list_host(&root);
        for file in files {
            if file.path.starts_with("target/") || file.size > 1024 * 1024 {
                continue;
            }
            let source = std::fs::read(root.join(&file.path)).unwrap();
            let walked = extractor.extract(file.lang, &source);
            let queried = extractor.extract_by_query(file.lang, &source);
            assert_eq!(walked, queried, "{}", root.join(&file.path).display());
            *checked.entry(file.lang.name()).or_insert(0) += 1;
        }
    }
    // Every language was covered.
    assert_eq!(
        checked.keys().copied().collect::<Vec<_>>(),
        vec![
            "go",
            "java",
            "javascript",
            "python",
            "rust",
            "tsx",
            "typescript"
        ]
    );
}

#[test]
fn incremental_parses_give_the_tags_of_full_ones() {
    let mut source = String::from(
        "import os\n\nclass Shape(Base):\n    def area(self):\n        return compute(self.width)\n",
    );
    let edits: [fn(&mut String); 4] = [
        |s| s.push_str("\n\ndef added():\n    return helper()\n"),
        |s| *s = s.replacen("compute(", "measure(", 1),
        |s| s.insert_str(0, "# header\nLIMIT = 3\n"),
        |s| {
            *s = s.replacen(
                "class Shape(Base):\n",
                "class Shape(Base, Mixin):\n    # Doc.\n",
                1,
            )
        },
    ];
    let mut extractor = Extractor::new();
    let (_, tree) = extractor
        .extract_after(Lang::Python, source.as_bytes(), None, true)
        .unwrap();
    let tree = tree.unwrap();
    let mut last = LastParse {
        source: source.clone().into_bytes(),
        tree,
    };
    for edit in edits {
        edit(&mut source);
        let (tags, tree) = extractor
            .extract_after(Lang::Python, source.as_bytes(), Some(last), true)
            .unwrap();
        let tree = tree.unwrap();
        assert_eq!(
            tags,
            Extractor::new()
                .extract(Lang::Python, source.as_bytes())
                .unwrap(),
            "{source}"
        );
        last = LastParse {
            source: source.clone().into_bytes(),
            tree,
        };
    }
    assert_eq!(
        Extractor::new()
            .extract(Lang::Python, source.as_bytes())
            .unwrap()
            .defs
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        vec!["LIMIT", "Shape", "area", "added"]
    );
}

#[test]
fn syntax_errors_keep_the_rest() {
    let tags = Extractor::new()
        .extract(Lang::Python, b"def ok():\n    pass\n\ndef broken(:\n")
        .unwrap();
    assert!(tags.has_errors);
    assert_eq!(tags.defs[0].name, "ok");
}

#[test]
fn long_definitions_are_split_into_windows() {
    let body: String = (0..100)
        .map(|i| format!("    x{i} = call{i}()\n"))
        .collect();
    let source = format!("def big():\n{body}");
    let tags = Extractor::new()
        .extract(Lang::Python, source.as_bytes())
        .unwrap();
    let spans: Vec<_> = tags
        .chunks
        .iter()
        .map(|c| (c.start_line, c.end_line, c.def))
        .collect();
    assert_eq!(
        spans,
        vec![(1, 40, Some(0)), (41, 80, Some(0)), (81, 101, Some(0))]
    );
}

/// A packed term is stored as the `(hash, count)` tuple it replaced, so
/// caches written before read the same.
#[test]
fn terms_are_stored_as_tuples() {
    let term = super::Term {
        hash: 0xdead_beef,
        count: 300,
    };
    let bytes = postcard::to_allocvec(&vec![term]).unwrap();
    assert_eq!(
        bytes,
        postcard::to_allocvec(&vec![(0xdead_beef_u32, 300_u16)]).unwrap()
    );
    let back: Vec<super::Term> = postcard::from_bytes(&bytes).unwrap();
    assert_eq!((back[0].hash(), back[0].count()), (0xdead_beef, 300));
    assert_eq!(std::mem::size_of::<super::Term>(), 6);
}
