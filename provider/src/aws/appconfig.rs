//! AppConfig for `progressive_feature_flag`: the profile and its latest
//! hosted version, writing a new version with optimistic concurrency,
//! strategies, deployments (the engine's [`Deployments`] port), and what a
//! client receives through the data plane.
//!
//! AppConfig rolls a deployment back inside the deployment itself
//! (ROLLING_BACK, then ROLLED_BACK). The engine follows a rollback as a
//! deployment of its own, so the rollback is presented under its own id,
//! `<number>:rollback`, and only counts as succeeded once a client is
//! served the configuration that was in effect before.

use aws_sdk_appconfig::types::{DeploymentEventType, DeploymentState, GrowthType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tfplugin::log;

use super::{ErrorClass, MODULE, RetryLog, classify, describe_error};
use crate::engine::deployment::{Deployments, ServiceError, Snapshot, Status};

/// Feature flag documents are JSON.
pub const FLAGS_CONTENT_TYPE: &str = "application/json";
/// The profile type of feature flags.
pub const FEATURE_FLAGS: &str = "AWS.AppConfig.FeatureFlags";
const ROLLBACK_SUFFIX: &str = ":rollback";

fn failure<E>(
    operation: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> ServiceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    ServiceError { message: describe_error("AppConfig", operation, e), transient: classify(e) == ErrorClass::Transient }
}

fn code_of<E: ProvideErrorMetadata, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// `Ok(None)` when AppConfig says the thing does not exist.
fn absent<T, E>(
    operation: &str,
    result: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> Result<Option<T>, ServiceError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(found) => Ok(Some(found)),
        Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(failure(operation, &e)),
    }
}

/// A deployment strategy's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    pub duration_minutes: u32,
    pub bake_minutes: u32,
    pub growth_factor: f64,
    pub exponential: bool,
}

impl Strategy {
    /// The share of clients with the new version at each step and when it
    /// is reached, in minutes from the start: G, 2G... (linear) or G·2^k
    /// (exponential), capped at 100, spread evenly over the duration.
    pub fn steps(&self) -> Vec<(f64, f64)> {
        if self.duration_minutes == 0 || self.growth_factor >= 100.0 || self.growth_factor <= 0.0 {
            return vec![(100.0, 0.0)];
        }
        let mut shares = Vec::new();
        let mut k = 0;
        while shares.last().is_none_or(|s| *s < 100.0) && shares.len() < 1000 {
            let share = if self.exponential {
                self.growth_factor * 2f64.powi(k)
            } else {
                self.growth_factor * f64::from(k + 1)
            };
            shares.push(share.min(100.0));
            k += 1;
        }
        let n = shares.len() as f64;
        shares.iter().enumerate().map(|(i, s)| (*s, f64::from(self.duration_minutes) * (i as f64 + 1.0) / n)).collect()
    }
}

#[derive(Clone)]
pub struct AppConfig {
    control: aws_sdk_appconfig::Client,
    data: aws_sdk_appconfigdata::Client,
}

/// Writing a version failed because another writer wrote first.
#[derive(Debug)]
pub enum WriteError {
    Conflict,
    Failed(ServiceError),
}

impl AppConfig {
    pub fn new(sdk: &aws_types::SdkConfig, control_endpoint: Option<&str>, data_endpoint: Option<&str>) -> AppConfig {
        let mut control = aws_sdk_appconfig::config::Builder::from(sdk).interceptor(RetryLog);
        if let Some(url) = control_endpoint {
            control = control.endpoint_url(url);
        }
        let mut data = aws_sdk_appconfigdata::config::Builder::from(sdk).interceptor(RetryLog);
        if let Some(url) = data_endpoint {
            data = data.endpoint_url(url);
        }
        AppConfig {
            control: aws_sdk_appconfig::Client::from_conf(control.build()),
            data: aws_sdk_appconfigdata::Client::from_conf(data.build()),
        }
    }

