//! `progressive_feature_flag`: release a feature behind an AWS AppConfig
//! feature flag inside `terraform apply`: write the flags document with only
//! this flag changed, deploy it with an AppConfig deployment strategy, watch
//! our gates while the share of clients grows, roll back when one fails,
//! and count nothing until a client is served what was meant.
//!
//! AppConfig deploys; the engine's [`deployment::follow`] watches, as for
//! CodeDeploy. Every write reads the latest version and names it
//! (`Latest-Version-Number`), so another writer's change to another flag is
//! never overwritten: on a conflict the document is read again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tfplugin::log;
use tfplugin::{
    Applied, ApplyRequest, Attribute, AttributePath, Block, Diagnostics, Nesting, PlanRequest, Planned, ReadRequest,
    Resource, Schema, Type, Value,
};
use tokio_util::sync::CancellationToken;

use super::analysis::{self, Analysis};
use super::flags::{self, FlagValue};
use super::gates::{self, MetricGateSpec};
use super::{
    history_lines, history_lines_type, log_progress, percent_value, schedule_type, schedule_value, string_list_of,
    upgrade_history,
};
use crate::Shared;
use crate::aws::Clients;
use crate::aws::appconfig::{FEATURE_FLAGS, ServedBefore, Strategy, WriteError};
use crate::engine::alarms::{AlarmGate, ResolveError};
use crate::engine::deployment::{self, Ending, Event, Follow, Rollback};
use crate::engine::rollout::Cause;
use crate::engine::schedule::{Schedule, Step, Strategy as Steps};
use crate::engine::traffic::format_percent;
use crate::engine::{Both, Clock, SystemClock};

pub const TYPE_NAME: &str = "progressive_feature_flag";
const MODULE: &str = "progressive.feature_flag";
const OUTCOME_ATTRIBUTES: [&str; 6] =
    ["status", "version_number", "deployment_number", "exposure", "history", "rollback_reason"];
/// How a deployment of this resource is described in AppConfig, followed
/// by the flag and a hash of its value.
const DESCRIPTION_PREFIX: &str = "progressive_feature_flag ";
/// Writes retried when another writer changed the document meanwhile.
const WRITE_ATTEMPTS: u32 = 5;

const ANALYSIS: &str = "Judge the users who get the new flag value (canary) against those who do not (baseline), from metrics the application publishes per variant: a `source` block names their requests and errors (such as a `Variant` dimension). The judgement is anytime-valid, as in `progressive_rollout` (design/analysis.md). A failing judgement stops the deployment, and AppConfig rolls back; one still waiting for evidence does not hold AppConfig's schedule.";
const ANALYSIS_METRIC: &str = "Not used: name the errors in the `source` block.";

pub struct FeatureFlag {
    shared: Arc<Shared>,
}

impl FeatureFlag {
    pub fn new(shared: Arc<Shared>) -> FeatureFlag {
        FeatureFlag { shared }
    }
}

pub fn schema() -> Schema {
    // Version 1: `history` holds lines, not objects (design/0015).
    Schema::new(
        1,
        Block::new(
            "Releases a feature behind an AWS AppConfig feature flag inside `terraform apply`: writes a new version of the flags document with only this flag changed (other flags, written by anyone, are kept), deploys it with an AppConfig deployment strategy, \
             and watches CloudWatch alarms, metric thresholds and a with-vs-without analysis while the share of clients grows. When one fails, the timeout passes or Terraform is interrupted, the deployment is stopped, AppConfig rolls back, \
             and the apply fails once a client is served the previous configuration again; the state then records what clients receive, so the next plan shows the release again. Destroying the resource changes nothing in AWS.",
        )
        .attribute(Attribute::computed("id", Type::String, "`<application_id>/<environment_id>/<configuration_profile_id>/<flag>`."))
        .attribute(Attribute::required("application_id", Type::String, "The AppConfig application.").requires_replace())
        .attribute(Attribute::required("environment_id", Type::String, "The environment clients read the flags of.").requires_replace())
        .attribute(Attribute::required("configuration_profile_id", Type::String, "A hosted configuration profile of type `AWS.AppConfig.FeatureFlags`.").requires_replace())
        .attribute(Attribute::required("flag", Type::String, "The flag's key, as defined in the profile's document.").requires_replace())
        .attribute(Attribute::required("enabled", Type::Bool, "Whether the flag is on once released."))
        .attribute(Attribute::optional("attributes", Type::map(Type::String), "The flag's attribute values, as text converted by each attribute's declared type (`\"10\"` for a number, `\"true\"` for a boolean, JSON for an array) and checked against its constraints."))
        .attribute(Attribute::required("deployment_strategy_id", Type::String, "The AppConfig deployment strategy that grows the share of clients, such as `AppConfig.Linear20PercentEvery6Minutes` or a custom one. With `step` blocks, the strategy each step's version is deployed with (one without duration or bake, so that each step waits only for its own bake)."))
        .block(
            "step",
            Nesting::List,
            Block::new("Exposure steps instead of the strategy's growth: each step gives the new value to `percent` of the users, by a split on the context key `split_by` (an AppConfig multi-variant rule `(split pct::P by::$key)`), deploys that version and bakes it before the next; 100% follows the last step. Repeat the block for each step.")
                .attribute(Attribute::required("percent", Type::Number, "Share of users with the new value, in percent: above 0 and below 100, strictly increasing from step to step."))
                .attribute(Attribute::required("bake", Type::String, "How long to watch this step, as a Go duration.")),
        )
        .attribute(Attribute::optional("split_by", Type::String, "With `step` blocks: the context key the application evaluates the flag with, by which users are split (such as `userId`); a user keeps their side as the share grows."))
        .attribute(Attribute::optional("alarm_names", Type::list(Type::String), "CloudWatch metric or composite alarms watched during the whole deployment and its bake, beside the environment's own monitors. All must exist before anything is written."))
        .block("metric", Nesting::List, gates::metric_block())
        .block("analysis", Nesting::Single, analysis::block(ANALYSIS, ANALYSIS_METRIC))
        .attribute(gates::on_missing_data_attribute("the analysis and the metric gates"))
        .attribute(Attribute::defaulted("poll_interval", Type::String, "10s", "How often to read the deployment and the gates, as a Go duration; at least `\"1s\"`."))
        .block("timeouts", Nesting::Single, super::timeouts_block("A release"))
        .attribute(super::report_path_attribute("the timeline of the share of clients with the new value, each step or growth of that share, the gate failure that stopped it and the rollback, with AppConfig's status changes", "deploys the flag (released, stopped or rolled back; not an apply that finds the value already served)"))
        .attribute(Attribute::computed("status", Type::String, "`released` (clients receive the new value); `rolled_back` (a gate, the timeout or an environment monitor rolled it back, confirmed by a client served the previous configuration); `interrupted` (Terraform was interrupted, rolled back); `failed` (anything else, such as a rollback not confirmed)."))
        .attribute(Attribute::computed("version_number", Type::Number, "The hosted configuration version this resource wrote last."))
        .attribute(Attribute::computed("deployment_number", Type::Number, "The AppConfig deployment this resource ran last."))
        .attribute(Attribute::computed("exposure", Type::Number, "The share of clients receiving the new value when the apply ended, in percent (100 once released, 0 after a rollback)."))
        .attribute(Attribute::computed("rollback_reason", Type::String, "Why the last release rolled back; null when it was released."))
        .attribute(Attribute::computed("schedule", schedule_type(), "The shares of clients the strategy reaches and how long each lasts (`percent`, `bake`), the last one baked for the strategy's final bake, known at plan time so that `terraform plan` shows them."))
        .attribute(Attribute::computed("history", history_lines_type(), "What the last apply saw, one line per state change and share of clients, gate failure and rollback: `<time> <event> <percent>%: <detail>`, where `percent` is the share of clients.")),
    )
}

