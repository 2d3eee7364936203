//! Canary-vs-baseline judgement that stays valid however often it looks.
//!
//! The question: how many times the baseline's error rate is the canary's?
//! Both serve at the same time, so both see the same load, time of day and
//! downstream trouble; only the version differs. `design/analysis.md` has the
//! method in full and the simulations that check it; in short:
//!
//! * **What one period says.** Given a period's request counts `n_c`, `n_b`
//!   and its `E` errors, an error lands on the canary with probability
//!   `q(r) = n_c·r / (n_c·r + n_b)`, where `r` is the ratio of the canary's
//!   error rate to the baseline's. The baseline's own rate, shared incidents
//!   and the traffic split all drop out. The null hypotheses below only
//!   constrain this conditional mean, period by period.
//! * **Two ways to weigh a period** ([`Form`]). *Counting*: each error is an
//!   independent draw, so the period's likelihood ratio is binomial (divided
//!   by a measured dispersion, when errors vary more than that). *Periods*:
//!   only the period's share of errors `Y = e_c / E` counts, through a bet
//!   `1 + λ·(Y - q)` linear in it, which has mean at most 1 under the null
//!   however the errors cluster inside the period (bursts, retries, a bad
//!   host): the robust form, for data that are not Poisson.
//! * **Failing** (the canary is worse than tolerated): the null is `r ≤ m`,
//!   `m = 1 + max_increase`. For each alternative on a grid above `m`, the
//!   product of per-period factors is a nonnegative supermartingale under the
//!   null; their average is an e-process. A copy of it restarts at every step,
//!   and the weighted average of the copies is still one, so a regression that
//!   begins late is not buried under the good periods before it. Ville's
//!   inequality: under the null, it ever reaches `1/α` with probability at
//!   most `α = 1 - confidence`, however often it is looked at.
//! * **Passing** (the data rule out a regression to `b = 1 + rule_out_increase`):
//!   the mirror image, with the null `r ≥ b` and alternatives below `b`,
//!   over all periods so far, in the counting form with the counts divided
//!   by the dispersion the rollout's own periods show (their canary shares
//!   against the binomial spread; at least 1, and the history's when that is
//!   larger): a quasi-likelihood, valid only approximately, because a
//!   period-level bet that never loses more than it may cannot prove a small
//!   share small in useful time. A step passes only while it is at `1/α` or
//!   more, and not before [`DISPERSION_MIN_PERIODS_NOW`] periods with errors
//!   have shown the dispersion; so a canary at least `b` times worse passes a
//!   step with probability about `α` at most. (A regression that begins later
//!   is the restarted regression evidence's to catch.)
//! * **Interval.** The ratios neither test can reject form an anytime-valid
//!   interval (each end at level `α`).

/// Alternatives, as multiples of the hypothesis' ratio (above it when
/// testing for a regression, divided into it when ruling one out): dense
/// near the hypothesis, where evidence accumulates slowly, and spread out
/// towards gross differences, settled in a few errors.
const ALTERNATIVES: [f64; 12] = [1.05, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0];
/// Their weights in the mixture (summing to 1): most between 1.5 and 3
/// times, the regressions a release should catch within minutes, where the
/// mixture then costs least against a test that knew the ratio; enough
/// elsewhere that subtle and gross ones are still caught.
const WEIGHTS: [f64; 12] = [0.03, 0.04, 0.06, 0.08, 0.12, 0.14, 0.14, 0.12, 0.10, 0.07, 0.05, 0.05];

/// The most a period bet of the robust form may lose of its stake, so that
/// one adverse period never wipes an alternative out.
const MAX_LOSS: f64 = 0.9;

/// Bisection steps for an interval's ends, on the log of the ratio.
const INTERVAL_ITERATIONS: usize = 40;
/// Ratios searched for an interval's ends; beyond them an end is open.
const RATIO_RANGE: (f64, f64) = (1e-3, 1e3);

