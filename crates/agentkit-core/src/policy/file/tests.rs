use super::*;
use crate::policy::contract::Rule;

fn err(text: &str) -> (usize, usize, String, String) {
    let e = PolicyLayer::parse("ops/policy.toml", text).unwrap_err();
    assert_eq!(e.file, "ops/policy.toml");
    (e.line, e.column, e.key, e.message)
}

#[test]
fn errors_name_file_line_and_key() {
    let (line, _, key, message) = err("[budgets]\nmax_steps = 10\n\n[contract]\nmax_filez = 3\n");
    assert_eq!((line, key.as_str()), (5, "contract.max_filez"));
    assert!(
        message.starts_with("unknown field `max_filez`"),
        "{message}"
    );

    let (line, column, key, message) = err("[contract]\nallow_test_changes = \"yes\"\n");
    assert_eq!(
        (line, column, key.as_str()),
        (2, 22, "contract.allow_test_changes")
    );
    assert!(message.contains("expected a boolean"), "{message}");

    let (line, _, key, message) = err("[paths]\ndeny = [\n  \"ok/**\",\n  \"src/[a\",\n]\n");
    assert_eq!((line, key.as_str()), (4, "paths.deny[1]"));
    assert!(message.contains("src/[a"), "{message}");

    let (line, _, key, _) = err("[commands]\ndeny = [{ pattern = \"(\", reason = \"x\" }]\n");
    assert_eq!((line, key.as_str()), (2, "commands.deny[0].pattern"));

    let (line, _, key, message) =
        err("[network]\nmode = \"allow_list\"\nallow = [\"https://pypi.org/simple\"]\n");
    assert_eq!((line, key.as_str()), (3, "network.allow[0]"));
    assert!(message.contains("not a host"), "{message}");

    let (line, _, key, message) = err("[network]\nmode = \"some\"\n");
    assert_eq!((line, key.as_str()), (2, "network.mode"));
    assert!(message.contains("unknown variant `some`"), "{message}");

    let (line, _, _, message) = err("[contract\n");
    assert_eq!(line, 1);
    assert!(!message.is_empty());

    let missing = PolicyLayer::read(Path::new("/nonexistent/policy.toml")).unwrap_err();
    assert_eq!(missing.file, "/nonexistent/policy.toml");
    assert!(
        missing.to_string().contains("cannot read the policy file"),
        "{missing}"
    );
}

#[test]
fn the_operator_wins_key_by_key() {
    let repo = PolicyLayer::parse(
        ".agentkit/policy.toml",
        "[tools]\nallow = [\"read_file\", \"finish\"]\n[budgets]\nmax_steps = 10\nmax_cost_usd = 1.5\n\
         [network]\nmode = \"allow_list\"\nallow = [\"pypi.org\"]\n\
         [contract]\nallow_test_changes = true\nmax_files = 5\nrequired_checks = [\"tests\"]\n[contract.secrets]\nentropy = false\n",
    )
    .unwrap();
    let operator = PolicyLayer::parse(
        "operator.toml",
        "[budgets]\nmax_steps = 30\n[contract]\nmax_files = 0\n[contract.secrets]\nentropy_min_length = 32\n",
    )
    .unwrap();
    let policy = Policy::from_layers([repo, operator]).unwrap();
    assert_eq!(
        policy.sources,
        vec![".agentkit/policy.toml", "operator.toml"]
    );
    assert_eq!(
        policy.allowed_tools,
        Some(vec!["read_file".to_string(), "finish".to_string()])
    );
    assert_eq!(
        policy.budgets,
        Budgets {
            max_steps: 30,
            max_cost_usd: Some(1.5),
            ..Budgets::default()
        }
    );
    assert_eq!(
        policy.network,
        Some(NetworkPolicy::AllowList(vec!["pypi.org".into()]))
    );
    let contract = policy.contract.clone().unwrap();
    assert_eq!(
        (
            contract.tests.allowed,
            contract.max_files,
            contract.max_lines,
            contract.required_checks.clone()
        ),
        (true, None, Some(2000), vec!["tests".to_string()])
    );
    assert_eq!(
        (
            contract.secrets.entropy,
            contract.secrets.entropy_min_length
        ),
        (false, 32)
    );
    assert_eq!(policy.hooks().len(), 3);
}

