//! Recognising a repository's stack from the files at its root, and the
//! setup that would install its dependencies.
//!
//! Pure: it looks at a list of root-level file names, nothing else. What it
//! proposes is shown in the transcript; it runs only when the operator
//! turned auto-setup on.
//!
//! | found | proposed | needs |
//! | --- | --- | --- |
//! | `Cargo.toml` | `cargo fetch` (`--locked` with `Cargo.lock`) | `cargo` |
//! | `pyproject.toml` + `uv.lock` | `uv sync --frozen` | `uv` |
//! | `pyproject.toml` + `poetry.lock` | `poetry install --no-interaction --no-root` | `poetry` |
//! | `requirements*.txt` | a `.venv`, `pip install -r` each | `python3` |
//! | `pyproject.toml` (else) | a `.venv`, `pip install -e .` | `python3` |
//! | `package.json` + `package-lock.json` | `npm ci` | `node`, `npm` |
//! | `package.json` + `pnpm-lock.yaml` | `pnpm install --frozen-lockfile` | `node`, `pnpm` |
//! | `package.json` + `yarn.lock` | `yarn install --frozen-lockfile` | `node`, `yarn` |
//! | `go.mod` | `go mod download` | `go` |
//!
//! A `package.json` without a lockfile gets no proposal: an install without
//! one is not reproducible, so it cannot be snapshotted either.

use serde::{Deserialize, Serialize};

/// A Node package manager, told apart by its lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeManager {
    /// `package-lock.json`.
    Npm,
    /// `pnpm-lock.yaml`.
    Pnpm,
    /// `yarn.lock`.
    Yarn,
}

/// A recognised stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stack", rename_all = "snake_case")]
pub enum Stack {
    /// A Cargo package or workspace.
    Cargo,
    /// A Python project.
    Python,
    /// A Node project with a lockfile.
    Node {
        /// Its package manager.
        manager: NodeManager,
    },
    /// A Go module.
    Go,
}

/// The setup detection proposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detected {
    /// The stacks found, in the order above.
    pub stacks: Vec<Stack>,
    /// One script installing all their dependencies (`set -e`).
    pub script: String,
    /// The toolchains it runs.
    pub needs: Vec<String>,
    /// The root files that decide its result (see [`lockfile_names`]).
    pub inputs: Vec<String>,
}

/// Whether `name` (a root-level file) decides what a setup installs:
/// manifests and lockfiles of the stacks above.
pub fn lockfile_names(name: &str) -> bool {
    matches!(
        name,
        "Cargo.toml"
            | "Cargo.lock"
            | "rust-toolchain"
            | "rust-toolchain.toml"
            | "pyproject.toml"
            | "poetry.lock"
            | "uv.lock"
            | "setup.py"
            | "setup.cfg"
            | "package.json"
            | "package-lock.json"
            | "pnpm-lock.yaml"
            | "yarn.lock"
            | "go.mod"
            | "go.sum"
    ) || (name.starts_with("requirements") && name.ends_with(".txt"))
}

