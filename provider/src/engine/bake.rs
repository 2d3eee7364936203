//! Baking: watching a gate for a while, and stopping at the first failure.

use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{Clock, Finding, Gate, GateError, Verdict};

/// Looks that fail to read the gates (after the SDK's own retries) in a row
/// before the bake gives up: one failed read is not evidence of anything.
const READ_ERRORS_TOLERATED: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bake {
    pub duration: Duration,
    pub poll_interval: Duration,
    /// How long the bake may go on past `duration` while the gate is
    /// pending; `Undecided` after that.
    pub hold_limit: Duration,
}

impl Bake {
    /// A bake that does not hold past its duration.
    pub fn fixed(duration: Duration, poll_interval: Duration) -> Bake {
        Bake { duration, poll_interval, hold_limit: duration }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum BakeOutcome {
    /// The gate stayed healthy for the whole duration.
    Passed { checks: u32 },
    /// The gate failed after `elapsed`.
    Failed { finding: Finding, elapsed: Duration },
    /// Stopped from outside (Ctrl-C) after `elapsed`; no verdict.
    Interrupted { elapsed: Duration },
    /// Still pending when the hold limit came; the gate's last word.
    Undecided { reason: String, elapsed: Duration },
}

/// Reported after every look, for progress logs and reports.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub elapsed: Duration,
    pub checks: u32,
    /// What this look found (an unreadable gate is a reason to wait, until
    /// too many in a row end the bake).
    pub verdict: &'a Verdict,
}

/// Looks at `gate` on the wall-clock grid of `poll_interval` (every moment
/// that is a whole number of intervals since the Unix epoch, shifted by the
/// clock's [`Clock::grid_phase`]; the first one at or after the start) until
/// the first grid point at or after `duration` (so a bake lasts up to one
/// interval longer than asked, never shorter; one shorter than an interval
/// ends exactly on time); while the gate is pending it goes on looking until
/// the grid point at or after `hold_limit`. Stops at the first
/// unhealthy verdict, on an error, or when `stop` is cancelled (within the
/// time it takes the current look to return, which is cut short too).
///
/// The grid is what lets concurrent bakes share reads: rollouts that started
/// a few hundred milliseconds apart (their shifts took different times) still
/// look at the same instants, so the shared poller answers them with one
/// call, up to and including their last looks. A first look waits at most
/// one interval, no longer than any later change would wait to be seen.
pub async fn bake(
    clock: &impl Clock,
    gate: &impl Gate,
    plan: Bake,
    stop: &CancellationToken,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<BakeOutcome, GateError> {
    let start = clock.now();
    let elapsed = |now: OffsetDateTime| (now - start).try_into().unwrap_or(Duration::ZERO);
    let mut checks = 0;
    let mut read_errors = 0;
    let grid = Grid { interval: plan.poll_interval, phase: clock.grid_phase() };
    // A bake ends at the first grid point at or after its duration, so that
    // concurrent bakes' last looks meet too; one shorter than an interval,
    // which that could more than double, ends on time.
    let ends = |duration: Duration| {
        if duration < plan.poll_interval { start + duration } else { grid.point(start + duration, false) }
    };
    let (passes_at, holds_until) = (ends(plan.duration), ends(plan.hold_limit.max(plan.duration)));
    let mut next_look = grid.point(start, false).min(passes_at);
    loop {
        // Never longer than an interval, even if the wall clock steps back.
        let nap = Duration::try_from(next_look - clock.now()).unwrap_or(Duration::ZERO).min(plan.poll_interval);
        if !nap.is_zero() {
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(BakeOutcome::Interrupted { elapsed: elapsed(clock.now()) }),
                () = clock.sleep(nap) => {}
            }
        }
        let looked = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(BakeOutcome::Interrupted { elapsed: elapsed(clock.now()) }),
            verdict = gate.check() => verdict,
        };
        // An unreadable look is no verdict; only a run of them ends the bake.
        let verdict = match looked {
            Ok(verdict) => {
                read_errors = 0;
                verdict
            }
            Err(e) if read_errors + 1 >= READ_ERRORS_TOLERATED => return Err(e),
            Err(e) => {
                read_errors += 1;
                Verdict::Pending(format!("the gates could not be read: {}", e.0))
            }
        };
        checks += 1;
        let now = clock.now();
        let so_far = elapsed(now);
        progress(Progress { elapsed: so_far, checks, verdict: &verdict });
        let pending = match verdict {
            Verdict::Unhealthy(finding) => return Ok(BakeOutcome::Failed { finding, elapsed: so_far }),
            Verdict::Healthy if now >= passes_at => return Ok(BakeOutcome::Passed { checks }),
            Verdict::Healthy => None,
            Verdict::Pending(reason) => Some(reason),
        };
        let end = if now < passes_at { passes_at } else { holds_until };
        if now >= end {
            let reason = pending.unwrap_or_default();
            return Ok(BakeOutcome::Undecided { reason, elapsed: so_far });
        }
        next_look = grid.point(now, true).min(end);
    }
}

