//! `auto::strongest` picks the strongest backend that works on this host.

use agentkit_sandbox::auto::{Options, available, strongest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strongest_is_the_first_backend_that_works_here() {
    let choice = strongest(&Options::default()).await;
    #[cfg(all(feature = "bwrap", target_os = "linux"))]
    {
        if agentkit_sandbox::bwrap::BwrapProvider::new().is_ok() {
            assert_eq!((choice.backend, choice.warning.is_none()), ("bwrap", true));
            return;
        }
        if std::env::var_os("CI").is_some() {
            panic!("bubblewrap must work under CI: run .ci/run, which installs it");
        }
    }
    assert!(available().contains(&choice.backend));
    if choice.backend == "local" {
        let warning = choice.warning.expect("an unconfined fallback warns");
        assert!(warning.contains("UNCONFINED"), "{warning}");
    }
}
