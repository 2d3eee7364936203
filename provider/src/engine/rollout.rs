//! The rollout state machine: shift → verify → bake while polling gates →
//! next step, or roll back to the origin.
//!
//! A step only counts once the router reads back the split it was given.
//! Anything that stops a rollout before 100% has baked (a gate, a gate that
//! cannot be read, the router, the deadline, Ctrl-C) sends all traffic back
//! to the origin at once; the outcome says what stopped it and whether the
//! rollback itself was confirmed.

use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::bake::{Bake, BakeOutcome, bake};
use super::schedule::Schedule;
use super::traffic::{RouterError, Split, TrafficRouter, format_percent};
use super::{Clock, Finding, Gate, Verdict};

/// How often a changed split is read back before the change is declared
/// not applied, and the pause between reads.
const VERIFY_READS: u32 = 10;
const VERIFY_PAUSE: Duration = Duration::from_millis(200);
/// Rollback attempts, with pauses doubling from `ROLLBACK_PAUSE` up to
/// `ROLLBACK_PAUSE_MAX`. AWS throttling or not answering is worth waiting
/// out for longer (about three minutes of pauses, beside the SDK's own
/// retries inside each attempt) than a refusal, which waiting rarely mends.
const ROLLBACK_ATTEMPTS: u32 = 4;
const ROLLBACK_ATTEMPTS_TRANSIENT: u32 = 16;
const ROLLBACK_PAUSE: Duration = Duration::from_millis(500);
const ROLLBACK_PAUSE_MAX: Duration = Duration::from_secs(15);

pub struct Rollout {
    /// What serves now and what traffic returns to on rollback.
    pub origin: String,
    /// What serves all traffic once promoted.
    pub target: String,
    pub schedule: Schedule,
    pub poll_interval: Duration,
    /// Past this moment the rollout rolls back (Terraform's timeout).
    pub deadline: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Shift,
    /// One look at the gates during a bake. Looks reach `on_event` (logs,
    /// reports) but not the returned history, which keeps the milestones.
    Look(Look),
    Baked,
    GateFailed,
    Rollback,
    Promoted,
    /// Something the rollout cannot fix but a person should know (DNS
    /// caching longer than a bake).
    Warning,
}

impl super::EventName for EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Shift => "shift",
            EventKind::Look(_) => "look",
            EventKind::Baked => "baked",
            EventKind::GateFailed => "gate_failed",
            EventKind::Rollback => "rollback",
            EventKind::Promoted => "promoted",
            EventKind::Warning => "warning",
        }
    }

    fn progress_word(self) -> &'static str {
        match self {
            EventKind::Look(Look::Pass) => "look: pass",
            EventKind::Look(Look::Wait) => "look: wait",
            EventKind::Look(Look::Fail) => "look: fail",
            EventKind::Baked => "verdict: pass",
            EventKind::GateFailed => "verdict: fail",
            EventKind::Promoted => "verdict: promoted",
            kind => kind.as_str(),
        }
    }
}

/// What one look at the gates found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    Pass,
    /// Healthy so far, but not yet enough evidence (or the gates could not
    /// be read this time).
    Wait,
    Fail,
}

impl Look {
    pub fn of(verdict: &Verdict) -> Look {
        match verdict {
            Verdict::Healthy => Look::Pass,
            Verdict::Pending(_) => Look::Wait,
            Verdict::Unhealthy(_) => Look::Fail,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Look::Pass => "pass",
            Look::Wait => "wait",
            Look::Fail => "fail",
        }
    }
}

/// One line of a rollout's history.
pub type Event = super::Event<EventKind>;

/// Why a rollout stopped before promotion.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    Gate(Finding),
    /// A gate could not be read; no evidence is not a pass.
    GateUnreadable(String),
    Router(RouterError),
    Timeout,
    /// The gates never had enough evidence to pass the step before the
    /// timeout (no data, too few canary requests).
    Undecided(String),
    /// Terraform asked the provider to stop (Ctrl-C).
    Stopped,
}

