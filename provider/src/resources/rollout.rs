//! `progressive_rollout`: move a routing's traffic to a new destination step
//! by step inside `terraform apply`, watching gates, and roll back by itself.
//! Which AWS mechanism routes is one block of the resource, one router of
//! [`crate::routers`]; this file maps Terraform values to a typed model,
//! parsed once, and the engine's outcome back to state.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tfplugin::log;
use tfplugin::{
    Applied, ApplyRequest, Attribute, AttributePath, Block, Diagnostics, Nesting, PlanRequest, Planned, ReadRequest,
    Resource, Schema, Type, Value,
};
use tokio_util::sync::CancellationToken;

use super::analysis::{self, Analysis};
use super::gates::{self, MetricGateSpec};
use super::{
    duration_of, history_lines, history_lines_type, log_progress, percent_value, rfc3339, schedule_type,
    schedule_value, string_list_of, upgrade_history,
};
use crate::Shared;
use crate::aws::Clients;
use crate::aws::cloudwatch::GroupMetrics;
use crate::duration;
use crate::engine::alarms::{AlarmGate, ResolveError};
use crate::engine::analysis::{GroupCounts, expected_first_pass};
use crate::engine::bake;
use crate::engine::judge;
use crate::engine::lease::{self, LeaseError};
use crate::engine::rollout::{self, Cause, Event, Outcome, Rollout, Start};
use crate::engine::schedule::{Schedule, Step, Strategy};
use crate::engine::traffic::{Granularity, RouterError, Split, format_percent};
use crate::engine::{Both, Clock, SystemClock};
use crate::routers::{self, ROUTERS, Router, RouterKind, Routing};

pub const TYPE_NAME: &str = "progressive_rollout";
const MODULE: &str = "progressive.rollout";
const STRATEGIES: [&str; 3] = ["canary", "linear", "step"];
const ANALYSIS: &str = "Judge the canary against the baseline while both serve: the new destination's error rate against the origin's, from the metrics the router's service publishes per destination (`alb`: per target group; `lambda_alias`: per executed version), or from any CloudWatch metrics a `source` block names (an application's own per-version metrics; the only way to judge a `route53` rollout, as Route 53 publishes none). The judgement is anytime-valid: however often it looks, the chance of rolling back a canary that is not worse than `max_increase` allows is at most `1 - confidence` for the whole rollout, as long as, period by period, each error (or burst of errors) lands on the canary in proportion to its traffic times its error rate: true of independent errors, bursts and incidents shared by both sides. Noise of each destination's own can bias a small canary's share upward; the default `max_increase` absorbs it (design/analysis.md has the method, the measured numbers and this limit). A step passes only once the data rule out `rule_out_increase`.";
const ANALYSIS_METRIC: &str = "What counts as an error. `alb`: `5xx` (`HTTPCode_Target_5XX_Count`, the default) or `4xx` (`HTTPCode_Target_4XX_Count`); the load balancer's own 5xx (`elb_5xx`) cannot be judged here, as CloudWatch publishes it per load balancer, not per target group: watch it with an alarm or a `metric` block. `lambda_alias`: `errors` (`Errors`, the default).";
/// The computed attributes that say what an apply did to traffic.
const OUTCOME_ATTRIBUTES: [&str; 6] =
    ["status", "previous_target", "previous_target_group_arn", "traffic", "history", "rollback_reason"];

pub struct RolloutResource {
    shared: Arc<Shared>,
}

impl RolloutResource {
    pub fn new(shared: Arc<Shared>) -> RolloutResource {
        RolloutResource { shared }
    }
}

pub fn schema() -> Schema {
    let step_fields = |percent: &str, percent_doc: &str, bake: &str, bake_doc: &str| {
        Block::new("")
            .attribute(Attribute::required(percent, Type::Number, percent_doc))
            .attribute(Attribute::required(bake, Type::String, bake_doc))
    };
    let share = "above 0 and below 100, in steps the router can send exactly (`alb` 1 in 1000, `route53` weights up to 255, `lambda_alias` any)";
    let mut canary = step_fields(
        "percent",
        &format!("Share of traffic the canary gets, in percent: {share}."),
        "bake",
        "How long to watch the canary before going to 100%, as a Go duration.",
    );
    canary.description =
        "Shift `percent` of traffic, bake, then shift the rest (like CodeDeploy's `Canary10Percent5Minutes`).".into();
    let mut linear = step_fields(
        "step_percent",
        &format!("Increment, in percent: {share}; steps are `step_percent`, twice that, ... below 100, then 100."),
        "interval",
        "Bake at each step, as a Go duration.",
    );
    linear.description = "Shift traffic in equal increments (like CodeDeploy's `Linear10PercentEvery1Minute`).".into();
    let mut step = step_fields(
        "percent",
        &format!(
            "Share of traffic on the target during this step, in percent: {share}; strictly increasing from step to step."
        ),
        "bake",
        "How long to watch this step, as a Go duration.",
    );
    step.description =
        "One step of a custom schedule; repeat the block for each step. 100% follows the last step.".into();
    let mut block = Block::new(&format!(
        "Moves traffic to a new destination step by step inside `terraform apply`: an Application Load Balancer's target groups, a Lambda alias's versions, or Route 53 weighted records (exactly one of the {} blocks). \
         During every step it watches CloudWatch alarms, metric thresholds and, where the router publishes per-destination metrics, a canary-vs-baseline analysis; if one fails, the rollout runs past its timeout, or Terraform is interrupted, all traffic goes back to the origin at once, \
         the apply fails with what tripped, and the state records the origin, so the next plan shows the rollout again. \
         With no strategy block, traffic moves all at once (blue/green). Destroying the resource leaves traffic as it is.",
        routers::names()
    ))
    .attribute(Attribute::computed("id", Type::String, "The routing: the listener or rule ARN (`alb`), `<function_name>:<alias>` (`lambda_alias`), `<zone_id>/<name>/<type>` (`route53`)."));
    for router in ROUTERS {
        block = block.block(router.name(), Nesting::Single, router.block());
    }
    // Version 1: `history` holds lines, not objects (design/0015).
    Schema::new(
        1,
        block
            .block("canary", Nesting::Single, canary)
            .block("linear", Nesting::Single, linear)
            .block("step", Nesting::List, step)
            .attribute(Attribute::defaulted("final_bake", Type::String, "0s", "How long to keep watching at 100%, as a Go duration. A failing gate during the final bake still rolls back."))
            .attribute(Attribute::optional("alarm_names", Type::list(Type::String), "CloudWatch metric or composite alarms that gate every step. All must exist before anything moves. `INSUFFICIENT_DATA` is not a failure."))
            .attribute(Attribute::defaulted("poll_interval", Type::String, "10s", "How often to read the alarms (and the analysis metrics) during a bake, as a Go duration; at least `\"1s\"`."))
            .block("analysis", Nesting::Single, analysis::block(ANALYSIS, ANALYSIS_METRIC))
            .block("metric", Nesting::List, gates::metric_block())
            .attribute(gates::on_missing_data_attribute("the analysis and the metric gates"))
            .block("timeouts", Nesting::Single, super::timeouts_block("A rollout"))
            .attribute(Attribute::computed("status", Type::String, "`promoted` (the target serves all traffic), `rolled_back` (a gate, an error or the timeout sent traffic back to the origin) or `interrupted` (Terraform was interrupted and traffic went back to the origin)."))
            .attribute(Attribute::computed("previous_target", Type::String, "The destination that served before the last promotion (target group ARN, version, or set identifier)."))
            .attribute(Attribute::computed("previous_target_group_arn", Type::String, "With `alb`: the same as `previous_target` (kept for configurations written before other routers existed); null otherwise."))
            .attribute(Attribute::computed("traffic", Type::map(Type::Number), "Share of traffic per destination (target group ARN, version, or set identifier), in percent, as read from AWS."))
            .attribute(Attribute::computed("schedule", schedule_type(), "The steps the rollout takes (`percent`, `bake`), known at plan time so that `terraform plan` shows them."))
            .attribute(super::report_path_attribute("the timeline of the target's share, each bake, each look at the gates, the verdicts with their numbers, the rollback", "runs the rollout's steps (promoted or rolled back; not an apply that runs no step: nothing to release, or a killed apply's split only put back)"))
            .attribute(Attribute::computed("history", history_lines_type(), "What the last apply did, one line per shift, bake verdict, gate failure and rollback: `<time> <event> <percent>%: <detail>`, where `percent` is the target's share after the event (the looks between them are in the logs and the report)."))
            .attribute(Attribute::computed("rollback_reason", Type::String, "Why the last rollout rolled back; null when it was promoted.")),
    )
}

