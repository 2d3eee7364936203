//! One alarm reader for every gate in the provider process.
//!
//! Terraform applies up to ten resources at once, and a pipeline may hold
//! dozens of rollouts watching the same alarms. Each gate looking on its own
//! costs one DescribeAlarms per gate per poll. Here looks are coalesced:
//!
//! * a look is answered by a batch fetch that starts no earlier than the
//!   look itself, so a gate never sees data older than it asked for;
//! * a look that finds no fetch under way opens one, but first waits a short
//!   `gather` window so that looks arriving at about the same time share it;
//!   looks that arrive while a fetch is running wait for it and then open the
//!   next one together;
//! * each fetch reads the union of every subscribed gate's alarms (the source
//!   splits it into calls of up to 100 names).
//!
//! Gates of one apply start together and poll at the same cadence, so they
//! keep meeting in the same fetches: fifty of them cost about what one does.
//! Gates whose looks never come close in time are not merged; they pay one
//! gather window per look, and nothing else.
//!
//! There is no background task: the first waiting gate whose turn has come
//! fetches for everyone, and the others wait for its result.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::GateError;
use super::alarms::{AlarmSource, AlarmStatus};

struct Snapshot {
    started: Instant,
    names: BTreeSet<String>,
    result: Result<Vec<AlarmStatus>, GateError>,
}

#[derive(Default)]
struct State {
    /// Alarm names per subscription.
    subscribers: HashMap<u64, Vec<String>>,
    next_id: u64,
    /// A fetch is gathering or running.
    in_flight: bool,
    latest: Option<Arc<Snapshot>>,
}

pub struct AlarmPoller<S> {
    source: S,
    gather: Duration,
    state: Mutex<State>,
    fetched: Notify,
}

impl<S: AlarmSource> AlarmPoller<S> {
    pub fn new(source: S, gather: Duration) -> Arc<AlarmPoller<S>> {
        Arc::new(AlarmPoller { source, gather, state: Mutex::default(), fetched: Notify::new() })
    }

    /// Registers a gate's alarms; the subscription is its [`AlarmSource`].
    pub fn subscribe(self: &Arc<Self>, names: &[String]) -> Subscription<S> {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.subscribers.insert(id, names.to_vec());
        Subscription { poller: self.clone(), id }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere must not stop every gate: the state stays usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn look(&self, names: &[String]) -> Result<Vec<AlarmStatus>, GateError> {
        let asked = Instant::now();
        loop {
            let fetched = self.fetched.notified();
            tokio::pin!(fetched);
            fetched.as_mut().enable();
            let lead = {
                let mut state = self.lock();
                if let Some(snapshot) = &state.latest {
                    if snapshot.started >= asked && names.iter().all(|n| snapshot.names.contains(n)) {
                        let result = snapshot.result.clone();
                        return result.map(|all| all.into_iter().filter(|a| names.contains(&a.name)).collect());
                    }
                }
                let lead = !state.in_flight;
                state.in_flight = true;
                lead
            };
            if !lead {
                fetched.await;
                continue;
            }
            // Whatever happens to this look (a stop cancels it), the fetch
            // must be marked finished, or every other gate would wait forever.
            let finish = FinishGuard(self);
            tokio::time::sleep(self.gather).await;
            let (started, union) = {
                let state = self.lock();
                let union: BTreeSet<String> = state.subscribers.values().flatten().chain(names).cloned().collect();
                (Instant::now(), union)
            };
            let list: Vec<String> = union.iter().cloned().collect();
            let result = self.source.describe(&list).await;
            std::mem::forget(finish);
            let mut state = self.lock();
            state.latest = Some(Arc::new(Snapshot { started, names: union, result }));
            state.in_flight = false;
            drop(state);
            self.fetched.notify_waiters();
        }
    }
}

/// Clears the in-flight mark if a leading look is dropped mid-fetch.
struct FinishGuard<'a, S: AlarmSource>(&'a AlarmPoller<S>);

