//! An independent AWS client for test fixtures and assertions: CloudWatch,
//! Elastic Load Balancing v2 and EC2 over the AWS Query protocol.

use crate::http;
use std::fmt;
use std::time::Duration;

/// A Query-protocol service: how moto recognizes it and which API it speaks.
///
/// moto's server (`DomainDispatcherApplication`) ignores the `Host` header of
/// a signed request and picks the backend from the service name in the SigV4
/// credential scope (`.../<region>/<service>/aws4_request`), then routes on
/// the path. All three services here answer on `/`. ELB classic and ELBv2
/// share the signing name `elasticloadbalancing`; moto tells them apart by
/// the `Version` parameter, so it must be ELBv2's `2015-12-01`.
struct Service {
    /// For panic messages.
    label: &'static str,
    /// The SigV4 signing name.
    signing_name: &'static str,
    version: &'static str,
}

const CLOUDWATCH: Service = Service { label: "CloudWatch", signing_name: "monitoring", version: "2010-08-01" };

const ELBV2: Service = Service { label: "ELBv2", signing_name: "elasticloadbalancing", version: "2015-12-01" };

const EC2: Service = Service { label: "EC2", signing_name: "ec2", version: "2016-11-15" };

const IAM: Service = Service { label: "IAM", signing_name: "iam", version: "2010-05-08" };

/// CloudWatch, Elastic Load Balancing v2 and EC2 over the AWS Query protocol
/// (form-encoded POST, XML answers), on a plain TCP connection to the
/// emulator.
///
/// Deliberately independent of the code under test: no Rust AWS SDK, no
/// provider code, and it does not pass through the emulator's RPCv2-CBOR
/// bridge. Requests carry a SigV4-shaped `Authorization` header with a dummy
/// signature: moto does not check signatures, but reads the service and the
/// region from the credential scope, so the region here must match the
/// provider's (`us-east-1`, see [`crate::Terraform`]).
///
/// The helpers panic on any error, which is what a fixture wants; use
/// [`AwsClient::call`], [`AwsClient::elbv2`] and [`AwsClient::ec2`] to look
/// at errors. The ELBv2 helpers are in `elbv2.rs`.
#[derive(Debug, Clone)]
pub struct AwsClient {
    pub(crate) authority: String,
    pub(crate) region: String,
}

/// What [`AwsClient::describe_alarm`] reports about a metric alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmInfo {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: String,
    pub arn: String,
}

/// An error answer (or a transport failure) from [`AwsClient::call`].
#[derive(Debug, Clone)]
pub struct AwsError {
    /// HTTP status; 0 when the request did not get an answer.
    pub status: u16,
    /// AWS error code, e.g. `ResourceNotFound`.
    pub code: String,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for AwsError {}

impl AwsClient {
    /// A client for the emulator at `endpoint` (`http://127.0.0.1:PORT`), region `us-east-1`.
    pub fn new(endpoint: &str) -> AwsClient {
        AwsClient { authority: http::authority(endpoint).to_string(), region: "us-east-1".into() }
    }

    /// The same client for another region.
    pub fn with_region(mut self, region: &str) -> AwsClient {
        self.region = region.into();
        self
    }

    /// Calls a CloudWatch action with Query parameters (`Action` and
    /// `Version` are added) and returns the XML answer.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<String, AwsError> {
        self.call_service(&CLOUDWATCH, action, params)
    }

    /// Calls an Elastic Load Balancing v2 action, like [`AwsClient::call`].
    pub fn elbv2(&self, action: &str, params: &[(&str, &str)]) -> Result<String, AwsError> {
        self.call_service(&ELBV2, action, params)
    }

    /// Calls an EC2 action, like [`AwsClient::call`]. EC2's dialect of the
    /// Query protocol numbers lists without `.member` (`Filter.1.Name`) and
    /// answers with lower-camel-case elements (`<vpcSet><item>`).
    pub fn ec2(&self, action: &str, params: &[(&str, &str)]) -> Result<String, AwsError> {
        self.call_service(&EC2, action, params)
    }

    /// Calls an IAM action, like [`AwsClient::call`].
    pub(crate) fn iam(&self, action: &str, params: &[(&str, &str)]) -> Result<String, AwsError> {
        self.call_service(&IAM, action, params)
    }

