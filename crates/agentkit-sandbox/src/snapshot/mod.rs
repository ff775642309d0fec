//! Warm starts: the result of a spec's setup script, kept for the next
//! sandbox of the same repository, revision and setup.
//!
//! Installing dependencies is usually the slowest part of creating a
//! sandbox. A [`SnapshotStore`] keeps a copy of the workspace as it was right
//! after the setup script succeeded, keyed by everything that decides what
//! the script produced:
//!
//! - the backend (`local`, `bwrap`, `docker:<image>`),
//! - the repository as given,
//! - the setup script, the spec's environment and its policy (a script run
//!   without network produces something else than one run with it), the
//!   setup's own variables (names and values), network and cache directory,
//! - **what the setup reads**: when the spec lists the setup's inputs
//!   ([`EnvironmentSpec::inputs`](agentkit_core::environment::EnvironmentSpec::inputs):
//!   lockfiles and manifests, by content hash), those, and not the commit —
//!   a new commit with the same lockfiles starts warm, a changed lockfile
//!   starts cold; otherwise the **commit** the revision resolves to (a
//!   branch that moved gets a new snapshot).
//!
//! A later `create` with the same key copies the snapshot into its fresh
//! workspace instead of cloning and running the script again. A snapshot
//! keyed by inputs and made at another commit is then brought to the
//! wanted commit (fetched from the repository, checked out with `--force`;
//! ignored files such as a venv or `target/` stay).
//!
//! **Restoring** mounts the snapshot as the read-only lower layer of an
//! overlay on the workspace where the host allows it (`overlay.rs`: root,
//! overlayfs; not under a disk limit, not for docker): one `mount(2)`
//! whatever the snapshot holds. Elsewhere it copies with
//! `cp -a --reflink=auto`: copy-on-write where the filesystem supports it
//! (btrfs, XFS), a plain copy elsewhere. The report says which
//! ([`EnvironmentReport::restore`](agentkit_core::environment::EnvironmentReport::restore)).
//! Python venvs are then pointed at the new workspace path (`relocate.rs`).
//! Snapshots are stored atomically (a copy under a temporary name, then a
//! rename), so concurrent creators never see half a snapshot; when two
//! race, one copy wins and the other is dropped. A snapshot an overlay
//! still uses is never deleted in place: it is renamed aside and deleted
//! once no mount names it.
//!
//! What a snapshot cannot know: a setup script that downloads "latest"
//! versions of dependencies gives a different result tomorrow. Give the
//! store a [`max_age`](SnapshotStore::with_max_age) when that matters, or
//! [`clear`](SnapshotStore::clear) it.
//!
//! ```no_run
//! use agentkit_sandbox::local::LocalProvider;
//! use agentkit_sandbox::snapshot::SnapshotStore;
//!
//! let provider = LocalProvider::new().with_snapshots(SnapshotStore::new(SnapshotStore::default_root()));
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

pub(crate) mod overlay;
mod relocate;

pub(crate) use overlay::ScratchDir;

use agentkit_core::environment::{SnapshotRestore, Toolchain};
use agentkit_core::sandbox::{SandboxError, SandboxSpec};
use sha2::{Digest, Sha256};

/// Bump when the snapshot layout, the key derivation or what a clone
/// contains changes (v2: clones no longer keep an `origin` remote).
const FORMAT: &str = "agentkit-snapshot-v2";

/// The identity of one snapshot: a hex SHA-256 of what decides its content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SnapshotKey {
    hash: String,
    /// The commit the key was made for; a workspace at another commit is
    /// never stored under it.
    commit: String,
    /// The repository (to fetch another commit from).
    repo: String,
    /// Whether the key is made of the setup's inputs rather than the commit.
    by_inputs: bool,
}