/// A rollout's configuration, parsed and checked once. Parts that are
/// unknown (at plan time) or invalid are `None`; `diagnostics` says what
/// is invalid.
struct Parsed {
    router: Option<&'static dyn RouterKind>,
    routing: Option<Box<dyn Routing>>,
    target: Option<String>,
    schedule: Option<Schedule>,
    alarm_names: Option<Vec<String>>,
    poll_interval: Option<Duration>,
    /// `Some(None)`: no analysis block.
    analysis: Option<Option<Analysis>>,
    metrics: Option<Vec<MetricGateSpec>>,
    create_timeout: Duration,
    update_timeout: Duration,
    /// `None` when not asked for (or unknown at plan time).
    report_path: Option<String>,
    diagnostics: Diagnostics,
}

/// A rollout's configuration with everything known and valid.
struct Model {
    router: &'static dyn RouterKind,
    routing: Box<dyn Routing>,
    target: String,
    schedule: Schedule,
    alarm_names: Vec<String>,
    poll_interval: Duration,
    analysis: Option<Analysis>,
    metrics: Vec<MetricGateSpec>,
    create_timeout: Duration,
    update_timeout: Duration,
    report_path: Option<String>,
}

impl Parsed {
    /// Parses `given` (a configuration, or a planned state) with the
    /// schema's defaults where it leaves attributes out.
    fn new(given: &Value) -> Parsed {
        let mut config = given.clone();
        schema().block.apply_defaults(given, &mut config);
        let config = &config;
        let mut d = Diagnostics::default();
        let router = match routers::chosen(config) {
            Ok(router) => router,
            Err(message) => {
                d.error("One router block", message);
                None
            }
        };
        let (routing, target) = match router {
            Some(r) => {
                let block = config.get(r.name());
                let routing = r.parse(block, &AttributePath::root(r.name()), &mut d);
                (routing, block.get(r.target_attribute()).as_str().map(str::to_owned))
            }
            None => (None, None),
        };
        let granularity = router.map(|r| r.granularity());
        let strategy = strategy(config, granularity, &mut d);
        let final_bake = duration_of(config.get("final_bake"), AttributePath::root("final_bake"), &mut d);
        let schedule = match (&strategy, final_bake) {
            (Some(strategy), Some(final_bake)) => Schedule::new(strategy, final_bake).ok(),
            _ => None,
        };
        let alarm_names = string_list_of(config.get("alarm_names"), AttributePath::root("alarm_names"), &mut d)
            .or_else(|| config.get("alarm_names").is_null().then(Vec::new));
        let poll_interval = super::poll_interval_of(config, &mut d);
        let analysis = analysis::parse(config, router, &mut d);
        if matches!(analysis, Some(Some(_))) && matches!(strategy, Some(Strategy::AllAtOnce)) {
            d.error_at(
                AttributePath::root("analysis"),
                "Analysis needs a canary",
                "The analysis compares the new destination with the origin while both serve. Moving all traffic at once leaves no baseline to compare with; add a canary, linear or step block.",
            );
        }
        let metrics = gates::metrics(config, &mut d);
        let (create_timeout, update_timeout) = super::timeouts_of(config, "A rollout", &mut d);
        let report_path = super::report_path_of(config, &mut d);
        Parsed {
            router,
            routing,
            target,
            schedule,
            alarm_names,
            poll_interval,
            analysis,
            metrics,
            create_timeout,
            update_timeout,
            report_path,
            diagnostics: d,
        }
    }

    /// The model, when everything is known and valid.
    fn complete(self) -> Result<Model, Diagnostics> {
        let mut d = self.diagnostics;
        match (
            self.router,
            self.routing,
            self.target,
            self.schedule,
            self.alarm_names,
            self.poll_interval,
            self.analysis,
            self.metrics,
        ) {
            (
                Some(router),
                Some(routing),
                Some(target),
                Some(schedule),
                Some(alarm_names),
                Some(poll_interval),
                Some(analysis),
                Some(metrics),
            ) if !d.has_errors() => Ok(Model {
                router,
                routing,
                target,
                schedule,
                alarm_names,
                poll_interval,
                analysis,
                metrics,
                create_timeout: self.create_timeout,
                update_timeout: self.update_timeout,
                report_path: self.report_path,
            }),
            _ => {
                if !d.has_errors() {
                    d.error(
                        "Rollout inputs unknown at apply",
                        "Every input of the rollout must be known when it runs.",
                    );
                }
                Err(d)
            }
        }
    }
}

/// A known share for a step: above 0, below 100, and one the router can
/// send exactly (`granularity`, when the router is known).
fn step_percent_of(
    value: &Value,
    at: AttributePath,
    granularity: Option<Granularity>,
    d: &mut Diagnostics,
) -> Option<f64> {
    let name = super::last_name(&at);
    let percent = value.as_number()?.as_f64();
    if !(percent > 0.0 && percent < 100.0) {
        d.error_at(
            at,
            format!("Invalid {name}"),
            format!("{name} must be above 0 and below 100, not {}.", format_percent(percent)),
        );
        return None;
    }
    if let Some(g) = granularity
        && let Err(why) = representable(g, percent)
    {
        d.error_at(at, format!("Invalid {name}"), why);
        return None;
    }
    Some(percent)
}

/// Whether the router can send `percent` exactly; if not, a sentence naming
/// the nearest share it can send, and its weights.
fn representable(granularity: Granularity, percent: f64) -> Result<(), String> {
    match granularity {
        Granularity::Weights { max } if !granularity.represents(percent) => {
            let nearest = granularity.nearest(percent);
            let (origin, target) = granularity.weights(nearest).unwrap_or_default();
            Err(format!(
                "This router cannot send exactly {}% of traffic: its weights are whole numbers up to {max}. The nearest share it can send is {}% (weights {target} and {origin}).",
                format_percent(percent),
                format_percent(nearest)
            ))
        }
        _ => Ok(()),
    }
}

