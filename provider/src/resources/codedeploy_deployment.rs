//! `progressive_codedeploy_deployment`: run a CodeDeploy deployment (ECS
//! blue/green or Lambda) inside `terraform apply`, follow it to its end,
//! watch our gates while CodeDeploy shifts traffic, stop it with a rollback
//! when one fails, and tell the truth in the exit code and the state.
//!
//! CodeDeploy moves the traffic on its deployment config's schedule; the
//! engine's [`deployment::follow`] watches. A deployment this provider
//! starts carries a description naming it and the revision, so that an
//! apply killed mid-deployment is followed again by the next one instead of
//! starting a second deployment.

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
use super::appspec;
use super::gates::{self, MetricGateSpec};
use super::{
    history_lines, history_lines_type, log_progress, schedule_type, schedule_value, string_list_of, upgrade_history,
};
use crate::Shared;
use crate::aws::Clients;
use crate::aws::codedeploy::{EcsRoute, Found, Platform, TrafficRouting};
use crate::engine::alarms::{AlarmGate, ResolveError};
use crate::engine::deployment::{self, Ending, Event, Follow, Rollback, ServiceError, Status};
use crate::engine::rollout::Cause;
use crate::engine::schedule::{Schedule, Strategy};
use crate::engine::{Both, Clock, SystemClock};
use crate::routers::{RouterKind, Routing, alb, lambda_alias};

pub const TYPE_NAME: &str = "progressive_codedeploy_deployment";
const MODULE: &str = "progressive.codedeploy_deployment";
/// The computed attributes that say what an apply did.
const OUTCOME_ATTRIBUTES: [&str; 4] = ["deployment_id", "status", "rollback_deployment_id", "history"];
/// How a deployment started by this resource is described in CodeDeploy,
/// followed by the revision's SHA-256 prefix.
const DESCRIPTION_PREFIX: &str = "progressive_codedeploy_deployment revision ";

/// The predefined deployment configs with traffic shifting, as AWS
/// documents them, known without a call.
const PREDEFINED: [(&str, Platform, TrafficRouting); 14] = [
    ("CodeDeployDefault.LambdaAllAtOnce", Platform::Lambda, TrafficRouting::AllAtOnce),
    (
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        Platform::Lambda,
        TrafficRouting::Canary { percent: 10.0, minutes: 5 },
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent10Minutes",
        Platform::Lambda,
        TrafficRouting::Canary { percent: 10.0, minutes: 10 },
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent15Minutes",
        Platform::Lambda,
        TrafficRouting::Canary { percent: 10.0, minutes: 15 },
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        Platform::Lambda,
        TrafficRouting::Canary { percent: 10.0, minutes: 30 },
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        Platform::Lambda,
        TrafficRouting::Linear { percent: 10.0, minutes: 1 },
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        Platform::Lambda,
        TrafficRouting::Linear { percent: 10.0, minutes: 2 },
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
        Platform::Lambda,
        TrafficRouting::Linear { percent: 10.0, minutes: 3 },
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
        Platform::Lambda,
        TrafficRouting::Linear { percent: 10.0, minutes: 10 },
    ),
    ("CodeDeployDefault.ECSAllAtOnce", Platform::Ecs, TrafficRouting::AllAtOnce),
    (
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        Platform::Ecs,
        TrafficRouting::Canary { percent: 10.0, minutes: 5 },
    ),
    (
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
        Platform::Ecs,
        TrafficRouting::Canary { percent: 10.0, minutes: 15 },
    ),
    (
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        Platform::Ecs,
        TrafficRouting::Linear { percent: 10.0, minutes: 1 },
    ),
    (
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        Platform::Ecs,
        TrafficRouting::Linear { percent: 10.0, minutes: 3 },
    ),
];

const ANALYSIS: &str = "Judge the canary against the baseline while CodeDeploy shifts traffic: the replacement's error rate against the original's, from the metrics the service publishes per destination (ECS: per target group of the deployment group's pair, behind its production listener; Lambda: per executed version of the alias), or from any CloudWatch metrics a `source` block names. The judgement is anytime-valid, as in `progressive_rollout` (design/analysis.md). A failing judgement stops the deployment with a rollback; a judgement still waiting for evidence does not hold CodeDeploy's schedule.";
const ANALYSIS_METRIC: &str = "What counts as an error. `ecs`: `5xx` (`HTTPCode_Target_5XX_Count`, the default) or `4xx`; `lambda`: `errors` (`Errors`, the default).";

pub struct CodeDeployDeployment {
    shared: Arc<Shared>,
}

impl CodeDeployDeployment {
    pub fn new(shared: Arc<Shared>) -> CodeDeployDeployment {
        CodeDeployDeployment { shared }
    }
}

