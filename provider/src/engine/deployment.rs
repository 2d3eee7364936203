//! Following a deployment that a service runs on its own schedule
//! (CodeDeploy): the service moves the traffic; the engine reads the
//! deployment every look, records each change (status, traffic share,
//! lifecycle events), and watches the gates meanwhile. When a gate fails,
//! the gates cannot be read, the time runs out or Terraform is interrupted,
//! it stops the deployment with a rollback and follows the rollback until
//! the service says it succeeded: only then is the rollback confirmed.
//!
//! The gates can only stop a deployment, never hold it: the service's
//! schedule runs whatever the evidence (a gate still waiting for evidence
//! when the deployment ends does not fail it).

use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::rollout::Cause;
use super::traffic::format_percent;
use super::{Clock, Gate, Verdict};

/// How long a rollback may take to be confirmed before the engine gives
/// up following it (it goes on at the service; the outcome says so).
pub const ROLLBACK_WAIT: Duration = Duration::from_secs(20 * 60);
/// Consecutive failed reads of a deployment before the engine stops
/// following it (each read already has the SDK's retries behind it).
const READ_ATTEMPTS: u32 = 5;

/// A deployment's status, as CodeDeploy names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Queued,
    InProgress,
    Baking,
    Ready,
    Succeeded,
    Failed,
    Stopped,
}

impl Status {
    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "Created" => Status::Created,
            "Queued" => Status::Queued,
            "InProgress" => Status::InProgress,
            "Baking" => Status::Baking,
            "Ready" => Status::Ready,
            "Succeeded" => Status::Succeeded,
            "Failed" => Status::Failed,
            "Stopped" => Status::Stopped,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "Created",
            Status::Queued => "Queued",
            Status::InProgress => "InProgress",
            Status::Baking => "Baking",
            Status::Ready => "Ready",
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
            Status::Stopped => "Stopped",
        }
    }

    pub fn is_over(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Stopped)
    }
}

/// One read of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub status: Status,
    /// The new revision's share of traffic, when the service reports it.
    pub percent: Option<f64>,
    /// Lifecycle events in order, `(name, status)`.
    pub lifecycle: Vec<(String, String)>,
    /// Why it failed or stopped, in the service's words.
    pub error: Option<String>,
    /// The deployment that rolls this one back, once there is one.
    pub rollback_id: Option<String>,
}

/// A failed call to the service.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    pub message: String,
    /// Throttled or unanswered: the same call may work a little later.
    pub transient: bool,
}

/// The service that runs deployments.
#[allow(async_fn_in_trait)]
pub trait Deployments {
    async fn read(&self, id: &str) -> Result<Snapshot, ServiceError>;
    /// Stops the deployment and has the service roll it back.
    async fn stop_with_rollback(&self, id: &str) -> Result<(), ServiceError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The deployment's status changed.
    Status,
    /// The new revision's share of traffic changed.
    Shift,
    /// A lifecycle event changed status.
    Lifecycle,
    GateFailed,
    /// The provider asked the service to stop and roll back.
    Stopping,
    /// The rollback deployment's progress.
    Rollback,
    /// A step held for its bake with the gates healthy.
    Baked,
}

impl super::EventName for EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Status => "status",
            EventKind::Shift => "shift",
            EventKind::Lifecycle => "lifecycle",
            EventKind::GateFailed => "gate_failed",
            EventKind::Stopping => "stopping",
            EventKind::Rollback => "rollback",
            EventKind::Baked => "baked",
        }
    }

    fn progress_word(self) -> &'static str {
        match self {
            EventKind::Baked => "verdict: pass",
            EventKind::GateFailed => "verdict: fail",
            kind => kind.as_str(),
        }
    }
}

/// One line of a deployment's history.
pub type Event = super::Event<EventKind>;

/// Whether a rollback the deployment needed is confirmed.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollback {
    /// The rollback deployment `id` succeeded.
    Confirmed { id: String },
    /// The service started none (its group does not roll back on this).
    NotStarted,
    /// It did not succeed, or could not be followed to its end: why.
    NotConfirmed { id: Option<String>, why: String },
    /// The deployment succeeded before the stop took effect: the new
    /// revision serves, and nothing was rolled back.
    TooLate,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Succeeded,
    /// The service failed or stopped the deployment on its own (its alarms,
    /// a failed lifecycle hook, someone else's StopDeployment).
    EndedByService {
        status: Status,
        error: Option<String>,
        rollback: Rollback,
    },
    /// The provider stopped it: a gate, the timeout, an interrupt.
    Stopped {
        cause: Cause,
        rollback: Rollback,
    },
    /// The deployment could not be read or stopped; what is known.
    Lost(String),
}

