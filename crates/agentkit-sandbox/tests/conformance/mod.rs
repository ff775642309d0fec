//! One conformance and escape suite for every sandbox backend.
//!
//! A backend's test file builds a [`Harness`] (its provider and what it
//! claims to isolate) and expands [`conformance_suite!`], which makes one
//! test per case. The cases fall in three groups:
//!
//! - **exec semantics**, required of every backend: exit codes and signals,
//!   streams, stdin, environment, working directory, timeouts and
//!   cancellation that kill the whole process tree, output caps;
//! - **the file API**, required of every backend: paths outside the
//!   workspace, symlinks leading out, protected paths;
//! - **escapes through commands**, required of backends that claim the
//!   isolation in question ([`Isolation`]): writing and reading outside the
//!   workspace, host secrets, protected paths, the host's loopback, listed and
//!   unlisted hosts, fork bombs, memory hogs, disk fill, privileges, other
//!   processes. A case that does not apply says so on stderr and passes:
//!   what a backend does not isolate is documented in its module and in the
//!   README's table, and the flags here are that table.
//!
//! Every escape case asserts both that the attempt failed *and* that the host
//! is unchanged: the canary directory outside the workspace has the same
//! files with the same contents, and listeners saw zero connections.
//!
//! Network cases only ever connect to listeners the test itself started on
//! 127.0.0.0/8.

#![allow(dead_code)]

use std::sync::Arc;

use agentkit_core::sandbox::{Sandbox, SandboxPolicy, SandboxProvider};

pub use crate::common::{git, git_out, sh};

mod escapes;
mod exec;
mod fixture;
mod origin;

pub use escapes::*;
pub use exec::*;
pub use fixture::*;
pub use origin::*;

/// What a backend claims to enforce. Each flag turns on the escape cases
/// that test it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Isolation {
    /// Commands cannot read or write host files outside the workspace, and
    /// the protected paths are read-only to them.
    pub filesystem: bool,
    /// `NetworkPolicy::Deny` is enforced: no connection leaves the sandbox.
    pub network: bool,
    /// `NetworkPolicy::AllowList` is enforced through a proxy.
    pub allow_list: bool,
    /// `limits.pids` holds (for root too).
    pub pids: bool,
    /// `limits.memory_bytes` holds.
    pub memory: bool,
    /// `limits.disk_bytes` holds for the workspace.
    pub disk: bool,
    /// Commands run without capabilities and with `no_new_privs`.
    pub privileges: bool,
    /// Commands cannot see or signal host processes.
    pub processes: bool,
}

/// A backend under test.
pub struct Harness {
    /// The backend's name, for messages.
    pub name: &'static str,
    /// Creates the sandboxes.
    pub provider: Arc<dyn SandboxProvider>,
    /// What it claims to isolate.
    pub isolation: Isolation,
}

/// Expands to one `#[tokio::test]` per case, each calling `$harness()` (an
/// `async fn() -> Option<Harness>`; `None` skips, after the harness said why).
#[macro_export]
macro_rules! conformance_suite {
    ($harness:path) => {
        $crate::conformance_cases!(
            $harness;
            exit_codes_streams_and_signals,
            argv_runs_without_a_shell_and_a_missing_program_is_a_spawn_error,
            stdin_environment_and_working_directory,
            host_environment_does_not_leak_in,
            files_written_by_commands_and_by_the_file_api_are_the_same_files,
            timeout_kills_the_whole_process_tree,
            dropping_the_exec_future_kills_the_process_tree,
            sleep_infinity_times_out,
            output_cap_keeps_head_and_tail,
            an_output_flood_is_capped_and_counted,
            close_kills_running_commands_and_later_calls_fail,
            file_api_refuses_paths_outside_the_workspace,
            file_api_refuses_symlinks_leading_out,
            file_api_protects_git_hooks_and_config,
            the_clone_cannot_push_to_its_origin,
            commands_cannot_write_outside_the_workspace,
            commands_cannot_read_host_files_or_secrets,
            commands_see_only_the_allowed_view,
            commands_cannot_read_another_sandboxs_workspace,
            commands_cannot_escape_through_symlinks,
            commands_cannot_change_protected_paths,
            commands_cannot_reach_a_host_listener_under_deny,
            allow_list_reaches_listed_hosts_only,
            a_fork_bomb_is_contained,
            a_memory_hog_is_stopped,
            a_disk_fill_is_stopped,
            privileges_are_dropped,
            host_processes_are_invisible,
        );
    };
}

#[macro_export]
macro_rules! conformance_cases {
    ($harness:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(harness) = $harness().await else {
                    return;
                };
                conformance::$case(&harness).await;
            }
        )*
    };
}

impl Harness {
    /// A sandbox of this backend for `fixture`, with `policy`.
    pub async fn sandbox(&self, fixture: &Fixture, policy: SandboxPolicy) -> Arc<dyn Sandbox> {
        self.provider
            .create(&fixture.spec(policy))
            .await
            .unwrap_or_else(|e| panic!("{}: create failed: {e}", self.name))
    }

    /// A sandbox with the default policy.
    pub async fn default_sandbox(&self, fixture: &Fixture) -> Arc<dyn Sandbox> {
        self.sandbox(fixture, SandboxPolicy::default()).await
    }

    /// Says that `case` does not apply and why (the test passes).
    pub(crate) fn not_applicable(&self, case: &str, why: &str) {
        eprintln!("NOT APPLICABLE to {}: {case}: {why}", self.name);
    }
}
