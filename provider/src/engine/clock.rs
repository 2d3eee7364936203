//! Time, as the engine sees it.

use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::time::Duration;

use time::OffsetDateTime;

#[allow(async_fn_in_trait)]
pub trait Clock {
    fn now(&self) -> OffsetDateTime;
    async fn sleep(&self, duration: Duration);

    /// Where this process's bakes look within each poll interval, as a
    /// share of it (see [`super::bake()`]): every resource of the process
    /// looks at the same moments, and other processes at other moments.
    fn grid_phase(&self) -> f64 {
        0.0
    }
}

/// Wall-clock time and real sleeping.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    /// Chosen at random once per process, so that separate applies (other
    /// pipelines, other workspaces) do not all call CloudWatch at the same
    /// instant of every interval and meet its request quotas together.
    fn grid_phase(&self) -> f64 {
        static PHASE: OnceLock<f64> = OnceLock::new();
        *PHASE.get_or_init(|| {
            let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
            (random >> 11) as f64 / (1u64 << 53) as f64
        })
    }
}

/// Simulated time for tests: sleeping advances the clock at once.
#[cfg(test)]
#[derive(Debug)]
pub struct SimClock {
    now: std::sync::Mutex<OffsetDateTime>,
}

#[cfg(test)]
impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
impl SimClock {
    pub fn new() -> SimClock {
        SimClock { now: std::sync::Mutex::new(time::macros::datetime!(2026-01-01 00:00 UTC)) }
    }
    pub fn advance(&self, duration: Duration) {
        *self.now.lock().unwrap() += duration;
    }
}

#[cfg(test)]
impl Clock for SimClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap()
    }
    async fn sleep(&self, duration: Duration) {
        self.advance(duration);
        // Let other tasks (a canceller) run, as a real sleep would.
        tokio::task::yield_now().await;
    }
}