struct Parsed {
    application: Option<String>,
    environment: Option<String>,
    profile: Option<String>,
    flag: Option<String>,
    value: Option<FlagValue>,
    strategy: Option<String>,
    /// `Some(None)`: the strategy's own growth.
    exposure: Option<Option<Exposure>>,
    alarm_names: Option<Vec<String>>,
    metrics: Option<Vec<MetricGateSpec>>,
    analysis: Option<Option<Analysis>>,
    poll_interval: Option<Duration>,
    create_timeout: Duration,
    update_timeout: Duration,
    report_path: Option<String>,
    diagnostics: Diagnostics,
}

/// Exposure steps: the schedule (the steps, then 100%) and the context key
/// users are split by.
#[derive(Debug, Clone)]
struct Exposure {
    schedule: Schedule,
    split_by: String,
}

struct Model {
    application: String,
    environment: String,
    profile: String,
    flag: String,
    value: FlagValue,
    strategy: String,
    exposure: Option<Exposure>,
    alarm_names: Vec<String>,
    metrics: Vec<MetricGateSpec>,
    analysis: Option<Analysis>,
    poll_interval: Duration,
    create_timeout: Duration,
    update_timeout: Duration,
    report_path: Option<String>,
}

/// Whether `id` has the shape AppConfig gives strategy ids.
fn strategy_id_shape(id: &str) -> bool {
    let custom = (4..=7).contains(&id.len()) && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let predefined = id
        .strip_prefix("AppConfig.")
        .is_some_and(|rest| (9..=40).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_alphanumeric()));
    custom || predefined
}

/// A known, non-empty text attribute.
fn text_of(config: &Value, name: &str, d: &mut Diagnostics) -> Option<String> {
    let text = config.get(name).as_str()?;
    if text.trim().is_empty() {
        d.error_at(AttributePath::root(name), format!("Empty {name}"), format!("{name} is empty."));
        return None;
    }
    Some(text.to_owned())
}

impl Parsed {
    fn new(given: &Value) -> Parsed {
        let mut config = given.clone();
        schema().block.apply_defaults(given, &mut config);
        let config = &config;
        let mut d = Diagnostics::default();
        let flag = text_of(config, "flag", &mut d);
        if let Some(key) = &flag {
            let valid = key.len() <= 64
                && key.starts_with(|c: char| c.is_ascii_lowercase())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                d.error_at(AttributePath::root("flag"), "Invalid flag key", format!("{key:?} is not a flag key: AppConfig keys start with a lowercase letter, then up to 63 letters, digits, `_` or `-`."));
            }
        }
        let strategy = text_of(config, "deployment_strategy_id", &mut d);
        if let Some(id) = strategy.as_deref().filter(|id| !strategy_id_shape(id)) {
            d.error_at(AttributePath::root("deployment_strategy_id"), "Invalid deployment_strategy_id", format!("{id:?} is not a deployment strategy id: AppConfig's are 4 to 7 lowercase letters and digits (a custom strategy), or AppConfig. and 9 to 40 letters and digits (a predefined one)."));
        }
        let attributes = match config.get("attributes") {
            Value::Null => Some(BTreeMap::new()),
            v => v
                .entries()
                .and_then(|entries| entries.iter().map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()),
        };
        let value = match (config.get("enabled").as_bool(), attributes) {
            (Some(enabled), Some(attributes)) => Some(FlagValue { enabled, attributes }),
            _ => None,
        };
        let analysis = analysis::parse(config, None, &mut d);
        if !config.get("analysis").is_null() && config.get("analysis").get("source").is_null() {
            d.error_at(AttributePath::root("analysis"), "Analysis needs a source", "AppConfig publishes no metrics per flag value; name the application's own requests and errors of each side in a source block.");
        }
        let (create_timeout, update_timeout) = super::timeouts_of(config, "A release", &mut d);
        let exposure = exposure(config, &mut d);
        Parsed {
            application: text_of(config, "application_id", &mut d),
            environment: text_of(config, "environment_id", &mut d),
            profile: text_of(config, "configuration_profile_id", &mut d),
            flag,
            value,
            strategy,
            exposure,
            alarm_names: string_list_of(config.get("alarm_names"), AttributePath::root("alarm_names"), &mut d)
                .or_else(|| config.get("alarm_names").is_null().then(Vec::new)),
            metrics: gates::metrics(config, &mut d),
            analysis,
            poll_interval: super::poll_interval_of(config, &mut d),
            create_timeout,
            update_timeout,
            report_path: super::report_path_of(config, &mut d),
            diagnostics: d,
        }
    }

    fn complete(self) -> Result<Model, Diagnostics> {
        let mut d = self.diagnostics;
        match (
            self.application,
            self.environment,
            self.profile,
            self.flag,
            self.value,
            self.strategy,
            self.exposure,
            self.alarm_names,
            self.metrics,
            self.analysis,
            self.poll_interval,
        ) {
            (
                Some(application),
                Some(environment),
                Some(profile),
                Some(flag),
                Some(value),
                Some(strategy),
                Some(exposure),
                Some(alarm_names),
                Some(metrics),
                Some(analysis),
                Some(poll_interval),
            ) if !d.has_errors() => Ok(Model {
                application,
                environment,
                profile,
                flag,
                value,
                strategy,
                exposure,
                alarm_names,
                metrics,
                analysis,
                poll_interval,
                create_timeout: self.create_timeout,
                update_timeout: self.update_timeout,
                report_path: self.report_path,
            }),
            _ => {
                if !d.has_errors() {
                    d.error(
                        "Release inputs unknown at apply",
                        "Every input of the release must be known when it runs.",
                    );
                }
                Err(d)
            }
        }
    }
}

