//! Tricky cases of the C-family scans (Rust, Go, Java, JavaScript,
//! TypeScript, TSX), each pinned whole and, where the source is valid,
//! checked against tree-sitter's tags of the same source.

use super::super::lang::Lang;
use super::super::tags::{Extractor, FileTags};
use super::scan;

/// Definitions as `name kind line`, references as `name line`, sorted.
fn summary(tags: &FileTags) -> (Vec<String>, Vec<String>) {
    let mut defs: Vec<String> = tags
        .defs
        .iter()
        .map(|d| format!("{} {} {}", d.name, d.kind.name(), d.line))
        .collect();
    defs.sort();
    let mut refs: Vec<String> = tags
        .refs
        .iter()
        .flat_map(|r| r.lines.iter().map(move |l| format!("{} {l}", r.name)))
        .collect();
    refs.sort();
    (defs, refs)
}

/// The scan's tags of `source`, after checking that tree-sitter finds the
/// same names on the same lines.
fn agreed(lang: Lang, source: &str) -> (Vec<String>, Vec<String>) {
    let scanned = summary(&scan(lang, source.as_bytes()).expect("a scan"));
    let exact = Extractor::new()
        .extract(lang, source.as_bytes())
        .expect("tree-sitter parses");
    assert_eq!(scanned, summary(&exact), "scan and tree-sitter differ");
    scanned
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rust_strings_comments_lifetimes_and_raw_strings_hold_no_code() {
    let source = r####"
/* outer /* nested fn hidden() */ still comment */
fn visible<'a>(x: &'a str) -> Option<&'a str> {
    let raw = r#"fn fake() { call(1) } "quoted""#;
    let bytes = b"\"not_a_call()\"";
    let c = '"';
    let l: &'static str = "x"; // trailing call(2)
    helper(raw, bytes, c, l)
}
"####;
    let (defs, refs) = agreed(Lang::Rust, source);
    assert_eq!(defs, strings(&["visible function 3"]));
    assert_eq!(refs, strings(&["Option 3", "helper 8"]));
}

#[test]
fn rust_items_impls_paths_patterns_and_macros() {
    let source = r#"
use std::collections::{HashMap, btree_map::Entry as E};
pub(crate) struct Wrapper<T: Clone>(Vec<T>);
impl<T: Clone> Display for Wrapper<T> where T: Debug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.first() {
            Some(Inner { x }) if check(x) => write!(f, "{}", compute(x)),
            Some(other) => other.render(f),
            None => Ok(()),
        }
    }
}
const LIMIT: usize = 3;
macro_rules! twice { ($e:expr) => { $e; $e }; }
mod inner { pub enum Kind { A(u8), B { y: Label } } }
"#;
    let (defs, refs) = agreed(Lang::Rust, source);
    assert_eq!(
        defs,
        strings(&[
            "Kind enum 15",
            "LIMIT const 13",
            "Wrapper impl 4",
            "Wrapper struct 3",
            "fmt function 5",
            "inner module 15",
            "twice macro 14",
        ])
    );
    assert_eq!(
        refs,
        strings(&[
            "Clone 3",
            "Clone 4",
            "Debug 4",
            "Display 4",
            "Entry 2",
            "Formatter 5",
            "HashMap 2",
            "Inner 7",
            "Label 15",
            "Ok 9",
            "Result 5",
            "T 3",
            "T 4",
            "Vec 3",
            "btree_map 2",
            "check 7",
            "collections 2",
            "first 6",
            "render 8",
            "std 2",
            "write 7",
        ])
    );
}

#[test]
fn rust_operators_casts_and_turbofish() {
    let source = r#"
fn shifts(rem: usize, p: *const u8) -> Result<(), io::Error> {
    let bits = rem << Self::SHIFT;
    let raw = p as *mut _ as *mut Buffer;
    let flag = rem < LIMIT && bits > 2;
    Ok::<(), io::Error>(consume(raw, flag))
}
"#;
    let (defs, refs) = agreed(Lang::Rust, source);
    assert_eq!(defs, strings(&["shifts function 2"]));
    assert_eq!(
        refs,
        strings(&[
            "Buffer 4",
            "Error 2",
            "Error 6",
            "Result 2",
            "SHIFT 3",
            "Self 3",
            "_ 4",
            "consume 6",
        ])
    );
}