pub struct Follow<'a> {
    pub id: &'a str,
    pub poll_interval: Duration,
    /// Past this moment the deployment is stopped and rolled back.
    pub deadline: OffsetDateTime,
}

/// What has been seen of a deployment, to record only changes.
struct Seen {
    status: Option<Status>,
    percent: f64,
    lifecycle: Vec<(String, String)>,
}

impl Seen {
    fn new() -> Seen {
        Seen { status: None, percent: 0.0, lifecycle: Vec::new() }
    }

    /// The events between the last snapshot and `now`'s; `what` names the
    /// deployment in details (`deployment d-…`, `rollback d-…`).
    fn changes(
        &mut self,
        what: &str,
        snapshot: &Snapshot,
        at: OffsetDateTime,
        kind_of_status: EventKind,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        if let Some(percent) = snapshot.percent.filter(|p| *p != self.percent) {
            self.percent = percent;
            events.push(Event {
                at,
                percent,
                kind: EventKind::Shift,
                detail: format!("{what}: {}% of traffic on the new revision", format_percent(percent)),
            });
        }
        for (name, status) in &snapshot.lifecycle {
            let known = self.lifecycle.iter_mut().find(|(n, _)| n == name);
            let changed = match known {
                Some((_, s)) if s == status => false,
                Some((_, s)) => {
                    *s = status.clone();
                    true
                }
                None => {
                    self.lifecycle.push((name.clone(), status.clone()));
                    status != "Pending"
                }
            };
            if changed {
                events.push(Event {
                    at,
                    percent: self.percent,
                    kind: EventKind::Lifecycle,
                    detail: format!("{what}: {name} {status}"),
                });
            }
        }
        if self.status != Some(snapshot.status) {
            self.status = Some(snapshot.status);
            let error = snapshot.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
            events.push(Event {
                at,
                percent: self.percent,
                kind: kind_of_status,
                detail: format!("{what} {}{error}", snapshot.status.as_str()),
            });
        }
        events
    }
}

/// Follows deployment `follow.id` until it ends, looking at `gate` every
/// poll interval while it runs; `log` sees each event as it happens.
pub async fn follow<S: Deployments, G: Gate, C: Clock>(
    service: &S,
    gate: &G,
    clock: &C,
    follow: &Follow<'_>,
    stop: &CancellationToken,
    mut log: impl FnMut(&Event),
) -> (Ending, Vec<Event>) {
    let mut history = Vec::new();
    let mut record = |events: Vec<Event>, history: &mut Vec<Event>| {
        for e in events {
            log(&e);
            history.push(e);
        }
    };
    let what = format!("deployment {}", follow.id);
    let mut seen = Seen::new();
    let mut failed_reads = 0;
    // When the deployment was last read: a shift seen now happened since.
    let mut last_read = clock.now();
    loop {
        let cause = if stop.is_cancelled() {
            Some(Cause::Stopped)
        } else if clock.now() >= follow.deadline {
            Some(Cause::Timeout)
        } else {
            None
        };
        let cause = match cause {
            Some(cause) => Some(cause),
            None => match service.read(follow.id).await {
                Err(e) => {
                    failed_reads += 1;
                    if failed_reads >= READ_ATTEMPTS || !e.transient {
                        return (Ending::Lost(format!("{what} could not be read: {e}")), history);
                    }
                    None
                }
                Ok(snapshot) => {
                    failed_reads = 0;
                    let now = clock.now();
                    let changes = seen.changes(&what, &snapshot, now, EventKind::Status);
                    // Gates that judge per step (the analysis) start the step's evidence here.
                    if changes.iter().any(|e| e.kind == EventKind::Shift) {
                        gate.begin_step(last_read..now, seen.percent);
                    }
                    last_read = now;
                    record(changes, &mut history);
                    match snapshot.status {
                        Status::Succeeded => return (Ending::Succeeded, history),
                        Status::Failed | Status::Stopped => {
                            // The service names its rollback deployment a moment after the end.
                            let mut snapshot = snapshot;
                            for _ in 0..3 {
                                if snapshot.rollback_id.is_some() {
                                    break;
                                }
                                clock.sleep(follow.poll_interval).await;
                                if let Ok(again) = service.read(follow.id).await {
                                    snapshot = again;
                                }
                            }
                            let rollback = match &snapshot.rollback_id {
                                Some(id) => {
                                    follow_rollback(service, clock, id, follow.poll_interval, &mut |e| {
                                        record(vec![e], &mut history)
                                    })
                                    .await
                                }
                                None => Rollback::NotStarted,
                            };
                            return (
                                Ending::EndedByService { status: snapshot.status, error: snapshot.error, rollback },
                                history,
                            );
                        }
                        _ => match gate.check().await {
                            Ok(Verdict::Unhealthy(finding)) => Some(Cause::Gate(finding)),
                            Err(e) => Some(Cause::GateUnreadable(e.0)),
                            Ok(Verdict::Healthy | Verdict::Pending(_)) => None,
                        },
                    }
                }
            },
        };
        if let Some(cause) = cause {
            if let Cause::Gate(finding) = &cause {
                record(
                    vec![Event {
                        at: clock.now(),
                        percent: seen.percent,
                        kind: EventKind::GateFailed,
                        detail: format!("{} is failing: {}", finding.source, finding.reason),
                    }],
                    &mut history,
                );
            }
            let rollback =
                stop_and_roll_back(service, clock, follow, &what, &mut seen, &mut |e| record(vec![e], &mut history))
                    .await;
            return (Ending::Stopped { cause, rollback }, history);
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => {}
            () = clock.sleep(follow.poll_interval) => {}
        }
    }
}

