//! AWS adapters: clients built from the provider configuration, and the
//! implementations of the engine's ports.

pub mod cloudwatch;
pub mod metric_data;

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;

use crate::config::ProviderConfig;
use crate::engine::poller::{AlarmBatches, Poller};
use cloudwatch::CloudWatchAlarms;
use metric_data::MetricData;

/// What resources reach AWS with, built once at ConfigureProvider: the
/// SDK configuration (region, credentials, retries) and endpoint overrides,
/// from which each router builds the client of its service, and the shared
/// CloudWatch readers.
#[derive(Clone)]
pub struct Clients {
    pub sdk: aws_types::SdkConfig,
    /// (service, URL) pairs from the provider's `endpoints` block.
    endpoints: Vec<(String, String)>,
    /// The one alarm reader every gate of this process shares.
    pub alarms: Arc<Poller<AlarmBatches<CloudWatchAlarms>>>,
    /// The one metric reader every gate of this process shares.
    pub metrics: Arc<Poller<MetricData>>,
}

/// How long a read waits for others to share its fetch.
const GATHER: Duration = Duration::from_millis(25);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no AWS region is set: set `region` in the provider block, or AWS_REGION in the environment")]
    NoRegion,
}

/// Builds clients. No AWS call is made here: credentials are resolved on
/// first use, so planning with a bad profile fails with the SDK's own message
/// at the first call that needs them.
pub async fn connect(config: &ProviderConfig) -> Result<Clients, ConnectError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(retries) = config.max_retries {
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(retries + 1));
    }
    let mut sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(ConnectError::NoRegion);
    }
    if let Some(role) = &config.assume_role {
        let mut assume = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn).configure(&sdk);
        if let Some(name) = &role.session_name {
            assume = assume.session_name(name);
        }
        if let Some(id) = &role.external_id {
            assume = assume.external_id(id);
        }
        let credentials = assume.build().await;
        sdk = sdk.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build();
    }
    let mut cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&sdk);
    if let Some(url) = config.endpoint("cloudwatch") {
        cloudwatch = cloudwatch.endpoint_url(url);
    }
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(cloudwatch.build());
    Ok(Clients {
        alarms: Poller::new(AlarmBatches(CloudWatchAlarms(cloudwatch.clone())), GATHER),
        metrics: Poller::new(MetricData(cloudwatch), GATHER),
        sdk,
        endpoints: config.endpoints.clone(),
    })
}

impl Clients {
    /// The endpoint override for `service` (a name in [`crate::config::SERVICES`]).
    pub fn endpoint(&self, service: &str) -> Option<&str> {
        self.endpoints.iter().find(|(s, _)| s == service).map(|(_, url)| url.as_str())
    }
}

/// An SDK error with its whole cause chain, which is what a person needs
/// (the top-level message is often just "service error").
pub fn describe_error(error: &(dyn std::error::Error + 'static)) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(error).to_string()
}
