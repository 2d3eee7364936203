//! `progressive_canary_gate` under the real Terraform CLI, against the emulator.
//! Alarm states are set and read back with the independent Query client.

use std::time::{Duration, Instant};

use acceptance_tests::{Emulator, Terraform};
use serde_json::Value;

const ADDRESS: &str = "progressive_canary_gate.gate";

fn config(provider: &str, resource: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    progressive = {{ source = "progressive-delivery/progressive" }}
  }}
}}

provider "progressive" {{
{provider}
}}

{resource}
"#
    )
}

/// A gate on `alarms` with the given extra lines.
fn gate(alarms: &[&str], lines: &str) -> String {
    let names: Vec<String> = alarms.iter().map(|a| format!("{a:?}")).collect();
    config(
        "",
        &format!(
            "resource \"progressive_canary_gate\" \"gate\" {{\n  alarm_names = [{}]\n{lines}\n}}",
            names.join(", ")
        ),
    )
}

fn setup(alarms: &[&str]) -> (Emulator, Terraform) {
    let emulator = Emulator::start();
    let aws = emulator.client();
    for alarm in alarms {
        aws.put_metric_alarm(alarm);
    }
    let tf = Terraform::new(&emulator);
    (emulator, tf)
}

fn values(tf: &Terraform) -> Value {
    tf.resource(ADDRESS).unwrap_or_else(|| panic!("{ADDRESS} not in state"))["values"].clone()
}

#[test]
fn gate_basic() {
    let (emulator, tf) = setup(&["checkout-5xx", "checkout-p99"]);
    tf.write_config(&gate(
        &["checkout-5xx", "checkout-p99"],
        "  triggers = { image = \"v1\" }\n  duration = \"2s\"\n  poll_interval = \"1s\"",
    ));

    let started = Instant::now();
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert!(started.elapsed() >= Duration::from_secs(2), "the gate must watch for its whole duration");

    let v = values(&tf);
    assert_eq!(v["status"], "passed");
    assert_eq!(v["triggers"]["image"], "v1");
    assert!(!v["id"].as_str().unwrap().is_empty());
    assert!(time_is_rfc3339(&v["checked_at"]), "{v}");
    assert_eq!(tf.plan_exit_code(), 0, "a passed gate with unchanged inputs plans no change");
    // The gate only reads alarms.
    assert_eq!(emulator.client().describe_alarm("checkout-5xx").unwrap().state, "OK");
}

fn time_is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
}

#[test]
fn gate_plan_shows_defaults_and_unknown_verdict() {
    let (_emulator, tf) = setup(&["a"]);
    tf.write_config(&gate(&["a"], "  duration = \"1m\""));
    tf.run_ok(&["plan", "-out=tfplan", "-no-color"]);
    let plan: Value = serde_json::from_str(&tf.run_ok(&["show", "-json", "tfplan"]).stdout).unwrap();
    let change = &plan["resource_changes"][0]["change"];
    assert_eq!(change["actions"], serde_json::json!(["create"]));
    assert_eq!(change["after"]["poll_interval"], "10s");
    assert_eq!(change["after_unknown"]["status"], true);
    assert_eq!(change["after_unknown"]["checked_at"], true);
}

#[test]
fn gate_update_reruns_on_trigger_change() {
    let (_emulator, tf) = setup(&["a"]);
    tf.write_config(&gate(&["a"], "  triggers = { image = \"v1\" }\n  duration = \"1s\"\n  poll_interval = \"1s\""));
    assert!(tf.apply().success());
    let first = values(&tf);

    tf.write_config(&gate(&["a"], "  triggers = { image = \"v2\" }\n  duration = \"2s\"\n  poll_interval = \"1s\""));
    assert_eq!(tf.plan_exit_code(), 2);
    let started = Instant::now();
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert!(out.stdout.contains("1 changed"), "an in-place update, not a replacement:\n{}", out.stdout);
    assert!(started.elapsed() >= Duration::from_secs(2), "the update ran the gate again");
    let second = values(&tf);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["triggers"]["image"], "v2");
    assert_eq!(second["status"], "passed");
}

