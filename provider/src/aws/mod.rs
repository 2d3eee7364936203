//! AWS adapters: clients built from the provider configuration, and the
//! implementations of the engine's ports.

pub mod appconfig;
pub mod cloudwatch;
pub mod codedeploy;
pub mod elbv2;
pub mod metric_data;

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_types::region::Region;
use tfplugin::log;

use crate::config::ProviderConfig;
use crate::engine::poller::{AlarmBatches, Poller};
use crate::engine::traffic::RouterError;
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
    /// The ELBv2 client and readers every ALB rollout of this process shares.
    pub elbv2: elbv2::Elbv2,
    pub codedeploy: codedeploy::CodeDeploy,
    pub appconfig: appconfig::AppConfig,
}

/// How long a read waits for others to share its fetch.
const GATHER: Duration = Duration::from_millis(25);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no AWS region is set: set `region` in the provider block, or AWS_REGION in the environment")]
    NoRegion,
}

/// Retries of a failed or throttled call when the configuration sets none:
/// more than the SDK's default two, since a rollout is long and makes many
/// calls, and a throttle that outlasts the retries stops it (a shift, a
/// check) or costs a look. The SDK's standard mode backs off exponentially
/// with jitter, up to 20 s between attempts.
pub const DEFAULT_RETRIES: u32 = 7;

const MODULE: &str = "aws";

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
    let retries = config.max_retries.unwrap_or(DEFAULT_RETRIES);
    loader = loader.retry_config(RetryConfig::standard().with_max_attempts(retries + 1)).http_client(https_client());
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
    let mut cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&sdk).interceptor(RetryLog);
    if let Some(url) = config.endpoint("cloudwatch") {
        cloudwatch = cloudwatch.endpoint_url(url);
    }
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(cloudwatch.build());
    Ok(Clients {
        alarms: Poller::new(AlarmBatches(CloudWatchAlarms(cloudwatch.clone())), GATHER),
        metrics: Poller::new(MetricData(cloudwatch), GATHER),
        elbv2: elbv2::Elbv2::new(&sdk, config.endpoint("elbv2")),
        codedeploy: codedeploy::CodeDeploy::new(&sdk, config.endpoint("codedeploy")),
        appconfig: appconfig::AppConfig::new(&sdk, config.endpoint("appconfig"), config.endpoint("appconfigdata")),
        sdk,
        endpoints: config.endpoints.clone(),
    })
}

/// One HTTPS client (connection pool, TLS configuration and trusted roots)
/// for every service client the provider builds. Without it, each service
/// client makes its own, and routers build one per plan and per apply of
/// every resource: no connection, and so no TLS session, was reused from
/// one resource to the next. Like the SDK's default: rustls with AWS-LC,
/// and HTTP(S)_PROXY / NO_PROXY from the environment.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

impl Clients {
    /// The endpoint override for `service` (a name in [`crate::config::SERVICES`]).
    pub fn endpoint(&self, service: &str) -> Option<&str> {
        self.endpoints.iter().find(|(s, _)| s == service).map(|(_, url)| url.as_str())
    }
}

/// Logs every retry of an AWS call at WARN, one line each (service,
/// operation, attempt, and what failed: the HTTP status AWS answered with,
/// or that no answer came), so a run against a throttling or failing AWS
/// shows how much it cost. Registered on every client the provider builds.
#[derive(Debug)]
pub struct RetryLog;

/// What the attempt before a retry ended with.
#[derive(Debug, Clone)]
struct LastFailure(String);

impl Storable for LastFailure {
    type Storer = StoreReplace<Self>;
}

impl Intercept for RetryLog {
    fn name(&self) -> &'static str {
        "RetryLog"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Err(error)) = context.output_or_error() {
            let failure = match context.response() {
                Some(response) => format!("HTTP {}", response.status().as_u16()),
                None if error.is_timeout_error() => "timed out".to_owned(),
                None => "no answer".to_owned(),
            };
            cfg.interceptor_state().store_put(LastFailure(failure));
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, RequestAttempts::attempts);
        if attempt > 1 {
            let (service, operation) = cfg.load::<Metadata>().map_or(("?", "?"), |m| (m.service(), m.name()));
            let failure = cfg.load::<LastFailure>().map_or("", |f| f.0.as_str());
            log::warn(
                MODULE,
                "retrying AWS call",
                &[
                    ("service", service.into()),
                    ("operation", operation.into()),
                    ("attempt", attempt.into()),
                    ("previous_attempt", failure.into()),
                ],
            );
        }
        Ok(())
    }
}

/// Error codes AWS services use for throttling.
const THROTTLING_CODES: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "SlowDown",
];

