//! An independent AppConfig client for fixtures and assertions (REST-JSON
//! over the crate's plain HTTP code, no AWS SDK, no provider code), and
//! [`FlagBed`]: an application with a feature flag profile, an environment
//! serving a first version of it, and a Terraform working directory.

use serde_json::{Value, json};

use crate::{AwsClient, AwsError, Emulator, Terraform};

impl AwsClient {
    /// Calls AppConfig (or its data plane, same signing name): `method` on
    /// `path` with a JSON body; the status and the body (JSON when it
    /// parses), or the error (`x-amzn-ErrorType`, `Message`).
    pub fn appconfig(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), AwsError> {
        let payload = body.map(Value::to_string).unwrap_or_default();
        let response = self.send(method, "appconfig", path, body.map(|_| "application/json"), payload.as_bytes())?;
        let value: Value = serde_json::from_slice(&response.body).unwrap_or_else(|_| Value::String(response.text()));
        if (200..300).contains(&response.status) {
            return Ok((response.status, value));
        }
        Err(AwsError {
            status: response.status,
            code: response.header("x-amzn-ErrorType").unwrap_or("Unknown").to_owned(),
            message: value["Message"].as_str().unwrap_or_default().to_owned(),
        })
    }

    fn must_appconfig(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.appconfig(method, path, body).unwrap_or_else(|e| panic!("AppConfig {method} {path} failed: {e}")).1
    }

    /// Creates a hosted configuration profile of `kind`; its id.
    pub fn create_profile(&self, application: &str, name: &str, kind: &str) -> String {
        let created = self.must_appconfig(
            "POST",
            &format!("/applications/{application}/configurationprofiles"),
            Some(&json!({ "Name": name, "LocationUri": "hosted", "Type": kind })),
        );
        created["Id"].as_str().expect("an id").to_owned()
    }

    /// Writes a hosted configuration version of `document`; its number.
    pub fn write_flags(&self, application: &str, profile: &str, document: &Value) -> i32 {
        let path = format!("/applications/{application}/configurationprofiles/{profile}/hostedconfigurationversions");
        let response = self
            .send("POST", "appconfig", &path, Some("application/json"), document.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("CreateHostedConfigurationVersion: {e}"));
        assert_eq!(response.status, 201, "CreateHostedConfigurationVersion: {}", response.text());
        response.header("Version-Number").and_then(|n| n.parse().ok()).expect("a Version-Number header")
    }

    /// The latest hosted version's document.
    pub fn latest_flags(&self, application: &str, profile: &str) -> Value {
        let base = format!("/applications/{application}/configurationprofiles/{profile}/hostedconfigurationversions");
        let listed = self.must_appconfig("GET", &format!("{base}?max_results=1"), None);
        let number = listed["Items"][0]["VersionNumber"].as_i64().expect("a version");
        self.must_appconfig("GET", &format!("{base}/{number}"), None)
    }

    /// What a new client of the environment receives (a fresh data-plane session).
    pub fn served_flags(&self, application: &str, environment: &str, profile: &str) -> Value {
        let session = self.must_appconfig("POST", "/configurationsessions", Some(&json!({ "ApplicationIdentifier": application, "EnvironmentIdentifier": environment, "ConfigurationProfileIdentifier": profile })));
        let token = session["InitialConfigurationToken"].as_str().expect("a token").to_owned();
        self.must_appconfig(
            "GET",
            &format!("/configuration?configuration_token={}", crate::http::query_escape(&token)),
            None,
        )
    }

    /// Whether `flag` is on for a user with `context`, evaluated from
    /// `document` as AppConfig Agent would (the emulator's test-only
    /// evaluator).
    pub fn evaluate_flag(&self, document: &Value, flag: &str, context: &Value) -> bool {
        let answer = self.must_appconfig(
            "POST",
            "/_appconfig/evaluate",
            Some(&json!({ "document": document, "flag": flag, "context": context })),
        );
        answer["enabled"].as_bool().unwrap_or_else(|| panic!("evaluate: {answer}"))
    }

    /// The environment's newest deployment's number.
    pub fn latest_deployment_number(&self, application: &str, environment: &str) -> Option<i64> {
        let listed = self.must_appconfig(
            "GET",
            &format!("/applications/{application}/environments/{environment}/deployments?max_results=1"),
            None,
        );
        listed["Items"][0]["DeploymentNumber"].as_i64()
    }

    /// GetDeployment.
    pub fn appconfig_deployment(&self, application: &str, environment: &str, number: i64) -> Value {
        self.must_appconfig(
            "GET",
            &format!("/applications/{application}/environments/{environment}/deployments/{number}"),
            None,
        )
    }
}

