//! CodeDeploy for `progressive_codedeploy_deployment`: what a plan checks
//! (the application, the group, the deployment config), starting a
//! deployment, finding the deployments under way in a group, and following
//! one (the engine's [`Deployments`] port).

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentInfo, DeploymentStatus, DeploymentTarget, LifecycleEvent,
    RevisionLocation, RevisionLocationType, TargetLabel, TrafficRoutingType,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{ErrorClass, RetryLog, classify, describe_error};
use crate::engine::deployment::{Deployments, ServiceError, Snapshot, Status};

/// What a deployment group deploys to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Lambda,
    Ecs,
    /// EC2 and on-premises instances, which this resource does not deploy to.
    Server,
}

impl Platform {
    fn of(platform: Option<&ComputePlatform>) -> Option<Platform> {
        match platform? {
            ComputePlatform::Lambda => Some(Platform::Lambda),
            ComputePlatform::Ecs => Some(Platform::Ecs),
            ComputePlatform::Server => Some(Platform::Server),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Lambda => "Lambda",
            Platform::Ecs => "ECS",
            Platform::Server => "Server",
        }
    }
}

/// How a deployment config moves traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrafficRouting {
    AllAtOnce,
    /// `percent` first, the rest `minutes` later.
    Canary {
        percent: f64,
        minutes: u32,
    },
    /// `percent` more every `minutes`.
    Linear {
        percent: f64,
        minutes: u32,
    },
}

/// A deployment config as CodeDeploy describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentConfig {
    pub platform: Option<Platform>,
    pub routing: TrafficRouting,
}

/// The parts of a deployment group a deployment depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub platform: Option<Platform>,
    pub config_name: Option<String>,
    /// ECS: the production listener and the two target groups (by name).
    pub ecs_route: Option<EcsRoute>,
    /// The AppSpec of the revision last deployed successfully, when it was
    /// given as content.
    pub deployed_appspec: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EcsRoute {
    pub listener_arn: String,
    pub target_group_names: Vec<String>,
}

/// A deployment found in a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub id: String,
    pub status: Status,
    pub description: String,
    /// The AppSpec it deploys, when given as content.
    pub appspec: Option<String>,
    /// When it was created, in seconds since the epoch.
    pub created: Option<i64>,
}

impl Found {
    fn of(d: &DeploymentInfo) -> Option<Found> {
        let appspec = d
            .revision()
            .and_then(|r| {
                r.app_spec_content().and_then(|c| c.content()).or_else(|| r.string().and_then(|s| s.content()))
            })
            .map(str::to_owned);
        Some(Found {
            id: d.deployment_id()?.to_owned(),
            status: Status::parse(d.status()?.as_str())?,
            description: d.description().unwrap_or_default().to_owned(),
            appspec,
            created: d.create_time().map(|t| t.secs()),
        })
    }
}

/// Error codes meaning what was asked for does not exist.
const NOT_FOUND: &[&str] = &[
    "ApplicationDoesNotExistException",
    "DeploymentGroupDoesNotExistException",
    "DeploymentConfigDoesNotExistException",
    "DeploymentDoesNotExistException",
];

/// A failed call, in one sentence, with whether trying again may help.
fn failure<E>(
    operation: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> ServiceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    ServiceError {
        message: describe_error("CodeDeploy", operation, e),
        transient: classify(e) == ErrorClass::Transient,
    }
}

/// `Ok(None)` when the call failed because the thing does not exist.
fn absent<T, E>(
    operation: &str,
    result: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> Result<Option<T>, ServiceError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.as_service_error().and_then(ProvideErrorMetadata::code).is_some_and(|c| NOT_FOUND.contains(&c)) => {
            Ok(None)
        }
        Err(e) => Err(failure(operation, &e)),
    }
}

#[derive(Clone)]
pub struct CodeDeploy {
    client: Client,
}

impl CodeDeploy {
    pub fn new(sdk: &aws_types::SdkConfig, endpoint: Option<&str>) -> CodeDeploy {
        let mut config = aws_sdk_codedeploy::config::Builder::from(sdk).interceptor(RetryLog);
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        CodeDeploy { client: Client::from_conf(config.build()) }
    }

    /// The application's compute platform; `None` when it does not exist.
    pub async fn application(&self, name: &str) -> Result<Option<Option<Platform>>, ServiceError> {
        let out = absent("GetApplication", self.client.get_application().application_name(name).send().await)?;
        Ok(out.map(|o| Platform::of(o.application().and_then(|a| a.compute_platform()))))
    }

