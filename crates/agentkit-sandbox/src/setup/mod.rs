//! Making a sandbox's environment: deciding a repository's setup
//! ([`plan`]: the operator's script, the repository's `.agentkit/setup.sh`
//! or `[setup]` table, or detection), and the one path every backend takes
//! from a [`SandboxSpec`] to a ready sandbox with its [`EnvironmentReport`].
//!
//! ```no_run
//! use agentkit_core::sandbox::{SandboxProvider, SandboxSpec};
//! use agentkit_sandbox::local::LocalProvider;
//! use agentkit_sandbox::setup::{SetupOptions, plan};
//!
//! # async fn run() -> Result<(), agentkit_core::sandbox::SandboxError> {
//! let repo = std::path::Path::new("/srv/repos/shop");
//! let decided = plan(repo, None, None, &SetupOptions::default().auto(true)).await?;
//! let mut spec = SandboxSpec::new(repo.display().to_string());
//! decided.apply(&mut spec);
//! let sandbox = LocalProvider::new().create(&spec).await?;
//! println!("{:?}", sandbox.environment().map(|e| &e.toolchains));
//! # Ok(())
//! # }
//! ```
//!
//! 1. **Warm**: with a snapshot store and a snapshot for the spec's key,
//!    the workspace is copied from it (then brought to the wanted commit
//!    when the key is made of the setup's inputs rather than a commit);
//!    no setup runs.
//! 2. **Cold**: the repository is cloned and the setup script runs with
//!    only the variables it declared ([`EnvironmentSpec::setup_env`]) on
//!    top of the sandbox's environment. When the setup has a network of its
//!    own ([`EnvironmentSpec::setup_network`], typically the package
//!    registries while the agent gets none) and the backend enforces
//!    networks, the setup runs in a sandbox of its own under that network,
//!    and the agent's sandbox starts from its workspace through a snapshot
//!    (the store's, or a throwaway one): **the agent never runs with the
//!    setup's network**. `local` enforces no network; its report says so
//!    (`network_enforced: false`).
//! 3. **Toolchains**: a probe lists `cargo`, `rustc`, `python3`, `node`,
//!    `npm`, `go` and whatever the repository needs, with their versions
//!    (when the spec has a setup or needs a toolchain; warm starts reuse
//!    the probe kept with the snapshot).
//!
//! A setup that fails or times out closes its sandbox and returns
//! [`SandboxError::SetupFailed`] with the report (exit status, the end of
//! the output). A setup's workspace is stored as a snapshot only after it
//! succeeded.
//!
//! **Dependency caches.** With [`EnvironmentSpec::cache_dir`] set (see
//! [`repo_cache_dir`]), every command of the sandbox sees `CARGO_HOME`,
//! `PIP_CACHE_DIR`, `npm_config_cache`, `GOMODCACHE` and `GOCACHE` under that
//! directory, and isolating backends mount it read-write (and nothing else
//! of the cache root): sessions of one repository share downloads, two
//! repositories never see each other's files.

mod plan;

pub use plan::{REPO_SETUP_SCRIPT, SetupOptions, SetupPlan, plan, repo_table};

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentkit_core::environment::{
    EnvironmentReport, EnvironmentSpec, OUTPUT_TAIL_CHARS, SnapshotRestore, parse_toolchains,
};
use agentkit_core::sandbox::{
    CapturedOutput, ExecOutput, ExecRequest, Sandbox, SandboxError, SandboxSpec,
};
use sha2::{Digest, Sha256};

use crate::snapshot::{self, ScratchDir, SnapshotKey, SnapshotStore};

/// How long the toolchain probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// `$XDG_CACHE_HOME/agentkit/repo-caches`, or `~/.cache/agentkit/repo-caches`.
pub fn default_cache_root() -> PathBuf {
    SnapshotStore::default_root()
        .parent()
        .map(|p| p.join("repo-caches"))
        .unwrap_or_else(|| std::env::temp_dir().join("agentkit-repo-caches"))
}

/// The cache directory of repository `repo` (as given in
/// [`SandboxSpec::repo`]) under `root`: `root/<hash of repo>`. Distinct
/// repositories get distinct directories.
pub fn repo_cache_dir(root: &Path, repo: &str) -> PathBuf {
    let digest = Sha256::digest(repo.as_bytes());
    let name: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    root.join(name)
}

/// The variables that point the package managers at `dir`.
pub fn cache_env(dir: &Path) -> BTreeMap<String, String> {
    let at = |sub: &str| dir.join(sub).display().to_string();
    BTreeMap::from([
        ("CARGO_HOME".to_string(), at("cargo")),
        ("PIP_CACHE_DIR".to_string(), at("pip")),
        ("npm_config_cache".to_string(), at("npm")),
        ("GOMODCACHE".to_string(), at("go/mod")),
        ("GOCACHE".to_string(), at("go/build")),
    ])
}