/// Waits for the next moment bakes look at (the grid point at or after now
/// for `poll_interval`); false when `stop` came first. A check before a
/// rollout reads there, so that concurrent rollouts' checks share the
/// reads of the bakes already under way instead of each paying a call.
pub async fn until_the_next_look(clock: &impl Clock, poll_interval: Duration, stop: &CancellationToken) -> bool {
    let now = clock.now();
    let grid = Grid { interval: poll_interval, phase: clock.grid_phase() };
    let wait = Duration::try_from(grid.point(now, false) - now).unwrap_or(Duration::ZERO);
    tokio::select! {
        biased;
        () = stop.cancelled() => false,
        () = clock.sleep(wait) => true,
    }
}

/// Whole multiples of `interval` since the Unix epoch, shifted by `phase`
/// of an interval.
struct Grid {
    interval: Duration,
    phase: f64,
}

impl Grid {
    /// The first point at or after `t` (strictly after it when `after`).
    fn point(&self, t: OffsetDateTime, after: bool) -> OffsetDateTime {
        let step = self.interval.as_nanos().max(1) as i128;
        let offset = (step as f64 * self.phase.clamp(0.0, 1.0)) as i128 % step;
        let nanos = t.unix_timestamp_nanos() - offset;
        let mut point = nanos.div_euclid(step) * step;
        if point < nanos || (after && point == nanos) {
            point += step;
        }
        OffsetDateTime::from_unix_timestamp_nanos(point + offset).unwrap_or(t)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::engine::clock::SimClock;

    /// A gate that answers from a script, one answer per look, and then
    /// repeats the last one.
    struct Scripted(RefCell<Vec<Result<Verdict, GateError>>>);

    impl Scripted {
        fn new(mut answers: Vec<Result<Verdict, GateError>>) -> Scripted {
            answers.reverse();
            Scripted(RefCell::new(answers))
        }
    }

    impl Gate for Scripted {
        async fn check(&self) -> Result<Verdict, GateError> {
            let mut answers = self.0.borrow_mut();
            if answers.len() > 1 { answers.pop().unwrap() } else { answers[0].clone() }
        }
    }

    fn finding() -> Finding {
        Finding { source: "alarm \"5xx\"".into(), reason: "Threshold crossed".into(), since: None }
    }

    const PLAN: Bake = Bake {
        duration: Duration::from_secs(600),
        poll_interval: Duration::from_secs(10),
        hold_limit: Duration::from_secs(600),
    };

    #[tokio::test]
    async fn healthy_gate_passes_after_the_whole_duration() {
        let clock = SimClock::new();
        let start = clock.now();
        let outcome =
            bake(&clock, &Scripted::new(vec![Ok(Verdict::Healthy)]), PLAN, &CancellationToken::new(), |_| {}).await;
        // Looks at 0s, 10s, ..., 600s.
        assert_eq!(outcome, Ok(BakeOutcome::Passed { checks: 61 }));
        assert_eq!(clock.now() - start, time::Duration::seconds(600));
    }

    #[tokio::test]
    async fn last_look_lands_exactly_at_the_end() {
        let clock = SimClock::new();
        let plan = Bake::fixed(Duration::from_secs(25), Duration::from_secs(10));
        let outcome =
            bake(&clock, &Scripted::new(vec![Ok(Verdict::Healthy)]), plan, &CancellationToken::new(), |_| {}).await;
        assert_eq!(outcome, Ok(BakeOutcome::Passed { checks: 4 }), "0s, 10s, 20s, 30s");
    }

    /// Records the moment of every look; always healthy.
    struct Timed<'c>(&'c SimClock, RefCell<Vec<OffsetDateTime>>);