pub fn schema() -> Schema {
    let lambda = Block::new("Deploy a new version of a Lambda function behind an alias (the provider writes the AppSpec).")
        .attribute(Attribute::required("function_name", Type::String, "The function's name or ARN."))
        .attribute(Attribute::required("alias", Type::String, "The alias CodeDeploy moves from the current version to the target version."))
        .attribute(Attribute::optional_computed("current_version", Type::String, "The version the alias serves before the deployment. Defaults to the one it points to when the deployment starts; given, it must be that one."))
        .attribute(Attribute::required("target_version", Type::String, "The published version to deploy."));
    let ecs = Block::new("Deploy a new task definition to the deployment group's ECS service, blue/green behind its load balancer (the provider writes the AppSpec).")
        .attribute(Attribute::required("task_definition_arn", Type::String, "The task definition of the replacement task set."))
        .attribute(Attribute::required("container_name", Type::String, "The container that receives the load balancer's traffic."))
        .attribute(Attribute::required("container_port", Type::Number, "Its port."));
    // Version 1: `history` holds lines, not objects (design/0015).
    Schema::new(
        1,
        Block::new(
            "Runs an AWS CodeDeploy deployment (ECS blue/green or Lambda) inside `terraform apply`: creates it, follows it to its end (every traffic shift and lifecycle event in the log and in `history`), \
             and watches CloudWatch alarms (any number), metric thresholds and a canary-vs-baseline analysis while CodeDeploy shifts traffic. When one of them fails, the timeout passes or Terraform is interrupted, \
             the deployment is stopped with a rollback and the apply waits until CodeDeploy confirms the rollback. A deployment that fails or that CodeDeploy rolls back (its own alarms) fails the apply, \
             and the state records what serves, so the next plan shows the deployment again. Changing only gates or timeouts starts nothing. Destroying the resource changes nothing in AWS.",
        )
        .attribute(Attribute::computed("id", Type::String, "`<application_name>:<deployment_group_name>`."))
        .attribute(Attribute::required("application_name", Type::String, "The CodeDeploy application (compute platform ECS or Lambda).").requires_replace())
        .attribute(Attribute::required("deployment_group_name", Type::String, "The deployment group to deploy to.").requires_replace())
        .attribute(Attribute::optional("deployment_config_name", Type::String, "The deployment config, such as `CodeDeployDefault.ECSCanary10Percent5Minutes` or a custom one. Defaults to the group's."))
        .block("lambda", Nesting::Single, lambda)
        .block("ecs", Nesting::Single, ecs)
        .attribute(Attribute::optional("appspec_content", Type::String, "Instead of a `lambda` or `ecs` block: an AppSpec of your own, JSON or YAML, deployed as given (lifecycle hooks and all). It must name one `AWS::Lambda::Function` (with `CurrentVersion`) or one `AWS::ECS::Service`; it is checked at plan time. YAML aliases are refused."))
        .attribute(Attribute::optional("alarm_names", Type::list(Type::String), "CloudWatch metric or composite alarms watched during the whole deployment, beside the group's own (no limit of 10). All must exist before anything starts. `INSUFFICIENT_DATA` is not a failure."))
        .block("metric", Nesting::List, gates::metric_block())
        .block("analysis", Nesting::Single, analysis::block(ANALYSIS, ANALYSIS_METRIC))
        .attribute(gates::on_missing_data_attribute("the analysis and the metric gates"))
        .attribute(Attribute::defaulted("poll_interval", Type::String, "10s", "How often to read the deployment and the gates, as a Go duration; at least `\"1s\"`."))
        .block("timeouts", Nesting::Single, super::timeouts_block("A deployment"))
        .attribute(super::report_path_attribute("the timeline of the new revision's share, each traffic shift held until the next, the gate failure that stopped it and the rollback, with CodeDeploy's status and lifecycle events", "creates or follows a deployment (succeeded, stopped or rolled back; not an apply that finds the revision already deployed)"))
        .attribute(Attribute::computed("deployment_id", Type::String, "The last deployment this resource ran or followed."))
        .attribute(Attribute::computed("status", Type::String, "`succeeded`; `rolled_back` (a gate of this resource or the timeout stopped it, and CodeDeploy rolled it back); `interrupted` (Terraform was interrupted and it was rolled back); `failed` (CodeDeploy failed or stopped it, with or without its own rollback, or a rollback was not confirmed)."))
        .attribute(Attribute::computed("rollback_deployment_id", Type::String, "The deployment that rolled the last one back, if any."))
        .attribute(Attribute::computed("schedule", schedule_type(), "The traffic shifts of the deployment config (`percent`, `bake`), known at plan time so that `terraform plan` shows them."))
        .attribute(Attribute::computed("history", history_lines_type(), "What the last apply saw, one line per status change, traffic shift and lifecycle event, gate failure and rollback: `<time> <event> <percent>%: <detail>`, where `percent` is the new revision's share.")),
    )
}

/// What to deploy.
#[derive(Debug, Clone, PartialEq)]
enum Revision {
    Lambda { function_name: String, alias: String, current_version: Option<String>, target_version: String },
    Ecs { task_definition_arn: String, container_name: String, container_port: u16 },
}

impl Revision {
    fn platform(&self) -> Platform {
        match self {
            Revision::Lambda { .. } => Platform::Lambda,
            Revision::Ecs { .. } => Platform::Ecs,
        }
    }

    /// The router kind whose metrics the analysis judges by default.
    fn router_kind(&self) -> &'static dyn RouterKind {
        match self {
            Revision::Lambda { .. } => &lambda_alias::LambdaAlias,
            Revision::Ecs { .. } => &alb::Alb,
        }
    }

    /// The AppSpec, as JSON, with `current_version` for Lambda.
    fn appspec(&self, current_version: Option<&str>) -> String {
        let resource = match self {
            Revision::Lambda { function_name, alias, target_version, .. } => {
                serde_json::json!({ "Deployed": { "Type": "AWS::Lambda::Function", "Properties": {
                "Name": function_name, "Alias": alias, "CurrentVersion": current_version.unwrap_or_default(), "TargetVersion": target_version,
            } } })
            }
            Revision::Ecs { task_definition_arn, container_name, container_port } => {
                serde_json::json!({ "TargetService": { "Type": "AWS::ECS::Service", "Properties": {
                "TaskDefinition": task_definition_arn, "LoadBalancerInfo": { "ContainerName": container_name, "ContainerPort": container_port },
            } } })
            }
        };
        serde_json::json!({ "version": 0.0, "Resources": [resource] }).to_string()
    }
}

/// The configuration, parsed and checked once; `None` parts are unknown or
/// invalid (`diagnostics` says which are invalid).
struct Parsed {
    application: Option<String>,
    group: Option<String>,
    /// `Some(None)`: the group's config.
    config_name: Option<Option<String>>,
    revision: Option<Revision>,
    /// `Some(None)`: the provider writes the AppSpec.
    appspec: Option<Option<String>>,
    alarm_names: Option<Vec<String>>,
    metrics: Option<Vec<MetricGateSpec>>,
    analysis: Option<Option<Analysis>>,
    poll_interval: Option<Duration>,
    create_timeout: Duration,
    update_timeout: Duration,
    report_path: Option<String>,
    diagnostics: Diagnostics,
}

struct Model {
    application: String,
    group: String,
    config_name: Option<String>,
    revision: Revision,
    /// Given by the configuration; else the provider writes it.
    appspec: Option<String>,
    alarm_names: Vec<String>,
    metrics: Vec<MetricGateSpec>,
    analysis: Option<Analysis>,
    poll_interval: Duration,
    create_timeout: Duration,
    update_timeout: Duration,
    report_path: Option<String>,
}

fn name_of(config: &Value, name: &str, d: &mut Diagnostics) -> Option<String> {
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
        let application = name_of(config, "application_name", &mut d);
        let group = name_of(config, "deployment_group_name", &mut d);
        let config_name = match config.get("deployment_config_name") {
            Value::Null => Some(None),
            _ => name_of(config, "deployment_config_name", &mut d).map(Some),
        };
        let (revision, appspec) = revision(config, &mut d);
        let alarm_names = string_list_of(config.get("alarm_names"), AttributePath::root("alarm_names"), &mut d)
            .or_else(|| config.get("alarm_names").is_null().then(Vec::new));
        let metrics = gates::metrics(config, &mut d);
        let analysis = analysis::parse(config, revision.as_ref().map(Revision::router_kind), &mut d);
        let poll_interval = super::poll_interval_of(config, &mut d);
        let (create_timeout, update_timeout) = super::timeouts_of(config, "A deployment", &mut d);
        let report_path = super::report_path_of(config, &mut d);
        Parsed {
            application,
            group,
            config_name,
            revision,
            appspec,
            alarm_names,
            metrics,
            analysis,
            poll_interval,
            create_timeout,
            update_timeout,
            report_path,
            diagnostics: d,
        }
    }

    fn complete(self) -> Result<Model, Diagnostics> {
        let mut d = self.diagnostics;
        match (
            self.application,
            self.group,
            self.config_name,
            self.revision,
            self.appspec,
            self.alarm_names,
            self.metrics,
            self.analysis,
            self.poll_interval,
        ) {
            (
                Some(application),
                Some(group),
                Some(config_name),
                Some(revision),
                Some(appspec),
                Some(alarm_names),
                Some(metrics),
                Some(analysis),
                Some(poll_interval),
            ) if !d.has_errors() => Ok(Model {
                application,
                group,
                config_name,
                revision,
                appspec,
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
                        "Deployment inputs unknown at apply",
                        "Every input of the deployment must be known when it runs.",
                    );
                }
                Err(d)
            }
        }
    }
}