/// The spec a backend builds from: the spec's own environment plus the
/// cache variables, the cache directory created on the host (and made
/// canonical: backends mount `environment.cache_dir` read-write).
fn with_caches(spec: &SandboxSpec) -> Result<SandboxSpec, SandboxError> {
    let mut spec = spec.clone();
    let Some(dir) = spec.environment.cache_dir.clone() else {
        return Ok(spec);
    };
    for (_, path) in cache_env(&dir) {
        std::fs::create_dir_all(&path).map_err(|source| SandboxError::Io {
            path: path.clone(),
            source,
        })?;
    }
    let dir = dir.canonicalize().map_err(|source| SandboxError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    for (name, value) in cache_env(&dir) {
        spec.env.entry(name).or_insert(value);
    }
    spec.environment.cache_dir = Some(dir);
    Ok(spec)
}

/// A backend's sandbox while it is being made: its workspace is a host
/// directory ([`Sandbox::host_workspace`]) and it holds the report
/// [`Sandbox::environment`] returns.
pub(crate) trait Prepared: Sandbox + Sized {
    /// Where the report lives.
    fn environment_slot(&mut self) -> &mut Option<EnvironmentReport>;

    /// The workspace on the host.
    fn workspace_root(&self) -> &Path {
        self.host_workspace().unwrap_or(Path::new(""))
    }
}

/// What the backend brings to [`create`].
pub(crate) struct Backend<'a> {
    /// Its name (`local`, `bwrap`, `docker:<image>` for snapshot keys).
    pub(crate) name: &'a str,
    /// Its snapshot store.
    pub(crate) store: Option<&'a SnapshotStore>,
    /// The limit of each git step.
    pub(crate) clone_timeout: Duration,
    /// Whether it enforces a sandbox's network policy.
    pub(crate) enforces_network: bool,
    /// Where commands see the workspace when that is not its host path
    /// (docker: `/workspace`); venvs in snapshots are made relative to it.
    pub(crate) inside: Option<&'a Path>,
}

/// Steps 1–3 of the [module docs](self). `build(spec, restore)` makes a
/// sandbox for `spec` (cloning, or restoring the snapshot `restore` names)
/// and says how it restored (`None`: it cloned).
pub(crate) async fn create<S, F, Fut>(
    backend: Backend<'_>,
    spec: &SandboxSpec,
    build: F,
) -> Result<S, SandboxError>
where
    S: Prepared,
    F: Fn(SandboxSpec, Option<(SnapshotStore, SnapshotKey)>) -> Fut,
    Fut: Future<Output = Result<(S, Option<SnapshotRestore>), SandboxError>>,
{
    let spec = &with_caches(spec)?;
    let env = &spec.environment;
    let setup_network = env
        .setup_network
        .clone()
        .unwrap_or(spec.policy.network.clone());
    let mut report = EnvironmentReport {
        source: spec.setup_script.as_ref().map(|_| env.source),
        backend: backend.name.to_string(),
        network: spec.setup_script.as_ref().map(|_| setup_network.clone()),
        network_enforced: backend.enforces_network,
        env: env.setup_env.keys().cloned().collect(),
        caches: env.cache_dir.as_ref().map(|d| d.display().to_string()),
        needs: env.needs.clone(),
        ..EnvironmentReport::default()
    };
    let key = match backend.store {
        Some(store) if spec.setup_script.is_some() => {
            snapshot::key_for(Some(store), backend.name, spec, backend.clone_timeout)
                .await
                .map(|(s, k)| (s.clone(), k))
        }
        _ => None,
    };
    if let Some((store, key)) = &key
        && store.contains(key)
    {
        let (mut sandbox, restored) =
            build(spec.clone(), Some((store.clone(), key.clone()))).await?;
        if let Some(how) = restored {
            report.warm = true;
            report.restore = Some(how);
            report.snapshot = Some(key.as_str().to_string());
            report.exit = Some(0);
            if let Some(toolchains) = store.toolchains(key) {
                report.toolchains = toolchains;
                report.toolchains_from_snapshot = true;
            }
            finish(&mut sandbox, report).await;
            return Ok(sandbox);
        }
        // The snapshot went away or could not be used: start cold.
        close_quietly(&sandbox).await;
    }
    let Some(script) = &spec.setup_script else {
        let (mut sandbox, _) = build(spec.clone(), None).await?;
        finish(&mut sandbox, report).await;
        return Ok(sandbox);
    };
    let split = backend.enforces_network && setup_network != spec.policy.network;
    if !split {
        let (sandbox, _) = build(spec.clone(), None).await?;
        return cold(sandbox, spec, report, &key, backend.inside).await;
    }
    // The setup in a sandbox of its own, under its own network.
    let mut setup_spec = spec.clone();
    setup_spec.policy.network = setup_network;
    let (setup_box, _) = build(setup_spec, None).await?;
    let ran = run(&setup_box, script, spec, &mut report).await;
    if let Err(err) = ran {
        close_quietly(&setup_box).await;
        return Err(err);
    }
    let throwaway;
    let (store, key) = match key {
        Some(found) => found,
        None => {
            throwaway = tempfile::Builder::new()
                .prefix("agentkit-handover-")
                .tempdir()
                .map_err(|source| SandboxError::Io {
                    path: std::env::temp_dir().display().to_string(),
                    source,
                })?;
            // Deleted when `create` returns: never an overlay's lower layer.
            let store = SnapshotStore::new(throwaway.path().join("store")).without_overlays();
            let commit = crate::local::clone::rev_parse(
                "HEAD",
                setup_box.workspace_root(),
                backend.clone_timeout,
            )
            .await?
            .unwrap_or_default();
            let key = SnapshotKey::new(backend.name, spec, &commit);
            (store, key)
        }
    };
    let inside = backend.inside.unwrap_or(setup_box.workspace_root());
    snapshot::save(&store, &key, setup_box.workspace_root(), inside).await;
    close_quietly(&setup_box).await;
    let (mut sandbox, restored) = build(spec.clone(), Some((store.clone(), key.clone()))).await?;
    let Some(how) = restored else {
        close_quietly(&sandbox).await;
        return Err(SandboxError::Setup {
            reason: format!(
                "the workspace the setup made could not be handed to the agent's sandbox (snapshot `{}` in `{}`); check the disk space there",
                key.as_str(),
                store.root().display()
            ),
        });
    };
    // The agent's sandbox is no warm start, but its workspace came from the
    // setup's through a snapshot.
    report.restore = Some(how);
    finish(&mut sandbox, report).await;
    if backend.store.is_some()
        && let Some(report) = sandbox.environment_slot().as_mut()
    {
        report.snapshot = Some(key.as_str().to_string());
        store.save_toolchains(&key, &report.toolchains);
    }
    Ok(sandbox)
}