/// Requests and errors of both groups over one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub canary_requests: u64,
    pub canary_errors: u64,
    pub baseline_requests: u64,
    pub baseline_errors: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.canary_requests += o.canary_requests;
        self.canary_errors += o.canary_errors;
        self.baseline_requests += o.baseline_requests;
        self.baseline_errors += o.baseline_errors;
    }
}

impl Counts {
    /// The log of the factor by which this period multiplies the evidence
    /// for `alternative` against `null` (ratios of the canary's error rate to
    /// the baseline's). Periods without errors, or without traffic on
    /// either side, say nothing about the ratio.
    fn log_factor(&self, form: Form, null: f64, alternative: f64) -> f64 {
        let (nc, nb) = (self.canary_requests as f64, self.baseline_requests as f64);
        log_factor([nc, self.canary_errors as f64, nb, self.baseline_errors as f64], form, null, alternative)
    }
}

/// [`Counts::log_factor`] of counts that may be fractional (expected
/// counts, for forecasts): canary requests and errors, baseline requests
/// and errors.
fn log_factor([nc, ec, nb, eb]: [f64; 4], form: Form, null: f64, alternative: f64) -> f64 {
    let errors = ec + eb;
    if nc == 0.0 || nb == 0.0 || errors == 0.0 {
        return 0.0;
    }
    let share = |ratio: f64| nc * ratio / (nc * ratio + nb);
    let (q0, q1) = (share(null), share(alternative));
    match form {
        Form::Counting { dispersion } => (ec * (q1 / q0).ln() + eb * ((1.0 - q1) / (1.0 - q0)).ln()) / dispersion,
        Form::Periods => {
            // The stake that would grow fastest were the errors
            // independent and `alternative` the truth (to second order),
            // capped so that the worst share loses at most MAX_LOSS.
            let gap = q1 - q0;
            let stake = gap.abs() / (q1 * (1.0 - q1) / errors + gap * gap);
            let cap = MAX_LOSS / if gap > 0.0 { q0 } else { 1.0 - q0 };
            (1.0 + stake.min(cap) * gap.signum() * (ec / errors - q0)).ln()
        }
    }
}

/// How many periods at a fixed split a canary exactly as good as its
/// baseline typically needs before the data rule out `rule_out_increase`
/// (the evidence for passing of the expected counts: `canary_requests` and
/// `baseline_requests` per period, both erring at `error_rate`); `None` if
/// not within `limit` periods.
pub fn periods_to_pass(
    settings: &JudgeSettings,
    canary_requests: f64,
    baseline_requests: f64,
    error_rate: f64,
    limit: usize,
) -> Option<usize> {
    let form = Form::Counting { dispersion: settings.form.dispersion() };
    let expected = [canary_requests, canary_requests * error_rate, baseline_requests, baseline_requests * error_rate];
    let bound = 1.0 + settings.rule_out_increase;
    let per_period: Vec<f64> =
        ALTERNATIVES.iter().map(|m| log_factor(expected, form, bound, Side::Better.alternative(bound, *m))).collect();
    let threshold = -(1.0 - settings.confidence).ln();
    // The mixture after n periods is the log-mean-exp of n times each,
    // divided by the upper bound the judge puts on the dispersion when
    // Pearson's statistic has its expected value.
    (DISPERSION_MIN_PERIODS_NOW..=limit).find(|n| {
        let freedom = (*n - 1) as f64;
        let bound = freedom / chi_square_quantile(freedom, PASS_DISPERSION_Z);
        log_mixture(per_period.iter().map(|l| l * *n as f64 / bound)) >= threshold
    })
}

/// How a period's errors are weighed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Form {
    /// Every error an independent draw: the binomial likelihood ratio, with
    /// the counts divided by `dispersion` (at least 1), the measured
    /// variance of the error counts over their Poisson variance.
    Counting { dispersion: f64 },
    /// Only each period's share of errors, through bets linear in it: valid
    /// however errors cluster within a period.
    Periods,
}