/// What to deploy: exactly one of the `lambda` and `ecs` blocks and
/// `appspec_content`; with the AppSpec when the configuration gives it.
fn revision(config: &Value, d: &mut Diagnostics) -> (Option<Revision>, Option<Option<String>>) {
    let given = config.get("appspec_content");
    let present: Vec<&str> =
        ["lambda", "ecs", "appspec_content"].into_iter().filter(|name| !config.get(name).is_null()).collect();
    if present.len() > 1 {
        d.error_at(
            AttributePath::root(present[1]),
            "One revision",
            format!("Use one of a lambda block, an ecs block or appspec_content, not {}.", present.join(" and ")),
        );
        return (None, None);
    }
    if given.is_null() {
        return (block_revision(config, d), Some(None));
    }
    let Some(text) = given.as_str() else { return (None, None) };
    match appspec::read(text) {
        Ok(deploys) => {
            let revision = match deploys {
                appspec::Deploys::Lambda { function_name, alias, current_version, target_version } => {
                    Revision::Lambda { function_name, alias, current_version: Some(current_version), target_version }
                }
                appspec::Deploys::Ecs { task_definition_arn, container_name, container_port } => {
                    Revision::Ecs { task_definition_arn, container_name, container_port }
                }
            };
            (Some(revision), Some(Some(text.to_owned())))
        }
        Err(why) => {
            d.error_at(
                AttributePath::root("appspec_content"),
                "Invalid AppSpec",
                format!("The AppSpec cannot be deployed: {why}."),
            );
            (None, None)
        }
    }
}

/// The revision a `lambda` or `ecs` block gives.
fn block_revision(config: &Value, d: &mut Diagnostics) -> Option<Revision> {
    let (lambda, ecs) = (config.get("lambda"), config.get("ecs"));
    if !lambda.is_known() || !ecs.is_known() {
        return None;
    }
    match (lambda.is_null(), ecs.is_null()) {
        (true, true) => {
            d.error("One revision", "Add a lambda block, an ecs block or appspec_content: what to deploy.");
            None
        }
        (false, false) => unreachable!("refused by revision()"),
        (false, true) => {
            let at = |name: &str| AttributePath::root("lambda").attribute(name);
            let version = |name: &str, d: &mut Diagnostics| -> Option<Option<String>> {
                match lambda.get(name) {
                    Value::Null => Some(None),
                    v => {
                        let text = v.as_str()?;
                        if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) {
                            d.error_at(at(name), "Not a published version", format!("{name} must be a published version number such as \"7\", not {text:?} (CodeDeploy shifts an alias between published versions; $LATEST cannot be one)."));
                            return None;
                        }
                        Some(Some(text.to_owned()))
                    }
                }
            };
            // Unknown in a planned state when left out: the apply reads it.
            let current_version =
                if lambda.get("current_version").is_known() { version("current_version", d) } else { Some(None) };
            let target_version = version("target_version", d);
            // The function and alias are checked as the lambda_alias router checks them.
            let mut block_check = Diagnostics::default();
            let routing_block = Value::object([
                ("function_name", lambda.get("function_name").clone()),
                ("alias", lambda.get("alias").clone()),
                ("version", Value::Null),
            ]);
            lambda_alias::LambdaAlias.parse(&routing_block, &AttributePath::root("lambda"), &mut block_check);
            d.extend(block_check);
            let (current_version, target_version) = (current_version?, target_version??);
            if current_version.as_deref() == Some(target_version.as_str()) {
                d.error_at(at("target_version"), "Nothing to deploy", format!("target_version is the current version ({target_version}); a deployment needs a different version."));
                return None;
            }
            Some(Revision::Lambda {
                function_name: lambda.get("function_name").as_str()?.to_owned(),
                alias: lambda.get("alias").as_str()?.to_owned(),
                current_version,
                target_version,
            })
        }
        (true, false) => {
            let at = |name: &str| AttributePath::root("ecs").attribute(name);
            let arn = ecs.get("task_definition_arn").as_str().map(str::to_owned);
            if let Some(arn) = &arn
                && !(arn.starts_with("arn:") && arn.contains(":task-definition/"))
            {
                d.error_at(at("task_definition_arn"), "Not a task definition ARN", format!("{arn:?} is not a task definition ARN (arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>)."));
            }
            let port = ecs.get("container_port").as_number().and_then(|n| {
                match n.as_i64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) {
                    Some(p) => Some(p),
                    None => {
                        d.error_at(
                            at("container_port"),
                            "Invalid container_port",
                            format!("container_port must be a port number from 1 to 65535, not {n}."),
                        );
                        None
                    }
                }
            });
            let name = ecs.get("container_name").as_str().map(str::to_owned);
            Some(Revision::Ecs { task_definition_arn: arn?, container_name: name?, container_port: port? })
        }
    }
}

/// The schedule of a traffic routing.
fn schedule_of(routing: TrafficRouting) -> Option<Schedule> {
    let minutes = |m: u32| Duration::from_secs(60 * u64::from(m));
    let strategy = match routing {
        TrafficRouting::AllAtOnce => Strategy::AllAtOnce,
        TrafficRouting::Canary { percent, minutes: m } => Strategy::Canary { percent, bake: minutes(m) },
        TrafficRouting::Linear { percent, minutes: m } => {
            Strategy::Linear { step_percent: percent, interval: minutes(m) }
        }
    };
    Schedule::new(&strategy, Duration::ZERO).ok()
}

fn not_started(summary: &str, detail: impl std::fmt::Display) -> Diagnostics {
    Diagnostics::single(summary, format!("{detail}\n\nNo deployment was started."))
}

/// What a deployment will run against, read from CodeDeploy.
struct Resolved {
    config_name: String,
    schedule: Option<Schedule>,
    ecs_route: Option<EcsRoute>,
}