/// Checks every strategy field it can and reads the strategy. `None` when
/// something is unknown or invalid (then `d` says what is invalid).
fn strategy(config: &Value, granularity: Option<Granularity>, d: &mut Diagnostics) -> Option<Strategy> {
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
            let at = |name: &str| AttributePath::root("canary").attribute(name);
            let percent = step_percent_of(c.get("percent"), at("percent"), granularity, d);
            let bake = duration_of(c.get("bake"), at("bake"), d);
            Some(Strategy::Canary { percent: percent?, bake: bake? })
        }
        Some("linear") => {
            let l = config.get("linear");
            let at = |name: &str| AttributePath::root("linear").attribute(name);
            let step_percent = step_percent_of(l.get("step_percent"), at("step_percent"), None, d)?;
            let interval = duration_of(l.get("interval"), at("interval"), d);
            let linear = Strategy::Linear { step_percent, interval: interval.unwrap_or_default() };
            // Every multiple of the increment is a step the router must send.
            let checked =
                Schedule::new(&linear, Duration::ZERO).map_err(|e| e.to_string()).and_then(
                    |schedule| match granularity {
                        Some(g) => schedule.steps().iter().try_for_each(|step| representable(g, step.percent)),
                        None => Ok(()),
                    },
                );
            if let Err(why) = checked {
                d.error_at(at("step_percent"), "Invalid step_percent", why);
                return None;
            }
            interval?;
            Some(linear)
        }
        Some(_) => {
            let items = config.get("step").elements()?;
            let mut steps = Vec::with_capacity(items.len());
            let mut complete = true;
            for (i, item) in items.iter().enumerate() {
                let at = || AttributePath::root("step").index(i);
                let percent = step_percent_of(item.get("percent"), at().attribute("percent"), granularity, d);
                let bake = duration_of(item.get("bake"), at().attribute("bake"), d);
                if let (Some(p), Some(previous)) = (percent, steps.last().map(|s: &Step| s.percent))
                    && p <= previous
                {
                    d.error_at(
                        at().attribute("percent"),
                        "Steps must increase",
                        format!(
                            "step {} sends {}%, not more than the {}% of the step before it.",
                            i + 1,
                            format_percent(p),
                            format_percent(previous)
                        ),
                    );
                    complete = false;
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

fn traffic_value(split: &Split) -> Value {
    Value::Map(split.percentages().into_iter().map(|(destination, p)| (destination, percent_value(p))).collect())
}

/// The `traffic` attribute a state should have when `target` serves all.
fn all_on(target: &Value) -> Option<Value> {
    target.as_str().map(|t| traffic_value(&Split::all_to(t)))
}

/// The router block and target a state records.
fn recorded(state: &Value) -> Option<(&'static dyn RouterKind, &Value)> {
    let router = routers::chosen(state).ok().flatten()?;
    Some((router, state.get(router.name()).get(router.target_attribute())))
}

fn not_started(summary: &str, detail: impl std::fmt::Display) -> Diagnostics {
    Diagnostics::single(summary, format!("{detail}\n\nNo traffic was moved."))
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
        Parsed::new(config).diagnostics
    }

    async fn plan(&self, request: PlanRequest<'_>) -> Planned {
        let (prior, config) = (request.prior, request.config);
        let mut state = request.proposed.clone();
        let parsed = Parsed::new(config);
        // The analysis metric's default depends on the router; the other
        // defaults are the schema's, already filled in.
        if let (Some(router), Value::Object(mut block)) = (parsed.router, state.get("analysis").clone()) {
            // Left out of the configuration means the default, whatever the
            // prior state held (Terraform proposes the prior value).
            if config.get("analysis").get("metric").is_null()
                && config.get("analysis").get("source").is_null()
                && let Ok(metric) = router.default_error_metric()
            {
                block.insert("metric".into(), metric.into());
                state.set_attr("analysis", Value::Object(block));
            }
        }
        state.set_attr("schedule", parsed.schedule.as_ref().map_or(Value::Unknown, schedule_value));
        state.set_attr("id", parsed.routing.as_ref().map_or(Value::Unknown, |r| r.id().into()));

        // Traffic moves when the target differs from what serves, or when the
        // last read found traffic split or elsewhere.
        let target = parsed.router.map_or(&Value::Unknown, |r| config.get(r.name()).get(r.target_attribute()));
        let moves = prior.is_null()
            || !target.is_known()
            || recorded(prior).map(|(r, t)| (r.name(), t)) != parsed.router.map(|r| (r.name(), target))
            || all_on(target).as_ref() != Some(prior.get("traffic"));
        let mut diagnostics = Diagnostics::default();
        if moves {
            for name in OUTCOME_ATTRIBUTES {
                state.set_attr(name, Value::Unknown);
            }
            if let (Some(router), Some(routing), Some(target), Some(schedule), Ok(clients)) =
                (parsed.router, &parsed.routing, &parsed.target, &parsed.schedule, self.shared.clients())
            {
                let analysis = parsed.analysis.as_ref().and_then(Option::as_ref);
                let timeout = if prior.is_null() { parsed.create_timeout } else { parsed.update_timeout };
                diagnostics =
                    check_before_moving(router, routing.as_ref(), &clients, target, schedule, analysis, timeout).await;
            } else if self.shared.deferred() {
                diagnostics.warning(
                    "Checks deferred to apply",
                    "The provider configuration is known only after apply, so this plan did not check the routing, the target, the alarms or the expected evidence in AWS. The apply checks them before it moves anything.",
                );
            }
        }
        Planned { state, requires_replace: Vec::new(), diagnostics }
    }

    async fn apply(&self, request: ApplyRequest<'_>) -> Applied {
        let model = match Parsed::new(request.planned).complete() {
            Ok(model) => model,
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
        let router = model.routing.connect(&clients);
        match run(router.as_ref(), &clients, &model, request.prior, request.stop).await {
            Ok(done) => {
                let report =
                    model.report_path.as_deref().map(|prefix| write_report(prefix, &done, &model, router.as_ref()));
                let mut applied = done.into_applied(request.planned, request.prior, &model, router.as_ref());
                applied.diagnostics.extend(report.unwrap_or_default());
                applied
            }
            Err(diagnostics) => Applied { state: request.prior.clone(), diagnostics },
        }
    }

    async fn read(&self, request: ReadRequest<'_>) -> Result<Value, Diagnostics> {
        let state = request.state;
        // A plan with a provider configuration known only after apply
        // cannot read AWS; the apply reads it again.
        if self.shared.deferred() {
            return Ok(state.clone());
        }
        let clients = self.shared.clients()?;
        let Some((kind, Some(target))) = recorded(state).map(|(k, t)| (k, t.as_str())) else {
            return Ok(state.clone());
        };
        let mut invalid = Diagnostics::default();
        let Some(routing) = kind.parse(state.get(kind.name()), &AttributePath::root(kind.name()), &mut invalid) else {
            // A state that no longer parses cannot be refreshed; say so rather than go stale.
            return if invalid.has_errors() { Err(invalid) } else { Ok(state.clone()) };
        };
        let router = routing.connect(&clients);
        let unreadable = |e: RouterError| Diagnostics::single("Cannot read the rollout's routing", e.to_string());
        let (split, lease) = tokio::join!(router.read(), router.read_lease());
        let split = match split {
            Ok(split) => split,
            // Gone: Terraform drops it from state and plans to create it.
            Err(RouterError::Gone(_)) => return Ok(Value::Null),
            Err(e) => return Err(unreadable(e)),
        };
        // A split, or a lease left behind (an apply that was killed, even
        // after it reached 100% but before its final bake ended), keeps the
        // recorded target: the traffic attribute shows what serves, and the
        // next plan resumes the rollout.
        let unfinished = lease.map_err(unreadable)?.is_some();
        let serving = split.sole_server().filter(|_| !unfinished).unwrap_or(target);
        let mut fresh = state.clone();
        fresh.set_attr(kind.name(), routing.block_value(serving));
        fresh.set_attr("traffic", traffic_value(&split));
        Ok(fresh)
    }

    fn upgrade_state(
        &self,
        version: i64,
        state: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Diagnostics> {
        upgrade_history(version, state)
    }

    async fn import(&self, id: &str, _stop: &CancellationToken) -> Result<Value, Diagnostics> {
        let clients = self.shared.clients()?;
        let cannot = |detail: String| Diagnostics::single("Cannot import", detail);
        let (kind, routing) =
            ROUTERS.iter().find_map(|kind| kind.import(id).map(|routing| (*kind, routing))).ok_or_else(|| {
                cannot(format!(
                    "{id:?} is not an import id of any router: {}.",
                    ROUTERS
                        .iter()
                        .map(|r| format!("{} ({})", r.import_id_format(), r.name()))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            })?;
        let routing = routing.map_err(cannot)?;
        let router = routing.connect(&clients);
        let split = router.read().await.map_err(|e| cannot(e.to_string()))?;
        // The destination with the most traffic is taken as the target.
        let Some((target, _)) =
            split.0.iter().filter(|(_, w)| **w > 0.0).max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)))
        else {
            return Err(cannot(format!("{} sends traffic nowhere.", router.describe())));
        };
        let schedule = Schedule::new(&Strategy::AllAtOnce, Duration::ZERO).map_err(|e| cannot(e.to_string()))?;
        let ty = schema().ty();
        let mut state = Value::null_object(&ty);
        schema().block.apply_defaults(&Value::null_object(&ty), &mut state);
        state.set_attr("id", routing.id().into());
        let block = routing.block_value(target);
        let mut invalid = Diagnostics::default();
        kind.parse(&block, &AttributePath::root(kind.name()), &mut invalid);
        if invalid.has_errors() {
            return Err(cannot(format!(
                "{} serves {target:?}, which a rollout cannot record: {}",
                router.describe(),
                invalid.0.iter().map(|d| d.detail.as_str()).collect::<Vec<_>>().join(" ")
            )));
        }
        state.set_attr(kind.name(), block);
        state.set_attr("schedule", schedule_value(&schedule));
        state.set_attr("status", (if split.sole_server().is_some() { "promoted" } else { "interrupted" }).into());
        state.set_attr("traffic", traffic_value(&split));
        state.set_attr("history", Value::List(Vec::new()));
        state.set_attr("step", Value::List(Vec::new()));
        Ok(state)
    }
}

/// The checks a plan makes before it shows traffic moving: the routing
/// can be read and the target exists. A routing that is gone is only a
/// warning here (it may be deleted and recreated by the same apply, and a
/// resource whose routing disappeared plans its creation); the apply checks
/// again and refuses.
async fn check_before_moving(
    kind: &dyn RouterKind,
    routing: &dyn Routing,
    clients: &Clients,
    target: &str,
    schedule: &Schedule,
    analysis: Option<&Analysis>,
    timeout: Duration,
) -> Diagnostics {
    let router = routing.connect(clients);
    let mut d = Diagnostics::default();
    // Both reads at once: concurrent plans' reads share calls (aws::elbv2),
    // and each plan waits for one round trip instead of two.
    match tokio::join!(router.read(), router.check_destination(target)) {
        (Ok(split), destination) => {
            if let Err(e) = destination {
                d.extend(target_not_found(kind, e));
            }
            let origins: Vec<&str> = split.serving().filter(|s| *s != target).collect();
            if let (Some(analysis), [origin]) = (analysis, &origins[..])
                && let Some(warning) =
                    evidence_warning(analysis, routing, clients, origin, target, schedule, timeout).await
            {
                d.warning("Steps will hold for evidence", warning);
            }
        }
        // It may be created by the same apply (or was deleted and this
        // plans its re-creation); the apply checks again and refuses.
        (Err(RouterError::Gone(e)), _) => {
            d.warning("Routing not found", format!("{e}. The apply will fail unless it exists by then."));
            return d;
        }
        (Err(e), _) => return not_started("Cannot use the routing", e),
    }
    if let Some(shortest) = shortest_bake(schedule)
        && let Some(warning) = router.bake_warning(shortest).await
    {
        d.warning("Bakes shorter than DNS caching", warning);
    }
    d
}

/// A failed `check_destination`: the target is missing, the routing it
/// would be reached through is, or the check itself failed.
fn target_not_found(kind: &dyn RouterKind, e: RouterError) -> Diagnostics {
    match e {
        RouterError::Missing(e) => Diagnostics::single_at(
            AttributePath::root(kind.name()).attribute(kind.target_attribute()),
            format!("{} not found", capitalized(kind.destination_kind())),
            format!("{e}. No traffic was moved."),
        ),
        RouterError::Gone(e) => not_started("Routing not found", e),
        RouterError::Transient(e) | RouterError::Failed(e) => {
            not_started(&format!("Cannot check the {}", kind.destination_kind()), e)
        }
    }
}

/// Periods of the origin's metrics the plan reads to forecast the evidence.
const FORECAST_PERIODS: u32 = 30;

/// Says, when it is so, that a canary as good as the origin would hold the
/// first step past its bake (and the rollout perhaps past its timeout) for
/// lack of evidence, at the traffic and error rate the origin's own metrics
/// show over the last periods. Nothing when those cannot be read: a plan
/// does not fail over a forecast.
async fn evidence_warning(
    analysis: &Analysis,
    routing: &dyn Routing,
    clients: &Clients,
    origin: &str,
    target: &str,
    schedule: &Schedule,
    timeout: Duration,
) -> Option<String> {
    let first = schedule.steps().first().filter(|s| s.percent < 100.0)?;
    let settings = &analysis.settings;
    let (canary, baseline) =
        analysis.source.clone().or_else(|| routing.analysis_metrics(origin, target, &settings.label))?;
    let reader = GroupMetrics { reader: clients.metrics.clone(), canary, baseline };
    let now = SystemClock.now();
    let window = settings.period * FORECAST_PERIODS;
    let history: Vec<_> = reader
        .counts(now - window - settings.period, now - settings.period, settings.period)
        .await
        .ok()?
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c| c.baseline_requests > 0)
        .collect();
    let requests: u64 = history.iter().map(|c| c.baseline_requests).sum();
    let errors: u64 = history.iter().map(|c| c.baseline_errors).sum();
    if requests == 0 {
        return None;
    }
    // The traffic the rollout will split is what both destinations served
    // (the target may have served before, in an earlier rollout), over the
    // periods that had traffic: a service that started serving recently is
    // not taken for a quiet one. The error rate is the origin's own.
    let served = settings.period * history.len() as u32;
    let total: u64 = history.iter().map(|c| c.baseline_requests + c.canary_requests).sum();
    let over = format!("over {} of traffic", duration::format(served));
    let bound = 1.0 + settings.rule_out_increase;
    if errors == 0 {
        return Some(format!(
            "The origin served {requests} requests without a single {} {over}. Without errors there is no evidence about the ratio of error rates, so a step of this rollout can pass only once errors give some; until then it holds, up to the timeout ({}), and then rolls back. For a service this reliable, judge it by alarms or metric gates instead, or by a metric that counts more often (a `source` block).",
            settings.label,
            duration::format(timeout)
        ));
    }
    let rate = total as f64 / served.as_secs_f64();
    let error_rate = errors as f64 / requests as f64;
    let dispersion = judge::dispersion(&history).unwrap_or(1.0);
    let traffic = format!(
        "At {}% of about {rate:.1} requests/s with {:.2}% {} (the origin {over}{})",
        format_percent(first.percent),
        100.0 * error_rate,
        settings.label,
        if dispersion > 1.0 {
            format!(", its errors {dispersion:.1} times as variable as independent ones")
        } else {
            String::new()
        }
    );
    let Some(needed) = expected_first_pass(settings, dispersion, first.percent, rate, error_rate) else {
        return Some(format!(
            "{traffic}, a canary as good as the origin would not rule out {bound:.2} times its error rate within a day: every step holds until the timeout ({}) and rolls back. Give the canary more share, or raise rule_out_increase.",
            duration::format(timeout)
        ));
    };
    if needed <= first.bake {
        return None;
    }
    let total = schedule.steps().iter().map(|s| s.bake).sum::<Duration>() + (needed - first.bake);
    let verdict = if total > timeout {
        format!(
            "The rollout would then take about {}, longer than its timeout ({}): it would roll back.",
            duration::format(total),
            duration::format(timeout)
        )
    } else {
        format!(
            "The rollout would then take about {} of its {} timeout.",
            duration::format(total),
            duration::format(timeout)
        )
    };
    Some(format!(
        "{traffic}, a canary as good as the origin needs about {} before the data rule out {bound:.2} times its error rate, so step 1 will hold that long instead of its {} bake. {verdict} More canary share, a longer first step or a larger rule_out_increase shorten the wait.",
        duration::format(needed),
        duration::format(first.bake)
    ))
}

/// The shortest bake that watches anything: a bake of zero cannot be too short.
fn shortest_bake(schedule: &Schedule) -> Option<Duration> {
    schedule.steps().iter().map(|s| s.bake).filter(|b| !b.is_zero()).min()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// What an apply did to traffic.
enum Done {
    /// The target already served everything; nothing moved.
    AlreadyThere {
        split: Split,
    },
    /// All traffic went straight back to the recorded target, without gates.
    Restored {
        history: Vec<Event>,
        split: Option<Split>,
    },
    Ran {
        origin: String,
        outcome: Outcome,
        history: Vec<Event>,
        split: Option<Split>,
        run: Run,
    },
}

/// What a report of a run needs beside its outcome.
struct Run {
    started: time::OffsetDateTime,
    start_percent: f64,
    /// Every event, looks included.
    events: Vec<Event>,
}

/// Who holds a lease taken by this apply; unique per apply. Only letters,
/// digits, spaces and `.-:` (tag values on AWS allow few characters).
fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into());
    let host: String = host.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')).collect();
    let apply = uuid::Uuid::new_v4().simple().to_string();
    format!("apply {} provider pid {} on {host}", &apply[..8], std::process::id())
}

/// Checks everything before moving anything, takes the lease, runs the
/// rollout from the split read under the lease (renewing the lease while it
/// runs), and releases the lease.
async fn run(
    router: &dyn Router,
    clients: &Clients,
    model: &Model,
    prior: &Value,
    stop: &CancellationToken,
) -> Result<Done, Diagnostics> {
    router.read().await.map_err(|e| not_started("Cannot use the routing", e))?;
    router.check_destination(&model.target).await.map_err(|e| target_not_found(model.router, e))?;
    let me = holder();
    let leftover = lease::take(router, &me, &SystemClock).await.map_err(|e| match e {
        LeaseError::Held(record) => Diagnostics::single(
            "Another rollout is running on this routing",
            format!(
                "{} is held by {} until {} (renewed while it runs). Two rollouts on the same routing would undo each other's steps; wait for it to finish. \
                 If that apply was killed, the lease expires by itself within {}. No traffic was moved.",
                router.describe(),
                record.holder,
                rfc3339(record.expires),
                duration::format(lease::LEASE_TTL)
            ),
        ),
        LeaseError::Store(e) => Diagnostics::single("Cannot take the rollout lease", format!("{e}. No traffic was moved.")),
    })?;
    let done = {
        let noted = OnceLock::new();
        let held = Lease { me: &me, leftover: &leftover, noted: &noted };
        let rollout = run_leased(router, clients, model, prior, &held, stop);
        let renewal = lease::keep(router, &me, &SystemClock, &noted, |e| {
            log::warn(MODULE, "could not renew the rollout lease", &[("error", e.to_string().into())])
        });
        tokio::pin!(rollout, renewal);
        tokio::select! {
            done = &mut rollout => done,
            lost = &mut renewal => {
                log::error(MODULE, "the rollout lease was taken by another apply; not renewing it", &[("holder", lost.holder.into())]);
                rollout.await
            }
        }
        // The renewal is dropped here, before the lease is removed: a
        // renewal still queued must not write the lease back afterwards.
    };
    if let Err(e) = lease::release(router, &me).await {
        log::warn(
            MODULE,
            "could not remove the rollout lease; it expires by itself",
            &[("error", e.to_string().into())],
        );
    }
    done
}

/// The lease a rollout runs under: its holder, what an earlier lease left
/// behind, and the origin once it is noted in it.
struct Lease<'a> {
    me: &'a str,
    leftover: &'a lease::Leftover,
    noted: &'a OnceLock<String>,
}

