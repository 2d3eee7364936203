//! `progressive_codedeploy_deployment` against real Terraform and the test
//! bed's CodeDeploy engine (one real second per CodeDeploy minute), for a
//! Lambda alias and an ECS service behind a load balancer. AWS state is
//! read back with the bed's own client.

use std::time::{Duration, Instant};

use acceptance_tests::codedeploy::{
    ALIAS, APPLICATION, CodeDeployBed, ECS_APPLICATION, ECS_GROUP, FUNCTION, GROUP, lambda_appspec,
};
use acceptance_tests::rollouts::{self, wait_until};
use acceptance_tests::{Behaviour, FaultProxy, Traffic};
use serde_json::{Value, json};

const ADDRESS: &str = "progressive_codedeploy_deployment.checkout";

fn deployment(target: &str, extra: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    progressive = {{ source = "progressive-delivery/progressive" }}
  }}
}}
provider "progressive" {{}}
resource "progressive_codedeploy_deployment" "checkout" {{
  application_name      = "{APPLICATION}"
  deployment_group_name = "{GROUP}"
  lambda {{
    function_name  = "{FUNCTION}"
    alias          = "{ALIAS}"
    target_version = "{target}"
  }}
  poll_interval = "1s"
{extra}
}}
"#
    )
}

fn values(bed: &CodeDeployBed) -> Value {
    bed.tf.resource(ADDRESS).map(|r| r["values"].clone()).unwrap_or(Value::Null)
}

fn events(v: &Value) -> Vec<String> {
    if v["history"].is_null() {
        return Vec::new();
    }
    rollouts::history(v)
        .iter()
        .map(|e| format!("{} {}", e["event"].as_str().unwrap_or(""), e["detail"].as_str().unwrap_or("")))
        .collect()
}

/// The alias serves `version` alone.
fn serves(bed: &CodeDeployBed, version: &str) -> bool {
    let alias = bed.alias();
    alias.function_version == version && alias.additional.is_none()
}

/// Waits until CodeDeploy has shifted some traffic to the target version.
fn wait_for_canary(bed: &CodeDeployBed) {
    assert!(
        wait_until(Duration::from_secs(30), || bed.alias().additional.is_some_and(|(_, w)| w > 0.0)),
        "no canary shift: {:?}",
        bed.alias()
    );
}

#[test]
fn codedeploy_basic_canary_succeeds_and_plans_nothing_after() {
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaCanary10Percent5Minutes", json!({}));
    bed.tf.write_config(&deployment("2", ""));
    let plan = bed.tf.run(&["plan", "-no-color", "-detailed-exitcode"]);
    assert_eq!(plan.code(), Some(2), "{}", plan.combined());
    assert!(
        plan.stdout.contains("bake    = \"5m\"") && plan.stdout.contains("percent = 10"),
        "the plan shows the config's schedule:\n{}",
        plan.stdout
    );

    let started = Instant::now();
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert!(started.elapsed() >= Duration::from_secs(5), "the 5-minute canary (5 s here) was followed to its end");
    assert!(serves(&bed, "2"), "{:?}", bed.alias());
    let v = values(&bed);
    assert_eq!(v["status"], "succeeded");
    assert_eq!(v["lambda"]["current_version"], "1");
    let id = v["deployment_id"].as_str().expect("a deployment id").to_owned();
    assert!(id.starts_with("d-") && id.len() == 11, "{id}");
    assert_eq!(bed.aws.deployment(&id)["status"], "Succeeded");
    let history = events(&v);
    assert!(history.iter().any(|e| e.starts_with("shift") && e.contains("10%")), "{history:?}");
    assert!(history.iter().any(|e| e.starts_with("lifecycle") && e.contains("AllowTraffic Succeeded")), "{history:?}");
    assert!(history.last().is_some_and(|e| e.ends_with("Succeeded")), "{history:?}");
    assert_eq!(bed.tf.plan_exit_code(), 0, "a matching configuration plans nothing");
    assert_eq!(bed.aws.deployments(APPLICATION, GROUP).len(), 1);
}