#[test]
fn gate_rollback_alarm_fails_the_update_and_keeps_previous_triggers() {
    let (emulator, tf) = setup(&["checkout-5xx", "checkout-p99"]);
    tf.write_config(&gate(
        &["checkout-5xx", "checkout-p99"],
        "  triggers = { image = \"v1\" }\n  duration = \"1s\"\n  poll_interval = \"1s\"",
    ));
    assert!(tf.apply().success());

    emulator.client().set_alarm_state("checkout-p99", "ALARM", "p99 latency 1.2s above 0.8s");
    tf.write_config(&gate(
        &["checkout-5xx", "checkout-p99"],
        "  triggers = { image = \"v2\" }\n  duration = \"30s\"\n  poll_interval = \"1s\"",
    ));
    let started = Instant::now();
    let out = tf.apply();
    out.assert_failed_with(&[
        "Canary gate failed: alarm \"checkout-p99\" is in ALARM",
        "p99 latency 1.2s above 0.8s",
        "has been in ALARM since 20",
    ]);
    assert!(started.elapsed() < Duration::from_secs(20), "a failing alarm ends the bake at once");

    let v = values(&tf);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["triggers"]["image"], "v1", "the previous triggers stay, so the gate runs again");
    assert_eq!(tf.plan_exit_code(), 2, "the next plan shows the gate again");
}

#[test]
fn gate_rollback_alarm_mid_bake_fails_the_create() {
    let (emulator, tf) = setup(&["payments-p99"]);
    tf.write_config(&gate(&["payments-p99"], "  duration = \"60s\"\n  poll_interval = \"1s\""));
    let mut running = tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(running.wait_for_stdout("Creating...", Duration::from_secs(60)), "{}", running.stdout_so_far());
    std::thread::sleep(Duration::from_secs(2));
    let tripped = Instant::now();
    emulator.client().set_alarm_state("payments-p99", "ALARM", "Threshold Crossed: 5xx 7% > 1%");
    let out = running.wait_timeout(Duration::from_secs(30)).expect("the apply ends soon after the alarm");
    assert!(tripped.elapsed() < Duration::from_secs(5), "noticed within a couple of polls");
    out.assert_failed_with(&["alarm \"payments-p99\" is in ALARM", "Threshold Crossed: 5xx 7% > 1%"]);

    let resource = tf.resource(ADDRESS).expect("a failed create is recorded");
    assert_eq!(resource["values"]["status"], "failed");
    assert_eq!(resource["values"]["triggers"], Value::Null);
    assert_eq!(resource["tainted"], true, "Terraform taints a failed create, so it is replaced");
}

#[test]
fn gate_insufficient_data_is_not_a_failure() {
    let (emulator, tf) = setup(&["quiet"]);
    emulator.client().set_alarm_state("quiet", "INSUFFICIENT_DATA", "no datapoints");
    tf.write_config(&gate(&["quiet"], "  duration = \"1s\"\n  poll_interval = \"1s\""));
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(values(&tf)["status"], "passed");
}

#[test]
fn gate_missing_alarms_fail_before_watching() {
    let (_emulator, tf) = setup(&["exists"]);
    tf.write_config(&gate(&["exists", "typo-5xx", "typo-p99"], "  duration = \"60s\"\n  poll_interval = \"1s\""));
    let started = Instant::now();
    let out = tf.apply();
    out.assert_failed_with(&["Alarms not found", "CloudWatch has no alarm named \"typo-5xx\", \"typo-p99\""]);
    assert!(started.elapsed() < Duration::from_secs(30), "no watching happened");
    assert!(tf.resource(ADDRESS).is_none(), "nothing is recorded when nothing was watched");
}

#[test]
fn gate_interrupt_stops_the_watch_and_state_survives() {
    let (_emulator, tf) = setup(&["a"]);
    tf.write_config(&gate(&["a"], "  triggers = { image = \"v1\" }\n  duration = \"1s\"\n  poll_interval = \"1s\""));
    assert!(tf.apply().success());

    tf.write_config(&gate(&["a"], "  triggers = { image = \"v2\" }\n  duration = \"10m\"\n  poll_interval = \"5s\""));
    let mut running = tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(running.wait_for_stdout("Modifying...", Duration::from_secs(60)), "{}", running.stdout_so_far());
    std::thread::sleep(Duration::from_secs(1));
    let interrupted = Instant::now();
    running.interrupt(); // SIGINT to Terraform's whole process group, as Ctrl-C does
    let out = running.wait_timeout(Duration::from_secs(30)).expect("the apply stops after Ctrl-C");
    assert!(interrupted.elapsed() < Duration::from_secs(5), "stopped in {:?}", interrupted.elapsed());
    out.assert_failed_with(&["Canary gate interrupted", "no verdict was reached"]);

    let log = tf.log();
    assert!(log.contains("ignoring SIGINT"), "the provider got SIGINT and lived on");
    assert!(log.contains("Terraform asked the provider to stop"), "StopProvider reached the provider");
    let v = values(&tf);
    assert_eq!(v["triggers"]["image"], "v1", "state keeps what was true");
    assert_eq!(v["status"], "passed");
    assert_eq!(tf.plan_exit_code(), 2, "the next plan runs the gate again");
}

