//! Skip markers and test definitions, per language (by file extension).
//!
//! A marker counts as *new* when a file gains more lines with it than it
//! loses (moving a skipped test is fine; adding a skip is not). A test counts
//! as *deleted* when its name is removed somewhere and added nowhere in the
//! change (for Rust, Java and Kotlin, whose test names sit on another line
//! than the attribute: when a file loses more test attributes than it gains).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use regex::Regex;

use super::diff::{ChangeDiff, DiffLine};

/// A language family, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Rust,
    Python,
    Go,
    Js,
    Jvm,
    Ruby,
}

fn lang_of(path: &str) -> Option<Lang> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "rs" => Lang::Rust,
        "py" => Lang::Python,
        "go" => Lang::Go,
        "js" | "jsx" | "ts" | "tsx" | "mjs" | "cjs" => Lang::Js,
        "java" | "kt" | "kts" => Lang::Jvm,
        "rb" => Lang::Ruby,
        _ => return None,
    })
}

struct Patterns {
    skips: Vec<(Lang, Regex, &'static str)>,
    /// Test definitions whose name is captured in group 1.
    named: Vec<(Lang, Regex)>,
    /// Test attributes on their own line (name on a later line).
    attributes: Vec<(Lang, Regex)>,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let re = |p: &str| Regex::new(p).expect("built-in pattern");
        Patterns {
            skips: vec![
                (Lang::Rust, re(r"#\[\s*ignore\b"), "#[ignore]"),
                (
                    Lang::Python,
                    re(r"\bpytest\.mark\.(skip|skipif|xfail)\b"),
                    "@pytest.mark.skip/skipif/xfail",
                ),
                (
                    Lang::Python,
                    re(r"\bpytest\.(skip|xfail|importorskip)\s*\("),
                    "pytest.skip()/xfail()",
                ),
                (
                    Lang::Python,
                    re(r"@(unittest\.)?(skip|skipIf|skipUnless|expectedFailure)\b"),
                    "@unittest.skip",
                ),
                (
                    Lang::Python,
                    re(r"\b(self\.skipTest\s*\(|raise\s+(unittest\.)?SkipTest\b)"),
                    "skipTest",
                ),
                (
                    Lang::Js,
                    re(r"\b(it|test|describe|context|suite)\.(skip|todo|only)\b"),
                    "it.skip/test.skip/describe.skip/.only",
                ),
                (
                    Lang::Js,
                    re(r"\b(xit|xdescribe|xtest|xcontext|fit|fdescribe)\s*\("),
                    "xit/xdescribe",
                ),
                (Lang::Go, re(r"\b[tb]\.(Skip|SkipNow|Skipf)\s*\("), "t.Skip"),
                (
                    Lang::Jvm,
                    re(r"@(Disabled|Ignore|DisabledIf\w*)\b"),
                    "@Disabled/@Ignore",
                ),
                (
                    Lang::Ruby,
                    re(r"^\s*(xit|xdescribe|skip|pending)\b"),
                    "xit/skip/pending",
                ),
            ],
            named: vec![
                (Lang::Python, re(r"^\s*(?:async\s+)?def\s+(test\w*)\s*\(")),
                (Lang::Go, re(r"^func\s+((?:Test|Benchmark|Fuzz)\w*)\s*\(")),
                (Lang::Js, re(r#"\b(?:it|test)\s*\(\s*['"`]([^'"`]+)['"`]"#)),
                (Lang::Ruby, re(r#"^\s*it\s+['"]([^'"]+)['"]"#)),
            ],
            attributes: vec![
                (
                    Lang::Rust,
                    re(r"#\[\s*(?:[\w:]+::)?(?:test|rstest|test_case|quickcheck)\b"),
                ),
                (Lang::Jvm, re(r"@(?:Test|ParameterizedTest|RepeatedTest)\b")),
            ],
        }
    })
}

/// A new skip marker: where, and which kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewSkip {
    pub path: String,
    pub line: u32,
    pub marker: &'static str,
}

/// Skip markers the change adds (see the [module docs](self)).
pub(crate) fn new_skips(diff: &ChangeDiff) -> Vec<NewSkip> {
    let mut out = Vec::new();
    for file in &diff.files {
        let Some(lang) = lang_of(&file.path) else {
            continue;
        };
        for (_, re, marker) in patterns().skips.iter().filter(|(l, ..)| *l == lang) {
            let hits = |lines: &[DiffLine]| -> Vec<u32> {
                lines
                    .iter()
                    .filter(|l| re.is_match(&l.text))
                    .map(|l| l.number)
                    .collect()
            };
            let added = hits(&file.added);
            let removed = hits(&file.removed).len();
            if added.len() > removed {
                out.push(NewSkip {
                    path: file.path.clone(),
                    line: added[removed],
                    marker,
                });
            }
        }
    }
    out
}

/// A test the change removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletedTest {
    pub path: String,
    /// Line in the old file.
    pub line: u32,
    /// The test's name, or the attribute line when the name is elsewhere.
    pub name: String,
}

/// Tests the change deletes (see the [module docs](self)).
pub(crate) fn deleted_tests(diff: &ChangeDiff) -> Vec<DeletedTest> {
    let p = patterns();
    let mut added_names = BTreeSet::new();
    for file in &diff.files {
        let Some(lang) = lang_of(&file.path) else {
            continue;
        };
        for (_, re) in p.named.iter().filter(|(l, _)| *l == lang) {
            for line in &file.added {
                if let Some(name) = re.captures(&line.text).and_then(|c| c.get(1)) {
                    added_names.insert(name.as_str().to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    for file in &diff.files {
        let Some(lang) = lang_of(&file.path) else {
            continue;
        };
        for (_, re) in p.named.iter().filter(|(l, _)| *l == lang) {
            for line in &file.removed {
                let Some(name) = re.captures(&line.text).and_then(|c| c.get(1)) else {
                    continue;
                };
                if !added_names.contains(name.as_str()) {
                    out.push(DeletedTest {
                        path: file.path.clone(),
                        line: line.number,
                        name: name.as_str().to_string(),
                    });
                }
            }
        }
        for (_, re) in p.attributes.iter().filter(|(l, _)| *l == lang) {
            let added = file.added.iter().filter(|l| re.is_match(&l.text)).count();
            let removed: Vec<&DiffLine> = file
                .removed
                .iter()
                .filter(|l| re.is_match(&l.text))
                .collect();
            if removed.len() > added {
                let first = removed[added];
                out.push(DeletedTest {
                    path: file.path.clone(),
                    line: first.number,
                    name: first.text.trim().to_string(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::contract::diff::{ChangeKind, FileChange};

    fn file(path: &str, added: &[(u32, &str)], removed: &[(u32, &str)]) -> FileChange {
        let lines = |l: &[(u32, &str)]| {
            l.iter()
                .map(|(n, t)| DiffLine {
                    number: *n,
                    text: t.to_string(),
                })
                .collect()
        };
        FileChange {
            path: path.into(),
            kind: ChangeKind::Modified,
            binary: false,
            size: 1,
            added: lines(added),
            removed: lines(removed),
        }
    }

    #[test]
    fn new_skip_markers_are_found_in_every_language_and_moves_are_not() {
        let diff = ChangeDiff {
            files: vec![
                file("src/lib.rs", &[(10, "    #[ignore]")], &[]),
                file("t/test_a.py", &[(3, "@pytest.mark.xfail(reason='x')")], &[]),
                file(
                    "t/test_b.py",
                    &[(7, "@pytest.mark.skip")],
                    &[(2, "@pytest.mark.skip")],
                ),
                file("a.test.ts", &[(4, "it.skip('works', () => {})")], &[]),
                file("a_test.go", &[(9, "\tt.Skip(\"flaky\")")], &[]),
                file("AppTest.java", &[(5, "  @Disabled")], &[]),
                file("README.md", &[(1, "#[ignore]")], &[]),
            ],
        };
        let found: Vec<(String, u32, &str)> = new_skips(&diff)
            .into_iter()
            .map(|s| (s.path, s.line, s.marker))
            .collect();
        assert_eq!(
            found,
            vec![
                ("src/lib.rs".into(), 10, "#[ignore]"),
                ("t/test_a.py".into(), 3, "@pytest.mark.skip/skipif/xfail"),
                (
                    "a.test.ts".into(),
                    4,
                    "it.skip/test.skip/describe.skip/.only"
                ),
                ("a_test.go".into(), 9, "t.Skip"),
                ("AppTest.java".into(), 5, "@Disabled/@Ignore"),
            ]
        );
    }

    #[test]
    fn removed_tests_count_unless_they_reappear() {
        let diff = ChangeDiff {
            files: vec![
                file(
                    "tests/test_calc.py",
                    &[],
                    &[(4, "def test_add():"), (8, "def test_sub():")],
                ),
                file("tests/test_moved.py", &[(1, "def test_sub():")], &[]),
                file(
                    "src/lib.rs",
                    &[],
                    &[(20, "    #[test]"), (21, "    fn adds() {")],
                ),
                file("calc_test.go", &[], &[(3, "func TestDiv(t *testing.T) {")]),
            ],
        };
        let found: Vec<(String, u32, String)> = deleted_tests(&diff)
            .into_iter()
            .map(|t| (t.path, t.line, t.name))
            .collect();
        assert_eq!(
            found,
            vec![
                ("tests/test_calc.py".into(), 4, "test_add".into()),
                ("src/lib.rs".into(), 20, "#[test]".into()),
                ("calc_test.go".into(), 3, "TestDiv".into()),
            ]
        );
    }
}
