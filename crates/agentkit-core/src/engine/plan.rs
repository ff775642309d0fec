//! Grouping a reply's tool calls into batches.

use crate::message::ToolCall;
use crate::tool::ToolSpec;

/// Tool calls to run, in batches. Batches run one after another; the calls of
/// a `parallel` batch run at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPlan {
    /// The batches, in order.
    pub batches: Vec<ToolBatch>,
}

/// Calls that run together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolBatch {
    /// Whether the calls may run concurrently (all read-only).
    pub parallel: bool,
    /// `(index in the reply, call)`.
    pub calls: Vec<(usize, ToolCall)>,
}

impl ToolPlan {
    /// Groups consecutive read-only calls into parallel batches; every other
    /// call runs alone, in the order the model gave. Unknown tools count as
    /// mutating.
    pub fn new(calls: Vec<(usize, ToolCall)>, specs: &[ToolSpec]) -> Self {
        let read_only = |name: &str| {
            specs
                .iter()
                .any(|s| s.name == name && s.annotations.read_only)
        };
        let mut batches: Vec<ToolBatch> = Vec::new();
        for (index, call) in calls {
            let ro = read_only(&call.name);
            match batches.last_mut() {
                Some(last) if ro && last.parallel => last.calls.push((index, call)),
                _ => batches.push(ToolBatch {
                    parallel: ro,
                    calls: vec![(index, call)],
                }),
            }
        }
        Self { batches }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::ToolAnnotations;

    fn spec(name: &str, read_only: bool) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters: serde_json::json!({}),
            annotations: if read_only {
                ToolAnnotations::read_only()
            } else {
                ToolAnnotations::mutating()
            },
        }
    }

    fn call(i: usize, name: &str) -> (usize, ToolCall) {
        (
            i,
            ToolCall {
                id: format!("c{i}"),
                name: name.into(),
                arguments: "{}".into(),
            },
        )
    }

    #[test]
    fn consecutive_read_only_calls_share_a_parallel_batch() {
        let specs = [spec("read", true), spec("write", false)];
        let plan = ToolPlan::new(
            vec![
                call(0, "read"),
                call(1, "read"),
                call(2, "write"),
                call(3, "write"),
                call(4, "read"),
            ],
            &specs,
        );
        let shape: Vec<(bool, Vec<usize>)> = plan
            .batches
            .iter()
            .map(|b| (b.parallel, b.calls.iter().map(|(i, _)| *i).collect()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (true, vec![0, 1]),
                (false, vec![2]),
                (false, vec![3]),
                (true, vec![4])
            ]
        );
    }
}