/// The `step` blocks and `split_by`: `Some(None)` without steps.
fn exposure(config: &Value, d: &mut Diagnostics) -> Option<Option<Exposure>> {
    let items = config.get("step").elements()?;
    let split_by = config.get("split_by");
    if items.is_empty() {
        if !split_by.is_null() {
            d.error_at(
                AttributePath::root("split_by"),
                "split_by without steps",
                "split_by names the context key exposure steps split users by; add step blocks, or remove it.",
            );
        }
        return Some(None);
    }
    let mut steps = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |name: &str| AttributePath::root("step").index(i).attribute(name);
        let percent = item.get("percent").as_number().map(tfplugin::Number::as_f64);
        if let Some(p) = percent.filter(|p| !(*p > 0.0 && *p < 100.0)) {
            d.error_at(
                at("percent"),
                "Invalid percent",
                format!("percent must be above 0 and below 100, not {}.", format_percent(p)),
            );
            return None;
        }
        if let (Some(p), Some(previous)) = (percent, steps.last().map(|s: &Step| s.percent))
            && p <= previous
        {
            d.error_at(
                at("percent"),
                "Steps must increase",
                format!(
                    "step {} exposes {}%, not more than the {}% of the step before it.",
                    i + 1,
                    format_percent(p),
                    format_percent(previous)
                ),
            );
            return None;
        }
        let bake = super::duration_of(item.get("bake"), at("bake"), d);
        steps.push(Step { percent: percent?, bake: bake? });
    }
    let Some(key) = split_by.as_str() else {
        if split_by.is_null() {
            d.error_at(AttributePath::root("split_by"), "Missing split_by", "Exposure steps split users by a context key the application evaluates the flag with; set split_by (such as \"userId\").");
        }
        return None;
    };
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        d.error_at(
            AttributePath::root("split_by"),
            "Invalid split_by",
            format!("{key:?} is not a context key a rule can name (letters, digits, `_` and `-`)."),
        );
        return None;
    }
    let schedule = Schedule::new(&Steps::Steps(steps), Duration::ZERO).ok()?;
    Some(Some(Exposure { schedule, split_by: key.to_owned() }))
}

fn nothing_written(summary: &str, detail: impl std::fmt::Display) -> Diagnostics {
    Diagnostics::single(summary, format!("{detail}\n\nNothing was written or deployed."))
}

/// The schedule of a strategy: each share held until the next, the last
/// for the final bake.
fn schedule_of(strategy: &Strategy) -> Option<Schedule> {
    let steps = strategy.steps();
    let minutes = |m: f64| Duration::from_secs_f64((m * 60.0).max(0.0));
    let held: Vec<Step> = steps.windows(2).map(|w| Step { percent: w[0].0, bake: minutes(w[1].1 - w[0].1) }).collect();
    Schedule::new(&Steps::Steps(held), minutes(f64::from(strategy.bake_minutes))).ok()
}

/// Checks the profile, environment, strategy and the flag in the latest
/// document; the strategy, and the latest version (number and document).
async fn resolve(
    clients: &Clients,
    application: &str,
    environment: &str,
    profile: &str,
    strategy: &str,
    flag: &str,
    value: &FlagValue,
) -> Result<(Strategy, Option<(i32, serde_json::Value)>), Diagnostics> {
    let appconfig = &clients.appconfig;
    let cannot = |e: deployment::ServiceError| nothing_written("Cannot read AppConfig", e);
    match appconfig.profile_type(application, profile).await.map_err(cannot)? {
        None => {
            return Err(Diagnostics::single_at(
                AttributePath::root("configuration_profile_id"),
                "Configuration profile not found",
                format!(
                    "Application {application:?} has no configuration profile {profile:?}. Nothing was written or deployed."
                ),
            ));
        }
        Some(kind) if kind != FEATURE_FLAGS => {
            return Err(Diagnostics::single_at(
                AttributePath::root("configuration_profile_id"),
                "Not a feature flag profile",
                format!(
                    "Profile {profile:?} is of type {kind:?}, not {FEATURE_FLAGS}. Nothing was written or deployed."
                ),
            ));
        }
        Some(_) => {}
    }
    if !appconfig.environment_exists(application, environment).await.map_err(cannot)? {
        return Err(Diagnostics::single_at(
            AttributePath::root("environment_id"),
            "Environment not found",
            format!("Application {application:?} has no environment {environment:?}. Nothing was written or deployed."),
        ));
    }
    let found = appconfig.strategy(strategy).await.map_err(cannot)?;
    let found = found.ok_or_else(|| {
        Diagnostics::single_at(
            AttributePath::root("deployment_strategy_id"),
            "Deployment strategy not found",
            format!("AppConfig has no deployment strategy {strategy:?}. Nothing was written or deployed."),
        )
    })?;
    let latest = appconfig.latest_version(application, profile).await.map_err(cannot)?;
    let latest = match latest {
        Some((number, content)) => Some((
            number,
            serde_json::from_slice::<serde_json::Value>(&content).map_err(|_| {
                nothing_written(
                    "Unreadable flags document",
                    format!("Version {number} of profile {profile:?} is not JSON."),
                )
            })?,
        )),
        None => None,
    };
    let document =
        latest.as_ref().map_or_else(|| serde_json::json!({ "version": "1", "flags": {} }), |(_, d)| d.clone());
    if let Err(why) = flags::with_flag(&document, flag, value) {
        return Err(Diagnostics::single_at(
            AttributePath::root("flag"),
            "Cannot set the flag",
            format!("In the latest version of profile {profile:?}, {why}. Nothing was written or deployed."),
        ));
    }
    Ok((found, latest))
}

/// The description marking a deployment as this resource's release of `value`.
fn marker(profile: &str, flag: &str, value: &FlagValue) -> String {
    let identity = format!("{profile}\n{flag}\n{}\n{:?}", value.enabled, value.attributes);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, identity.as_bytes());
    let hex: String = digest.as_ref().iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{DESCRIPTION_PREFIX}{flag} {hex}")
}

