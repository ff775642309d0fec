//! The command environment starts empty: host secrets never leak in unless
//! the policy names them.
//!
//! One test in its own binary: it sets a variable in this process before any
//! other thread exists, which `std::env::set_var` requires.

use std::collections::BTreeMap;

use agentkit_core::sandbox::{ExecRequest, Sandbox, SandboxPolicy};
use agentkit_sandbox::local::LocalSandbox;

const SECRET: &str = "AGENTKIT_TEST_FAKE_SECRET";

fn parse_env(bytes: &str) -> BTreeMap<String, String> {
    bytes
        .split('\0')
        .filter(|s| !s.is_empty())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn environment_is_built_from_the_allow_list_the_spec_and_the_request() {
    // SAFETY: this is the only test in this binary and no runtime or other
    // thread has been started yet.
    unsafe { std::env::set_var(SECRET, "hunter2") };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let host_path = std::env::var("PATH").unwrap();

        // Default policy: the secret is not visible; allowed host vars are.
        let sandbox =
            LocalSandbox::attach(dir.path(), SandboxPolicy::default(), BTreeMap::new()).unwrap();
        let out = sandbox
            .exec(ExecRequest::argv(["env", "-0"]))
            .await
            .unwrap();
        let seen = parse_env(&out.stdout.text);
        assert!(!seen.contains_key(SECRET), "secret leaked: {seen:?}");
        let expected: BTreeMap<String, String> = SandboxPolicy::default()
            .env_allow
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|v| (name.clone(), v)))
            .collect();
        assert_eq!(seen, expected);
        let out = sandbox
            .exec(ExecRequest::script(format!("echo \"[${SECRET}]\"")))
            .await
            .unwrap();
        assert_eq!(out.stdout.text, "[]\n");

        // Named in the allow-list: passed through. Then the sandbox's env,
        // then the request's, each overriding the one before.
        let policy = SandboxPolicy {
            env_allow: vec!["PATH".into(), SECRET.into(), "AGENTKIT_UNSET_VAR".into()],
            ..SandboxPolicy::default()
        };
        let sandbox_env = BTreeMap::from([
            ("FROM_SPEC".to_string(), "spec".to_string()),
            ("OVERRIDDEN".to_string(), "spec".to_string()),
        ]);
        let sandbox = LocalSandbox::attach(dir.path(), policy, sandbox_env).unwrap();
        let out = sandbox
            .exec(
                ExecRequest::argv(["env", "-0"])
                    .env("OVERRIDDEN", "request")
                    .env("FROM_REQUEST", "request"),
            )
            .await
            .unwrap();
        let expected = BTreeMap::from(
            [
                ("PATH", host_path.as_str()),
                (SECRET, "hunter2"),
                ("FROM_SPEC", "spec"),
                ("OVERRIDDEN", "request"),
                ("FROM_REQUEST", "request"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        assert_eq!(parse_env(&out.stdout.text), expected);
    });
}
