//! `progressive_rollout`: move an ALB listener's (or rule's) traffic to a new
//! target group step by step inside `terraform apply`, watching alarms, and
//! roll back by itself.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tfplugin::log;
use tfplugin::{
    Applied, ApplyRequest, Attribute, AttributePath, Block, Diagnostics, Nesting, PlanRequest, Planned, ReadRequest,
    Resource, Schema, Type, Value,
};
use tokio_util::sync::CancellationToken;

use super::gates::{self, DEFAULT_ON_MISSING_DATA, MetricGateSpec};
use super::{duration_of, rfc3339, step_percent_of, string_list_of};
use crate::Shared;
use crate::aws::Clients;
use crate::aws::cloudwatch::AlbGroupMetrics;
use crate::aws::metric_data::MetricData;
use crate::aws::elbv2::{AlbError, AlbRouter};
use crate::duration;
use crate::engine::alarms::{AlarmGate, ResolveError};
use crate::engine::analysis::{AnalysisGate, AnalysisSettings};
use crate::engine::lease::{self, LeaseRecord};
use crate::engine::poller::Poller;
use crate::engine::rollout::{self, Cause, Event, Outcome, Rollout};
use crate::engine::schedule::{Schedule, Step, Strategy};
use crate::engine::traffic::{Split, TrafficRouter};
use crate::engine::{Both, Clock, Gate, SystemClock};

pub const TYPE_NAME: &str = "progressive_rollout";
const MODULE: &str = "progressive.rollout";
const DEFAULT_POLL_INTERVAL: &str = "10s";
const DEFAULT_FINAL_BAKE: &str = "0s";
const DEFAULT_ANALYSIS_METRIC: &str = "5xx";
/// Defaults of the `analysis` block's attributes, filled in at plan time.
const ANALYSIS_DEFAULTS: [(&str, AnalysisDefault); 5] = [
    ("metric", AnalysisDefault::Text(DEFAULT_ANALYSIS_METRIC)),
    ("max_increase", AnalysisDefault::Decimal("0.25")),
    ("confidence", AnalysisDefault::Decimal("0.99")),
    ("min_requests", AnalysisDefault::Decimal("200")),
    ("period", AnalysisDefault::Text("60s")),
];