    /// The profile's type; `None` when it (or the application) does not exist.
    pub async fn profile_type(&self, application: &str, profile: &str) -> Result<Option<String>, ServiceError> {
        let out = absent(
            "GetConfigurationProfile",
            self.control
                .get_configuration_profile()
                .application_id(application)
                .configuration_profile_id(profile)
                .send()
                .await,
        )?;
        Ok(out.map(|o| o.r#type().unwrap_or_default().to_owned()))
    }

    /// Whether the environment exists.
    pub async fn environment_exists(&self, application: &str, environment: &str) -> Result<bool, ServiceError> {
        Ok(absent(
            "GetEnvironment",
            self.control.get_environment().application_id(application).environment_id(environment).send().await,
        )?
        .is_some())
    }

    /// The strategy of the environment's newest deployment, if any.
    pub async fn last_strategy(&self, application: &str, environment: &str) -> Result<Option<String>, ServiceError> {
        let newest = self.newest(application, environment).await?;
        Ok(newest.and_then(|d| d.deployment_strategy_id().map(str::to_owned)))
    }

    /// The environment's newest deployment if it is still under way:
    /// `(number, description)`.
    pub async fn under_way(&self, application: &str, environment: &str) -> Result<Option<(i32, String)>, ServiceError> {
        let newest = self.newest(application, environment).await?;
        Ok(newest
            .filter(|d| {
                matches!(
                    d.state(),
                    Some(
                        DeploymentState::Deploying
                            | DeploymentState::Baking
                            | DeploymentState::Validating
                            | DeploymentState::RollingBack
                    )
                )
            })
            .map(|d| (d.deployment_number(), d.description().unwrap_or_default().to_owned())))
    }

    /// `None` when no such strategy exists.
    pub async fn strategy(&self, id: &str) -> Result<Option<Strategy>, ServiceError> {
        let out = absent(
            "GetDeploymentStrategy",
            self.control.get_deployment_strategy().deployment_strategy_id(id).send().await,
        )?;
        Ok(out.map(|o| Strategy {
            duration_minutes: o.deployment_duration_in_minutes().max(0) as u32,
            bake_minutes: o.final_bake_time_in_minutes().max(0) as u32,
            growth_factor: f64::from(o.growth_factor().unwrap_or(100.0)),
            exponential: o.growth_type() == Some(&GrowthType::Exponential),
        }))
    }

    /// The latest hosted version: its number and content; `None` when the
    /// profile has none yet.
    pub async fn latest_version(
        &self,
        application: &str,
        profile: &str,
    ) -> Result<Option<(i32, Vec<u8>)>, ServiceError> {
        let listed = self
            .control
            .list_hosted_configuration_versions()
            .application_id(application)
            .configuration_profile_id(profile)
            .max_results(1)
            .send()
            .await
            .map_err(|e| failure("ListHostedConfigurationVersions", &e))?;
        let Some(number) = listed.items().first().map(|v| v.version_number()) else { return Ok(None) };
        let out = self
            .control
            .get_hosted_configuration_version()
            .application_id(application)
            .configuration_profile_id(profile)
            .version_number(number)
            .send()
            .await
            .map_err(|e| failure("GetHostedConfigurationVersion", &e))?;
        Ok(Some((number, out.content().map(|b| b.as_ref().to_vec()).unwrap_or_default())))
    }

    /// What the environment's last completed deployment of `profile` before
    /// deployment `number` deployed (the hosted version's content): what
    /// clients received before that deployment; `None` when there was none.
    pub async fn deployed_before(
        &self,
        application: &str,
        environment: &str,
        profile: &str,
        number: i32,
    ) -> Result<Option<Vec<u8>>, ServiceError> {
        // Newest first, a page at a time: other profiles' deployments to the
        // same environment may fill the first pages.
        let mut next_token = None;
        loop {
            let page = self
                .control
                .list_deployments()
                .application_id(application)
                .environment_id(environment)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| failure("ListDeployments", &e))?;
            let mut completed: Vec<_> = page
                .items()
                .iter()
                .filter(|d| d.deployment_number() < number && d.state() == Some(&DeploymentState::Complete))
                .map(|d| d.deployment_number())
                .collect();
            completed.sort_unstable_by(|a, b| b.cmp(a));
            for candidate in completed {
                if let Some(content) = self.completed_content(application, environment, profile, candidate).await? {
                    return Ok(content);
                }
            }
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(None);
            }
        }
    }

    /// For a completed deployment of `profile`, the content it deployed
    /// (`Some(None)` when its version cannot be read as hosted); `None` for
    /// another profile's deployment.
    async fn completed_content(
        &self,
        application: &str,
        environment: &str,
        profile: &str,
        candidate: i32,
    ) -> Result<Option<Option<Vec<u8>>>, ServiceError> {
        let out = self
            .control
            .get_deployment()
            .application_id(application)
            .environment_id(environment)
            .deployment_number(candidate)
            .send()
            .await
            .map_err(|e| failure("GetDeployment", &e))?;
        if out.configuration_profile_id() != Some(profile) {
            return Ok(None);
        }
        let Some(version) = out.configuration_version().and_then(|v| v.parse().ok()) else { return Ok(Some(None)) };
        let out = self
            .control
            .get_hosted_configuration_version()
            .application_id(application)
            .configuration_profile_id(profile)
            .version_number(version)
            .send()
            .await
            .map_err(|e| failure("GetHostedConfigurationVersion", &e))?;
        Ok(Some(Some(out.content().map(|b| b.as_ref().to_vec()).unwrap_or_default())))
    }

