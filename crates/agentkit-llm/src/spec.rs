//! Parsing model spec strings and building models from them.

use std::path::PathBuf;
use std::sync::Arc;

use agentkit_core::model::Model;
use agentkit_core::scripted::ScriptedModel;

/// The spec forms this build accepts, for error messages and `--help`.
pub const ACCEPTED_SPECS: &[&str] = &["scripted:PATH  (replay a JSON script of replies; offline)"];

/// A parsed model spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// `scripted:PATH`.
    Scripted {
        /// The script file.
        path: PathBuf,
    },
}

/// A spec that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The spec's form is not known.
    #[error("unknown model spec `{spec}`; accepted forms:\n  {}", ACCEPTED_SPECS.join("\n  "))]
    Unknown {
        /// The spec as given.
        spec: String,
    },
    /// The spec names a known backend but is incomplete.
    #[error("model spec `{spec}` is incomplete: {hint}")]
    Incomplete {
        /// The spec as given.
        spec: String,
        /// What is missing.
        hint: String,
    },
    /// The backend could not be built.
    #[error("could not build the model for `{spec}`: {message}")]
    Build {
        /// The spec as given.
        spec: String,
        /// Why.
        message: String,
    },
}

impl ModelSpec {
    /// Parses `spec`.
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let spec = spec.trim();
        let Some((backend, rest)) = spec.split_once(':') else {
            return Err(SpecError::Unknown { spec: spec.into() });
        };
        match backend {
            "scripted" if rest.is_empty() => Err(SpecError::Incomplete {
                spec: spec.into(),
                hint: "give the script's path, e.g. `scripted:trajectory.json`".into(),
            }),
            "scripted" => Ok(ModelSpec::Scripted {
                path: PathBuf::from(rest),
            }),
            _ => Err(SpecError::Unknown { spec: spec.into() }),
        }
    }

    /// Builds the model.
    pub fn build(&self) -> Result<Arc<dyn Model>, SpecError> {
        match self {
            ModelSpec::Scripted { path } => ScriptedModel::from_file(path)
                .map(|m| Arc::new(m) as Arc<dyn Model>)
                .map_err(|e| SpecError::Build {
                    spec: format!("scripted:{}", path.display()),
                    message: e.to_string(),
                }),
        }
    }
}

/// Parses `spec` and builds its model.
pub fn from_spec(spec: &str) -> Result<Arc<dyn Model>, SpecError> {
    ModelSpec::parse(spec)?.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scripted_specs() {
        assert_eq!(
            ModelSpec::parse("scripted:a/b.json").unwrap(),
            ModelSpec::Scripted {
                path: PathBuf::from("a/b.json")
            }
        );
    }

    #[test]
    fn unknown_specs_list_what_is_accepted() {
        let err = ModelSpec::parse("gpt-5").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown model spec `gpt-5`; accepted forms:\n  scripted:PATH  (replay a JSON script of replies; offline)"
        );
        assert!(matches!(
            ModelSpec::parse("nope:x"),
            Err(SpecError::Unknown { .. })
        ));
        assert!(matches!(
            ModelSpec::parse("scripted:"),
            Err(SpecError::Incomplete { .. })
        ));
    }

    #[test]
    fn a_missing_script_is_a_build_error_naming_the_file() {
        let err = from_spec("scripted:/nonexistent/script.json")
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("could not build the model for `scripted:/nonexistent/script.json`: could not read the model script"), "{err}");
    }
}