/// Reads the application, the group and the deployment config, and checks
/// that they exist and match the revision's platform.
async fn resolve(
    clients: &Clients,
    application: &str,
    group: &str,
    config_name: Option<&str>,
    platform: Platform,
) -> Result<Resolved, Diagnostics> {
    let codedeploy = &clients.codedeploy;
    let cannot = |e: deployment::ServiceError| not_started("Cannot read CodeDeploy", e);
    let app_platform = codedeploy.application(application).await.map_err(cannot)?;
    let Some(app_platform) = app_platform else {
        return Err(Diagnostics::single_at(
            AttributePath::root("application_name"),
            "Application not found",
            format!("CodeDeploy has no application {application:?} in this region. No deployment was started."),
        ));
    };
    let block = if platform == Platform::Lambda { "lambda" } else { "ecs" };
    if app_platform != Some(platform) {
        let theirs = app_platform.map_or("an unknown platform", Platform::as_str);
        return Err(Diagnostics::single_at(
            AttributePath::root(block),
            "Platform does not match",
            format!(
                "Application {application:?} deploys to {theirs}, and a {block} block deploys to {}. No deployment was started.",
                platform.as_str()
            ),
        ));
    }
    let Some(found) = codedeploy.group(application, group).await.map_err(cannot)? else {
        return Err(Diagnostics::single_at(
            AttributePath::root("deployment_group_name"),
            "Deployment group not found",
            format!("Application {application:?} has no deployment group {group:?}. No deployment was started."),
        ));
    };
    if platform == Platform::Ecs && found.ecs_route.as_ref().is_none_or(|r| r.target_group_names.len() != 2) {
        return Err(Diagnostics::single_at(
            AttributePath::root("deployment_group_name"),
            "Not a blue/green ECS group",
            format!(
                "Deployment group {group:?} has no target group pair with a production listener; an ECS deployment needs both target groups and the listener. No deployment was started."
            ),
        ));
    }
    let config_name = match config_name.map(str::to_owned).or(found.config_name.clone()) {
        Some(name) => name,
        None => {
            return Err(Diagnostics::single_at(
                AttributePath::root("deployment_config_name"),
                "No deployment config",
                format!(
                    "Deployment group {group:?} names no deployment config; set deployment_config_name. No deployment was started."
                ),
            ));
        }
    };
    let at_config = AttributePath::root("deployment_config_name");
    let (config_platform, routing) = match PREDEFINED.iter().find(|(name, _, _)| *name == config_name) {
        Some((_, p, r)) => (Some(*p), *r),
        None => match codedeploy.config(&config_name).await.map_err(cannot)? {
            Some(c) => (c.platform, c.routing),
            None => {
                return Err(Diagnostics::single_at(
                    at_config,
                    "Deployment config not found",
                    format!("CodeDeploy has no deployment config {config_name:?}. No deployment was started."),
                ));
            }
        },
    };
    if config_platform.is_some_and(|p| p != platform) {
        return Err(Diagnostics::single_at(
            at_config,
            "Deployment config for another platform",
            format!(
                "{config_name:?} is a deployment config for {}; this deployment is to {}. No deployment was started.",
                config_platform.map_or("?", Platform::as_str),
                platform.as_str()
            ),
        ));
    }
    Ok(Resolved { config_name, schedule: schedule_of(routing), ecs_route: found.ecs_route })
}

/// Where a Lambda deployment starts: the version the alias serves alone.
/// Where a Lambda deployment's errors point: into the `lambda` block, or at
/// the AppSpec that names the function.
fn lambda_path(given_appspec: bool) -> impl Fn(&str) -> AttributePath {
    move |name: &str| {
        if given_appspec {
            AttributePath::root("appspec_content")
        } else {
            AttributePath::root("lambda").attribute(name)
        }
    }
}

async fn lambda_current(
    clients: &Clients,
    function_name: &str,
    alias: &str,
    target_version: &str,
    configured: Option<&str>,
    at: impl Fn(&str) -> AttributePath,
) -> Result<(Box<dyn Routing>, String), Diagnostics> {
    let block = Value::object([
        ("function_name", function_name.into()),
        ("alias", alias.into()),
        ("version", target_version.into()),
    ]);
    let mut d = Diagnostics::default();
    let routing = lambda_alias::LambdaAlias.parse(&block, &AttributePath::root("lambda"), &mut d).ok_or(d)?;
    let router = routing.connect(clients);
    let split = router.read().await.map_err(|e| {
        Diagnostics::single_at(at("alias"), "Cannot use the alias", format!("{e}. No deployment was started."))
    })?;
    router.check_destination(target_version).await.map_err(|e| {
        Diagnostics::single_at(at("target_version"), "Version not found", format!("{e}. No deployment was started."))
    })?;
    let Some(serving) = split.sole_server().map(str::to_owned) else {
        return Err(not_started(
            "The alias is split",
            format!(
                "{} sends traffic to {}; a deployment moves an alias from one version to another. A deployment may be under way.",
                router.describe(),
                split.describe()
            ),
        ));
    };
    // Already on the target (an earlier apply's deployment succeeded): nothing to check.
    if let Some(configured) = configured.filter(|c| *c != serving && serving != target_version) {
        return Err(Diagnostics::single_at(
            at("current_version"),
            "Not the current version",
            format!(
                "The deployment would start from version {configured}, but {} points to version {serving}. (In a lambda block, leave current_version out to start from whatever the alias serves.) No deployment was started.",
                router.describe()
            ),
        ));
    }
    Ok((routing, serving))
}

/// The checks a plan makes before it shows a deployment: the application,
/// group and config, and for Lambda the alias and the target version. The
/// schedule when the config is known.
async fn check_before_deploying(clients: &Clients, parsed: &Parsed) -> (Diagnostics, Option<Schedule>) {
    let (Some(application), Some(group), Some(config_name), Some(revision)) =
        (&parsed.application, &parsed.group, &parsed.config_name, &parsed.revision)
    else {
        return (Diagnostics::default(), None);
    };
    let resolved = match resolve(clients, application, group, config_name.as_deref(), revision.platform()).await {
        Ok(resolved) => resolved,
        Err(d) => return (d, None),
    };
    let mut d = Diagnostics::default();
    match under_way(clients, application, group, &revision.marker(parsed.appspec.as_ref().and_then(Option::as_deref)))
        .await
    {
        Err(e) => return (e, resolved.schedule),
        Ok(Some(found)) => {
            d.warning("Deployment under way", format!("Deployment {} of this revision, started by an earlier apply, is {}; the apply follows it instead of starting another.", found.id, found.status.as_str()));
            return (d, resolved.schedule);
        }
        Ok(None) => {}
    }
    if let Revision::Lambda { function_name, alias, current_version, target_version } = revision {
        let given = parsed.appspec.as_ref().is_some_and(Option::is_some);
        match lambda_current(clients, function_name, alias, target_version, current_version.as_deref(), lambda_path(given)).await {
            Ok((_, serving)) if &serving == target_version => d.warning("Already deployed", format!("The alias {alias} already serves version {target_version}: the apply records it without a deployment.")),
            Ok(_) => {}
            Err(e) => d.extend(e),
        }
    }
    if let Some(alarms) = parsed.alarm_names.as_ref().filter(|a| !a.is_empty())
        && let Err(ResolveError::Missing(missing)) = AlarmGate::resolve(clients.alarms.clone(), alarms.clone()).await
    {
        d.error_at(
            AttributePath::root("alarm_names"),
            "Alarms not found",
            format!("{}. No deployment was started.", ResolveError::Missing(missing)),
        );
    }
    (d, resolved.schedule)
}

/// The revision recorded in a state or configuration, for comparing.
fn revision_inputs(value: &Value) -> Value {
    let lambda = value.get("lambda");
    let lambda = if lambda.is_null() {
        Value::Null
    } else {
        Value::object([
            ("function_name", lambda.get("function_name").clone()),
            ("alias", lambda.get("alias").clone()),
            ("target_version", lambda.get("target_version").clone()),
        ])
    };
    Value::object([
        ("lambda", lambda),
        ("ecs", value.get("ecs").clone()),
        ("appspec_content", value.get("appspec_content").clone()),
    ])
}

