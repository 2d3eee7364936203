//! The delivery engine: watching gates over time and deciding. It knows
//! neither gRPC nor AWS; AWS reaches it through narrow traits (ports) such as
//! [`alarms::AlarmSource`], and time through [`Clock`], so that whole bakes
//! run in simulated time in tests.

pub mod alarms;
pub mod analysis;
pub mod bake;
pub mod clock;
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
}

/// Two gates that must both pass: the first is looked at first, and its
/// failure is reported without looking at the second.
pub struct Both<A, B>(pub A, pub Option<B>);

impl<A: Gate, B: Gate> Gate for Both<A, B> {
    async fn check(&self) -> Result<Verdict, GateError> {
        let first = self.0.check().await?;
        let Some(second) = &self.1 else { return Ok(first) };
        Ok(match (first, second.check().await?) {
            (Verdict::Unhealthy(f), _) | (_, Verdict::Unhealthy(f)) => Verdict::Unhealthy(f),
            (Verdict::Pending(r), _) | (_, Verdict::Pending(r)) => Verdict::Pending(r),
            (Verdict::Healthy, Verdict::Healthy) => Verdict::Healthy,
        })
    }

    fn summary(&self) -> Option<String> {
        self.1.as_ref().and_then(Gate::summary).or_else(|| self.0.summary())
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{0}")]
pub struct GateError(pub String);
