//! Canary-vs-baseline judgement that stays valid however often it looks.
//!
//! The question: is the canary's error rate more than `1 + max_increase`
//! times the baseline's? Both serve at the same time, so both see the same
//! load, time of day and downstream trouble; only the version differs.
//!
//! Method (a two-category form of the multinomial test of Lindon & Malek,
//! "Anytime-Valid Inference for Multinomial Count Data", NeurIPS 2022):
//!
//! * Errors arrive at each group as a Poisson stream with rate proportional to
//!   that group's requests. Given the period's request counts `n_c`, `n_b`
//!   and its total errors `E`, the canary's errors are then
//!   `Binomial(E, q)` with `q = n_c·r / (n_c·r + n_b)`, where `r` is the ratio
//!   of the canary's error rate to the baseline's. The unknown baseline rate
//!   drops out, and the traffic split may change from period to period.
//! * The null hypothesis is `r ≤ m` with `m = 1 + max_increase`. For each
//!   alternative `r_k > m` on a fixed grid, the likelihood ratio of `r_k`
//!   against the boundary `m`, multiplied over periods, is a nonnegative
//!   supermartingale under every `r ≤ m` (the binomial family has a monotone
//!   likelihood ratio in `q`). A weighted average of them, the e-process `M`,
//!   is one too.
//! * Ville's inequality: under the null, `P(M ever reaches 1/α) ≤ α`. So the
//!   rollout fails when `M ≥ 1/α`, with `α = 1 - confidence`, and the false
//!   rollback rate is at most `α` for the whole rollout, however many times it
//!   looks and however the traffic split changes.
//! * One-sided by construction: every alternative is worse than the
//!   tolerance, so a canary better than the baseline only drives `M` down.
//!
//! `docs/analysis.md` has the simulation that checks the bound and compares
//! detection speed with a naive repeated test.

/// Relative risks (as multiples of the tolerance `m`) that the mixture
/// weighs equally: dense near the tolerance, where evidence accumulates
/// slowly, and spread out towards gross regressions, caught in a few errors.
const ALTERNATIVES: [f64; 12] = [1.05, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0];

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JudgeError {
    #[error("max_increase must be at least 0")]
    NegativeIncrease,
    #[error("confidence must be between 0.5 and 1 (exclusive)")]
    Confidence,
}

/// The evidence so far and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The e-process value; the canary fails at `threshold`.
    pub evidence: f64,
    pub threshold: f64,
    /// Everything observed so far.
    pub totals: Counts,
}

impl Judgement {
    pub fn failed(&self) -> bool {
        self.evidence >= self.threshold
    }
}

/// One canary's running test.
#[derive(Debug, Clone)]
pub struct SequentialJudge {
    tolerance: f64,
    threshold: f64,
    /// Log likelihood ratio of each alternative against the tolerance.
    log_ratios: [f64; ALTERNATIVES.len()],
    totals: Counts,
}

impl SequentialJudge {
    pub fn new(max_increase: f64, confidence: f64) -> Result<SequentialJudge, JudgeError> {
        if !(max_increase >= 0.0) || !max_increase.is_finite() {
            return Err(JudgeError::NegativeIncrease);
        }
        if !(0.5 < confidence && confidence < 1.0) {
            return Err(JudgeError::Confidence);
        }
        Ok(SequentialJudge {
            tolerance: 1.0 + max_increase,
            threshold: 1.0 / (1.0 - confidence),
            log_ratios: [0.0; ALTERNATIVES.len()],
            totals: Counts::default(),
        })
    }