impl Revision {
    /// The description that marks a deployment of this revision (of the
    /// AppSpec `given`, when the configuration gives one) as this
    /// resource's: its identity without the current version, which the
    /// deployment itself changes.
    fn marker(&self, given: Option<&str>) -> String {
        let identity = match (given, self) {
            (Some(given), _) => given.to_owned(),
            (None, Revision::Lambda { function_name, alias, target_version, .. }) => {
                format!("lambda\n{function_name}\n{alias}\n{target_version}")
            }
            (None, ecs @ Revision::Ecs { .. }) => ecs.appspec(None),
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, identity.as_bytes());
        let hex: String = digest.as_ref().iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("{DESCRIPTION_PREFIX}{hex}")
    }
}

/// The group's deployment under way, if any: `Some` when it is this
/// resource's for this revision (an apply was killed while following it);
/// an error when it is anyone else's.
async fn under_way(
    clients: &Clients,
    application: &str,
    group: &str,
    marker: &str,
) -> Result<Option<Found>, Diagnostics> {
    let unfinished = clients
        .codedeploy
        .unfinished(application, group)
        .await
        .map_err(|e| not_started("Cannot list the group's deployments", e))?;
    match unfinished.into_iter().next() {
        None => Ok(None),
        Some(found) if found.description == marker => Ok(Some(found)),
        Some(found) => Err(not_started(
            "Another deployment is under way",
            format!(
                "Deployment group {group:?} is running deployment {} ({}), which this resource did not start for this revision{}. CodeDeploy runs one deployment per group at a time; wait for it to end, or stop it.",
                found.id,
                found.status.as_str(),
                if found.description.is_empty() {
                    String::new()
                } else {
                    format!(" (its description: {:?})", found.description)
                }
            ),
        )),
    }
}

/// The group's last deployment when it is this resource's for this
/// revision and its outcome is this apply's (an apply was killed while
/// following it, or CreateDeployment failed after starting it), so that no
/// second deployment starts: one that succeeded, always; one that failed or
/// was stopped, when an update's state does not record it. A create takes up
/// only a success started within its timeout, as a killed create's was: a
/// create that failed is retried by Terraform, and a replacement
/// (`-replace`, or a re-create after destroy) of an older success, and both
/// must deploy again.
async fn ended_unrecorded(
    clients: &Clients,
    model: &Model,
    marker: &str,
    prior: &Value,
) -> Result<Option<Found>, ServiceError> {
    let last = clients.codedeploy.last_attempted(&model.application, &model.group).await?;
    let recorded = prior.get("deployment_id").as_str();
    let now = SystemClock.now().unix_timestamp();
    let within_create_timeout = |f: &Found| {
        f.created.is_some_and(|created| now.saturating_sub(created) <= model.create_timeout.as_secs() as i64)
    };
    Ok(last.filter(|f| {
        f.description == marker
            && if prior.is_null() {
                f.status == Status::Succeeded && within_create_timeout(f)
            } else {
                f.status == Status::Succeeded || recorded != Some(f.id.as_str())
            }
    }))
}

#[async_trait]
impl Resource for CodeDeployDeployment {
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
        let id = match (&parsed.application, &parsed.group) {
            (Some(a), Some(g)) => Value::from(format!("{a}:{g}")),
            _ => Value::Unknown,
        };
        state.set_attr("id", id);
        // A new revision, an unknown one, or a last deployment that did not
        // succeed: the apply deploys.
        let deploys = prior.is_null()
            || !config.get("lambda").is_known()
            || !config.get("ecs").is_known()
            || !config.get("appspec_content").is_known()
            || revision_inputs(prior) != revision_inputs(config)
            || prior.get("status").as_str() != Some("succeeded");
        let mut diagnostics = Diagnostics::default();
        if !deploys {
            return Planned { state, requires_replace: Vec::new(), diagnostics };
        }
        for name in OUTCOME_ATTRIBUTES {
            state.set_attr(name, Value::Unknown);
        }
        if !config.get("lambda").is_null() && config.get("lambda").get("current_version").is_null() {
            let mut lambda = state.get("lambda").clone();
            lambda.set_attr("current_version", Value::Unknown);
            state.set_attr("lambda", lambda);
        }
        let predefined = parsed
            .config_name
            .as_ref()
            .and_then(Option::as_deref)
            .and_then(|name| PREDEFINED.iter().find(|(n, _, _)| *n == name))
            .and_then(|(_, _, r)| schedule_of(*r));
        let mut schedule = predefined;
        match self.shared.clients() {
            Ok(clients) => {
                let (checked, resolved) = check_before_deploying(&clients, &parsed).await;
                diagnostics = checked;
                schedule = schedule.or(resolved);
            }
            Err(_) if self.shared.deferred() => diagnostics.warning(
                "Checks deferred to apply",
                "The provider configuration is known only after apply, so this plan did not check the application, the group, the config or the alarms in AWS. The apply checks them before it starts anything.",
            ),
            Err(e) => diagnostics.extend(e),
        }
        if let Some(schedule) = &schedule {
            let timeout = if prior.is_null() { parsed.create_timeout } else { parsed.update_timeout };
            diagnostics.extend(super::schedule_against_timeout(schedule, timeout, "deployment"));
        }
        state.set_attr("schedule", schedule.as_ref().map_or(Value::Unknown, schedule_value));
        Planned { state, requires_replace: Vec::new(), diagnostics }
    }

    async fn apply(&self, request: ApplyRequest<'_>) -> Applied {
        let failed = |diagnostics: Diagnostics| Applied { state: request.prior.clone(), diagnostics };
        // Known outcome: only settings changed, nothing to deploy.
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
        match run(&clients, &model, request.prior, request.stop).await {
            Ok(done) => {
                let report = model.report_path.as_deref().map(|prefix| write_report(prefix, &done, &model));
                let mut applied = done.into_applied(request.planned, request.prior, &model);
                applied.diagnostics.extend(report.unwrap_or_default());
                applied
            }
            Err(d) => failed(d),
        }
    }

    async fn read(&self, request: ReadRequest<'_>) -> Result<Value, Diagnostics> {
        let state = request.state;
        if self.shared.deferred() {
            return Ok(state.clone());
        }
        let clients = self.shared.clients()?;
        let (Some(application), Some(group)) =
            (state.get("application_name").as_str(), state.get("deployment_group_name").as_str())
        else {
            return Ok(state.clone());
        };
        // A group deleted outside Terraform: the resource is gone too.
        match clients.codedeploy.group(application, group).await {
            Ok(None) => Ok(Value::Null),
            Ok(Some(_)) => Ok(state.clone()),
            Err(e) => Err(Diagnostics::single("Cannot read the deployment group", e.to_string())),
        }
    }

    /// Version 0 stored `history` as objects.
    fn upgrade_state(
        &self,
        version: i64,
        state: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Diagnostics> {
        upgrade_history(version, state)
    }

    /// Adopts the revision the group last deployed successfully.
    async fn import(&self, id: &str, _stop: &CancellationToken) -> Result<Value, Diagnostics> {
        let cannot = |detail: String| Diagnostics::single("Cannot import", detail);
        let clients = self.shared.clients()?;
        let Some((application, group)) = id.split_once(':').filter(|(a, g)| !a.is_empty() && !g.is_empty()) else {
            return Err(cannot(format!("{id:?} is not <application_name>:<deployment_group_name>.")));
        };
        let found = clients.codedeploy.group(application, group).await.map_err(|e| cannot(e.to_string()))?;
        let found =
            found.ok_or_else(|| cannot(format!("Application {application:?} has no deployment group {group:?}.")))?;
        let appspec = found.deployed_appspec.ok_or_else(|| {
            cannot(format!("Deployment group {group:?} has no successful deployment of an AppSpec to adopt."))
        })?;
        let (block, revision) = adopted(&appspec).map_err(|why| {
            cannot(format!("The last revision of deployment group {group:?} cannot be adopted: {why}."))
        })?;
        let ty = schema().ty();
        let mut state = Value::null_object(&ty);
        schema().block.apply_defaults(&Value::null_object(&ty), &mut state);
        state.set_attr("id", id.into());
        state.set_attr("application_name", application.into());
        state.set_attr("deployment_group_name", group.into());
        state.set_attr(block, revision);
        state.set_attr("metric", Value::List(Vec::new()));
        state.set_attr("status", "succeeded".into());
        state.set_attr("history", Value::List(Vec::new()));
        let schedule = found
            .config_name
            .as_deref()
            .and_then(|name| PREDEFINED.iter().find(|(n, _, _)| *n == name))
            .and_then(|(_, _, r)| schedule_of(*r));
        state.set_attr("schedule", schedule.as_ref().map_or(Value::Null, schedule_value));
        Ok(state)
    }
}

