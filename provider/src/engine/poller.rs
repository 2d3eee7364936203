//! One reader per provider process for each kind of gate data (and for the
//! ALB router's describes, see `aws::elbv2`).
//!
//! Terraform applies up to ten resources at once, and a pipeline may hold
//! dozens of rollouts watching the same alarms and metrics. Each gate reading
//! on its own costs one API call per gate per look. Here reads are merged:
//!
//! * a read is answered by a batch fetch that starts no earlier than the
//!   read itself, so a gate never sees data older than it asked for;
//! * a read that finds no fetch under way opens one, which first waits a
//!   short `gather` window (possibly none) so that reads arriving at about
//!   the same time share it; reads that arrive while a fetch is running go
//!   into the next one together;
//! * the [`BatchSource`] turns the batch into as few calls as the API allows
//!   (DescribeAlarms takes 100 names, GetMetricData 500 queries) and hands
//!   each read its own part of the answer.
//!
//! Bakes look on a common wall-clock grid (see [`super::bake()`]), so the
//! gates of one apply keep meeting in the same fetches: fifty of them cost
//! about what one does. Reads that never come close in time are not merged;
//! they pay one gather window each, and nothing else.
//!
//! Fetches run on their own task, so a gate stopped mid-read (Ctrl-C) never
//! takes the fetch other gates are waiting for down with it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::GateError;
use super::alarms::{AlarmSource, AlarmStatus};

/// Data that is cheaper read for many readers at once.
pub trait BatchSource: Send + Sync + 'static {
    type Request: Send + 'static;
    type Answer: Send + 'static;
    type Error: From<Unanswered> + Send + 'static;

    /// Answers every request, one answer each, in order.
    fn fetch_all(
        &self,
        requests: Vec<Self::Request>,
    ) -> impl Future<Output = Vec<Result<Self::Answer, Self::Error>>> + Send;
}