    /// `None` when the group (or its application) does not exist.
    pub async fn group(&self, application: &str, group: &str) -> Result<Option<Group>, ServiceError> {
        let out = absent(
            "GetDeploymentGroup",
            self.client.get_deployment_group().application_name(application).deployment_group_name(group).send().await,
        )?;
        Ok(out.and_then(|o| o.deployment_group_info().cloned()).map(|info| {
            let pair = info.load_balancer_info().and_then(|lb| lb.target_group_pair_info_list().first());
            let ecs_route = pair.and_then(|pair| {
                Some(EcsRoute {
                    listener_arn: pair.prod_traffic_route()?.listener_arns().first()?.clone(),
                    target_group_names: pair
                        .target_groups()
                        .iter()
                        .filter_map(|g| g.name().map(str::to_owned))
                        .collect(),
                })
            });
            let revision = info.target_revision();
            let deployed_appspec = revision
                .and_then(|r| {
                    r.app_spec_content().and_then(|c| c.content()).or_else(|| r.string().and_then(|s| s.content()))
                })
                .map(str::to_owned);
            Group {
                platform: Platform::of(info.compute_platform()),
                config_name: info.deployment_config_name().map(str::to_owned),
                ecs_route,
                deployed_appspec,
            }
        }))
    }

    /// `None` when no such config exists.
    pub async fn config(&self, name: &str) -> Result<Option<DeploymentConfig>, ServiceError> {
        let out = absent(
            "GetDeploymentConfig",
            self.client.get_deployment_config().deployment_config_name(name).send().await,
        )?;
        Ok(out.and_then(|o| o.deployment_config_info().cloned()).map(|info| {
            let routing = info.traffic_routing_config();
            let routing = match routing.and_then(|r| r.r#type()) {
                Some(TrafficRoutingType::TimeBasedCanary) => {
                    let canary = routing.and_then(|r| r.time_based_canary());
                    TrafficRouting::Canary {
                        percent: f64::from(canary.map_or(0, |c| c.canary_percentage())),
                        minutes: canary.map_or(0, |c| c.canary_interval().max(0) as u32),
                    }
                }
                Some(TrafficRoutingType::TimeBasedLinear) => {
                    let linear = routing.and_then(|r| r.time_based_linear());
                    TrafficRouting::Linear {
                        percent: f64::from(linear.map_or(0, |l| l.linear_percentage())),
                        minutes: linear.map_or(0, |l| l.linear_interval().max(0) as u32),
                    }
                }
                _ => TrafficRouting::AllAtOnce,
            };
            DeploymentConfig { platform: Platform::of(info.compute_platform()), routing }
        }))
    }

    /// The group's deployments that have not ended, newest first.
    pub async fn unfinished(&self, application: &str, group: &str) -> Result<Vec<Found>, ServiceError> {
        let statuses = [
            DeploymentStatus::Created,
            DeploymentStatus::Queued,
            DeploymentStatus::InProgress,
            DeploymentStatus::Baking,
            DeploymentStatus::Ready,
        ];
        let out = self
            .client
            .list_deployments()
            .application_name(application)
            .deployment_group_name(group)
            .set_include_only_statuses(Some(statuses.to_vec()))
            .send()
            .await
            .map_err(|e| failure("ListDeployments", &e))?;
        if out.deployments().is_empty() {
            return Ok(Vec::new());
        }
        let found = self
            .client
            .batch_get_deployments()
            .set_deployment_ids(Some(out.deployments().to_vec()))
            .send()
            .await
            .map_err(|e| failure("BatchGetDeployments", &e))?;
        let mut found: Vec<_> = found
            .deployments_info()
            .iter()
            .filter_map(|d| Some((d.create_time().map(|t| t.secs()).unwrap_or(0), Found::of(d)?)))
            .filter(|(_, f)| !f.status.is_over())
            .collect();
        found.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
        Ok(found.into_iter().map(|(_, f)| f).collect())
    }

    /// The group's last deployment (GetDeploymentGroup's
    /// `lastAttemptedDeployment`), or, when that is the rollback CodeDeploy
    /// started, the deployment it rolled back; `None` when the group has
    /// none.
    pub async fn last_attempted(&self, application: &str, group: &str) -> Result<Option<Found>, ServiceError> {
        let out = absent(
            "GetDeploymentGroup",
            self.client.get_deployment_group().application_name(application).deployment_group_name(group).send().await,
        )?;
        let last = out
            .as_ref()
            .and_then(|o| o.deployment_group_info())
            .and_then(|g| g.last_attempted_deployment())
            .and_then(|d| d.deployment_id());
        let Some(last) = last else { return Ok(None) };
        let Some(info) = self.info(last).await? else { return Ok(None) };
        let rolled_back = info.rollback_info().and_then(|r| r.rollback_triggering_deployment_id());
        let info = match rolled_back {
            Some(id) => self.info(id).await?,
            None => Some(info),
        };
        Ok(info.as_ref().and_then(Found::of))
    }

    /// `None` when there is no such deployment.
    async fn info(&self, id: &str) -> Result<Option<DeploymentInfo>, ServiceError> {
        let out = absent("GetDeployment", self.client.get_deployment().deployment_id(id).send().await)?;
        Ok(out.and_then(|o| o.deployment_info().cloned()))
    }

