//! Canary analysis as a gate: the canary's errors against the baseline's,
//! judged by [`SequentialJudge`] over the whole rollout.
//!
//! Counts come per metric period. Each period enters the judgement exactly
//! once (the judgement's guarantee needs it), and only once its data are
//! complete: it is first read one period after it ends, and judged when two
//! reads at least one period apart agree, so that a data point published late
//! is not taken for a zero. A period in which traffic moved is left out: its
//! sums mix two splits, and an incident in one part would land on the
//! wrong shares. Before the first period is judged, the baseline's errors
//! over the periods before the rollout decide how periods are weighed
//! ([`choose_form`]).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

use super::judge::{Counts, Form, JudgeError, JudgeSettings, Judgement, SequentialJudge, choose_form, periods_to_pass};
use super::{Clock, Finding, Gate, GateError, Verdict};

/// Periods before the rollout whose baseline errors decide the form.
pub const HISTORY_PERIODS: u32 = 30;

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
    /// A step passes once its data rule out a canary error rate this much
    /// above the baseline's.
    pub rule_out_increase: f64,
    pub confidence: f64,
    /// The canary must have served this many requests before a step passes.
    pub min_requests: u64,
    pub period: Duration,
    pub on_missing_data: MissingData,
    /// How periods are weighed; `None`: by the dispersion of the baseline's
    /// errors before the rollout.
    pub form: Option<Form>,
    /// How many steps the rollout will start.
    pub steps: usize,
}

/// How long a canary exactly as good as its baseline is expected to hold
/// its first step, at `percent` of `requests_per_second` erring at
/// `error_rate`, before the data rule out `rule_out_increase`: the periods
/// the evidence needs (counted with `dispersion`), plus the period the
/// shift spoils and the two before a period is judged. `None` if not
/// within a day.
pub fn expected_first_pass(
    settings: &AnalysisSettings,
    dispersion: f64,
    percent: f64,
    requests_per_second: f64,
    error_rate: f64,
) -> Option<Duration> {
    let period = settings.period;
    let per_period = requests_per_second * period.as_secs_f64();
    let share = percent / 100.0;
    let judge = JudgeSettings {
        max_increase: settings.max_increase,
        rule_out_increase: settings.rule_out_increase,
        confidence: settings.confidence,
        form: Form::Counting { dispersion },
        steps: 1,
    };
    let day = (86_400 / period.as_secs().max(1)) as usize;
    let periods = periods_to_pass(&judge, per_period * share, per_period * (1.0 - share), error_rate, day)?;
    Some(period * (periods as u32 + 3))
}

/// Where per-period counts of both groups come from (CloudWatch in production).
#[allow(async_fn_in_trait)]
pub trait GroupCounts {
    /// Counts of the periods that start in `[from, to)`, keyed by period
    /// start. Periods without any data may be left out.
    async fn counts(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        period: Duration,
    ) -> Result<Vec<(OffsetDateTime, Counts)>, GateError>;
}

struct Progress {
    judge: SequentialJudge,
    form_known: bool,
    /// When the gate was made: the periods before it are the history.
    created: OffsetDateTime,
    /// Start of the first period not judged yet.
    cursor: OffsetDateTime,
    /// Periods read but not judged yet: their counts as last read, and
    /// since when they have read so.
    unsettled: BTreeMap<OffsetDateTime, (Counts, OffsetDateTime)>,
    /// When traffic moved; periods overlapping these are left out.
    moves: Vec<Range<OffsetDateTime>>,
    /// Where each step's data begins, and the target's share in it.
    steps: Vec<(OffsetDateTime, f64)>,
    /// Periods of the current step judged so far.
    step_periods: u32,
}

