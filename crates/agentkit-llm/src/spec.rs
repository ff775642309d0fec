//! Model spec strings (`anthropic:claude-sonnet-4-5`, ...) and building
//! models from them.
//!
//! A spec names a backend and a model; credentials and endpoints come from
//! the environment variables the official SDKs use, so a spec can be put on
//! a command line or in a config file without a secret in it.
//! [`ACCEPTED_SPECS`] lists the forms; an unknown spec is an error that
//! lists them too.
//!
//! Every network backend is an [`HttpModel`] with the SDKs' retry policy;
//! [`BuildOptions`] changes the retries, the transport, streaming, and can
//! record every exchange to a cassette (see [`crate::cassette`]), which
//! `replay:PATH` serves back offline.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use agentkit_core::model::Model;
use agentkit_core::scripted::ScriptedModel;

use crate::anthropic::{Anthropic, AnthropicConfig};
use crate::cassette::{Cassette, Player, Recorder, ReplayMode};
use crate::client::{ReqwestTransport, TransportOptions};
use crate::http_model::HttpModel;
use crate::openai::chat::{OpenAiChat, OpenAiChatConfig};
use crate::openai::responses::{OpenAiResponses, OpenAiResponsesConfig};
use crate::protocol::Protocol;
use crate::retry::RetryPolicy;
use crate::transport::Transport;

/// The spec forms this build accepts, for error messages and `--help`.
pub const ACCEPTED_SPECS: &[&str] = &[
    "openai:MODEL                 OpenAI Responses API; key from OPENAI_API_KEY \
     (OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID optional)",
    "openai-chat:MODEL            OpenAI Chat Completions; the same variables",
    "anthropic:MODEL              Anthropic Messages; key from ANTHROPIC_API_KEY \
     (ANTHROPIC_BASE_URL optional)",
    "openai-compatible:URL#MODEL  any Chat Completions server (vLLM, llama.cpp, LM Studio, ...), \
     e.g. openai-compatible:http://127.0.0.1:8080/v1#qwen3; key from \
     OPENAI_COMPATIBLE_API_KEY if the server needs one",
    "openrouter:MODEL             OpenRouter, e.g. openrouter:anthropic/claude-sonnet-4.5; \
     key from OPENROUTER_API_KEY",
    "ollama:MODEL                 Ollama at OLLAMA_HOST (default http://127.0.0.1:11434)",
    "scripted:PATH                replay a JSON script of replies (offline, no model)",
    "replay:CASSETTE              serve a recorded cassette of real HTTP exchanges (offline)",
];

/// A parsed model spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// `openai:MODEL`: OpenAI's Responses API.
    OpenAi {
        /// The model, e.g. `gpt-5`.
        model: String,
    },
    /// `openai-chat:MODEL`: OpenAI's Chat Completions API.
    OpenAiChat {
        /// The model, e.g. `gpt-4.1`.
        model: String,
    },
    /// `anthropic:MODEL`: the Anthropic Messages API.
    Anthropic {
        /// The model, e.g. `claude-sonnet-4-5`.
        model: String,
    },
    /// `openai-compatible:URL#MODEL`: any Chat Completions server.
    Compatible {
        /// The API root, e.g. `http://127.0.0.1:8080/v1`.
        base_url: String,
        /// The model as the server names it.
        model: String,
    },
    /// `openrouter:MODEL`.
    OpenRouter {
        /// The model, e.g. `anthropic/claude-sonnet-4.5`.
        model: String,
    },
    /// `ollama:MODEL`.
    Ollama {
        /// The model, e.g. `qwen3:8b`.
        model: String,
    },
    /// `scripted:PATH`.
    Scripted {
        /// The script file.
        path: PathBuf,
    },
    /// `replay:CASSETTE`.
    Replay {
        /// The cassette file.
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
    /// The backend needs an API key and the environment has none.
    #[error("model spec `{spec}` needs an API key: set {variable}")]
    MissingKey {
        /// The spec as given.
        spec: String,
        /// The environment variable to set.
        variable: String,
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

/// Where a spec's environment variables come from.
pub type EnvSource = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How [`ModelSpec::build_with`] builds a network backend.
#[derive(Clone)]
pub struct BuildOptions {
    /// Reads environment variables (default: the process environment).
    pub env: EnvSource,
    /// Retries of each call (default: the SDKs' policy).
    pub retry: RetryPolicy,
    /// HTTP client settings.
    pub transport: TransportOptions,
    /// Stream replies (default) or ask for whole ones.
    pub streaming: bool,
    /// Record every exchange to this cassette file.
    pub record: Option<PathBuf>,
    /// How `replay:` matches requests to recorded exchanges.
    pub replay_mode: ReplayMode,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            env: Arc::new(|name| std::env::var(name).ok()),
            retry: RetryPolicy::default(),
            transport: TransportOptions::default(),
            streaming: true,
            record: None,
            replay_mode: ReplayMode::Strict,
        }
    }
}