    /// Writes `content` as the version after `latest` (AppConfig refuses it
    /// if another version was written since); its number.
    pub async fn write_version(
        &self,
        application: &str,
        profile: &str,
        content: &[u8],
        latest: Option<i32>,
        description: &str,
    ) -> Result<i32, WriteError> {
        let out = self
            .control
            .create_hosted_configuration_version()
            .application_id(application)
            .configuration_profile_id(profile)
            .content(aws_smithy_types::Blob::new(content))
            .content_type(FLAGS_CONTENT_TYPE)
            .description(description)
            .set_latest_version_number(latest)
            .send()
            .await;
        match out {
            Ok(out) => Ok(out.version_number()),
            Err(e) if code_of(&e) == Some("ConflictException") => Err(WriteError::Conflict),
            Err(e) => Err(WriteError::Failed(failure("CreateHostedConfigurationVersion", &e))),
        }
    }

    /// Starts deploying `version`; the deployment's number. A call that
    /// fails may have started it all the same (its answer lost, and a retry
    /// refused because a deployment runs): then the environment's newest
    /// deployment is it when it deploys this `version` with this
    /// `description`, whatever its state (an immediate one may be complete).
    pub async fn start(
        &self,
        application: &str,
        environment: &str,
        profile: &str,
        strategy: &str,
        version: i32,
        description: &str,
    ) -> Result<i32, ServiceError> {
        let out = self
            .control
            .start_deployment()
            .application_id(application)
            .environment_id(environment)
            .configuration_profile_id(profile)
            .deployment_strategy_id(strategy)
            .configuration_version(version.to_string())
            .description(description)
            .send()
            .await;
        let failed = match out {
            Ok(out) => return Ok(out.deployment_number()),
            Err(e) => failure("StartDeployment", &e),
        };
        match self.newest(application, environment).await {
            Ok(Some(newest))
                if newest.description() == Some(description)
                    && newest.configuration_profile_id() == Some(profile)
                    && newest.configuration_version() == Some(version.to_string().as_str()) =>
            {
                log::warn(
                    MODULE,
                    "StartDeployment failed, but the deployment it asked for was started",
                    &[
                        ("deployment_number", newest.deployment_number().into()),
                        ("error", failed.message.clone().into()),
                    ],
                );
                Ok(newest.deployment_number())
            }
            Ok(_) => Err(failed),
            Err(lookup) => Err(ServiceError {
                message: format!("{failed}; whether AppConfig started it all the same could not be checked ({lookup})"),
                transient: failed.transient,
            }),
        }
    }

    /// The environment's newest deployment, whatever its state.
    async fn newest(
        &self,
        application: &str,
        environment: &str,
    ) -> Result<Option<aws_sdk_appconfig::operation::get_deployment::GetDeploymentOutput>, ServiceError> {
        let listed = self
            .control
            .list_deployments()
            .application_id(application)
            .environment_id(environment)
            .max_results(1)
            .send()
            .await
            .map_err(|e| failure("ListDeployments", &e))?;
        let Some(newest) = listed.items().first() else { return Ok(None) };
        let out = self
            .control
            .get_deployment()
            .application_id(application)
            .environment_id(environment)
            .deployment_number(newest.deployment_number())
            .send()
            .await
            .map_err(|e| failure("GetDeployment", &e))?;
        Ok(Some(out))
    }

    /// What a new client receives now (a fresh data-plane session).
    pub async fn served(&self, application: &str, environment: &str, profile: &str) -> Result<Vec<u8>, ServiceError> {
        let session = self
            .data
            .start_configuration_session()
            .application_identifier(application)
            .environment_identifier(environment)
            .configuration_profile_identifier(profile)
            .send()
            .await
            .map_err(|e| failure("StartConfigurationSession", &e))?;
        let token = session.initial_configuration_token().unwrap_or_default();
        let out = self
            .data
            .get_latest_configuration()
            .configuration_token(token)
            .send()
            .await
            .map_err(|e| failure("GetLatestConfiguration", &e))?;
        Ok(out.configuration().map(|b| b.as_ref().to_vec()).unwrap_or_default())
    }

    /// The engine's view of the deployments of one environment.
    pub fn deployments<'a>(
        &'a self,
        application: &'a str,
        environment: &'a str,
        profile: &'a str,
        served_before: Option<ServedBefore<'a>>,
    ) -> EnvironmentDeployments<'a> {
        EnvironmentDeployments { appconfig: self, application, environment, profile, served_before }
    }
}