    /// Sends one request to the emulator as `service` (the SigV4 signing
    /// name in the credential scope): `method` on `target` (a path with any
    /// query string), with `body` of `content_type` if given. The request
    /// carries `X-Amz-Date` and a SigV4-shaped `Authorization` with a dummy
    /// signature. A transport failure is an [`AwsError`] with status 0; any
    /// HTTP answer, error or not, is returned for the caller's protocol to read.
    pub(crate) fn send(
        &self,
        method: &str,
        service: &str,
        target: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<http::Response, AwsError> {
        self.send_with(method, service, target, content_type, &[], body)
    }

    /// [`AwsClient::send`] with `extra` headers (such as `X-Amz-Target`).
    pub(crate) fn send_with(
        &self,
        method: &str,
        service: &str,
        target: &str,
        content_type: Option<&str>,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Result<http::Response, AwsError> {
        let signed_headers = if content_type.is_some() { "content-type;host;x-amz-date" } else { "host;x-amz-date" };
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20250101/{}/{service}/aws4_request, \
             SignedHeaders={signed_headers}, Signature=0000000000000000",
            self.region
        );
        let mut headers = vec![("X-Amz-Date", "20250101T000000Z"), ("Authorization", authorization.as_str())];
        if let Some(content_type) = content_type {
            headers.push(("Content-Type", content_type));
        }
        headers.extend_from_slice(extra);
        http::request(method, &self.authority, target, &headers, body, Duration::from_secs(30)).map_err(|e| AwsError {
            status: 0,
            code: "Transport".into(),
            message: e.to_string(),
        })
    }

    fn call_service<K: AsRef<str>, V: AsRef<str>>(
        &self,
        service: &Service,
        action: &str,
        params: &[(K, V)],
    ) -> Result<String, AwsError> {
        let mut pairs = vec![("Action", action), ("Version", service.version)];
        pairs.extend(params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
        let body = http::form_encode(&pairs);
        let response = self.send(
            "POST",
            service.signing_name,
            "/",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            body.as_bytes(),
        )?;
        let text = response.text();
        if response.status == 200 {
            return Ok(text);
        }
        // Query errors are `<ErrorResponse><Error><Code>`, EC2's are
        // `<Response><Errors><Error><Code>`: the first `Code` works for both.
        let doc = roxmltree::Document::parse(&text).ok();
        let field = |name: &str| {
            doc.as_ref()
                .and_then(|d| d.descendants().find(|n| n.has_tag_name(name)))
                .and_then(|n| n.text())
                .map(str::to_string)
        };
        Err(AwsError {
            status: response.status,
            code: field("Code").unwrap_or_else(|| "Unknown".into()),
            message: field("Message").unwrap_or(text),
        })
    }

    /// [`AwsClient::call_service`], panicking on any error.
    fn must<K: AsRef<str>, V: AsRef<str>>(&self, service: &Service, action: &str, params: &[(K, V)]) -> String {
        self.call_service(service, action, params).unwrap_or_else(|e| panic!("{} {action} failed: {e}", service.label))
    }

    /// An ELBv2 action that must succeed; returns the XML answer.
    pub(crate) fn must_elbv2<K: AsRef<str>, V: AsRef<str>>(&self, action: &str, params: &[(K, V)]) -> String {
        self.must(&ELBV2, action, params)
    }

    /// An EC2 action that must succeed; returns the XML answer.
    pub(crate) fn must_ec2<K: AsRef<str>, V: AsRef<str>>(&self, action: &str, params: &[(K, V)]) -> String {
        self.must(&EC2, action, params)
    }

    /// Creates (or replaces) a metric alarm: `Sum` of metric `Errors` in
    /// namespace `AcceptanceTests` over 60 s, `>= 1` for one period.
    pub fn put_metric_alarm(&self, name: &str) {
        self.must(
            &CLOUDWATCH,
            "PutMetricAlarm",
            &[
                ("AlarmName", name),
                ("MetricName", "Errors"),
                ("Namespace", "AcceptanceTests"),
                ("Statistic", "Sum"),
                ("Period", "60"),
                ("EvaluationPeriods", "1"),
                ("Threshold", "1"),
                ("ComparisonOperator", "GreaterThanOrEqualToThreshold"),
            ],
        );
    }

    /// Forces an alarm's state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub fn set_alarm_state(&self, name: &str, state: &str, reason: &str) {
        self.must(&CLOUDWATCH, "SetAlarmState", &[("AlarmName", name), ("StateValue", state), ("StateReason", reason)]);
    }

    /// The metric alarm called `name`, or `None` if there is none.
    pub fn describe_alarm(&self, name: &str) -> Option<AlarmInfo> {
        let xml = self.must(&CLOUDWATCH, "DescribeAlarms", &[("AlarmNames.member.1", name)]);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("DescribeAlarms: bad XML ({e}): {xml}"));
        let alarm = doc
            .descendants()
            .find(|n| n.has_tag_name("member") && n.parent().is_some_and(|p| p.has_tag_name("MetricAlarms")))?;
        let field = |tag: &str| {
            alarm.children().find(|c| c.has_tag_name(tag)).and_then(|c| c.text()).unwrap_or_default().to_string()
        };
        Some(AlarmInfo {
            name: field("AlarmName"),
            state: field("StateValue"),
            reason: field("StateReason"),
            arn: field("AlarmArn"),
        })
    }

    /// Deletes alarms (no error if they do not exist).
    pub fn delete_alarms(&self, names: &[&str]) {
        let keys: Vec<String> = (1..=names.len()).map(|i| format!("AlarmNames.member.{i}")).collect();
        let params: Vec<(&str, &str)> = keys.iter().map(String::as_str).zip(names.iter().copied()).collect();
        self.must(&CLOUDWATCH, "DeleteAlarms", &params);
    }

    /// Records one data point (timestamp: now) for `namespace`/`metric`.
    pub fn put_metric_data(&self, namespace: &str, metric: &str, value: f64) {
        self.put_metric_datum(namespace, metric, &[], value);
    }

    /// One data point, now, of `metric` with `dimensions`.
    pub fn put_metric_datum(&self, namespace: &str, metric: &str, dimensions: &[(&str, &str)], value: f64) {
        let value = value.to_string();
        let mut params = vec![
            ("Namespace".to_owned(), namespace.to_owned()),
            ("MetricData.member.1.MetricName".to_owned(), metric.to_owned()),
            ("MetricData.member.1.Value".to_owned(), value),
        ];
        for (i, (name, dimension_value)) in dimensions.iter().enumerate() {
            let at = format!("MetricData.member.1.Dimensions.member.{}", i + 1);
            params.push((format!("{at}.Name"), (*name).to_owned()));
            params.push((format!("{at}.Value"), (*dimension_value).to_owned()));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.must(&CLOUDWATCH, "PutMetricData", &params);
    }
}