impl Cause {
    pub fn describe(&self) -> String {
        match self {
            Cause::Gate(f) => format!("{} is failing: {}", f.source, f.reason),
            Cause::GateUnreadable(e) => format!("the gates could not be read: {e}"),
            Cause::Router(e) => format!("traffic could not be shifted: {e}"),
            Cause::Timeout => "the rollout ran past its timeout".into(),
            Cause::Undecided(reason) => {
                format!("the rollout ran past its timeout without enough evidence to pass ({reason})")
            }
            Cause::Stopped => "Terraform was interrupted".into(),
        }
    }
}

/// A rollout that stopped before promotion.
#[derive(Debug, Clone, PartialEq)]
pub struct Halt {
    pub cause: Cause,
    /// 1-based position of the step in the whole schedule.
    pub step: usize,
    /// The target's share when the rollout stopped.
    pub percent: f64,
    /// Whether all traffic was confirmed back on the origin.
    pub rollback: Result<(), RouterError>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Promoted,
    Halted(Halt),
}

/// How an apply starts, from the split read under the lease.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// The target serves everything and no rollout is unfinished: nothing moves.
    AlreadyThere,
    /// The configuration went back to the recorded target (the last one
    /// known good) while an interrupted rollout left traffic elsewhere: all
    /// traffic goes straight back to it, without gates.
    Restore,
    /// Run the schedule from `from_percent`, rolling back to `origin`.
    Run { origin: String, from_percent: f64 },
    /// Traffic is on destinations other than one origin and the target.
    NotOneOrigin { others: Vec<String> },
    /// A killed apply left traffic somewhere other than the recorded origin
    /// (say, all on a target whose final bake never finished): that is no
    /// origin to roll back to.
    UnverifiedOrigin { serving: Vec<String>, recorded: String },
}

/// Decides how to start moving `split` to `target`. `recorded` is the
/// target the state holds (what served last, as far as Terraform knows);
/// `unfinished` says a killed apply left its lease behind.
pub fn decide_start(split: &Split, target: &str, recorded: Option<&str>, unfinished: bool) -> Start {
    let target_serves_all = split.sole_server() == Some(target);
    // An unfinished rollout at 100% still owes its final bake, unless there
    // is no recorded origin to roll back to.
    if target_serves_all && (!unfinished || recorded.is_none()) {
        return Start::AlreadyThere;
    }
    if recorded == Some(target) {
        return Start::Restore;
    }
    // The origin is what the state says served last, never a guess from
    // whatever else serves now: after an interrupted rollout the other
    // serving destination may be the bad release.
    let others: Vec<&str> = match recorded {
        Some(r) if split.percent_of(r) > 0.0 || target_serves_all => {
            let strangers: Vec<&str> = split.serving().filter(|d| *d != target && *d != r).collect();
            strangers.into_iter().chain([r]).collect()
        }
        Some(r) if unfinished => {
            let serving = split.serving().map(str::to_owned).collect();
            return Start::UnverifiedOrigin { serving, recorded: r.to_owned() };
        }
        // Nothing recorded (a create), or traffic moved outside Terraform
        // since the last apply finished: what serves now is the origin.
        _ => split.serving().filter(|d| *d != target).collect(),
    };
    match others[..] {
        [origin] => Start::Run { origin: origin.to_owned(), from_percent: split.percent_of(target) },
        _ => Start::NotOneOrigin { others: others.into_iter().map(str::to_owned).collect() },
    }
}