#[test]
fn gate_import_is_refused_with_a_reason() {
    let (_emulator, tf) = setup(&["a"]);
    tf.write_config(&gate(&["a"], "  duration = \"1s\"\n  poll_interval = \"1s\""));
    let out = tf.run(&["import", "-no-color", ADDRESS, "anything"]);
    out.assert_failed_with(&["progressive_canary_gate cannot be imported", "no object in AWS"]);
    assert!(tf.resource(ADDRESS).is_none(), "nothing was imported");
}

#[test]
fn gate_destroy_changes_nothing_in_aws() {
    let (emulator, tf) = setup(&["a"]);
    tf.write_config(&gate(&["a"], "  duration = \"1s\"\n  poll_interval = \"1s\""));
    assert!(tf.apply().success());
    tf.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(tf.resource(ADDRESS).is_none());
    assert_eq!(emulator.client().describe_alarm("a").unwrap().state, "OK");
}

#[test]
fn gate_validation_errors_point_at_the_attribute() {
    let (_emulator, tf) = setup(&["a"]);
    let cases = [
        ("  duration = \"ten minutes\"", "Invalid duration", "duration = \"ten minutes\""),
        ("  duration = \"1m\"\n  poll_interval = \"500ms\"", "Poll interval too short", "poll_interval = \"500ms\""),
        (
            "  duration = \"5s\"\n  poll_interval = \"10s\"",
            "Poll interval longer than the gate",
            "poll_interval = \"10s\"",
        ),
        ("  duration = \"-5s\"", "Invalid duration", "duration = \"-5s\""),
    ];
    for (lines, summary, source_line) in cases {
        tf.write_config(&gate(&["a"], lines));
        let out = tf.run(&["plan", "-no-color"]);
        // Terraform quotes the source line of the attribute the diagnostic names.
        out.assert_failed_with(&[summary, source_line]);
    }
    tf.write_config(&config(
        "",
        "resource \"progressive_canary_gate\" \"gate\" {\n  alarm_names = []\n  duration = \"1m\"\n}",
    ));
    tf.run(&["plan", "-no-color"]).assert_failed_with(&["Nothing to watch", "alarm_names = []"]);
    tf.write_config(&gate(&["a", "a"], "  duration = \"1m\""));
    tf.run(&["plan", "-no-color"]).assert_failed_with(&["Duplicate name in alarm_names"]);
}

#[test]
fn gate_values_known_only_at_plan_time_are_validated_then() {
    let (_emulator, tf) = setup(&["a"]);
    // A variable is unknown during validate and known during plan.
    tf.write_config(&format!("variable \"bake\" {{\n  type = string\n}}\n{}", gate(&["a"], "  duration = var.bake")));
    let out = tf.run(&["plan", "-no-color", "-var", "bake=forever"]);
    out.assert_failed_with(&["Invalid duration", "\"forever\" is not a duration"]);
}

#[test]
fn provider_schema_is_served_to_terraform() {
    let (_emulator, tf) = setup(&[]);
    tf.write_config(&config("", ""));
    let out = tf.run_ok(&["providers", "schema", "-json"]);
    let schema: Value = serde_json::from_str(&out.stdout).unwrap();
    let provider = &schema["provider_schemas"]["registry.terraform.io/progressive-delivery/progressive"];
    let gate = &provider["resource_schemas"]["progressive_canary_gate"]["block"]["attributes"];
    assert_eq!(gate["alarm_names"]["type"], serde_json::json!(["list", "string"]));
    assert_eq!(gate["alarm_names"]["optional"], true, "alarms or metric blocks, or both");
    assert_eq!(gate["triggers"]["type"], serde_json::json!(["map", "string"]));
    assert_eq!(gate["status"]["computed"], true);
    assert_eq!(gate["poll_interval"]["optional"], true);
    assert_eq!(gate["poll_interval"]["computed"], true);
    let config_block = &provider["provider"]["block"];
    assert_eq!(config_block["attributes"]["region"]["optional"], true);
    assert_eq!(config_block["block_types"]["assume_role"]["block"]["attributes"]["external_id"]["sensitive"], true);
    assert!(config_block["block_types"]["endpoints"]["block"]["attributes"]["cloudwatch"].is_object());
}