impl SnapshotKey {
    /// The key for `backend` creating `spec` at `commit`.
    pub fn new(backend: &str, spec: &SandboxSpec, commit: &str) -> Self {
        let mut hash = Sha256::new();
        let policy = serde_json::to_string(&spec.policy).unwrap_or_default();
        let by_inputs = !spec.environment.inputs.is_empty();
        let setup = crate::setup::key_parts(&spec.environment);
        for part in [
            FORMAT,
            backend,
            spec.repo.as_str(),
            if by_inputs { "" } else { commit },
            spec.setup_script.as_deref().unwrap_or(""),
            &policy,
            &setup,
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        for (name, value) in &spec.env {
            hash.update((name.len() as u64).to_le_bytes());
            hash.update(name.as_bytes());
            hash.update((value.len() as u64).to_le_bytes());
            hash.update(value.as_bytes());
        }
        let digest = hash.finalize();
        Self {
            hash: digest.iter().map(|b| format!("{b:02x}")).collect(),
            commit: commit.to_string(),
            repo: spec.repo.clone(),
            by_inputs,
        }
    }

    /// The key as hex.
    pub fn as_str(&self) -> &str {
        &self.hash
    }
}

impl SnapshotKey {
    /// Whether the key is made of the setup's inputs (lockfiles) rather
    /// than the commit.
    pub fn by_inputs(&self) -> bool {
        self.by_inputs
    }
}

/// A directory of workspace snapshots. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    root: PathBuf,
    max_age: Option<Duration>,
    overlays: bool,
}