#[test]
fn go_types_methods_and_raw_strings() {
    let source = "package p

// func hidden() {}
type Store struct {
\tmu   sync.Mutex
\titems map[string]*Item `json:\"items\"`
}

type Getter interface {
\tGet(key string) (Item, error)
}

func (s *Store) Get(key string) (Item, error) {
\traw := `func fake() { call() }`
\tif v, ok := s.items[key]; ok {
\t\treturn *v, nil
\t}
\treturn Item{}, fmt.Errorf(\"missing %s\", raw)
}
";
    let (defs, refs) = agreed(Lang::Go, source);
    assert_eq!(
        defs,
        strings(&[
            "Get method 10",
            "Get method 13",
            "Getter interface 9",
            "Store struct 4"
        ])
    );
    assert_eq!(
        refs,
        strings(&[
            "Errorf 18",
            "Item 10",
            "Item 13",
            "Item 18",
            "Item 6",
            "Mutex 5",
            "Store 13",
            "error 10",
            "error 13",
            "string 10",
            "string 13",
            "string 6",
        ])
    );
}

#[test]
fn java_declarations_types_and_text_blocks() {
    let source = r#"package a.b;
import java.util.List;

@Service
public class Orders<T extends Item> extends Base implements Api {
    private static final String SQL = """
        select fake() from "orders"
        """;
    private final Map<String, List<T>> byId = new HashMap<>();

    public Orders(Repo repo) { super(repo); }

    @Override
    public List<T> find(String id) throws NotFound {
        char q = '"';
        return (List<T>) repo.load(id, Order.class);
    }

    public static <E extends Comparable<? super E>> int max(E[] all, int counts[]) {
        throw (IllegalStateException) failure(counts);
    }

    enum Kind { PLAIN("p"), RICH(make()); Kind(String tag) {} }
}
"#;
    let (defs, refs) = agreed(Lang::Java, source);
    assert_eq!(
        defs,
        strings(&[
            "Kind enum 23",
            "Kind method 23",
            "Orders class 5",
            "Orders method 11",
            "find method 14",
            "max method 19",
        ])
    );
    assert_eq!(
        refs,
        strings(&[
            "Api 5",
            "Base 5",
            "Comparable 19",
            "E 19",
            "HashMap 9",
            "IllegalStateException 20",
            "Item 5",
            "List 14",
            "List 16",
            "List 9",
            "Map 9",
            "NotFound 14",
            "Order 16",
            "Override 13",
            "Repo 11",
            "Service 4",
            "String 14",
            "String 23",
            "String 6",
            "String 9",
            "T 14",
            "T 16",
            "T 5",
            "T 9",
            "failure 20",
            "load 16",
            "make 23",
        ])
    );
}

#[test]
fn javascript_templates_regexes_classes_and_arrow_functions() {
    let source = r#"import { render, h as hyper } from "lib";
// function hidden() {}
const pattern = /fake\(\)[/]/g;
const half = total / 2 / count;
export class View extends Base {
  draw(node) {
    return `<p>${format(node.title)} call()</p>`;
  }
}
const build = async (x) => new Widget(x).mount();
function main() { render(build(1)); }
var one = 1, two = function named() { return new ns.Thing(); };
"#;
    let (defs, refs) = agreed(Lang::JavaScript, source);
    assert_eq!(
        defs,
        strings(&[
            "View class 5",
            "build function 10",
            "draw method 6",
            "main function 11",
            "two function 12",
        ])
    );
    assert_eq!(
        refs,
        strings(&[
            "Base 5",
            "Widget 10",
            "build 11",
            "format 7",
            "h 1",
            "mount 10",
            "render 1",
            "render 11"
        ])
    );
}

#[test]
fn typescript_types_generics_interfaces_and_ternaries() {
    let source = r#"import type { Schema } from "./schema";
export interface Repo<T extends Entity> {
  find(id: string): Promise<T | undefined>;
  readonly size: number;
}
export type Mapper<K> = (value: K) => Record<string, K>;
enum Color { Red, Green }
export abstract class Store<T> implements Repo<T> {
  private cache: Map<string, T> = new Map<string, T>();
  abstract load(id: string): Promise<T>;
  find(id: string): Promise<T | undefined> {
    const hit = this.cache.get(id) ? wrap(id) : fetchIt<T>(id);
    return hit as Promise<T>;
  }
}
"#;
    let (defs, refs) = agreed(Lang::TypeScript, source);
    assert_eq!(
        defs,
        strings(&[
            "Color enum 7",
            "Mapper type 6",
            "Repo interface 2",
            "Store class 8",
            "find method 11",
            "find method 3",
            "load method 10",
        ])
    );
    assert_eq!(
        refs,
        strings(&[
            "Entity 2",
            "K 6",
            "Map 9",
            "Promise 10",
            "Promise 11",
            "Promise 13",
            "Promise 3",
            "Record 6",
            "Repo 8",
            "Schema 1",
            "T 10",
            "T 11",
            "T 12",
            "T 13",
            "T 2",
            "T 3",
            "T 8",
            "T 9",
            "fetchIt 12",
            "get 12",
            "wrap 12",
        ])
    );
}

#[test]
fn tsx_elements_attributes_and_destructuring() {
    let source = r#"export function App(props: Props): void {
  const {
    config: {title: siteTitle},
  } = props;
  const items = props.list.map((x) => <Row key={x.id} onClick={() => select(x)} />);
  return <div className={clsx(siteTitle, 'a')}>{items}</div>;
}
"#;
    let (defs, refs) = agreed(Lang::Tsx, source);
    assert_eq!(defs, strings(&["App function 1"]));
    assert_eq!(refs, strings(&["Props 1", "clsx 6", "map 5", "select 5"]));
}

