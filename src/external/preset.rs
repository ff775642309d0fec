//! Ready-made command templates for well-known CLI agents.

use super::{ExternalAgent, TrajectoryFormat};

/// A well-known CLI agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// [mini-swe-agent](https://pypi.org/project/mini-swe-agent/) 2.x (`mini`),
    /// tool-call mode, non-interactive, its trajectory parsed for steps,
    /// tokens and cost; agentkit's step and cost budgets become its own
    /// limits. Model names are litellm's (`openai/gpt-4o-mini`); any
    /// OpenAI-compatible server works through `api_base`. The API key is
    /// `OPENAI_API_KEY` from the host (a placeholder when the host has none,
    /// for local servers).
    MiniSweAgent,
    /// OpenAI's Codex CLI (`codex exec`, full-auto in the workspace).
    /// `api_base` becomes `OPENAI_BASE_URL`. Nothing is parsed: steps,
    /// tokens and cost are unknown.
    CodexCli,
    /// Anthropic's Claude Code (`claude -p`), its JSON result parsed for
    /// turns, tokens and cost. `api_base` becomes `ANTHROPIC_BASE_URL`.
    ClaudeCode,
    /// aider (`aider --message`), no auto-commits (agentkit commits at
    /// handover). `api_base` is an OpenAI-compatible server.
    Aider,
}

const STATE: &str = "export AGENTKIT_EXTERNAL_DIR=\"$PWD/.git/agentkit-external\"\nmkdir -p \"$AGENTKIT_EXTERNAL_DIR\"\n";

impl Preset {
    /// Every preset, for command-line parsers.
    pub const ALL: [Preset; 4] = [
        Preset::MiniSweAgent,
        Preset::CodexCli,
        Preset::ClaudeCode,
        Preset::Aider,
    ];

    /// The preset's short name (`mini`, `codex`, `claude`, `aider`).
    pub fn key(self) -> &'static str {
        match self {
            Preset::MiniSweAgent => "mini",
            Preset::CodexCli => "codex",
            Preset::ClaudeCode => "claude",
            Preset::Aider => "aider",
        }
    }

    /// The preset named `key`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }

    /// The agent, with `model`, the default program name and template.
    pub fn agent(self, model: String) -> ExternalAgent {
        let (name, program, template, format) = match self {
            Preset::MiniSweAgent => (
                "mini-swe-agent",
                "mini",
                "export MSWEA_CONFIGURED=true MSWEA_COST_TRACKING=ignore_errors LITELLM_LOCAL_MODEL_COST_MAP=True\n\
                 export MSWEA_GLOBAL_CONFIG_DIR=\"$AGENTKIT_EXTERNAL_DIR/mini-config\"\n\
                 export OPENAI_API_KEY=\"${OPENAI_API_KEY:-agentkit-no-key}\"\n\
                 {program} -y --exit-immediately -m {model} -c mini.yaml \
                 -c model.model_kwargs.api_base={api_base} \
                 -c agent.step_limit={step_limit} -c agent.cost_limit={cost_limit} \
                 -c environment.cwd=\"$PWD\" -o {trajectory} -t {task}",
                TrajectoryFormat::MiniSweAgent,
            ),
            Preset::CodexCli => (
                "codex-cli",
                "codex",
                "export OPENAI_BASE_URL={api_base} CODEX_HOME=\"$AGENTKIT_EXTERNAL_DIR/codex\"\n\
                 {program} exec --full-auto --skip-git-repo-check --model {model} {task}",
                TrajectoryFormat::None,
            ),
            Preset::ClaudeCode => (
                "claude-code",
                "claude",
                "export ANTHROPIC_BASE_URL={api_base} CLAUDE_CONFIG_DIR=\"$AGENTKIT_EXTERNAL_DIR/claude\"\n\
                 {program} -p {task} --model {model} --output-format json --dangerously-skip-permissions",
                TrajectoryFormat::ClaudeCodeJson,
            ),
            Preset::Aider => (
                "aider",
                "aider",
                "export HOME=\"$AGENTKIT_EXTERNAL_DIR/aider-home\"\nmkdir -p \"$HOME\"\n\
                 {program} --yes-always --no-auto-commits --no-check-update --no-analytics \
                 --no-show-model-warnings --model {model} --openai-api-base {api_base} --message {task}",
                TrajectoryFormat::None,
            ),
        };
        let mut agent = ExternalAgent::new(name, program, format!("{STATE}{template}"));
        agent.model = model;
        agent.trajectory = format;
        agent.api_key = match self {
            Preset::MiniSweAgent | Preset::CodexCli | Preset::Aider => {
                Some(("OPENAI_API_KEY".into(), "OPENAI_API_KEY".into()))
            }
            Preset::ClaudeCode => Some(("ANTHROPIC_API_KEY".into(), "ANTHROPIC_API_KEY".into())),
        };
        agent
    }
}