/// How a backend's workspace may be filled from a snapshot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fill<'a> {
    /// The limit of each git step.
    pub(crate) clone_timeout: Duration,
    /// Whether the snapshot may be mounted as an overlay (not where the
    /// workspace is a mount of its own, nor where the workspace is handed
    /// to a daemon that may not see host mounts).
    pub(crate) overlay: bool,
    /// Where commands see the workspace when that is not its host path.
    pub(crate) inside: Option<&'a Path>,
}

/// Fills a backend's fresh `workspace` in `scratch` (the workspace must
/// not exist or be empty): the snapshot `restore` names when there is one
/// (an overlay held by `scratch`, or a copy), else a clone of the spec's
/// repository. Returns how it restored (`None`: it cloned).
pub(crate) async fn fill_workspace(
    spec: &SandboxSpec,
    restore: Option<&(SnapshotStore, SnapshotKey)>,
    scratch: &mut ScratchDir,
    workspace: &Path,
    fill: Fill<'_>,
) -> Result<Option<SnapshotRestore>, SandboxError> {
    if let Some((store, key)) = restore {
        let layers = fill.overlay.then(|| scratch.layers());
        let inside = fill.inside.unwrap_or(workspace);
        if let Some(restored) =
            snapshot::restore(store, key, workspace, layers.as_deref(), inside).await?
        {
            if let Some(overlay) = restored.overlay {
                scratch.hold(overlay);
            }
            return Ok(Some(restored.how));
        }
    }
    crate::local::clone::clone_repo(
        &spec.repo,
        spec.rev.as_deref(),
        workspace,
        fill.clone_timeout,
    )
    .await?;
    Ok(None)
}

/// Runs the setup in a freshly built `sandbox`, stores the snapshot, probes.
async fn cold<S>(
    mut sandbox: S,
    spec: &SandboxSpec,
    mut report: EnvironmentReport,
    key: &Option<(SnapshotStore, SnapshotKey)>,
    inside: Option<&Path>,
) -> Result<S, SandboxError>
where
    S: Prepared,
{
    if let Some(script) = &spec.setup_script {
        if let Err(err) = run(&sandbox, script, spec, &mut report).await {
            close_quietly(&sandbox).await;
            return Err(err);
        }
        if let Some((store, key)) = key {
            let inside = inside.unwrap_or(sandbox.workspace_root());
            snapshot::save(store, key, sandbox.workspace_root(), inside).await;
            report.snapshot = Some(key.as_str().to_string());
        }
    }
    finish(&mut sandbox, report).await;
    if spec.setup_script.is_some()
        && let Some((store, key)) = key
        && let Some(report) = sandbox.environment_slot().as_mut()
    {
        store.save_toolchains(key, &report.toolchains);
    }
    Ok(sandbox)
}

