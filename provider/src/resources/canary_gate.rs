//! `progressive_canary_gate`: bake whatever was just deployed while watching
//! CloudWatch alarms, and fail the apply if any of them goes into ALARM.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tfplugin::log;
use tfplugin::{
    Applied, ApplyRequest, Attribute, AttributePath, Block, Diagnostics, Nesting, PlanRequest, Planned, ReadRequest,
    Resource, Schema, Type, Value,
};
use tokio_util::sync::CancellationToken;

use super::gates::{self, MetricGateSpec};
use super::{Outcome, duration_of, rfc3339, string_list_of};
use crate::Shared;
use crate::aws::metric_data::MetricData;
use crate::duration;
use crate::engine::alarms::{AlarmGate, AlarmSource, ResolveError};
use crate::engine::poller::Poller;
use crate::engine::{Bake, BakeOutcome, Both, SystemClock, bake};

pub const TYPE_NAME: &str = "progressive_canary_gate";
const MODULE: &str = "progressive.canary_gate";
const DEFAULT_POLL_INTERVAL: &str = "10s";
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Attributes whose change runs the gate again.
const INPUTS: [&str; 6] = ["triggers", "alarm_names", "metric", "on_missing_data", "duration", "poll_interval"];

pub struct CanaryGate {
    shared: Arc<Shared>,
}

impl CanaryGate {
    pub fn new(shared: Arc<Shared>) -> CanaryGate {
        CanaryGate { shared }
    }
}

pub fn schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "Bakes what was just deployed (an ECS service, a Lambda version, a rollout in another region) by watching CloudWatch alarms and metric thresholds for a while. \
             If any alarm goes into `ALARM` or a metric gate fails, the apply fails with what tripped, why and when, and the next plan runs the gate again. \
             `INSUFFICIENT_DATA` is not a failure. Every create or update runs the gate; change `triggers` to run it again for a new release. \
             Destroying the gate changes nothing in AWS.",
        )
        .attribute(Attribute::computed("id", Type::String, "Identifier of this gate, generated at creation."))
        .attribute(Attribute::optional(
            "triggers",
            Type::map(Type::String),
            "Arbitrary values (typically the image tag or version being released); any change runs the gate again, as an in-place update.",
        ))
        .attribute(Attribute::optional(
            "alarm_names",
            Type::list(Type::String),
            "Names of the CloudWatch metric or composite alarms to watch. All must exist when the gate starts; a missing one is an error before anything is watched. A gate needs alarms, `metric` blocks, or both.",
        ))
        .block("metric", Nesting::List, gates::metric_block())
        .attribute(gates::on_missing_data_attribute("the metric gates"))
        .attribute(Attribute::required(
            "duration",
            Type::String,
            "How long to watch, as a Go duration such as `\"10m\"` or `\"1h30m\"`.",
        ))
        .attribute(Attribute::defaulted(
            "poll_interval",
            Type::String,
            DEFAULT_POLL_INTERVAL,
            "How often to read the alarms, as a Go duration; at least `\"1s\"` and at most `duration`.",
        ))
        .attribute(Attribute::computed(
            "status",
            Type::String,
            "Verdict of the last run: `passed`, or `failed` when an alarm went into `ALARM` or a metric gate failed (the apply failed too).",
        ))
        .attribute(Attribute::computed("checked_at", Type::String, "When the last run reached its verdict (RFC 3339, UTC).")),
    )
}

/// The gate's inputs, read from a (planned or configured) value.
struct Inputs {
    alarm_names: Vec<String>,
    metrics: Vec<MetricGateSpec>,
    bake: Bake,
}

fn validate(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::default();
    let names = string_list_of(config.get("alarm_names"), AttributePath::root("alarm_names"), &mut d);
    let metrics = gates::metrics(config, &mut d);
    gates::on_missing_data(config, &mut d);
    if names.is_some_and(|n| n.is_empty()) && metrics.is_some_and(|m| m.is_empty()) {
        d.error_at(
            AttributePath::root("alarm_names"),
            "Nothing to watch",
            "Give alarm_names or metric blocks; a gate that watches nothing would always pass.",
        );
    }
    let duration = duration_of(config.get("duration"), AttributePath::root("duration"), &mut d);
    let poll = duration_of(config.get("poll_interval"), AttributePath::root("poll_interval"), &mut d);
    if let Some(poll) = poll
        && poll < MIN_POLL_INTERVAL
    {
        d.error_at(
            AttributePath::root("poll_interval"),
            "Poll interval too short",
            format!(
                "poll_interval must be at least 1s (it is {}), so that CloudWatch is not polled into throttling.",
                duration::format(poll)
            ),
        );
    }
    if let (Some(duration), Some(poll)) = (duration, poll)
        && poll > duration
    {
        d.error_at(
            AttributePath::root("poll_interval"),
            "Poll interval longer than the gate",
            format!(
                "poll_interval ({}) must not be longer than duration ({}).",
                duration::format(poll),
                duration::format(duration)
            ),
        );
    }
    d
}