#[async_trait]
impl Resource for FeatureFlag {
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
        let id = match (&parsed.application, &parsed.environment, &parsed.profile, &parsed.flag) {
            (Some(a), Some(e), Some(p), Some(f)) => Value::from(format!("{a}/{e}/{p}/{f}")),
            _ => Value::Unknown,
        };
        state.set_attr("id", id);
        // A new value, an unknown one, or a last release that did not end
        // released: the apply deploys.
        let inputs = |v: &Value| (v.get("enabled").clone(), v.get("attributes").clone());
        let deploys = prior.is_null()
            || !config.get("enabled").is_known()
            || !config.get("attributes").is_known()
            || inputs(prior) != inputs(config)
            || prior.get("status").as_str() != Some("released");
        let mut diagnostics = Diagnostics::default();
        if !deploys {
            return Planned { state, requires_replace: Vec::new(), diagnostics };
        }
        for name in OUTCOME_ATTRIBUTES {
            state.set_attr(name, Value::Unknown);
        }
        let mut schedule = None;
        match self.shared.clients() {
            Ok(clients) => {
                if let (Some(a), Some(e), Some(p), Some(s), Some(f), Some(v)) = (&parsed.application, &parsed.environment, &parsed.profile, &parsed.strategy, &parsed.flag, &parsed.value) {
                    match resolve(&clients, a, e, p, s, f, v).await {
                        Ok((strategy, _)) => schedule = match &parsed.exposure {
                            Some(Some(exposure)) => Some(exposure.schedule.clone()),
                            _ => schedule_of(&strategy),
                        },
                        Err(d) => diagnostics.extend(d),
                    }
                }
                if let Some(alarms) = parsed.alarm_names.as_ref().filter(|a| !a.is_empty())
                    && let Err(ResolveError::Missing(missing)) = AlarmGate::resolve(clients.alarms.clone(), alarms.clone()).await {
                        diagnostics.error_at(AttributePath::root("alarm_names"), "Alarms not found", format!("{}. Nothing was written or deployed.", ResolveError::Missing(missing)));
                    }
            }
            Err(_) if self.shared.deferred() => diagnostics.warning(
                "Checks deferred to apply",
                "The provider configuration is known only after apply, so this plan did not check the profile, the flag, the strategy or the alarms in AWS. The apply checks them before it writes anything.",
            ),
            Err(e) => diagnostics.extend(e),
        }
        if let Some(schedule) = &schedule {
            let timeout = if prior.is_null() { parsed.create_timeout } else { parsed.update_timeout };
            diagnostics.extend(super::schedule_against_timeout(schedule, timeout, "release"));
        }
        state.set_attr("schedule", schedule.as_ref().map_or(Value::Unknown, schedule_value));
        Planned { state, requires_replace: Vec::new(), diagnostics }
    }

    async fn apply(&self, request: ApplyRequest<'_>) -> Applied {
        let failed = |diagnostics: Diagnostics| Applied { state: request.prior.clone(), diagnostics };
        if request.planned.get("status").is_known() {
            return Applied { state: request.planned.clone(), diagnostics: Diagnostics::default() };
        }
        let model = match Parsed::new(request.planned).complete() {
            Ok(model) => model,
            Err(d) => return failed(d),
        };
        let clients = match self.shared.clients() {
            Ok(clients) => clients,
            Err(d) => return failed(d),
        };
        let started = SystemClock.now();
        let mut applied = match run(&clients, &model, request.prior, request.stop).await {
            Ok(done) => {
                let report = model.report_path.as_deref().map(|prefix| write_report(prefix, &done, &model, started));
                let mut applied = done.into_applied(request.planned, &model);
                applied.diagnostics.extend(report.unwrap_or_default());
                applied
            }
            Err(d) => return failed(d),
        };
        // Unknown at plan when the names were (resources created by the same apply).
        if !applied.state.get("schedule").is_known() {
            let schedule = match &model.exposure {
                Some(exposure) => Some(exposure.schedule.clone()),
                None => clients.appconfig.strategy(&model.strategy).await.ok().flatten().and_then(|s| schedule_of(&s)),
            };
            applied.state.set_attr("schedule", schedule.as_ref().map_or(Value::Null, schedule_value));
        }
        applied
    }

    /// Refreshes the flag's value from what a client receives now, so a
    /// change made outside Terraform shows in the plan.
    async fn read(&self, request: ReadRequest<'_>) -> Result<Value, Diagnostics> {
        let state = request.state;
        if self.shared.deferred() {
            return Ok(state.clone());
        }
        let clients = self.shared.clients()?;
        let (Some(application), Some(environment), Some(profile), Some(flag)) = (
            state.get("application_id").as_str(),
            state.get("environment_id").as_str(),
            state.get("configuration_profile_id").as_str(),
            state.get("flag").as_str(),
        ) else {
            return Ok(state.clone());
        };
        let served = clients
            .appconfig
            .served(application, environment, profile)
            .await
            .map_err(|e| Diagnostics::single("Cannot read what clients receive", e.to_string()))?;
        let mut fresh = state.clone();
        if let Some(value) = flags::served_value(&served, flag) {
            fresh.set_attr("enabled", Value::Bool(value.enabled));
        }
        Ok(fresh)
    }

    /// Version 0 stored `history` as objects.
    fn upgrade_state(
        &self,
        version: i64,
        state: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Diagnostics> {
        upgrade_history(version, state)
    }

    /// Adopts what clients receive now for `<application>/<environment>/<profile>/<flag>`.
    async fn import(&self, id: &str, _stop: &CancellationToken) -> Result<Value, Diagnostics> {
        let cannot = |detail: String| Diagnostics::single("Cannot import", detail);
        let clients = self.shared.clients()?;
        let parts: Vec<&str> = id.split('/').collect();
        let [application, environment, profile, flag] = parts[..] else {
            return Err(cannot(format!(
                "{id:?} is not <application_id>/<environment_id>/<configuration_profile_id>/<flag>."
            )));
        };
        let appconfig = &clients.appconfig;
        let served = appconfig.served(application, environment, profile).await.map_err(|e| cannot(e.to_string()))?;
        let value = flags::served_value(&served, flag)
            .ok_or_else(|| cannot(format!("Clients of environment {environment:?} receive no flag {flag:?}.")))?;
        let strategy = appconfig.last_strategy(application, environment).await.map_err(|e| cannot(e.to_string()))?;
        let ty = schema().ty();
        let mut state = Value::null_object(&ty);
        schema().block.apply_defaults(&Value::null_object(&ty), &mut state);
        for (name, text) in [
            ("id", id),
            ("application_id", application),
            ("environment_id", environment),
            ("configuration_profile_id", profile),
            ("flag", flag),
        ] {
            state.set_attr(name, text.into());
        }
        state.set_attr("enabled", Value::Bool(value.enabled));
        if !value.attributes.is_empty() {
            state.set_attr(
                "attributes",
                Value::Map(value.attributes.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
            );
        }
        state.set_attr("deployment_strategy_id", strategy.map_or(Value::Null, Value::from));
        state.set_attr("metric", Value::List(Vec::new()));
        state.set_attr("status", "released".into());
        state.set_attr("exposure", percent_value(100.0));
        state.set_attr("history", Value::List(Vec::new()));
        Ok(state)
    }
}

/// What an apply did.
enum Done {
    /// Clients already receive the value; nothing was written.
    AlreadyReleased,
    Ran {
        version: Option<i32>,
        number: i32,
        ending: Ending,
        history: Vec<Event>,
        before: Option<FlagValue>,
    },
}

async fn run(clients: &Clients, model: &Model, prior: &Value, stop: &CancellationToken) -> Result<Done, Diagnostics> {
    let appconfig = &clients.appconfig;
    let (strategy, latest) = resolve(
        clients,
        &model.application,
        &model.environment,
        &model.profile,
        &model.strategy,
        &model.flag,
        &model.value,
    )
    .await?;
    let document = latest.map_or_else(|| serde_json::json!({ "version": "1", "flags": {} }), |(_, d)| d);
    let cannot = |e: deployment::ServiceError| nothing_written("Cannot read AppConfig", e);
    let before = appconfig.served(&model.application, &model.environment, &model.profile).await.map_err(cannot)?;
    let (alarms, _) =
        AlarmGate::resolve(clients.alarms.clone(), model.alarm_names.clone()).await.map_err(|e| match e {
            ResolveError::Missing(_) => Diagnostics::single_at(
                AttributePath::root("alarm_names"),
                "Alarms not found",
                format!("{e}. Nothing was written or deployed."),
            ),
            ResolveError::Source(e) => nothing_written("Could not read the alarms", e.0),
        })?;
    let steps = model.exposure.as_ref().map_or(strategy.steps().len(), |e| e.schedule.steps().len());
    let analysis = match &model.analysis {
        Some(analysis) => {
            Some(analysis::gates(analysis, None, steps, clients).map_err(|e| nothing_written(e.summary, e.detail))?)
        }
        None => None,
    };
    let metrics: Vec<_> = model.metrics.iter().map(|m| m.gate(&clients.metrics)).collect();
    let gate = Both(Both(alarms, Some(metrics)), analysis);
    let mark = marker(&model.profile, &model.flag, &model.value);
    let under_way = appconfig.under_way(&model.application, &model.environment).await.map_err(cannot)?;
    if under_way.as_ref().is_none_or(|(_, description)| *description != mark)
        && flags::serves(&before, &document, &model.flag, &model.value)
    {
        log::info(
            MODULE,
            "clients already receive this value; nothing to release",
            &[("flag", model.flag.clone().into())],
        );
        return Ok(Done::AlreadyReleased);
    }
    // What clients received before the release, and the flag's value then
    // (written back after a rollback): by default the latest version and
    // what a new client is served now.
    let mut previous_document = document.clone();
    let mut before = before;
    // When following a deployment already under way: the flag's entry a
    // client was served before it.
    let mut resumed_from = None;
    let (version, number) = match under_way {
        Some((number, description)) if description == mark => {
            log::info(
                MODULE,
                "following the deployment an earlier apply of this release started",
                &[("deployment_number", number.into())],
            );
            // Mid-deployment, the latest version and what a new client is
            // served may be the new value already: what clients received
            // before is the version the last completed deployment gave them.
            let deployed = appconfig
                .deployed_before(&model.application, &model.environment, &model.profile, number)
                .await
                .map_err(cannot)?;
            previous_document = deployed
                .and_then(|content| serde_json::from_slice(&content).ok())
                .unwrap_or_else(|| serde_json::json!({ "version": "1", "flags": {} }));
            let expected = flags::served_entry(flags::current(&previous_document, &model.flag).ok().flatten().as_ref());
            before =
                serde_json::to_vec(&serde_json::json!({ model.flag.as_str(): expected.clone() })).unwrap_or_default();
            resumed_from = Some(expected);
            (None, number)
        }
        Some((number, description)) => {
            return Err(nothing_written(
                "Another deployment is under way",
                format!(
                    "Environment {:?} is running deployment {number} ({description:?}). AppConfig deploys one configuration at a time per environment; wait for it to end.",
                    model.environment
                ),
            ));
        }
        None => {
            if let Some(exposure) = &model.exposure {
                let previous = flags::current(&document, &model.flag)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| serde_json::json!({ "enabled": false }));
                return run_steps(clients, model, &gate, exposure, &document, &before, &previous, prior, stop).await;
            }
            let version = write(clients, model, |doc| flags::with_flag(doc, &model.flag, &model.value)).await?;
            let number = match appconfig
                .start(&model.application, &model.environment, &model.profile, &model.strategy, version, &mark)
                .await
            {
                Ok(number) => number,
                Err(e) => {
                    let previous = flags::current(&document, &model.flag)
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| serde_json::json!({ "enabled": false }));
                    return Err(nothing_deployed(clients, model, version, &previous, e).await);
                }
            };
            log::info(
                MODULE,
                "deployment started",
                &[
                    ("flag", model.flag.clone().into()),
                    ("version", version.into()),
                    ("deployment_number", number.into()),
                    ("strategy", model.strategy.clone().into()),
                ],
            );
            (Some(version), number)
        }
    };
    let timeout = if prior.is_null() { model.create_timeout } else { model.update_timeout };
    let id = number.to_string();
    let follow = Follow { id: &id, poll_interval: model.poll_interval, deadline: SystemClock.now() + timeout };
    let log_event = |e: &Event| log_progress(MODULE, e);
    let served_before: ServedBefore = match &resumed_from {
        Some(expected) => Box::new(move |served| flags::serves_entry(served, &model.flag, expected)),
        None => Box::new(|served| served == before.as_slice()),
    };
    let deployments =
        appconfig.deployments(&model.application, &model.environment, &model.profile, Some(served_before));
    let (ending, history) = deployment::follow(&deployments, &gate, &SystemClock, &follow, stop, log_event).await;
    // A release counts once a new client is served the new value.
    let ending = match ending {
        Ending::Succeeded => match appconfig.served(&model.application, &model.environment, &model.profile).await {
            Ok(served) if flags::serves(&served, &document, &model.flag, &model.value) => Ending::Succeeded,
            Ok(_) => Ending::Lost(
                "AppConfig reports the deployment complete, but a new client is not served the new value".into(),
            ),
            Err(e) => {
                Ending::Lost(format!("the deployment completed, but what clients receive could not be read: {e}"))
            }
        },
        other => other,
    };
    // AppConfig's rollback changes what clients receive, not the latest
    // version, which still has the flag changed: the next writer (anyone's
    // release of another flag) would deploy it. The flag's value from
    // before is written back, so the latest version says what is served.
    let mut history = history;
    if matches!(
        ending,
        Ending::Stopped { rollback: Rollback::Confirmed { .. }, .. }
            | Ending::EndedByService { rollback: Rollback::Confirmed { .. }, .. }
    ) {
        let previous = flags::current(&previous_document, &model.flag)
            .ok()
            .flatten()
            .unwrap_or_else(|| serde_json::json!({ "enabled": false }));
        let detail = match write(clients, model, |doc| flags::with_entry(doc, &model.flag, &previous)).await {
            Ok(restored) => format!(
                "version {restored} written with the flag's value from before, so that the next deployment of the document does not release it again"
            ),
            Err(d) => format!(
                "the flag's value from before could not be written back ({}); the latest version still has the new value",
                d.0.iter().map(|d| d.detail.clone()).collect::<Vec<_>>().join(" ")
            ),
        };
        let event = Event { at: SystemClock.now(), percent: 0.0, kind: deployment::EventKind::Rollback, detail };
        log_event(&event);
        history.push(event);
    }
    Ok(Done::Ran { version, number, ending, history, before: flags::served_value(&before, &model.flag) })
}