impl SnapshotStore {
    /// A store in `root` (created when first needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            max_age: None,
            overlays: true,
        }
    }

    /// Restores by copying even where an overlay could be mounted (for a
    /// store that is deleted while its snapshots could still be in use).
    pub fn without_overlays(mut self) -> Self {
        self.overlays = false;
        self
    }

    /// `$XDG_CACHE_HOME/agentkit/snapshots`, or `~/.cache/agentkit/snapshots`.
    pub fn default_root() -> PathBuf {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        cache.join("agentkit").join("snapshots")
    }

    /// Snapshots older than `age` are ignored (and replaced).
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &SnapshotKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    /// Whether a usable snapshot exists for `key`.
    pub fn contains(&self, key: &SnapshotKey) -> bool {
        let path = self.path(key);
        let Ok(meta) = std::fs::metadata(&path) else {
            return false;
        };
        match (self.max_age, meta.modified()) {
            (Some(max), Ok(modified)) => SystemTime::now()
                .duration_since(modified)
                .is_ok_and(|age| age <= max),
            _ => true,
        }
    }

    /// Copies the snapshot for `key` to `dest` (which must not exist or be
    /// empty), its venvs pointed at `dest`. `Ok(false)` when there is none.
    pub fn restore(&self, key: &SnapshotKey, dest: &Path) -> Result<bool, SandboxError> {
        Ok(self.restore_into(key, dest, None, dest)?.is_some())
    }

    /// Stores `workspace` as the snapshot for `key`, atomically. An existing
    /// snapshot for the key is kept (unless it is too old). Its venvs are
    /// pointed at wherever it is restored later.
    pub fn save(&self, key: &SnapshotKey, workspace: &Path) -> Result<(), SandboxError> {
        self.save_from(key, workspace, workspace)
    }

    /// [`save`](Self::save) of a workspace that commands saw at `inside`.
    fn save_from(
        &self,
        key: &SnapshotKey,
        workspace: &Path,
        inside: &Path,
    ) -> Result<(), SandboxError> {
        let io = |path: &Path, source| SandboxError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.root).map_err(|e| io(&self.root, e))?;
        let final_path = self.path(key);
        self.sweep();
        if final_path.exists() {
            if self.contains(key) {
                return Ok(());
            }
            self.retire(&final_path).map_err(|e| io(&final_path, e))?;
        }
        let staging = self
            .root
            .join(format!(".{}.partial-{}", key.as_str(), std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        copy_tree(workspace, &staging)?;
        if let Some(inside) = inside.to_str() {
            self.save_origin(key, inside);
        }
        match std::fs::rename(&staging, &final_path) {
            Ok(()) => Ok(()),
            // Another creator stored the same key first: keep theirs.
            Err(_) if final_path.exists() => {
                let _ = std::fs::remove_dir_all(&staging);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(io(&final_path, e))
            }
        }
    }

    /// Keeps the toolchains probed in the sandbox a snapshot was made for,
    /// next to it (`<key>.toolchains.json`, written atomically), so warm
    /// starts need not probe again. Best effort: a failure is logged.
    pub fn save_toolchains(&self, key: &SnapshotKey, toolchains: &[Toolchain]) {
        let path = self.root.join(format!("{}.toolchains.json", key.as_str()));
        let staging = self.root.join(format!(
            ".{}.toolchains.partial-{}",
            key.as_str(),
            std::process::id()
        ));
        let written = serde_json::to_vec(toolchains)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&staging, json))
            .and_then(|()| std::fs::rename(&staging, &path));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&staging);
            tracing::warn!(%error, path = %path.display(), "could not keep the snapshot's toolchain report");
        }
    }

    /// The toolchains kept with the snapshot for `key`, if any.
    pub fn toolchains(&self, key: &SnapshotKey) -> Option<Vec<Toolchain>> {
        let path = self.root.join(format!("{}.toolchains.json", key.as_str()));
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes every snapshot (those an overlay still uses once it is
    /// unmounted: at a later `save` or `clear`).
    pub fn clear(&self) -> Result<(), SandboxError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(SandboxError::Io {
                    path: self.root.display().to_string(),
                    source,
                });
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue; // staging, retired: swept below
                }
                self.retire(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|source| SandboxError::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        self.sweep();
        Ok(())
    }

    /// Moves the snapshot directory `path` out of the way and deletes it,
    /// unless an overlay uses it (then [`sweep`](Self::sweep) does later).
    fn retire(&self, path: &Path) -> std::io::Result<()> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let aside = self
            .root
            .join(format!(".retired-{name}-{}-{n}", std::process::id()));
        std::fs::rename(path, &aside)?;
        if !overlay::in_use(path) {
            std::fs::remove_dir_all(&aside)?;
        }
        Ok(())
    }

    /// Deletes retired snapshots no overlay names any more (an overlay
    /// names the path the snapshot had when it was mounted).
    fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(key) = name
                .strip_prefix(".retired-")
                .and_then(|rest| rest.split('-').next())
            else {
                continue;
            };
            if !overlay::in_use(&self.root.join(key)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Keeps the path commands saw the workspace at when the snapshot for
    /// `key` was made (`<key>.origin`), for [`relocate`]. Best effort.
    fn save_origin(&self, key: &SnapshotKey, origin: &str) {
        let path = self.root.join(format!("{}.origin", key.as_str()));
        let staging = self.root.join(format!(
            ".{}.origin.partial-{}",
            key.as_str(),
            std::process::id()
        ));
        let written =
            std::fs::write(&staging, origin).and_then(|()| std::fs::rename(&staging, &path));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&staging);
            tracing::warn!(%error, path = %path.display(), "could not keep the snapshot's workspace path; restored venvs will name the old one");
        }
    }

    fn origin(&self, key: &SnapshotKey) -> Option<String> {
        std::fs::read_to_string(self.root.join(format!("{}.origin", key.as_str()))).ok()
    }

    /// Makes `dest` (an empty or missing directory) the snapshot for
    /// `key`: an overlay with its upper layer in `layers` when given and
    /// the host allows it, else a copy; then venvs are pointed from the
    /// snapshot's workspace path to `inside` (the path commands will see
    /// `dest` at). `None` when there is no snapshot.
    fn restore_into(
        &self,
        key: &SnapshotKey,
        dest: &Path,
        layers: Option<&Path>,
        inside: &Path,
    ) -> Result<Option<(SnapshotRestore, Option<overlay::OverlayMount>)>, SandboxError> {
        if !self.contains(key) {
            return Ok(None);
        }
        let lower = self.path(key);
        let mount = match layers.filter(|_| self.overlays) {
            Some(layers) if std::fs::create_dir_all(dest).is_ok() => {
                overlay::OverlayMount::mount(&lower, layers, dest)
            }
            _ => None,
        };
        let how = if mount.is_some() {
            SnapshotRestore::Overlay
        } else {
            copy_tree(&lower, dest)?;
            SnapshotRestore::Copy
        };
        if let (Some(from), Some(to)) = (self.origin(key), inside.to_str()) {
            let changed = relocate::relocate_venvs(dest, &from, to);
            if changed > 0 {
                tracing::debug!(
                    changed,
                    from,
                    to,
                    "restored venvs pointed at the new workspace"
                );
            }
        }
        Ok(Some((how, mount)))
    }
}