#[test]
fn provider_endpoints_block_overrides_the_environment() {
    let (emulator, mut tf) = setup(&["a"]);
    // Nothing listens on the discard port: only the endpoints block can work.
    tf.set_env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    tf.write_config(&config(
        &format!("  max_retries = 0\n  endpoints {{\n    cloudwatch = \"{}\"\n  }}", emulator.endpoint()),
        "resource \"progressive_canary_gate\" \"gate\" {\n  alarm_names = [\"a\"]\n  duration = \"1s\"\n  poll_interval = \"1s\"\n}",
    ));
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());
}

#[test]
fn provider_configuration_errors_point_at_the_attribute() {
    let (_emulator, tf) = setup(&["a"]);
    // Terraform validates a provider block only when a resource uses it.
    let user = "resource \"progressive_canary_gate\" \"gate\" {\n  alarm_names = [\"a\"]\n  duration = \"1s\"\n  poll_interval = \"1s\"\n}";
    // 0.05 has no exact binary form: Terraform sends it as a string.
    tf.write_config(&config("  max_retries = 0.05", user));
    tf.run(&["plan", "-no-color"]).assert_failed_with(&["Invalid max_retries", "not 0.05", "max_retries = 0.05"]);
    tf.write_config(&config("  endpoints {\n    cloudwatch = \"localhost:4566\"\n  }", user));
    tf.run(&["plan", "-no-color"]).assert_failed_with(&["Invalid endpoint URL", "cloudwatch = \"localhost:4566\""]);
    tf.write_config(&config("  assume_role {\n    role_arn = \"deployer\"\n  }", user));
    tf.run(&["plan", "-no-color"]).assert_failed_with(&["Invalid role ARN", "role_arn = \"deployer\""]);
}

#[test]
fn credentials_never_reach_logs_plan_or_state() {
    let (_emulator, mut tf) = setup(&["a"]);
    // The emulator accepts any key pair; these are distinctive enough to find.
    let (key_id, secret) = ("AKIACANARYKEYID00042", "s3cr3t-Never-Log-This-Value-9f8e7d");
    tf.set_env("AWS_ACCESS_KEY_ID", key_id).set_env("AWS_SECRET_ACCESS_KEY", secret).set_env("TF_LOG", "TRACE");
    tf.write_config(&gate(&["a"], "  duration = \"1s\"\n  poll_interval = \"1s\""));
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());
    let state = std::fs::read_to_string(tf.workdir().join("terraform.tfstate")).unwrap();
    for (name, text) in [("output", out.combined()), ("TF_LOG trace", tf.log()), ("state", state)] {
        assert!(!text.contains(secret), "the secret key appears in the {name}");
        assert!(!text.contains(key_id), "the access key id appears in the {name}");
    }
    assert!(tf.log().contains("canary gate watching alarms"), "provider logs were captured");
}

/// A metric gate on a latency the test puts into the emulator. (moto computes
/// no percentiles, so the statistic here is Maximum; percentile queries are
/// covered by unit tests of the CloudWatch adapter.)
const LATENCY_GATE: &str = r#"  metric {
    name       = "latency"
    comparison = "<="
    threshold  = 0.8
    window     = "5m"
    query {
      namespace   = "Acceptance"
      metric_name = "Latency"
      stat        = "Maximum"
      period      = "60s"
    }
  }"#;

#[test]
fn gate_metric_threshold_fails_the_gate() {
    let (emulator, tf) = setup(&[]);
    // moto answers statistics from the data put; a single point is its own maximum.
    emulator.client().put_metric_data("Acceptance", "Latency", 1.4);
    tf.write_config(&config("", &format!("resource \"progressive_canary_gate\" \"gate\" {{\n  duration = \"3s\"\n  poll_interval = \"1s\"\n{LATENCY_GATE}\n}}")));
    tf.apply().assert_failed_with(&[
        "Canary gate failed: metric \"latency\" is failing",
        "1.4 breaches the condition <= 0.8",
    ]);
    assert_eq!(tf.resource(ADDRESS).unwrap()["values"]["status"], "failed");
}

#[test]
fn gate_metric_threshold_passes_and_missing_data_waits() {
    let (emulator, tf) = setup(&[]);
    let gate = |extra: &str| {
        config(
            "",
            &format!(
                "resource \"progressive_canary_gate\" \"gate\" {{\n  duration = \"2s\"\n  poll_interval = \"1s\"\n{extra}\n{LATENCY_GATE}\n}}"
            ),
        )
    };
    // No data at all: with on_missing_data = "wait" the gate reaches no verdict.
    tf.write_config(&gate(""));
    tf.apply().assert_failed_with(&["Canary gate reached no verdict", "no data for metric \"latency\""]);
    emulator.client().put_metric_data("Acceptance", "Latency", 0.3);
    let out = tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(tf.resource(ADDRESS).unwrap()["values"]["status"], "passed");
}