impl fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildOptions")
            .field("retry", &self.retry)
            .field("transport", &self.transport)
            .field("streaming", &self.streaming)
            .field("record", &self.record)
            .field("replay_mode", &self.replay_mode)
            .finish_non_exhaustive()
    }
}

impl BuildOptions {
    /// The same options reading variables from `vars` only (for tests and
    /// for callers that keep credentials elsewhere).
    pub fn with_env(mut self, vars: &[(&str, &str)]) -> Self {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.env =
            Arc::new(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
        self
    }

    /// The same options recording every exchange to `path`.
    pub fn recording(mut self, path: impl Into<PathBuf>) -> Self {
        self.record = Some(path.into());
        self
    }

    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::OpenAi { model } => write!(f, "openai:{model}"),
            ModelSpec::OpenAiChat { model } => write!(f, "openai-chat:{model}"),
            ModelSpec::Anthropic { model } => write!(f, "anthropic:{model}"),
            ModelSpec::Compatible { base_url, model } => {
                write!(f, "openai-compatible:{base_url}#{model}")
            }
            ModelSpec::OpenRouter { model } => write!(f, "openrouter:{model}"),
            ModelSpec::Ollama { model } => write!(f, "ollama:{model}"),
            ModelSpec::Scripted { path } => write!(f, "scripted:{}", path.display()),
            ModelSpec::Replay { path } => write!(f, "replay:{}", path.display()),
        }
    }
}

