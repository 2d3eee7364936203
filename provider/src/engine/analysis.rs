//! Canary analysis as a gate: the canary's errors against the baseline's,
//! judged by [`SequentialJudge`] over the whole rollout.
//!
//! Counts come per metric period. A period is read once, one period after it
//! ends (so that late data points have arrived), and never again: each period
//! enters the judgement exactly once, which the judgement's guarantee needs.

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

use super::judge::{Counts, JudgeError, Judgement, SequentialJudge};
use super::{Clock, Finding, Gate, GateError, Verdict};

/// What to do while there is no data for the canary at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingData {
    /// No evidence is not a pass: the step holds until data comes or the
    /// rollout times out.
    Wait,
    /// Missing data fails the gate.
    Fail,
    /// Missing data passes the gate.
    Ignore,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisSettings {
    /// What is counted as an error, for messages (`5xx`).
    pub label: String,
    pub max_increase: f64,
    pub confidence: f64,
    /// The canary must have served this many requests before a step passes.
    pub min_requests: u64,
    pub period: Duration,
    pub on_missing_data: MissingData,
}

/// Where per-period counts of both groups come from (CloudWatch in production).
#[allow(async_fn_in_trait)]
pub trait GroupCounts {
    /// Counts of the periods that start in `[from, to)`, keyed by period
    /// start. Periods without any data may be left out.
    async fn counts(&self, from: OffsetDateTime, to: OffsetDateTime, period: Duration) -> Result<Vec<(OffsetDateTime, Counts)>, GateError>;
}

struct Progress {
    judge: SequentialJudge,
    /// Start of the first period not read yet.
    cursor: OffsetDateTime,
    /// Start of the first period judged; data is only missing once that
    /// period has been read.
    started: OffsetDateTime,
}

pub struct AnalysisGate<'c, M, C> {
    metrics: M,
    clock: &'c C,
    settings: AnalysisSettings,
    progress: Mutex<Progress>,
}

/// `t` rounded down to a multiple of `period` since the epoch, the way
/// CloudWatch aligns its periods.
fn align_down(t: OffsetDateTime, period: Duration) -> OffsetDateTime {
    let step = period.as_secs().max(1) as i64;
    let seconds = t.unix_timestamp().div_euclid(step) * step;
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(t)
}

impl<'c, M: GroupCounts, C: Clock> AnalysisGate<'c, M, C> {
    /// Starts judging from the current period on.
    pub fn new(metrics: M, clock: &'c C, settings: AnalysisSettings) -> Result<Self, JudgeError> {
        let judge = SequentialJudge::new(settings.max_increase, settings.confidence)?;
        let cursor = align_down(clock.now(), settings.period);
        Ok(AnalysisGate { metrics, clock, settings, progress: Mutex::new(Progress { judge, cursor, started: cursor }) })
    }

    fn numbers(&self, j: &Judgement) -> String {
        let t = j.totals;
        let rate = |errors: u64, requests: u64| if requests == 0 { 0.0 } else { 100.0 * errors as f64 / requests as f64 };
        format!(
            "canary {} {} in {} requests ({:.2}%), baseline {} in {} ({:.2}%); evidence {:.1} against a threshold of {:.0} (confidence {}, max_increase {})",
            t.canary_errors,
            self.settings.label,
            t.canary_requests,
            rate(t.canary_errors, t.canary_requests),
            t.baseline_errors,
            t.baseline_requests,
            rate(t.baseline_errors, t.baseline_requests),
            j.evidence,
            j.threshold,
            self.settings.confidence,
            self.settings.max_increase
        )
    }

    fn finding(&self, reason: String) -> Finding {
        Finding { source: format!("canary analysis ({})", self.settings.label), reason, since: None }
    }
}

