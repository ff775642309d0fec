//! Turning a task's [`Source`] into a git repository the sandboxes clone.
//!
//! Registry sources are fetched with the registries' own clients — `pip
//! download --no-binary :all: --no-deps NAME==VERSION` for PyPI, `cargo fetch`
//! of a throw-away manifest for crates.io — unpacked, and committed (fixed
//! author and date, so the base commit is the same on every machine) into
//! `<cache>/repos/<kind>-<name>-<version>`. A crate also gets its lock file
//! generated and its dependencies fetched, so its tests build `--offline`
//! afterwards. Everything is built in a temporary directory and renamed into
//! place, so concurrent harnesses never see half a repository; a second call
//! finds the repository and does nothing (the eval runs offline from there).
//!
//! The cache is `$AGENTKIT_EVAL_CACHE`, else `~/.cache/agentkit/eval`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use super::task::{EvalTask, Source};

/// A repository ready to clone: where, and the base commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRepo {
    /// A local git repository.
    pub path: PathBuf,
    /// The base commit (full hash).
    pub commit: String,
}

/// Why a source could not be prepared. These are errors of the task, never of the agent.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A command failed.
    #[error("{what} failed ({status}): {output}")]
    Command {
        /// What was being done.
        what: String,
        /// How it ended.
        status: String,
        /// Its output (tail).
        output: String,
    },
    /// A host IO error.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The downloaded artifact is not what was expected.
    #[error("{0}")]
    Unexpected(String),
}

/// Where fetched sources and their repositories are kept.
#[derive(Debug, Clone)]
pub struct SourceCache {
    root: PathBuf,
    python: String,
}

impl SourceCache {
    /// A cache at `root`; `python` runs pip (`python3`, or a venv's python).
    pub fn new(root: impl Into<PathBuf>, python: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            python: python.into(),
        }
    }

    /// The default cache: `$AGENTKIT_EVAL_CACHE`, else `~/.cache/agentkit/eval`.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("AGENTKIT_EVAL_CACHE") {
            return PathBuf::from(dir);
        }
        let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
        home.join(".cache/agentkit/eval")
    }

    /// The cache's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The repository and base commit for `task`, fetching and building it if needed.
    pub async fn prepare(&self, task: &EvalTask) -> Result<PreparedRepo, SourceError> {
        match &task.source {
            Source::Git { path, commit } => {
                let path = task.resolve(path);
                let commit = git_stdout(
                    &path,
                    &["rev-parse", "--verify", &format!("{commit}^{{commit}}")],
                )
                .await?;
                Ok(PreparedRepo { path, commit })
            }
            Source::Pypi { name, version } => {
                let key = format!("pypi-{}-{}", slug(name), slug(version));
                self.build(&key, |tmp| self.fetch_sdist(name, version, tmp))
                    .await
            }
            Source::Crate { name, version } => {
                let key = format!("crate-{}-{}", slug(name), slug(version));
                self.build(&key, |tmp| fetch_crate(name, version, tmp))
                    .await
            }
            Source::Archive { path, script } => {
                let archive = task.resolve(path);
                let key = format!(
                    "archive-{}-{}",
                    slug(&task.id),
                    fnv_hex(&format!("{archive:?}{script:?}"))
                );
                self.build(&key, |tmp| {
                    unpack_archive(archive.clone(), script.clone(), tmp)
                })
                .await
            }
        }
    }

    async fn build<F, Fut>(&self, key: &str, fetch: F) -> Result<PreparedRepo, SourceError>
    where
        F: FnOnce(PathBuf) -> Fut,
        Fut: std::future::Future<Output = Result<PathBuf, SourceError>>,
    {
        let dest = self.root.join("repos").join(key);
        if dest.join(".git").is_dir() {
            let commit = git_stdout(&dest, &["rev-parse", "HEAD"]).await?;
            return Ok(PreparedRepo { path: dest, commit });
        }
        let tmp_root = self.root.join("tmp");
        std::fs::create_dir_all(&tmp_root).map_err(|source| SourceError::Io {
            what: format!("creating {}", tmp_root.display()),
            source,
        })?;
        let tmp = tempfile::Builder::new()
            .prefix(key)
            .tempdir_in(&tmp_root)
            .map_err(|source| SourceError::Io {
                what: "creating a temporary directory".into(),
                source,
            })?;
        let tree = fetch(tmp.path().to_path_buf()).await?;
        commit_tree(&tree, key).await?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|source| SourceError::Io {
                what: format!("creating {}", parent.display()),
                source,
            })?;
        }
        // Another harness may have won the race: its repository is as good as ours.
        if let Err(err) = std::fs::rename(&tree, &dest)
            && !dest.join(".git").is_dir()
        {
            return Err(SourceError::Io {
                what: format!("moving the repository to {}", dest.display()),
                source: err,
            });
        }
        let commit = git_stdout(&dest, &["rev-parse", "HEAD"]).await?;
        Ok(PreparedRepo { path: dest, commit })
    }

    async fn fetch_sdist(
        &self,
        name: &str,
        version: &str,
        tmp: PathBuf,
    ) -> Result<PathBuf, SourceError> {
        let downloads = tmp.join("download");
        let spec = format!("{name}=={version}");
        run(
            Command::new(&self.python)
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--no-binary", ":all:", "--no-deps", "-d"])
                .arg(&downloads)
                .arg(&spec),
            &format!("pip download {spec}"),
        )
        .await?;
        let archive = single_entry(&downloads)?;
        unpack(&archive, &tmp.join("unpacked")).await
    }
}