impl ModelSpec {
    /// Parses `spec`.
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let spec = spec.trim();
        let Some((backend, rest)) = spec.split_once(':') else {
            return Err(SpecError::Unknown { spec: spec.into() });
        };
        let rest = rest.trim();
        let incomplete = |hint: &str| SpecError::Incomplete {
            spec: spec.into(),
            hint: hint.into(),
        };
        let model = |example: &str| {
            if rest.is_empty() {
                Err(incomplete(&format!(
                    "name the model, e.g. `{backend}:{example}`"
                )))
            } else {
                Ok(rest.to_owned())
            }
        };
        Ok(match backend {
            "openai" => ModelSpec::OpenAi {
                model: model("gpt-5")?,
            },
            "openai-chat" => ModelSpec::OpenAiChat {
                model: model("gpt-4.1")?,
            },
            "anthropic" => ModelSpec::Anthropic {
                model: model("claude-sonnet-4-5")?,
            },
            "openrouter" => ModelSpec::OpenRouter {
                model: model("anthropic/claude-sonnet-4.5")?,
            },
            "ollama" => ModelSpec::Ollama {
                model: model("qwen3:8b")?,
            },
            "openai-compatible" => {
                let example = "`openai-compatible:http://127.0.0.1:8080/v1#my-model`";
                let Some((base_url, name)) = rest.rsplit_once('#') else {
                    return Err(incomplete(&format!(
                        "give the server's API root and the model after `#`, e.g. {example}"
                    )));
                };
                let (base_url, name) = (base_url.trim(), name.trim());
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    return Err(incomplete(&format!(
                        "the API root must be an http:// or https:// URL, e.g. {example}"
                    )));
                }
                if name.is_empty() {
                    return Err(incomplete(&format!(
                        "name the model after `#`, e.g. {example}"
                    )));
                }
                ModelSpec::Compatible {
                    base_url: base_url.to_owned(),
                    model: name.to_owned(),
                }
            }
            "scripted" if rest.is_empty() => {
                return Err(incomplete(
                    "give the script's path, e.g. `scripted:trajectory.json`",
                ));
            }
            "scripted" => ModelSpec::Scripted {
                path: PathBuf::from(rest),
            },
            "replay" if rest.is_empty() => {
                return Err(incomplete(
                    "give the cassette's path, e.g. `replay:tests/cassettes/run.json`",
                ));
            }
            "replay" => ModelSpec::Replay {
                path: PathBuf::from(rest),
            },
            _ => return Err(SpecError::Unknown { spec: spec.into() }),
        })
    }

    /// Builds the model with default [`BuildOptions`].
    pub fn build(&self) -> Result<Arc<dyn Model>, SpecError> {
        self.build_with(&BuildOptions::default())
    }

    /// Builds the model.
    pub fn build_with(&self, options: &BuildOptions) -> Result<Arc<dyn Model>, SpecError> {
        let build_error = |message: String| SpecError::Build {
            spec: self.to_string(),
            message,
        };
        match self {
            ModelSpec::Scripted { path } => ScriptedModel::from_file(path)
                .map(|m| Arc::new(m) as Arc<dyn Model>)
                .map_err(|e| build_error(e.to_string())),
            ModelSpec::Replay { path } => {
                let cassette = Cassette::load(path).map_err(|e| build_error(e.to_string()))?;
                let recorded = cassette.spec.clone().ok_or_else(|| {
                    build_error(
                        "the cassette does not say which model spec it was recorded with \
                         (its `spec` field); add it, e.g. \"spec\": \"openai:gpt-5\""
                            .into(),
                    )
                })?;
                let recorded = ModelSpec::parse(&recorded)?;
                if matches!(
                    recorded,
                    ModelSpec::Replay { .. } | ModelSpec::Scripted { .. }
                ) {
                    return Err(build_error(format!(
                        "the cassette was recorded with `{recorded}`, which is not a network backend"
                    )));
                }
                let player = Arc::new(Player::new(cassette, options.replay_mode));
                recorded.network(options, player, false)
            }
            _ => {
                let real: Arc<dyn Transport> = Arc::new(
                    ReqwestTransport::with_options(options.transport.clone())
                        .map_err(|e| build_error(e.to_string()))?,
                );
                let transport: Arc<dyn Transport> = match &options.record {
                    Some(path) => Arc::new(
                        Recorder::create(real, path, Some(self.to_string()))
                            .map_err(|e| build_error(e.to_string()))?,
                    ),
                    None => real,
                };
                self.network(options, transport, true)
            }
        }
    }

    /// A network backend over `transport`. Keys are required only when
    /// `need_keys` (a replay sends nothing anywhere).
    fn network(
        &self,
        options: &BuildOptions,
        transport: Arc<dyn Transport>,
        need_keys: bool,
    ) -> Result<Arc<dyn Model>, SpecError> {
        let key = |variable: &str| -> Result<String, SpecError> {
            match options.var(variable) {
                Some(key) => Ok(key),
                None if !need_keys => Ok(String::new()),
                None => Err(SpecError::MissingKey {
                    spec: self.to_string(),
                    variable: variable.into(),
                }),
            }
        };
        let openai_base = options
            .var("OPENAI_BASE_URL")
            .unwrap_or_else(|| crate::openai::chat::OPENAI_BASE_URL.to_owned());
        match self {
            ModelSpec::OpenAi { model } => {
                let mut config = OpenAiResponsesConfig::new(model, key("OPENAI_API_KEY")?)
                    .with_base_url(openai_base);
                config.organization = options.var("OPENAI_ORG_ID");
                config.project = options.var("OPENAI_PROJECT_ID");
                Ok(http(OpenAiResponses::new(config), transport, options))
            }
            ModelSpec::OpenAiChat { model } => {
                let mut config = OpenAiChatConfig::openai(model, key("OPENAI_API_KEY")?);
                config.base_url = openai_base;
                config.organization = options.var("OPENAI_ORG_ID");
                config.project = options.var("OPENAI_PROJECT_ID");
                Ok(http(OpenAiChat::new(config), transport, options))
            }
            ModelSpec::Anthropic { model } => {
                let mut config = AnthropicConfig::new(model, key("ANTHROPIC_API_KEY")?);
                if let Some(base_url) = options.var("ANTHROPIC_BASE_URL") {
                    config.base_url = base_url;
                }
                Ok(http(Anthropic::new(config), transport, options))
            }
            ModelSpec::Compatible { base_url, model } => {
                let config = OpenAiChatConfig::compatible(
                    base_url,
                    model,
                    options.var("OPENAI_COMPATIBLE_API_KEY"),
                );
                Ok(http(OpenAiChat::new(config), transport, options))
            }
            ModelSpec::OpenRouter { model } => {
                let config = OpenAiChatConfig::compatible(
                    "https://openrouter.ai/api/v1",
                    model,
                    Some(key("OPENROUTER_API_KEY")?),
                )
                .with_provider_label("openrouter");
                Ok(http(OpenAiChat::new(config), transport, options))
            }
            ModelSpec::Ollama { model } => {
                let host = options
                    .var("OLLAMA_HOST")
                    .unwrap_or_else(|| "http://127.0.0.1:11434".into());
                let host = if host.contains("://") {
                    host
                } else {
                    format!("http://{host}")
                };
                let base_url = format!("{}/v1", host.trim_end_matches('/'));
                let config = OpenAiChatConfig::compatible(base_url, model, None)
                    .with_provider_label("ollama");
                Ok(http(OpenAiChat::new(config), transport, options))
            }
            ModelSpec::Scripted { .. } | ModelSpec::Replay { .. } => Err(SpecError::Build {
                spec: self.to_string(),
                message: "not a network backend".into(),
            }),
        }
    }
}

