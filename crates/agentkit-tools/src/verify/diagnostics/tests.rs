//! Parsers on the documented formats of tools not installed here (tsc,
//! ESLint) and on edge cases; `tests/diagnostics.rs` runs cargo, pytest and
//! go for real.

use super::*;

#[test]
fn tsc_lines_become_diagnostics() {
    let out = "src/a.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.\n\
               src/b.ts(10,1): error TS2304: Cannot find name 'foo'.\nFound 2 errors.\n";
    assert_eq!(
        parse(Format::Auto, out).unwrap(),
        vec![
            Diagnostic {
                test: None,
                file: Some("src/a.ts".into()),
                line: Some(3),
                column: Some(7),
                message: "TS2322: Type 'string' is not assignable to type 'number'.".into()
            },
            Diagnostic {
                test: None,
                file: Some("src/b.ts".into()),
                line: Some(10),
                column: Some(1),
                message: "TS2304: Cannot find name 'foo'.".into()
            },
        ]
    );
}

#[test]
fn eslint_json_keeps_errors_only() {
    let out = r#"[{"filePath":"/w/src/a.js","messages":[{"ruleId":"no-unused-vars","severity":2,"message":"'x' is assigned a value but never used.","line":1,"column":7},{"ruleId":"semi","severity":1,"message":"Missing semicolon.","line":2,"column":3}],"errorCount":1,"warningCount":1}]"#;
    assert_eq!(
        parse(Format::Auto, out).unwrap(),
        vec![Diagnostic {
            test: None,
            file: Some("/w/src/a.js".into()),
            line: Some(1),
            column: Some(7),
            message: "no-unused-vars: 'x' is assigned a value but never used.".into()
        }]
    );
}

#[test]
fn unknown_output_falls_back() {
    assert_eq!(parse(Format::Auto, "make: *** [all] Error 2\n"), None);
    assert_eq!(parse(Format::Text, "error TS1: x\n"), None);
}

#[test]
fn render_stays_within_its_budget() {
    let many: Vec<Diagnostic> = (1..=50)
        .map(|i| Diagnostic {
            test: Some(format!("t{i}")),
            file: Some("a.py".into()),
            line: Some(i),
            column: None,
            message: "assert 1 == 2".into(),
        })
        .collect();
    let text = render(&many, 200);
    assert!(text.len() <= 200 + 40, "{text}");
    assert!(
        text.starts_with("50 problems:\n- a.py:1: test `t1` failed: assert 1 == 2\n"),
        "{text}"
    );
    assert!(text.contains("more\n"), "{text}");
}