/// Exposure steps: each step's split written and deployed, then baked with
/// the gates; 100% last. Anything that stops it deploys what clients
/// received before (`previous`, the flag's value then) and confirms it.
#[allow(clippy::too_many_arguments)]
async fn run_steps<G: crate::engine::Gate>(
    clients: &Clients,
    model: &Model,
    gate: &G,
    exposure: &Exposure,
    document: &serde_json::Value,
    before: &[u8],
    previous: &serde_json::Value,
    prior: &Value,
    stop: &CancellationToken,
) -> Result<Done, Diagnostics> {
    let appconfig = &clients.appconfig;
    let timeout = if prior.is_null() { model.create_timeout } else { model.update_timeout };
    let deadline = SystemClock.now() + timeout;
    let mut history: Vec<Event> = Vec::new();
    let log_event = |e: &Event| log_progress(MODULE, e);
    let (mut version, mut number) = (None, 0);
    let mut stopped = None;
    for (i, step) in exposure.schedule.steps().iter().enumerate() {
        let percent = step.percent;
        let last = percent >= 100.0;
        // Once a step has been deployed, any failure must undo it.
        let deployed = version.is_some();
        let written = match write(clients, model, |doc| {
            if last {
                flags::with_flag(doc, &model.flag, &model.value)
            } else {
                flags::with_exposure(doc, &model.flag, &model.value, percent, &exposure.split_by)
            }
        })
        .await
        {
            Ok(written) => written,
            Err(d) if !deployed => return Err(d),
            Err(d) => {
                stopped = Some(Cause::GateUnreadable(format!(
                    "step {} could not be written: {}",
                    i + 1,
                    d.0.iter().map(|d| d.detail.clone()).collect::<Vec<_>>().join(" ")
                )));
                break;
            }
        };
        let shift_started = SystemClock.now();
        number = match appconfig
            .start(
                &model.application,
                &model.environment,
                &model.profile,
                &model.strategy,
                written,
                &format!("{} step {}", marker(&model.profile, &model.flag, &model.value), i + 1),
            )
            .await
        {
            Ok(number) => number,
            Err(e) if !deployed => return Err(nothing_deployed(clients, model, written, previous, e).await),
            Err(e) => {
                stopped = Some(Cause::GateUnreadable(format!("step {} could not be deployed: {e}", i + 1)));
                break;
            }
        };
        version = Some(written);
        let id = number.to_string();
        let follow = Follow { id: &id, poll_interval: model.poll_interval, deadline };
        let deployments = appconfig.deployments(&model.application, &model.environment, &model.profile, None);
        let (ending, events) =
            deployment::follow(&deployments, gate, &SystemClock, &follow, stop, |e| log_event(e)).await;
        // A step's deployment gives its version to every client at once; its
        // own events matter only when it did not complete.
        if ending != Ending::Succeeded {
            history.extend(events);
        }
        let cause = match ending {
            Ending::Succeeded => None,
            Ending::Stopped { cause, .. } => Some(cause),
            Ending::EndedByService { error, .. } => Some(Cause::GateUnreadable(format!(
                "AppConfig rolled back step {}: {}",
                i + 1,
                error.unwrap_or_default()
            ))),
            Ending::Lost(why) => Some(Cause::GateUnreadable(why)),
        };
        if let Some(cause) = cause {
            stopped = Some(cause);
            break;
        }
        let event = Event {
            at: SystemClock.now(),
            percent,
            kind: deployment::EventKind::Shift,
            detail: format!(
                "step {}: {}% of users split by {} get the new value, version {written} deployed",
                i + 1,
                format_percent(percent),
                exposure.split_by
            ),
        };
        log_event(&event);
        history.push(event);
        gate.begin_step(shift_started..SystemClock.now(), percent);
        if last || step.bake.is_zero() {
            continue;
        }
        let left: Duration = (deadline - SystemClock.now()).try_into().unwrap_or(Duration::ZERO);
        let outcome = crate::engine::bake(
            &SystemClock,
            gate,
            crate::engine::Bake { duration: step.bake.min(left), poll_interval: model.poll_interval, hold_limit: left },
            stop,
            |_| {},
        )
        .await;
        let cause = match outcome {
            Ok(crate::engine::BakeOutcome::Passed { .. }) if step.bake > left => Some(Cause::Timeout),
            Ok(crate::engine::BakeOutcome::Passed { .. }) => None,
            Ok(crate::engine::BakeOutcome::Failed { finding, .. }) => Some(Cause::Gate(finding)),
            Ok(crate::engine::BakeOutcome::Interrupted { .. }) => Some(Cause::Stopped),
            Ok(crate::engine::BakeOutcome::Undecided { reason, .. }) => Some(Cause::Undecided(reason)),
            Err(e) => Some(Cause::GateUnreadable(e.0)),
        };
        if let Some(cause) = cause {
            if let Cause::Gate(finding) = &cause {
                let event = Event {
                    at: SystemClock.now(),
                    percent,
                    kind: deployment::EventKind::GateFailed,
                    detail: format!("{} is failing: {}", finding.source, finding.reason),
                };
                log_event(&event);
                history.push(event);
            }
            stopped = Some(cause);
            break;
        }
        let event = Event {
            at: SystemClock.now(),
            percent,
            kind: deployment::EventKind::Baked,
            detail: format!("step {} baked for {}", i + 1, crate::duration::format(step.bake)),
        };
        log_event(&event);
        history.push(event);
    }
    let ending = match stopped {
        None => match appconfig.served(&model.application, &model.environment, &model.profile).await {
            Ok(served) if flags::serves(&served, document, &model.flag, &model.value) => Ending::Succeeded,
            Ok(_) => Ending::Lost("the last step completed, but a new client is not served the new value".into()),
            Err(e) => Ending::Lost(format!("the last step completed, but what clients receive could not be read: {e}")),
        },
        Some(cause) => {
            let rollback = restore(clients, model, previous, before, &mut history).await;
            Ending::Stopped { cause, rollback }
        }
    };
    Ok(Done::Ran { version, number, ending, history, before: flags::served_value(before, &model.flag) })
}