fn http<P: Protocol>(
    protocol: P,
    transport: Arc<dyn Transport>,
    options: &BuildOptions,
) -> Arc<dyn Model> {
    Arc::new(
        HttpModel::new(protocol, transport)
            .with_retry(options.retry.clone())
            .streaming(options.streaming),
    )
}

/// Parses `spec` and builds its model with default [`BuildOptions`].
pub fn from_spec(spec: &str) -> Result<Arc<dyn Model>, SpecError> {
    ModelSpec::parse(spec)?.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> ModelSpec {
        ModelSpec::parse(spec).unwrap()
    }

    #[test]
    fn every_form_parses_and_prints_back_the_same() {
        let cases = [
            (
                "openai:gpt-5",
                ModelSpec::OpenAi {
                    model: "gpt-5".into(),
                },
            ),
            (
                "openai-chat:gpt-4.1",
                ModelSpec::OpenAiChat {
                    model: "gpt-4.1".into(),
                },
            ),
            (
                "anthropic:claude-sonnet-4-5",
                ModelSpec::Anthropic {
                    model: "claude-sonnet-4-5".into(),
                },
            ),
            (
                "openai-compatible:http://127.0.0.1:8080/v1#smollm2",
                ModelSpec::Compatible {
                    base_url: "http://127.0.0.1:8080/v1".into(),
                    model: "smollm2".into(),
                },
            ),
            (
                "openrouter:anthropic/claude-sonnet-4.5",
                ModelSpec::OpenRouter {
                    model: "anthropic/claude-sonnet-4.5".into(),
                },
            ),
            (
                "ollama:qwen3:8b",
                ModelSpec::Ollama {
                    model: "qwen3:8b".into(),
                },
            ),
            (
                "scripted:a/b.json",
                ModelSpec::Scripted {
                    path: PathBuf::from("a/b.json"),
                },
            ),
            (
                "replay:c.json",
                ModelSpec::Replay {
                    path: PathBuf::from("c.json"),
                },
            ),
        ];
        for (text, spec) in cases {
            assert_eq!(parse(text), spec, "{text}");
            assert_eq!(spec.to_string(), text);
        }
    }

    #[test]
    fn unknown_specs_list_every_accepted_form() {
        let err = ModelSpec::parse("gpt-5").unwrap_err().to_string();
        assert!(
            err.starts_with("unknown model spec `gpt-5`; accepted forms:\n  openai:MODEL"),
            "{err}"
        );
        for form in ACCEPTED_SPECS {
            assert!(err.contains(form), "{form} missing from: {err}");
        }
        assert!(matches!(
            ModelSpec::parse("nope:x"),
            Err(SpecError::Unknown { .. })
        ));
    }

    #[test]
    fn incomplete_specs_say_what_to_add() {
        let hint = |spec: &str| match ModelSpec::parse(spec) {
            Err(SpecError::Incomplete { hint, .. }) => hint,
            other => panic!("{spec}: {other:?}"),
        };
        assert_eq!(hint("openai:"), "name the model, e.g. `openai:gpt-5`");
        assert_eq!(
            hint("scripted:"),
            "give the script's path, e.g. `scripted:trajectory.json`"
        );
        assert!(hint("openai-compatible:http://x/v1").contains("after `#`"));
        assert!(hint("openai-compatible:localhost:8080#m").contains("http:// or https://"));
        assert!(hint("openai-compatible:http://x/v1#").contains("name the model"));
    }

    #[test]
    fn missing_keys_name_the_variable_to_set() {
        let options = BuildOptions::default().with_env(&[]);
        for (spec, variable) in [
            ("openai:gpt-5", "OPENAI_API_KEY"),
            ("openai-chat:gpt-4.1", "OPENAI_API_KEY"),
            ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
            ("openrouter:openai/gpt-5", "OPENROUTER_API_KEY"),
        ] {
            let err = parse(spec).build_with(&options).err().unwrap();
            assert_eq!(
                err.to_string(),
                format!("model spec `{spec}` needs an API key: set {variable}")
            );
        }
        // Local servers need no key.
        for spec in [
            "openai-compatible:http://127.0.0.1:9/v1#m",
            "ollama:qwen3:8b",
        ] {
            assert!(parse(spec).build_with(&options).is_ok(), "{spec}");
        }
    }

    #[test]
    fn models_know_what_they_are() {
        let options = BuildOptions::default().with_env(&[
            ("OPENAI_API_KEY", "sk-test"),
            ("ANTHROPIC_API_KEY", "sk-ant-test"),
        ]);
        let info = |spec: &str| parse(spec).build_with(&options).unwrap().info().clone();
        assert_eq!(info("openai:gpt-5").provider, "openai");
        assert_eq!(info("openai:gpt-5").context_window, 400_000);
        assert_eq!(info("anthropic:claude-sonnet-4-5").provider, "anthropic");
        assert_eq!(info("ollama:llama3").provider, "ollama");
        assert_eq!(
            info("openai-compatible:http://127.0.0.1:9/v1#m").provider,
            "openai-compatible"
        );
    }

    #[test]
    fn a_missing_script_is_a_build_error_naming_the_file() {
        let err = from_spec("scripted:/nonexistent/script.json")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with(
                "could not build the model for `scripted:/nonexistent/script.json`: could not read the model script"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_cassette_without_a_spec_cannot_be_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        Cassette::new(None).save(&path).unwrap();
        let err = ModelSpec::Replay { path: path.clone() }
            .build()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not say which model spec"), "{err}");
        Cassette::new(Some("scripted:x.json".into()))
            .save(&path)
            .unwrap();
        let err = ModelSpec::Replay { path }
            .build()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a network backend"), "{err}");
    }
}