/// Stops the deployment with a rollback and follows the rollback.
async fn stop_and_roll_back<S: Deployments, C: Clock>(
    service: &S,
    clock: &C,
    follow: &Follow<'_>,
    what: &str,
    seen: &mut Seen,
    record: &mut impl FnMut(Event),
) -> Rollback {
    record(Event {
        at: clock.now(),
        percent: seen.percent,
        kind: EventKind::Stopping,
        detail: format!("stopping {what} with a rollback"),
    });
    let mut attempts = 0;
    while let Err(e) = service.stop_with_rollback(follow.id).await {
        attempts += 1;
        // A deployment that ended meanwhile refuses the stop; its own
        // ending is read below.
        if !e.transient || attempts >= READ_ATTEMPTS {
            record(Event {
                at: clock.now(),
                percent: seen.percent,
                kind: EventKind::Stopping,
                detail: format!("the stop was refused: {e}"),
            });
            break;
        }
        clock.sleep(follow.poll_interval).await;
    }
    // The deployment reports Stopped, and names its rollback, a moment later.
    let waited_from = clock.now();
    loop {
        match service.read(follow.id).await {
            Ok(snapshot) => {
                for e in seen.changes(what, &snapshot, clock.now(), EventKind::Status) {
                    record(e);
                }
                match (snapshot.status, &snapshot.rollback_id) {
                    (Status::Succeeded, _) => return Rollback::TooLate,
                    (_, Some(id)) => return follow_rollback(service, clock, id, follow.poll_interval, record).await,
                    (status, None) if status.is_over() && clock.now() - waited_from >= follow.poll_interval * 3 => {
                        return Rollback::NotStarted;
                    }
                    _ => {}
                }
            }
            Err(e) if !e.transient => {
                return Rollback::NotConfirmed {
                    id: None,
                    why: format!("{what} could not be read after the stop: {e}"),
                };
            }
            Err(_) => {}
        }
        if clock.now() - waited_from >= ROLLBACK_WAIT {
            return Rollback::NotConfirmed {
                id: None,
                why: format!("{what} did not stop within {} of the request", crate::duration::format(ROLLBACK_WAIT)),
            };
        }
        clock.sleep(follow.poll_interval).await;
    }
}