/// Writes the report of a release this apply ran; see [`super::write_report`].
fn write_report(prefix: &str, done: &Done, model: &Model, started: time::OffsetDateTime) -> Diagnostics {
    let Done::Ran { number, ending, history, before, .. } = done else { return Diagnostics::default() };
    let followed = crate::report::FollowedDeployment::new(history, ending);
    let describe = |value: &FlagValue| {
        let attributes: Vec<String> = value.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        // Reads "flag checkout_v2 enabled on AppConfig deployment 3 ..." in the page's title.
        let state = if value.enabled { "enabled" } else { "disabled" };
        if attributes.is_empty() { state.to_owned() } else { format!("{state} ({})", attributes.join(", ")) }
    };
    let routing = format!(
        "AppConfig deployment {number} of environment {}/{}, profile {}",
        model.application, model.environment, model.profile
    );
    let origin = format!("flag {} {}", model.flag, before.as_ref().map_or("disabled (not served)".into(), describe));
    let target = format!("flag {} {}", model.flag, describe(&model.value));
    let schedule = model.exposure.as_ref().map(|e| &e.schedule);
    let report = followed.report("Release", routing, (origin, target), schedule, started);
    super::write_report(MODULE, prefix, &report)
}

/// Deploys the flag's value from before the release (`previous`) and
/// confirms that a new client is served what it received before.
async fn restore(
    clients: &Clients,
    model: &Model,
    previous: &serde_json::Value,
    before: &[u8],
    history: &mut Vec<Event>,
) -> Rollback {
    let appconfig = &clients.appconfig;
    let written = match write(clients, model, |doc| flags::with_entry(doc, &model.flag, previous)).await {
        Ok(version) => version,
        Err(d) => {
            return Rollback::NotConfirmed {
                id: None,
                why: d.0.iter().map(|d| d.detail.clone()).collect::<Vec<_>>().join(" "),
            };
        }
    };
    let number = match appconfig
        .start(
            &model.application,
            &model.environment,
            &model.profile,
            &model.strategy,
            written,
            &format!("{TYPE_NAME} rollback of {}", model.flag),
        )
        .await
    {
        Ok(number) => number,
        Err(e) => return Rollback::NotConfirmed { id: None, why: e.to_string() },
    };
    let id = number.to_string();
    // Nothing stops the restore (no gate, no interrupt, no deadline: stopping
    // it would roll clients back to the last step); it is followed for
    // [`deployment::ROLLBACK_WAIT`] at most.
    let forever = SystemClock.now() + Duration::from_secs(10 * 365 * 24 * 3600);
    let follow = Follow { id: &id, poll_interval: model.poll_interval.min(Duration::from_secs(5)), deadline: forever };
    let deployments = appconfig.deployments(&model.application, &model.environment, &model.profile, None);
    let followed = tokio::time::timeout(
        deployment::ROLLBACK_WAIT,
        deployment::follow(
            &deployments,
            &crate::engine::NoGate,
            &SystemClock,
            &follow,
            &CancellationToken::new(),
            |_| {},
        ),
    )
    .await;
    let Ok((ending, events)) = followed else {
        return Rollback::NotConfirmed {
            id: Some(id),
            why: format!(
                "the deployment of the previous value had not completed after {}",
                crate::duration::format(deployment::ROLLBACK_WAIT)
            ),
        };
    };
    history.extend(events);
    match (ending, appconfig.served(&model.application, &model.environment, &model.profile).await) {
        (Ending::Succeeded, Ok(served))
            if flags::served_value(&served, &model.flag) == flags::served_value(before, &model.flag) =>
        {
            Rollback::Confirmed { id }
        }
        (Ending::Succeeded, _) => Rollback::NotConfirmed {
            id: Some(id),
            why: "the previous value was deployed, but a new client is not served it".into(),
        },
        (other, _) => Rollback::NotConfirmed {
            id: Some(id),
            why: format!("deploying the previous value did not complete: {other:?}"),
        },
    }
}

