//! Tests of the test bed itself: the emulator, the independent AWS client and
//! the Terraform driver (with built-in resources only, so no provider needed).

use acceptance_tests::{Emulator, Terraform, embedded_terraform, find_resource, terraform_program};
use std::time::Duration;

#[test]
fn emulator_starts_and_reset_clears_state() {
    let emulator = Emulator::start();
    assert!(emulator.endpoint().starts_with("http://127.0.0.1:"));
    let aws = emulator.client();
    aws.put_metric_alarm("to-be-reset");
    assert!(aws.describe_alarm("to-be-reset").is_some());

    emulator.reset();
    assert_eq!(aws.describe_alarm("to-be-reset"), None);
}

#[test]
fn aws_client_alarm_round_trip() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    assert_eq!(aws.describe_alarm("latency-high"), None);

    aws.put_metric_alarm("latency-high");
    let alarm = aws.describe_alarm("latency-high").expect("the alarm exists");
    assert_eq!(alarm.name, "latency-high");
    assert!(alarm.arn.ends_with(":alarm:latency-high"), "{alarm:?}");

    aws.set_alarm_state("latency-high", "ALARM", "forced by the test");
    let alarm = aws.describe_alarm("latency-high").expect("the alarm exists");
    assert_eq!((alarm.state.as_str(), alarm.reason.as_str()), ("ALARM", "forced by the test"));

    let err = aws
        .call("SetAlarmState", &[("AlarmName", "missing"), ("StateValue", "OK"), ("StateReason", "x")])
        .expect_err("no such alarm");
    assert_eq!((err.status, err.code.as_str()), (404, "ResourceNotFound"), "{err}");

    aws.delete_alarms(&["latency-high"]);
    assert_eq!(aws.describe_alarm("latency-high"), None);
}

#[test]
fn terraform_version_runs() {
    let tf = Terraform::without_provider();
    let out = tf.run_ok(&["version"]);
    assert!(out.stdout.starts_with("Terraform v"), "{}", out.combined());

    // The embedded CLI works too, whichever one the bed picked.
    let mut embedded = Terraform::without_provider();
    embedded.use_program(embedded_terraform());
    let out = embedded.run_ok(&["version", "-json"]);
    let version: serde_json::Value = serde_json::from_str(&out.stdout).expect("version -json");
    assert_eq!(version["terraform_version"], "1.15.5");
    eprintln!("terraform used by the bed: {}", terraform_program().display());
}

const BUILTIN_ONLY: &str = r#"
resource "terraform_data" "example" {
  input = "hello"
}

output "echo" {
  value = terraform_data.example.output
}
"#;

#[test]
fn terraform_apply_state_and_destroy_with_builtin_resource() {
    let tf = Terraform::without_provider();
    tf.write_config(BUILTIN_ONLY);
    tf.run_ok(&["init", "-no-color"]);

    let plan = tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(plan.code(), Some(2), "changes expected\n{}", plan.combined());

    let apply = tf.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert!(apply.stdout.contains("Apply complete! Resources: 1 added"), "{}", apply.combined());

    let state = tf.state_json();
    let resource = find_resource(&state, "terraform_data.example").expect("resource in state");
    assert_eq!(resource["values"]["output"], "hello");
    assert_eq!(state["values"]["outputs"]["echo"]["value"], "hello");
    assert!(tf.log().contains("[INFO]"), "TF_LOG is written to {}", tf.log_path().display());

    let destroy = tf.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.stdout.contains("Destroy complete! Resources: 1 destroyed"), "{}", destroy.combined());
    assert!(tf.resource("terraform_data.example").is_none());
}

/// Ctrl-C during apply, with both the CLI the bed picked and the embedded
/// one: Terraform must get the signal itself and stop gracefully.
#[test]
fn sigint_during_apply_stops_terraform_gracefully() {
    let mut programs = vec![terraform_program().to_path_buf()];
    if programs[0] != embedded_terraform() {
        programs.push(embedded_terraform());
    }
    for program in programs {
        let mut tf = Terraform::without_provider();
        tf.use_program(&program);
        tf.write_config(
            r#"
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 30"
  }
}
"#,
        );
        let mut apply = tf.spawn(&["apply", "-auto-approve", "-no-color"]);
        assert!(
            apply.wait_for_stdout("Provisioning with 'local-exec'", Duration::from_secs(60)),
            "{}: apply did not reach the provisioner:\n{}",
            program.display(),
            apply.stdout_so_far()
        );
        std::thread::sleep(Duration::from_millis(500));
        apply.interrupt();
        let out = apply.wait_timeout(Duration::from_secs(20)).expect("terraform stops within 20 s of SIGINT");

        assert!(out.stdout.contains("Interrupt received"), "{}: {}", program.display(), out.combined());
        assert!(out.stdout.contains("Gracefully shutting down"), "{}: {}", program.display(), out.combined());
        assert_eq!(
            out.code(),
            Some(1),
            "{}: exits with status 1, not by a signal\n{}",
            program.display(),
            out.combined()
        );
        // The interrupted resource is recorded, as tainted.
        let state = tf.state_json();
        let slow = find_resource(&state, "terraform_data.slow").expect("resource in state");
        assert_eq!(slow["tainted"], true, "{}: {slow}", program.display());
    }
}
