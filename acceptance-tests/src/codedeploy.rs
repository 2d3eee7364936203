//! An independent CodeDeploy client for fixtures and assertions (the
//! awsJson1_1 protocol over the crate's plain HTTP code, no AWS SDK, no
//! provider code), and [`CodeDeployBed`]: a Lambda function with an alias,
//! a CodeDeploy application and deployment group for it, and a Terraform
//! working directory, all in one emulator.

use serde_json::{Value, json};

use crate::{AlbFixture, AliasInfo, AwsClient, AwsError, Emulator, Terraform};

/// The role deployment groups name (CodeDeploy only checks it is a role ARN).
pub const CODEDEPLOY_ROLE: &str = "arn:aws:iam::123456789012:role/codedeploy";

impl AwsClient {
    /// Calls `operation` of an awsJson1_1 service (signing name `service`,
    /// target prefix `prefix`); the JSON answer or the error (`__type`,
    /// `message`).
    fn json_rpc(&self, service: &str, prefix: &str, operation: &str, body: &Value) -> Result<Value, AwsError> {
        let target = format!("{prefix}.{operation}");
        let response = self.send_with(
            "POST",
            service,
            "/",
            Some("application/x-amz-json-1.1"),
            &[("X-Amz-Target", &target)],
            body.to_string().as_bytes(),
        )?;
        let value: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        if response.status == 200 {
            return Ok(value);
        }
        let code = value["__type"].as_str().unwrap_or("Unknown");
        Err(AwsError {
            status: response.status,
            code: code.rsplit('#').next().unwrap_or(code).to_owned(),
            message: value["message"].as_str().or(value["Message"].as_str()).unwrap_or_default().to_owned(),
        })
    }

    /// Calls CodeDeploy `operation` with a JSON body.
    pub fn codedeploy(&self, operation: &str, body: &Value) -> Result<Value, AwsError> {
        self.json_rpc("codedeploy", "CodeDeploy_20141006", operation, body)
    }

    /// Calls ECS `operation`, panicking on an error.
    pub fn must_ecs(&self, operation: &str, body: &Value) -> Value {
        self.json_rpc("ecs", "AmazonEC2ContainerServiceV20141113", operation, body)
            .unwrap_or_else(|e| panic!("ECS {operation} failed: {e}"))
    }

    /// [`AwsClient::codedeploy`], panicking on an error.
    pub fn must_codedeploy(&self, operation: &str, body: &Value) -> Value {
        self.codedeploy(operation, body).unwrap_or_else(|e| panic!("CodeDeploy {operation} failed: {e}"))
    }

