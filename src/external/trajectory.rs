//! Reading what an external agent reports about its run: steps, tokens,
//! cost, how it ended, and its conversation as agentkit events.
//!
//! - [`TrajectoryFormat::MiniSweAgent`]: the `-o` trajectory of mini-swe-agent
//!   (format `mini-swe-agent-1.1`): `info.model_stats.{api_calls,instance_cost}`,
//!   `info.exit_status`, `info.submission`, and `messages` whose assistant
//!   turns carry `tool_calls` and `extra.response.usage`
//!   (`prompt_tokens`/`completion_tokens`) and whose `tool` turns carry the
//!   command output.
//! - [`TrajectoryFormat::ClaudeCodeJson`]: the result object Claude Code prints
//!   with `--output-format json` (`num_turns`, `total_cost_usd`,
//!   `usage.{input_tokens,output_tokens}`, `result`, `is_error`).
//!
//! Parsing is lenient: a field that is missing or of another type is
//! skipped, never fatal (these are other projects' formats).

use agentkit_core::event::Event;
use agentkit_core::message::ToolCall;
use agentkit_core::model::FinishReason;
use agentkit_core::usage::{Cost, Usage};
use serde_json::Value;

/// Which report an external agent leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrajectoryFormat {
    /// Nothing is parsed (steps, tokens and cost stay unknown: 0).
    #[default]
    None,
    /// mini-swe-agent's trajectory file (`{trajectory}`).
    MiniSweAgent,
    /// Claude Code's `--output-format json` result on stdout.
    ClaudeCodeJson,
}

/// What the agent reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrajectoryStats {
    /// Model calls.
    pub steps: u32,
    /// Tokens.
    pub usage: Usage,
    /// Money.
    pub cost: Cost,
    /// The agent's own word for how it ended (`Submitted`, `LimitsExceeded`, ...).
    pub exit_status: Option<String>,
    /// Its final message or submission.
    pub summary: Option<String>,
    /// Its conversation, as events (model calls and tool calls).
    pub events: Vec<Event>,
}