enum AnalysisDefault {
    Text(&'static str),
    Decimal(&'static str),
}

impl AnalysisDefault {
    fn value(&self) -> Value {
        match self {
            AnalysisDefault::Text(t) => (*t).into(),
            AnalysisDefault::Decimal(d) => tfplugin::Number::parse(d).map_or(Value::Null, Value::Number),
        }
    }
}
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The tag on the listener or rule that holds the rollout lease.
pub const LEASE_TAG: &str = "progressive:rollout-lease";

const STRATEGIES: [&str; 3] = ["canary", "linear", "step"];

pub struct RolloutResource {
    shared: Arc<Shared>,
}

impl RolloutResource {
    pub fn new(shared: Arc<Shared>) -> RolloutResource {
        RolloutResource { shared }
    }
}

fn schedule_type() -> Type {
    Type::list(Type::object([("percent", Type::Number), ("bake", Type::String)]))
}

fn history_type() -> Type {
    Type::list(Type::object([("at", Type::String), ("percent", Type::Number), ("event", Type::String), ("detail", Type::String)]))
}

pub fn schema() -> Schema {
    let step_fields = |percent: &str, percent_doc: &str, bake: &str, bake_doc: &str| {
        Block::new("")
            .attribute(Attribute::required(percent, Type::Number, percent_doc))
            .attribute(Attribute::required(bake, Type::String, bake_doc))
    };
    let mut canary = step_fields("percent", "Share of traffic the canary gets, 1 to 99.", "bake", "How long to watch the canary before going to 100%, as a Go duration.");
    canary.description = "Shift `percent` of traffic, bake, then shift the rest (like CodeDeploy's `Canary10Percent5Minutes`).".into();
    let mut linear = step_fields("step_percent", "Increment, 1 to 99; steps are `step_percent`, twice that, ... below 100, then 100.", "interval", "Bake at each step, as a Go duration.");
    linear.description = "Shift traffic in equal increments (like CodeDeploy's `Linear10PercentEvery1Minute`).".into();
    let mut step = step_fields("percent", "Share of traffic on the target during this step, 1 to 99; strictly increasing from step to step.", "bake", "How long to watch this step, as a Go duration.");
    step.description = "One step of a custom schedule; repeat the block for each step. 100% follows the last step.".into();
    Schema::new(
        0,
        Block::new(
            "Moves the traffic of an Application Load Balancer listener (or one of its rules) to a new target group, step by step, inside `terraform apply`. \
             During every step it watches CloudWatch alarms; if one goes into `ALARM`, the rollout runs past its timeout, or Terraform is interrupted, all traffic goes back to the origin at once, \
             the apply fails with what tripped, and the state records the origin, so the next plan shows the rollout again. \
             With no strategy block, traffic moves all at once (blue/green). Destroying the resource leaves traffic as it is.",
        )
        .attribute(Attribute::computed("id", Type::String, "The ARN of the listener rule, or of the listener when no rule is set."))
        .required_block(
            "alb",
            Block::new("The load balancer routing to shift.")
                .attribute(Attribute::required("listener_arn", Type::String, "ARN of the listener. Changing it replaces the resource."))
                .attribute(Attribute::optional("rule_arn", Type::String, "ARN of a rule of that listener; when set, the rule's forward action is shifted instead of the listener's default action. Changing it replaces the resource."))
                .attribute(Attribute::required("target_group_arn", Type::String, "The target group that serves 100% when the rollout is done. Whatever serves now is the origin, read from AWS. After a rollback, the state holds the origin here.")),
        )
        .block("canary", Nesting::Single, canary)
        .block("linear", Nesting::Single, linear)
        .block("step", Nesting::List, step)
        .attribute(Attribute::defaulted("final_bake", Type::String, DEFAULT_FINAL_BAKE, "How long to keep watching at 100%, as a Go duration. A failing alarm during the final bake still rolls back."))
        .attribute(Attribute::optional("alarm_names", Type::list(Type::String), "CloudWatch metric or composite alarms that gate every step. All must exist before anything moves. `INSUFFICIENT_DATA` is not a failure."))
        .attribute(Attribute::defaulted("poll_interval", Type::String, DEFAULT_POLL_INTERVAL, "How often to read the alarms (and the analysis metrics) during a bake, as a Go duration; at least `\"1s\"`."))
        .block(
            "analysis",
            Nesting::Single,
            Block::new("Judge the canary against the baseline while both serve: the new target group's error rate against the origin's, from the load balancer's own per-target-group metrics (`RequestCount` and the error count). The judgement is anytime-valid: however often it looks, the chance of rolling back a canary that is not worse than `max_increase` allows is at most `1 - confidence` for the whole rollout. See docs/analysis.md for the method and its measured numbers.")
                .attribute(Attribute::defaulted("metric", Type::String, DEFAULT_ANALYSIS_METRIC, "What counts as an error: `5xx` (`HTTPCode_Target_5XX_Count`) or `4xx` (`HTTPCode_Target_4XX_Count`). The load balancer's own 5xx (`elb_5xx`) cannot be judged here: CloudWatch publishes it per load balancer, not per target group; watch it with an alarm or a `metric` block."))
                .attribute(Attribute::defaulted("max_increase", Type::Number, "0.25", "Tolerated relative increase of the canary's error rate over the baseline's (0.25: up to 1.25 times)."))
                .attribute(Attribute::defaulted("confidence", Type::Number, "0.99", "Between 0.5 and 1: a canary within tolerance is rolled back with probability at most `1 - confidence`."))
                .attribute(Attribute::defaulted("min_requests", Type::Number, "200", "No step passes before the canary has served this many requests (over the rollout so far)."))
                .attribute(Attribute::defaulted("period", Type::String, "60s", "Metric period, as a Go duration: 1s, 5s, 10s, 30s or a multiple of 60s. A period is read once it has been over for one more period. Load balancers publish these metrics once a minute, so against AWS use 60s or more; shorter periods are for sources that publish faster, such as the local emulator's traffic simulator.")),
        )
        .block("metric", Nesting::List, gates::metric_block())
        .attribute(gates::on_missing_data_attribute("the analysis and the metric gates"))
        .block(
            "timeouts",
            Nesting::Single,
            Block::new("How long a rollout may take before it rolls back.")
                .attribute(Attribute::optional("create", Type::String, "For creation, as a Go duration. Defaults to `60m`."))
                .attribute(Attribute::optional("update", Type::String, "For updates, as a Go duration. Defaults to `60m`.")),
        )
        .attribute(Attribute::computed("status", Type::String, "`promoted` (the target serves all traffic), `rolled_back` (a gate, an error or the timeout sent traffic back to the origin) or `interrupted` (Terraform was interrupted and traffic went back to the origin)."))
        .attribute(Attribute::computed("previous_target_group_arn", Type::String, "The group that served before the last promotion."))
        .attribute(Attribute::computed("traffic", Type::map(Type::Number), "Share of traffic per target group ARN, in percent, as read from AWS."))
        .attribute(Attribute::computed("schedule", schedule_type(), "The steps the rollout takes (`percent`, `bake`), known at plan time so that `terraform plan` shows them."))
        .attribute(Attribute::computed("history", history_type(), "What the last apply did: every shift, bake, gate failure and rollback, with time (`at`), the target's share (`percent`), `event` and `detail`."))
        .attribute(Attribute::computed("rollback_reason", Type::String, "Why the last rollout rolled back; null when it was promoted.")),
    )
}

/// Everything a rollout needs from its configuration, all known.
struct Config {
    listener_arn: String,
    rule_arn: Option<String>,
    target: String,
    schedule: Schedule,
    alarm_names: Vec<String>,
    poll_interval: Duration,
    analysis: Option<AnalysisSettings>,
    metrics: Vec<MetricGateSpec>,
    create_timeout: Duration,
    update_timeout: Duration,
}

fn arn_kind_check(value: &Value, at: AttributePath, kind: &str, what: &str, d: &mut Diagnostics) {
    if let Some(arn) = value.as_str() {
        if !(arn.starts_with("arn:") && arn.contains(&format!(":{kind}/"))) {
            d.error_at(at, format!("Not a {what} ARN"), format!("{arn:?} is not the ARN of a {what} (arn:...:{kind}/...)."));
        }
    }
}

/// Checks every field it can and reads the strategy. `None` when something
/// is unknown or invalid (then `d` says what is invalid).
fn strategy(config: &Value, d: &mut Diagnostics) -> Option<Strategy> {
    let present: Vec<&str> = STRATEGIES
        .iter()
        .copied()
        .filter(|s| match config.get(s) {
            Value::List(items) => !items.is_empty(),
            v => !v.is_null(),
        })
        .collect();
    if present.len() > 1 {
        d.error_at(
            AttributePath::root(present[1]),
            "Only one strategy",
            format!("Use one of canary, linear or step blocks, not {}.", present.join(" and ")),
        );
        return None;
    }
    match present.first().copied() {
        None => Some(Strategy::AllAtOnce),
        Some("canary") => {
            let c = config.get("canary");
            let percent = step_percent_of(c.get("percent"), AttributePath::root("canary").attribute("percent"), d);
            let bake = duration_of(c.get("bake"), AttributePath::root("canary").attribute("bake"), d);
            Some(Strategy::Canary { percent: percent?, bake: bake? })
        }
        Some("linear") => {
            let l = config.get("linear");
            let step_percent = step_percent_of(l.get("step_percent"), AttributePath::root("linear").attribute("step_percent"), d);
            let interval = duration_of(l.get("interval"), AttributePath::root("linear").attribute("interval"), d);
            Some(Strategy::Linear { step_percent: step_percent?, interval: interval? })
        }
        Some(_) => {
            let Some(items) = config.get("step").elements() else { return None };
            let mut steps = Vec::with_capacity(items.len());
            let mut complete = true;
            for (i, item) in items.iter().enumerate() {
                let at = || AttributePath::root("step").index(i);
                let percent = step_percent_of(item.get("percent"), at().attribute("percent"), d);
                let bake = duration_of(item.get("bake"), at().attribute("bake"), d);
                if let (Some(p), Some(previous)) = (percent, steps.last().map(|s: &Step| s.percent)) {
                    if p <= previous {
                        d.error_at(at().attribute("percent"), "Steps must increase", format!("step {} sends {p}%, not more than the {previous}% of the step before it.", i + 1));
                    }
                }
                match (percent, bake) {
                    (Some(percent), Some(bake)) => steps.push(Step { percent, bake }),
                    _ => complete = false,
                }
            }
            complete.then_some(Strategy::Steps(steps))
        }
    }
}

/// The schedule, if everything it depends on is known and valid.
fn schedule(config: &Value, d: &mut Diagnostics) -> Option<Schedule> {
    let strategy = strategy(config, d);
    let final_bake = duration_of(config.get("final_bake"), AttributePath::root("final_bake"), d);
    Schedule::new(&strategy?, final_bake?).ok()
}

fn validate(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::default();
    let alb = config.get("alb");
    arn_kind_check(alb.get("listener_arn"), AttributePath::root("alb").attribute("listener_arn"), "listener", "listener", &mut d);
    arn_kind_check(alb.get("rule_arn"), AttributePath::root("alb").attribute("rule_arn"), "listener-rule", "listener rule", &mut d);
    arn_kind_check(alb.get("target_group_arn"), AttributePath::root("alb").attribute("target_group_arn"), "targetgroup", "target group", &mut d);
    schedule(config, &mut d);
    string_list_of(config.get("alarm_names"), AttributePath::root("alarm_names"), &mut d);
    if let Some(poll) = duration_of(config.get("poll_interval"), AttributePath::root("poll_interval"), &mut d) {
        if poll < MIN_POLL_INTERVAL {
            d.error_at(AttributePath::root("poll_interval"), "Poll interval too short", format!("poll_interval must be at least 1s (it is {}).", duration::format(poll)));
        }
    }
    if analysis(config, &mut d).is_some() && matches!(strategy(config, &mut Diagnostics::default()), Some(Strategy::AllAtOnce)) {
        d.error_at(
            AttributePath::root("analysis"),
            "Analysis needs a canary",
            "The analysis compares the new target group with the origin while both serve. Moving all traffic at once leaves no baseline to compare with; add a canary, linear or step block.",
        );
    }
    gates::metrics(config, &mut d);
    for which in ["create", "update"] {
        let at = AttributePath::root("timeouts").attribute(which);
        if duration_of(config.get("timeouts").get(which), at.clone(), &mut d) == Some(Duration::ZERO) {
            d.error_at(at, "Timeout of zero", "A rollout needs time; give a positive duration or leave the timeout out.");
        }
    }
    d
}

/// The analysis settings, if the block is present and fully known; errors
/// go to `d` on their attribute.
fn analysis(config: &Value, d: &mut Diagnostics) -> Option<AnalysisSettings> {
    let block = config.get("analysis");
    let at = |name: &str| AttributePath::root("analysis").attribute(name);
    let on_missing_data = gates::on_missing_data(config, d);
    if block.is_null() {
        return None;
    }
    let text_or = |name: &str, default: &'static str| match block.get(name) {
        Value::Null => Some(default.to_owned()),
        v => v.as_str().map(str::to_owned),
    };
    let number_or = |name: &str, default: f64| match block.get(name) {
        Value::Null => Some(default),
        v => v.as_number().map(tfplugin::Number::as_f64),
    };
    let error_metric = text_or("metric", DEFAULT_ANALYSIS_METRIC).and_then(|m| match m.as_str() {
        "5xx" | "4xx" => Some(m),
        "elb_5xx" => {
            d.error_at(at("metric"), "Invalid metric", "elb_5xx (HTTPCode_ELB_5XX_Count) is published per load balancer, not per target group, so it cannot tell the canary from the baseline. Use 5xx or 4xx here, and watch the load balancer's own 5xx with an alarm or a `metric` block; a canary that refuses connections shows in TargetConnectionErrorCount, which is published per target group.");
            None
        }
        other => {
            d.error_at(at("metric"), "Invalid metric", format!("metric must be \"5xx\" or \"4xx\", not {other:?}."));
            None
        }
    });
    let max_increase = number_or("max_increase", 0.25).filter(|m| {
        let ok = (0.0..=100.0).contains(m);
        if !ok {
            d.error_at(at("max_increase"), "Invalid max_increase", format!("max_increase must be from 0 to 100, not {m}."));
        }
        ok
    });
    let confidence = number_or("confidence", 0.99).filter(|c| {
        let ok = 0.5 < *c && *c < 1.0;
        if !ok {
            d.error_at(at("confidence"), "Invalid confidence", format!("confidence must be above 0.5 and below 1 (such as 0.99), not {c}."));
        }
        ok
    });
    let min_requests = match block.get("min_requests") {
        Value::Null => Some(200),
        v => v.as_number().and_then(|n| match n.as_i64() {
            Some(n) if n >= 0 => Some(n as u64),
            _ => {
                d.error_at(at("min_requests"), "Invalid min_requests", format!("min_requests must be a whole number of at least 0, not {n}."));
                None
            }
        }),
    };
    let period = gates::period_of(block.get("period"), at("period"), Duration::from_secs(60), d);
    Some(AnalysisSettings {
        label: error_metric?,
        max_increase: max_increase?,
        confidence: confidence?,
        min_requests: min_requests?,
        period: period?,
        on_missing_data,
    })
}

fn parse(value: &Value) -> Result<Config, Diagnostics> {
    let mut d = validate(value);
    let schedule = schedule(value, &mut Diagnostics::default());
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let alb = value.get("alb");
    let timeout = |which: &str| duration::parse(value.get("timeouts").get(which).as_str().unwrap_or("60m")).unwrap_or(DEFAULT_TIMEOUT);
    let poll_interval = value.get("poll_interval").as_str().and_then(|p| duration::parse(p).ok());
    match (text(alb.get("listener_arn")), text(alb.get("target_group_arn")), schedule, poll_interval) {
        (Some(listener_arn), Some(target), Some(schedule), Some(poll_interval)) if !d.has_errors() => Ok(Config {
            listener_arn,
            rule_arn: text(alb.get("rule_arn")),
            target,
            schedule,
            alarm_names: string_list_of(value.get("alarm_names"), AttributePath::root("alarm_names"), &mut d).unwrap_or_default(),
            poll_interval,
            analysis: analysis(value, &mut Diagnostics::default()),
            metrics: gates::metrics(value, &mut Diagnostics::default()).unwrap_or_default(),
            create_timeout: timeout("create"),
            update_timeout: timeout("update"),
        }),
        _ => {
            if !d.has_errors() {
                d.error("Rollout inputs unknown at apply", "Every input of the rollout must be known when it runs.");
            }
            Err(d)
        }
    }
}

fn schedule_value(schedule: &Schedule) -> Value {
    Value::List(
        schedule
            .steps()
            .iter()
            .map(|s| Value::object([("percent", i64::from(s.percent).into()), ("bake", duration::format(s.bake).into())]))
            .collect(),
    )
}

fn traffic_value(split: &Split) -> Value {
    Value::Map(split.percentages().into_iter().map(|(arn, p)| (arn, i64::from(p).into())).collect())
}

fn history_value(history: &[Event]) -> Value {
    Value::List(
        history
            .iter()
            .map(|e| {
                Value::object([
                    ("at", rfc3339(e.at).into()),
                    ("percent", i64::from(e.percent).into()),
                    ("event", e.kind.as_str().into()),
                    ("detail", e.detail.clone().into()),
                ])
            })
            .collect(),
    )
}

/// A target group's name for messages: `web-blue` from
/// `arn:...:targetgroup/web-blue/73e2d6bc24d8a067`.
fn group_name(arn: &str) -> String {
    match arn.split_once(":targetgroup/") {
        Some((_, rest)) => format!("target group {}", rest.split('/').next().unwrap_or(rest)),
        None => arn.to_owned(),
    }
}

/// CloudWatch's `LoadBalancer` dimension (`app/<name>/<id>`) from a
/// listener ARN (`...:listener/app/<name>/<id>/<listener id>`).
fn load_balancer_dimension(listener_arn: &str) -> String {
    let resource = listener_arn.split_once(":listener/").map_or(listener_arn, |(_, r)| r);
    resource.rsplit_once('/').map_or(resource, |(lb, _)| lb).to_owned()
}

/// CloudWatch's `TargetGroup` dimension (`targetgroup/<name>/<id>`).
fn target_group_dimension(arn: &str) -> String {
    arn.split_once(":targetgroup/").map_or_else(|| arn.to_owned(), |(_, r)| format!("targetgroup/{r}"))
}

/// The group that serves everything, if one does.
fn sole_server(split: &Split) -> Option<String> {
    let mut serving = split.serving();
    match (serving.next(), serving.next()) {
        (Some(one), None) => Some(one.to_owned()),
        _ => None,
    }
}

/// The `traffic` attribute a state should have when `target` serves all.
fn all_on(target: &Value) -> Option<Value> {
    target.as_str().map(|t| traffic_value(&Split::all_to(t)))
}

fn alb_value(listener: &str, rule: Option<&str>, target: &str) -> Value {
    Value::object([("listener_arn", listener.into()), ("rule_arn", rule.map(str::to_owned).into()), ("target_group_arn", target.into())])
}

#[async_trait]
impl Resource for RolloutResource {
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
        let (prior, config) = (request.prior, request.config);
        let mut state = request.proposed.clone();
        for (name, default) in [("poll_interval", DEFAULT_POLL_INTERVAL), ("final_bake", DEFAULT_FINAL_BAKE), ("on_missing_data", DEFAULT_ON_MISSING_DATA)] {
            if config.get(name).is_null() {
                state.set_attr(name, default.into());
            }
        }
        if let Value::Object(mut block) = config.get("analysis").clone() {
            for (name, default) in &ANALYSIS_DEFAULTS {
                if block.get(*name).is_none_or(Value::is_null) {
                    block.insert((*name).to_owned(), default.value());
                }
            }
            state.set_attr("analysis", Value::Object(block));
        }
        state.set_attr("schedule", schedule(&state, &mut Diagnostics::default()).as_ref().map_or(Value::Unknown, schedule_value));
        let alb = config.get("alb");
        let id = if alb.get("rule_arn").is_null() { alb.get("listener_arn") } else { alb.get("rule_arn") };
        state.set_attr("id", if id.is_known() { id.clone() } else { Value::Unknown });

