//! The delivery engine: watching gates over time and deciding. It knows
//! neither gRPC nor AWS; AWS reaches it through narrow traits (ports) such as
//! [`alarms::AlarmSource`], and time through [`Clock`], so that whole bakes
//! run in simulated time in tests.

pub mod alarms;
pub mod analysis;
pub mod bake;
pub mod clock;
pub mod deployment;
pub mod judge;
pub mod lease;
pub mod metric;
pub mod poller;
pub mod rollout;
pub mod schedule;
pub mod traffic;

pub use bake::{Bake, BakeOutcome, Progress, bake};
pub use clock::{Clock, SystemClock};

use time::OffsetDateTime;

/// One line of a history: a rollout's or a followed deployment's, each with
/// its own kinds of event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<K> {
    pub at: OffsetDateTime,
    /// The new destination's share of traffic after this event, in percent.
    pub percent: f64,
    pub kind: K,
    pub detail: String,
}

/// The name a kind of event has in history and logs.
pub trait EventName: Copy {
    fn as_str(self) -> &'static str;

    /// The words that begin this kind's progress line (`shift`, `look:
    /// pass`, `verdict: fail`, ...): verdicts and looks read alike whatever
    /// the resource.
    fn progress_word(self) -> &'static str {
        self.as_str()
    }
}

impl<K: EventName> Event<K> {
    /// The progress line logs show for this event, one per shift, look and
    /// verdict, always in these words so that people and scripts can follow
    /// a run in `TF_LOG`: `shift: step 1 of 3: 10% to the target, ...`,
    /// `look: pass: step 1 of 3 at 10%: ...`, `verdict: pass: step 1 of 3:
    /// baked ...`, `verdict: fail: ...`, `verdict: promoted: ...`,
    /// `rollback: ...`, `warning: ...`.
    pub fn progress_line(&self) -> String {
        format!("{}: {}", self.kind.progress_word(), self.detail)
    }
}

/// What one look at a gate found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing is wrong (missing data counts as nothing wrong for alarms).
    Healthy,
    /// Something is wrong; the bake fails.
    Unhealthy(Finding),
    /// Nothing is wrong, but there is not yet enough evidence to pass (too
    /// few canary requests, no data yet). A bake holds until the evidence
    /// comes or its limit is reached.
    Pending(String),
}

/// Why a gate failed, in terms a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What tripped, e.g. `alarm "checkout-5xx"`.
    pub source: String,
    /// The explanation the source gave (an alarm's StateReason).
    pub reason: String,
    /// When the source entered the failing state, if it says.
    pub since: Option<OffsetDateTime>,
}

/// A signal that can stop a bake.
#[allow(async_fn_in_trait)]
pub trait Gate {
    /// Looks once. Errors are failures to look (network, permissions), not
    /// verdicts.
    async fn check(&self) -> Result<Verdict, GateError>;

    /// Where the evidence stands, for history (e.g. the analysis numbers).
    fn summary(&self) -> Option<String> {
        None
    }

    /// A step begins with the target at `percent`, after traffic moved
    /// during `moved` (an empty range when nothing moved). Gates that judge
    /// per step (the analysis) start its evidence here.
    fn begin_step(&self, moved: std::ops::Range<OffsetDateTime>, percent: f64) {
        let _ = (moved, percent);
    }
}

/// No gate at all: what watches a rollback, which nothing may stop.
pub struct NoGate;

impl Gate for NoGate {
    async fn check(&self) -> Result<Verdict, GateError> {
        Ok(Verdict::Healthy)
    }
}

/// Two gates that must both pass, looked at together (so that their reads
/// meet other gates' in the shared pollers); the first one's failure is the
/// one reported when both fail.
pub struct Both<A, B>(pub A, pub Option<B>);

impl<A: Gate, B: Gate> Gate for Both<A, B> {
    async fn check(&self) -> Result<Verdict, GateError> {
        let Some(second) = &self.1 else { return self.0.check().await };
        let (first, second) = futures_util::future::join(self.0.check(), second.check()).await;
        all_of([first, second])
    }

    fn summary(&self) -> Option<String> {
        self.1.as_ref().and_then(Gate::summary).or_else(|| self.0.summary())
    }

    fn begin_step(&self, moved: std::ops::Range<OffsetDateTime>, percent: f64) {
        self.0.begin_step(moved.clone(), percent);
        if let Some(second) = &self.1 {
            second.begin_step(moved, percent);
        }
    }
}

/// Several gates that must all pass, looked at together; the first failure
/// is reported.
impl<G: Gate> Gate for Vec<G> {
    async fn check(&self) -> Result<Verdict, GateError> {
        all_of(futures_util::future::join_all(self.iter().map(Gate::check)).await)
    }

    fn summary(&self) -> Option<String> {
        let summaries: Vec<String> = self.iter().filter_map(Gate::summary).collect();
        (!summaries.is_empty()).then(|| summaries.join(" | "))
    }

    fn begin_step(&self, moved: std::ops::Range<OffsetDateTime>, percent: f64) {
        for gate in self {
            gate.begin_step(moved.clone(), percent);
        }
    }
}

/// The verdict of gates that must all pass, from their looks in order: the
/// first failure found, or else the first read error (no evidence is not a
/// pass), or else the first reason to wait.
fn all_of(looks: impl IntoIterator<Item = Result<Verdict, GateError>>) -> Result<Verdict, GateError> {
    let (mut error, mut pending) = (None, None);
    for look in looks {
        match look {
            Ok(Verdict::Unhealthy(finding)) => return Ok(Verdict::Unhealthy(finding)),
            Ok(Verdict::Pending(reason)) => pending = pending.or(Some(reason)),
            Ok(Verdict::Healthy) => {}
            Err(e) => error = error.or(Some(e)),
        }
    }
    match (error, pending) {
        (Some(e), _) => Err(e),
        (None, Some(reason)) => Ok(Verdict::Pending(reason)),
        (None, None) => Ok(Verdict::Healthy),
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{0}")]
pub struct GateError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    /// A gate that always gives the same answer.
    struct Says(Result<Verdict, GateError>);

    impl Gate for Says {
        async fn check(&self) -> Result<Verdict, GateError> {
            self.0.clone()
        }
    }

    fn failing(source: &str) -> Result<Verdict, GateError> {
        Ok(Verdict::Unhealthy(Finding { source: source.into(), reason: String::new(), since: None }))
    }

    #[tokio::test]
    async fn a_failure_outranks_an_unreadable_gate_which_outranks_waiting() {
        let unreadable = || Err(GateError("throttled".into()));
        let waiting = || Ok(Verdict::Pending("no data".into()));
        let both = |a, b| Both(Says(a), Some(Says(b)));
        assert_eq!(both(unreadable(), failing("metric")).check().await, failing("metric"));
        assert_eq!(
            both(failing("alarm"), failing("metric")).check().await,
            failing("alarm"),
            "the first failure is reported"
        );
        assert_eq!(both(waiting(), unreadable()).check().await, unreadable());
        assert_eq!(both(Ok(Verdict::Healthy), waiting()).check().await, waiting());
        assert_eq!(Both(Says(Ok(Verdict::Healthy)), None::<Says>).check().await, Ok(Verdict::Healthy));
    }
}