    /// Starts a deployment of `appspec` (JSON); its id.
    pub async fn create(
        &self,
        application: &str,
        group: &str,
        config: Option<&str>,
        appspec: &str,
        description: &str,
    ) -> Result<String, ServiceError> {
        let revision = RevisionLocation::builder()
            .revision_type(RevisionLocationType::AppSpecContent)
            .app_spec_content(AppSpecContent::builder().content(appspec).sha256(sha256_hex(appspec)).build())
            .build();
        let out = self
            .client
            .create_deployment()
            .application_name(application)
            .deployment_group_name(group)
            .set_deployment_config_name(config.map(str::to_owned))
            .revision(revision)
            .description(description)
            .send()
            .await
            .map_err(|e| failure("CreateDeployment", &e))?;
        out.deployment_id().map(str::to_owned).ok_or_else(|| ServiceError {
            message: "CodeDeploy CreateDeployment answered without a deployment id".into(),
            transient: false,
        })
    }

    /// The name of the target group an ECS deployment's replacement task
    /// set (green) serves from; `None` before the deployment has one.
    pub async fn green_target_group(&self, id: &str) -> Result<Option<String>, ServiceError> {
        let targets = self.targets(id).await?;
        Ok(targets
            .iter()
            .filter_map(|t| t.ecs_target())
            .flat_map(|ecs| ecs.task_sets_info())
            .find(|t| t.task_set_label() == Some(&TargetLabel::Green))
            .and_then(|t| t.target_group())
            .and_then(|g| g.name())
            .map(str::to_owned))
    }

    async fn targets(&self, id: &str) -> Result<Vec<DeploymentTarget>, ServiceError> {
        let listed = self
            .client
            .list_deployment_targets()
            .deployment_id(id)
            .send()
            .await
            .map_err(|e| failure("ListDeploymentTargets", &e))?;
        if listed.target_ids().is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .batch_get_deployment_targets()
            .deployment_id(id)
            .set_target_ids(Some(listed.target_ids().to_vec()))
            .send()
            .await
            .map_err(|e| failure("BatchGetDeploymentTargets", &e))?;
        Ok(out.deployment_targets().to_vec())
    }
}

impl Deployments for CodeDeploy {
    async fn read(&self, id: &str) -> Result<Snapshot, ServiceError> {
        let out =
            self.client.get_deployment().deployment_id(id).send().await.map_err(|e| failure("GetDeployment", &e))?;
        let info = out.deployment_info().ok_or_else(|| ServiceError {
            message: format!("CodeDeploy GetDeployment answered without deployment {id}"),
            transient: true,
        })?;
        let status_text = info.status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        let status = Status::parse(&status_text).ok_or_else(|| ServiceError {
            message: format!("deployment {id} has a status this provider does not know: {status_text:?}"),
            transient: false,
        })?;
        // Before it starts, a deployment has no targets yet.
        let targets = if status == Status::Created { Vec::new() } else { self.targets(id).await? };
        let (percent, lifecycle) = progress(&targets);
        let error = info.error_information().map(|e| {
            let code = e.code().map(|c| c.as_str().to_owned()).unwrap_or_default();
            match e.message() {
                Some(message) => format!("{code}: {message}"),
                None => code,
            }
        });
        Ok(Snapshot {
            status,
            percent,
            lifecycle,
            error,
            rollback_id: info.rollback_info().and_then(|r| r.rollback_deployment_id()).map(str::to_owned),
        })
    }

    async fn stop_with_rollback(&self, id: &str) -> Result<(), ServiceError> {
        self.client
            .stop_deployment()
            .deployment_id(id)
            .auto_rollback_enabled(true)
            .send()
            .await
            .map_err(|e| failure("StopDeployment", &e))?;
        Ok(())
    }
}

/// The new revision's share of traffic, in percent, and the lifecycle
/// events, from a deployment's targets (one for Lambda and ECS).
fn progress(targets: &[DeploymentTarget]) -> (Option<f64>, Vec<(String, String)>) {
    let events = |events: &[LifecycleEvent]| -> Vec<(String, String)> {
        events
            .iter()
            .filter_map(|e| Some((e.lifecycle_event_name()?.to_owned(), e.status()?.as_str().to_owned())))
            .collect()
    };
    for target in targets {
        if let Some(lambda) = target.lambda_target() {
            // "The percentage of production traffic" (API reference), 0-100.
            let percent = lambda.lambda_function_info().map(|f| f.target_version_weight());
            return (percent, events(lambda.lifecycle_events()));
        }
        if let Some(ecs) = target.ecs_target() {
            let green = ecs.task_sets_info().iter().find(|t| t.task_set_label() == Some(&TargetLabel::Green));
            return (green.map(|t| t.traffic_weight()), events(ecs.lifecycle_events()));
        }
    }
    (None, Vec::new())
}

/// SHA-256 of `text` in lowercase hex (CodeDeploy checks an AppSpec's
/// content against it).
fn sha256_hex(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