        let mut requires_replace = Vec::new();
        if !prior.is_null() {
            for name in ["listener_arn", "rule_arn"] {
                if prior.get("alb").get(name) != alb.get(name) {
                    requires_replace.push(AttributePath::root("alb").attribute(name));
                }
            }
        }
        // Traffic moves when the target differs from what serves, or when the
        // last read found traffic split or elsewhere.
        let target = alb.get("target_group_arn");
        let moves = prior.is_null()
            || !requires_replace.is_empty()
            || !target.is_known()
            || prior.get("alb").get("target_group_arn") != target
            || all_on(target).as_ref() != Some(prior.get("traffic"));
        if moves {
            for name in ["status", "previous_target_group_arn", "traffic", "history", "rollback_reason"] {
                state.set_attr(name, Value::Unknown);
            }
        }
        Planned { state, requires_replace, ..Planned::default() }
    }

    async fn apply(&self, request: ApplyRequest<'_>) -> Applied {
        let config = match parse(request.planned) {
            Ok(config) => config,
            Err(diagnostics) => return Applied { state: request.prior.clone(), diagnostics },
        };
        let clients = match self.shared.clients() {
            Ok(clients) => clients,
            Err(diagnostics) => return Applied { state: request.prior.clone(), diagnostics },
        };
        // The plan decided whether traffic moves: a known `traffic` means
        // only settings changed, and the apply must not move anything.
        if request.planned.get("traffic").is_known() {
            return Applied { state: request.planned.clone(), diagnostics: Diagnostics::default() };
        }
        let router = AlbRouter::new(clients.elbv2.clone(), config.listener_arn.clone(), config.rule_arn.clone());
        match run(&router, &clients, &config, request.prior, request.stop).await {
            Ok(done) => done.into_applied(request.planned, request.prior, &config, &router),
            Err(diagnostics) => Applied { state: request.prior.clone(), diagnostics },
        }
    }

