use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("agentd.toml"), text)
}

#[test]
fn an_empty_file_is_the_embedded_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
    assert_eq!(
        Config::default().sqlite_path(),
        PathBuf::from(".agentkit/agentd.sqlite3")
    );
}

#[test]
fn errors_name_the_file_the_line_and_the_key() {
    let err = parse("listen = \"127.0.0.1:9000\"\n\n[workers]\nconcurrency = \"four\"\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "agentd.toml:4:15: key `workers.concurrency`: invalid type: string \"four\", expected usize"
    );
    let err = parse("[sandbox]\nnetwork = \"deny\"\nallow_list = []\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("agentd.toml:3:1: key `sandbox.allow_list`: unknown field `allow_list`"),
        "{err}"
    );
    let err = parse("[model\nspec = 1").unwrap_err().to_string();
    assert!(err.starts_with("agentd.toml:1:"), "{err}");
}

#[test]
fn environment_variables_override_the_file() {
    let vars: Vec<(String, String)> = [
        ("AGENTD_LISTEN", "127.0.0.1:9999"),
        ("AGENTD_STORE", "memory"),
        ("AGENTD_MODEL", "openai:gpt-4.1"),
        ("AGENTD_CONCURRENCY", "8"),
        ("AGENTD_TOKEN", ""),
        ("UNRELATED", "x"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut config = parse("listen = \"127.0.0.1:1\"\n[workers]\nconcurrency = 2\n").unwrap();
    apply_env(&mut config, &vars).unwrap();
    assert_eq!(config.listen, "127.0.0.1:9999".parse().unwrap());
    assert_eq!(config.store.kind, StoreKind::Memory);
    assert_eq!(config.model.spec.as_deref(), Some("openai:gpt-4.1"));
    assert_eq!(config.workers.concurrency, 8);
    assert_eq!(config.token, None);
    let bad = [("AGENTD_CONCURRENCY".to_string(), "many".to_string())];
    assert_eq!(
        apply_env(&mut config, &bad).unwrap_err().to_string(),
        "environment variable AGENTD_CONCURRENCY: `many` is not valid: invalid digit found in string"
    );
}

#[test]
fn triggers_and_the_github_forge_are_read_and_bad_keys_named() {
    let config = parse(
        "[forge]\nkind = \"github\"\n[forge.github]\ntoken = \"env:GH\"\nrepos = [\"acme/app\"]\n\
         [triggers.github]\nwebhook_secret = \"file:/run/secrets/hook\"\n\
         [[triggers.cron]]\nname = \"deps\"\nschedule = \"0 3 * * 1-5\"\ntimezone = \"Europe/Paris\"\n\
         title = \"Update dependencies\"\n",
    )
    .unwrap();
    config.check().unwrap();
    let hook = config.triggers.github.as_ref().unwrap();
    assert_eq!(
        (
            hook.label.as_str(),
            hook.bot_login.as_str(),
            hook.progress_comment
        ),
        ("agent", "agentkit", true)
    );
    assert_eq!(
        hook.webhook_secret,
        SecretSource::File(PathBuf::from("/run/secrets/hook"))
    );
    assert_eq!(
        hook.associations,
        vec!["OWNER".to_string(), "MEMBER".into(), "COLLABORATOR".into()]
    );
    assert_eq!(config.triggers.cron[0].timezone, "Europe/Paris");
    let narrowed = parse(
        "[triggers.slack]\nsigning_secret = \"env:S\"\nusers = [\"U1\"]\nchannels = [\"C7\"]\n\
         [triggers.github]\nwebhook_secret = \"env:W\"\nassociations = [\"OWNER\"]\n",
    )
    .unwrap();
    let slack = narrowed.triggers.slack.as_ref().unwrap();
    assert_eq!(
        (slack.users.clone(), slack.channels.clone()),
        (vec!["U1".to_string()], vec!["C7".to_string()])
    );
    assert_eq!(
        narrowed.triggers.github.as_ref().unwrap().associations,
        vec!["OWNER".to_string()]
    );
    assert_eq!(
        config.first_repo().as_deref(),
        Some("https://github.com/acme/app.git")
    );

    let err = parse("[triggers.github]\nwebhook_secret = \"hunter2\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "agentd.toml:2:18: key `triggers.github.webhook_secret`: secrets are not written \
             into the config file"
        ),
        "{err}"
    );
    let err = parse("[triggers.slack]\nsigning_secret = \"env:S\"\nchannel = \"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("agentd.toml:3:1: key `triggers.slack.channel`: unknown field `channel`"),
        "{err}"
    );
    let err = parse("[[triggers.cron]]\nname = \"n\"\nschedule = \"61 * * * *\"\ntitle = \"t\"\n")
        .unwrap()
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid configuration: triggers.cron: schedule `n`: `61 * * * *`"),
        "{err}"
    );
    let err = parse("[triggers.github]\nwebhook_secret = \"env:H\"\n")
        .unwrap()
        .check()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid configuration: [triggers.github] needs [forge.github]"),
        "{err}"
    );
    let err = parse("[forge]\nkind = \"github\"\n")
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: forge.kind is \"github\" but [forge.github] is missing"
    );
    let err = parse(
        "[forge.github]\ntoken = \"env:GH\"\nrepos = [\"acme/app\"]\n\
         [triggers.github]\nwebhook_secret = \"env:H\"\nrepos = [\"acme/other\"]\n",
    )
    .unwrap()
    .check()
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: triggers.github.repos[0]: `acme/other` is not in \
         forge.github.repos, so its tasks could not publish"
    );
}

#[test]
fn combinations_that_cannot_work_are_refused() {
    let config = Config {
        token: Some("short".into()),
        ..Config::default()
    };
    assert!(
        config
            .check()
            .unwrap_err()
            .to_string()
            .contains("shorter than 16")
    );
    let config = parse("[store]\nkind = \"postgres\"\n").unwrap();
    assert!(
        config
            .check()
            .unwrap_err()
            .to_string()
            .contains("store.url is missing")
    );
    let config = parse("[sandbox]\nallow = [\"crates.io\"]\n").unwrap();
    assert!(
        config
            .check()
            .unwrap_err()
            .to_string()
            .contains("allow-list")
    );
}