impl Form {
    /// What the counts are divided by when counted (1 for the robust form,
    /// which passing counts at face value).
    pub fn dispersion(&self) -> f64 {
        match self {
            Form::Counting { dispersion } => *dispersion,
            Form::Periods => 1.0,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Form::Counting { dispersion } if *dispersion > 1.0 => {
                format!("errors counted one by one, weighed down by a dispersion of {dispersion:.2}")
            }
            Form::Counting { .. } => "errors counted one by one".into(),
            Form::Periods => "each period judged as a whole".into(),
        }
    }
}

/// Errors before the rollout that are too few to tell clustered errors from
/// independent ones: the robust form is used then.
const DISPERSION_MIN_ERRORS: u64 = 20;
/// Periods before the rollout needed to measure the dispersion.
pub const DISPERSION_MIN_PERIODS: usize = 10;
/// Periods with errors during the rollout needed before a step can pass.
pub const DISPERSION_MIN_PERIODS_NOW: usize = 5;
/// The dispersion that weighs the evidence for passing is an upper bound,
/// Pearson's statistic over this lower normal quantile's chi-square
/// quantile (a 75% bound), so that a few periods that happen to look calm
/// do not make passing overconfident.
const PASS_DISPERSION_Z: f64 = -0.674;
/// One-sided standard normal quantile of the overdispersion test (1%).
const DISPERSION_Z: f64 = 2.326;

/// Chooses how to weigh periods from the baseline's counts before the
/// rollout (its requests and errors per period; the canary's are ignored).
/// Errors whose counts vary more than Poisson counts would (by a chi-square
/// test at 1%) are judged per period; so are too few of them to tell.
/// Otherwise errors are counted one by one, divided by the measured
/// dispersion when it is above 1.
pub fn choose_form(history: &[Counts]) -> Form {
    let Some((pearson, freedom)) = pearson(history) else { return Form::Periods };
    if pearson > chi_square_quantile(freedom, DISPERSION_Z) {
        Form::Periods
    } else {
        Form::Counting { dispersion: (pearson / freedom).max(1.0) }
    }
}

/// The chi-square quantile with `freedom` degrees of freedom at the normal
/// quantile `z` (Wilson–Hilferty; within 1% from 3 degrees of freedom).
fn chi_square_quantile(freedom: f64, z: f64) -> f64 {
    let h = 2.0 / (9.0 * freedom);
    freedom * (1.0 - h + z * h.sqrt()).powi(3)
}

/// The variance of the baseline's error counts per period over their
/// Poisson variance (at least 1), when the history is long enough to tell.
pub fn dispersion(history: &[Counts]) -> Option<f64> {
    pearson(history).map(|(pearson, freedom)| (pearson / freedom).max(1.0))
}