#[test]
fn defaults_hold_without_files_and_the_contract_can_be_switched_off() {
    let policy = Policy::from_layers([]).unwrap();
    let contract = policy.contract.clone().unwrap();
    assert_eq!(
        (contract.max_files, contract.feedback_rounds),
        (Some(50), 1)
    );
    assert_eq!(
        contract.tests.globs.matching("tests/a.rs"),
        Some("tests/**")
    );
    assert_eq!(policy.hooks().len(), 2);
    let off = PolicyLayer::parse("p.toml", "[contract]\nenabled = false\n").unwrap();
    assert!(Policy::from_layers([off]).unwrap().contract.is_none());
    let custom =
        PolicyLayer::parse("p.toml", "[contract]\ntest_globs = [\"checks/**\"]\n").unwrap();
    let contract = Policy::from_layers([custom]).unwrap().contract.unwrap();
    assert_eq!(contract.tests.globs.matching("tests/a.rs"), None);
    assert_eq!(
        contract.tests.globs.matching("checks/a.rs"),
        Some("checks/**")
    );
    let _ = Rule::TestFiles;
}

#[test]
fn the_setup_table_layers_key_by_key_and_remembers_whose_script_runs() {
    let repo = PolicyLayer::parse(
        ".agentkit/policy.toml",
        "[setup]\nscript = \"make deps\"\nenv = [\"PIP_INDEX_URL\"]\nnetwork = [\"127.0.0.1:3141\"]\nneeds = [\"python3\"]\n",
    )
    .unwrap();
    let operator = PolicyLayer::parse("ops.toml", "[setup]\ntimeout_secs = 60\n").unwrap();
    let policy = Policy::from_layers([repo.clone(), operator]).unwrap();
    assert_eq!(
        policy.setup,
        Some(SetupPolicy {
            script: Some("make deps".into()),
            script_from: Some(".agentkit/policy.toml".into()),
            env: vec!["PIP_INDEX_URL".into()],
            network: Some(NetworkPolicy::AllowList(vec!["127.0.0.1:3141".into()])),
            timeout: Some(Duration::from_secs(60)),
            needs: vec!["python3".into()],
            inputs: None,
        })
    );
    let over = PolicyLayer::parse(
        "ops.toml",
        "[setup]\nscript = \"true\"\nnetwork = \"deny\"\n",
    )
    .unwrap();
    let policy = Policy::from_layers([repo, over]).unwrap().setup.unwrap();
    assert_eq!(
        (policy.script_from.as_deref(), policy.network),
        (Some("ops.toml"), Some(NetworkPolicy::Deny))
    );
    let registries = PolicyLayer::parse("p.toml", "[setup]\nnetwork = \"registries\"\n").unwrap();
    assert_eq!(
        Policy::from_layers([registries])
            .unwrap()
            .setup
            .unwrap()
            .network,
        Some(crate::environment::registries())
    );
}

#[test]
fn a_bad_setup_key_is_named_with_its_line() {
    let err = PolicyLayer::parse(
        "p.toml",
        "[setup]\nscript = \"x\"\nenv = [\"OK\", \"NOT OK\"]\n",
    )
    .unwrap_err();
    assert_eq!(
        (err.line, err.key.as_str(), err.message.as_str()),
        (
            3,
            "setup.env[1]",
            "`NOT OK` is not a variable name (letters, digits and `_`, not starting with a digit)"
        )
    );
    let err = PolicyLayer::parse("p.toml", "[setup]\ntimeout = 5\n").unwrap_err();
    assert_eq!((err.line, err.key.as_str()), (2, "setup.timeout"));
    assert!(
        err.message.starts_with("unknown field `timeout`"),
        "{}",
        err.message
    );
    let err = PolicyLayer::parse("p.toml", "[setup]\nnetwork = \"some\"\n").unwrap_err();
    assert_eq!((err.line, err.key.as_str()), (2, "setup.network"));
    let err = PolicyLayer::parse("p.toml", "[setup]\ninputs = [\"../x.lock\"]\n").unwrap_err();
    assert_eq!(err.key, "setup.inputs[0]");
}