impl Progress {
    /// Judges the period starting at `start`, unless traffic moved in it
    /// or it precedes the first step.
    fn settle(&mut self, start: OffsetDateTime, period: Duration, counts: Counts) {
        let end = start + period;
        if self.moves.iter().any(|m| m.start < end && start < m.end) {
            return;
        }
        let Some(step) = self.steps.iter().rposition(|(from, _)| *from <= start) else { return };
        self.judge.observe(counts, step);
        if step + 1 == self.steps.len() {
            self.step_periods += 1;
        }
    }
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

fn rate(errors: u64, requests: u64) -> f64 {
    if requests == 0 { 0.0 } else { 100.0 * errors as f64 / requests as f64 }
}

impl<'c, M: GroupCounts, C: Clock> AnalysisGate<'c, M, C> {
    /// Starts judging from the current period on.
    pub fn new(metrics: M, clock: &'c C, settings: AnalysisSettings) -> Result<Self, JudgeError> {
        let judge = SequentialJudge::new(JudgeSettings {
            max_increase: settings.max_increase,
            rule_out_increase: settings.rule_out_increase,
            confidence: settings.confidence,
            form: settings.form.unwrap_or(Form::Periods),
            steps: settings.steps,
        })?;
        let now = clock.now();
        let cursor = align_down(now, settings.period);
        let progress = Progress {
            judge,
            form_known: settings.form.is_some(),
            created: now,
            cursor,
            unsettled: BTreeMap::new(),
            moves: Vec::new(),
            steps: Vec::new(),
            step_periods: 0,
        };
        Ok(AnalysisGate { metrics, clock, settings, progress: Mutex::new(progress) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Progress>, GateError> {
        self.progress.lock().map_err(|_| GateError("analysis state poisoned".into()))
    }

    fn numbers(&self, j: &Judgement) -> String {
        let t = j.totals;
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

    /// Reads the baseline's periods before the rollout and decides the form.
    async fn choose_form(&self, created: OffsetDateTime) -> Result<(), GateError> {
        let period = self.settings.period;
        let to = align_down(created, period);
        let history = self.metrics.counts(to - period * HISTORY_PERIODS, to, period).await?;
        let form = choose_form(&history.into_iter().map(|(_, c)| c).collect::<Vec<_>>());
        let mut progress = self.lock()?;
        progress.judge.set_form(form);
        progress.form_known = true;
        Ok(())
    }

    /// Reads the periods due and judges those whose data are complete.
    async fn read(&self) -> Result<(), GateError> {
        let period = self.settings.period;
        let now = self.clock.now();
        // Periods that ended at least one period ago.
        let readable = align_down(now - period, period);
        let cursor = self.lock()?.cursor;
        if readable <= cursor {
            return Ok(());
        }
        let fresh: BTreeMap<OffsetDateTime, Counts> =
            self.metrics.counts(cursor, readable, period).await?.into_iter().collect();
        let mut progress = self.lock()?;
        let mut start = progress.cursor;
        while start < readable {
            let counts = fresh.get(&start).copied().unwrap_or_default();
            match progress.unsettled.get(&start) {
                Some((seen, since)) if *seen == counts => {
                    if now - *since >= period {
                        progress.unsettled.remove(&start);
                        progress.settle(start, period, counts);
                    }
                }
                _ => {
                    progress.unsettled.insert(start, (counts, now));
                }
            }
            start += period;
        }
        progress.cursor = progress.unsettled.keys().next().copied().unwrap_or(readable);
        Ok(())
    }

    fn verdict(&self, progress: &Progress) -> Verdict {
        let judgement = progress.judge.judgement();
        if judgement.failed() {
            return Verdict::Unhealthy(
                self.finding(format!("the canary is worse than the baseline: {}", self.numbers(&judgement))),
            );
        }
        // At 100% there is no baseline left to compare with.
        if progress.steps.last().is_some_and(|(_, percent)| *percent >= 100.0) {
            return Verdict::Healthy;
        }
        let served = judgement.totals.canary_requests;
        if served == 0 {
            return match (self.settings.on_missing_data, progress.step_periods) {
                (MissingData::Ignore, _) => Verdict::Healthy,
                (_, 0) => Verdict::Pending("waiting for the first metric period to settle".into()),
                (MissingData::Wait, _) => Verdict::Pending("no request data for the canary yet".into()),
                (MissingData::Fail, _) => Verdict::Unhealthy(
                    self.finding("no request data for the canary (on_missing_data = \"fail\")".into()),
                ),
            };
        }
        if !judgement.ruled_out() {
            return Verdict::Pending(format!(
                "not yet enough evidence to rule out {:.2} times the baseline's error rate (evidence {:.1} of {:.0}; canary {} {} in {} requests, baseline {} in {})",
                1.0 + self.settings.rule_out_increase,
                judgement.pass_evidence,
                judgement.threshold,
                judgement.totals.canary_errors,
                self.settings.label,
                judgement.totals.canary_requests,
                judgement.totals.baseline_errors,
                judgement.totals.baseline_requests
            ));
        }
        if served < self.settings.min_requests {
            return Verdict::Pending(format!(
                "the canary has served {served} of the {} requests needed",
                self.settings.min_requests
            ));
        }
        Verdict::Healthy
    }
}

impl<M: GroupCounts, C: Clock> Gate for AnalysisGate<'_, M, C> {
    async fn check(&self) -> Result<Verdict, GateError> {
        let (form_known, created) = {
            let progress = self.lock()?;
            (progress.form_known, progress.created)
        };
        if !form_known {
            self.choose_form(created).await?;
        }
        self.read().await?;
        let progress = self.lock()?;
        Ok(self.verdict(&progress))
    }

    fn summary(&self) -> Option<String> {
        let progress = self.progress.lock().ok()?;
        let judgement = progress.judge.judgement();
        let t = judgement.totals;
        let ratio = rate(t.canary_errors, t.canary_requests) / rate(t.baseline_errors, t.baseline_requests);
        Some(format!(
            "{}; error-rate ratio {}, anytime-valid interval {} (each end at confidence {}); {}",
            self.numbers(&judgement),
            if ratio.is_finite() { format!("{ratio:.2}") } else { "unknown".into() },
            progress.judge.interval(),
            self.settings.confidence,
            progress.judge.form().describe()
        ))
    }

    fn begin_step(&self, moved: Range<OffsetDateTime>, percent: f64) {
        let Ok(mut progress) = self.progress.lock() else { return };
        if moved.start < moved.end {
            progress.moves.push(moved.clone());
        }
        progress.steps.push((moved.end, percent));
        progress.step_periods = 0;
        progress.judge.begin_step();
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
        periods: RefCell<BTreeMap<OffsetDateTime, Counts>>,
        asked: RefCell<Vec<(OffsetDateTime, OffsetDateTime)>>,
    }

    impl FakeCounts {
        fn put(&self, start: OffsetDateTime, counts: Counts) {
            self.periods.borrow_mut().insert(start, counts);
        }
    }

    impl GroupCounts for &FakeCounts {
        async fn counts(
            &self,
            from: OffsetDateTime,
            to: OffsetDateTime,
            _: Duration,
        ) -> Result<Vec<(OffsetDateTime, Counts)>, GateError> {
            self.asked.borrow_mut().push((from, to));
            Ok(self.periods.borrow().range(from..to).map(|(t, c)| (*t, *c)).collect())
        }
    }

    fn settings(on_missing_data: MissingData) -> AnalysisSettings {
        AnalysisSettings {
            label: "5xx".into(),
            max_increase: 0.25,
            rule_out_increase: 1.0,
            confidence: 0.99,
            min_requests: 200,
            period: MINUTE,
            on_missing_data,
            form: Some(Form::Counting { dispersion: 1.0 }),
            steps: 2,
        }
    }

    fn counts(canary_requests: u64, canary_errors: u64, baseline_requests: u64, baseline_errors: u64) -> Counts {
        Counts { canary_requests, canary_errors, baseline_requests, baseline_errors }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    /// A gate whose first step begins at once (nothing moved).
    fn started<'c>(
        store: &'c FakeCounts,
        clock: &'c SimClock,
        settings: AnalysisSettings,
    ) -> AnalysisGate<'c, &'c FakeCounts, SimClock> {
        let gate = AnalysisGate::new(store, clock, settings).unwrap();
        gate.begin_step(clock.now()..clock.now(), 10.0);
        gate
    }

    #[tokio::test]
    async fn missing_data_follows_the_setting() {
        let clock = SimClock::new();
        let store = FakeCounts::default();
        let wait = started(&store, &clock, settings(MissingData::Wait));
        let fail = started(&store, &clock, settings(MissingData::Fail));
        // Before any period has settled, data cannot be missing yet.
        assert!(matches!(fail.check().await, Ok(Verdict::Pending(r)) if r.contains("first metric period")));
        clock.advance(MINUTE * 3);
        for gate in [&wait, &fail] {
            gate.check().await.unwrap();
        }
        clock.advance(MINUTE);
        assert!(matches!(wait.check().await, Ok(Verdict::Pending(r)) if r.contains("no request data")));
        assert!(matches!(fail.check().await, Ok(Verdict::Unhealthy(_))));
        let ignore = started(&store, &clock, settings(MissingData::Ignore));
        assert_eq!(ignore.check().await, Ok(Verdict::Healthy));
    }

    #[tokio::test]
    async fn a_period_is_judged_once_two_reads_a_period_apart_agree() {
        let clock = SimClock::new();
        let store = FakeCounts::default();
        let gate = started(&store, &clock, settings(MissingData::Wait));
        let start = clock.now();
        // The canary's requests are in, the baseline's errors not yet.
        store.put(start, counts(300, 3, 2700, 0));
        clock.advance(MINUTE * 2);
        gate.check().await.unwrap();
        // The late point arrives before the second read: the period is read
        // again, not judged as a 100% canary share of errors.
        store.put(start, counts(300, 3, 2700, 27));
        clock.advance(MINUTE);
        gate.check().await.unwrap();
        assert_eq!(
            gate.lock().unwrap().judge.judgement().totals,
            Counts::default(),
            "the reads disagreed: not judged yet"
        );
        clock.advance(MINUTE);
        gate.check().await.unwrap();
        assert_eq!(gate.lock().unwrap().judge.judgement().totals, counts(300, 3, 2700, 27));
        // Looking again reads nothing twice, and windows never overlap a judged period.
        clock.advance(MINUTE);
        gate.check().await.unwrap();
        assert_eq!(gate.lock().unwrap().judge.judgement().totals.canary_requests, 300, "{:?}", store.asked.borrow());
        assert!(store.asked.borrow().iter().all(|(from, _)| *from >= start), "{:?}", store.asked.borrow());
    }

    #[tokio::test]
    async fn a_period_in_which_traffic_moved_is_left_out() {
        let clock = SimClock::new();
        let store = FakeCounts::default();
        let gate = AnalysisGate::new(&store, &clock, settings(MissingData::Wait)).unwrap();
        let start = clock.now();
        // The shift takes 5 s, 20 s into the first period.
        let moved = start + Duration::from_secs(20)..start + Duration::from_secs(25);
        clock.advance(Duration::from_secs(25));
        gate.begin_step(moved, 10.0);
        for minute in 0..2 {
            store.put(start + MINUTE * minute, counts(300, 9, 2700, 27));
        }
        clock.advance(MINUTE * 4);
        gate.check().await.unwrap();
        clock.advance(MINUTE);
        gate.check().await.unwrap();
        assert_eq!(
            gate.lock().unwrap().judge.judgement().totals,
            counts(300, 9, 2700, 27),
            "only the second period counts"
        );
    }

    #[tokio::test]
    async fn a_worse_canary_fails_with_its_numbers() {
        let clock = SimClock::new();
        let store = FakeCounts::default();
        let gate = started(&store, &clock, settings(MissingData::Wait));
        let start = clock.now();
        for minute in 0..10 {
            store.put(start + MINUTE * minute, counts(100, 8, 900, 9));
        }
        clock.advance(MINUTE * 11);
        gate.check().await.unwrap();
        clock.advance(MINUTE);
        let Ok(Verdict::Unhealthy(finding)) = gate.check().await else { panic!("expected a failure") };
        assert_eq!(finding.source, "canary analysis (5xx)");
        assert!(
            finding.reason.contains("canary 80 5xx in 1000 requests (8.00%), baseline 90 in 9000 (1.00%)"),
            "{}",
            finding.reason
        );
        assert!(finding.reason.contains("against a threshold of 100"));
    }

    #[tokio::test]
    async fn a_step_passes_on_evidence() {
        let clock = SimClock::new();
        let store = FakeCounts::default();
        let gate = started(&store, &clock, settings(MissingData::Wait));
        let start = clock.now();
        // A canary as good as the baseline: 10% of traffic, 1% errors.
        for minute in 0..60 {
            store.put(start + MINUTE * minute, counts(300, 3, 2700, 27));
        }
        clock.advance(MINUTE * 2);
        gate.check().await.unwrap();
        clock.advance(MINUTE);
        assert!(matches!(gate.check().await, Ok(Verdict::Pending(r)) if r.contains("rule out 2.00 times")));
        let mut minutes = 3;
        while gate.check().await != Ok(Verdict::Healthy) {
            clock.advance(MINUTE);
            minutes += 1;
            assert!(minutes < 60, "the evidence must come: {:?}", gate.check().await);
        }
        let summary = gate.summary().unwrap();
        assert!(summary.contains("error-rate ratio 1.00, anytime-valid interval ["), "{summary}");
    }

    #[tokio::test]
    async fn the_form_is_chosen_from_the_baselines_history() {
        let clock = SimClock::new();
        clock.advance(MINUTE * 40);
        let store = FakeCounts::default();
        let now = clock.now();
        for minute in 1..=30 {
            let errors = if minute % 3 == 0 { 80 } else { 5 };
            store.put(now - MINUTE * minute, counts(0, 0, 3000, errors));
        }
        let gate = started(&store, &clock, AnalysisSettings { form: None, ..settings(MissingData::Wait) });
        gate.check().await.unwrap();
        assert_eq!(gate.lock().unwrap().judge.form(), Form::Periods, "bursty errors before the rollout");
    }
}