async fn fetch_crate(name: &str, version: &str, tmp: PathBuf) -> Result<PathBuf, SourceError> {
    // A throw-away manifest depending on exactly this version: `cargo fetch`
    // downloads the `.crate` into cargo's own cache.
    let manifest_dir = tmp.join("fetch");
    let manifest = format!(
        "[package]\nname = \"agentkit-eval-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
         [lib]\npath = \"lib.rs\"\n\n[dependencies]\n{name} = \"={version}\"\n"
    );
    write(&manifest_dir.join("Cargo.toml"), manifest.as_bytes())?;
    write(&manifest_dir.join("lib.rs"), b"")?;
    run(
        Command::new("cargo")
            .arg("fetch")
            .current_dir(&manifest_dir),
        &format!("cargo fetch {name}@{version}"),
    )
    .await?;
    let file = format!("{name}-{version}.crate");
    let cache = cargo_home().join("registry/cache");
    let found = std::fs::read_dir(&cache)
        .map_err(|source| SourceError::Io {
            what: format!("reading {}", cache.display()),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path().join(&file))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            SourceError::Unexpected(format!(
                "`cargo fetch` left no {file} under {}",
                cache.display()
            ))
        })?;
    let tree = unpack(&found, &tmp.join("unpacked")).await?;
    // The tests must build offline later: pin and fetch every dependency now.
    if !tree.join("Cargo.lock").is_file() {
        run(
            Command::new("cargo")
                .arg("generate-lockfile")
                .current_dir(&tree),
            &format!("cargo generate-lockfile for {name}@{version}"),
        )
        .await?;
    }
    run(
        Command::new("cargo")
            .args(["fetch", "--locked"])
            .current_dir(&tree),
        &format!("cargo fetch of {name}@{version}'s dependencies"),
    )
    .await?;
    Ok(tree)
}

async fn unpack_archive(
    archive: PathBuf,
    script: Option<String>,
    tmp: PathBuf,
) -> Result<PathBuf, SourceError> {
    let tree = unpack(&archive, &tmp.join("unpacked")).await?;
    if let Some(script) = script {
        run(
            Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(&tree),
            &format!("the archive script of {}", archive.display()),
        )
        .await?;
    }
    Ok(tree)
}