/// A deployment that could not be started after `version` was written:
/// the flag's value from before (`previous`) is written back, so that the
/// next deployment of the document, anyone's, does not release it unwatched.
async fn nothing_deployed(
    clients: &Clients,
    model: &Model,
    version: i32,
    previous: &serde_json::Value,
    e: impl std::fmt::Display,
) -> Diagnostics {
    let after = match write(clients, model, |doc| flags::with_entry(doc, &model.flag, previous)).await {
        Ok(restored) => format!(
            "Version {version} was written but not deployed; version {restored} puts the flag's value from before back, so the next deployment of the document does not release it."
        ),
        Err(_) => format!(
            "Version {version} was written but not deployed, and the flag's value from before could not be written back: the next deployment of the document would release it. Write it back by hand or apply again."
        ),
    };
    Diagnostics::single(
        "Cannot start the deployment",
        format!("{e}\n\n{after} Clients still receive the previous configuration."),
    )
}

/// Writes the latest document with the flag changed, naming the version it
/// read; another writer's version in between is read and the change made
/// again on top of it.
async fn write(
    clients: &Clients,
    model: &Model,
    change: impl Fn(&serde_json::Value) -> Result<serde_json::Value, String>,
) -> Result<i32, Diagnostics> {
    let appconfig = &clients.appconfig;
    for attempt in 1..=WRITE_ATTEMPTS {
        let latest = appconfig
            .latest_version(&model.application, &model.profile)
            .await
            .map_err(|e| nothing_written("Cannot read the flags document", e))?;
        let (number, document) = match latest {
            Some((number, content)) => (
                Some(number),
                serde_json::from_slice(&content).map_err(|_| {
                    nothing_written("Unreadable flags document", format!("Version {number} is not JSON."))
                })?,
            ),
            None => (None, serde_json::json!({ "version": "1", "flags": {} })),
        };
        let changed = change(&document).map_err(|why| {
            Diagnostics::single_at(
                AttributePath::root("flag"),
                "Cannot set the flag",
                format!("{why}. Nothing was written or deployed."),
            )
        })?;
        let content = serde_json::to_vec(&changed).unwrap_or_default();
        match appconfig
            .write_version(
                &model.application,
                &model.profile,
                &content,
                number,
                &format!("{TYPE_NAME}: {}", model.flag),
            )
            .await
        {
            Ok(version) => return Ok(version),
            Err(WriteError::Conflict) => log::warn(
                MODULE,
                "another writer changed the flags document; reading it again",
                &[("attempt", attempt.into())],
            ),
            Err(WriteError::Failed(e)) => return Err(nothing_written("Cannot write the flags document", e)),
        }
    }
    Err(nothing_written(
        "The flags document keeps changing",
        format!("Another writer changed it {WRITE_ATTEMPTS} times while this release tried to write it."),
    ))
}