/// Pearson's statistic of the baseline's errors per period against a
/// constant error rate, and its degrees of freedom; `None` with fewer than
/// [`DISPERSION_MIN_PERIODS`] periods or [`DISPERSION_MIN_ERRORS`] errors.
fn pearson(history: &[Counts]) -> Option<(f64, f64)> {
    let periods: Vec<(f64, f64)> = history
        .iter()
        .filter(|c| c.baseline_requests > 0)
        .map(|c| (c.baseline_requests as f64, c.baseline_errors as f64))
        .collect();
    let errors: f64 = periods.iter().map(|p| p.1).sum();
    if periods.len() < DISPERSION_MIN_PERIODS || errors < DISPERSION_MIN_ERRORS as f64 {
        return None;
    }
    let rate = errors / periods.iter().map(|p| p.0).sum::<f64>();
    let pearson = periods.iter().map(|(n, e)| (e - rate * n).powi(2) / (rate * n)).sum();
    Some((pearson, (periods.len() - 1) as f64))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JudgeError {
    #[error("max_increase must be at least 0")]
    NegativeIncrease,
    #[error("rule_out_increase must be greater than max_increase")]
    RuleOut,
    #[error("confidence must be between 0.5 and 1 (exclusive)")]
    Confidence,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JudgeSettings {
    pub max_increase: f64,
    pub rule_out_increase: f64,
    pub confidence: f64,
    pub form: Form,
    /// How many steps the rollout starts (at least 1): the evidence of a
    /// regression restarts at each, with half the weight on the first.
    pub steps: usize,
}

/// An e-process: the [`WEIGHTS`] mixture over [`ALTERNATIVES`] of
/// per-alternative likelihood ratios (or bets), kept as logs.
#[derive(Debug, Clone, PartialEq)]
struct Evidence {
    log: [f64; ALTERNATIVES.len()],
}

/// Which side of the hypothesis the alternatives lie on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// A regression: alternatives above the hypothesis.
    Worse,
    /// Ruling one out: alternatives below it.
    Better,
}

impl Side {
    fn alternative(self, null: f64, multiple: f64) -> f64 {
        match self {
            Side::Worse => null * multiple,
            Side::Better => null / multiple,
        }
    }
}

impl Evidence {
    fn new() -> Evidence {
        Evidence { log: [0.0; ALTERNATIVES.len()] }
    }

    fn observe(&mut self, counts: &Counts, form: Form, null: f64, side: Side) {
        for (log, multiple) in self.log.iter_mut().zip(ALTERNATIVES) {
            *log += counts.log_factor(form, null, side.alternative(null, multiple));
        }
    }

    /// The log of the mixture (log-sum-exp, so strong evidence does not overflow).
    fn log_value(&self) -> f64 {
        log_mixture(self.log.iter().copied())
    }

    fn over(periods: &[Counts], form: Form, null: f64, side: Side) -> f64 {
        let mut evidence = Evidence::new();
        for counts in periods {
            evidence.observe(counts, form, null, side);
        }
        evidence.log_value()
    }
}

/// The log of `Σ weight·exp(log) / Σ weight` over `(weight, log)` pairs
/// (weights meant to sum to 1; dividing keeps rounding from lifting the
/// mixture above 1 where every log is 0), without overflow however strong
/// the evidence.
fn log_weighted_sum(terms: impl Iterator<Item = (f64, f64)> + Clone) -> f64 {
    let max = terms.clone().map(|(_, l)| l).fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = terms.clone().map(|(w, _)| w).sum();
    max + (terms.map(|(w, l)| w * (l - max).exp()).sum::<f64>() / total).ln()
}

/// The log of the [`WEIGHTS`] mixture of per-alternative log values.
fn log_mixture(logs: impl Iterator<Item = f64> + Clone) -> f64 {
    log_weighted_sum(WEIGHTS.into_iter().zip(logs))
}

/// An anytime-valid interval for the ratio of the canary's error rate to
/// the baseline's; `0` and infinity stand for open ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = |x: f64| if x.is_infinite() { "∞".to_owned() } else { format!("{x:.2}") };
        write!(f, "[{}, {}]", end(self.low), end(self.high))
    }
}

/// The evidence so far and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The e-process for a regression beyond `max_increase`; the canary
    /// fails at `threshold`.
    pub evidence: f64,
    /// The e-process against a regression to `rule_out_increase`; a step
    /// may pass at `threshold`.
    pub pass_evidence: f64,
    pub threshold: f64,
    /// Everything observed so far.
    pub totals: Counts,
}

impl Judgement {
    pub fn failed(&self) -> bool {
        self.evidence >= self.threshold
    }

    /// The data rule out a regression to the bound.
    pub fn ruled_out(&self) -> bool {
        self.pass_evidence >= self.threshold
    }
}

/// One canary's running test.
#[derive(Debug, Clone)]
pub struct SequentialJudge {
    settings: JudgeSettings,
    tolerance: f64,
    bound: f64,
    log_threshold: f64,
    /// Evidence of a regression, one process per step started so far.
    worse: Vec<Evidence>,
    /// Evidence against a regression to the bound, as binomial likelihood
    /// ratios not yet divided by the dispersion.
    better: Evidence,
    periods: Vec<Counts>,
    steps_begun: usize,
    totals: Counts,
}

