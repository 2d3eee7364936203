//! The delivery engine: watching gates over time and deciding. It knows
//! neither gRPC nor AWS; AWS reaches it through narrow traits (ports) such as
//! [`alarms::AlarmSource`], and time through [`Clock`], so that whole bakes
//! run in simulated time in tests.

pub mod alarms;
pub mod bake;
pub mod clock;
pub mod judge;
pub mod lease;
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
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{0}")]
pub struct GateError(pub String);