impl Done {
    fn into_applied(self, planned: &Value, model: &Model) -> Applied {
        let mut state = planned.clone();
        state.set_attr(
            "id",
            format!("{}/{}/{}/{}", model.application, model.environment, model.profile, model.flag).into(),
        );
        match self {
            Done::AlreadyReleased => {
                state.set_attr("status", "released".into());
                state.set_attr("exposure", percent_value(100.0));
                state.set_attr("history", Value::List(Vec::new()));
                state.set_attr("rollback_reason", Value::Null);
                state.set_attr("version_number", Value::Null);
                state.set_attr("deployment_number", Value::Null);
                Applied { state, diagnostics: Diagnostics::default() }
            }
            Done::Ran { version, number, ending, history, before } => {
                let number_value = |n: i32| tfplugin::Number::parse(&n.to_string()).map_or(Value::Null, Value::Number);
                state.set_attr("version_number", version.map_or(Value::Null, number_value));
                state.set_attr("deployment_number", number_value(number));
                state.set_attr("history", history_lines(&history));
                let (status, reason, diagnostics) = match ending {
                    Ending::Succeeded => ("released", None, Diagnostics::default()),
                    Ending::EndedByService { error, rollback, .. } => {
                        let why = error.unwrap_or_else(|| "AppConfig rolled it back".into());
                        let status =
                            if matches!(rollback, Rollback::Confirmed { .. }) { "rolled_back" } else { "failed" };
                        (
                            status,
                            Some(why.clone()),
                            Diagnostics::single(
                                format!("AppConfig rolled back deployment {number}"),
                                format!("{why}.\n\n{}", rollback_sentence(&rollback)),
                            ),
                        )
                    }
                    Ending::Stopped { cause, rollback } => {
                        let status = match (&cause, &rollback) {
                            (_, Rollback::TooLate) => "released",
                            (_, Rollback::NotConfirmed { .. } | Rollback::NotStarted) => "failed",
                            (Cause::Stopped, _) => "interrupted",
                            _ => "rolled_back",
                        };
                        (
                            status,
                            Some(cause.describe()),
                            Diagnostics::single(
                                format!("Release of flag {:?} stopped: {}", model.flag, cause.describe()),
                                rollback_sentence(&rollback),
                            ),
                        )
                    }
                    Ending::Lost(why) => (
                        "failed",
                        Some(why.clone()),
                        Diagnostics::single(
                            format!("Lost track of deployment {number}"),
                            format!(
                                "{why}. Check the environment in AppConfig; the next apply follows the deployment again if it is still running."
                            ),
                        ),
                    ),
                };
                state.set_attr("status", status.into());
                state.set_attr("rollback_reason", reason.map_or(Value::Null, Value::from));
                state.set_attr("exposure", percent_value(if status == "released" { 100.0 } else { 0.0 }));
                if status != "released" {
                    // What clients receive is the value before, so the next plan shows the release again.
                    if let Some(before) = before {
                        state.set_attr("enabled", Value::Bool(before.enabled));
                    }
                }
                Applied { state, diagnostics }
            }
        }
    }
}

fn rollback_sentence(rollback: &Rollback) -> String {
    match rollback {
        Rollback::Confirmed { .. } => "AppConfig rolled it back, and a new client is served the previous configuration again. The next plan shows this release again.".into(),
        Rollback::NotStarted => "AppConfig did not roll it back: check what clients receive now.".into(),
        Rollback::NotConfirmed { why, .. } => format!("The rollback was not confirmed: {why}. Check the environment now."),
        Rollback::TooLate => "AppConfig had completed the deployment before it could be stopped: clients receive the new value, and nothing was rolled back. To go back, change the flag and apply again.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strategy_becomes_the_plans_schedule() {
        let linear = Strategy { duration_minutes: 30, bake_minutes: 30, growth_factor: 20.0, exponential: false };
        let steps: Vec<(f64, u64)> =
            schedule_of(&linear).unwrap().steps().iter().map(|s| (s.percent, s.bake.as_secs())).collect();
        assert_eq!(steps, [(20.0, 360), (40.0, 360), (60.0, 360), (80.0, 360), (100.0, 1800)]);
        let at_once = Strategy { duration_minutes: 0, bake_minutes: 10, growth_factor: 100.0, exponential: false };
        assert_eq!(
            schedule_of(&at_once).unwrap().steps().iter().map(|s| (s.percent, s.bake.as_secs())).collect::<Vec<_>>(),
            [(100.0, 600)]
        );
    }

    #[test]
    fn flag_keys_and_the_analysis_source_are_checked() {
        let mut config = Value::null_object(&schema().ty());
        for (k, v) in [
            ("application_id", "abc1234"),
            ("environment_id", "env1234"),
            ("configuration_profile_id", "prf1234"),
            ("flag", "Checkout"),
            ("deployment_strategy_id", "AppConfig.AllAtOnce"),
        ] {
            config.set_attr(k, v.into());
        }
        config.set_attr("enabled", Value::Bool(true));
        config.set_attr("metric", Value::List(Vec::new()));
        let d = Parsed::new(&config).diagnostics;
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert!(d.0[0].summary.contains("Invalid flag key"));
        config.set_attr("flag", "checkout_v2".into());
        assert!(Parsed::new(&config).diagnostics.is_empty());
        let mut with_analysis = config.clone();
        with_analysis.set_attr("analysis", Value::object([]));
        let mut filled = with_analysis.clone();
        schema().block.apply_defaults(&with_analysis, &mut filled);
        with_analysis.set_attr("analysis", filled.get("analysis").clone());
        assert!(
            Parsed::new(&with_analysis).diagnostics.0.iter().any(|d| d.summary.contains("Analysis needs a source"))
        );
    }

    #[test]
    fn strategy_ids_have_appconfigs_shape() {
        assert!(
            strategy_id_shape("abc1234")
                && strategy_id_shape("AppConfig.AllAtOnce")
                && strategy_id_shape("AppConfig.Linear20PercentEvery6Minutes")
        );
        assert!(
            !strategy_id_shape("no-such-strategy")
                && !strategy_id_shape("AppConfig.x")
                && !strategy_id_shape("ABC1234")
        );
    }

    #[test]
    fn the_marker_names_the_flag_and_its_value() {
        let on = FlagValue { enabled: true, attributes: BTreeMap::new() };
        let off = FlagValue { enabled: false, attributes: BTreeMap::new() };
        assert_ne!(marker("prf1234", "checkout_v2", &on), marker("prf1234", "checkout_v2", &off));
        assert_ne!(
            marker("prf1234", "checkout_v2", &on),
            marker("prf5678", "checkout_v2", &on),
            "the same flag of another profile"
        );
        assert!(marker("prf1234", "checkout_v2", &on).starts_with("progressive_feature_flag checkout_v2 "));
    }
}
