//! The conformance and escape suite against the `local` backend. It isolates
//! nothing but the file API and the environment (see its module docs), so
//! only those cases apply, plus its per-process memory rlimit.

mod common;
#[macro_use]
mod conformance;

use std::sync::Arc;

use agentkit_sandbox::local::LocalProvider;
use conformance::{Harness, Isolation};

async fn local() -> Option<Harness> {
    Some(Harness {
        name: "local",
        provider: Arc::new(LocalProvider::new()),
        isolation: Isolation {
            // RLIMIT_AS: per process, which is what the case exercises.
            memory: true,
            ..Isolation::default()
        },
    })
}

conformance_suite!(local);
