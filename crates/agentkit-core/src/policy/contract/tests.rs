use super::*;
use crate::task::RepoRef;
use crate::verify::CheckResult;

fn added(path: &str, kind: ChangeKind, lines: &[(u32, &str)]) -> FileChange {
    FileChange {
        path: path.into(),
        kind,
        binary: false,
        size: 10,
        added: lines
            .iter()
            .map(|(n, t)| DiffLine {
                number: *n,
                text: t.to_string(),
            })
            .collect(),
        removed: vec![],
    }
}

fn check(
    contract: &CompletionContract,
    diff: &ChangeDiff,
    labels: &[&str],
) -> Vec<(Rule, Option<String>, Option<u32>)> {
    let mut task = Task::new("T-1", "t", "", RepoRef::new("."));
    task.labels = labels.iter().map(|l| l.to_string()).collect();
    let redactor = Redactor::new();
    let cx = ContractContext {
        task: &task,
        verification: None,
        redactor: &redactor,
        base_commit: "base",
    };
    contract
        .check(diff, &cx)
        .into_iter()
        .map(|v| (v.rule, v.path, v.line))
        .collect()
}

#[test]
fn a_clean_change_passes() {
    let diff = ChangeDiff {
        files: vec![added(
            "src/calc.py",
            ChangeKind::Modified,
            &[(2, "    return a + b")],
        )],
    };
    assert_eq!(check(&CompletionContract::default(), &diff, &[]), vec![]);
}

#[test]
fn path_rules_are_lifted_by_labels_and_by_configuration() {
    let diff = ChangeDiff {
        files: vec![
            added(
                "tests/test_calc.py",
                ChangeKind::Modified,
                &[(4, "assert x")],
            ),
            added(
                ".github/workflows/ci.yml",
                ChangeKind::Modified,
                &[(1, "on: push")],
            ),
            added(
                "Cargo.lock",
                ChangeKind::Modified,
                &[(9, "version = \"2\"")],
            ),
        ],
    };
    let contract = CompletionContract::default();
    assert_eq!(
        check(&contract, &diff, &[]),
        vec![
            (Rule::TestFiles, Some("tests/test_calc.py".into()), Some(4)),
            (
                Rule::CiConfig,
                Some(".github/workflows/ci.yml".into()),
                Some(1)
            ),
            (Rule::Lockfile, Some("Cargo.lock".into()), Some(9)),
        ]
    );
    assert_eq!(
        check(
            &contract,
            &diff,
            &[ALLOW_TEST_CHANGES_LABEL, ALLOW_LOCKFILE_CHANGES_LABEL]
        ),
        vec![(
            Rule::CiConfig,
            Some(".github/workflows/ci.yml".into()),
            Some(1)
        )]
    );
    let mut relaxed = CompletionContract::default();
    relaxed.ci.allowed = true;
    relaxed.tests.allowed = true;
    relaxed.lockfiles.allowed = true;
    assert_eq!(check(&relaxed, &diff, &[]), vec![]);
}

#[test]
fn size_new_files_and_required_checks() {
    let mut big = added("data.bin", ChangeKind::Added, &[]);
    big.size = 5 * 1024 * 1024;
    let mut image = added("logo.png", ChangeKind::Added, &[]);
    image.binary = true;
    let diff = ChangeDiff {
        files: vec![
            added("__pycache__/calc.cpython-311.pyc", ChangeKind::Added, &[]),
            big,
            image,
            added(
                "src/a.py",
                ChangeKind::Modified,
                &[(1, "a"), (2, "b"), (3, "c")],
            ),
        ],
    };
    let contract = CompletionContract {
        max_files: Some(3),
        max_lines: Some(2),
        required_checks: vec!["tests".into()],
        ..CompletionContract::default()
    };
    assert_eq!(
        check(&contract, &diff, &[]),
        vec![
            (Rule::DiffTooLarge, None, None),
            (Rule::DiffTooLarge, None, None),
            (
                Rule::GeneratedFile,
                Some("__pycache__/calc.cpython-311.pyc".into()),
                None
            ),
            (Rule::FileTooLarge, Some("data.bin".into()), None),
            (Rule::BinaryFile, Some("logo.png".into()), None),
            (Rule::RequiredCheck, None, None),
        ]
    );
    let verification = Verification::from_checks(vec![CheckResult {
        name: "tests".into(),
        command: "pytest".into(),
        passed: true,
        status: "exit 0".into(),
        output: String::new(),
        duration: std::time::Duration::ZERO,
    }]);
    let task = Task::new("T-1", "t", "", RepoRef::new("."));
    let redactor = Redactor::new();
    let cx = ContractContext {
        task: &task,
        verification: Some(&verification),
        redactor: &redactor,
        base_commit: "base",
    };
    let only_required = CompletionContract {
        max_files: None,
        max_lines: None,
        required_checks: vec!["tests".into()],
        ..CompletionContract::default()
    };
    let clean = ChangeDiff {
        files: vec![added("src/a.py", ChangeKind::Modified, &[(1, "a")])],
    };
    assert_eq!(only_required.check(&clean, &cx), vec![]);
}

#[test]
fn secrets_are_reported_masked_with_file_and_line() {
    let token = format!("ghp_{}", "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed9Cb8A7");
    let diff = ChangeDiff {
        files: vec![added(
            "src/settings.py",
            ChangeKind::Modified,
            &[(7, &format!("TOKEN = \"{token}\""))],
        )],
    };
    let task = Task::new("T-1", "t", "", RepoRef::new("."));
    let redactor = Redactor::new();
    let cx = ContractContext {
        task: &task,
        verification: None,
        redactor: &redactor,
        base_commit: "base",
    };
    let violations = CompletionContract::default().check(&diff, &cx);
    assert_eq!(
        violations,
        vec![Violation {
            rule: Rule::Secret,
            path: Some("src/settings.py".into()),
            line: Some(7),
            message: "the line holds a GitHub token (ghp_…(42 chars))".into(),
            fix: "never commit credentials: read them from the environment or a secrets store, \
                  and use an obviously fake placeholder in code and tests"
                .into(),
        }]
    );
    let text = feedback(&violations, true);
    assert!(!text.contains(&token[4..]), "{text}");
    assert!(text.contains("[secret] src/settings.py:7"), "{text}");
}