/// Unpacks a tar archive (any compression tar detects) into `into` and
/// returns its single top directory (or `into` when there are several entries).
async fn unpack(archive: &Path, into: &Path) -> Result<PathBuf, SourceError> {
    std::fs::create_dir_all(into).map_err(|source| SourceError::Io {
        what: format!("creating {}", into.display()),
        source,
    })?;
    run(
        Command::new("tar")
            .args(["--no-same-owner", "-xf"])
            .arg(archive)
            .arg("-C")
            .arg(into),
        &format!("unpacking {}", archive.display()),
    )
    .await?;
    match entries(into)?.as_slice() {
        [only] if only.is_dir() => Ok(only.clone()),
        _ => Ok(into.to_path_buf()),
    }
}

const IGNORED: &str =
    "\n# added by agentkit eval\ntarget/\n__pycache__/\n*.pyc\n.pytest_cache/\n*.egg-info/\n";

/// `git init` + one commit with a fixed identity and date.
async fn commit_tree(tree: &Path, message: &str) -> Result<(), SourceError> {
    let gitignore = tree.join(".gitignore");
    let mut ignore = std::fs::read_to_string(&gitignore).unwrap_or_default();
    ignore.push_str(IGNORED);
    write(&gitignore, ignore.as_bytes())?;
    git(tree, &["init", "-q", "-b", "main"]).await?;
    git(tree, &["add", "-A", "-f", "."]).await?;
    // `-f` above keeps files an upstream .gitignore would hide (sdists ship
    // what they ship); the build outputs listed in IGNORED stay out.
    git(
        tree,
        &[
            "rm",
            "-r",
            "-q",
            "--cached",
            "--ignore-unmatch",
            "target",
            ".pytest_cache",
        ],
    )
    .await?;
    git(tree, &["commit", "-q", "--no-verify", "-m", message]).await?;
    Ok(())
}

async fn git(dir: &Path, args: &[&str]) -> Result<String, SourceError> {
    let mut cmd = Command::new("git");
    cmd.args([
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "commit.gpgsign=false",
    ])
    .args(args)
    .current_dir(dir)
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env("GIT_CONFIG_GLOBAL", "/dev/null")
    .env("GIT_AUTHOR_NAME", "agentkit-eval")
    .env("GIT_AUTHOR_EMAIL", "eval@agentkit.invalid")
    .env("GIT_COMMITTER_NAME", "agentkit-eval")
    .env("GIT_COMMITTER_EMAIL", "eval@agentkit.invalid")
    .env("GIT_AUTHOR_DATE", "2000-01-01T00:00:00Z")
    .env("GIT_COMMITTER_DATE", "2000-01-01T00:00:00Z");
    run(
        &mut cmd,
        &format!("git {} in {}", args.join(" "), dir.display()),
    )
    .await
}

async fn git_stdout(dir: &Path, args: &[&str]) -> Result<String, SourceError> {
    git(dir, args).await.map(|s| s.trim().to_string())
}

/// Runs a host command; its stdout on success.
async fn run(cmd: &mut Command, what: &str) -> Result<String, SourceError> {
    let out = cmd
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| SourceError::Io {
            what: format!("starting {what}"),
            source,
        })?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        return Err(SourceError::Command {
            what: what.to_string(),
            status: out.status.to_string(),
            output: tail(&text, 2_000),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The paths of the entries of `dir`.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    Ok(std::fs::read_dir(dir)
        .map_err(|source| SourceError::Io {
            what: format!("reading {}", dir.display()),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect())
}

fn single_entry(dir: &Path) -> Result<PathBuf, SourceError> {
    match entries(dir)?.as_slice() {
        [one] => Ok(one.clone()),
        other => Err(SourceError::Unexpected(format!(
            "expected one downloaded file in {}, found {}",
            dir.display(),
            other.len()
        ))),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), SourceError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| SourceError::Io {
            what: format!("creating {}", parent.display()),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| SourceError::Io {
        what: format!("writing {}", path.display()),
        source,
    })
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map_or_else(
        || {
            std::env::var_os("HOME")
                .map_or_else(std::env::temp_dir, PathBuf::from)
                .join(".cargo")
        },
        PathBuf::from,
    )
}

/// The last `max` bytes of `text` (on a character boundary).
pub(crate) fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A stable (not cryptographic) fingerprint, for cache keys.
fn fnv_hex(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