/// The part of a rollout that runs under the lease.
async fn run_leased(
    router: &dyn Router,
    clients: &Clients,
    model: &Model,
    prior: &Value,
    held: &Lease<'_>,
    stop: &CancellationToken,
) -> Result<Done, Diagnostics> {
    let split = router.read().await.map_err(|e| not_started("Cannot use the routing", e))?;
    // Every move from here checks that the lease is still this apply's.
    let guarded = lease::Guarded { router, store: router, me: held.me, clock: &SystemClock };
    // What served last: the state's record, or for a create that a killed
    // apply left unfinished, the origin its lease named.
    let recorded_target = recorded(prior)
        .filter(|(r, _)| r.name() == model.router.name())
        .and_then(|(_, t)| t.as_str())
        .or(held.leftover.origin.as_deref());
    let (origin, start) = match rollout::decide_start(&split, &model.target, recorded_target, held.leftover.unfinished)
    {
        Start::AlreadyThere => {
            log::info(
                MODULE,
                "target already serves all traffic; nothing to shift",
                &[("router", router.describe().into())],
            );
            return Ok(Done::AlreadyThere { split });
        }
        Start::Restore => {
            rollout::shift(&guarded, &SystemClock, &Split::all_to(&model.target), &CancellationToken::new())
                .await
                .map_err(|e| not_started("Cannot restore the recorded target", e))?;
            let detail = format!(
                "restored all traffic to the recorded target without gates: an interrupted rollout had left {}",
                split.describe()
            );
            let restored = Event { at: SystemClock.now(), percent: 100.0, kind: rollout::EventKind::Shift, detail };
            log_progress(MODULE, &restored);
            let history = vec![restored];
            return Ok(Done::Restored { history, split: router.read().await.ok() });
        }
        Start::UnverifiedOrigin { serving, recorded } => {
            return Err(not_started(
                "Traffic is not on the recorded origin",
                format!(
                    "{} sends traffic to {}, but the last rollout recorded {} as what served last, and an apply was interrupted before it finished (its lease was left behind). \
                     Rolling back to {} could send everyone to a release whose watch never finished. Set the target back to {} to restore it, or move traffic to one destination first.",
                    router.describe(),
                    serving.iter().map(|d| model.routing.destination_name(d)).collect::<Vec<_>>().join(" and "),
                    model.routing.destination_name(&recorded),
                    serving.iter().map(|d| model.routing.destination_name(d)).collect::<Vec<_>>().join(" and "),
                    model.routing.destination_name(&recorded),
                ),
            ));
        }
        Start::NotOneOrigin { others } => {
            return Err(not_started(
                "Traffic is not on one origin",
                format!(
                    "{} sends traffic to {} destinations other than the target ({}). A rollout moves traffic from one destination to another; route all traffic to one first.",
                    router.describe(),
                    others.len(),
                    others.join(", ")
                ),
            ));
        }
        Start::Run { origin, from_percent } => (origin, from_percent),
    };
    if let Err(e) = lease::note_origin(router, held.me, &origin, held.noted, &SystemClock).await {
        log::warn(
            MODULE,
            "could not name the origin in the rollout lease; a killed create would not know it",
            &[("error", e.to_string().into())],
        );
    }
    // The alarms are checked at the next look of the poll grid, just before
    // the first shift: rollouts of one apply then check, shift and end their
    // bakes together, sharing the reads of the bakes already under way.
    if !bake::until_the_next_look(&SystemClock, model.poll_interval, stop).await {
        return Err(not_started("Rollout stopped", "Terraform asked the provider to stop before the rollout began."));
    }
    let (alarms, _) =
        AlarmGate::resolve(clients.alarms.clone(), model.alarm_names.clone()).await.map_err(|e| match e {
            ResolveError::Missing(_) => Diagnostics::single_at(
                AttributePath::root("alarm_names"),
                "Alarms not found",
                format!("{e}. No traffic was moved."),
            ),
            ResolveError::Source(e) => not_started("Could not read the alarms", e.0),
        })?;
    let timeout = if prior.is_null() { model.create_timeout } else { model.update_timeout };
    let rollout = Rollout {
        origin: origin.clone(),
        target: model.target.clone(),
        schedule: model.schedule.clone(),
        poll_interval: model.poll_interval,
        deadline: SystemClock.now() + timeout,
    };
    log::info(
        MODULE,
        "rollout starting",
        &[
            ("router", router.describe().into()),
            ("origin", origin.clone().into()),
            ("target", model.target.clone().into()),
            ("from_percent", format_percent(start).into()),
            ("steps", model.schedule.steps().len().into()),
            ("timeout", duration::format(timeout).into()),
        ],
    );
    let analysis = match &model.analysis {
        Some(analysis) => Some(
            analysis::gates(
                analysis,
                Some((model.routing.as_ref(), &origin, &model.target)),
                model.schedule.remaining_from(start).len(),
                clients,
            )
            .map_err(|e| not_started(e.summary, e.detail))?,
        ),
        None => None,
    };
    let metrics: Vec<_> = model.metrics.iter().map(|m| m.gate(&clients.metrics)).collect();
    let gate = Both(Both(alarms, Some(metrics)), analysis);
    let started = SystemClock.now();
    let mut events = Vec::new();
    let mut seen = |e: &Event| {
        log_progress(MODULE, e);
        events.push(e.clone());
    };
    // The plan showed this warning; the history keeps it beside the bakes it concerns.
    let warning = match shortest_bake(&model.schedule) {
        Some(bake) => router.bake_warning(bake).await,
        None => None,
    };
    let warning = warning.map(|detail| Event {
        at: SystemClock.now(),
        percent: start,
        kind: rollout::EventKind::Warning,
        detail,
    });
    warning.iter().for_each(&mut seen);
    let (outcome, ran) = rollout::run(&guarded, &gate, &SystemClock, &rollout, start, stop, &mut seen).await;
    let history = warning.into_iter().chain(ran).collect();
    let split = router.read().await.ok();
    Ok(Done::Ran { origin, outcome, history, split, run: Run { started, start_percent: start, events } })
}