/// The template with every placeholder filled in (values shell-quoted).
pub(super) fn render(agent: &ExternalAgent, task_text: &str) -> Result<String, String> {
    let quote = |s: &str| {
        shlex::try_quote(s)
            .map(|q| q.into_owned())
            .map_err(|err| format!("cannot pass `{s}` to the shell: {err}"))
    };
    let step_limit = agent.budgets.max_steps.to_string();
    let cost_limit = agent.budgets.max_cost_usd.unwrap_or(0.0).to_string();
    let mut script = agent.template.clone();
    if !script.contains("AGENTKIT_EXTERNAL_DIR=") {
        script = format!("{STATE}{script}");
    }
    // {task} last: the ticket's text may itself contain `{model}` and the like.
    for (key, value) in [
        ("{program}", quote(&agent.program)?),
        ("{model}", quote(&agent.model)?),
        ("{api_base}", quote(&agent.api_base)?),
        ("{step_limit}", step_limit),
        ("{cost_limit}", cost_limit),
        (
            "{trajectory}",
            "\"$AGENTKIT_EXTERNAL_DIR/trajectory.json\"".to_string(),
        ),
        ("{state}", "\"$AGENTKIT_EXTERNAL_DIR\"".to_string()),
        ("{task}", quote(task_text)?),
    ] {
        script = script.replace(key, &value);
    }
    Ok(script)
}

/// Where `{trajectory}` points, relative to the workspace.
pub(super) const TRAJECTORY_PATH: &str = ".git/agentkit-external/trajectory.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_mini_template() {
        let agent = Preset::MiniSweAgent
            .agent("openai/gpt-4o-mini".into())
            .program("/venv/bin/mini")
            .api_base("http://127.0.0.1:9/v1");
        let script = render(&agent, "Fix it; don't `rm` {model}").unwrap();
        let last = script.lines().last().unwrap();
        assert_eq!(
            last,
            "/venv/bin/mini -y --exit-immediately -m openai/gpt-4o-mini -c mini.yaml \
             -c model.model_kwargs.api_base=http://127.0.0.1:9/v1 -c agent.step_limit=50 \
             -c agent.cost_limit=0 -c environment.cwd=\"$PWD\" \
             -o \"$AGENTKIT_EXTERNAL_DIR/trajectory.json\" -t \"Fix it; don't \"'`rm` {model}'"
        );
        // The quoted ticket reaches the program exactly as written.
        let quoted = last.rsplit_once(" -t ").unwrap().1;
        let echoed = std::process::Command::new("bash")
            .args(["-c", &format!("printf %s {quoted}")])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&echoed.stdout),
            "Fix it; don't `rm` {model}"
        );
        assert_eq!(agent.policy_hosts(), vec!["127.0.0.1:9".to_string()]);
        assert_eq!(Preset::from_key("claude"), Some(Preset::ClaudeCode));
    }

    #[test]
    fn every_preset_renders_a_valid_bash_script() {
        for preset in Preset::ALL {
            let agent = preset.agent("m".into()).api_base("http://127.0.0.1:9/v1");
            let script = render(&agent, "it's `broken` $HOME").unwrap();
            for placeholder in [
                "{program}",
                "{model}",
                "{api_base}",
                "{task}",
                "{trajectory}",
                "{state}",
                "{step_limit}",
                "{cost_limit}",
            ] {
                assert!(
                    !script.contains(placeholder),
                    "{}: {placeholder} left",
                    preset.key()
                );
            }
            let check = std::process::Command::new("bash")
                .args(["-n", "-c", &script])
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}: {}",
                preset.key(),
                String::from_utf8_lossy(&check.stderr)
            );
            assert_eq!(Preset::from_key(preset.key()), Some(preset));
        }
    }
}