/// The revision an AppSpec deploys, as this resource's block.
fn adopted(text: &str) -> Result<(&'static str, Value), String> {
    let number = |n: u16| tfplugin::Number::parse(&n.to_string()).map_or(Value::Null, Value::Number);
    Ok(match appspec::read(text)? {
        appspec::Deploys::Lambda { function_name, alias, current_version, target_version } => (
            "lambda",
            Value::object([
                ("function_name", function_name.into()),
                ("alias", alias.into()),
                ("current_version", current_version.into()),
                ("target_version", target_version.into()),
            ]),
        ),
        appspec::Deploys::Ecs { task_definition_arn, container_name, container_port } => (
            "ecs",
            Value::object([
                ("task_definition_arn", task_definition_arn.into()),
                ("container_name", container_name.into()),
                ("container_port", number(container_port)),
            ]),
        ),
    })
}

/// What an apply did.
enum Done {
    /// The alias already served the target version; nothing was deployed.
    AlreadyDeployed { current_version: String, schedule: Option<Schedule> },
    Ran {
        id: String,
        current_version: Option<String>,
        ending: Ending,
        history: Vec<Event>,
        schedule: Option<Schedule>,
        /// When this apply began following the deployment.
        started: time::OffsetDateTime,
    },
}

/// Checks everything, starts the deployment (or finds the one a killed
/// apply of this resource started), and follows it with the gates.
async fn run(clients: &Clients, model: &Model, prior: &Value, stop: &CancellationToken) -> Result<Done, Diagnostics> {
    let resolved =
        resolve(clients, &model.application, &model.group, model.config_name.as_deref(), model.revision.platform())
            .await?;
    let marker = model.revision.marker(model.appspec.as_deref());
    let found = match under_way(clients, &model.application, &model.group, &marker).await? {
        Some(found) => Some(found),
        None => ended_unrecorded(clients, model, &marker, prior)
            .await
            .map_err(|e| not_started("Cannot read the group's last deployment", e))?,
    };
    // The analysis compares the new destination (canary) with the one
    // serving before (baseline), through the router that reads them.
    let (routing, origin, target, current_version): (Box<dyn Routing>, String, String, Option<String>) = match &model
        .revision
    {
        Revision::Lambda { function_name, alias, current_version, target_version } => {
            // A deployment under way has split the alias; its AppSpec names where it started.
            let started_from =
                found.as_ref().and_then(|f| f.appspec.as_deref()).and_then(|spec| match appspec::read(spec) {
                    Ok(appspec::Deploys::Lambda { current_version, .. }) => Some(current_version),
                    _ => None,
                });
            let (routing, serving) = match started_from {
                Some(from) => {
                    let block = Value::object([
                        ("function_name", function_name.as_str().into()),
                        ("alias", alias.as_str().into()),
                        ("version", target_version.as_str().into()),
                    ]);
                    let mut d = Diagnostics::default();
                    (lambda_alias::LambdaAlias.parse(&block, &AttributePath::root("lambda"), &mut d).ok_or(d)?, from)
                }
                None => {
                    lambda_current(
                        clients,
                        function_name,
                        alias,
                        target_version,
                        current_version.as_deref(),
                        lambda_path(model.appspec.is_some()),
                    )
                    .await?
                }
            };
            if &serving == target_version {
                log::info(
                    MODULE,
                    "the alias already serves the target version; nothing to deploy",
                    &[("alias", alias.clone().into()), ("version", serving.clone().into())],
                );
                return Ok(Done::AlreadyDeployed {
                    current_version: prior.get("lambda").get("current_version").as_str().unwrap_or(&serving).to_owned(),
                    schedule: resolved.schedule,
                });
            }
            (routing, serving.clone(), target_version.clone(), Some(serving))
        }
        Revision::Ecs { .. } => {
            let route = resolved.ecs_route.clone().ok_or_else(|| {
                not_started("Not a blue/green ECS group", "The deployment group has no target group pair.")
            })?;
            let arns = clients
                .elbv2
                .target_group_arns(&route.target_group_names)
                .await
                .map_err(|e| not_started("Cannot read the group's target groups", e))?;
            let block = Value::object([
                ("listener_arn", route.listener_arn.clone().into()),
                ("rule_arn", Value::Null),
                ("target_group_arn", arns[0].clone().into()),
            ]);
            let mut d = Diagnostics::default();
            let routing = alb::Alb.parse(&block, &AttributePath::root("ecs"), &mut d).ok_or(d)?;
            let split = routing
                .connect(clients)
                .read()
                .await
                .map_err(|e| not_started("Cannot read the production listener", e))?;
            // A deployment under way names its replacement's target group
            // (it may serve the most already); before one starts (a found
            // one still Created has no targets yet), the original serves
            // all traffic.
            let green = match found.as_ref().filter(|f| f.status != Status::Created) {
                Some(found) => clients
                    .codedeploy
                    .green_target_group(&found.id)
                    .await
                    .map_err(|e| not_started("Cannot read the deployment's task sets", e))?,
                None => None,
            };
            let replacement = green.and_then(|name| route.target_group_names.iter().position(|n| *n == name));
            let serving = match replacement {
                Some(green) => arns.iter().enumerate().find(|(i, _)| *i != green).map(|(_, a)| a.clone()),
                None => arns.iter().max_by(|a, b| split.percent_of(a).total_cmp(&split.percent_of(b))).cloned(),
            }
            .unwrap_or_else(|| arns[0].clone());
            let other = arns.iter().find(|a| **a != serving).cloned().unwrap_or_else(|| arns[1].clone());
            (routing, serving, other, None)
        }
    };
    let (alarms, _) =
        AlarmGate::resolve(clients.alarms.clone(), model.alarm_names.clone()).await.map_err(|e| match e {
            ResolveError::Missing(_) => Diagnostics::single_at(
                AttributePath::root("alarm_names"),
                "Alarms not found",
                format!("{e}. No deployment was started."),
            ),
            ResolveError::Source(e) => not_started("Could not read the alarms", e.0),
        })?;
    let steps = resolved.schedule.as_ref().map_or(1, |s| s.steps().len());
    let analysis = match &model.analysis {
        Some(analysis) => Some(
            analysis::gates(analysis, Some((routing.as_ref(), &origin, &target)), steps, clients)
                .map_err(|e| not_started(e.summary, e.detail))?,
        ),
        None => None,
    };
    let metrics: Vec<_> = model.metrics.iter().map(|m| m.gate(&clients.metrics)).collect();
    let gate = Both(Both(alarms, Some(metrics)), analysis);
    let codedeploy = &clients.codedeploy;
    let id = match found {
        Some(found) => {
            log::info(
                MODULE,
                "following the deployment an earlier apply of this revision started",
                &[("deployment_id", found.id.clone().into()), ("status", found.status.as_str().into())],
            );
            found.id
        }
        None => {
            let appspec = model.appspec.clone().unwrap_or_else(|| model.revision.appspec(current_version.as_deref()));
            let created = codedeploy
                .create(&model.application, &model.group, model.config_name.as_deref(), &appspec, &marker)
                .await;
            let id = match created {
                Ok(id) => id,
                // A failed call may have started it all the same (an answer
                // lost after CodeDeploy created it, then a retry refused
                // because it runs): ours under way is followed.
                Err(e) => {
                    let ours = match codedeploy.unfinished(&model.application, &model.group).await {
                        Ok(unfinished) => match unfinished.into_iter().next().filter(|f| f.description == marker) {
                            Some(found) => Ok(Some(found)),
                            None => ended_unrecorded(clients, model, &marker, prior).await,
                        },
                        Err(lookup) => Err(lookup),
                    };
                    match ours {
                        Ok(Some(found)) => {
                            log::warn(
                                MODULE,
                                "CreateDeployment failed, but the deployment it asked for was started; following it",
                                &[("deployment_id", found.id.clone().into()), ("error", e.to_string().into())],
                            );
                            found.id
                        }
                        Ok(None) => return Err(not_started("Cannot create the deployment", e)),
                        Err(lookup) => {
                            return Err(Diagnostics::single(
                                "Cannot create the deployment",
                                format!(
                                    "{e}\n\nWhether CodeDeploy started it all the same could not be checked ({lookup}): look at deployment group {:?} before applying again.",
                                    model.group
                                ),
                            ));
                        }
                    }
                }
            };
            log::info(
                MODULE,
                "deployment created",
                &[
                    ("deployment_id", id.clone().into()),
                    ("application", model.application.clone().into()),
                    ("group", model.group.clone().into()),
                    ("config", resolved.config_name.clone().into()),
                    ("from", origin.clone().into()),
                    ("to", target.clone().into()),
                ],
            );
            id
        }
    };
    let timeout = if prior.is_null() { model.create_timeout } else { model.update_timeout };
    let started = SystemClock.now();
    let follow = Follow { id: &id, poll_interval: model.poll_interval, deadline: started + timeout };
    let log_event = |e: &Event| log_progress(MODULE, e);
    let (ending, history) = deployment::follow(codedeploy, &gate, &SystemClock, &follow, stop, log_event).await;
    Ok(Done::Ran { id, current_version, ending, history, schedule: resolved.schedule, started })
}

