//! Group commit on the client: concurrent calls of one kind (enqueues,
//! completions) are gathered into batches that each run as one statement,
//! so they share one round trip, one transaction and one WAL flush instead
//! of paying one each.
//!
//! A [`Coalescer`] adds no waiting of its own: a call that finds fewer than
//! `in_flight` batches running starts one at once (in a task of its own);
//! otherwise it queues, and the first running batch to end takes every
//! queued call (up to `max_batch`) as its next batch. Calls only gather
//! while batches run, i.e. exactly when the database is the bottleneck; a
//! lone caller runs alone at once. No timer, no background task while idle.
//!
//! The batch function answers each call on its own (one `Result` per item,
//! in order), so one caller's refusal stays that caller's; when the batch's
//! transaction fails, every caller in it gets the error, and nothing of the
//! batch was written.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// One queued call: its input and where its answer goes.
type Call<T, R> = (T, oneshot::Sender<R>);

/// The batch function, shared by the running batches.
type Run<T, R> = Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = Vec<R>> + Send>> + Send + Sync>;

/// Gathers concurrent calls into batches for a batch function (see the
/// module documentation). Batches run in tasks of their own, so a caller
/// that stops waiting never cuts another caller's batch short.
pub(crate) struct Coalescer<T, R> {
    state: Arc<Mutex<Queue<T, R>>>,
    run: Run<T, R>,
    max_batch: usize,
    in_flight: usize,
}

/// The calls no batch has taken yet, and how many batches run.
struct Queue<T, R> {
    calls: VecDeque<Call<T, R>>,
    running: usize,
}

impl<T, R> std::fmt::Debug for Coalescer<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("max_batch", &self.max_batch)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static, R: Send + 'static> Coalescer<T, R> {
    /// A coalescer that runs `run` on batches of at most `max_batch` calls,
    /// at most `in_flight` batches at once. `run` returns one answer per
    /// item, in the items' order.
    pub(crate) fn new<F, Fut>(max_batch: usize, in_flight: usize, run: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        Self {
            state: Arc::new(Mutex::new(Queue {
                calls: VecDeque::new(),
                running: 0,
            })),
            run: Arc::new(move |items| Box::pin(run(items))),
            max_batch: max_batch.max(1),
            in_flight: in_flight.max(1),
        }
    }

    /// Queues `item` and waits for its answer; `None` when the batch that
    /// took it never answered (its task panicked or the runtime is shutting
    /// down), in which case whether it was written is unknown.
    pub(crate) async fn call(&self, item: T) -> Option<R> {
        let (answer, answered) = oneshot::channel();
        let first = {
            let mut queue = lock(&self.state);
            queue.calls.push_back((item, answer));
            if queue.running < self.in_flight {
                queue.running += 1;
                Some(take(&mut queue, self.max_batch))
            } else {
                // A running batch takes this call when it is done.
                None
            }
        };
        if let Some(batch) = first {
            let (state, run, max_batch) = (
                Arc::clone(&self.state),
                Arc::clone(&self.run),
                self.max_batch,
            );
            tokio::spawn(run_batches(state, run, max_batch, batch));
        }
        answered.await.ok()
    }
}

/// A running chain of batches. If it stops abnormally (a batch panicked:
/// its own callers get `None`), the calls queued meanwhile go on in a new
/// chain, so they are not left waiting for one that will never come.
struct Chain<T: Send + 'static, R: Send + 'static> {
    state: Arc<Mutex<Queue<T, R>>>,
    run: Run<T, R>,
    max_batch: usize,
    ended: bool,
}

impl<T: Send + 'static, R: Send + 'static> Drop for Chain<T, R> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let mut queue = lock(&self.state);
        if queue.calls.is_empty() {
            queue.running -= 1;
            return;
        }
        // The new chain takes this one's place in `running`. Without a
        // runtime (it is shutting down) the batch is dropped unrun and its
        // callers get `None`.
        let batch = take(&mut queue, self.max_batch);
        drop(queue);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (state, run) = (Arc::clone(&self.state), Arc::clone(&self.run));
            runtime.spawn(run_batches(state, run, self.max_batch, batch));
        } else {
            lock(&self.state).running -= 1;
        }
    }
}

