//! Time, as the engine sees it.

use std::time::Duration;

use time::OffsetDateTime;

#[allow(async_fn_in_trait)]
pub trait Clock {
    fn now(&self) -> OffsetDateTime;
    async fn sleep(&self, duration: Duration);
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
}

/// Simulated time for tests: sleeping advances the clock at once.
#[cfg(test)]
#[derive(Debug)]
pub struct SimClock {
    now: std::sync::Mutex<OffsetDateTime>,
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