/// Parses mini-swe-agent's trajectory JSON.
pub fn parse_mini(text: &str) -> Result<TrajectoryStats, String> {
    let root: Value = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
    let info = &root["info"];
    let mut stats = TrajectoryStats {
        exit_status: info["exit_status"].as_str().map(String::from),
        summary: info["submission"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from),
        ..TrajectoryStats::default()
    };
    let mut step = 0u32;
    for message in root["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        match message["role"].as_str() {
            Some("assistant") => {
                step += 1;
                let usage_json = &message["extra"]["response"]["usage"];
                let usage = Usage {
                    input_tokens: usage_json["prompt_tokens"].as_u64().unwrap_or(0),
                    output_tokens: usage_json["completion_tokens"].as_u64().unwrap_or(0),
                    ..Usage::default()
                };
                let cost = Cost::usd(message["extra"]["cost"].as_f64().unwrap_or(0.0));
                stats.usage += usage;
                let tool_calls: Vec<ToolCall> = message["tool_calls"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|call| ToolCall {
                        id: call["id"].as_str().unwrap_or_default().to_string(),
                        name: call["function"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        arguments: call["function"]["arguments"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    })
                    .collect();
                let finish_reason = if tool_calls.is_empty() {
                    FinishReason::Stop
                } else {
                    FinishReason::ToolCalls
                };
                stats.events.push(Event::ModelCallFinished {
                    step,
                    text: message["content"].as_str().unwrap_or_default().to_string(),
                    tool_calls,
                    usage,
                    cost,
                    finish_reason,
                });
            }
            Some("tool") => stats.events.push(Event::ToolCallFinished {
                call_id: message["tool_call_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                name: "bash".into(),
                is_error: message["extra"]["returncode"]
                    .as_i64()
                    .is_some_and(|c| c != 0),
                content: message["content"].as_str().unwrap_or_default().to_string(),
                operator_detail: None,
                duration_ms: 0,
            }),
            _ => {}
        }
    }
    stats.steps = info["model_stats"]["api_calls"]
        .as_u64()
        .map_or(step, |n| u32::try_from(n).unwrap_or(u32::MAX));
    stats.cost = Cost::usd(info["model_stats"]["instance_cost"].as_f64().unwrap_or(0.0));
    Ok(stats)
}

/// Parses Claude Code's JSON result (the last JSON object line of stdout).
pub fn parse_claude_code(stdout: &str) -> Result<TrajectoryStats, String> {
    let root: Value = stdout
        .lines()
        .rev()
        .find_map(|line| {
            serde_json::from_str::<Value>(line.trim())
                .ok()
                .filter(Value::is_object)
        })
        .ok_or_else(|| "no JSON result object on stdout".to_string())?;
    Ok(TrajectoryStats {
        steps: root["num_turns"]
            .as_u64()
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        usage: Usage {
            input_tokens: root["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: root["usage"]["output_tokens"].as_u64().unwrap_or(0),
            cached_input_tokens: root["usage"]["cache_read_input_tokens"]
                .as_u64()
                .unwrap_or(0),
            reasoning_tokens: 0,
        },
        cost: Cost::usd(root["total_cost_usd"].as_f64().unwrap_or(0.0)),
        exit_status: root["subtype"].as_str().map(String::from),
        summary: root["result"].as_str().map(String::from),
        events: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_mini_trajectory() {
        let text = serde_json::json!({
            "info": {
                "model_stats": {"instance_cost": 0.25, "api_calls": 2},
                "exit_status": "Submitted",
                "submission": "diff --git a/x b/x"
            },
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "task"},
                {"role": "assistant", "content": "look", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"ls\"}"}}
                ], "extra": {"cost": 0.1, "response": {"usage": {"prompt_tokens": 100, "completion_tokens": 10}}}},
                {"role": "tool", "tool_call_id": "c1", "content": "a.py", "extra": {"returncode": 0}},
                {"role": "assistant", "content": "done", "extra": {"cost": 0.15, "response": {"usage": {"prompt_tokens": 120, "completion_tokens": 5}}}},
                {"role": "exit", "content": "Submitted", "extra": {"exit_status": "Submitted"}}
            ],
            "trajectory_format": "mini-swe-agent-1.1"
        })
        .to_string();
        let stats = parse_mini(&text).unwrap();
        assert_eq!(
            (
                stats.steps,
                stats.usage,
                stats.cost,
                stats.exit_status.as_deref(),
                stats.summary.as_deref()
            ),
            (
                2,
                Usage {
                    input_tokens: 220,
                    output_tokens: 15,
                    ..Usage::default()
                },
                Cost::usd(0.25),
                Some("Submitted"),
                Some("diff --git a/x b/x")
            )
        );
        assert_eq!(stats.events.len(), 3);
        assert_eq!(
            stats.events[1],
            Event::ToolCallFinished {
                call_id: "c1".into(),
                name: "bash".into(),
                is_error: false,
                content: "a.py".into(),
                operator_detail: None,
                duration_ms: 0,
            }
        );
        assert!(parse_mini("not json").is_err());
    }

    #[test]
    fn reads_a_claude_code_result() {
        let stdout = "starting\n{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":4,\"result\":\"Fixed.\",\"total_cost_usd\":0.031,\"usage\":{\"input_tokens\":900,\"output_tokens\":80,\"cache_read_input_tokens\":500}}\n";
        let stats = parse_claude_code(stdout).unwrap();
        assert_eq!(
            stats,
            TrajectoryStats {
                steps: 4,
                usage: Usage {
                    input_tokens: 900,
                    output_tokens: 80,
                    cached_input_tokens: 500,
                    reasoning_tokens: 0
                },
                cost: Cost::usd(0.031),
                exit_status: Some("success".into()),
                summary: Some("Fixed.".into()),
                events: Vec::new(),
            }
        );
    }
}
