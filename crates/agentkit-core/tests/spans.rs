//! The driver's tracing spans follow the OpenTelemetry GenAI conventions.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use agentkit_core::prelude::*;
use agentkit_core::testing::MemorySandbox;
use common::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Spans = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

/// Records every span's name and fields (including ones recorded later).
struct Capture(Spans);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').to_string(),
        );
    }
}

struct Index(usize);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.push((attrs.metadata().name().to_string(), fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Index(spans.len() - 1));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(index) = span.extensions().get::<Index>().map(|i| i.0) else {
            return;
        };
        let mut spans = self.0.lock().unwrap();
        values.record(&mut Fields(&mut spans[index].1));
    }
}

#[tokio::test]
async fn model_and_tool_spans_carry_gen_ai_attributes() {
    let spans: Spans = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Capture(spans.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let model = script(
        r#"[{"tool_calls":[{"name":"echo","arguments":{"text":"hi"}}],"usage":{"input_tokens":120,"output_tokens":7}},
            {"tool_calls":[{"name":"finish","arguments":{"summary":"ok"}}]}]"#,
    );
    let agent = Agent::builder(model).tool(Echo).tool(Finish).build();
    let outcome = agent
        .run(
            task(),
            Arc::new(MemorySandbox::new()),
            CancellationToken::new(),
        )
        .await;
    assert!(outcome.stop_reason.is_success());

    let spans = spans.lock().unwrap().clone();
    let find = |name: &str| -> Vec<BTreeMap<String, String>> {
        spans
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    };
    let agent_span = &find("invoke_agent")[0];
    assert_eq!(agent_span["gen_ai.operation.name"], "invoke_agent");
    assert_eq!(agent_span["gen_ai.request.model"], "scripted");
    assert_eq!(agent_span["task.id"], "T-1");

    let chats = find("chat");
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0]["gen_ai.operation.name"], "chat");
    assert_eq!(chats[0]["gen_ai.provider.name"], "scripted");
    assert_eq!(chats[0]["gen_ai.usage.input_tokens"], "120");
    assert_eq!(chats[0]["gen_ai.usage.output_tokens"], "7");
    assert_eq!(chats[0]["gen_ai.response.finish_reasons"], "tool_calls");

    let tools = find("execute_tool");
    let names: Vec<&str> = tools
        .iter()
        .map(|f| f["gen_ai.tool.name"].as_str())
        .collect();
    assert_eq!(names, vec!["echo", "finish"]);
    assert_eq!(tools[0]["gen_ai.tool.call.id"], "call_1_1");
    assert_eq!(tools[0]["gen_ai.operation.name"], "execute_tool");
}