/// The flags every bed starts with: `checkout_v2` off (with a numeric
/// `limit` from 1 to 100), `dark_mode` on.
pub fn initial_flags() -> Value {
    json!({
        "version": "1",
        "flags": {
            "checkout_v2": { "name": "Checkout v2", "attributes": { "limit": { "constraints": { "type": "number", "minimum": 1, "maximum": 100 } } } },
            "dark_mode": { "name": "Dark mode" }
        },
        "values": { "checkout_v2": { "enabled": false }, "dark_mode": { "enabled": true } }
    })
}

/// An application `shop` with profile `flags` (feature flags, version 1 =
/// [`initial_flags`]), environment `prod` serving it (its monitor: alarm
/// `shop-monitor`, in OK), and strategies `fast` (50% then 100% over 2
/// minutes, 1 minute of bake), `slow` (10% more every minute for 10
/// minutes) and `immediate` (everything at once, no bake), all at one real
/// second per AppConfig minute.
pub struct FlagBed {
    pub emulator: Emulator,
    pub aws: AwsClient,
    pub tf: Terraform,
    pub application: String,
    pub environment: String,
    pub profile: String,
    pub fast: String,
    pub slow: String,
    /// No duration, no bake: for exposure steps.
    pub immediate: String,
}

impl FlagBed {
    pub fn start() -> FlagBed {
        let emulator = Emulator::start();
        let aws = emulator.client();
        aws.put_metric_alarm("shop-monitor");
        let id = |v: Value| v["Id"].as_str().expect("an id").to_owned();
        let application = id(aws.must_appconfig("POST", "/applications", Some(&json!({ "Name": "shop" }))));
        let profile = aws.create_profile(&application, "flags", "AWS.AppConfig.FeatureFlags");
        let monitor = json!({ "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:shop-monitor", "AlarmRoleArn": "arn:aws:iam::123456789012:role/appconfig-monitor" });
        let environment = id(aws.must_appconfig(
            "POST",
            &format!("/applications/{application}/environments"),
            Some(&json!({ "Name": "prod", "Monitors": [monitor] })),
        ));
        let strategy = |name: &str, duration: u32, bake: u32, growth: f64| {
            id(aws.must_appconfig("POST", "/deploymentstrategies", Some(&json!({ "Name": name, "DeploymentDurationInMinutes": duration, "FinalBakeTimeInMinutes": bake, "GrowthFactor": growth, "GrowthType": "LINEAR", "ReplicateTo": "NONE" }))))
        };
        let (fast, slow) = (strategy("fast", 2, 1, 50.0), strategy("slow", 10, 1, 10.0));
        let immediate = strategy("immediate", 0, 0, 100.0);
        let version = aws.write_flags(&application, &profile, &initial_flags());
        let started = aws.must_appconfig("POST", &format!("/applications/{application}/environments/{environment}/deployments"), Some(&json!({ "DeploymentStrategyId": immediate, "ConfigurationProfileId": profile, "ConfigurationVersion": version.to_string() })));
        let number = started["DeploymentNumber"].as_i64().expect("a deployment number");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while aws.appconfig_deployment(&application, &environment, number)["State"] != "COMPLETE" {
            assert!(std::time::Instant::now() < deadline, "the first version never completed");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let tf = Terraform::new(&emulator);
        FlagBed { emulator, aws, tf, application, environment, profile, fast, slow, immediate }
    }

    /// What a new client receives.
    pub fn served(&self) -> Value {
        self.aws.served_flags(&self.application, &self.environment, &self.profile)
    }
}

/// The flag traffic simulator (`testbed/flag_traffic.py`): an application
/// whose requests evaluate the bed's `checkout_v2` flag per user, as
/// AppConfig Agent would on 20 hosts, publishing `Requests` and `Errors` in
/// namespace `Shop` by `Variant` (`on`, `off`). Stopped on drop.
pub struct FlagTraffic {
    _simulator: crate::traffic::Simulator,
}

impl FlagTraffic {
    /// `rate` requests per second; users with the flag on fail with
    /// `on_error_rate`, the others with `off_error_rate`.
    pub fn start(bed: &FlagBed, rate: f64, off_error_rate: f64, on_error_rate: f64) -> FlagTraffic {
        let mut command = crate::traffic::Simulator::command(&bed.emulator, "flag_traffic.py");
        command.args([
            "--application",
            &bed.application,
            "--environment",
            &bed.environment,
            "--profile",
            &bed.profile,
            "--flag",
            "checkout_v2",
        ]);
        command.args([
            "--rate",
            &rate.to_string(),
            "--off-error-rate",
            &off_error_rate.to_string(),
            "--on-error-rate",
            &on_error_rate.to_string(),
        ]);
        FlagTraffic { _simulator: crate::traffic::Simulator::spawn(command, "flag_traffic.py", "flag_traffic") }
    }
}