impl SequentialJudge {
    pub fn new(settings: JudgeSettings) -> Result<SequentialJudge, JudgeError> {
        let JudgeSettings { max_increase, rule_out_increase, confidence, .. } = settings;
        if !max_increase.is_finite() || max_increase < 0.0 {
            return Err(JudgeError::NegativeIncrease);
        }
        if !rule_out_increase.is_finite() || rule_out_increase <= max_increase {
            return Err(JudgeError::RuleOut);
        }
        if !(0.5 < confidence && confidence < 1.0) {
            return Err(JudgeError::Confidence);
        }
        Ok(SequentialJudge {
            settings: JudgeSettings { steps: settings.steps.max(1), ..settings },
            tolerance: 1.0 + max_increase,
            bound: 1.0 + rule_out_increase,
            log_threshold: -(1.0 - confidence).ln(),
            worse: Vec::new(),
            better: Evidence::new(),
            periods: Vec::new(),
            steps_begun: 0,
            totals: Counts::default(),
        })
    }

    pub fn form(&self) -> Form {
        self.settings.form
    }

    /// Sets how periods are weighed from now on (after a dispersion check).
    pub fn set_form(&mut self, form: Form) {
        self.settings.form = form;
    }

    /// A step starts: evidence of a regression starts afresh beside the
    /// evidence so far. Steps past the planned number add nothing new.
    pub fn begin_step(&mut self) {
        self.steps_begun += 1;
        if self.worse.len() < self.settings.steps {
            self.worse.push(Evidence::new());
        }
    }

    /// Adds one period's counts, from the step with index `step` (0-based,
    /// in the order the steps began): periods read late may belong to an
    /// earlier step than the current one, and count only for the evidence
    /// that had begun by then.
    pub fn observe(&mut self, counts: Counts, step: usize) {
        self.totals += counts;
        let form = self.settings.form;
        for evidence in self.worse.iter_mut().take(step + 1) {
            evidence.observe(&counts, form, self.tolerance, Side::Worse);
        }
        self.better.observe(&counts, Form::Counting { dispersion: 1.0 }, self.bound, Side::Better);
        self.periods.push(counts);
    }

    /// The weight of the process started at step `index` (0-based): half on
    /// the first, the rest shared by the later ones; a process not started
    /// yet counts at its starting value, 1.
    fn weight(&self, index: usize) -> f64 {
        match (self.settings.steps, index) {
            (1, _) => 1.0,
            (_, 0) => 0.5,
            (steps, _) => 0.5 / (steps - 1) as f64,
        }
    }

    fn log_evidence(&self) -> f64 {
        let started = self.worse.iter().enumerate().map(|(i, e)| (self.weight(i), e.log_value()));
        let waiting = (self.worse.len()..self.settings.steps).map(|i| (self.weight(i), 0.0));
        log_weighted_sum(started.chain(waiting))
    }

    pub fn judgement(&self) -> Judgement {
        Judgement {
            evidence: self.log_evidence().exp(),
            pass_evidence: match self.pass_dispersion() {
                Some(dispersion) => log_mixture(self.better.log.iter().map(|l| l / dispersion)).exp(),
                None => 0.0,
            },
            threshold: self.log_threshold.exp(),
            totals: self.totals,
        }
    }