    async fn read(&self, request: ReadRequest<'_>) -> Result<Value, Diagnostics> {
        let state = request.state;
        let clients = self.shared.clients()?;
        let alb = state.get("alb");
        let (Some(listener), Some(target)) = (alb.get("listener_arn").as_str(), alb.get("target_group_arn").as_str()) else {
            return Ok(state.clone());
        };
        let router = AlbRouter::new(clients.elbv2.clone(), listener.to_owned(), alb.get("rule_arn").as_str().map(str::to_owned));
        let split = match router.split().await {
            Ok(split) => split,
            // Gone: Terraform drops it from state and plans to create it.
            Err(AlbError::ListenerNotFound(_) | AlbError::RuleNotFound(_)) => return Ok(Value::Null),
            Err(e) => return Err(Diagnostics::single("Cannot read the rollout's routing", e.to_string())),
        };
        let mut fresh = state.clone();
        // A split, or a lease tag left on the router (an apply that was
        // killed, even after it reached 100% but before its final bake
        // ended), keeps the recorded target: the traffic attribute shows
        // what serves, and the next plan resumes the rollout.
        let unfinished = router.tag(LEASE_TAG).await.map_err(|e| Diagnostics::single("Cannot read the rollout's routing", e.to_string()))?.is_some();
        let serving = sole_server(&split).filter(|_| !unfinished).unwrap_or_else(|| target.to_owned());
        fresh.set_attr("alb", alb_value(listener, alb.get("rule_arn").as_str(), &serving));
        fresh.set_attr("traffic", traffic_value(&split));
        Ok(fresh)
    }