/// The store and key for `spec` when snapshots are on and the spec has a
/// setup script (without one there is nothing worth keeping). A revision
/// that cannot be resolved means no snapshot, not a failure.
pub(crate) async fn key_for<'a>(
    store: Option<&'a SnapshotStore>,
    backend: &str,
    spec: &SandboxSpec,
    limit: Duration,
) -> Option<(&'a SnapshotStore, SnapshotKey)> {
    let store = store?;
    spec.setup_script.as_ref()?;
    match crate::local::clone::resolve_commit(&spec.repo, spec.rev.as_deref(), limit).await {
        Ok(commit) => Some((store, SnapshotKey::new(backend, spec, &commit))),
        Err(error) => {
            tracing::warn!(%error, repo = %spec.repo, "no workspace snapshot: the revision could not be resolved");
            None
        }
    }
}

/// A snapshot restored into a workspace.
pub(crate) struct Restored {
    /// How.
    pub(crate) how: SnapshotRestore,
    /// The overlay to keep mounted while the sandbox lives, if one was used.
    pub(crate) overlay: Option<overlay::OverlayMount>,
}

/// Restores the snapshot for `key` into `dest` off the async runtime (see
/// [`SnapshotStore::restore_into`]), then brings it to the key's commit.
/// `None`: there was no usable snapshot (and `dest` is gone again).
pub(crate) async fn restore(
    store: &SnapshotStore,
    key: &SnapshotKey,
    dest: &Path,
    layers: Option<&Path>,
    inside: &Path,
) -> Result<Option<Restored>, SandboxError> {
    let (store, moved, dir) = (store.clone(), key.clone(), dest.to_path_buf());
    let (layers, inside) = (layers.map(Path::to_path_buf), inside.to_path_buf());
    let restored = tokio::task::spawn_blocking(move || {
        store.restore_into(&moved, &dir, layers.as_deref(), &inside)
    })
    .await
    .map_err(|e| SandboxError::Setup {
        reason: format!("restoring the workspace snapshot panicked: {e}"),
    })??;
    let Some((how, overlay)) = restored else {
        return Ok(None);
    };
    let restored = Restored { how, overlay };
    if !key.by_inputs {
        return Ok(Some(restored));
    }
    let limit = crate::local::clone::DEFAULT_CLONE_TIMEOUT;
    if let Err(error) = crate::local::clone::move_to(dest, &key.repo, &key.commit, limit).await {
        tracing::warn!(%error, commit = %key.commit, "the snapshot could not be brought to the wanted commit; starting cold");
        drop(restored); // unmounts an overlay
        let _ = std::fs::remove_dir_all(dest);
        return Ok(None);
    }
    Ok(Some(restored))
}

/// [`SnapshotStore::save`] off the async runtime; a failure is logged, not
/// returned (the sandbox is ready either way). A workspace that is not at
/// the key's commit (the branch moved between resolving and cloning) is
/// not stored: the key would describe something else.
pub(crate) async fn save(
    store: &SnapshotStore,
    key: &SnapshotKey,
    workspace: &Path,
    inside: &Path,
) {
    let head = crate::local::clone::rev_parse(
        "HEAD",
        workspace,
        crate::local::clone::DEFAULT_CLONE_TIMEOUT,
    )
    .await;
    if !matches!(&head, Ok(Some(commit)) if *commit == key.commit) {
        tracing::warn!(expected = %key.commit, found = ?head, "not storing the workspace snapshot: the clone is not at the commit its key names");
        return;
    }
    let (store, key, workspace) = (store.clone(), key.clone(), workspace.to_path_buf());
    let inside = inside.to_path_buf();
    let result =
        tokio::task::spawn_blocking(move || store.save_from(&key, &workspace, &inside)).await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "could not store the workspace snapshot"),
        Err(error) => tracing::warn!(%error, "storing the workspace snapshot panicked"),
    }
}