/// Follows rollback deployment `id` until it ends, or [`ROLLBACK_WAIT`].
async fn follow_rollback<S: Deployments, C: Clock>(
    service: &S,
    clock: &C,
    id: &str,
    poll_interval: Duration,
    record: &mut impl FnMut(Event),
) -> Rollback {
    let what = format!("rollback {id}");
    let mut seen = Seen::new();
    let started = clock.now();
    let mut failed_reads = 0;
    loop {
        match service.read(id).await {
            Ok(snapshot) => {
                failed_reads = 0;
                for e in seen.changes(&what, &snapshot, clock.now(), EventKind::Rollback) {
                    record(e);
                }
                match snapshot.status {
                    Status::Succeeded => return Rollback::Confirmed { id: id.to_owned() },
                    Status::Failed | Status::Stopped => {
                        let error = snapshot.error.map(|e| format!(": {e}")).unwrap_or_default();
                        return Rollback::NotConfirmed {
                            id: Some(id.to_owned()),
                            why: format!("{what} ended {}{error}", snapshot.status.as_str()),
                        };
                    }
                    _ => {}
                }
            }
            Err(e) => {
                failed_reads += 1;
                if !e.transient || failed_reads >= READ_ATTEMPTS {
                    return Rollback::NotConfirmed {
                        id: Some(id.to_owned()),
                        why: format!("{what} could not be read: {e}"),
                    };
                }
            }
        }
        if clock.now() - started >= ROLLBACK_WAIT {
            return Rollback::NotConfirmed {
                id: Some(id.to_owned()),
                why: format!("{what} had not ended after {}", crate::duration::format(ROLLBACK_WAIT)),
            };
        }
        clock.sleep(poll_interval).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::*;
    use crate::engine::clock::SimClock;
    use crate::engine::{Finding, GateError};

    /// A deployment's answers, in order.
    type Script = VecDeque<Result<Snapshot, ServiceError>>;

    /// A service that answers reads from a script per deployment (the last
    /// answer repeats) and records stops.
    struct Scripted {
        reads: RefCell<Vec<(String, Script)>>,
        stops: RefCell<Vec<String>>,
        /// What a stop does: the script that replaces the deployment's.
        on_stop: RefCell<Option<Vec<Snapshot>>>,
    }

    fn snap(status: Status, percent: Option<f64>) -> Snapshot {
        Snapshot { status, percent, lifecycle: Vec::new(), error: None, rollback_id: None }
    }

    impl Scripted {
        fn new(scripts: Vec<(&str, Vec<Snapshot>)>) -> Scripted {
            Scripted {
                reads: RefCell::new(
                    scripts.into_iter().map(|(id, s)| (id.to_owned(), s.into_iter().map(Ok).collect())).collect(),
                ),
                stops: RefCell::new(Vec::new()),
                on_stop: RefCell::new(None),
            }
        }
    }

    impl Deployments for Scripted {
        async fn read(&self, id: &str) -> Result<Snapshot, ServiceError> {
            let mut reads = self.reads.borrow_mut();
            let (_, script) = reads.iter_mut().find(|(d, _)| d == id).expect("a scripted deployment");
            if script.len() > 1 { script.pop_front().unwrap() } else { script.front().cloned().unwrap() }
        }
        async fn stop_with_rollback(&self, id: &str) -> Result<(), ServiceError> {
            self.stops.borrow_mut().push(id.to_owned());
            if let Some(after) = self.on_stop.borrow_mut().take() {
                let mut reads = self.reads.borrow_mut();
                let (_, script) = reads.iter_mut().find(|(d, _)| d == id).unwrap();
                *script = after.into_iter().map(Ok).collect();
            }
            Ok(())
        }
    }

    /// A gate that fails from its `fail_at`-th look on.
    struct FailsAt {
        looks: RefCell<usize>,
        fail_at: usize,
    }

    impl Gate for FailsAt {
        async fn check(&self) -> Result<Verdict, GateError> {
            *self.looks.borrow_mut() += 1;
            Ok(if *self.looks.borrow() >= self.fail_at {
                Verdict::Unhealthy(Finding {
                    source: "alarm \"checkout-5xx\"".into(),
                    reason: "Threshold crossed".into(),
                    since: None,
                })
            } else {
                Verdict::Healthy
            })
        }
    }

    /// A healthy gate that records the steps it was told about.
    #[derive(Default)]
    struct Steps(RefCell<Vec<f64>>);

    impl Gate for Steps {
        async fn check(&self) -> Result<Verdict, GateError> {
            Ok(Verdict::Healthy)
        }
        fn begin_step(&self, _moved: std::ops::Range<OffsetDateTime>, percent: f64) {
            self.0.borrow_mut().push(percent);
        }
    }

    #[tokio::test]
    async fn each_shift_begins_a_step_for_the_gates() {
        let clock = SimClock::new();
        let service = Scripted::new(vec![(
            "d-1",
            vec![
                snap(Status::InProgress, None),
                snap(Status::InProgress, Some(10.0)),
                snap(Status::InProgress, Some(10.0)),
                snap(Status::InProgress, Some(100.0)),
                snap(Status::Succeeded, Some(100.0)),
            ],
        )]);
        let gate = Steps::default();
        let (ending, _) =
            follow(&service, &gate, &clock, &follow_of("d-1", &clock), &CancellationToken::new(), |_| {}).await;
        assert_eq!(ending, Ending::Succeeded);
        assert_eq!(*gate.0.borrow(), [10.0, 100.0]);
    }

    fn healthy() -> FailsAt {
        FailsAt { looks: RefCell::new(0), fail_at: usize::MAX }
    }

    fn follow_of<'a>(id: &'a str, clock: &SimClock) -> Follow<'a> {
        Follow { id, poll_interval: Duration::from_secs(1), deadline: clock.now() + Duration::from_secs(3600) }
    }

    #[tokio::test]
    async fn a_deployment_that_succeeds_is_followed_to_its_end_and_each_change_recorded() {
        let clock = SimClock::new();
        let mut lifecycle = snap(Status::InProgress, Some(10.0));
        lifecycle.lifecycle =
            vec![("BeforeAllowTraffic".into(), "Succeeded".into()), ("AllowTraffic".into(), "InProgress".into())];
        let service = Scripted::new(vec![(
            "d-1",
            vec![
                snap(Status::Created, None),
                lifecycle.clone(),
                lifecycle,
                snap(Status::InProgress, Some(100.0)),
                snap(Status::Succeeded, Some(100.0)),
            ],
        )]);
        let (ending, history) =
            follow(&service, &healthy(), &clock, &follow_of("d-1", &clock), &CancellationToken::new(), |_| {}).await;
        assert_eq!(ending, Ending::Succeeded);
        let kinds: Vec<_> = history.iter().map(|e| (e.kind, e.percent)).collect();
        assert_eq!(
            kinds,
            [
                (EventKind::Status, 0.0),
                (EventKind::Shift, 10.0),
                (EventKind::Lifecycle, 10.0),
                (EventKind::Lifecycle, 10.0),
                (EventKind::Status, 10.0),
                (EventKind::Shift, 100.0),
                (EventKind::Status, 100.0)
            ]
        );
        assert!(history[2].detail.ends_with("BeforeAllowTraffic Succeeded"), "{:?}", history[2]);
        assert!(service.stops.borrow().is_empty());
    }

    #[tokio::test]
    async fn a_failing_gate_stops_the_deployment_and_waits_for_the_rollback_to_succeed() {
        let clock = SimClock::new();
        let service = Scripted::new(vec![
            ("d-1", vec![snap(Status::InProgress, Some(10.0))]),
            ("d-2", vec![snap(Status::InProgress, None), snap(Status::Succeeded, None)]),
        ]);
        let mut stopped = snap(Status::Stopped, Some(10.0));
        stopped.rollback_id = Some("d-2".into());
        *service.on_stop.borrow_mut() = Some(vec![snap(Status::InProgress, Some(10.0)), stopped]);
        let gate = FailsAt { looks: RefCell::new(0), fail_at: 3 };
        let (ending, history) =
            follow(&service, &gate, &clock, &follow_of("d-1", &clock), &CancellationToken::new(), |_| {}).await;
        let Ending::Stopped { cause: Cause::Gate(finding), rollback } = ending else { panic!("{ending:?}") };
        assert_eq!(finding.source, "alarm \"checkout-5xx\"");
        assert_eq!(rollback, Rollback::Confirmed { id: "d-2".into() });
        assert_eq!(*service.stops.borrow(), ["d-1"]);
        assert!(history.iter().any(|e| e.kind == EventKind::GateFailed));
        assert_eq!(
            history.last().map(|e| (e.kind, e.detail.as_str())),
            Some((EventKind::Rollback, "rollback d-2 Succeeded"))
        );
    }

    #[tokio::test]
    async fn a_deployment_the_service_rolls_back_reports_the_rollback_outcome() {
        let clock = SimClock::new();
        let mut failed = snap(Status::Stopped, Some(10.0));
        failed.error = Some("ALARM_ACTIVE: alarm checkout-5xx is in ALARM".into());
        failed.rollback_id = Some("d-2".into());
        let service = Scripted::new(vec![
            ("d-1", vec![snap(Status::InProgress, Some(10.0)), failed]),
            ("d-2", vec![snap(Status::Failed, None)]),
        ]);
        let (ending, _) =
            follow(&service, &healthy(), &clock, &follow_of("d-1", &clock), &CancellationToken::new(), |_| {}).await;
        let Ending::EndedByService { status, error, rollback } = ending else { panic!("{ending:?}") };
        assert_eq!((status, error.as_deref()), (Status::Stopped, Some("ALARM_ACTIVE: alarm checkout-5xx is in ALARM")));
        assert!(matches!(rollback, Rollback::NotConfirmed { id: Some(ref id), .. } if id == "d-2"), "{rollback:?}");
        assert!(service.stops.borrow().is_empty());
    }

    #[tokio::test]
    async fn a_rollback_named_a_moment_after_the_end_is_still_followed() {
        let clock = SimClock::new();
        let mut named = snap(Status::Stopped, Some(10.0));
        named.rollback_id = Some("d-2".into());
        let service = Scripted::new(vec![
            ("d-1", vec![snap(Status::InProgress, Some(10.0)), snap(Status::Stopped, Some(10.0)), named]),
            ("d-2", vec![snap(Status::Succeeded, None)]),
        ]);
        let (ending, _) =
            follow(&service, &healthy(), &clock, &follow_of("d-1", &clock), &CancellationToken::new(), |_| {}).await;
        assert!(matches!(ending, Ending::EndedByService { rollback: Rollback::Confirmed { .. }, .. }), "{ending:?}");
    }

    #[tokio::test]
    async fn the_deadline_and_an_interrupt_stop_the_deployment() {
        let clock = SimClock::new();
        let mut stopped = snap(Status::Stopped, Some(10.0));
        stopped.rollback_id = Some("d-2".into());
        let service = Scripted::new(vec![
            ("d-1", vec![snap(Status::InProgress, Some(10.0))]),
            ("d-2", vec![snap(Status::Succeeded, None)]),
        ]);
        *service.on_stop.borrow_mut() = Some(vec![stopped.clone()]);
        let short =
            Follow { id: "d-1", poll_interval: Duration::from_secs(1), deadline: clock.now() + Duration::from_secs(5) };
        let (ending, _) = follow(&service, &healthy(), &clock, &short, &CancellationToken::new(), |_| {}).await;
        assert!(
            matches!(ending, Ending::Stopped { cause: Cause::Timeout, rollback: Rollback::Confirmed { .. } }),
            "{ending:?}"
        );

        let service = Scripted::new(vec![
            ("d-1", vec![snap(Status::InProgress, Some(10.0))]),
            ("d-2", vec![snap(Status::Succeeded, None)]),
        ]);
        *service.on_stop.borrow_mut() = Some(vec![stopped]);
        let interrupted = CancellationToken::new();
        interrupted.cancel();
        let (ending, _) = follow(&service, &healthy(), &clock, &follow_of("d-1", &clock), &interrupted, |_| {}).await;
        assert!(
            matches!(ending, Ending::Stopped { cause: Cause::Stopped, rollback: Rollback::Confirmed { .. } }),
            "{ending:?}"
        );
    }

    #[tokio::test]
    async fn a_deployment_that_succeeds_before_the_stop_takes_effect_says_so() {
        let clock = SimClock::new();
        let service = Scripted::new(vec![("d-1", vec![snap(Status::InProgress, Some(100.0))])]);
        *service.on_stop.borrow_mut() = Some(vec![snap(Status::Succeeded, Some(100.0))]);
        let gate = FailsAt { looks: RefCell::new(0), fail_at: 1 };
        let (ending, _) =
            follow(&service, &gate, &clock, &follow_of("d-1", &clock), &CancellationToken::new(), |_| {}).await;
        assert!(matches!(ending, Ending::Stopped { cause: Cause::Gate(_), rollback: Rollback::TooLate }), "{ending:?}");
    }
}