/// A read the poller could not answer: its fetch stopped or came back short.
#[derive(Debug)]
pub struct Unanswered(pub &'static str);

impl From<Unanswered> for GateError {
    fn from(e: Unanswered) -> GateError {
        GateError(e.0.to_owned())
    }
}

type Reply<S> = oneshot::Sender<Result<<S as BatchSource>::Answer, <S as BatchSource>::Error>>;

struct Queue<S: BatchSource> {
    waiting: Vec<(S::Request, Reply<S>)>,
    /// A fetch is gathering or running; it will take `waiting` next.
    in_flight: bool,
}

pub struct Poller<S: BatchSource> {
    source: S,
    gather: Duration,
    queue: Mutex<Queue<S>>,
}

impl<S: BatchSource> Poller<S> {
    pub fn new(source: S, gather: Duration) -> Arc<Poller<S>> {
        Arc::new(Poller { source, gather, queue: Mutex::new(Queue { waiting: Vec::new(), in_flight: false }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<S>> {
        // A panic elsewhere must not stop every gate: the queue stays usable.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads `request` in the next batch.
    pub async fn read(self: &Arc<Self>, request: S::Request) -> Result<S::Answer, S::Error> {
        let (reply, answer) = oneshot::channel();
        let open = {
            let mut queue = self.lock();
            queue.waiting.push((request, reply));
            !std::mem::replace(&mut queue.in_flight, true)
        };
        if open {
            tokio::spawn(self.clone().fetch_while_waiting());
        }
        answer.await.unwrap_or_else(|_| Err(Unanswered("the shared reader stopped before answering").into()))
    }

    /// Fetches batches until no read is waiting.
    async fn fetch_while_waiting(self: Arc<Self>) {
        // Should the source panic, the reads of its batch are answered with
        // an error, and the reads queued meanwhile get a fetch of their own.
        let _unwinding = OnPanic(self.clone());
        loop {
            if self.gather.is_zero() {
                // Still let reads made at the same moment join in.
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(self.gather).await;
            }
            let batch: Vec<_> = {
                let mut queue = self.lock();
                let batch: Vec<_> =
                    std::mem::take(&mut queue.waiting).into_iter().filter(|(_, reply)| !reply.is_closed()).collect();
                if batch.is_empty() {
                    queue.in_flight = false;
                    return;
                }
                batch
            };
            let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let mut answers = self.source.fetch_all(requests).await.into_iter();
            for reply in replies {
                let answer = answers
                    .next()
                    .unwrap_or_else(|| Err(Unanswered("the batch answered fewer reads than it was given").into()));
                let _ = reply.send(answer);
            }
        }
    }
}

struct OnPanic<S: BatchSource>(Arc<Poller<S>>);

impl<S: BatchSource> Drop for OnPanic<S> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut queue = self.0.lock();
        if queue.waiting.is_empty() {
            queue.in_flight = false;
        } else {
            tokio::spawn(self.0.clone().fetch_while_waiting());
        }
    }
}

/// Alarm reads merged into one sweep over the union of the names asked for.
pub struct AlarmBatches<S>(pub S);

impl<S: AlarmSource + Send + Sync + 'static> BatchSource for AlarmBatches<S> {
    type Request = Vec<String>;
    type Answer = Vec<AlarmStatus>;
    type Error = GateError;

    async fn fetch_all(&self, requests: Vec<Vec<String>>) -> Vec<Result<Vec<AlarmStatus>, GateError>> {
        let mut union: Vec<String> = requests.iter().flatten().cloned().collect();
        union.sort();
        union.dedup();
        let found = self.0.describe(&union).await;
        requests
            .iter()
            .map(|names| found.clone().map(|all| all.into_iter().filter(|a| names.contains(&a.name)).collect()))
            .collect()
    }
}

/// Every gate's alarm reads go through the process's one poller.
impl<S: AlarmSource + Send + Sync + 'static> AlarmSource for Arc<Poller<AlarmBatches<S>>> {
    async fn describe(&self, names: &[String]) -> Result<Vec<AlarmStatus>, GateError> {
        self.read(names.to_vec()).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::engine::alarms::AlarmState;

    /// Counts calls; every alarm it is asked for exists and is OK.
    #[derive(Default)]
    struct Counting {
        calls: AtomicUsize,
        names_asked: Mutex<Vec<usize>>,
    }

    impl AlarmSource for &'static Counting {
        async fn describe(&self, names: &[String]) -> Result<Vec<AlarmStatus>, GateError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.names_asked.lock().unwrap().push(names.len());
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(names
                .iter()
                .map(|n| AlarmStatus { name: n.clone(), state: AlarmState::Ok, reason: String::new(), updated: None })
                .collect())
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn poller(gather: Duration) -> (&'static Counting, Arc<Poller<AlarmBatches<&'static Counting>>>) {
        let source: &'static Counting = Box::leak(Box::default());
        (source, Poller::new(AlarmBatches(source), gather))
    }

    #[tokio::test]
    async fn concurrent_reads_share_one_fetch_of_the_union() {
        let (source, poller) = poller(Duration::from_millis(10));
        let (wants_a, wants_b) = (names(&["a", "shared"]), names(&["b", "shared"]));
        let (ra, rb) = tokio::join!(poller.describe(&wants_a), poller.describe(&wants_b));
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
        assert_eq!(*source.names_asked.lock().unwrap(), [3], "one call for a, b and shared");
        assert_eq!(ra.unwrap().len(), 2, "each gate gets only its own alarms");
        assert_eq!(rb.unwrap().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["b", "shared"]);
    }

    /// Fifty gates reading every 100 ms for five rounds, their first reads
    /// spread over `spread`; returns the number of fetches.
    async fn fifty_gates(spread: Duration) -> usize {
        let (source, poller) = poller(Duration::from_millis(10));
        let looks = (0..50).map(|i| {
            let poller = poller.clone();
            async move {
                tokio::time::sleep(spread * i / 50).await;
                for _ in 0..5 {
                    poller.describe(&names(&["5xx"])).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        futures_util::future::join_all(looks).await;
        source.calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn gates_that_look_together_share_every_fetch() {
        let calls = fifty_gates(Duration::ZERO).await;
        assert!(calls <= 10, "250 reads took {calls} calls");
    }

    #[tokio::test]
    async fn spread_out_gates_still_cost_far_less_than_a_call_per_look() {
        let calls = fifty_gates(Duration::from_millis(100)).await;
        assert!(calls <= 60, "250 reads took {calls} calls");
    }

    #[tokio::test]
    async fn a_cancelled_read_does_not_block_the_others() {
        let (source, poller) = poller(Duration::from_millis(50));
        let wanted = names(&["a"]);
        // The read that opened the fetch is cancelled during its gather
        // window, like a bake stopped by Ctrl-C; another read shares it.
        let cancelled = tokio::time::timeout(Duration::from_millis(10), poller.describe(&wanted));
        let other = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tokio::time::timeout(Duration::from_secs(2), poller.describe(&wanted)).await
        };
        let (cancelled, answered) = tokio::join!(cancelled, other);
        assert!(cancelled.is_err());
        assert!(matches!(answered, Ok(Ok(_))), "the other read is answered");
        assert_eq!(*source.names_asked.lock().unwrap(), [1], "one fetch, for the read still waiting");
    }

    #[tokio::test]
    async fn a_read_never_gets_data_older_than_itself() {
        let (source, poller) = poller(Duration::from_millis(10));
        poller.describe(&names(&["a"])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        poller.describe(&names(&["a"])).await.unwrap();
        assert_eq!(source.calls.load(Ordering::SeqCst), 2, "the second read fetched anew");
    }

    #[tokio::test]
    async fn a_panicking_source_fails_its_batch_only() {
        struct PanicsOnce(AtomicUsize);
        impl BatchSource for &'static PanicsOnce {
            type Request = ();
            type Answer = usize;
            type Error = GateError;
            async fn fetch_all(&self, requests: Vec<()>) -> Vec<Result<usize, GateError>> {
                let call = self.0.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                assert!(call > 0, "the first fetch panics");
                requests.iter().map(|()| Ok(call)).collect()
            }
        }
        let source: &'static PanicsOnce = Box::leak(Box::new(PanicsOnce(AtomicUsize::new(0))));
        let poller = Poller::new(source, Duration::from_millis(1));
        let queued_meanwhile = async {
            tokio::time::sleep(Duration::from_millis(15)).await;
            poller.read(()).await
        };
        let (in_the_batch, queued_meanwhile) = tokio::join!(poller.read(()), queued_meanwhile);
        assert!(in_the_batch.is_err());
        assert_eq!(queued_meanwhile, Ok(1), "a read queued during the panicking fetch gets the next one");
        assert_eq!(poller.read(()).await, Ok(2));
    }
}