/// Deployments of one environment, by number; a rollback by `<number>:rollback`.
pub struct EnvironmentDeployments<'a> {
    appconfig: &'a AppConfig,
    application: &'a str,
    environment: &'a str,
    profile: &'a str,
    /// A rollback succeeds once a new client is served what clients
    /// received before, as this says.
    served_before: Option<ServedBefore<'a>>,
}

/// Whether what a new client is served (the data plane's bytes) is what
/// clients received before a release.
pub type ServedBefore<'a> = Box<dyn Fn(&[u8]) -> bool + Send + Sync + 'a>;

impl EnvironmentDeployments<'_> {
    async fn get(
        &self,
        number: i32,
    ) -> Result<aws_sdk_appconfig::operation::get_deployment::GetDeploymentOutput, ServiceError> {
        self.appconfig
            .control
            .get_deployment()
            .application_id(self.application)
            .environment_id(self.environment)
            .deployment_number(number)
            .send()
            .await
            .map_err(|e| failure("GetDeployment", &e))
    }
}

fn number_of(id: &str) -> Result<i32, ServiceError> {
    id.trim_end_matches(ROLLBACK_SUFFIX).parse().map_err(|_| ServiceError {
        message: format!("{id:?} is not an AppConfig deployment number"),
        transient: false,
    })
}

impl Deployments for EnvironmentDeployments<'_> {
    async fn read(&self, id: &str) -> Result<Snapshot, ServiceError> {
        let number = number_of(id)?;
        let out = self.get(number).await?;
        let state = out.state().cloned();
        let percent = out.percentage_complete().map(f64::from);
        if id.ends_with(ROLLBACK_SUFFIX) {
            let status = match state {
                Some(DeploymentState::RolledBack | DeploymentState::Reverted) => {
                    // Confirmed only once a new client is served what was in effect before.
                    let served = self.appconfig.served(self.application, self.environment, self.profile).await?;
                    if self.served_before.as_ref().is_none_or(|before| before(&served)) {
                        Status::Succeeded
                    } else {
                        Status::InProgress
                    }
                }
                _ => Status::InProgress,
            };
            return Ok(Snapshot { status, percent: None, lifecycle: Vec::new(), error: None, rollback_id: None });
        }
        let rolled_back = matches!(
            state,
            Some(DeploymentState::RollingBack | DeploymentState::RolledBack | DeploymentState::Reverted)
        );
        let status = match state {
            Some(DeploymentState::Complete) => Status::Succeeded,
            Some(DeploymentState::Baking) => Status::Baking,
            _ if rolled_back => Status::Stopped,
            _ => Status::InProgress,
        };
        // Why AppConfig rolled back: the newest rollback event's description.
        let error = rolled_back.then(|| {
            out.event_log()
                .iter()
                .find(|e| e.event_type() == Some(&DeploymentEventType::RollbackStarted))
                .map(|e| {
                    format!(
                        "{} ({})",
                        e.description().unwrap_or("rolled back"),
                        e.triggered_by().map_or("", |t| t.as_str())
                    )
                })
                .unwrap_or_else(|| "rolled back".into())
        });
        let lifecycle = vec![("state".to_owned(), state.map(|s| s.as_str().to_owned()).unwrap_or_default())];
        Ok(Snapshot {
            status,
            percent,
            lifecycle,
            error,
            rollback_id: rolled_back.then(|| format!("{number}{ROLLBACK_SUFFIX}")),
        })
    }

    async fn stop_with_rollback(&self, id: &str) -> Result<(), ServiceError> {
        let number = number_of(id)?;
        self.appconfig
            .control
            .stop_deployment()
            .application_id(self.application)
            .environment_id(self.environment)
            .deployment_number(number)
            // Without it AppConfig stops only a DEPLOYING deployment; with
            // it, one in its final bake too (and reverts one just complete).
            .allow_revert(true)
            .send()
            .await
            .map_err(|e| failure("StopDeployment", &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_grow_as_appconfig_documents() {
        let linear = Strategy { duration_minutes: 30, bake_minutes: 30, growth_factor: 20.0, exponential: false };
        assert_eq!(linear.steps(), [(20.0, 6.0), (40.0, 12.0), (60.0, 18.0), (80.0, 24.0), (100.0, 30.0)]);
        let exponential = Strategy { duration_minutes: 20, bake_minutes: 10, growth_factor: 10.0, exponential: true };
        assert_eq!(exponential.steps(), [(10.0, 4.0), (20.0, 8.0), (40.0, 12.0), (80.0, 16.0), (100.0, 20.0)]);
        let at_once = Strategy { duration_minutes: 0, bake_minutes: 10, growth_factor: 100.0, exponential: false };
        assert_eq!(at_once.steps(), [(100.0, 0.0)]);
    }
}