/// Runs `rollout` from the point where the target has `start_percent` of the
/// traffic. `on_event` sees each event as it happens, every look included
/// (for logs and reports); the history returned with the outcome holds the
/// milestones (shifts, verdicts, the rollback), not the looks.
pub async fn run(
    router: &dyn TrafficRouter,
    gate: &impl Gate,
    clock: &impl Clock,
    rollout: &Rollout,
    start_percent: f64,
    stop: &CancellationToken,
    mut on_event: impl FnMut(&Event),
) -> (Outcome, Vec<Event>) {
    let mut history = Vec::new();
    let mut record = |percent, kind, detail: String| {
        let event = Event { at: clock.now(), percent, kind, detail };
        on_event(&event);
        if !matches!(kind, EventKind::Look(_)) {
            history.push(event);
        }
    };
    let steps = rollout.schedule.remaining_from(start_percent);
    let total = rollout.schedule.steps().len();
    let first_step = total - steps.len() + 1;
    let mut percent = start_percent;
    let mut halt = None;
    for (i, step) in steps.iter().enumerate() {
        let position = first_step + i;
        if stop.is_cancelled() {
            halt = Some((Cause::Stopped, position));
            break;
        }
        if clock.now() >= rollout.deadline {
            halt = Some((Cause::Timeout, position));
            break;
        }
        let shift_started = clock.now();
        if step.percent != percent {
            if let Err(e) =
                shift(router, clock, &Split::between(&rollout.origin, &rollout.target, step.percent), stop).await
            {
                let cause = if stop.is_cancelled() { Cause::Stopped } else { Cause::Router(e) };
                halt = Some((cause, position));
                break;
            }
            percent = step.percent;
            record(
                percent,
                EventKind::Shift,
                format!(
                    "step {position} of {total}: {}% to the target, confirmed by {}",
                    format_percent(percent),
                    router.describe()
                ),
            );
        }
        gate.begin_step(shift_started..clock.now(), percent);
        let left = (rollout.deadline - clock.now()).try_into().unwrap_or(Duration::ZERO);
        let plan = Bake { duration: step.bake.min(left), poll_interval: rollout.poll_interval, hold_limit: left };
        let look = |progress: super::Progress<'_>| {
            let found = match progress.verdict {
                Verdict::Healthy => gate.summary().unwrap_or_else(|| "all gates healthy".into()),
                Verdict::Pending(reason) => reason.clone(),
                Verdict::Unhealthy(finding) => format!("{}: {}", finding.source, finding.reason),
            };
            let detail = format!("step {position} of {total} at {}%: {found}", format_percent(percent));
            record(percent, EventKind::Look(Look::of(progress.verdict)), detail);
        };
        let baked = bake(clock, gate, plan, stop, look).await;
        match baked {
            Ok(BakeOutcome::Passed { checks }) if plan.duration < step.bake => {
                let _ = checks;
                halt = Some((Cause::Timeout, position));
                break;
            }
            Ok(BakeOutcome::Passed { checks }) => {
                let mut detail = format!(
                    "step {position} of {total}: baked {} at {}% ({checks} gate checks, all healthy)",
                    crate::duration::format(step.bake),
                    format_percent(percent)
                );
                if let Some(summary) = gate.summary() {
                    detail = format!("{detail}; {summary}");
                }
                record(percent, EventKind::Baked, detail);
            }
            Ok(BakeOutcome::Failed { finding, elapsed }) => {
                let detail = format!(
                    "step {position} of {total}: {} after {} at {}%: {}",
                    finding.source,
                    crate::duration::format(elapsed),
                    format_percent(percent),
                    finding.reason
                );
                record(percent, EventKind::GateFailed, detail);
                halt = Some((Cause::Gate(finding), position));
                break;
            }
            Ok(BakeOutcome::Undecided { reason, .. }) => {
                halt = Some((Cause::Undecided(reason), position));
                break;
            }
            Ok(BakeOutcome::Interrupted { .. }) => {
                halt = Some((Cause::Stopped, position));
                break;
            }
            Err(e) => {
                halt = Some((Cause::GateUnreadable(e.0), position));
                break;
            }
        }
    }
    let Some((cause, step)) = halt else {
        record(100.0, EventKind::Promoted, "all traffic on the target".into());
        return (Outcome::Promoted, history);
    };
    let rollback = roll_back(router, clock, &rollout.origin).await;
    let (after, detail) = match &rollback {
        Ok(()) => (0.0, format!("all traffic back on the origin ({})", cause.describe())),
        Err(e) => (percent, format!("ROLLBACK NOT CONFIRMED, traffic may still be split: {e}")),
    };
    record(after, EventKind::Rollback, detail);
    (Outcome::Halted(Halt { cause, step, percent, rollback }), history)
}