impl<S: AlarmSource> Drop for FinishGuard<'_, S> {
    fn drop(&mut self) {
        self.0.lock().in_flight = false;
        self.0.fetched.notify_waiters();
    }
}

/// One gate's view of the poller; unsubscribes on drop.
pub struct Subscription<S: AlarmSource> {
    poller: Arc<AlarmPoller<S>>,
    id: u64,
}

impl<S: AlarmSource> AlarmSource for Subscription<S> {
    async fn describe(&self, names: &[String]) -> Result<Vec<AlarmStatus>, GateError> {
        self.poller.look(names).await
    }
}

impl<S: AlarmSource> Drop for Subscription<S> {
    fn drop(&mut self) {
        self.poller.lock().subscribers.remove(&self.id);
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
            Ok(names.iter().map(|n| AlarmStatus { name: n.clone(), state: AlarmState::Ok, reason: String::new(), updated: None }).collect())
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn concurrent_looks_share_one_fetch_of_the_union() {
        let source: &'static Counting = Box::leak(Box::default());
        let poller = AlarmPoller::new(source, Duration::from_millis(10));
        let a = poller.subscribe(&names(&["a", "shared"]));
        let b = poller.subscribe(&names(&["b", "shared"]));
        let (wants_a, wants_b) = (names(&["a", "shared"]), names(&["b", "shared"]));
        let (ra, rb) = tokio::join!(a.describe(&wants_a), b.describe(&wants_b));
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
        assert_eq!(*source.names_asked.lock().unwrap(), [3], "one call for a, b and shared");
        assert_eq!(ra.unwrap().len(), 2, "each gate gets only its own alarms");
        assert_eq!(rb.unwrap().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["b", "shared"]);
    }

    /// Fifty gates polling every 100 ms for five rounds, their first looks
    /// spread over `spread`; returns the number of fetches.
    async fn fifty_gates(spread: Duration) -> usize {
        let source: &'static Counting = Box::leak(Box::default());
        let poller = AlarmPoller::new(source, Duration::from_millis(10));
        let gates: Vec<_> = (0..50).map(|_| poller.subscribe(&names(&["5xx"]))).collect();
        let looks = gates.iter().enumerate().map(|(i, gate)| async move {
            tokio::time::sleep(spread * i as u32 / 50).await;
            for _ in 0..5 {
                gate.describe(&names(&["5xx"])).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        futures_util::future::join_all(looks).await;
        source.calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn gates_that_look_together_share_every_fetch() {
        let calls = fifty_gates(Duration::ZERO).await;
        assert!(calls <= 10, "250 looks took {calls} calls");
    }

    #[tokio::test]
    async fn spread_out_gates_still_cost_far_less_than_a_call_per_look() {
        let calls = fifty_gates(Duration::from_millis(100)).await;
        assert!(calls <= 60, "250 looks took {calls} calls");
    }

    #[tokio::test]
    async fn a_cancelled_leader_does_not_block_the_others() {
        let source: &'static Counting = Box::leak(Box::default());
        let poller = AlarmPoller::new(source, Duration::from_millis(50));
        let gate = poller.subscribe(&names(&["a"]));
        let wanted = names(&["a"]);
        // Cancelled during its gather window, like a bake stopped by Ctrl-C.
        let _ = tokio::time::timeout(Duration::from_millis(10), gate.describe(&wanted)).await;
        let answer = tokio::time::timeout(Duration::from_secs(2), gate.describe(&wanted)).await;
        assert!(matches!(answer, Ok(Ok(_))), "the next look is answered");
    }

    #[tokio::test]
    async fn a_look_never_gets_data_older_than_itself() {
        let source: &'static Counting = Box::leak(Box::default());
        let poller = AlarmPoller::new(source, Duration::from_millis(10));
        let gate = poller.subscribe(&names(&["a"]));
        gate.describe(&names(&["a"])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        gate.describe(&names(&["a"])).await.unwrap();
        assert_eq!(source.calls.load(Ordering::SeqCst), 2, "the second look fetched anew");
        drop(gate);
        assert!(poller.lock().subscribers.is_empty());
    }
}