    async fn import(&self, id: &str, _stop: &CancellationToken) -> Result<Value, Diagnostics> {
        let clients = self.shared.clients()?;
        let (listener, rule) = if id.contains(":listener-rule/") {
            // arn:...:listener-rule/app/<lb>/<lb-id>/<listener-id>/<rule-id> belongs to
            // arn:...:listener/app/<lb>/<lb-id>/<listener-id>.
            let listener = id.replacen(":listener-rule/", ":listener/", 1);
            let listener = listener.rsplit_once('/').map(|(l, _)| l.to_owned()).unwrap_or(listener);
            (listener, Some(id.to_owned()))
        } else if id.contains(":listener/") {
            (id.to_owned(), None)
        } else {
            return Err(Diagnostics::single("Cannot import", format!("{id:?} is neither a listener ARN nor a listener rule ARN.")));
        };
        let router = AlbRouter::new(clients.elbv2.clone(), listener.clone(), rule.clone());
        let split = router.split().await.map_err(|e| Diagnostics::single("Cannot import", e.to_string()))?;
        // The group with the most traffic is taken as the target.
        let Some((target, _)) = split.0.iter().max_by_key(|(arn, w)| (**w, std::cmp::Reverse((*arn).clone()))) else {
            return Err(Diagnostics::single("Cannot import", format!("{} forwards to no target group.", router.describe())));
        };
        let schedule = Schedule::new(&Strategy::AllAtOnce, Duration::ZERO).map_err(|e| Diagnostics::single("Cannot import", e.to_string()))?;
        let mut state = Value::null_object(&schema().ty());
        state.set_attr("id", id.into());
        state.set_attr("alb", alb_value(&listener, rule.as_deref(), target));
        state.set_attr("final_bake", DEFAULT_FINAL_BAKE.into());
        state.set_attr("poll_interval", DEFAULT_POLL_INTERVAL.into());
        state.set_attr("on_missing_data", DEFAULT_ON_MISSING_DATA.into());
        state.set_attr("schedule", schedule_value(&schedule));
        state.set_attr("status", (if sole_server(&split).is_some() { "promoted" } else { "interrupted" }).into());
        state.set_attr("traffic", traffic_value(&split));
        state.set_attr("history", Value::List(Vec::new()));
        state.set_attr("step", Value::List(Vec::new()));
        Ok(state)
    }
}

/// What an apply did to traffic.
enum Done {
    /// The target already served everything; nothing moved.
    AlreadyThere { split: Split },
    /// The configuration went back to the recorded target, the last one
    /// known good, while an interrupted rollout had left traffic split: all
    /// traffic went straight back to it, without gates.
    Restored { history: Vec<Event>, split: Option<Split> },
    Ran { origin: String, outcome: Outcome, history: Vec<Event>, split: Option<Split> },
}

/// Who holds a lease taken by this apply; unique per apply.
fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "unknown host".into());
    let apply = uuid::Uuid::new_v4().simple().to_string();
    format!("apply {} (provider pid {} on {host})", &apply[..8], std::process::id())
}