    /// Adds one period's counts. Periods without errors, or without traffic
    /// on either side, carry no evidence about the ratio and change nothing
    /// but the totals.
    pub fn observe(&mut self, counts: Counts) {
        self.totals += counts;
        let (nc, nb) = (counts.canary_requests as f64, counts.baseline_requests as f64);
        let (ec, eb) = (counts.canary_errors as f64, counts.baseline_errors as f64);
        if nc == 0.0 || nb == 0.0 || ec + eb == 0.0 {
            return;
        }
        let share = |ratio: f64| nc * ratio / (nc * ratio + nb);
        let q0 = share(self.tolerance);
        for (log_ratio, multiple) in self.log_ratios.iter_mut().zip(ALTERNATIVES) {
            let q = share(self.tolerance * multiple);
            *log_ratio += ec * (q / q0).ln() + eb * ((1.0 - q) / (1.0 - q0)).ln();
        }
    }

    pub fn judgement(&self) -> Judgement {
        // log-sum-exp, so strong evidence does not overflow.
        let max = self.log_ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = self.log_ratios.iter().map(|l| (l - max).exp()).sum::<f64>() / ALTERNATIVES.len() as f64;
        Judgement { evidence: (max + mean.ln()).exp(), threshold: self.threshold, totals: self.totals }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(canary_requests: u64, canary_errors: u64, baseline_requests: u64, baseline_errors: u64) -> Counts {
        Counts { canary_requests, canary_errors, baseline_requests, baseline_errors }
    }

    #[test]
    fn no_errors_no_evidence() {
        let mut judge = SequentialJudge::new(0.25, 0.99).unwrap();
        assert_eq!(judge.judgement().evidence, 1.0);
        judge.observe(counts(1000, 0, 9000, 0));
        judge.observe(counts(0, 0, 9000, 12));
        assert_eq!(judge.judgement().evidence, 1.0);
        assert_eq!(judge.judgement().totals, counts(1000, 0, 18000, 12));
        assert!((judge.judgement().threshold - 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_clearly_worse_canary_fails_and_a_better_one_never_does() {
        // 10% canary with 5% errors against a baseline with 1%.
        let mut bad = SequentialJudge::new(0.25, 0.99).unwrap();
        let mut periods = 0;
        while !bad.judgement().failed() {
            bad.observe(counts(100, 5, 900, 9));
            periods += 1;
            assert!(periods < 50, "a 5x regression must be caught quickly");
        }
        let mut good = SequentialJudge::new(0.25, 0.99).unwrap();
        for _ in 0..10_000 {
            good.observe(counts(100, 0, 900, 9));
        }
        assert!(good.judgement().evidence < 1e-6, "evidence only falls for a better canary");
    }

    #[test]
    fn at_the_tolerance_the_evidence_does_not_grow() {
        // Canary exactly 1.25x the baseline, with max_increase 0.25: the null.
        let mut judge = SequentialJudge::new(0.25, 0.99).unwrap();
        for _ in 0..1000 {
            judge.observe(counts(1000, 25, 1000, 20));
        }
        assert!(judge.judgement().evidence < 1.0, "{:?}", judge.judgement());
    }

    #[test]
    fn shifting_weights_are_accounted_for() {
        // Equal error rates while the canary's share grows: no evidence, even
        // though the canary's share of errors rises with its share of traffic.
        let mut judge = SequentialJudge::new(0.0, 0.99).unwrap();
        for (canary, baseline) in [(10, 90), (25, 75), (50, 50), (75, 25)] {
            judge.observe(counts(canary * 100, canary, baseline * 100, baseline));
        }
        assert!(judge.judgement().evidence < 1.0);
    }

    #[test]
    fn bad_settings_are_errors() {
        assert_eq!(SequentialJudge::new(-0.1, 0.99).unwrap_err(), JudgeError::NegativeIncrease);
        assert_eq!(SequentialJudge::new(f64::NAN, 0.99).unwrap_err(), JudgeError::NegativeIncrease);
        assert_eq!(SequentialJudge::new(0.25, 1.0).unwrap_err(), JudgeError::Confidence);
        assert_eq!(SequentialJudge::new(0.25, 0.3).unwrap_err(), JudgeError::Confidence);
    }
}