/// Writes the report of a deployment this apply followed; see [`super::write_report`].
fn write_report(prefix: &str, done: &Done, model: &Model) -> Diagnostics {
    let Done::Ran { id, current_version, ending, history, schedule, started } = done else {
        return Diagnostics::default();
    };
    let followed = crate::report::FollowedDeployment::new(history, ending);
    let (origin, target) = match &model.revision {
        Revision::Lambda { function_name, target_version, .. } => (
            current_version.as_ref().map_or("the version before".into(), |v| format!("{function_name} version {v}")),
            format!("{function_name} version {target_version}"),
        ),
        Revision::Ecs { task_definition_arn, .. } => ("the running task set".into(), task_definition_arn.clone()),
    };
    let routing = format!("deployment {id} of group {}/{}", model.application, model.group);
    let report = followed.report("Deployment", routing, (origin, target), schedule.as_ref(), *started);
    super::write_report(MODULE, prefix, &report)
}

impl Done {
    fn into_applied(self, planned: &Value, prior: &Value, model: &Model) -> Applied {
        let mut state = planned.clone();
        state.set_attr("id", format!("{}:{}", model.application, model.group).into());
        let set_current = |state: &mut Value, version: Option<&str>| {
            if let Some(version) = version {
                let mut lambda = state.get("lambda").clone();
                lambda.set_attr("current_version", version.into());
                state.set_attr("lambda", lambda);
            }
        };
        // Unknown at plan when the names were (resources created by the same apply).
        let schedule = match &self {
            Done::AlreadyDeployed { schedule, .. } | Done::Ran { schedule, .. } => {
                schedule.as_ref().map_or(Value::Null, schedule_value)
            }
        };
        if !state.get("schedule").is_known() {
            state.set_attr("schedule", schedule);
        }
        match self {
            Done::AlreadyDeployed { current_version, .. } => {
                set_current(&mut state, Some(&current_version));
                state.set_attr("status", "succeeded".into());
                state.set_attr("deployment_id", prior.get("deployment_id").clone());
                state.set_attr("rollback_deployment_id", Value::Null);
                state.set_attr("history", Value::List(Vec::new()));
                Applied { state, diagnostics: Diagnostics::default() }
            }
            Done::Ran { id, current_version, ending, history, .. } => {
                set_current(&mut state, current_version.as_deref());
                state.set_attr("deployment_id", id.clone().into());
                state.set_attr("history", history_lines(&history));
                let (status, rollback, diagnostics) = match ending {
                    Ending::Succeeded => ("succeeded", None, Diagnostics::default()),
                    Ending::EndedByService { status, error, rollback } => {
                        let what = error.unwrap_or_else(|| "CodeDeploy gave no reason".into());
                        let summary = format!(
                            "CodeDeploy deployment {id} {}",
                            if status == Status::Stopped { "was stopped" } else { "failed" }
                        );
                        (
                            "failed",
                            rollback_id(&rollback),
                            Diagnostics::single(summary, format!("{what}.\n\n{}", rollback_sentence(&rollback))),
                        )
                    }
                    Ending::Stopped { cause, rollback } => {
                        let status = match (&cause, &rollback) {
                            (_, Rollback::NotConfirmed { .. } | Rollback::NotStarted) => "failed",
                            (_, Rollback::TooLate) => "succeeded",
                            (Cause::Stopped, _) => "interrupted",
                            _ => "rolled_back",
                        };
                        let summary = match &rollback {
                            Rollback::TooLate => {
                                format!("Deployment {id} succeeded while a gate was failing: {}", cause.describe())
                            }
                            Rollback::NotConfirmed { .. } => format!(
                                "Deployment {id} stopped and the ROLLBACK WAS NOT CONFIRMED: {}",
                                cause.describe()
                            ),
                            _ => format!("Deployment {id} stopped and rolled back: {}", cause.describe()),
                        };
                        (status, rollback_id(&rollback), Diagnostics::single(summary, rollback_sentence(&rollback)))
                    }
                    Ending::Lost(why) => (
                        "failed",
                        None,
                        Diagnostics::single(
                            format!("Lost track of deployment {id}"),
                            format!(
                                "{why}. Check the deployment in CodeDeploy; the next apply follows it again if it is still running."
                            ),
                        ),
                    ),
                };
                state.set_attr("status", status.into());
                state.set_attr("rollback_deployment_id", rollback.map_or(Value::Null, Value::from));
                if status != "succeeded" {
                    // What serves is the version before, so the next plan shows the deployment again.
                    if let (Revision::Lambda { .. }, Some(current)) = (&model.revision, &current_version) {
                        let mut lambda = state.get("lambda").clone();
                        lambda.set_attr("target_version", current.as_str().into());
                        state.set_attr("lambda", lambda);
                    }
                }
                Applied { state, diagnostics }
            }
        }
    }
}