/// Checks everything before moving anything, takes the lease, runs the
/// rollout from the split read under the lease, and releases the lease.
async fn run(router: &AlbRouter, clients: &Clients, config: &Config, prior: &Value, stop: &CancellationToken) -> Result<Done, Diagnostics> {
    let alarms = clients.alarms.clone();
    router.split().await.map_err(|e| not_started("Cannot use the load balancer", e.to_string()))?;
    router.check_target_group(&config.target).await.map_err(|e| {
        Diagnostics::single_at(AttributePath::root("alb").attribute("target_group_arn"), "Target group not found", format!("{e}. No traffic was moved."))
    })?;
    let (gate, _) = AlarmGate::resolve(alarms, config.alarm_names.clone()).await.map_err(|e| match e {
        ResolveError::Missing(_) => Diagnostics::single_at(AttributePath::root("alarm_names"), "Alarms not found", format!("{e}. No traffic was moved.")),
        ResolveError::Source(e) => not_started("Could not read the alarms", e.0),
    })?;
    let me = holder();
    let unfinished = take_lease(router, &me).await?;
    let renewal = tokio::spawn(renew_lease(router.clone(), me));
    let done = run_leased(router, gate, &clients.metrics, config, prior, unfinished, stop).await;
    renewal.abort();
    // An AddTags still in flight must not land after the removal below.
    let _ = renewal.await;
    if let Err(e) = router.remove_tag(LEASE_TAG).await {
        log::warn(MODULE, "could not remove the rollout lease; it expires by itself", &[("error", e.to_string().into())]);
    }
    done
}

fn not_started(summary: &str, detail: String) -> Diagnostics {
    Diagnostics::single(summary, format!("{detail}\n\nNo traffic was moved."))
}

/// The part of a rollout that runs under the lease.
async fn run_leased(
    router: &AlbRouter,
    alarms: impl Gate,
    metric_reader: &Arc<Poller<MetricData>>,
    config: &Config,
    prior: &Value,
    unfinished: bool,
    stop: &CancellationToken,
) -> Result<Done, Diagnostics> {
    let split = router.split().await.map_err(|e| not_started("Cannot use the load balancer", e.to_string()))?;
    let target_serves_all = sole_server(&split).as_deref() == Some(config.target.as_str());
    let recorded = prior.get("alb").get("target_group_arn").as_str();
    // An unfinished rollout at 100% still owes its final bake, unless there
    // is no recorded origin to roll back to.
    if target_serves_all && (!unfinished || recorded.is_none()) {
        log::info(MODULE, "target already serves all traffic; nothing to shift", &[("router", router.describe().into())]);
        return Ok(Done::AlreadyThere { split });
    }
    // The origin is what the state says served last, never a guess from
    // whatever else serves now: after an interrupted rollout the other
    // serving group may be the bad release.
    if recorded == Some(config.target.as_str()) {
        let shift = Split::all_to(&config.target);
        router.route(&shift).await.map_err(|e| not_started("Cannot restore the recorded target", e.to_string()))?;
        let detail = format!("restored all traffic to the recorded target without gates: an interrupted rollout had left {:?}", split.percentages());
        log::info(MODULE, "rollout restore", &[("detail", detail.clone().into())]);
        let history = vec![Event { at: SystemClock.now(), percent: 100, kind: rollout::EventKind::Shift, detail }];
        return Ok(Done::Restored { history, split: router.split().await.ok() });
    }
    let others: Vec<&str> = match recorded {
        Some(r) if split.percent_of(r) > 0 || target_serves_all => {
            let strangers: Vec<&str> = split.serving().filter(|g| *g != config.target && *g != r).collect();
            if strangers.is_empty() { vec![r] } else { strangers.into_iter().chain([r]).collect() }
        }
        _ => split.serving().filter(|g| *g != config.target).collect(),
    };
    let [origin] = others[..] else {
        return Err(not_started(
            "Traffic is not on one origin",
            format!(
                "{} forwards to {} target groups other than the target ({}). A rollout moves traffic from one group to another; route all traffic to one group first.",
                router.describe(),
                others.len(),
                others.join(", ")
            ),
        ));
    };
    let origin = origin.to_owned();
    let start = split.percent_of(&config.target);
    let timeout = if prior.is_null() { config.create_timeout } else { config.update_timeout };
    let rollout = Rollout {
        origin: origin.clone(),
        target: config.target.clone(),
        schedule: config.schedule.clone(),
        poll_interval: config.poll_interval,
        deadline: SystemClock.now() + timeout,
    };
    log::info(MODULE, "rollout starting", &[
        ("router", router.describe().into()),
        ("origin", origin.clone().into()),
        ("target", config.target.clone().into()),
        ("from_percent", start.into()),
        ("steps", config.schedule.steps().len().into()),
        ("timeout", duration::format(timeout).into()),
    ]);
    let analysis = match &config.analysis {
        Some(settings) => {
            let metrics = AlbGroupMetrics {
                reader: metric_reader.clone(),
                load_balancer: load_balancer_dimension(&config.listener_arn),
                canary: target_group_dimension(&config.target),
                baseline: target_group_dimension(&origin),
                error_metric: if settings.label == "4xx" { "HTTPCode_Target_4XX_Count" } else { "HTTPCode_Target_5XX_Count" },
            };
            Some(AnalysisGate::new(metrics, &SystemClock, settings.clone()).map_err(|e| not_started("Invalid analysis settings", e.to_string()))?)
        }
        None => None,
    };
    let metrics: Vec<_> = config.metrics.iter().map(|m| m.gate(metric_reader)).collect();
    let gate = Both(Both(alarms, Some(metrics)), analysis);
    let (outcome, history) = rollout::run(router, &gate, &SystemClock, &rollout, start, stop, |e| {
        log::info(MODULE, &format!("rollout {}", e.kind.as_str()), &[("percent", e.percent.into()), ("detail", e.detail.clone().into())]);
    })
    .await;
    let split = router.split().await.ok();
    Ok(Done::Ran { origin, outcome, history, split })
}