    impl Gate for Timed<'_> {
        async fn check(&self) -> Result<Verdict, GateError> {
            self.1.borrow_mut().push(self.0.now());
            Ok(Verdict::Healthy)
        }
    }

    #[tokio::test]
    async fn bakes_started_apart_look_at_the_same_moments_to_the_end() {
        let plan = Bake::fixed(Duration::from_secs(25), Duration::from_secs(10));
        let mut looks = Vec::new();
        for offset in [Duration::from_millis(3_500), Duration::from_millis(3_800)] {
            let clock = SimClock::new();
            clock.advance(offset);
            let start = clock.now();
            let gate = Timed(&clock, RefCell::default());
            let outcome = bake(&clock, &gate, plan, &CancellationToken::new(), |_| {}).await;
            assert_eq!(outcome, Ok(BakeOutcome::Passed { checks: 3 }));
            let lasted = clock.now() - start;
            assert!(
                lasted >= time::Duration::seconds(25) && lasted < time::Duration::seconds(35),
                "never shorter, at most an interval longer: {lasted}"
            );
            looks.push(gate.1.into_inner());
        }
        let epoch = SimClock::new().now();
        let seconds =
            |looks: &[OffsetDateTime]| looks.iter().map(|t| (*t - epoch).as_seconds_f64()).collect::<Vec<_>>();
        // Both look at 10 s, 20 s and, their 25 s up, at 30 s.
        assert_eq!(seconds(&looks[0]), [10.0, 20.0, 30.0]);
        assert_eq!(seconds(&looks[1]), [10.0, 20.0, 30.0]);
    }

    #[test]
    fn a_phase_shifts_the_grid_and_a_process_keeps_one_phase() {
        let grid = Grid { interval: Duration::from_secs(10), phase: 0.25 };
        let epoch = SimClock::new().now();
        assert_eq!(grid.point(epoch + Duration::from_secs(3), false), epoch + Duration::from_millis(12_500));
        assert_eq!(grid.point(epoch + Duration::from_millis(2_500), false), epoch + Duration::from_millis(2_500));
        assert_eq!(grid.point(epoch + Duration::from_millis(2_500), true), epoch + Duration::from_millis(12_500));
        let phase = crate::engine::SystemClock.grid_phase();
        assert!((0.0..1.0).contains(&phase));
        assert_eq!(crate::engine::SystemClock.grid_phase(), phase, "every resource of a process shares it");
    }

    #[tokio::test]
    async fn a_bake_shorter_than_the_wait_for_the_grid_looks_once_at_its_end() {
        let clock = SimClock::new();
        clock.advance(Duration::from_secs(1));
        let plan = Bake::fixed(Duration::from_secs(2), Duration::from_secs(10));
        let gate = Timed(&clock, RefCell::default());
        assert_eq!(
            bake(&clock, &gate, plan, &CancellationToken::new(), |_| {}).await,
            Ok(BakeOutcome::Passed { checks: 1 })
        );
        assert_eq!(gate.1.into_inner(), [SimClock::new().now() + Duration::from_secs(3)]);
    }

    #[tokio::test]
    async fn fails_at_the_first_unhealthy_look() {
        let clock = SimClock::new();
        let mut answers = vec![Ok(Verdict::Healthy); 3];
        answers.push(Ok(Verdict::Unhealthy(finding())));
        let mut seen = Vec::new();
        let outcome =
            bake(&clock, &Scripted::new(answers), PLAN, &CancellationToken::new(), |p| seen.push(p.checks)).await;
        assert_eq!(outcome, Ok(BakeOutcome::Failed { finding: finding(), elapsed: Duration::from_secs(30) }));
        assert_eq!(seen, [1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_run_of_read_errors_ends_the_bake_but_a_single_one_does_not() {
        let clock = SimClock::new();
        let throttled = || Err(GateError("throttled".into()));
        let gate = Scripted::new(vec![Ok(Verdict::Healthy), throttled(), throttled(), Ok(Verdict::Healthy)]);
        assert!(matches!(
            bake(&clock, &gate, PLAN, &CancellationToken::new(), |_| {}).await,
            Ok(BakeOutcome::Passed { .. })
        ));
        let gate = Scripted::new(vec![Ok(Verdict::Healthy), throttled()]);
        assert_eq!(
            bake(&clock, &gate, PLAN, &CancellationToken::new(), |_| {}).await,
            Err(GateError("throttled".into()))
        );
    }

    #[tokio::test]
    async fn a_pending_gate_holds_the_bake_until_evidence_or_the_limit() {
        let clock = SimClock::new();
        let plan = Bake {
            duration: Duration::from_secs(60),
            poll_interval: Duration::from_secs(10),
            hold_limit: Duration::from_secs(120),
        };
        let waiting = || Ok(Verdict::Pending("50 of 200 canary requests".into()));
        // Pending through the duration, healthy at 90s: passes then.
        let mut answers = vec![waiting(); 9];
        answers.push(Ok(Verdict::Healthy));
        let outcome = bake(&clock, &Scripted::new(answers), plan, &CancellationToken::new(), |_| {}).await;
        assert_eq!(outcome, Ok(BakeOutcome::Passed { checks: 10 }));
        // Pending for good: undecided at the limit, with the gate's reason.
        let outcome = bake(&clock, &Scripted::new(vec![waiting()]), plan, &CancellationToken::new(), |_| {}).await;
        assert_eq!(
            outcome,
            Ok(BakeOutcome::Undecided {
                reason: "50 of 200 canary requests".into(),
                elapsed: Duration::from_secs(120)
            })
        );
    }

    #[tokio::test]
    async fn stop_interrupts_the_wait() {
        let clock = SimClock::new();
        let stop = CancellationToken::new();
        let gate = Scripted::new(vec![Ok(Verdict::Healthy)]);
        let mut looks = 0;
        let outcome = bake(&clock, &gate, PLAN, &stop, |_| {
            looks += 1;
            if looks == 5 {
                stop.cancel();
            }
        })
        .await;
        assert_eq!(outcome, Ok(BakeOutcome::Interrupted { elapsed: Duration::from_secs(40) }));
    }

    #[tokio::test]
    async fn stop_cuts_a_hanging_look_short() {
        struct Hangs;
        impl Gate for Hangs {
            async fn check(&self) -> Result<Verdict, GateError> {
                std::future::pending().await
            }
        }
        let stop = CancellationToken::new();
        let canceller = stop.clone();
        tokio::spawn(async move { canceller.cancel() });
        let outcome = bake(&SimClock::new(), &Hangs, PLAN, &stop, |_| {}).await;
        assert_eq!(outcome, Ok(BakeOutcome::Interrupted { elapsed: Duration::ZERO }));
    }

    #[tokio::test]
    async fn a_check_waits_for_the_next_look_of_the_grid() {
        let clock = SimClock::new();
        clock.advance(Duration::from_millis(3_500));
        assert!(until_the_next_look(&clock, Duration::from_secs(10), &CancellationToken::new()).await);
        assert_eq!(clock.now(), SimClock::new().now() + Duration::from_secs(10));
        let stopped = CancellationToken::new();
        stopped.cancel();
        assert!(!until_the_next_look(&clock, Duration::from_secs(10), &stopped).await);
    }
}