    /// The lifecycle hooks waiting for their function's report (the
    /// emulator's test-only `GET /_codedeploy/hook-executions`), as
    /// `(deployment id, hook execution id, lifecycle event)`.
    pub fn waiting_hooks(&self) -> Vec<(String, String, String)> {
        let answer = self
            .send("GET", "codedeploy", "/_codedeploy/hook-executions", None, b"")
            .unwrap_or_else(|e| panic!("hook executions: {e}"));
        let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let text = |h: &Value, k: &str| h[k].as_str().unwrap_or_default().to_owned();
        value["hookExecutions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|h| h["status"] == "InProgress")
            .map(|h| (text(h, "deploymentId"), text(h, "lifecycleEventHookExecutionId"), text(h, "lifecycleEventName")))
            .collect()
    }

    /// GetDeployment's `deploymentInfo`.
    pub fn deployment(&self, id: &str) -> Value {
        self.must_codedeploy("GetDeployment", &json!({ "deploymentId": id }))["deploymentInfo"].clone()
    }

    /// The ids of a group's deployments, newest first.
    pub fn deployments(&self, application: &str, group: &str) -> Vec<String> {
        let listed = self.must_codedeploy(
            "ListDeployments",
            &json!({ "applicationName": application, "deploymentGroupName": group }),
        );
        listed["deployments"].as_array().into_iter().flatten().filter_map(|d| d.as_str().map(str::to_owned)).collect()
    }
}

/// A Lambda AppSpec moving `alias` of `function` from `current` to `target`.
pub fn lambda_appspec(function: &str, alias: &str, current: &str, target: &str) -> Value {
    let spec = json!({ "version": 0.0, "Resources": [{ "fn": { "Type": "AWS::Lambda::Function", "Properties": {
        "Name": function, "Alias": alias, "CurrentVersion": current, "TargetVersion": target } } }] });
    json!({ "revisionType": "AppSpecContent", "appSpecContent": { "content": spec.to_string() } })
}

/// An emulator with a CodeDeploy application and deployment group, what
/// they deploy to, and a Terraform working directory.
///
/// * [`CodeDeployBed::lambda`]: function `checkout` with versions 1, 2 and
///   3 and alias `live` on 1; application `checkout` (Lambda), group
///   `checkout-prod`.
/// * [`CodeDeployBed::ecs`]: an [`AlbFixture`] (listener on blue), cluster
///   `web` with service `web` (CodeDeploy controller, 2 tasks of the first
///   of three task definitions, behind blue, container `web` port 80);
///   application `web` (ECS), group `web-prod` over blue and green.
pub struct CodeDeployBed {
    pub emulator: Emulator,
    pub aws: AwsClient,
    pub tf: Terraform,
    /// ECS: the load balancer.
    pub alb: Option<AlbFixture>,
    /// ECS: the task definitions' ARNs.
    pub task_definitions: Vec<String>,
}

pub const APPLICATION: &str = "checkout";
pub const GROUP: &str = "checkout-prod";
pub const FUNCTION: &str = "checkout";
pub const ALIAS: &str = "live";
pub const ECS_APPLICATION: &str = "web";
pub const ECS_GROUP: &str = "web-prod";

/// CreateDeploymentGroup's request with `extra` fields added.
fn group_request(application: &str, group: &str, config: &str, mut request: Value, extra: &Value) -> Value {
    if let Some(fields) = request.as_object_mut() {
        fields.extend([
            ("applicationName".to_owned(), json!(application)),
            ("deploymentGroupName".to_owned(), json!(group)),
            ("serviceRoleArn".to_owned(), json!(CODEDEPLOY_ROLE)),
            ("deploymentConfigName".to_owned(), json!(config)),
        ]);
        fields.extend(extra.as_object().cloned().unwrap_or_default());
    }
    request
}

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
        aws.must_codedeploy(
            "CreateApplication",
            &json!({ "applicationName": APPLICATION, "computePlatform": "Lambda" }),
        );
        aws.must_codedeploy("CreateDeploymentGroup", &group_request(APPLICATION, GROUP, config, json!({}), &group));
        let tf = Terraform::new(&emulator);
        CodeDeployBed { emulator, aws, tf, alb: None, task_definitions: Vec::new() }
    }

    /// The ECS bed, its group deploying by `config` with `group` added.
    pub fn ecs(config: &str, group: Value) -> CodeDeployBed {
        let emulator = Emulator::start();
        let aws = emulator.client();
        let alb = AlbFixture::create(&aws);
        aws.must_ecs("CreateCluster", &json!({ "clusterName": "web" }));
        let task_definitions: Vec<String> = (1..=3)
            .map(|v| {
                let container = json!({ "name": "web", "image": format!("web:{v}"), "memory": 128, "portMappings": [{ "containerPort": 80 }] });
                let answer = aws.must_ecs("RegisterTaskDefinition", &json!({ "family": "web", "containerDefinitions": [container] }));
                answer["taskDefinition"]["taskDefinitionArn"].as_str().expect("a task definition ARN").to_owned()
            })
            .collect();
        aws.must_ecs(
            "CreateService",
            &json!({
                "cluster": "web", "serviceName": "web", "taskDefinition": task_definitions[0], "desiredCount": 2,
                "deploymentController": { "type": "CODE_DEPLOY" },
                "loadBalancers": [{ "targetGroupArn": alb.blue_arn, "containerName": "web", "containerPort": 80 }],
            }),
        );
        let name = |arn: &str| arn.split('/').nth(1).expect("a target group ARN names the group").to_owned();
        aws.must_codedeploy(
            "CreateApplication",
            &json!({ "applicationName": ECS_APPLICATION, "computePlatform": "ECS" }),
        );
        let ecs_group = json!({
            "ecsServices": [{ "clusterName": "web", "serviceName": "web" }],
            "loadBalancerInfo": { "targetGroupPairInfoList": [{
                "targetGroups": [{ "name": name(&alb.blue_arn) }, { "name": name(&alb.green_arn) }],
                "prodTrafficRoute": { "listenerArns": [alb.listener_arn] },
            }] },
            "deploymentStyle": { "deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL" },
            "blueGreenDeploymentConfiguration": { "terminateBlueInstancesOnDeploymentSuccess": { "action": "TERMINATE", "terminationWaitTimeInMinutes": 0 } },
        });
        aws.must_codedeploy(
            "CreateDeploymentGroup",
            &group_request(ECS_APPLICATION, ECS_GROUP, config, ecs_group, &group),
        );
        let tf = Terraform::new(&emulator);
        CodeDeployBed { emulator, aws, tf, alb: Some(alb), task_definitions }
    }

    pub fn alias(&self) -> AliasInfo {
        self.aws.get_alias(FUNCTION, ALIAS).expect("the alias exists")
    }
}