/// Takes the router's lease or says who holds it.
/// Takes the lease; `Ok(true)` when an expired lease of another apply was
/// left on the router (that apply was killed: its rollout is unfinished).
async fn take_lease(router: &AlbRouter, me: &str) -> Result<bool, Diagnostics> {
    let refused = |record: LeaseRecord| {
        Diagnostics::single(
            "Another rollout is running on this routing",
            format!(
                "{} is held by {} until {} (renewed while it runs). Two rollouts on the same listener or rule would undo each other's steps; wait for it to finish. \
                 If that apply was killed, the lease expires by itself within {}. No traffic was moved.",
                router.describe(),
                record.holder,
                rfc3339(record.expires),
                duration::format(lease::LEASE_TTL)
            ),
        )
    };
    let read = |e: AlbError| Diagnostics::single("Cannot take the rollout lease", format!("{e}. No traffic was moved."));
    let existing = router.tag(LEASE_TAG).await.map_err(read)?;
    lease::may_take(existing.as_deref(), me, SystemClock.now()).map_err(refused)?;
    router.set_tag(LEASE_TAG, &LeaseRecord::new(me, SystemClock.now()).encode()).await.map_err(read)?;
    // Tags have no compare-and-set: confirm that this write is the one that stuck.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let now_held = router.tag(LEASE_TAG).await.map_err(read)?;
    lease::may_take(now_held.as_deref(), me, SystemClock.now()).map_err(refused)?;
    Ok(existing.is_some())
}

async fn renew_lease(router: AlbRouter, me: String) {
    loop {
        tokio::time::sleep(lease::LEASE_RENEW_EVERY).await;
        // Renewing a lease someone else took (ours lapsed) would let both run.
        if let Ok(current) = router.tag(LEASE_TAG).await {
            if let Err(holder) = lease::may_take(current.as_deref(), &me, SystemClock.now()) {
                log::error(MODULE, "the rollout lease was taken by another apply; not renewing it", &[("holder", holder.holder.into())]);
                return;
            }
        }
        if let Err(e) = router.set_tag(LEASE_TAG, &LeaseRecord::new(&me, SystemClock.now()).encode()).await {
            log::warn(MODULE, "could not renew the rollout lease", &[("error", e.to_string().into())]);
        }
    }
}