/// The setup for a repository whose root holds `files` (names, not
/// paths); `None` when no stack is recognised.
pub fn detect<S: AsRef<str>>(files: &[S]) -> Option<Detected> {
    let has = |name: &str| files.iter().any(|f| f.as_ref() == name);
    let mut stacks = Vec::new();
    let mut lines: Vec<String> = vec!["set -e".into()];
    let mut needs: Vec<String> = Vec::new();
    let mut need = |names: &[&str]| {
        for n in names {
            if !needs.iter().any(|x| x == n) {
                needs.push((*n).to_string());
            }
        }
    };
    if has("Cargo.toml") {
        stacks.push(Stack::Cargo);
        lines.push(if has("Cargo.lock") {
            "cargo fetch --locked".into()
        } else {
            "cargo fetch".into()
        });
        need(&["cargo"]);
    }
    let mut requirements: Vec<&str> = files
        .iter()
        .map(AsRef::as_ref)
        .filter(|f| f.starts_with("requirements") && f.ends_with(".txt"))
        .collect();
    requirements.sort_unstable();
    if has("pyproject.toml") || !requirements.is_empty() {
        stacks.push(Stack::Python);
        if has("pyproject.toml") && has("uv.lock") {
            lines.push("uv sync --frozen".into());
            need(&["uv"]);
        } else if has("pyproject.toml") && has("poetry.lock") {
            lines.push("poetry install --no-interaction --no-root".into());
            need(&["poetry"]);
        } else {
            lines.push("python3 -m venv .venv".into());
            if requirements.is_empty() {
                lines.push(".venv/bin/python -m pip install -e .".into());
            }
            for file in requirements {
                lines.push(format!(".venv/bin/python -m pip install -r {file}"));
            }
            need(&["python3"]);
        }
    }
    if has("package.json") {
        let manager = if has("package-lock.json") {
            Some((NodeManager::Npm, "npm ci", "npm"))
        } else if has("pnpm-lock.yaml") {
            Some((NodeManager::Pnpm, "pnpm install --frozen-lockfile", "pnpm"))
        } else if has("yarn.lock") {
            Some((NodeManager::Yarn, "yarn install --frozen-lockfile", "yarn"))
        } else {
            None
        };
        if let Some((manager, command, program)) = manager {
            stacks.push(Stack::Node { manager });
            lines.push(command.into());
            need(&["node", program]);
        }
    }
    if has("go.mod") {
        stacks.push(Stack::Go);
        lines.push("go mod download".into());
        need(&["go"]);
    }
    if stacks.is_empty() {
        return None;
    }
    let mut inputs: Vec<String> = files
        .iter()
        .map(|f| f.as_ref().to_string())
        .filter(|f| lockfile_names(f))
        .collect();
    inputs.sort();
    Some(Detected {
        stacks,
        script: lines.join("\n") + "\n",
        needs,
        inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polyglot_repository_gets_one_script_for_every_stack() {
        let files = [
            "Cargo.toml",
            "Cargo.lock",
            "requirements.txt",
            "requirements-dev.txt",
            "package.json",
            "pnpm-lock.yaml",
            "go.mod",
            "go.sum",
            "README.md",
        ];
        assert_eq!(
            detect(&files),
            Some(Detected {
                stacks: vec![
                    Stack::Cargo,
                    Stack::Python,
                    Stack::Node {
                        manager: NodeManager::Pnpm
                    },
                    Stack::Go
                ],
                script: "set -e\ncargo fetch --locked\npython3 -m venv .venv\n\
                         .venv/bin/python -m pip install -r requirements-dev.txt\n\
                         .venv/bin/python -m pip install -r requirements.txt\n\
                         pnpm install --frozen-lockfile\ngo mod download\n"
                    .into(),
                needs: vec![
                    "cargo".into(),
                    "python3".into(),
                    "node".into(),
                    "pnpm".into(),
                    "go".into()
                ],
                inputs: vec![
                    "Cargo.lock".into(),
                    "Cargo.toml".into(),
                    "go.mod".into(),
                    "go.sum".into(),
                    "package.json".into(),
                    "pnpm-lock.yaml".into(),
                    "requirements-dev.txt".into(),
                    "requirements.txt".into()
                ],
            })
        );
    }

    #[test]
    fn python_managers_and_node_lockfiles_pick_their_commands() {
        let script = |files: &[&str]| detect(files).map(|d| d.script);
        assert_eq!(
            script(&["pyproject.toml", "uv.lock"]),
            Some("set -e\nuv sync --frozen\n".into())
        );
        assert_eq!(
            script(&["pyproject.toml", "poetry.lock"]),
            Some("set -e\npoetry install --no-interaction --no-root\n".into())
        );
        assert_eq!(
            script(&["pyproject.toml"]),
            Some("set -e\npython3 -m venv .venv\n.venv/bin/python -m pip install -e .\n".into())
        );
        assert_eq!(
            script(&["package.json", "package-lock.json"]),
            Some("set -e\nnpm ci\n".into())
        );
        assert_eq!(
            script(&["package.json", "yarn.lock"]),
            Some("set -e\nyarn install --frozen-lockfile\n".into())
        );
        assert_eq!(script(&["package.json"]), None);
        assert_eq!(script(&["README.md"]), None);
    }
}