/// Broken and empty files degrade (some tags, no panic).
#[test]
fn broken_and_empty_files_degrade() {
    let cases: [(Lang, &str); 6] = [
        (Lang::Rust, "fn open(x: Foo { let s = \"unterminated"),
        (Lang::Go, "func (s *S) M( { x := `unterminated"),
        (
            Lang::Java,
            "class A { void m( { String s = \"\"\"unterminated",
        ),
        (
            Lang::JavaScript,
            "function f( { const r = /unterminated\nlet s = `${g(",
        ),
        (Lang::TypeScript, "interface I { m(): Promise<"),
        (Lang::Tsx, "const x = <div>{f(</span>"),
    ];
    let found: Vec<(Vec<String>, Vec<String>)> = cases
        .iter()
        .map(|(lang, source)| summary(&scan(*lang, source.as_bytes()).expect("a scan")))
        .collect();
    assert_eq!(
        found,
        vec![
            (strings(&["open function 1"]), strings(&["Foo 1"])),
            (strings(&["M method 1"]), strings(&["S 1"])),
            (
                strings(&["A class 1", "m method 1"]),
                strings(&["String 1"])
            ),
            (strings(&["f function 1"]), strings(&["g 2"])),
            (
                strings(&["I interface 1", "m method 1"]),
                strings(&["Promise 1"])
            ),
            (vec![], strings(&["f 1"])),
        ]
    );
    for lang in Lang::ALL {
        let tags = scan(lang, b"").expect("a scan");
        assert_eq!(summary(&tags), (vec![], vec![]), "{}", lang.name());
    }
}