    /// The dispersion the evidence for passing is divided by: an upper
    /// bound ([`PASS_DISPERSION_Z`]) from Pearson's statistic of the
    /// periods' canary errors against their binomial expectation at the
    /// pooled ratio; at least 1 and the dispersion the history showed.
    /// `None` until enough periods with errors on both sides' traffic have
    /// been seen.
    fn pass_dispersion(&self) -> Option<f64> {
        let informative: Vec<&Counts> = self
            .periods
            .iter()
            .filter(|c| c.canary_requests > 0 && c.baseline_requests > 0 && c.canary_errors + c.baseline_errors > 0)
            .collect();
        if informative.len() < DISPERSION_MIN_PERIODS_NOW {
            return None;
        }
        let t = &self.totals;
        // Half an error on each side keeps the pooled ratio finite and nonzero.
        let ratio = ((t.canary_errors as f64 + 0.5) / t.canary_requests.max(1) as f64)
            / ((t.baseline_errors as f64 + 0.5) / t.baseline_requests.max(1) as f64);
        let pearson: f64 = informative
            .iter()
            .map(|c| {
                let (nc, nb) = (c.canary_requests as f64, c.baseline_requests as f64);
                let errors = (c.canary_errors + c.baseline_errors) as f64;
                let q = nc * ratio / (nc * ratio + nb);
                (c.canary_errors as f64 - errors * q).powi(2) / (errors * q * (1.0 - q))
            })
            .sum();
        let upper = pearson / chi_square_quantile((informative.len() - 1) as f64, PASS_DISPERSION_Z);
        Some(upper.max(self.settings.form.dispersion()).max(1.0))
    }

    /// The ratios of the canary's error rate to the baseline's that the
    /// periods so far do not reject, each end at level `α` (the upper end
    /// as passing weighs it; open until passing could be judged).
    pub fn interval(&self) -> Interval {
        let rejects = |ratio: f64, side: Side| {
            let form = match side {
                Side::Worse => self.settings.form,
                Side::Better => match self.pass_dispersion() {
                    Some(dispersion) => Form::Counting { dispersion },
                    None => return false,
                },
            };
            Evidence::over(&self.periods, form, ratio, side) >= self.log_threshold
        };
        // Evidence against a ratio as "too low" falls as the ratio grows;
        // evidence against it as "too high" rises.
        Interval { low: boundary(|r| !rejects(r, Side::Worse)), high: boundary(|r| rejects(r, Side::Better)) }
    }
}