fn rollback_id(rollback: &Rollback) -> Option<String> {
    match rollback {
        Rollback::Confirmed { id } => Some(id.clone()),
        Rollback::NotConfirmed { id, .. } => id.clone(),
        Rollback::NotStarted | Rollback::TooLate => None,
    }
}

/// What became of the rollback, in one sentence a person can act on.
fn rollback_sentence(rollback: &Rollback) -> String {
    match rollback {
        Rollback::Confirmed { id } => format!("CodeDeploy rolled it back: rollback deployment {id} succeeded, and the previous revision serves all traffic. The next plan shows this deployment again."),
        Rollback::NotStarted => "CodeDeploy started no rollback (the group's automatic rollback is off for this event): check what serves now.".into(),
        Rollback::NotConfirmed { why, .. } => format!("The rollback was not confirmed: {why}. Check the deployment group now."),
        Rollback::TooLate => "CodeDeploy had completed the deployment before it could be stopped: the new revision serves all traffic, and nothing was rolled back. To go back, deploy the previous revision.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, Value)]) -> Value {
        let mut v = Value::null_object(&schema().ty());
        v.set_attr("application_name", "web".into());
        v.set_attr("deployment_group_name", "web-prod".into());
        v.set_attr("metric", Value::List(Vec::new()));
        for (k, val) in extra {
            v.set_attr(k, val.clone());
        }
        v
    }

    fn lambda(current: Option<&str>, target: &str) -> Value {
        Value::object([
            ("function_name", "checkout".into()),
            ("alias", "live".into()),
            ("current_version", current.map_or(Value::Null, Value::from)),
            ("target_version", target.into()),
        ])
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.0.iter().map(|d| d.attribute.as_ref().map(ToString::to_string).unwrap_or_default()).collect()
    }

    #[test]
    fn exactly_one_revision_block_and_published_versions() {
        assert!(Parsed::new(&config(&[("lambda", lambda(None, "7"))])).diagnostics.is_empty());
        assert_eq!(paths(&Parsed::new(&config(&[])).diagnostics), [""], "no revision block");
        let ecs = Value::object([
            ("task_definition_arn", "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3".into()),
            ("container_name", "web".into()),
            ("container_port", Value::Number(tfplugin::Number::parse("8080").unwrap())),
        ]);
        assert!(Parsed::new(&config(&[("ecs", ecs.clone())])).diagnostics.is_empty());
        assert_eq!(paths(&Parsed::new(&config(&[("ecs", ecs), ("lambda", lambda(None, "7"))])).diagnostics), ["ecs"]);
        assert_eq!(
            paths(&Parsed::new(&config(&[("lambda", lambda(None, "$LATEST"))])).diagnostics),
            ["lambda.target_version"]
        );
        assert_eq!(
            paths(&Parsed::new(&config(&[("lambda", lambda(Some("7"), "7"))])).diagnostics),
            ["lambda.target_version"],
            "nothing to deploy"
        );
        let bad_port = Value::object([
            ("task_definition_arn", "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3".into()),
            ("container_name", "web".into()),
            ("container_port", Value::Number(tfplugin::Number::parse("70000").unwrap())),
        ]);
        assert_eq!(paths(&Parsed::new(&config(&[("ecs", bad_port)])).diagnostics), ["ecs.container_port"]);
    }

    #[test]
    fn predefined_configs_give_codedeploys_schedules() {
        let schedule =
            |name: &str| PREDEFINED.iter().find(|(n, _, _)| *n == name).and_then(|(_, _, r)| schedule_of(*r)).unwrap();
        let steps = |s: Schedule| s.steps().iter().map(|s| (s.percent, s.bake.as_secs())).collect::<Vec<_>>();
        assert_eq!(steps(schedule("CodeDeployDefault.ECSCanary10Percent5Minutes")), [(10.0, 300), (100.0, 0)]);
        assert_eq!(steps(schedule("CodeDeployDefault.LambdaLinear10PercentEvery1Minute")).len(), 10);
        assert_eq!(steps(schedule("CodeDeployDefault.LambdaAllAtOnce")), [(100.0, 0)]);
    }

    #[test]
    fn the_appspec_names_both_versions_and_the_marker_the_revision() {
        let revision = Revision::Lambda {
            function_name: "checkout".into(),
            alias: "live".into(),
            current_version: None,
            target_version: "8".into(),
        };
        let appspec: serde_json::Value = serde_json::from_str(&revision.appspec(Some("7"))).unwrap();
        let properties = &appspec["Resources"][0]["Deployed"]["Properties"];
        assert_eq!(
            (properties["CurrentVersion"].as_str(), properties["TargetVersion"].as_str(), properties["Alias"].as_str()),
            (Some("7"), Some("8"), Some("live"))
        );
        let other = Revision::Lambda {
            function_name: "checkout".into(),
            alias: "live".into(),
            current_version: Some("6".into()),
            target_version: "9".into(),
        };
        assert_ne!(revision.marker(None), other.marker(None));
        assert_ne!(revision.marker(Some("version: 0.0")), revision.marker(None), "a given AppSpec is its own identity");
        assert!(revision.marker(None).starts_with(DESCRIPTION_PREFIX));
    }
}
