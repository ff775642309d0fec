//! What the loop sends with each model call: tool choice, temperature and
//! reasoning effort.

mod common;

use agentkit_core::model::{ReasoningEffort, ToolChoice};
use common::*;

#[tokio::test]
async fn the_first_tool_choice_applies_to_the_first_call_and_the_tool_choice_to_the_rest() {
    let model = script(&format!(
        "[{ECHO_FOREVER},{ECHO_FOREVER},{}]",
        r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}"#
    ));
    let forced = ToolChoice::Tool {
        name: "echo".into(),
    };
    let outcome = run_once(
        agent(model.clone())
            .first_tool_choice(forced.clone())
            .tool_choice(ToolChoice::Required)
            .build(),
    )
    .await;
    assert!(outcome.stop_reason.is_success(), "{outcome:?}");
    let choices: Vec<_> = model
        .requests()
        .into_iter()
        .map(|r| r.tool_choice)
        .collect();
    assert_eq!(
        choices,
        vec![forced, ToolChoice::Required, ToolChoice::Required]
    );
}

#[tokio::test]
async fn without_settings_every_call_lets_the_model_choose() {
    let model = script(&format!(
        "[{ECHO_FOREVER},{}]",
        r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}"#
    ));
    run_once(agent(model.clone()).build()).await;
    let choices: Vec<_> = model
        .requests()
        .into_iter()
        .map(|r| r.tool_choice)
        .collect();
    assert_eq!(choices, vec![ToolChoice::Auto; 2]);
}

#[tokio::test]
async fn temperature_and_reasoning_effort_are_sent_with_every_call() {
    let model = script(&format!(
        "[{ECHO_FOREVER},{}]",
        r#"{"tool_calls":[{"name":"finish","arguments":{"summary":"done"}}]}"#
    ));
    run_once(
        agent(model.clone())
            .temperature(0.0)
            .reasoning_effort(ReasoningEffort::High)
            .build(),
    )
    .await;
    let sent: Vec<_> = model
        .requests()
        .into_iter()
        .map(|r| (r.temperature, r.reasoning_effort))
        .collect();
    assert_eq!(sent, vec![(Some(0.0), Some(ReasoningEffort::High)); 2]);
}