/// The ratio where `past` (false below, true above) turns, by bisection on
/// its log over [`RATIO_RANGE`]: 0 when it is true throughout, infinity
/// when it never turns.
fn boundary(past: impl Fn(f64) -> bool) -> f64 {
    let (mut low, mut high) = (RATIO_RANGE.0.ln(), RATIO_RANGE.1.ln());
    if past(low.exp()) {
        return 0.0;
    }
    if !past(high.exp()) {
        return f64::INFINITY;
    }
    for _ in 0..INTERVAL_ITERATIONS {
        let middle = (low + high) / 2.0;
        if past(middle.exp()) { high = middle } else { low = middle }
    }
    ((low + high) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(canary_requests: u64, canary_errors: u64, baseline_requests: u64, baseline_errors: u64) -> Counts {
        Counts { canary_requests, canary_errors, baseline_requests, baseline_errors }
    }

    fn judge(max_increase: f64, form: Form, steps: usize) -> SequentialJudge {
        let mut judge =
            SequentialJudge::new(JudgeSettings { max_increase, rule_out_increase: 1.0, confidence: 0.99, form, steps })
                .unwrap();
        judge.begin_step();
        judge
    }

    impl SequentialJudge {
        /// Observes a period of the current step.
        fn see(&mut self, counts: Counts) {
            self.observe(counts, self.steps_begun - 1);
        }
    }

    const COUNTING: Form = Form::Counting { dispersion: 1.0 };

    #[test]
    fn no_errors_no_evidence() {
        for form in [COUNTING, Form::Periods] {
            let mut judge = judge(0.25, form, 1);
            assert_eq!(judge.judgement().evidence, 1.0);
            judge.see(counts(1000, 0, 9000, 0));
            judge.see(counts(0, 0, 9000, 12));
            let j = judge.judgement();
            assert!((j.evidence - 1.0).abs() < 1e-12 && j.pass_evidence == 0.0, "no errors, nothing to pass on: {j:?}");
            assert_eq!(j.totals, counts(1000, 0, 18000, 12));
            assert!((j.threshold - 100.0).abs() < 1e-9);
            assert_eq!(judge.interval(), Interval { low: 0.0, high: f64::INFINITY });
        }
    }

    #[test]
    fn a_clearly_worse_canary_fails_and_a_better_one_never_does() {
        for form in [COUNTING, Form::Periods] {
            // 10% canary with 5% errors against a baseline with 1%.
            let mut bad = judge(0.25, form, 1);
            let mut periods = 0;
            while !bad.judgement().failed() {
                bad.see(counts(100, 5, 900, 9));
                periods += 1;
                assert!(periods < 50, "a 5x regression must be caught quickly ({form:?})");
            }
            let mut good = judge(0.25, form, 1);
            for _ in 0..10_000 {
                good.see(counts(100, 0, 900, 9));
            }
            assert!(good.judgement().evidence < 1e-3, "evidence only falls for a better canary ({form:?})");
            assert!(good.judgement().ruled_out());
        }
    }

    #[test]
    fn at_the_tolerance_the_evidence_does_not_grow() {
        // Canary exactly 1.25x the baseline, with max_increase 0.25: the null.
        for form in [COUNTING, Form::Periods] {
            let mut judge = judge(0.25, form, 1);
            for _ in 0..1000 {
                judge.see(counts(1000, 25, 1000, 20));
            }
            assert!(judge.judgement().evidence <= 1.0 + 1e-9, "{form:?}: {:?}", judge.judgement());
        }
    }

    #[test]
    fn shifting_weights_are_accounted_for() {
        // Equal error rates while the canary's share grows: no evidence, even
        // though the canary's share of errors rises with its share of traffic.
        for form in [COUNTING, Form::Periods] {
            let mut judge = judge(0.0, form, 1);
            for (canary, baseline) in [(10, 90), (25, 75), (50, 50), (75, 25)] {
                judge.see(counts(canary * 100, canary, baseline * 100, baseline));
            }
            assert!(judge.judgement().evidence <= 1.0 + 1e-9, "{form:?}");
        }
    }

    #[test]
    fn one_burst_on_the_canary_fails_the_counting_form_but_not_the_robust_one() {
        // A burst of 40 errors lands on a 10% canary in one period.
        let burst = counts(300, 40, 2700, 27);
        let mut counting = judge(0.0, COUNTING, 1);
        counting.see(burst);
        assert!(counting.judgement().failed());
        let mut robust = judge(0.0, Form::Periods, 1);
        robust.see(burst);
        assert!(!robust.judgement().failed());
        assert!(robust.judgement().evidence < 1.0 / (1.0 - MAX_LOSS) / 0.1, "one period moves it by at most its bet");
    }

    #[test]
    fn a_regression_that_begins_at_a_later_step_is_caught_about_as_fast() {
        // 20 good periods in step one, then a 3x regression in step two.
        let periods_to_fail = |good_first: bool| {
            let mut judge = judge(0.0, COUNTING, 5);
            if good_first {
                for _ in 0..20 {
                    judge.see(counts(500, 5, 4500, 45));
                }
                judge.begin_step();
            }
            (1..).find(|_| {
                judge.see(counts(500, 15, 4500, 45));
                judge.judgement().failed()
            })
        };
        let (fresh, late) = (periods_to_fail(false).unwrap(), periods_to_fail(true).unwrap());
        assert!(late <= fresh + 2, "fresh {fresh}, late {late}");
        let mut without_restart = judge(0.0, COUNTING, 1);
        for _ in 0..20 {
            without_restart.see(counts(500, 5, 4500, 45));
        }
        let buried = (1..=late).any(|_| {
            without_restart.see(counts(500, 15, 4500, 45));
            without_restart.judgement().failed()
        });
        assert!(!buried, "without the restart the good periods would bury it longer");
    }

    #[test]
    fn a_step_passes_only_once_the_bound_is_ruled_out_and_the_interval_covers_the_truth() {
        let mut judge = judge(0.25, COUNTING, 3);
        // Equal rates: 10% canary, 1% errors; the bound is 2x.
        judge.see(counts(300, 3, 2700, 27));
        assert!(!judge.judgement().ruled_out(), "3 canary errors cannot rule out a doubling");
        let mut periods = 1;
        while !judge.judgement().ruled_out() {
            judge.see(counts(300, 3, 2700, 27));
            periods += 1;
            assert!(periods < 100);
        }
        let interval = judge.interval();
        assert!(interval.low < 1.0 && 1.0 < interval.high && interval.high < 2.0, "{interval}");
        // Twice the errors from here on: the evidence for passing wanes.
        judge.begin_step();
        for _ in 0..periods * 3 {
            judge.see(counts(300, 6, 2700, 27));
        }
        assert!(!judge.judgement().ruled_out());
    }

    #[test]
    fn the_forecast_matches_the_evidence_of_expected_counts() {
        let settings =
            JudgeSettings { max_increase: 0.25, rule_out_increase: 1.0, confidence: 0.99, form: COUNTING, steps: 1 };
        // 10% of 50 requests/s, 60-second periods, 1% errors.
        let forecast = periods_to_pass(&settings, 300.0, 2700.0, 0.01, 1000).unwrap();
        let mut judge = judge(0.25, COUNTING, 1);
        let periods = (1..).find(|_| {
            judge.see(counts(300, 3, 2700, 27));
            judge.judgement().ruled_out()
        });
        // Expected counts have no spread at all; real ones have Poisson's,
        // which the judge's bound on the dispersion allows for.
        let periods = periods.unwrap();
        assert!(forecast >= periods && forecast <= periods * 2, "forecast {forecast}, deterministic {periods}");
        assert!((5..=20).contains(&forecast), "{forecast}");
        assert_eq!(periods_to_pass(&settings, 300.0, 2700.0, 0.0, 1000), None, "no errors, no evidence");
        let doubled = periods_to_pass(
            &JudgeSettings { form: Form::Counting { dispersion: 2.0 }, ..settings },
            300.0,
            2700.0,
            0.01,
            1000,
        )
        .unwrap();
        assert!(
            doubled > forecast * 3 / 2,
            "a dispersion of 2 needs about twice the periods: {doubled} against {forecast}"
        );
    }

    #[test]
    fn the_dispersion_check_picks_the_form() {
        let steady: Vec<Counts> = (0..30).map(|i| counts(0, 0, 3000, [27, 33, 30, 25, 35, 29][i % 6])).collect();
        assert!(matches!(choose_form(&steady), Form::Counting { dispersion } if (1.0..1.5).contains(&dispersion)));
        let bursty: Vec<Counts> = (0..30).map(|i| counts(0, 0, 3000, [5, 90, 10, 60, 2, 13][i % 6])).collect();
        assert_eq!(choose_form(&bursty), Form::Periods);
        assert_eq!(choose_form(&steady[..5]), Form::Periods, "too little history to tell");
        let quiet: Vec<Counts> = (0..30).map(|_| counts(0, 0, 3000, 0)).collect();
        assert_eq!(choose_form(&quiet), Form::Periods, "too few errors to tell");
    }

    #[test]
    fn bad_settings_are_errors() {
        let settings = |max_increase, rule_out_increase, confidence| {
            SequentialJudge::new(JudgeSettings {
                max_increase,
                rule_out_increase,
                confidence,
                form: Form::Periods,
                steps: 1,
            })
            .map(|_| ())
        };
        assert_eq!(settings(-0.1, 1.0, 0.99), Err(JudgeError::NegativeIncrease));
        assert_eq!(settings(f64::NAN, 1.0, 0.99), Err(JudgeError::NegativeIncrease));
        assert_eq!(settings(0.25, 0.25, 0.99), Err(JudgeError::RuleOut));
        assert_eq!(settings(0.25, 1.0, 1.0), Err(JudgeError::Confidence));
        assert_eq!(settings(0.25, 1.0, 0.3), Err(JudgeError::Confidence));
    }
}