/// Why a halted rollout rolled back, as `rollback_reason` and reports say it.
fn rollback_reason(halt: &rollout::Halt, schedule: &Schedule) -> String {
    let steps = schedule.steps().len();
    format!("step {} of {steps} at {}%: {}", halt.step, format_percent(halt.percent), halt.cause.describe())
}

/// Writes the report of a run to `<prefix>.html`, `.svg` and `.md`; what
/// cannot be written is a warning (the rollout's outcome stands either way).
fn write_report(prefix: &str, done: &Done, model: &Model, router: &dyn Router) -> Diagnostics {
    let Done::Ran { origin, outcome, run, .. } = done else { return Diagnostics::default() };
    let report = crate::report::Rollout {
        subject: "Rollout",
        routing: router.describe(),
        origin: model.routing.destination_name(origin),
        target: model.routing.destination_name(&model.target),
        schedule: Some(&model.schedule),
        started: run.started,
        start_percent: run.start_percent,
        events: &run.events,
        rollback_reason: match outcome {
            Outcome::Halted(halt) => Some(rollback_reason(halt, &model.schedule)),
            Outcome::Promoted => None,
        },
        unsettled: None,
        notes: &[],
    };
    super::write_report(MODULE, prefix, &report)
}

impl Done {
    fn into_applied(self, planned: &Value, prior: &Value, model: &Model, router: &dyn Router) -> Applied {
        let mut state = planned.clone();
        state.set_attr("id", model.routing.id().into());
        let keep_previous = |state: &mut Value| {
            for name in ["previous_target", "previous_target_group_arn"] {
                state.set_attr(name, prior.get(name).clone());
            }
        };
        let promoted = |state: &mut Value, split: Option<&Split>, history: Value| {
            state.set_attr("status", "promoted".into());
            state.set_attr("traffic", split.map_or(Value::Null, traffic_value));
            state.set_attr("history", history);
            state.set_attr("rollback_reason", Value::Null);
        };
        match self {
            Done::AlreadyThere { split } => {
                promoted(&mut state, Some(&split), Value::List(Vec::new()));
                keep_previous(&mut state);
                Applied { state, diagnostics: Diagnostics::default() }
            }
            Done::Restored { history, split } => {
                promoted(&mut state, split.as_ref(), history_lines(&history));
                keep_previous(&mut state);
                Applied { state, diagnostics: Diagnostics::default() }
            }
            Done::Ran { origin, outcome: Outcome::Promoted, history, split, .. } => {
                promoted(&mut state, split.as_ref(), history_lines(&history));
                state.set_attr("previous_target", origin.as_str().into());
                let alb_only = if model.router.name() == routers::alb::Alb.name() {
                    Value::from(origin.as_str())
                } else {
                    Value::Null
                };
                state.set_attr("previous_target_group_arn", alb_only);
                Applied { state, diagnostics: Diagnostics::default() }
            }
            Done::Ran { origin, outcome: Outcome::Halted(halt), history, split, .. } => {
                state.set_attr("traffic", split.as_ref().map_or(Value::Null, traffic_value));
                state.set_attr("history", history_lines(&history));
                keep_previous(&mut state);
                let steps = model.schedule.steps().len();
                let at_percent = format_percent(halt.percent);
                let reason = rollback_reason(&halt, &model.schedule);
                let status = if halt.cause == Cause::Stopped { "interrupted" } else { "rolled_back" };
                state.set_attr("status", status.into());
                state.set_attr("rollback_reason", reason.into());
                // What really serves is the origin, so the next plan shows the rollout again.
                state.set_attr(model.router.name(), model.routing.block_value(&origin));
                let (origin_name, target_name) =
                    (model.routing.destination_name(&origin), model.routing.destination_name(&model.target));
                let (summary, after) = match &halt.rollback {
                    Ok(()) => (
                        format!("Rollout {}: {}", status.replace('_', " "), halt.cause.describe()),
                        format!(
                            "All traffic is back on {origin_name}, confirmed by reading {} back.",
                            router.describe()
                        ),
                    ),
                    Err(e) => (
                        format!("Rollout stopped and the ROLLBACK WAS NOT CONFIRMED: {}", halt.cause.describe()),
                        format!(
                            "Sending all traffic back to {origin_name} failed: {e}. Check {} now; the state's `traffic` shows the last split read.",
                            router.describe()
                        ),
                    ),
                };
                let detail = format!(
                    "At step {} of {steps}, with {at_percent}% of traffic on {target_name}, {}.\n\n{after} The state records {origin_name} as {}.{}, so the next plan shows this rollout again.",
                    halt.step,
                    halt.cause.describe(),
                    model.router.name(),
                    model.router.target_attribute(),
                );
                Applied { state, diagnostics: Diagnostics::single(summary, detail) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::analysis::Latency;

    const LISTENER: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/9683b2d02a6cabee";

    fn alb(listener: &str, target: &str) -> Value {
        Value::object([
            ("listener_arn", listener.into()),
            ("rule_arn", Value::Null),
            ("target_group_arn", target.into()),
        ])
    }

    fn config(extra: &[(&str, Value)]) -> Value {
        let mut v = Value::null_object(&schema().ty());
        v.set_attr("alb", alb(LISTENER, GREEN));
        v.set_attr("step", Value::List(Vec::new()));
        for (k, val) in extra {
            v.set_attr(k, val.clone());
        }
        v
    }

    fn step(percent: &str, bake: &str) -> Value {
        Value::object([("percent", Value::Number(tfplugin::Number::parse(percent).unwrap())), ("bake", bake.into())])
    }

    fn validate(config: &Value) -> Diagnostics {
        Parsed::new(config).diagnostics
    }

    #[test]
    fn a_version_0_history_of_objects_is_upgraded_to_one_line_per_event() {
        let mut state = serde_json::json!({
            "history": [
                { "at": "2026-01-01T00:00:00Z", "percent": 10, "event": "shift", "detail": "step 1: 10% to the target" },
                { "at": "2026-01-01T00:01:00Z", "percent": 0.5, "event": "rollback", "detail": "all traffic back" },
            ],
            "status": "rolled_back",
        });
        let map = state.as_object_mut().unwrap();
        RolloutResource::new(Arc::default()).upgrade_state(0, map).unwrap();
        assert_eq!(
            state,
            serde_json::json!({
                "history": [
                    "2026-01-01T00:00:00Z shift 10%: step 1: 10% to the target",
                    "2026-01-01T00:01:00Z rollback 0.5%: all traffic back",
                ],
                "status": "rolled_back",
            })
        );
        let mut current = serde_json::json!({ "history": ["2026-01-01T00:00:00Z shift 10%: x"] });
        let before = current.clone();
        RolloutResource::new(Arc::default()).upgrade_state(1, current.as_object_mut().unwrap()).unwrap();
        assert_eq!(current, before, "a current state is left as it is");
    }

    #[test]
    fn report_path_must_be_a_prefix_of_file_names() {
        for bad in ["", "reports/", ".", "reports/..", "reports\\."] {
            let d = validate(&config(&[("report_path", bad.into())]));
            assert!(d.0.iter().any(|d| d.summary == "Invalid report_path"), "{bad:?}: {d:?}");
        }
        assert!(!validate(&config(&[("report_path", "reports/web".into())])).has_errors());
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.0.iter().map(|d| d.attribute.as_ref().map(ToString::to_string).unwrap_or_default()).collect()
    }

    #[test]
    fn analysis_settings_are_checked_on_their_path() {
        let analysis = |attrs: &[(&str, Value)]| {
            let mut c = config(&[("analysis", Value::object(attrs.iter().cloned())), ("canary", step("10", "1m"))]);
            let mut with_defaults = c.clone();
            schema().block.apply_defaults(&c, &mut with_defaults);
            c.set_attr("analysis", with_defaults.get("analysis").clone());
            c
        };
        assert!(validate(&analysis(&[])).is_empty());
        let decimal = |d: &str| Value::Number(tfplugin::Number::parse(d).unwrap());
        assert_eq!(paths(&validate(&analysis(&[("metric", "elb_5xx".into())]))), ["analysis.metric"]);
        assert_eq!(
            paths(&validate(&analysis(&[("metric", "errors".into())]))),
            ["analysis.metric"],
            "a Lambda metric on a load balancer"
        );
        assert_eq!(paths(&validate(&analysis(&[("confidence", decimal("1"))]))), ["analysis.confidence"]);
        assert_eq!(paths(&validate(&analysis(&[("max_increase", decimal("-0.1"))]))), ["analysis.max_increase"]);
        assert_eq!(paths(&validate(&analysis(&[("min_requests", decimal("2.5"))]))), ["analysis.min_requests"]);
        assert_eq!(paths(&validate(&analysis(&[("period", "45s".into())]))), ["analysis.period"]);
        assert_eq!(paths(&validate(&config(&[("on_missing_data", "later".into())]))), ["on_missing_data"]);
        let all_at_once = config(&[("analysis", Value::object([]))]);
        assert_eq!(paths(&validate(&all_at_once)), ["analysis"], "no baseline to compare with");
        let settings = Parsed::new(&analysis(&[("confidence", decimal("0.95"))])).analysis.unwrap().unwrap().settings;
        assert_eq!(
            (settings.confidence, settings.max_increase, settings.min_requests, settings.label.as_str()),
            (0.95, 0.25, 200, "5xx")
        );
        assert_eq!(settings.rule_out_increase, 1.0, "a doubling must be ruled out by default");
        assert_eq!(
            paths(&validate(&analysis(&[("max_increase", decimal("1")), ("rule_out_increase", decimal("1"))]))),
            ["analysis.rule_out_increase"]
        );
        assert_eq!(paths(&validate(&analysis(&[("latency_threshold", "0s".into())]))), ["analysis.latency_threshold"]);
        assert_eq!(
            paths(&validate(&analysis(&[("latency_threshold", "fast".into())]))),
            ["analysis.latency_threshold"]
        );
        let latency =
            Parsed::new(&analysis(&[("latency_threshold", "500ms".into())])).analysis.unwrap().unwrap().latency;
        assert_eq!(latency, Some(Latency::Threshold(Duration::from_millis(500))));
    }

    fn source(canary_variant: &str, baseline_variant: &str) -> Value {
        let metric = |name: &str, variant: &str| {
            Value::object([
                ("namespace", "Checkout".into()),
                ("metric_name", name.into()),
                ("dimensions", Value::Map([("Variant".to_owned(), variant.into())].into())),
            ])
        };
        Value::object([
            ("canary_requests", metric("Requests", canary_variant)),
            ("canary_errors", metric("Errors", canary_variant)),
            ("baseline_requests", metric("Requests", baseline_variant)),
            ("baseline_errors", metric("Errors", baseline_variant)),
        ])
    }

    #[test]
    fn an_analysis_source_names_its_own_metrics() {
        let with_source = |extra: &[(&str, Value)]| {
            let attrs = [("source", source("green", "blue"))].into_iter().chain(extra.iter().cloned());
            config(&[("analysis", Value::object(attrs)), ("canary", step("10", "1m"))])
        };
        let parsed = Parsed::new(&with_source(&[])).analysis.unwrap().unwrap();
        let (canary, baseline) = parsed.source.expect("the source's metrics");
        assert_eq!(parsed.settings.label, "Errors", "messages name the source's error metric");
        assert_eq!(canary.requests.dimensions, [("Variant".to_owned(), "green".to_owned())]);
        assert_eq!(baseline.errors.name, "Errors");
        assert_eq!(
            paths(&validate(&with_source(&[("metric", "5xx".into())]))),
            ["analysis.metric"],
            "the router's metric does not apply"
        );
        let same = config(&[
            ("analysis", Value::object([("source", source("green", "green"))])),
            ("canary", step("10", "1m")),
        ]);
        assert_eq!(paths(&validate(&same)), ["analysis.source"], "a destination compared with itself");
        assert_eq!(parsed.latency, None);
        assert_eq!(
            paths(&validate(&with_source(&[("latency_threshold", "500ms".into())]))),
            ["analysis.latency_threshold"],
            "a source names its own slow requests"
        );
        let slow = |sides: &[(&str, &str)]| {
            let mut block = source("green", "blue");
            for (side, variant) in sides {
                let metric = Value::object([
                    ("namespace", "Checkout".into()),
                    ("metric_name", "Slow".into()),
                    ("dimensions", Value::Map([("Variant".to_owned(), (*variant).into())].into())),
                ]);
                block.set_attr(side, metric);
            }
            config(&[("analysis", Value::object([("source", block)])), ("canary", step("10", "1m"))])
        };
        assert_eq!(
            paths(&validate(&slow(&[("canary_slow_requests", "green")]))),
            ["analysis.source"],
            "both sides or neither"
        );
        let both = Parsed::new(&slow(&[("canary_slow_requests", "green"), ("baseline_slow_requests", "blue")]))
            .analysis
            .unwrap()
            .unwrap();
        let Some(Latency::Counted(counted)) = both.latency else {
            panic!("slow requests counted by the source: {:?}", both.latency)
        };
        let (canary, baseline) = *counted;
        assert_eq!(
            (canary.errors.name.as_str(), canary.requests.name.as_str(), baseline.errors_statistic.as_str()),
            ("Slow", "Requests", "Sum")
        );
    }

    #[test]
    fn every_field_is_checked_on_its_path() {
        assert!(validate(&config(&[])).is_empty());
        let two = config(&[
            ("canary", step("10", "5m")),
            ("linear", Value::object([("step_percent", 10.into()), ("interval", "1m".into())])),
        ]);
        assert_eq!(paths(&validate(&two)), ["linear"]);
        assert_eq!(paths(&validate(&config(&[("canary", step("100", "5m"))]))), ["canary.percent"]);
        assert_eq!(paths(&validate(&config(&[("canary", step("10", "soon"))]))), ["canary.bake"]);
        let steps = Value::List(vec![step("5", "1m"), step("50", "1m"), step("20", "1m")]);
        assert_eq!(paths(&validate(&config(&[("step", steps)]))), ["step[2].percent"]);
        assert_eq!(paths(&validate(&config(&[("step", Value::List(vec![step("0", "1m")]))]))), ["step[0].percent"]);
        assert_eq!(paths(&validate(&config(&[("poll_interval", "100ms".into())]))), ["poll_interval"]);
        assert_eq!(paths(&validate(&config(&[("final_bake", "1 hour".into())]))), ["final_bake"]);
        assert_eq!(
            paths(&validate(&config(&[("timeouts", Value::object([("create", "0s".into())]))]))),
            ["timeouts.create"]
        );
        let swapped = Value::object([
            ("listener_arn", GREEN.into()),
            ("rule_arn", Value::Null),
            ("target_group_arn", LISTENER.into()),
        ]);
        assert_eq!(paths(&validate(&config(&[("alb", swapped)]))), ["alb.listener_arn", "alb.target_group_arn"]);
    }

    #[test]
    fn shares_are_numbers_the_router_can_send() {
        assert!(validate(&config(&[("canary", step("10.5", "1m"))])).is_empty(), "ALB weights reach 0.1%");
        assert!(validate(&config(&[("canary", step("0.1", "1m"))])).is_empty());
        let d = validate(&config(&[("canary", step("0.05", "1m"))]));
        assert_eq!(paths(&d), ["canary.percent"]);
        assert!(d.0[0].detail.contains("nearest share it can send is 0.1%"), "{}", d.0[0].detail);
        let linear = config(&[(
            "linear",
            Value::object([
                ("step_percent", Value::Number(tfplugin::Number::parse("0.05").unwrap())),
                ("interval", "1m".into()),
            ]),
        )]);
        assert_eq!(paths(&validate(&linear)), ["linear.step_percent"]);
    }

    #[test]
    fn exactly_one_router_block() {
        let mut none = config(&[]);
        none.set_attr("alb", Value::Null);
        let d = validate(&none);
        assert!(d.0.iter().any(|d| d.summary == "One router block"), "{d:?}");
    }

    async fn plan(prior: &Value, config: &Value) -> Planned {
        let resource = RolloutResource::new(Arc::new(Shared::default()));
        let mut proposed = config.clone();
        for a in [
            "id",
            "status",
            "previous_target",
            "previous_target_group_arn",
            "traffic",
            "schedule",
            "history",
            "rollback_reason",
        ] {
            proposed.set_attr(a, prior.get(a).clone());
        }
        schema().block.apply_defaults(config, &mut proposed);
        resource.plan(PlanRequest { prior, proposed: &proposed, config }).await
    }

    #[tokio::test]
    async fn plan_shows_the_schedule_and_unknown_outcome() {
        let planned =
            plan(&Value::Null, &config(&[("canary", step("10", "5m")), ("final_bake", "2m".into())])).await.state;
        assert_eq!(planned.get("schedule"), &Value::List(vec![step("10", "5m"), step("100", "2m")]));
        assert_eq!(planned.get("id"), &Value::from(LISTENER));
        assert_eq!(planned.get("poll_interval"), &Value::from("10s"));
        assert_eq!(planned.get("traffic"), &Value::Unknown);
        assert_eq!(planned.get("status"), &Value::Unknown);
    }

    fn promoted(target: &str) -> Value {
        let mut prior = config(&[("poll_interval", "10s".into()), ("final_bake", "0s".into())]);
        prior.set_attr("alb", alb(LISTENER, target));
        prior.set_attr("status", "promoted".into());
        prior.set_attr("traffic", traffic_value(&Split::all_to(target)));
        prior.set_attr("schedule", schedule_value(&Schedule::new(&Strategy::AllAtOnce, Duration::ZERO).unwrap()));
        prior
    }

    #[tokio::test]
    async fn strategy_changes_move_no_traffic_but_target_changes_and_splits_do() {
        let prior = promoted(GREEN);
        let only_strategy = plan(&prior, &config(&[("canary", step("10", "5m"))])).await.state;
        assert_eq!(only_strategy.get("traffic"), prior.get("traffic"));
        assert_eq!(only_strategy.get("status"), &Value::from("promoted"));

        let new_target = plan(&promoted(BLUE), &config(&[])).await.state;
        assert_eq!(new_target.get("traffic"), &Value::Unknown);

        let mut split = prior.clone();
        split.set_attr("traffic", traffic_value(&Split::between(BLUE, GREEN, 30.0)));
        assert_eq!(
            plan(&split, &config(&[])).await.state.get("traffic"),
            &Value::Unknown,
            "a split left behind is resumed"
        );
    }

    #[tokio::test]
    async fn another_listener_means_replacement() {
        let moved = config(&[("alb", alb(&LISTENER.replace("f2f7", "aaaa"), GREEN))]);
        let planned = plan(&promoted(GREEN), &moved).await;
        assert_eq!(
            schema().block.replacing_changes(&promoted(GREEN), &planned.state),
            vec![AttributePath::root("alb").attribute("listener_arn")]
        );
    }

    #[test]
    fn whole_percentages_stay_whole_numbers_in_state() {
        assert_eq!(percent_value(10.0), Value::Number(tfplugin::Number::Int(10)));
        assert_eq!(percent_value(12.5), Value::Number(tfplugin::Number::parse("12.5").unwrap()));
    }
}
