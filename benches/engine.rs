//! Engine overhead per step: a scripted model and a no-op tool, no IO.
//!
//! Measures what the loop itself costs per model call + tool call (request
//! building, stream folding, hooks, events, pairing), so it can be compared
//! with the latency of a real model (hundreds of milliseconds).

use std::sync::Arc;

use agentkit::core::prelude::*;
use agentkit::core::testing::MemorySandbox;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

struct Noop;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoArgs {}

#[async_trait::async_trait]
impl Tool for Noop {
    type Args = NoArgs;
    fn name(&self) -> &str {
        "noop"
    }
    fn description(&self) -> &str {
        "Does nothing."
    }
    fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::read_only()
    }
    async fn call(&self, _: NoArgs, _: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::text("ok"))
    }
}

fn script(steps: usize) -> String {
    let turn = r#"{"text":"next","tool_calls":[{"name":"noop","arguments":{}}],"usage":{"input_tokens":10,"output_tokens":5}}"#;
    format!("[{}]", vec![turn; steps].join(","))
}

fn engine_steps(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("engine");
    for steps in [10usize, 100] {
        let json = script(steps);
        group.throughput(Throughput::Elements(steps as u64));
        group.bench_with_input(BenchmarkId::new("steps", steps), &steps, |b, &steps| {
            b.iter(|| {
                let model = Arc::new(ScriptedModel::from_json(&json, "bench").unwrap());
                let agent = Agent::builder(model)
                    .tool(Noop)
                    .budgets(Budgets {
                        max_steps: steps as u32,
                        ..Budgets::default()
                    })
                    .build();
                let task = Task::new("B", "bench", "bench", RepoRef::new("."));
                let outcome = rt.block_on(agent.run(
                    task,
                    Arc::new(MemorySandbox::new()),
                    CancellationToken::new(),
                ));
                assert_eq!(outcome.steps as usize, steps);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, engine_steps);
criterion_main!(benches);