/// Runs `script` with the setup's variables; fills the report's status and
/// output. A failure is [`SandboxError::SetupFailed`].
async fn run(
    sandbox: &dyn Sandbox,
    script: &str,
    spec: &SandboxSpec,
    report: &mut EnvironmentReport,
) -> Result<(), SandboxError> {
    let mut request = ExecRequest::script(script).timeout(spec.setup_timeout);
    for (name, value) in &spec.environment.setup_env {
        request = request.env(name, value);
    }
    if let Some(tap) = &spec.environment.setup_output {
        request = request.tap(tap.clone());
    }
    let started = Instant::now();
    let out = sandbox
        .exec(request)
        .await
        .map_err(|err| SandboxError::Setup {
            reason: format!("the setup script could not run: {err}"),
        })?;
    report.setup_ms = started.elapsed().as_millis() as u64;
    record(report, &out);
    if out.success() {
        tracing::info!(
            sandbox = sandbox.id(),
            ms = report.setup_ms,
            "setup script succeeded"
        );
        return Ok(());
    }
    Err(SandboxError::SetupFailed {
        report: Box::new(report.clone()),
    })
}

fn record(report: &mut EnvironmentReport, out: &ExecOutput) {
    report.exit = out.exit_code;
    report.timed_out = out.timed_out;
    let half = OUTPUT_TAIL_CHARS / 2;
    let stdout = tail(&out.stdout, half);
    let stderr = tail(&out.stderr, half);
    report.output = match (stdout.is_empty(), stderr.is_empty()) {
        (_, true) => stdout,
        (true, false) => stderr,
        (false, false) => format!("{stdout}\n{stderr}"),
    };
}

fn tail(output: &CapturedOutput, chars: usize) -> String {
    let text = output.text.trim_end();
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(chars)).collect()
}

/// Probes the toolchains (unless the report has them from the snapshot)
/// and attaches the report.
async fn finish<S: Prepared>(sandbox: &mut S, mut report: EnvironmentReport) {
    // A spec with no setup and no needed toolchain has nothing to check:
    // skip the probe (most of a second) for plain sandboxes.
    let wanted = report.source.is_some() || !report.needs.is_empty();
    if wanted && !report.toolchains_from_snapshot {
        let probe = EnvironmentReport::toolchain_probe(&report.needs);
        match sandbox
            .exec(ExecRequest::script(probe).timeout(PROBE_TIMEOUT))
            .await
        {
            Ok(out) => {
                let order = EnvironmentReport::toolchain_names(&report.needs);
                let mut found = parse_toolchains(&out.stdout.text);
                found.sort_by_key(|t| order.iter().position(|n| *n == t.name));
                report.toolchains = found;
            }
            Err(error) => tracing::warn!(%error, "the toolchain probe could not run"),
        }
    }
    if !report.network_enforced && report.source.is_some() {
        tracing::warn!(
            backend = report.backend,
            "the setup's network allow-list is not enforced by this backend: the setup ran with the host's network"
        );
    }
    *sandbox.environment_slot() = Some(report);
}

async fn close_quietly(sandbox: &dyn Sandbox) {
    if let Err(error) = sandbox.close().await {
        tracing::warn!(%error, sandbox = sandbox.id(), "closing a setup sandbox failed");
    }
}

/// The setup's part of a spec's snapshot key: its variables, network,
/// inputs and cache directory.
pub(crate) fn key_parts(env: &EnvironmentSpec) -> String {
    serde_json::to_string(&(
        &env.setup_env,
        &env.setup_network,
        &env.inputs,
        &env.cache_dir,
    ))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_get_distinct_cache_directories_under_one_root() {
        let root = Path::new("/cache");
        let a = repo_cache_dir(root, "/srv/a");
        assert_eq!(a, repo_cache_dir(root, "/srv/a"));
        assert_ne!(a, repo_cache_dir(root, "/srv/b"));
        assert_eq!(a.parent(), Some(root));
        assert_eq!(
            cache_env(Path::new("/c")),
            BTreeMap::from([
                ("CARGO_HOME".to_string(), "/c/cargo".to_string()),
                ("GOCACHE".to_string(), "/c/go/build".to_string()),
                ("GOMODCACHE".to_string(), "/c/go/mod".to_string()),
                ("PIP_CACHE_DIR".to_string(), "/c/pip".to_string()),
                ("npm_config_cache".to_string(), "/c/npm".to_string()),
            ])
        );
    }
}