fn inputs(value: &Value) -> Result<Inputs, Diagnostics> {
    let mut d = validate(value);
    let alarm_names =
        string_list_of(value.get("alarm_names"), AttributePath::root("alarm_names"), &mut d).unwrap_or_default();
    let metrics = gates::metrics(value, &mut Diagnostics::default()).unwrap_or_default();
    let duration = duration_of(value.get("duration"), AttributePath::root("duration"), &mut d);
    let poll_interval = duration_of(value.get("poll_interval"), AttributePath::root("poll_interval"), &mut d);
    match (duration, poll_interval) {
        (Some(duration), Some(poll_interval)) if !d.has_errors() => {
            Ok(Inputs { alarm_names, metrics, bake: Bake::fixed(duration, poll_interval) })
        }
        _ => {
            if !d.has_errors() {
                d.error(
                    "Canary gate inputs unknown at apply",
                    "duration and poll_interval must be known when the gate runs.",
                );
            }
            Err(d)
        }
    }
}

/// An input as it counts for re-running the gate. States written before
/// `metric` and `on_missing_data` existed hold null for them, which means
/// what their defaults mean; an upgrade of the provider must not re-run
/// every gate that passed.
fn input(state: &Value, name: &str) -> Value {
    match (name, state.get(name)) {
        ("metric", Value::Null) => Value::List(Vec::new()),
        ("on_missing_data", Value::Null) => gates::DEFAULT_ON_MISSING_DATA.into(),
        (_, v) => v.clone(),
    }
}

