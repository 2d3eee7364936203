//! Schedules: the steps a rollout takes, built from a strategy.

use std::time::Duration;

use super::traffic::SAME_SHARE;

/// How traffic moves from the origin to the target.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Straight to 100% (blue/green cut-over), then the final bake.
    AllAtOnce,
    /// One canary step, like CodeDeploy's `Canary10Percent5Minutes`.
    Canary { percent: f64, bake: Duration },
    /// Equal increments, like CodeDeploy's `Linear10PercentEvery1Minute`.
    Linear { step_percent: f64, interval: Duration },
    /// Explicit steps, strictly increasing, each below 100.
    Steps(Vec<Step>),
}

/// Send `percent` of traffic to the target, then watch the gates for `bake`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The target's share of traffic, in percent.
    pub percent: f64,
    pub bake: Duration,
}

/// Every step of a rollout; the last is always 100%, baked for `final_bake`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule(Vec<Step>);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("percent must be above 0 and below 100, not {0}")]
    PercentOutOfRange(f64),
    #[error("step percentages must strictly increase: {previous}% is followed by {next}%")]
    NotIncreasing { previous: f64, next: f64 },
    #[error("a schedule has at most {MAX_STEPS} steps; increments of {0}% would make more")]
    TooManySteps(f64),
}

/// The most steps a schedule may have: enough for 0.1% increments, and a
/// bound on what a tiny increment could make the plan build.
pub const MAX_STEPS: usize = 1000;

impl Schedule {
    pub fn new(strategy: &Strategy, final_bake: Duration) -> Result<Schedule, ScheduleError> {
        let in_range = |p: f64| if p > 0.0 && p < 100.0 { Ok(p) } else { Err(ScheduleError::PercentOutOfRange(p)) };
        let mut steps = match strategy {
            Strategy::AllAtOnce => Vec::new(),
            Strategy::Canary { percent, bake } => vec![Step { percent: in_range(*percent)?, bake: *bake }],
            Strategy::Linear { step_percent, interval } => {
                let step = in_range(*step_percent)?;
                if 100.0 / step > MAX_STEPS as f64 {
                    return Err(ScheduleError::TooManySteps(step));
                }
                (1..=MAX_STEPS as u32)
                    .map(|i| f64::from(i) * step)
                    .take_while(|p| *p < 100.0 - SAME_SHARE)
                    .map(|percent| Step { percent, bake: *interval })
                    .collect()
            }
            Strategy::Steps(steps) => {
                for pair in steps.windows(2) {
                    if pair[1].percent <= pair[0].percent {
                        return Err(ScheduleError::NotIncreasing { previous: pair[0].percent, next: pair[1].percent });
                    }
                }
                for step in steps {
                    in_range(step.percent)?;
                }
                steps.clone()
            }
        };
        steps.push(Step { percent: 100.0, bake: final_bake });
        Ok(Schedule(steps))
    }

    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    /// The steps still to take when the target already has `percent` of the
    /// traffic (a rollout resumed after a killed apply). A step at exactly
    /// the current share is kept: its bake was interrupted, so it bakes
    /// again. Index 0 of the result is the next step; its position in the
    /// whole schedule is `self.steps().len() - result.len()`.
    pub fn remaining_from(&self, percent: f64) -> &[Step] {
        // A share read back from weights may differ from the step's by rounding.
        let done = self.0.iter().take_while(|s| s.percent < percent - SAME_SHARE).count();
        &self.0[done..]
    }

    /// Sum of all bakes: the least time the rollout takes.
    pub fn total_bake(&self) -> Duration {
        self.0.iter().map(|s| s.bake).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Duration = Duration::from_secs(60);

    fn percents(s: &Schedule) -> Vec<f64> {
        s.steps().iter().map(|s| s.percent).collect()
    }

    #[test]
    fn strategies_become_steps_ending_at_100() {
        let all = Schedule::new(&Strategy::AllAtOnce, 10 * M).unwrap();
        assert_eq!(all.steps(), [Step { percent: 100.0, bake: 10 * M }]);
        let canary = Schedule::new(&Strategy::Canary { percent: 10.0, bake: 5 * M }, M).unwrap();
        assert_eq!(canary.steps(), [Step { percent: 10.0, bake: 5 * M }, Step { percent: 100.0, bake: M }]);
        let linear = Schedule::new(&Strategy::Linear { step_percent: 30.0, interval: M }, Duration::ZERO).unwrap();
        assert_eq!(percents(&linear), [30.0, 60.0, 90.0, 100.0]);
        assert_eq!(linear.total_bake(), 3 * M);
        let ten = Schedule::new(&Strategy::Linear { step_percent: 10.0, interval: M }, Duration::ZERO).unwrap();
        assert_eq!(percents(&ten), [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]);
        let steps = vec![Step { percent: 5.0, bake: M }, Step { percent: 50.0, bake: 2 * M }];
        assert_eq!(percents(&Schedule::new(&Strategy::Steps(steps), M).unwrap()), [5.0, 50.0, 100.0]);
    }

    #[test]
    fn bad_strategies_are_errors() {
        assert_eq!(
            Schedule::new(&Strategy::Canary { percent: 100.0, bake: M }, M),
            Err(ScheduleError::PercentOutOfRange(100.0))
        );
        assert_eq!(
            Schedule::new(&Strategy::Linear { step_percent: 0.0, interval: M }, M),
            Err(ScheduleError::PercentOutOfRange(0.0))
        );
        let down = vec![Step { percent: 50.0, bake: M }, Step { percent: 20.0, bake: M }];
        assert_eq!(
            Schedule::new(&Strategy::Steps(down), M),
            Err(ScheduleError::NotIncreasing { previous: 50.0, next: 20.0 })
        );
        let same = vec![Step { percent: 20.0, bake: M }, Step { percent: 20.0, bake: M }];
        assert!(Schedule::new(&Strategy::Steps(same), M).is_err());
        assert_eq!(
            Schedule::new(&Strategy::Linear { step_percent: 1e-7, interval: M }, M),
            Err(ScheduleError::TooManySteps(1e-7)),
            "refused before anything is built"
        );
        assert_eq!(
            Schedule::new(&Strategy::Linear { step_percent: 0.1, interval: M }, M).unwrap().steps().len(),
            MAX_STEPS
        );
    }

    #[test]
    fn linear_steps_may_be_fractional() {
        let s = Schedule::new(&Strategy::Linear { step_percent: 12.5, interval: M }, M).unwrap();
        assert_eq!(percents(&s), [12.5, 25.0, 37.5, 50.0, 62.5, 75.0, 87.5, 100.0]);
        let third = Schedule::new(&Strategy::Linear { step_percent: 100.0 / 3.0, interval: M }, M).unwrap();
        assert_eq!(third.steps().len(), 3, "two thirds, then 100%, not a step at 99.999...%");
    }

    #[test]
    fn resuming_skips_steps_already_reached() {
        let s = Schedule::new(&Strategy::Linear { step_percent: 25.0, interval: M }, M).unwrap();
        assert_eq!(s.remaining_from(0.0).len(), 4);
        // Killed during the 25% bake: that bake is done again.
        assert_eq!(s.remaining_from(25.0)[0].percent, 25.0);
        assert_eq!(s.remaining_from(30.0)[0].percent, 50.0);
        assert_eq!(s.remaining_from(75.0)[0].percent, 75.0);
        // At 100% the final bake still remains.
        assert_eq!(s.remaining_from(100.0), [Step { percent: 100.0, bake: M }]);
    }
}
