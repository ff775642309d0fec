//! Path globs of the completion contract and their defaults per ecosystem.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::policy::PolicyError;

/// Test files: Rust, Python, Go, JavaScript/TypeScript, Java/Kotlin, Ruby, C#.
pub const DEFAULT_TEST_GLOBS: &[&str] = &[
    "tests/**",
    "**/tests/**",
    "test/**",
    "**/test/**",
    "**/__tests__/**",
    "**/spec/**",
    "**/test_*.py",
    "**/*_test.py",
    "**/conftest.py",
    "**/*_test.go",
    "**/testdata/**",
    "**/*.test.{js,jsx,ts,tsx,mjs,cjs}",
    "**/*.spec.{js,jsx,ts,tsx,mjs,cjs}",
    "**/src/test/**",
    "**/*Test.{java,kt}",
    "**/*Tests.{java,kt,cs}",
    "**/*_spec.rb",
    "**/benches/**",
];

/// CI and repository configuration, including agentkit's own policy file.
pub const DEFAULT_CI_GLOBS: &[&str] = &[
    ".github/workflows/**",
    ".github/actions/**",
    ".gitlab-ci.yml",
    ".gitlab/**",
    ".circleci/**",
    ".travis.yml",
    "azure-pipelines.yml",
    ".azure-pipelines/**",
    "Jenkinsfile",
    ".buildkite/**",
    ".drone.yml",
    ".woodpecker/**",
    ".pre-commit-config.yaml",
    ".agentkit/**",
];

/// Lockfiles of the common package managers.
pub const DEFAULT_LOCKFILE_GLOBS: &[&str] = &[
    "**/Cargo.lock",
    "**/package-lock.json",
    "**/npm-shrinkwrap.json",
    "**/yarn.lock",
    "**/pnpm-lock.yaml",
    "**/bun.lockb",
    "**/poetry.lock",
    "**/Pipfile.lock",
    "**/uv.lock",
    "**/pdm.lock",
    "**/go.sum",
    "**/Gemfile.lock",
    "**/composer.lock",
    "**/packages.lock.json",
    "**/flake.lock",
    "**/mix.lock",
];

/// Generated files and build output: left out of the commit by the handover,
/// and a violation if one reaches the host anyway.
pub const DEFAULT_GENERATED_GLOBS: &[&str] = &[
    "**/__pycache__/**",
    "**/*.pyc",
    "**/*.pyo",
    "**/.pytest_cache/**",
    "**/.mypy_cache/**",
    "**/.ruff_cache/**",
    "**/.tox/**",
    "**/.nox/**",
    "**/*.egg-info/**",
    "**/.coverage",
    "**/htmlcov/**",
    "**/target/**",
    "**/node_modules/**",
    "**/.next/**",
    "**/.turbo/**",
    "**/dist/**",
    "**/build/**",
    "**/.gradle/**",
    "**/*.class",
    "**/*.o",
    "**/*.obj",
    "**/*.so",
    "**/*.dylib",
    "**/*.dll",
    "**/*.exe",
    "**/*.a",
    "**/.DS_Store",
    "**/Thumbs.db",
    "**/*.swp",
    "**/*~",
];

/// A set of globs that remembers which glob matched.
#[derive(Debug, Clone)]
pub struct GlobList {
    patterns: Vec<String>,
    set: GlobSet,
}

impl GlobList {
    /// Compiles `patterns` (`**` crosses directories, `*` does not, `{a,b}` alternates).
    pub fn new<I, S>(patterns: I) -> Result<Self, PolicyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut builder = GlobSetBuilder::new();
        let mut kept = Vec::new();
        for pattern in patterns {
            let pattern = pattern.as_ref();
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| PolicyError {
                    rule: pattern.to_string(),
                    message: e.kind().to_string(),
                })?;
            builder.add(glob);
            kept.push(pattern.to_string());
        }
        let set = builder.build().map_err(|e| PolicyError {
            rule: kept.join(", "),
            message: e.to_string(),
        })?;
        Ok(Self {
            patterns: kept,
            set,
        })
    }

    /// Compiles built-in patterns (which are known to be valid).
    pub(crate) fn builtin(patterns: &[&str]) -> Self {
        Self::new(patterns).unwrap_or_else(|_| Self {
            patterns: Vec::new(),
            set: GlobSet::empty(),
        })
    }

    /// The first glob that matches `path`, if any.
    pub fn matching(&self, path: &str) -> Option<&str> {
        self.set
            .matches(path)
            .first()
            .map(|&i| self.patterns[i].as_str())
    }

    /// The patterns, as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_recognise_each_ecosystem() {
        let tests = GlobList::builtin(DEFAULT_TEST_GLOBS);
        for path in [
            "tests/it.rs",
            "crates/x/tests/a.rs",
            "pkg/test_calc.py",
            "test_calc.py",
            "conftest.py",
            "pkg/calc_test.go",
            "src/app.test.ts",
            "src/test/java/AppTest.java",
            "spec/models/user_spec.rb",
        ] {
            assert!(tests.matching(path).is_some(), "{path}");
        }
        for path in ["src/lib.rs", "calc.py", "src/testing.rs", "contest.py"] {
            assert_eq!(tests.matching(path), None, "{path}");
        }
        let generated = GlobList::builtin(DEFAULT_GENERATED_GLOBS);
        assert_eq!(
            generated.matching("__pycache__/calc.cpython-311.pyc"),
            Some("**/__pycache__/**")
        );
        assert_eq!(generated.matching("a/b/.DS_Store"), Some("**/.DS_Store"));
        assert_eq!(generated.matching("src/build.rs"), None);
        let locks = GlobList::builtin(DEFAULT_LOCKFILE_GLOBS);
        assert_eq!(locks.matching("Cargo.lock"), Some("**/Cargo.lock"));
        let ci = GlobList::builtin(DEFAULT_CI_GLOBS);
        assert_eq!(
            ci.matching(".github/workflows/ci.yml"),
            Some(".github/workflows/**")
        );
        assert_eq!(ci.matching(".agentkit/policy.toml"), Some(".agentkit/**"));
    }

    #[test]
    fn a_bad_glob_names_itself() {
        let err = GlobList::new(["src/[a"]).unwrap_err();
        assert_eq!(err.rule, "src/[a");
    }
}