impl Done {
    fn into_applied(self, planned: &Value, prior: &Value, config: &Config, router: &AlbRouter) -> Applied {
        let mut state = planned.clone();
        state.set_attr("id", router.arn().into());
        let previous = prior.get("previous_target_group_arn").clone();
        match self {
            Done::AlreadyThere { split } => {
                state.set_attr("status", "promoted".into());
                state.set_attr("traffic", traffic_value(&split));
                state.set_attr("previous_target_group_arn", previous);
                state.set_attr("history", Value::List(Vec::new()));
                state.set_attr("rollback_reason", Value::Null);
                Applied { state, diagnostics: Diagnostics::default() }
            }
            Done::Restored { history, split } => {
                state.set_attr("status", "promoted".into());
                state.set_attr("traffic", split.as_ref().map_or(Value::Null, traffic_value));
                state.set_attr("previous_target_group_arn", previous);
                state.set_attr("history", history_value(&history));
                state.set_attr("rollback_reason", Value::Null);
                Applied { state, diagnostics: Diagnostics::default() }
            }
            Done::Ran { origin, outcome, history, split } => {
                let traffic = split.as_ref().map_or(Value::Null, traffic_value);
                state.set_attr("traffic", traffic);
                state.set_attr("history", history_value(&history));
                match outcome {
                    Outcome::Promoted => {
                        state.set_attr("status", "promoted".into());
                        state.set_attr("previous_target_group_arn", origin.into());
                        state.set_attr("rollback_reason", Value::Null);
                        Applied { state, diagnostics: Diagnostics::default() }
                    }
                    Outcome::Halted(halt) => {
                        let steps = config.schedule.steps().len();
                        let reason = format!("step {} of {steps} at {}%: {}", halt.step, halt.percent, halt.cause.describe());
                        let status = if halt.cause == Cause::Stopped { "interrupted" } else { "rolled_back" };
                        state.set_attr("status", status.into());
                        state.set_attr("previous_target_group_arn", previous);
                        state.set_attr("rollback_reason", reason.clone().into());
                        // What really serves is the origin, so the next plan shows the rollout again.
                        state.set_attr("alb", alb_value(&config.listener_arn, config.rule_arn.as_deref(), &origin));
                        let (origin_name, target_name) = (group_name(&origin), group_name(&config.target));
                        let (summary, after) = match &halt.rollback {
                            Ok(()) => (
                                format!("Rollout {}: {}", status.replace('_', " "), halt.cause.describe()),
                                format!("All traffic is back on {origin_name}, confirmed by reading {} back.", router.describe()),
                            ),
                            Err(e) => (
                                format!("Rollout stopped and the ROLLBACK WAS NOT CONFIRMED: {}", halt.cause.describe()),
                                format!("Sending all traffic back to {origin_name} failed: {e}. Check {} now; the state's `traffic` shows the last split read.", router.describe()),
                            ),
                        };
                        let detail = format!(
                            "At step {} of {steps}, with {}% of traffic on {target_name}, {}.\n\n{after} The state records {origin_name} as alb.target_group_arn, so the next plan shows this rollout again.",
                            halt.step,
                            halt.percent,
                            halt.cause.describe()
                        );
                        Applied { state, diagnostics: Diagnostics::single(summary, detail) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/9683b2d02a6cabee";

    fn config(extra: &[(&str, Value)]) -> Value {
        let mut v = Value::null_object(&schema().ty());
        v.set_attr("alb", alb_value(LISTENER, None, GREEN));
        v.set_attr("step", Value::List(Vec::new()));
        for (k, val) in extra {
            v.set_attr(k, val.clone());
        }
        v
    }

    fn step(percent: i64, bake: &str) -> Value {
        Value::object([("percent", percent.into()), ("bake", bake.into())])
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.0.iter().map(|d| d.attribute.as_ref().map(ToString::to_string).unwrap_or_default()).collect()
    }

    #[test]
    fn cloudwatch_dimensions_come_from_the_arns() {
        assert_eq!(load_balancer_dimension(LISTENER), "app/web/50dc6c495c0c9188");
        assert_eq!(target_group_dimension(BLUE), "targetgroup/blue/73e2d6bc24d8a067");
    }

    #[test]
    fn analysis_settings_are_checked_on_their_path() {
        let analysis = |attrs: &[(&str, Value)]| config(&[("analysis", Value::object(attrs.iter().cloned())), ("canary", step(10, "1m"))]);
        assert!(validate(&analysis(&[])).is_empty());
        let decimal = |d: &str| Value::Number(tfplugin::Number::parse(d).unwrap());
        assert_eq!(paths(&validate(&analysis(&[("metric", "elb_5xx".into())]))), ["analysis.metric"]);
        assert_eq!(paths(&validate(&analysis(&[("confidence", decimal("1"))]))), ["analysis.confidence"]);
        assert_eq!(paths(&validate(&analysis(&[("max_increase", decimal("-0.1"))]))), ["analysis.max_increase"]);
        assert_eq!(paths(&validate(&analysis(&[("min_requests", decimal("2.5"))]))), ["analysis.min_requests"]);
        assert_eq!(paths(&validate(&analysis(&[("period", "45s".into())]))), ["analysis.period"]);
        assert_eq!(paths(&validate(&config(&[("on_missing_data", "later".into())]))), ["on_missing_data"]);
        let all_at_once = config(&[("analysis", Value::object([]))]);
        assert_eq!(paths(&validate(&all_at_once)), ["analysis"], "no baseline to compare with");
        let parsed = analysis(&[("confidence", decimal("0.95"))]);
        let settings = super::analysis(&parsed, &mut Diagnostics::default()).unwrap();
        assert_eq!((settings.confidence, settings.max_increase, settings.min_requests), (0.95, 0.25, 200));
    }

    #[test]
    fn every_field_is_checked_on_its_path() {
        assert!(validate(&config(&[])).is_empty());
        let two = config(&[("canary", step(10, "5m")), ("linear", Value::object([("step_percent", 10.into()), ("interval", "1m".into())]))]);
        assert_eq!(paths(&validate(&two)), ["linear"]);
        assert_eq!(paths(&validate(&config(&[("canary", step(100, "5m"))]))), ["canary.percent"]);
        assert_eq!(paths(&validate(&config(&[("canary", step(10, "soon"))]))), ["canary.bake"]);
        let steps = Value::List(vec![step(5, "1m"), step(50, "1m"), step(20, "1m")]);
        assert_eq!(paths(&validate(&config(&[("step", steps)]))), ["step[2].percent"]);
        assert_eq!(paths(&validate(&config(&[("step", Value::List(vec![step(0, "1m")]))]))), ["step[0].percent"]);
        assert_eq!(paths(&validate(&config(&[("poll_interval", "100ms".into())]))), ["poll_interval"]);
        assert_eq!(paths(&validate(&config(&[("final_bake", "1 hour".into())]))), ["final_bake"]);
        assert_eq!(paths(&validate(&config(&[("timeouts", Value::object([("create", "0s".into())]))]))), ["timeouts.create"]);
        let swapped = Value::object([("listener_arn", GREEN.into()), ("target_group_arn", LISTENER.into())]);
        assert_eq!(paths(&validate(&config(&[("alb", swapped)]))), ["alb.listener_arn", "alb.target_group_arn"]);
        let fractional = config(&[("canary", Value::object([("percent", Value::Number(tfplugin::Number::Decimal("10.5".into()))), ("bake", "1m".into())]))]);
        assert_eq!(paths(&validate(&fractional)), ["canary.percent"]);
    }

    async fn plan(prior: &Value, config: &Value) -> Planned {
        let resource = RolloutResource::new(Arc::new(Shared::default()));
        let mut proposed = config.clone();
        for a in ["id", "status", "previous_target_group_arn", "traffic", "schedule", "history", "rollback_reason"] {
            proposed.set_attr(a, prior.get(a).clone());
        }
        resource.plan(PlanRequest { prior, proposed: &proposed, config }).await
    }

    #[tokio::test]
    async fn plan_shows_the_schedule_and_unknown_outcome() {
        let planned = plan(&Value::Null, &config(&[("canary", step(10, "5m")), ("final_bake", "2m".into())])).await.state;
        assert_eq!(planned.get("schedule"), &Value::List(vec![step(10, "5m"), step(100, "2m")]));
        assert_eq!(planned.get("id"), &Value::from(LISTENER));
        assert_eq!(planned.get("poll_interval"), &Value::from("10s"));
        assert_eq!(planned.get("traffic"), &Value::Unknown);
        assert_eq!(planned.get("status"), &Value::Unknown);
    }

    fn promoted(target: &str) -> Value {
        let mut prior = config(&[("poll_interval", "10s".into()), ("final_bake", "0s".into())]);
        prior.set_attr("alb", alb_value(LISTENER, None, target));
        prior.set_attr("status", "promoted".into());
        prior.set_attr("traffic", traffic_value(&Split::all_to(target)));
        prior.set_attr("schedule", schedule_value(&Schedule::new(&Strategy::AllAtOnce, Duration::ZERO).unwrap()));
        prior
    }

    #[tokio::test]
    async fn strategy_changes_move_no_traffic_but_target_changes_and_splits_do() {
        let prior = promoted(GREEN);
        let only_strategy = plan(&prior, &config(&[("canary", step(10, "5m"))])).await.state;
        assert_eq!(only_strategy.get("traffic"), prior.get("traffic"));
        assert_eq!(only_strategy.get("status"), &Value::from("promoted"));

        let new_target = plan(&promoted(BLUE), &config(&[])).await.state;
        assert_eq!(new_target.get("traffic"), &Value::Unknown);

        let mut split = prior.clone();
        split.set_attr("traffic", traffic_value(&Split::between(BLUE, GREEN, 30)));
        assert_eq!(plan(&split, &config(&[])).await.state.get("traffic"), &Value::Unknown, "a split left behind is resumed");
    }

    #[tokio::test]
    async fn another_listener_means_replacement() {
        let mut moved = config(&[]);
        moved.set_attr("alb", alb_value(&LISTENER.replace("f2f7", "aaaa"), None, GREEN));
        let planned = plan(&promoted(GREEN), &moved).await;
        assert_eq!(planned.requires_replace, vec![AttributePath::root("alb").attribute("listener_arn")]);
    }
}