impl<M: GroupCounts, C: Clock> Gate for AnalysisGate<'_, M, C> {
    async fn check(&self) -> Result<Verdict, GateError> {
        let period = self.settings.period;
        // Periods that ended at least one period ago.
        let settled = align_down(self.clock.now() - period, period);
        let cursor = self.progress.lock().map_err(|_| GateError("analysis state poisoned".into()))?.cursor;
        let fresh = if settled > cursor { self.metrics.counts(cursor, settled, period).await? } else { Vec::new() };
        let judgement = {
            let mut progress = self.progress.lock().map_err(|_| GateError("analysis state poisoned".into()))?;
            for (start, counts) in fresh {
                if start >= progress.cursor && start < settled {
                    progress.judge.observe(counts);
                }
            }
            progress.cursor = progress.cursor.max(settled);
            (progress.judge.judgement(), progress.cursor > progress.started)
        };
        let (judgement, any_period_read) = judgement;
        let served = judgement.totals.canary_requests;
        Ok(if judgement.failed() {
            Verdict::Unhealthy(self.finding(format!("the canary is worse than the baseline: {}", self.numbers(&judgement))))
        } else if served == 0 && !any_period_read {
            match self.settings.on_missing_data {
                MissingData::Ignore => Verdict::Healthy,
                MissingData::Wait | MissingData::Fail => Verdict::Pending("waiting for the first metric period to settle".into()),
            }
        } else if served == 0 {
            match self.settings.on_missing_data {
                MissingData::Wait => Verdict::Pending("no request data for the canary yet".into()),
                MissingData::Fail => Verdict::Unhealthy(self.finding("no request data for the canary (on_missing_data = \"fail\")".into())),
                MissingData::Ignore => Verdict::Healthy,
            }
        } else if served < self.settings.min_requests {
            Verdict::Pending(format!("the canary has served {served} of the {} requests needed", self.settings.min_requests))
        } else {
            Verdict::Healthy
        })
    }

    fn summary(&self) -> Option<String> {
        let progress = self.progress.lock().ok()?;
        Some(self.numbers(&progress.judge.judgement()))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::engine::clock::SimClock;

    /// Counts per period start, as a metrics store would hold them.
    #[derive(Default)]
    struct FakeCounts {
        periods: RefCell<Vec<(OffsetDateTime, Counts)>>,
        asked: RefCell<Vec<(OffsetDateTime, OffsetDateTime)>>,
    }

    impl GroupCounts for &FakeCounts {
        async fn counts(&self, from: OffsetDateTime, to: OffsetDateTime, _: Duration) -> Result<Vec<(OffsetDateTime, Counts)>, GateError> {
            self.asked.borrow_mut().push((from, to));
            Ok(self.periods.borrow().iter().filter(|(t, _)| *t >= from && *t < to).copied().collect())
        }
    }

    fn settings(on_missing_data: MissingData) -> AnalysisSettings {
        AnalysisSettings { label: "5xx".into(), max_increase: 0.25, confidence: 0.99, min_requests: 200, period: Duration::from_secs(60), on_missing_data }
    }

    fn counts(canary_requests: u64, canary_errors: u64, baseline_requests: u64, baseline_errors: u64) -> Counts {
        Counts { canary_requests, canary_errors, baseline_requests, baseline_errors }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn missing_data_follows_the_setting() {
        let clock = SimClock::new();
        let store = FakeCounts::default();
        let wait = AnalysisGate::new(&store, &clock, settings(MissingData::Wait)).unwrap();
        let fail = AnalysisGate::new(&store, &clock, settings(MissingData::Fail)).unwrap();
        // Before any period has settled, data cannot be missing yet.
        assert!(matches!(fail.check().await, Ok(Verdict::Pending(r)) if r.contains("first metric period")));
        clock.advance(MINUTE * 2);
        assert!(matches!(wait.check().await, Ok(Verdict::Pending(r)) if r.contains("no request data")));
        assert!(matches!(fail.check().await, Ok(Verdict::Unhealthy(_))));
        let ignore = AnalysisGate::new(&store, &clock, settings(MissingData::Ignore)).unwrap();
        assert_eq!(ignore.check().await, Ok(Verdict::Healthy));
    }

    #[tokio::test]
    async fn each_settled_period_counts_once_and_min_requests_holds_the_step() {
        let clock = SimClock::new();
        let store = FakeCounts::default();
        let gate = AnalysisGate::new(&store, &clock, settings(MissingData::Wait)).unwrap();
        let start = clock.now();
        store.periods.borrow_mut().push((start, counts(150, 1, 1350, 13)));
        clock.advance(MINUTE);
        // The first period has ended but not settled: nothing read yet.
        assert!(matches!(gate.check().await, Ok(Verdict::Pending(_))));
        clock.advance(MINUTE);
        assert!(matches!(gate.check().await, Ok(Verdict::Pending(r)) if r.contains("150 of the 200")));
        store.periods.borrow_mut().push((start + MINUTE, counts(150, 1, 1350, 14)));
        clock.advance(MINUTE);
        assert_eq!(gate.check().await, Ok(Verdict::Healthy));
        // Looking again in the same period reads nothing new and counts nothing twice.
        assert_eq!(gate.check().await, Ok(Verdict::Healthy));
        assert!(gate.summary().unwrap().starts_with("canary 2 5xx in 300 requests"), "{}", gate.summary().unwrap());
        let asked = store.asked.borrow();
        assert!(asked.windows(2).all(|w| w[1].0 >= w[0].1), "windows never overlap: {asked:?}");
    }

    #[tokio::test]
    async fn a_worse_canary_fails_with_its_numbers() {
        let clock = SimClock::new();
        let store = FakeCounts::default();
        let gate = AnalysisGate::new(&store, &clock, settings(MissingData::Wait)).unwrap();
        let start = clock.now();
        for minute in 0..10 {
            store.periods.borrow_mut().push((start + MINUTE * minute, counts(100, 8, 900, 9)));
        }
        clock.advance(MINUTE * 11);
        let Ok(Verdict::Unhealthy(finding)) = gate.check().await else { panic!("expected a failure") };
        assert_eq!(finding.source, "canary analysis (5xx)");
        assert!(finding.reason.contains("canary 80 5xx in 1000 requests (8.00%), baseline 90 in 9000 (1.00%)"), "{}", finding.reason);
        assert!(finding.reason.contains("against a threshold of 100"));
    }
}