/// Whether an AWS error code says the call was throttled.
pub fn is_throttling(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

/// What kind of failure an AWS call ended with, after the SDK's retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass<'a> {
    /// Throttled, a 5xx, or no answer at all (reset, timeout): the same
    /// call may work a little later.
    Transient,
    /// AWS answered with this error code (not found, access denied, an
    /// invalid request...): calling again changes nothing.
    Rejected(&'a str),
}

/// Classifies an SDK error (see [`ErrorClass`]).
pub fn classify<E>(
    error: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> ErrorClass<'_>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let Some(service_error) = error.as_service_error() else {
        return ErrorClass::Transient;
    };
    let server_fault = error.raw_response().is_some_and(|r| r.status().is_server_error());
    match service_error.code() {
        Some(code) if is_throttling(code) => ErrorClass::Transient,
        _ if server_fault => ErrorClass::Transient,
        Some(code) => ErrorClass::Rejected(code),
        None => ErrorClass::Rejected("an unnamed error"),
    }
}

/// An SDK error in one sentence, as a router error: a service error whose
/// code is one of `gone_codes` means the routing is gone; throttling, a 5xx
/// and a call that got no answer are transient; anything else (access
/// denied, an invalid request) is a failure that waiting does not mend.
pub fn sdk_error<E>(
    service: &str,
    operation: &str,
    error: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    gone_codes: &[&str],
) -> RouterError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = describe_error(service, operation, error);
    match classify(error) {
        ErrorClass::Rejected(code) if gone_codes.contains(&code) => RouterError::Gone(text),
        ErrorClass::Transient => RouterError::Transient(text),
        ErrorClass::Rejected(_) => RouterError::Failed(text),
    }
}

/// `{service} {operation}` and what went wrong, in one sentence a person
/// can act on: AWS's error code and message for an error AWS returned
/// (saying so when it was throttling, after the SDK's retries), and the
/// cause chain for a call that never got an answer. Never the raw response
/// (headers, body bytes), which the SDK's own formatting includes.
pub fn describe_error<E>(
    service: &str,
    operation: &str,
    error: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let Some(service_error) = error.as_service_error() else {
        return format!(
            "{service} {operation} got no answer: {}",
            aws_smithy_types::error::display::DisplayErrorContext(error)
        );
    };
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = service_error.code().unwrap_or("an unnamed error");
    let message = service_error.message().map(|m| format!(": {m}")).unwrap_or_default();
    let status = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    if is_throttling(code) {
        format!(
            "{service} {operation} was throttled by AWS, even after the retries the provider allows ({code}{message}){status}"
        )
    } else {
        format!("{service} {operation} failed with {code}{message}{status}")
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsError;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn answered(code: &str, message: &str, status: u16) -> SdkError<DescribeTargetGroupsError, Response> {
        let error = DescribeTargetGroupsError::generic(ErrorMetadata::builder().code(code).message(message).build());
        let body = SdkBody::from("<ErrorResponse><Error><Code>raw body bytes</Code></Error></ErrorResponse>");
        SdkError::service_error(error, Response::new(StatusCode::try_from(status).unwrap(), body))
    }

    #[test]
    fn an_aws_error_is_one_sentence_with_its_code_and_message() {
        let throttled = describe_error("ELBv2", "DescribeTargetGroups", &answered("Throttling", "Rate exceeded", 400));
        assert_eq!(
            throttled,
            "ELBv2 DescribeTargetGroups was throttled by AWS, even after the retries the provider allows (Throttling: Rate exceeded) (HTTP 400)"
        );
        let denied =
            describe_error("ELBv2", "DescribeTargetGroups", &answered("AccessDenied", "User is not authorized", 403));
        assert_eq!(denied, "ELBv2 DescribeTargetGroups failed with AccessDenied: User is not authorized (HTTP 403)");
        assert!(!denied.contains("raw body bytes") && !throttled.contains("headers"), "never the raw response");
        let unreachable: SdkError<DescribeTargetGroupsError, Response> =
            SdkError::timeout_error("operation timed out after 3s");
        let text = describe_error("ELBv2", "DescribeTargetGroups", &unreachable);
        assert!(text.starts_with("ELBv2 DescribeTargetGroups got no answer:") && text.contains("timed out"), "{text}");
        assert!(["Throttling", "TooManyRequestsException", "PriorRequestNotComplete"].into_iter().all(is_throttling));
        assert!(!is_throttling("ValidationError"));
    }

    #[test]
    fn errors_are_classed_by_whether_waiting_can_mend_them() {
        assert_eq!(classify(&answered("Throttling", "Rate exceeded", 400)), ErrorClass::Transient);
        assert_eq!(classify(&answered("ServiceUnavailable", "Please retry", 503)), ErrorClass::Transient);
        assert_eq!(classify(&answered("InternalFailure", "", 500)), ErrorClass::Transient);
        let no_answer: SdkError<DescribeTargetGroupsError, Response> =
            SdkError::timeout_error("operation timed out after 3s");
        assert_eq!(classify(&no_answer), ErrorClass::Transient);
        assert_eq!(
            classify(&answered("AccessDenied", "User is not authorized", 403)),
            ErrorClass::Rejected("AccessDenied")
        );
        assert_eq!(
            classify(&answered("TargetGroupNotFound", "One or more target groups not found", 400)),
            ErrorClass::Rejected("TargetGroupNotFound")
        );
        assert_eq!(classify(&answered("ValidationError", "bad weight", 400)), ErrorClass::Rejected("ValidationError"));
    }
}