/// `cp -a --reflink=auto src dest`: modes, times, symlinks as symlinks,
/// copy-on-write where the filesystem can.
fn copy_tree(src: &Path, dest: &Path) -> Result<(), SandboxError> {
    let out = Command::new("cp")
        .args(["-a", "--reflink=auto", "-T", "--"])
        .arg(src)
        .arg(dest)
        .output()
        .map_err(|source| SandboxError::Io {
            path: src.display().to_string(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(dest);
    Err(SandboxError::Setup {
        reason: format!(
            "copying the workspace snapshot `{}` to `{}` failed: {}",
            src.display(),
            dest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> SandboxSpec {
        SandboxSpec::new("/repo").setup_script(script)
    }

    #[test]
    fn keys_change_with_everything_that_decides_the_result() {
        let base = SnapshotKey::new("local", &spec("make deps"), "abc");
        assert_eq!(base, SnapshotKey::new("local", &spec("make deps"), "abc"));
        assert_eq!(base.as_str().len(), 64);
        let others = [
            SnapshotKey::new("bwrap", &spec("make deps"), "abc"),
            SnapshotKey::new("local", &spec("make deps2"), "abc"),
            SnapshotKey::new("local", &spec("make deps"), "abd"),
            SnapshotKey::new(
                "local",
                &SandboxSpec::new("/other").setup_script("make deps"),
                "abc",
            ),
            {
                let mut s = spec("make deps");
                s.env.insert("A".into(), "1".into());
                SnapshotKey::new("local", &s, "abc")
            },
            {
                let mut s = spec("make deps");
                s.policy.network = agentkit_core::sandbox::NetworkPolicy::Full;
                SnapshotKey::new("local", &s, "abc")
            },
        ];
        for other in others {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn with_inputs_the_key_follows_the_lockfiles_not_the_commit() {
        let with = |sha: &str| {
            let mut s = spec("pip install -r requirements.txt");
            s.environment.inputs = vec![agentkit_core::environment::SetupInput {
                path: "requirements.txt".into(),
                sha256: sha.into(),
            }];
            s
        };
        let a = SnapshotKey::new("local", &with("11"), "c1");
        assert!(a.by_inputs());
        assert_eq!(
            a.as_str(),
            SnapshotKey::new("local", &with("11"), "c2").as_str()
        );
        assert_ne!(
            a.as_str(),
            SnapshotKey::new("local", &with("12"), "c1").as_str()
        );
        assert!(!SnapshotKey::new("local", &spec("x"), "c1").by_inputs());
    }

    #[test]
    fn a_snapshot_round_trips_and_a_second_save_keeps_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path().join("store"));
        let key = SnapshotKey::new("local", &spec("x"), "c");
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("deps")).unwrap();
        std::fs::write(ws.join("deps/lib.txt"), "installed").unwrap();
        std::os::unix::fs::symlink("deps/lib.txt", ws.join("link")).unwrap();
        assert!(!store.restore(&key, &dir.path().join("none")).unwrap());
        store.save(&key, &ws).unwrap();
        std::fs::write(ws.join("deps/lib.txt"), "changed later").unwrap();
        store.save(&key, &ws).unwrap();
        let out = dir.path().join("restored");
        assert!(store.restore(&key, &out).unwrap());
        assert_eq!(
            std::fs::read_to_string(out.join("deps/lib.txt")).unwrap(),
            "installed"
        );
        assert_eq!(
            std::fs::read_link(out.join("link")).unwrap(),
            PathBuf::from("deps/lib.txt")
        );
        store.clear().unwrap();
        assert!(!store.contains(&key));
    }

    #[test]
    fn old_snapshots_are_ignored_with_a_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let key = SnapshotKey::new("local", &spec("x"), "c");
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        let store = SnapshotStore::new(dir.path().join("store"));
        store.save(&key, &ws).unwrap();
        assert!(store.contains(&key));
        let strict = store.clone().with_max_age(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!strict.contains(&key));
    }
}
