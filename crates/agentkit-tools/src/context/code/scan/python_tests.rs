use super::super::super::tags::FileTags;
use super::scan;

/// A definition as `(name, kind, line, start, end)`.
type Def = (String, &'static str, u32, u32, u32);

fn def_rows(tags: &FileTags) -> Vec<Def> {
    tags.defs
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                d.kind.name(),
                d.line,
                d.start_line,
                d.end_line,
            )
        })
        .collect()
}

/// The scan's definitions, and `(name, lines)` of each reference.
fn tags(source: &str) -> (Vec<Def>, Vec<(String, Vec<u32>)>) {
    let tags = scan(source.as_bytes());
    assert!(tags.provisional && tags.chunks.is_empty());
    (
        def_rows(&tags),
        tags.refs
            .iter()
            .map(|r| (r.name.clone(), r.lines.clone()))
            .collect(),
    )
}

fn owned(v: &[(&str, &'static str, u32, u32, u32)]) -> Vec<Def> {
    v.iter()
        .map(|(n, k, a, b, c)| (n.to_string(), *k, *a, *b, *c))
        .collect()
}

fn refs(v: &[(&str, &[u32])]) -> Vec<(String, Vec<u32>)> {
    v.iter().map(|(n, l)| (n.to_string(), l.to_vec())).collect()
}

#[test]
fn code_in_strings_and_comments_is_not_code() {
    let source = "\"\"\"def fake(): call()\"\"\"\n# def nope(): x()\ns = r'\\' + run()'\nb = b\"helper()\"\n";
    assert_eq!(
        tags(source),
        (
            owned(&[("s", "const", 3, 3, 3), ("b", "const", 4, 4, 4)]),
            refs(&[])
        ),
    );
    assert_eq!(scan(source.as_bytes()).defs, exact(source).defs);
}

#[test]
fn f_string_fields_are_code_and_their_specs_are_not() {
    let source = "x = f\"{render(a)!r:>{width}} {{literal()}} {obj.attr}\"\n";
    assert_eq!(
        tags(source),
        (
            owned(&[("x", "const", 1, 1, 1)]),
            refs(&[("a", &[1]), ("attr", &[1]), ("render", &[1])]),
        ),
    );
    assert_eq!(scan(source.as_bytes()).refs, exact(source).refs);
}

/// Tree-sitter's tags of `source`.
fn exact(source: &str) -> FileTags {
    super::super::super::tags::Extractor::new()
        .extract(super::super::super::lang::Lang::Python, source.as_bytes())
        .unwrap()
}

#[test]
fn blocks_end_where_the_indentation_does() {
    let source = "\
@decorate
class Shop(Base, mixins.Audit):
    rate: Money = 1

    async def pay(self, amount: Money, *, note: str = '') -> Receipt:
        def inner():
            return total(
                amount,
            )
        return inner()

    # a comment at the class's depth

def top(): return 1
LIMIT = (
    3)
";
    let (defs, refs_found) = tags(source);
    assert_eq!(
        defs,
        owned(&[
            ("Shop", "class", 2, 2, 10),
            ("pay", "function", 5, 5, 10),
            ("inner", "function", 6, 6, 9),
            ("top", "function", 14, 14, 14),
            ("LIMIT", "const", 15, 15, 16),
        ])
    );
    // Tree-sitter's definitions are the same; its spans too, but that its
    // class block takes in the comment at the class's depth (spans are not
    // used for ranking, and exact tags replace these).
    assert_eq!(scan(source.as_bytes()).refs, exact(source).refs);
    let exact = def_rows(&exact(source));
    let mut expected = defs.clone();
    expected[0].4 = 12;
    assert_eq!(exact, expected);
    assert_eq!(
        refs_found,
        refs(&[
            ("Audit", &[2]),
            ("Base", &[2]),
            ("Money", &[3, 5]),
            ("Receipt", &[5]),
            ("amount", &[8]),
            ("decorate", &[1]),
            ("inner", &[10]),
            ("str", &[5]),
            ("total", &[7]),
        ])
    );
}

#[test]
fn imports_refer_to_the_names_they_bring_in() {
    let source = "from __future__ import annotations\nimport os.path\nfrom .models import (Order, Line as L)\nfrom a.b import c\n";
    assert_eq!(
        tags(source),
        (
            owned(&[]),
            refs(&[("Line", &[3]), ("Order", &[3]), ("c", &[4])])
        ),
    );
    assert_eq!(scan(source.as_bytes()).refs, exact(source).refs);
}

#[test]
fn bad_input_degrades_without_panicking() {
    for source in [
        &b""[..],
        b"def",
        b"class (",
        b"x = '''unterminated\n def f(): pass",
        b"f\"{unclosed(\n",
        b"def \xff\xfe(x): pass\n\xc3(\n",
        b")))]]]}}}:::",
        b"\\\n\\",
    ] {
        let _ = scan(source);
    }
    // f-string fields nested past the recursion cap are read as text (a
    // recursion per level would overflow the stack).
    for deep in [b"f\"{".repeat(200_000), b"f'{x:{".repeat(200_000)] {
        let _ = scan(&deep);
    }
    let nested = format!("x = {}call(y){}\n", "f\"{".repeat(100), "}\"".repeat(100));
    assert_eq!(tags(&nested).0, owned(&[("x", "const", 1, 1, 1)]));
    // Bytes from a fixed-seed generator, in many lengths.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for len in 0..400 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b"def class ( ) [ ] { } : = . @ \" ' f\\\n #x_9\xff"[(state % 41) as usize]
            })
            .collect();
        let tags = scan(&bytes);
        for def in &tags.defs {
            assert!(
                def.start_line <= def.line && def.line <= def.end_line,
                "{def:?}"
            );
        }
    }
}