#[test]
fn codedeploy_rollback_by_its_own_alarm_fails_the_apply_and_records_what_serves() {
    let group = json!({
        "alarmConfiguration": { "enabled": true, "alarms": [{ "name": "checkout-5xx" }] },
        "autoRollbackConfiguration": { "enabled": true, "events": ["DEPLOYMENT_STOP_ON_ALARM"] },
    });
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaCanary10Percent10Minutes", group);
    bed.aws.put_metric_alarm("checkout-5xx");
    bed.tf.write_config(&deployment("2", ""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_canary(&bed);
    bed.aws.set_alarm_state("checkout-5xx", "ALARM", "5xx above threshold");
    let out = running.finish_within(Duration::from_secs(60));
    out.assert_failed_with(&["was stopped", "ALARM_ACTIVE", "rolled it back"]);
    assert!(serves(&bed, "1"), "{:?}", bed.alias());
    let v = values(&bed);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["lambda"]["target_version"], "1", "the state records what serves");
    let rollback = v["rollback_deployment_id"].as_str().expect("the rollback deployment");
    assert_eq!(bed.aws.deployment(rollback)["status"], "Succeeded");
    assert_eq!(bed.tf.plan_exit_code(), 2, "the next plan shows the deployment again");
}

#[test]
fn codedeploy_our_gate_stops_a_deployment_codedeploy_would_let_through() {
    // The group watches no alarm; the resource watches one more.
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaCanary10Percent10Minutes", json!({}));
    bed.aws.put_metric_alarm("checkout-latency");
    bed.tf
        .write_config(&deployment("2", "  alarm_names = [\"checkout-latency\"]\n  report_path = \"reports/checkout\""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_canary(&bed);
    bed.aws.set_alarm_state("checkout-latency", "ALARM", "p99 above 300 ms");
    let out = running.finish_within(Duration::from_secs(60));
    out.assert_failed_with(&["stopped and rolled back", "alarm \"checkout-latency\" is failing", "p99 above 300 ms"]);
    assert!(serves(&bed, "1"), "{:?}", bed.alias());
    let v = values(&bed);
    assert_eq!(v["status"], "rolled_back");
    let id = v["deployment_id"].as_str().unwrap();
    assert_eq!(bed.aws.deployment(id)["status"], "Stopped");
    let rollback = v["rollback_deployment_id"].as_str().expect("the rollback deployment");
    assert_eq!(bed.aws.deployment(rollback)["status"], "Succeeded");
    assert!(events(&v).iter().any(|e| e.starts_with("gate_failed")), "{:?}", events(&v));

    // The report: the canary's shift failed by our gate, then the rollback.
    let reports = bed.tf.workdir().join("reports");
    let md = std::fs::read_to_string(reports.join("checkout.md")).expect("the Markdown report");
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], format!("### ❌ Deployment rolled back: {FUNCTION} version 2"), "{md}");
    let canary = lines.iter().find(|l| l.contains("| 10% |")).copied().unwrap_or_default();
    assert!(canary.contains("| **fail**: alarm \"checkout-latency\" is failing: p99 above 300 ms |"), "{md}");
    assert!(!lines.iter().any(|l| l.contains("| 100% |")), "no step at 100%: {md}");
    assert!(md.contains("\n**Rollback** at ") && md.contains("p99 above 300 ms"), "{md}");
    let rollback_done = format!("rollback {rollback} Succeeded");
    assert!(lines.iter().any(|l| l.starts_with("- ") && l.ends_with(&rollback_done)), "a service event: {md}");
    for file in ["checkout.svg", "checkout.html"] {
        let text = std::fs::read_to_string(reports.join(file)).expect(file);
        assert_eq!(text.matches(r#"class="bake bake-fail""#).count(), 1, "{file}: {text}");
        assert!(text.contains("· 10% · fail</text>") && text.contains(r#"<line class="rollback""#), "{file}: {text}");
    }
}

#[test]
fn codedeploy_interrupt_stops_with_a_confirmed_rollback() {
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaCanary10Percent30Minutes", json!({}));
    bed.tf.write_config(&deployment("2", ""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_canary(&bed);
    let interrupted = Instant::now();
    running.interrupt();
    let out = running.finish_within(Duration::from_secs(30));
    assert!(interrupted.elapsed() < Duration::from_secs(10), "stopped after {:?}", interrupted.elapsed());
    out.assert_failed_with(&["Terraform was interrupted", "rolled it back"]);
    assert!(serves(&bed, "1"), "{:?}", bed.alias());
    assert_eq!(values(&bed)["status"], "interrupted");
}

#[test]
fn codedeploy_killed_apply_is_followed_again_not_restarted() {
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaCanary10Percent10Minutes", json!({}));
    bed.tf.write_config(&deployment("2", ""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_canary(&bed);
    running.signal_group(libc::SIGKILL);
    let _ = running.finish_within(Duration::from_secs(10));
    let started = bed.aws.deployments(APPLICATION, GROUP);
    assert_eq!(started.len(), 1);
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(bed.aws.deployments(APPLICATION, GROUP), started, "no second deployment");
    let v = values(&bed);
    assert_eq!(v["deployment_id"], started[0].as_str());
    assert_eq!(v["status"], "succeeded");
    assert!(serves(&bed, "2"));
}

/// CreateDeployment takes effect but its answer is lost, and so is the
/// answer to the SDK's retry (which CodeDeploy refuses: the group runs a
/// deployment): the apply finds its own deployment by its description and
/// follows it to its end.
#[test]
fn codedeploy_start_whose_answer_is_lost_is_followed() {
    let mut bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaCanary10Percent10Minutes", json!({}));
    let proxy = FaultProxy::start(&bed.emulator, &["codedeploy:CreateDeployment=late:1"], 1, Duration::ZERO);
    bed.tf.set_env("AWS_ENDPOINT_URL", proxy.endpoint());
    // One retry, so that the lost answers cost no more than the canary's ten seconds.
    bed.tf.write_config(
        &deployment("2", "").replace("provider \"progressive\" {}", "provider \"progressive\" {\n  max_retries = 1\n}"),
    );
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    let calls = proxy.stats().requests["codedeploy"]["CreateDeployment"];
    assert_eq!(calls, 2, "the SDK retried the lost start once");
    let started = bed.aws.deployments(APPLICATION, GROUP);
    assert_eq!(started.len(), 1, "one deployment: {started:?}");
    let v = values(&bed);
    assert_eq!(v["deployment_id"], started[0].as_str());
    assert_eq!(v["status"], "succeeded");
    assert_eq!(bed.aws.deployment(&started[0])["status"], "Succeeded");
    assert!(serves(&bed, "2"), "{:?}", bed.alias());
}

/// An update killed, then CodeDeploy's own alarm stops the deployment and
/// rolls it back: the next apply reports that ending instead of deploying
/// again; the one after deploys anew.
#[test]
fn codedeploy_killed_apply_whose_deployment_was_rolled_back_reports_it() {
    let group = json!({
        "alarmConfiguration": { "enabled": true, "alarms": [{ "name": "checkout-5xx" }] },
        "autoRollbackConfiguration": { "enabled": true, "events": ["DEPLOYMENT_STOP_ON_ALARM"] },
    });
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaCanary10Percent10Minutes", group);
    bed.aws.put_metric_alarm("checkout-5xx");
    // Version 2 deployed and imported: the killed apply is an update.
    let first = bed.aws.must_codedeploy("CreateDeployment", &json!({ "applicationName": APPLICATION, "deploymentGroupName": GROUP, "deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce", "revision": lambda_appspec(FUNCTION, ALIAS, "1", "2") }));
    let first = first["deploymentId"].as_str().unwrap().to_owned();
    assert!(wait_until(Duration::from_secs(30), || bed.aws.deployment(&first)["status"] == "Succeeded"));
    bed.tf.write_config(&deployment("2", ""));
    bed.tf.run_ok(&["import", "-no-color", ADDRESS, &format!("{APPLICATION}:{GROUP}")]);

    bed.tf.write_config(&deployment("3", ""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_canary(&bed);
    running.signal_group(libc::SIGKILL);
    let _ = running.finish_within(Duration::from_secs(10));
    let ours = bed.aws.deployments(APPLICATION, GROUP).into_iter().filter(|id| *id != first).collect::<Vec<_>>();
    assert_eq!(ours.len(), 1);
    bed.aws.set_alarm_state("checkout-5xx", "ALARM", "5xx above threshold");
    assert!(wait_until(Duration::from_secs(30), || serves(&bed, "2")), "{:?}", bed.alias());
    bed.aws.set_alarm_state("checkout-5xx", "OK", "5xx back to normal");
    let rollback = bed.aws.deployment(&ours[0])["rollbackInfo"]["rollbackDeploymentId"].as_str().unwrap().to_owned();
    assert!(wait_until(Duration::from_secs(30), || bed.aws.deployment(&rollback)["status"] == "Succeeded"));
    let out = bed.tf.apply();
    out.assert_failed_with(&[&format!("deployment {} was stopped", ours[0]), "ALARM_ACTIVE", "rolled it back"]);
    assert_eq!(bed.aws.deployments(APPLICATION, GROUP).len(), 3, "the first, ours and its rollback, nothing more");
    let v = values(&bed);
    assert_eq!((v["status"].as_str(), v["deployment_id"].as_str()), (Some("failed"), Some(ours[0].as_str())));
    assert_eq!(v["rollback_deployment_id"], rollback.as_str());
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(bed.aws.deployments(APPLICATION, GROUP).len(), 4, "the next apply deploys anew");
    assert!(serves(&bed, "3"), "{:?}", bed.alias());
}

#[test]
fn codedeploy_refuses_a_deployment_it_did_not_start() {
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaCanary10Percent30Minutes", json!({}));
    let foreign = bed.aws.must_codedeploy("CreateDeployment", &json!({ "applicationName": APPLICATION, "deploymentGroupName": GROUP, "revision": lambda_appspec(FUNCTION, ALIAS, "1", "3") }));
    let foreign = foreign["deploymentId"].as_str().unwrap().to_owned();
    wait_for_canary(&bed);
    bed.tf.write_config(&deployment("2", ""));
    let out = bed.tf.apply();
    out.assert_failed_with(&["Another deployment is under way", &foreign, "No deployment was started"]);
    assert_eq!(bed.aws.deployments(APPLICATION, GROUP), std::slice::from_ref(&foreign), "nothing started");
    assert_eq!(bed.aws.deployment(&foreign)["status"], "InProgress", "the foreign deployment runs on");
}

#[test]
fn codedeploy_plan_refuses_bad_input_with_clear_errors() {
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaAllAtOnce", json!({}));
    let plan_fails = |config: &str, needles: &[&str]| {
        bed.tf.write_config(config);
        let out = bed.tf.run(&["plan", "-no-color"]);
        out.assert_failed_with(needles);
    };
    plan_fails(
        &deployment("2", "").replace(&format!("\"{APPLICATION}\""), "\"nope\""),
        &["Application not found", "\"nope\""],
    );
    plan_fails(&deployment("2", "").replace(&format!("\"{GROUP}\""), "\"nope\""), &["Deployment group not found"]);
    plan_fails(
        &deployment("2", "  deployment_config_name = \"custom-missing\""),
        &["Deployment config not found", "custom-missing"],
    );
    plan_fails(
        &deployment("2", "  deployment_config_name = \"CodeDeployDefault.ECSAllAtOnce\""),
        &["Deployment config for another platform"],
    );
    plan_fails(&deployment("9", ""), &["Version not found"]);
    plan_fails(&deployment("$LATEST", ""), &["Not a published version"]);
    plan_fails(
        &deployment("2", "").replace("target_version = \"2\"", "current_version = \"2\"\n    target_version = \"2\""),
        &["Nothing to deploy"],
    );
    plan_fails(&deployment("2", "  alarm_names = [\"no-such-alarm\"]"), &["Alarms not found", "no-such-alarm"]);
    let ecs = deployment("2", "").replace(
        &format!("lambda {{\n    function_name  = \"{FUNCTION}\"\n    alias          = \"{ALIAS}\"\n    target_version = \"2\"\n  }}"),
        "ecs {\n    task_definition_arn = \"arn:aws:ecs:us-east-1:123456789012:task-definition/web:2\"\n    container_name = \"web\"\n    container_port = 8080\n  }",
    );
    plan_fails(&ecs, &["Platform does not match"]);
    assert!(bed.aws.deployments(APPLICATION, GROUP).is_empty(), "nothing started");
}

#[test]
fn codedeploy_import_adopts_the_groups_last_revision() {
    let bed = CodeDeployBed::lambda("CodeDeployDefault.LambdaAllAtOnce", json!({}));
    let id = bed.aws.must_codedeploy("CreateDeployment", &json!({ "applicationName": APPLICATION, "deploymentGroupName": GROUP, "revision": lambda_appspec(FUNCTION, ALIAS, "1", "2") }));
    let id = id["deploymentId"].as_str().unwrap().to_owned();
    assert!(
        wait_until(Duration::from_secs(30), || bed.aws.deployment(&id)["status"] == "Succeeded"),
        "{}",
        bed.aws.deployment(&id)
    );
    // The settings an import cannot know are left at their defaults.
    bed.tf.write_config(&deployment("2", "").replace("  poll_interval = \"1s\"\n", ""));
    bed.tf.run_ok(&["import", "-no-color", ADDRESS, &format!("{APPLICATION}:{GROUP}")]);
    let v = values(&bed);
    assert_eq!(
        (v["lambda"]["target_version"].as_str(), v["lambda"]["current_version"].as_str()),
        (Some("2"), Some("1"))
    );
    assert_eq!(bed.tf.plan_exit_code(), 0, "the imported state matches the configuration");
}

// ECS blue/green: CodeDeploy shifts the production listener between the
// group's two target groups.

const ECS_ADDRESS: &str = "progressive_codedeploy_deployment.web";

fn ecs_deployment(bed: &CodeDeployBed, version: usize, extra: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    progressive = {{ source = "progressive-delivery/progressive" }}
  }}
}}
provider "progressive" {{}}
resource "progressive_codedeploy_deployment" "web" {{
  application_name      = "{ECS_APPLICATION}"
  deployment_group_name = "{ECS_GROUP}"
  ecs {{
    task_definition_arn = "{}"
    container_name      = "web"
    container_port      = 80
  }}
  poll_interval = "1s"
{extra}
}}
"#,
        bed.task_definitions[version - 1]
    )
}

/// The production listener's weights in percent, as (blue, green).
fn blue_green(bed: &CodeDeployBed) -> (u32, u32) {
    let alb = bed.alb.as_ref().expect("an ECS bed");
    let weights = bed.aws.listener_weights(&alb.listener_arn);
    let total: u32 = weights.values().sum::<u32>().max(1);
    let share = |arn: &str| weights.get(arn).copied().unwrap_or(0) * 100 / total;
    (share(&alb.blue_arn), share(&alb.green_arn))
}

fn ecs_values(bed: &CodeDeployBed) -> Value {
    bed.tf.resource(ECS_ADDRESS).map(|r| r["values"].clone()).unwrap_or(Value::Null)
}

#[test]
fn codedeploy_ecs_canary_shifts_the_listener_and_succeeds() {
    let bed = CodeDeployBed::ecs("CodeDeployDefault.ECSCanary10Percent5Minutes", json!({}));
    bed.tf.write_config(&ecs_deployment(&bed, 2, ""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(30), || blue_green(&bed) == (90, 10)),
        "no canary shift: {:?}",
        blue_green(&bed)
    );
    let out = running.finish_within(Duration::from_secs(60));
    assert!(out.success(), "{}", out.combined());
    assert_eq!(blue_green(&bed), (0, 100));
    let v = ecs_values(&bed);
    assert_eq!(v["status"], "succeeded");
    let history = events(&v);
    assert!(history.iter().any(|e| e.starts_with("shift") && e.contains("10%")), "{history:?}");
    assert!(history.iter().any(|e| e.starts_with("lifecycle") && e.contains("Install Succeeded")), "{history:?}");
    let tasks = bed.aws.must_ecs("DescribeServices", &json!({ "cluster": "web", "services": ["web"] }));
    assert_eq!(
        tasks["services"][0]["taskSets"][0]["taskDefinition"],
        bed.task_definitions[1].as_str(),
        "the replacement serves: {tasks}"
    );
    assert_eq!(bed.tf.plan_exit_code(), 0);
}

/// A replacement (`-replace`) deploys again once the last success is older
/// than the create timeout: only a killed create's deployment, started within
/// it, is taken up without deploying.
#[test]
fn codedeploy_ecs_replace_deploys_again() {
    let bed = CodeDeployBed::ecs("CodeDeployDefault.ECSAllAtOnce", json!({}));
    bed.tf.write_config(&ecs_deployment(&bed, 2, "  timeouts {\n    create = \"8s\"\n  }"));
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    let first = ecs_values(&bed)["deployment_id"].as_str().expect("a deployment id").to_owned();
    std::thread::sleep(Duration::from_secs(9));
    let out = bed.tf.run(&["apply", "-auto-approve", "-no-color", &format!("-replace={ECS_ADDRESS}")]);
    assert!(out.success(), "{}", out.combined());
    let deployments = bed.aws.deployments(ECS_APPLICATION, ECS_GROUP);
    assert_eq!(deployments.len(), 2, "deployed again: {deployments:?}\n{}", out.combined());
    let second = ecs_values(&bed)["deployment_id"].as_str().expect("a deployment id").to_owned();
    assert_ne!(second, first, "the state records the new deployment");
    assert_eq!(bed.aws.deployment(&second)["status"], "Succeeded");
}

#[test]
fn codedeploy_ecs_gate_failure_puts_the_listener_back() {
    let bed = CodeDeployBed::ecs("CodeDeployDefault.ECSCanary10Percent15Minutes", json!({}));
    bed.aws.put_metric_alarm("web-5xx");
    bed.tf.write_config(&ecs_deployment(&bed, 2, "  alarm_names = [\"web-5xx\"]"));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(30), || blue_green(&bed) == (90, 10)),
        "no canary shift: {:?}",
        blue_green(&bed)
    );
    bed.aws.set_alarm_state("web-5xx", "ALARM", "5xx above threshold");
    let out = running.finish_within(Duration::from_secs(60));
    out.assert_failed_with(&["stopped and rolled back", "alarm \"web-5xx\" is failing", "rolled it back"]);
    assert_eq!(blue_green(&bed), (100, 0), "all traffic back on the original");
    assert_eq!(ecs_values(&bed)["status"], "rolled_back");
    assert_eq!(bed.tf.plan_exit_code(), 2, "the next plan shows the deployment again");
}

/// An apply killed while the deployment finishes: the next apply records
/// the deployment's success, and starts no second one.
#[test]
fn codedeploy_ecs_killed_apply_whose_deployment_succeeded_is_not_redeployed() {
    let bed = CodeDeployBed::ecs("CodeDeployDefault.ECSCanary10Percent5Minutes", json!({}));
    bed.tf.write_config(&ecs_deployment(&bed, 2, ""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(wait_until(Duration::from_secs(30), || blue_green(&bed) == (90, 10)), "{:?}", blue_green(&bed));
    running.signal_group(libc::SIGKILL);
    let _ = running.finish_within(Duration::from_secs(10));
    let started = bed.aws.deployments(ECS_APPLICATION, ECS_GROUP);
    assert_eq!(started.len(), 1);
    assert!(
        wait_until(Duration::from_secs(30), || bed.aws.deployment(&started[0])["status"] == "Succeeded"),
        "{}",
        bed.aws.deployment(&started[0])
    );
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(bed.aws.deployments(ECS_APPLICATION, ECS_GROUP), started, "no second deployment");
    let v = ecs_values(&bed);
    assert_eq!((v["status"].as_str(), v["deployment_id"].as_str()), (Some("succeeded"), Some(started[0].as_str())));
    assert_eq!(blue_green(&bed), (0, 100));
    assert_eq!(bed.tf.plan_exit_code(), 0);
}

/// The replacement errs twenty times as often as the original; CodeDeploy's
/// own schedule (a 10% canary for two minutes, no alarms) would let it
/// through, and the analysis of the group's two target groups stops it.
#[test]
fn codedeploy_ecs_analysis_stops_a_bad_replacement() {
    let bed = CodeDeployBed::ecs("CodeDeployDefault.ECSAllAtOnce", json!({}));
    bed.aws.must_codedeploy("CreateDeploymentConfig", &json!({
        "deploymentConfigName": "canary-10-for-2h", "computePlatform": "ECS",
        "trafficRoutingConfig": { "type": "TimeBasedCanary", "timeBasedCanary": { "canaryPercentage": 10, "canaryInterval": 120 } },
    }));
    let alb = bed.alb.clone().expect("an ECS bed");
    let groups = [
        Behaviour { target_group_arn: &alb.blue_arn, error_rate: 0.01, latency_seconds: 0.05 },
        Behaviour { target_group_arn: &alb.green_arn, error_rate: 0.20, latency_seconds: 0.05 },
    ];
    let _traffic = Traffic::start_shaped(&bed.emulator, &alb.listener_arn, None, 100.0, &groups, &[]);
    let config = ecs_deployment(
        &bed,
        2,
        "  deployment_config_name = \"canary-10-for-2h\"\n  analysis {\n    period       = \"5s\"\n    min_requests = 100\n  }",
    );
    bed.tf.write_config(&config);
    let started = Instant::now();
    let out = bed.tf.apply();
    out.assert_failed_with(&[
        "stopped and rolled back",
        "canary analysis (5xx) is failing: the canary is worse than the baseline",
        "rolled it back",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(110),
        "caught in {:?}, before CodeDeploy's 2-minute canary ended",
        started.elapsed()
    );
    assert_eq!(blue_green(&bed), (100, 0));
    assert_eq!(ecs_values(&bed)["status"], "rolled_back");
}

/// An apply killed after CodeDeploy shifted 60% to the replacement: the
/// next apply judges the replacement (green, named by the deployment's task
/// sets) against the original, though the original now serves less, and
/// stops the bad replacement well before CodeDeploy's 2-minute canary ends.
#[test]
fn codedeploy_ecs_resumed_past_half_judges_the_replacement() {
    let bed = CodeDeployBed::ecs("CodeDeployDefault.ECSAllAtOnce", json!({}));
    bed.aws.must_codedeploy("CreateDeploymentConfig", &json!({
        "deploymentConfigName": "canary-60-for-2h", "computePlatform": "ECS",
        "trafficRoutingConfig": { "type": "TimeBasedCanary", "timeBasedCanary": { "canaryPercentage": 60, "canaryInterval": 120 } },
    }));
    let alb = bed.alb.clone().expect("an ECS bed");
    let groups = [
        Behaviour { target_group_arn: &alb.blue_arn, error_rate: 0.01, latency_seconds: 0.05 },
        Behaviour { target_group_arn: &alb.green_arn, error_rate: 0.20, latency_seconds: 0.05 },
    ];
    let _traffic = Traffic::start_shaped(&bed.emulator, &alb.listener_arn, None, 100.0, &groups, &[]);
    let config = ecs_deployment(&bed, 2, "  deployment_config_name = \"canary-60-for-2h\"");
    bed.tf.write_config(&config);
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(wait_until(Duration::from_secs(30), || blue_green(&bed) == (40, 60)), "{:?}", blue_green(&bed));
    running.signal_group(libc::SIGKILL);
    let _ = running.finish_within(Duration::from_secs(10));
    bed.tf.write_config(&format!(
        "{}\n",
        config.replace(
            "  poll_interval = \"1s\"",
            "  poll_interval = \"1s\"\n  analysis {\n    period       = \"1s\"\n    min_requests = 100\n  }"
        )
    ));
    let started = Instant::now();
    let out = bed.tf.apply();
    out.assert_failed_with(&["stopped and rolled back", "canary analysis (5xx) is failing", "rolled it back"]);
    assert!(started.elapsed() < Duration::from_secs(60), "caught in {:?}", started.elapsed());
    assert_eq!(blue_green(&bed), (100, 0));
    assert_eq!(bed.aws.deployments(ECS_APPLICATION, ECS_GROUP).len(), 2, "ours and its rollback");
}

/// An AppSpec of the user's own, in YAML, with a hook: deployed as given;
/// the hook's function reports a failure, CodeDeploy fails the deployment,
/// and the apply says so with CodeDeploy's error code.
#[test]
fn codedeploy_appspec_hook_failure_fails_the_apply() {
    let bed = CodeDeployBed::lambda(
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        json!({ "autoRollbackConfiguration": { "enabled": true, "events": ["DEPLOYMENT_FAILURE"] } }),
    );
    let appspec = format!(
        "version: 0.0\nResources:\n  - checkout:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: {FUNCTION}\n        Alias: {ALIAS}\n        CurrentVersion: \"1\"\n        TargetVersion: \"2\"\nHooks:\n  - BeforeAllowTraffic: checkout-smoke-test\n"
    );
    let config = deployment("2", "").replace(
        &format!("lambda {{\n    function_name  = \"{FUNCTION}\"\n    alias          = \"{ALIAS}\"\n    target_version = \"2\"\n  }}"),
        &format!("appspec_content = <<-EOT\n{appspec}  EOT"),
    );
    bed.tf.write_config(&config);
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    let mut hooks = Vec::new();
    assert!(wait_until(Duration::from_secs(30), || {
        hooks = bed.aws.waiting_hooks();
        !hooks.is_empty()
    }));
    let (deployment_id, execution, event) = hooks.remove(0);
    assert_eq!(event, "BeforeAllowTraffic");
    let description = bed.aws.deployment(&deployment_id)["description"].as_str().unwrap_or_default().to_owned();
    assert!(description.starts_with("progressive_codedeploy_deployment revision "), "{description}");
    bed.aws.must_codedeploy(
        "PutLifecycleEventHookExecutionStatus",
        &json!({ "deploymentId": deployment_id, "lifecycleEventHookExecutionId": execution, "status": "Failed" }),
    );
    let out = running.finish_within(Duration::from_secs(60));
    out.assert_failed_with(&["failed", "HOOK_EXECUTION_FAILURE"]);
    assert!(serves(&bed, "1"), "{:?}", bed.alias());
    assert_eq!(values(&bed)["status"], "failed");

    // An AppSpec that cannot deploy is refused at plan time.
    bed.tf.write_config(&config.replace("TargetVersion: \"2\"", "TargetVersion: \"1\""));
    bed.tf.run(&["plan", "-no-color"]).assert_failed_with(&["Invalid AppSpec", "nothing to deploy"]);
    bed.tf.write_config(&config.replace("BeforeAllowTraffic", "BeforeInstall"));
    bed.tf.run(&["plan", "-no-color"]).assert_failed_with(&["Invalid AppSpec", "not a hook of this platform"]);
}
