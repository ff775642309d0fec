//! agentd refuses to start on integration config that cannot work, naming
//! the key: a sandbox backend this build lacks, a secret that is not there.

use std::path::Path;

use agentkit_server::config::Config;
use agentkit_server::daemon::{StartError, StartOptions, start};

async fn refusal(toml: &str) -> String {
    let config = Config::parse(Path::new("agentd.toml"), toml).unwrap();
    config.check().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.json");
    std::fs::write(&script, "[]").unwrap();
    match start(
        &config,
        StartOptions::new(format!("scripted:{}", script.display()), None),
    )
    .await
    {
        Err(StartError::Refused(message)) => message,
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("agentd started"),
    }
}

const BASE: &str = "listen = \"127.0.0.1:0\"\n[store]\nkind = \"memory\"\n";

#[tokio::test]
async fn a_sandbox_backend_this_build_lacks_is_refused_not_replaced() {
    let message = refusal(&format!("{BASE}[sandbox]\nbackend = \"firecracker\"\n")).await;
    assert!(
        message.starts_with("sandbox.backend `firecracker` cannot be used: "),
        "{message}"
    );
    assert!(
        message.contains("\"auto\" picks the strongest"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_trigger_secret_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let message = refusal(&format!(
        "{BASE}[sandbox]\nbackend = \"local\"\n[forge]\nrepos = [\"{}\"]\n\
         [triggers.slack]\nsigning_secret = \"file:{}\"\n",
        dir.path().display(),
        missing.display()
    ))
    .await;
    assert!(
        message.starts_with(&format!(
            "triggers.slack.signing_secret: cannot read the secret file `{}`",
            missing.display()
        )),
        "{message}"
    );
    let message = refusal(&format!(
        "{BASE}[sandbox]\nbackend = \"local\"\n[triggers.linear]\n\
         webhook_secret = \"env:AGENTD_TEST_SURELY_UNSET_VARIABLE\"\nlabel = \"agent\"\nrepo = \"/srv/app\"\n"
    ))
    .await;
    assert_eq!(
        message,
        "triggers.linear.webhook_secret: the environment variable \
         AGENTD_TEST_SURELY_UNSET_VARIABLE is not set (or is empty)"
    );
}
