//! An independent CodeDeploy client for fixtures and assertions (the
//! awsJson1_1 protocol over the crate's plain HTTP code, no AWS SDK, no
//! provider code), and [`CodeDeployBed`]: a Lambda function with an alias,
//! a CodeDeploy application and deployment group for it, and a Terraform
//! working directory, all in one emulator.

use serde_json::{Value, json};

use crate::{AliasInfo, AwsClient, AwsError, Emulator, Terraform};

/// The role deployment groups name (CodeDeploy only checks it is a role ARN).
pub const CODEDEPLOY_ROLE: &str = "arn:aws:iam::123456789012:role/codedeploy";

impl AwsClient {
    /// Calls CodeDeploy `operation` with a JSON body; the JSON answer or the
    /// error AWS-style (`__type`, `message`).
    pub fn codedeploy(&self, operation: &str, body: &Value) -> Result<Value, AwsError> {
        let target = format!("CodeDeploy_20141006.{operation}");
        let response = self.send_with("POST", "codedeploy", "/", Some("application/x-amz-json-1.1"), &[("X-Amz-Target", &target)], body.to_string().as_bytes())?;
        let value: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        if response.status == 200 {
            return Ok(value);
        }
        let code = value["__type"].as_str().unwrap_or("Unknown");
        Err(AwsError { status: response.status, code: code.rsplit('#').next().unwrap_or(code).to_owned(), message: value["message"].as_str().unwrap_or_default().to_owned() })
    }

    /// [`AwsClient::codedeploy`], panicking on an error.
    pub fn must_codedeploy(&self, operation: &str, body: &Value) -> Value {
        self.codedeploy(operation, body).unwrap_or_else(|e| panic!("CodeDeploy {operation} failed: {e}"))
    }

    /// GetDeployment's `deploymentInfo`.
    pub fn deployment(&self, id: &str) -> Value {
        self.must_codedeploy("GetDeployment", &json!({ "deploymentId": id }))["deploymentInfo"].clone()
    }

    /// The ids of a group's deployments, newest first.
    pub fn deployments(&self, application: &str, group: &str) -> Vec<String> {
        let listed = self.must_codedeploy("ListDeployments", &json!({ "applicationName": application, "deploymentGroupName": group }));
        listed["deployments"].as_array().into_iter().flatten().filter_map(|d| d.as_str().map(str::to_owned)).collect()
    }
}

/// A Lambda AppSpec moving `alias` of `function` from `current` to `target`.
pub fn lambda_appspec(function: &str, alias: &str, current: &str, target: &str) -> Value {
    let spec = json!({ "version": 0.0, "Resources": [{ "fn": { "Type": "AWS::Lambda::Function", "Properties": {
        "Name": function, "Alias": alias, "CurrentVersion": current, "TargetVersion": target } } }] });
    json!({ "revisionType": "AppSpecContent", "appSpecContent": { "content": spec.to_string() } })
}

/// A function `checkout` with versions 1, 2 and 3 and alias `live` on 1;
/// application `checkout` (Lambda) with group `checkout-prod`.
pub struct CodeDeployBed {
    pub emulator: Emulator,
    pub aws: AwsClient,
    pub tf: Terraform,
}

pub const APPLICATION: &str = "checkout";
pub const GROUP: &str = "checkout-prod";
pub const FUNCTION: &str = "checkout";
pub const ALIAS: &str = "live";

impl CodeDeployBed {
    /// The bed with a group deploying by `config`; `group` adds settings
    /// (alarm configuration, automatic rollback) to CreateDeploymentGroup.
    pub fn lambda(config: &str, group: Value) -> CodeDeployBed {
        let emulator = Emulator::start();
        let aws = emulator.client();
        aws.create_function(FUNCTION);
        for _ in 0..3 {
            aws.publish_version(FUNCTION);
        }
        aws.create_alias(FUNCTION, ALIAS, "1", None);
        aws.must_codedeploy("CreateApplication", &json!({ "applicationName": APPLICATION, "computePlatform": "Lambda" }));
        let mut request = json!({ "applicationName": APPLICATION, "deploymentGroupName": GROUP, "serviceRoleArn": CODEDEPLOY_ROLE, "deploymentConfigName": config });
        if let (Some(request), Some(extra)) = (request.as_object_mut(), group.as_object()) {
            request.extend(extra.clone());
        }
        aws.must_codedeploy("CreateDeploymentGroup", &request);
        let tf = Terraform::new(&emulator);
        CodeDeployBed { emulator, aws, tf }
    }

    pub fn alias(&self) -> AliasInfo {
        self.aws.get_alias(FUNCTION, ALIAS).expect("the alias exists")
    }
}