#[async_trait]
impl Resource for CanaryGate {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate(config)
    }

    async fn plan(&self, request: PlanRequest<'_>) -> Planned {
        // Defaults come from the schema, filled in by the server.
        let mut state = request.proposed.clone();
        let prior = request.prior;
        let rerun = prior.is_null()
            || prior.get("status").as_str() != Some("passed")
            || INPUTS.iter().any(|a| input(prior, a) != input(&state, a));
        if rerun {
            if prior.is_null() {
                state.set_attr("id", Value::Unknown);
            }
            state.set_attr("status", Value::Unknown);
            state.set_attr("checked_at", Value::Unknown);
        }
        Planned { state, ..Planned::default() }
    }

    async fn apply(&self, request: ApplyRequest<'_>) -> Applied {
        // A known verdict in the plan means nothing that runs the gate
        // changed: only record the settings.
        if request.planned.get("status").is_known() {
            return Applied { state: request.planned.clone(), diagnostics: Diagnostics::default() };
        }
        let inputs = match inputs(request.planned) {
            Ok(inputs) => inputs,
            Err(diagnostics) => return Applied { state: request.prior.clone(), diagnostics },
        };
        let clients = match self.shared.clients() {
            Ok(clients) => clients,
            Err(diagnostics) => return Applied { state: request.prior.clone(), diagnostics },
        };
        let id = match request.prior.get("id").as_str() {
            Some(id) => id.to_owned(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let outcome = run(clients.alarms.clone(), &clients.metrics, inputs, &id, request.stop).await;
        outcome.into_applied(request.prior, request.planned, &id)
    }

    async fn read(&self, request: ReadRequest<'_>) -> Result<Value, Diagnostics> {
        // A gate has nothing in AWS to drift: its state is the last verdict.
        Ok(request.state.clone())
    }

    async fn import(&self, _id: &str, _stop: &CancellationToken) -> Result<Value, Diagnostics> {
        Err(Diagnostics::single(
            "progressive_canary_gate cannot be imported",
            "A canary gate has no object in AWS to import. Add the resource to the configuration and apply: that runs the gate.",
        ))
    }
}

/// Resolves the alarms and bakes, logging progress.
async fn run(
    source: impl AlarmSource,
    metric_reader: &Arc<Poller<MetricData>>,
    inputs: Inputs,
    id: &str,
    stop: &CancellationToken,
) -> Outcome {
    let Inputs { alarm_names, metrics, bake: plan } = inputs;
    let (alarms, initial) = match AlarmGate::resolve(source, alarm_names).await {
        Ok(resolved) => resolved,
        Err(ResolveError::Missing(missing)) => {
            return Outcome::NotStarted(Diagnostics::single_at(
                AttributePath::root("alarm_names"),
                "Alarms not found",
                format!(
                    "CloudWatch has no alarm named {}. Nothing was watched. Check the names and the provider's region.",
                    missing.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Err(ResolveError::Source(e)) => {
            return Outcome::NotStarted(Diagnostics::single("Could not read the alarms", e.0));
        }
    };
    let states: Vec<_> = initial.iter().map(|a| format!("{}={:?}", a.name, a.state)).collect();
    log::info(
        MODULE,
        "canary gate watching alarms",
        &[
            ("gate", id.into()),
            ("alarms", states.join(", ").into()),
            ("duration", duration::format(plan.duration).into()),
            ("poll_interval", duration::format(plan.poll_interval).into()),
        ],
    );
    let mut next_report = Duration::from_secs(60);
    let metrics: Vec<_> = metrics.iter().map(|m| m.gate(metric_reader)).collect();
    let gate = Both(alarms, Some(metrics));
    let outcome = bake(&SystemClock, &gate, plan, stop, |p| {
        log::debug(MODULE, "alarms checked", &[("gate", id.into()), ("checks", p.checks.into())]);
        if p.elapsed >= next_report {
            next_report += Duration::from_secs(60);
            log::info(
                MODULE,
                "canary gate still healthy",
                &[
                    ("gate", id.into()),
                    ("elapsed", duration::format(p.elapsed).into()),
                    ("of", duration::format(plan.duration).into()),
                ],
            );
        }
    })
    .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            return Outcome::Errored(Diagnostics::single(
                "Canary gate could not read the alarms",
                format!("{} The gate reached no verdict; the next plan runs it again.", e.0),
            ));
        }
    };
    log::info(MODULE, "canary gate finished", &[("gate", id.into()), ("outcome", format!("{outcome:?}").into())]);
    match outcome {
        BakeOutcome::Passed { .. } => Outcome::Passed,
        BakeOutcome::Failed { finding, elapsed } => {
            let since = finding.since.map(|t| format!(" since {}", rfc3339(t))).unwrap_or_default();
            let (is, has_been) = if finding.source.starts_with("alarm") {
                ("is in ALARM", "has been in ALARM")
            } else {
                ("is failing", "is failing")
            };
            Outcome::Failed(Diagnostics::single(
                format!("Canary gate failed: {} {is}", finding.source),
                format!(
                    "{} {has_been}{since}: {}\n\nThe gate failed after {} of {}. The state keeps the previous triggers, so the next plan runs this gate again.",
                    finding.source,
                    finding.reason,
                    duration::format(elapsed),
                    duration::format(plan.duration)
                ),
            ))
        }
        // Alarm gates are never pending, so this is only for completeness.
        BakeOutcome::Undecided { reason, .. } => Outcome::Errored(Diagnostics::single(
            "Canary gate reached no verdict",
            format!(
                "{reason} when the {} gate ended, and on_missing_data is \"wait\": no evidence is not a pass. The next plan runs the gate again.",
                duration::format(plan.duration)
            ),
        )),
        BakeOutcome::Interrupted { elapsed } => Outcome::Errored(Diagnostics::single(
            "Canary gate interrupted",
            format!(
                "Terraform was interrupted {} into a {} gate; no verdict was reached. The state is unchanged, so the next plan runs the gate again.",
                duration::format(elapsed),
                duration::format(plan.duration)
            ),
        )),
    }
}

impl Outcome {
    fn into_applied(self, prior: &Value, planned: &Value, id: &str) -> Applied {
        let verdict = |status: &str| {
            let mut state = planned.clone();
            state.set_attr("id", id.into());
            state.set_attr("status", status.into());
            state.set_attr("checked_at", rfc3339(time::OffsetDateTime::now_utc()).into());
            state
        };
        match self {
            Outcome::Passed => Applied { state: verdict("passed"), diagnostics: Diagnostics::default() },
            Outcome::Failed(diagnostics) => {
                let mut state = verdict("failed");
                // Previous triggers, so the next plan shows the gate again.
                state.set_attr("triggers", prior.get("triggers").clone());
                Applied { state, diagnostics }
            }
            Outcome::NotStarted(diagnostics) | Outcome::Errored(diagnostics) => {
                Applied { state: prior.clone(), diagnostics }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(attrs: &[(&str, Value)]) -> Value {
        let mut v = Value::null_object(&schema().ty());
        v.set_attr("alarm_names", Value::List(vec!["a".into()]));
        v.set_attr("duration", "1m".into());
        for (k, val) in attrs {
            v.set_attr(k, val.clone());
        }
        v
    }

    fn error_paths(d: &Diagnostics) -> Vec<String> {
        d.0.iter().map(|d| d.attribute.as_ref().map(ToString::to_string).unwrap_or_default()).collect()
    }

    #[test]
    fn bad_inputs_are_reported_on_their_attribute() {
        assert!(validate(&config(&[])).is_empty());
        assert_eq!(
            error_paths(&validate(&config(&[("alarm_names", Value::List(vec![])), ("metric", Value::List(vec![]))]))),
            ["alarm_names"]
        );
        assert_eq!(error_paths(&validate(&config(&[("duration", "ten minutes".into())]))), ["duration"]);
        assert_eq!(error_paths(&validate(&config(&[("poll_interval", "500ms".into())]))), ["poll_interval"]);
        assert_eq!(error_paths(&validate(&config(&[("poll_interval", "2m".into())]))), ["poll_interval"]);
        assert_eq!(
            error_paths(&validate(&config(&[("alarm_names", Value::List(vec!["".into()]))]))),
            ["alarm_names[0]"]
        );
        assert_eq!(
            error_paths(&validate(&config(&[("alarm_names", Value::List(vec!["a".into(), "x".repeat(256).into()]))]))),
            ["alarm_names[1]"]
        );
        assert_eq!(
            error_paths(&validate(&config(&[("alarm_names", Value::List(vec!["a".into(), "a".into()]))]))),
            ["alarm_names[1]"]
        );
    }

    #[test]
    fn unknown_values_pass_validation() {
        let v = config(&[("duration", Value::Unknown), ("alarm_names", Value::Unknown)]);
        assert!(validate(&v).is_empty());
    }

    async fn plan(prior: &Value, config: &Value) -> Value {
        let gate = CanaryGate::new(Arc::new(Shared::default()));
        let mut proposed = config.clone();
        for a in ["id", "status", "checked_at"] {
            proposed.set_attr(a, prior.get(a).clone());
        }
        schema().block.apply_defaults(config, &mut proposed);
        gate.plan(PlanRequest { prior, proposed: &proposed, config }).await.state
    }

    #[tokio::test]
    async fn create_plans_unknown_verdict_and_default_poll_interval() {
        let planned = plan(&Value::Null, &config(&[])).await;
        assert_eq!(planned.get("poll_interval"), &Value::from("10s"));
        assert_eq!(planned.get("status"), &Value::Unknown);
        assert_eq!(planned.get("id"), &Value::Unknown);
    }

    #[tokio::test]
    async fn unchanged_passed_gate_plans_no_change_and_failed_gate_reruns() {
        // A state from before `metric` and `on_missing_data` existed.
        let mut prior = config(&[
            ("poll_interval", "10s".into()),
            ("id", "g".into()),
            ("status", "passed".into()),
            ("checked_at", "t".into()),
        ]);
        let unchanged = plan(&prior, &config(&[("metric", Value::List(Vec::new()))])).await;
        assert_eq!(unchanged.get("status"), &Value::from("passed"), "no re-run");
        assert_eq!(unchanged.get("on_missing_data"), &Value::from("wait"));
        let retriggered =
            plan(&prior, &config(&[("triggers", Value::Map([("image".to_owned(), "v2".into())].into()))])).await;
        assert_eq!(retriggered.get("status"), &Value::Unknown);
        assert_eq!(retriggered.get("id"), &Value::from("g"));
        prior.set_attr("status", "failed".into());
        assert_eq!(plan(&prior, &config(&[])).await.get("status"), &Value::Unknown);
    }

    #[test]
    fn a_failed_update_keeps_the_previous_triggers() {
        let prior = config(&[("triggers", Value::Map([("image".to_owned(), "v1".into())].into()))]);
        let planned = config(&[("triggers", Value::Map([("image".to_owned(), "v2".into())].into()))]);
        let applied = Outcome::Failed(Diagnostics::single("x", "y")).into_applied(&prior, &planned, "g");
        assert_eq!(applied.state.get("status"), &Value::from("failed"));
        assert_eq!(applied.state.get("triggers"), prior.get("triggers"));
        assert!(applied.diagnostics.has_errors());
        let interrupted = Outcome::Errored(Diagnostics::single("x", "y")).into_applied(&Value::Null, &planned, "g");
        assert_eq!(interrupted.state, Value::Null, "an interrupted create leaves nothing in state");
    }
}