/// Sets `split` and reads it back until the router reports it. `stop`
/// only cuts short a router's wait for its change to propagate.
pub async fn shift(
    router: &dyn TrafficRouter,
    clock: &impl Clock,
    split: &Split,
    stop: &CancellationToken,
) -> Result<(), RouterError> {
    router.route(split, stop).await?;
    let mut seen = None;
    for read in 0..VERIFY_READS {
        if read > 0 {
            clock.sleep(VERIFY_PAUSE).await;
        }
        match router.read().await {
            Ok(now) if now.same_shares(split) => return Ok(()),
            Ok(now) => seen = Some(now),
            // A read-back AWS throttled is no answer yet: read again.
            Err(RouterError::Transient(_)) if read + 1 < VERIFY_READS => {}
            Err(e) => return Err(e),
        }
    }
    Err(RouterError::Failed(format!(
        "{} did not take the change: asked for {}, it reports {}",
        router.describe(),
        split.describe(),
        seen.map(|s| s.describe()).unwrap_or_default()
    )))
}

/// Sends everything to `origin`, retrying: this is the one change that must
/// land. Stop requests are ignored here; stopping is why we are rolling back.
async fn roll_back(router: &dyn TrafficRouter, clock: &impl Clock, origin: &str) -> Result<(), RouterError> {
    // A first shift that never landed leaves nothing to undo.
    if router.read().await.is_ok_and(|split| split.same_shares(&Split::all_to(origin))) {
        return Ok(());
    }
    let mut pause = ROLLBACK_PAUSE;
    let mut attempt = 1;
    loop {
        // Never cut short: this is the change that must land and propagate.
        let error = match shift(router, clock, &Split::all_to(origin), &CancellationToken::new()).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let attempts =
            if matches!(error, RouterError::Transient(_)) { ROLLBACK_ATTEMPTS_TRANSIENT } else { ROLLBACK_ATTEMPTS };
        if attempt >= attempts {
            return Err(error);
        }
        clock.sleep(pause).await;
        pause = (pause * 2).min(ROLLBACK_PAUSE_MAX);
        attempt += 1;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::engine::EventName;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::engine::clock::SimClock;
    use crate::engine::schedule::{Step, Strategy};
    use crate::engine::{GateError, Verdict};

    /// A router that applies splits at once, optionally refusing some.
    pub struct FakeRouter {
        pub split: Mutex<Split>,
        pub routes: Mutex<Vec<Split>>,
        /// Routes that fail, by call number (0-based).
        pub failing_routes: Mutex<Vec<usize>>,
        /// Whether those fail as AWS throttling would (else as a refusal).
        pub failures_are_transient: AtomicBool,
        /// When set, routes "succeed" but the router keeps this split.
        pub stuck: AtomicBool,
        /// When set, the next route is interrupted by Ctrl-C while it waits
        /// for its change to propagate (as Route 53's does).
        pub interrupt_next_route: Mutex<Option<CancellationToken>>,
    }

    impl FakeRouter {
        pub fn new(split: Split) -> FakeRouter {
            FakeRouter {
                split: Mutex::new(split),
                routes: Mutex::default(),
                failing_routes: Mutex::default(),
                failures_are_transient: AtomicBool::new(false),
                stuck: AtomicBool::new(false),
                interrupt_next_route: Mutex::default(),
            }
        }
        fn percents(&self) -> Vec<f64> {
            self.routes.lock().unwrap().iter().map(|s| s.percent_of("green")).collect()
        }
        fn now(&self) -> Split {
            self.split.lock().unwrap().clone()
        }
    }

    #[async_trait::async_trait]
    impl TrafficRouter for FakeRouter {
        async fn read(&self) -> Result<Split, RouterError> {
            Ok(self.now())
        }
        async fn route(&self, split: &Split, _stop: &CancellationToken) -> Result<(), RouterError> {
            let call = {
                let mut routes = self.routes.lock().unwrap();
                routes.push(split.clone());
                routes.len() - 1
            };
            if self.failing_routes.lock().unwrap().contains(&call) {
                return Err(if self.failures_are_transient.load(Ordering::SeqCst) {
                    RouterError::Transient("throttled".into())
                } else {
                    RouterError::Failed("access denied".into())
                });
            }
            if let Some(stop) = self.interrupt_next_route.lock().unwrap().take() {
                *self.split.lock().unwrap() = split.clone();
                stop.cancel();
                return Err(RouterError::Failed("stopped waiting for the change to propagate".into()));
            }
            if !self.stuck.load(Ordering::SeqCst) {
                *self.split.lock().unwrap() = split.clone();
            }
            Ok(())
        }
        fn describe(&self) -> String {
            "fake listener".into()
        }
    }

    /// Healthy until the clock passes `fail_at`, then failing (or erroring).
    struct TimedGate<'c> {
        clock: &'c SimClock,
        start: OffsetDateTime,
        fail_at: Option<Duration>,
        error: bool,
    }

    impl Gate for TimedGate<'_> {
        async fn check(&self) -> Result<Verdict, GateError> {
            let elapsed: Duration = (self.clock.now() - self.start).try_into().unwrap();
            match self.fail_at {
                Some(at) if elapsed >= at && self.error => Err(GateError("AccessDenied".into())),
                Some(at) if elapsed >= at => Ok(Verdict::Unhealthy(Finding {
                    source: "alarm \"5xx\"".into(),
                    reason: "5xx above 1%".into(),
                    since: None,
                })),
                _ => Ok(Verdict::Healthy),
            }
        }
    }

    const M: Duration = Duration::from_secs(60);

    fn rollout(clock: &SimClock, strategy: Strategy) -> Rollout {
        Rollout {
            origin: "blue".into(),
            target: "green".into(),
            schedule: Schedule::new(&strategy, 2 * M).unwrap(),
            poll_interval: Duration::from_secs(10),
            deadline: clock.now() + time::Duration::hours(1),
        }
    }

    fn gate(clock: &SimClock, fail_at: Option<Duration>) -> TimedGate<'_> {
        TimedGate { clock, start: clock.now(), fail_at, error: false }
    }

    async fn go(
        router: &FakeRouter,
        gate: &TimedGate<'_>,
        clock: &SimClock,
        r: &Rollout,
        start: f64,
        stop: &CancellationToken,
    ) -> (Outcome, Vec<Event>) {
        run(router, gate, clock, r, start, stop, |_| {}).await
    }

    #[test]
    fn the_start_follows_the_split_and_the_recorded_target() {
        let run = |origin: &str, from: f64| Start::Run { origin: origin.into(), from_percent: from };
        let all_blue = Split::all_to("blue");
        assert_eq!(
            decide_start(&all_blue, "green", None, false),
            run("blue", 0.0),
            "create: whatever serves is the origin"
        );
        assert_eq!(decide_start(&all_blue, "green", Some("blue"), false), run("blue", 0.0));
        assert_eq!(decide_start(&Split::all_to("green"), "green", Some("blue"), false), Start::AlreadyThere);
        assert_eq!(
            decide_start(&Split::all_to("green"), "green", None, true),
            Start::AlreadyThere,
            "nothing to roll back to"
        );
        assert_eq!(
            decide_start(&Split::all_to("green"), "green", Some("blue"), true),
            run("blue", 100.0),
            "a killed apply still owes its final bake"
        );
        let split = Split::between("blue", "green", 30.0);
        assert_eq!(decide_start(&split, "green", Some("blue"), true), run("blue", 30.0), "resumed from the split");
        assert_eq!(decide_start(&split, "blue", Some("blue"), true), Start::Restore, "reverted while split");
        // The state says blue served last: a third destination is a stranger, not the origin.
        let three = Split([("blue".to_owned(), 50.0), ("green".to_owned(), 25.0), ("red".to_owned(), 25.0)].into());
        assert_eq!(
            decide_start(&three, "green", Some("blue"), false),
            Start::NotOneOrigin { others: vec!["red".into(), "blue".into()] }
        );
        // The state's origin no longer serves and something else does: that is the origin.
        assert_eq!(decide_start(&Split::all_to("red"), "green", Some("blue"), false), run("red", 0.0));
        // ...unless a killed apply left it there: killed during green's final
        // bake, then retargeted to yellow. Green was never verified.
        assert_eq!(
            decide_start(&Split::all_to("green"), "yellow", Some("blue"), true),
            Start::UnverifiedOrigin { serving: vec!["green".into()], recorded: "blue".into() }
        );
    }

    #[tokio::test]
    async fn canary_promotes_after_every_bake() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        let r = rollout(&clock, Strategy::Canary { percent: 10.0, bake: 5 * M });
        let start = clock.now();
        let (outcome, history) = go(&router, &gate(&clock, None), &clock, &r, 0.0, &CancellationToken::new()).await;
        assert_eq!(outcome, Outcome::Promoted);
        assert_eq!(router.percents(), [10.0, 100.0]);
        assert_eq!(router.now(), Split::all_to("green"));
        assert_eq!(clock.now() - start, time::Duration::minutes(7), "5m canary bake + 2m final bake");
        let kinds: Vec<_> = history.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["shift", "baked", "shift", "baked", "promoted"]);
    }

    #[tokio::test]
    async fn linear_and_all_at_once_take_their_steps() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        let r = rollout(&clock, Strategy::Linear { step_percent: 25.0, interval: M });
        assert_eq!(
            go(&router, &gate(&clock, None), &clock, &r, 0.0, &CancellationToken::new()).await.0,
            Outcome::Promoted
        );
        assert_eq!(router.percents(), [25.0, 50.0, 75.0, 100.0]);

        let router = FakeRouter::new(Split::all_to("blue"));
        let r = rollout(&clock, Strategy::AllAtOnce);
        assert_eq!(
            go(&router, &gate(&clock, None), &clock, &r, 0.0, &CancellationToken::new()).await.0,
            Outcome::Promoted
        );
        assert_eq!(router.percents(), [100.0]);
    }

    #[tokio::test]
    async fn a_failing_gate_mid_bake_rolls_back_at_once() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        let steps = vec![Step { percent: 5.0, bake: M }, Step { percent: 25.0, bake: 5 * M }];
        let r = rollout(&clock, Strategy::Steps(steps));
        // Fails 3 minutes in: during the 25% bake (which started at 1m).
        let (outcome, history) =
            go(&router, &gate(&clock, Some(3 * M)), &clock, &r, 0.0, &CancellationToken::new()).await;
        let Outcome::Halted(halt) = outcome else { panic!("expected a rollback") };
        assert_eq!((halt.step, halt.percent), (2, 25.0));
        assert!(matches!(halt.cause, Cause::Gate(ref f) if f.reason == "5xx above 1%"));
        assert_eq!(halt.rollback, Ok(()));
        assert_eq!(router.now(), Split::all_to("blue"));
        assert_eq!(router.percents(), [5.0, 25.0, 0.0]);
        assert_eq!(history.last().unwrap().kind, EventKind::Rollback);
        assert_eq!(history.last().unwrap().percent, 0.0);
    }

    #[tokio::test]
    async fn a_failing_gate_during_the_final_bake_still_rolls_back() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        let r = rollout(&clock, Strategy::AllAtOnce);
        let (outcome, _) = go(&router, &gate(&clock, Some(M)), &clock, &r, 0.0, &CancellationToken::new()).await;
        let Outcome::Halted(halt) = outcome else { panic!("expected a rollback") };
        assert_eq!((halt.step, halt.percent), (1, 100.0));
        assert_eq!(router.now(), Split::all_to("blue"));
    }

    #[tokio::test]
    async fn unreadable_gates_roll_back() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        let r = rollout(&clock, Strategy::Canary { percent: 10.0, bake: 5 * M });
        let failing = TimedGate { clock: &clock, start: clock.now(), fail_at: Some(M), error: true };
        let (outcome, _) = run(&router, &failing, &clock, &r, 0.0, &CancellationToken::new(), |_| {}).await;
        assert!(matches!(outcome, Outcome::Halted(Halt { cause: Cause::GateUnreadable(_), .. })));
        assert_eq!(router.now(), Split::all_to("blue"));
    }

    #[tokio::test]
    async fn the_deadline_rolls_back() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        let mut r = rollout(&clock, Strategy::Linear { step_percent: 10.0, interval: 10 * M });
        r.deadline = clock.now() + time::Duration::minutes(25);
        let (outcome, _) = go(&router, &gate(&clock, None), &clock, &r, 0.0, &CancellationToken::new()).await;
        let Outcome::Halted(halt) = outcome else { panic!("expected a rollback") };
        assert_eq!((halt.cause, halt.percent), (Cause::Timeout, 30.0));
        assert_eq!(router.now(), Split::all_to("blue"));
    }

    #[tokio::test]
    async fn stop_rolls_back() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        let r = rollout(&clock, Strategy::Canary { percent: 10.0, bake: 5 * M });
        let stop = CancellationToken::new();
        let canceller = stop.clone();
        let (outcome, _) = run(&router, &gate(&clock, None), &clock, &r, 0.0, &stop, |e| {
            if e.kind == EventKind::Shift {
                canceller.cancel();
            }
        })
        .await;
        let Outcome::Halted(halt) = outcome else { panic!("expected a rollback") };
        assert_eq!((halt.cause, halt.percent), (Cause::Stopped, 10.0));
        assert_eq!(router.now(), Split::all_to("blue"));
    }

    #[tokio::test]
    async fn every_shift_look_and_verdict_gets_one_progress_line_and_looks_stay_out_of_history() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        let r = rollout(&clock, Strategy::Canary { percent: 10.0, bake: M });
        let mut lines = Vec::new();
        let (_, history) = run(
            &router,
            &gate(&clock, Some(Duration::from_secs(90))),
            &clock,
            &r,
            0.0,
            &CancellationToken::new(),
            |e| lines.push(e.progress_line()),
        )
        .await;
        let words: Vec<_> = lines.iter().map(|l| l.split(": step").next().unwrap()).collect();
        let looks = words.iter().filter(|w| w.starts_with("look")).count();
        assert_eq!(words.first(), Some(&"shift"), "{lines:#?}");
        assert!(lines[0].starts_with("shift: step 1 of 2: 10% to the target"), "{lines:#?}");
        assert!(lines.contains(&"look: pass: step 1 of 2 at 10%: all gates healthy".to_owned()), "{lines:#?}");
        assert!(lines.contains(&"look: fail: step 2 of 2 at 100%: alarm \"5xx\": 5xx above 1%".to_owned()));
        assert!(lines.iter().any(|l| l.starts_with("verdict: pass: step 1 of 2: baked 1m at 10%")));
        assert!(lines.iter().any(|l| l.starts_with("verdict: fail: step 2 of 2: alarm \"5xx\" after")));
        assert!(lines.last().unwrap().starts_with("rollback: all traffic back on the origin"));
        assert_eq!(lines.len(), history.len() + looks, "one line per event, every look included");
        assert!(looks >= 6, "a one-minute bake looked every 10s: {lines:#?}");
        let kinds: Vec<_> = history.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["shift", "baked", "shift", "gate_failed", "rollback"]);
    }

    #[tokio::test]
    async fn ctrl_c_while_a_shift_propagates_rolls_back_as_interrupted() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        let stop = CancellationToken::new();
        *router.interrupt_next_route.lock().unwrap() = Some(stop.clone());
        let r = rollout(&clock, Strategy::Canary { percent: 10.0, bake: 5 * M });
        let (outcome, _) = run(&router, &gate(&clock, None), &clock, &r, 0.0, &stop, |_| {}).await;
        let Outcome::Halted(halt) = outcome else { panic!("expected a halt") };
        assert_eq!((halt.cause, halt.rollback), (Cause::Stopped, Ok(())));
        assert_eq!(router.now(), Split::all_to("blue"), "the change that stood was rolled back");
    }

    #[tokio::test]
    async fn resumes_from_the_current_split() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::between("blue", "green", 30.0));
        let r = rollout(&clock, Strategy::Linear { step_percent: 20.0, interval: M });
        let (outcome, history) = go(&router, &gate(&clock, None), &clock, &r, 30.0, &CancellationToken::new()).await;
        assert_eq!(outcome, Outcome::Promoted);
        assert_eq!(router.percents(), [40.0, 60.0, 80.0, 100.0]);
        assert!(history[0].detail.starts_with("step 2 of 5:"), "{:?}", history[0]);
    }

    #[tokio::test]
    async fn a_step_counts_only_when_read_back() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        router.stuck.store(true, Ordering::SeqCst);
        let r = rollout(&clock, Strategy::Canary { percent: 10.0, bake: 5 * M });
        let (outcome, history) = go(&router, &gate(&clock, None), &clock, &r, 0.0, &CancellationToken::new()).await;
        let Outcome::Halted(halt) = outcome else { panic!("expected a halt") };
        assert!(
            matches!(&halt.cause, Cause::Router(e) if e.to_string().contains("did not take the change")),
            "{:?}",
            halt.cause
        );
        assert!(history.iter().all(|e| e.kind != EventKind::Shift), "an unconfirmed shift is not recorded");
        // The origin still has everything, which is what the rollback confirms.
        assert_eq!(halt.rollback, Ok(()));
    }

    #[tokio::test]
    async fn rollback_retries_and_reports_failure() {
        let clock = SimClock::new();
        let router = FakeRouter::new(Split::all_to("blue"));
        // Route 0 (10%) works; the first rollback attempt fails, the second lands.
        *router.failing_routes.lock().unwrap() = vec![1];
        let r = rollout(&clock, Strategy::Canary { percent: 10.0, bake: 5 * M });
        let (outcome, _) = go(&router, &gate(&clock, Some(M)), &clock, &r, 0.0, &CancellationToken::new()).await;
        assert!(matches!(outcome, Outcome::Halted(Halt { rollback: Ok(()), .. })));
        assert_eq!(router.now(), Split::all_to("blue"));

        let router = FakeRouter::new(Split::all_to("blue"));
        *router.failing_routes.lock().unwrap() = vec![1, 2, 3, 4];
        // (route 0, the 10% step, lands; every rollback attempt fails)
        let (outcome, history) = go(&router, &gate(&clock, Some(M)), &clock, &r, 0.0, &CancellationToken::new()).await;
        let Outcome::Halted(halt) = outcome else { panic!("expected a halt") };
        assert!(halt.rollback.is_err());
        assert!(history.last().unwrap().detail.contains("ROLLBACK NOT CONFIRMED"));
    }

    #[tokio::test]
    async fn rollback_waits_out_throttling_longer_than_a_refusal() {
        let clock = SimClock::new();
        let r = rollout(&clock, Strategy::Canary { percent: 10.0, bake: 5 * M });
        // Route 0 (the 10% step) lands; the next ten rollback attempts fail.
        let failing: Vec<usize> = (1..=10).collect();
        let refused = FakeRouter::new(Split::all_to("blue"));
        *refused.failing_routes.lock().unwrap() = failing.clone();
        let (outcome, _) = go(&refused, &gate(&clock, Some(M)), &clock, &r, 0.0, &CancellationToken::new()).await;
        assert!(
            matches!(outcome, Outcome::Halted(Halt { rollback: Err(RouterError::Failed(_)), .. })),
            "a refusal stops after {ROLLBACK_ATTEMPTS} attempts"
        );
        assert_eq!(refused.routes.lock().unwrap().len(), 1 + ROLLBACK_ATTEMPTS as usize);

        let throttled = FakeRouter::new(Split::all_to("blue"));
        *throttled.failing_routes.lock().unwrap() = failing;
        throttled.failures_are_transient.store(true, Ordering::SeqCst);
        let (outcome, _) = go(&throttled, &gate(&clock, Some(M)), &clock, &r, 0.0, &CancellationToken::new()).await;
        assert!(matches!(outcome, Outcome::Halted(Halt { rollback: Ok(()), .. })), "{outcome:?}");
        assert_eq!(throttled.now(), Split::all_to("blue"), "the eleventh attempt lands");
    }
}