/// Bytes that are not UTF-8, and random bytes, never make a scan panic.
#[test]
fn random_bytes_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Bytes biased towards the lexers' special characters.
    let alphabet = b"\"'`/\\*#{}()[]<>!?:;.,=-+|&$@rbfnx0e_ \n\t\xff\xc3";
    let mut total = 0;
    for round in 0..400 {
        let len = (next() % 300) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if round % 2 == 0 {
                    alphabet[(r % alphabet.len() as u64) as usize]
                } else {
                    r as u8
                }
            })
            .collect();
        for lang in Lang::ALL {
            let tags = scan(lang, &bytes).expect("a scan");
            total += tags.defs.len() + tags.refs.len();
        }
    }
    // Names are found even in noise (the scans ran over the input).
    assert!(total > 0);
    let invalid = "fn caf\u{e9}() { \u{1f600}(); }".as_bytes().to_vec();
    let mut bad = invalid.clone();
    bad[7] = 0xff;
    // The name that is not UTF-8 is dropped; other non-ASCII names stay.
    let tags = scan(Lang::Rust, &bad).expect("a scan");
    assert_eq!(summary(&tags), (vec![], strings(&["\u{1f600} 1"])));
}

/// Deeply nested or repeated constructs are read without exhausting the
/// stack (templates in templates, types in types, long modifier runs).
#[test]
fn deep_nesting_degrades() {
    let deep = |unit: &str, n: usize| unit.repeat(n).into_bytes();
    let cases = [
        (Lang::JavaScript, deep("`${", 20_000)),
        (Lang::TypeScript, deep("async ", 20_000)),
        (Lang::Go, deep("map struct interface chan ", 5_000)),
        (
            Lang::Go,
            deep("var x ", 1)
                .into_iter()
                .chain(deep("*[]map[chan ", 20_000))
                .collect(),
        ),
        (Lang::Go, deep("func f(a func(", 20_000)),
        (Lang::Rust, deep("Vec<(", 20_000)),
        (Lang::Java, deep("class A {\n", 20_000)),
        (Lang::Tsx, deep("<a>{", 20_000)),
    ];
    for (lang, source) in cases {
        let tags = scan(lang, &source).expect("a scan");
        assert!(tags.provisional, "{}", lang.name());
    }
}

/// A minified file: thousands of definitions on one long line, each with
/// the line's head as its signature.
#[test]
fn minified_lines_give_short_signatures() {
    let source = "function f(){}".repeat(20_000);
    let tags = scan(Lang::JavaScript, source.as_bytes()).expect("a scan");
    assert_eq!(tags.defs.len(), 20_000);
    let expected = format!("{}…", &source[..200]);
    assert!(
        tags.defs
            .iter()
            .all(|d| d.signature == expected && d.line == 1)
    );
}

/// Input on which the rules' look-ahead would take quadratic time (a
/// million-byte line of method headers without a body, `for` clauses without
/// a block) spends the look-ahead budget: the scan gives it up, for
/// tree-sitter to parse. Real code as long stays within it.
#[test]
fn input_that_would_make_look_ahead_quadratic_is_given_up() {
    let headers = b"public int f(int x) ".repeat(50_000);
    assert!(scan(Lang::Java, &headers).is_none());
    let clauses = b"for a ".repeat(150_000);
    assert!(scan(Lang::Go, &clauses).is_none());

    let class = "class Shop {\n    int total(int[] xs) {\n        for (int x : xs) { add(x); }\n        return sum(xs);\n    }\n}\n";
    let long_java = class.repeat(8_000);
    let tags = scan(Lang::Java, long_java.as_bytes()).expect("real code is scanned");
    assert_eq!(tags.defs.len(), 16_000);
    let func = "func Total(xs []int) int {\n\tfor _, x := range xs {\n\t\tadd(x)\n\t}\n\treturn sum(xs)\n}\n";
    let long_go = func.repeat(10_000);
    let tags = scan(Lang::Go, long_go.as_bytes()).expect("real code is scanned");
    assert_eq!(tags.defs.len(), 10_000);
}
