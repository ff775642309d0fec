//! The conformance and escape suite against the `bwrap` backend, with every
//! isolation it claims: filesystem, network (deny), process counts, memory,
//! allow-lists, disk, privileges and processes.
//!
//! Without a working bubblewrap the cases are skipped (after saying why),
//! except under `CI`, where a missing sandbox is a failure.

#![cfg(all(feature = "bwrap", target_os = "linux"))]

mod common;
#[macro_use]
mod conformance;

use std::sync::Arc;

use agentkit_sandbox::bwrap::BwrapProvider;
use conformance::{Harness, Isolation};

/// A provider per test (not a shared static: dropping it deletes its init
/// helper's directory).
fn provider() -> Option<BwrapProvider> {
    common::available("bwrap", BwrapProvider::new(), common::BWRAP_FIX)
}

async fn bwrap() -> Option<Harness> {
    let provider = provider()?;
    let probe = provider.probe();
    Some(Harness {
        name: "bwrap",
        isolation: Isolation {
            filesystem: true,
            network: probe.network_deny.is_enforced(),
            allow_list: probe.network_allow_list.is_enforced(),
            pids: probe.pids.is_enforced(),
            memory: probe.memory.is_enforced(),
            disk: probe.disk.is_enforced(),
            privileges: true,
            processes: true,
        },
        provider: Arc::new(provider),
    })
}

conformance_suite!(bwrap);