fn lock<T, R>(state: &Mutex<Queue<T, R>>) -> MutexGuard<'_, Queue<T, R>> {
    // The queue stays consistent whatever panicked while it was held.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn take<T, R>(queue: &mut Queue<T, R>, max_batch: usize) -> Vec<Call<T, R>> {
    let n = queue.calls.len().min(max_batch);
    queue.calls.drain(..n).collect()
}

/// Runs `batch`, then the calls queued meanwhile, until none are left.
async fn run_batches<T: Send + 'static, R: Send + 'static>(
    state: Arc<Mutex<Queue<T, R>>>,
    run: Run<T, R>,
    max_batch: usize,
    mut batch: Vec<Call<T, R>>,
) {
    let mut chain = Chain {
        state: Arc::clone(&state),
        run: Arc::clone(&run),
        max_batch,
        ended: false,
    };
    loop {
        let (items, answers): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
        let results = run(items).await;
        debug_assert_eq!(results.len(), answers.len(), "one answer per call");
        for (answer, result) in answers.into_iter().zip(results) {
            // A caller that stopped waiting no longer wants its answer.
            let _ = answer.send(result);
        }
        let mut queue = lock(&state);
        if queue.calls.is_empty() {
            // Counted out under the lock: a call queued after this starts a
            // chain of its own.
            queue.running -= 1;
            chain.ended = true;
            return;
        }
        batch = take(&mut queue, max_batch);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// The batches a recording coalescer was given, in order.
    type Seen = Arc<Mutex<Vec<Vec<u32>>>>;

    /// Records the batches it is given, holding each for `hold`.
    fn recording(hold: Duration, in_flight: usize) -> (Coalescer<u32, u32>, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let coalescer = Coalescer::new(3, in_flight, move |items: Vec<u32>| {
            log.lock().unwrap().push(items.clone());
            async move {
                tokio::time::sleep(hold).await;
                items.into_iter().map(|i| i * 10).collect()
            }
        });
        (coalescer, seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_call_runs_at_once_in_a_batch_of_its_own() {
        let (coalescer, seen) = recording(Duration::ZERO, 1);
        assert_eq!(coalescer.call(4).await, Some(40));
        assert_eq!(coalescer.call(5).await, Some(50));
        assert_eq!(*seen.lock().unwrap(), vec![vec![4], vec![5]]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_made_while_a_batch_runs_share_the_next_batches_up_to_the_cap() {
        let (coalescer, seen) = recording(Duration::from_millis(200), 1);
        let coalescer = Arc::new(coalescer);
        let first = tokio::spawn({
            let coalescer = Arc::clone(&coalescer);
            async move { coalescer.call(0).await }
        });
        // The first batch is running (and holds the only slot) before the
        // others are queued.
        while seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let rest: Vec<_> = (1..=4)
            .map(|i| {
                let coalescer = Arc::clone(&coalescer);
                tokio::spawn(async move { coalescer.call(i).await })
            })
            .collect();
        assert_eq!(first.await.unwrap(), Some(0));
        let mut answers = Vec::new();
        for call in rest {
            answers.push(call.await.unwrap());
        }
        assert_eq!(answers, vec![Some(10), Some(20), Some(30), Some(40)]);
        let mut batches = seen.lock().unwrap().clone();
        batches[1..].iter_mut().for_each(|b| b.sort());
        assert_eq!(batches[0], vec![0]);
        assert_eq!(batches.len(), 3, "{batches:?}");
        let sizes: Vec<usize> = batches[1..].iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![3, 1], "{batches:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_panics_answers_its_callers_with_none_and_others_go_on() {
        let coalescer = Arc::new(Coalescer::new(8, 1, |items: Vec<u32>| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(!items.contains(&13), "unlucky");
            items
        }));
        let call = |item| {
            let coalescer = Arc::clone(&coalescer);
            tokio::spawn(async move { coalescer.call(item).await })
        };
        let unlucky = call(13);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Queued while the batch that will panic runs.
        let queued = call(7);
        assert_eq!(unlucky.await.unwrap(), None);
        assert_eq!(queued.await.unwrap(), Some(7));
        assert_eq!(call(8).await.unwrap(), Some(8));
    }
}
