//! `progressive_rollout` under the real Terraform CLI, against the emulator.
//! Every claim about traffic is checked by reading the listener or rule back
//! with the independent client, not by trusting the provider's state.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acceptance_tests::rollouts::{self, ev, events, kill, wait_until};
use acceptance_tests::scenarios::{error_rate_gate, rollout_config};
use acceptance_tests::{AlbBed as Bed, AlbFixture, Terraform};
use serde_json::Value;

const ADDRESS: &str = "progressive_rollout.web";

/// An emulator with the ALB fixture (all traffic on blue) and one alarm, `web-5xx`.
fn bed() -> Bed {
    let b = Bed::start();
    b.aws.put_metric_alarm("web-5xx");
    b
}

/// A configuration with one rollout on `router`, moving to `target`.
fn rollout(router: &str, target: &str, body: &str) -> String {
    rollout_config(router, target, body)
}

fn on_listener(fx: &AlbFixture) -> String {
    format!("listener_arn = \"{}\"", fx.listener_arn)
}

const FAST: &str = "  alarm_names = [\"web-5xx\"]\n  poll_interval = \"1s\"";

/// Weights normalised to percent, like the provider's `traffic`.
fn percent(weights: BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    let total: u32 = weights.values().sum();
    weights.into_iter().filter(|(_, w)| *w > 0).map(|(arn, w)| (arn, w * 100 / total.max(1))).collect()
}

fn all_on(arn: &str) -> BTreeMap<String, u32> {
    [(arn.to_owned(), 100)].into()
}

/// A target group's name, as the provider's messages call it.
fn name_of(arn: &str) -> &str {
    arn.split(":targetgroup/").nth(1).and_then(|rest| rest.split('/').next()).unwrap()
}

/// The rollout's state values.
fn values(tf: &Terraform) -> Value {
    rollouts::values(tf, ADDRESS)
}

fn promote(b: &Bed, strategy: &str, expected: &[(&str, u32)]) {
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("{strategy}\n  final_bake = \"1s\"\n{FAST}"),
    ));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(
        percent(b.aws.listener_weights(&b.fx.listener_arn)),
        all_on(&b.fx.green_arn),
        "the listener itself serves green"
    );
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    assert_eq!(v["alb"]["target_group_arn"], b.fx.green_arn.as_str());
    assert_eq!(v["previous_target_group_arn"], b.fx.blue_arn.as_str());
    assert_eq!(v["traffic"], serde_json::json!({ &b.fx.green_arn: 100 }));
    assert_eq!(v["rollback_reason"], Value::Null);
    assert_eq!(events(&v), ev(expected));
    assert_eq!(b.tf.plan_exit_code(), 0, "a promoted rollout plans no change");
}

#[test]
fn rollout_basic_canary_promotes() {
    let b = bed();
    promote(
        &b,
        "  canary {\n    percent = 20\n    bake = \"2s\"\n  }",
        &[("shift", 20), ("baked", 20), ("shift", 100), ("baked", 100), ("promoted", 100)],
    );
    let v = values(&b.tf);
    assert_eq!(v["schedule"], serde_json::json!([{ "percent": 20, "bake": "2s" }, { "percent": 100, "bake": "1s" }]));
}

#[test]
fn rollout_linear_promotes() {
    let b = bed();
    promote(
        &b,
        "  linear {\n    step_percent = 40\n    interval = \"1s\"\n  }",
        &[
            ("shift", 40),
            ("baked", 40),
            ("shift", 80),
            ("baked", 80),
            ("shift", 100),
            ("baked", 100),
            ("promoted", 100),
        ],
    );
}

#[test]
fn rollout_custom_steps_promote() {
    let b = bed();
    promote(
        &b,
        "  step {\n    percent = 5\n    bake = \"1s\"\n  }\n  step {\n    percent = 50\n    bake = \"1s\"\n  }",
        &[("shift", 5), ("baked", 5), ("shift", 50), ("baked", 50), ("shift", 100), ("baked", 100), ("promoted", 100)],
    );
}

#[test]
fn rollout_all_at_once_promotes() {
    let b = bed();
    promote(&b, "", &[("shift", 100), ("baked", 100), ("promoted", 100)]);
}

#[test]
fn rollout_plan_shows_the_schedule() {
    let b = bed();
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("  canary {{\n    percent = 10\n    bake = \"5m\"\n  }}\n  final_bake = \"10m\"\n{FAST}"),
    ));
    let out = b.tf.run_ok(&["plan", "-no-color"]);
    let squashed = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        squashed
            .contains("+ schedule = [ + { + bake = \"5m\" + percent = 10 }, + { + bake = \"10m\" + percent = 100 }, ]"),
        "{}",
        out.stdout
    );
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.blue_arn), "plan moves nothing");
}

/// Starts an apply and waits until the listener shows `green_percent` on green.
fn start_and_wait_for(b: &Bed, green_percent: u32) -> acceptance_tests::Running {
    let mut running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    let reached = wait_until(Duration::from_secs(60), || {
        percent(b.aws.listener_weights(&b.fx.listener_arn)).get(&b.fx.green_arn) == Some(&green_percent)
    });
    assert!(reached, "the listener never reached {green_percent}% green:\n{}", running.stdout_so_far());
    let _ = running.wait_for_stdout("Creating...", Duration::from_secs(1));
    running
}

#[test]
fn rollout_rollback_when_an_alarm_trips_mid_bake() {
    let b = bed();
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("  canary {{\n    percent = 10\n    bake = \"60s\"\n  }}\n{FAST}"),
    ));
    let running = start_and_wait_for(&b, 10);
    b.aws.set_alarm_state("web-5xx", "ALARM", "5xx rate 7% above 1%");
    let tripped = Instant::now();
    assert!(wait_until(Duration::from_secs(10), || percent(b.aws.listener_weights(&b.fx.listener_arn))
        == all_on(&b.fx.blue_arn)));
    assert!(tripped.elapsed() < Duration::from_secs(5), "rolled back {:?} after the alarm", tripped.elapsed());
    let out = running.finish_within(Duration::from_secs(30));
    out.assert_failed_with(&[
        "Rollout rolled back: alarm \"web-5xx\" is failing: 5xx rate 7% above 1%",
        "At step 1 of 2, with 10% of traffic on",
        &format!("All traffic is back on target group {}", name_of(&b.fx.blue_arn)),
    ]);
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["alb"]["target_group_arn"], b.fx.blue_arn.as_str(), "the state records the origin");
    assert!(v["rollback_reason"].as_str().unwrap().contains("step 1 of 2 at 10%"));
    assert_eq!(events(&v), ev(&[("shift", 10), ("gate_failed", 10), ("rollback", 0)]));
    assert_eq!(b.tf.plan_exit_code(), 2, "the next plan shows the rollout again");
}

#[test]
fn rollout_rollback_during_the_final_bake() {
    let b = bed();
    b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.green_arn, &format!("  final_bake = \"60s\"\n{FAST}")));
    let running = start_and_wait_for(&b, 100);
    b.aws.set_alarm_state("web-5xx", "ALARM", "p99 above 800ms");
    let out = running.finish_within(Duration::from_secs(30));
    out.assert_failed_with(&["Rollout rolled back", "At step 1 of 1, with 100% of traffic on"]);
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.blue_arn));
    assert_eq!(values(&b.tf)["status"], "rolled_back");
}

#[test]
fn rollout_interrupt_restores_the_origin() {
    let b = bed();
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("  canary {{\n    percent = 10\n    bake = \"10m\"\n  }}\n{FAST}"),
    ));
    let running = start_and_wait_for(&b, 10);
    let interrupted = Instant::now();
    running.interrupt();
    let out = running.finish_within(Duration::from_secs(30));
    assert!(interrupted.elapsed() < Duration::from_secs(5), "stopped after {:?}", interrupted.elapsed());
    out.assert_failed_with(&["Rollout interrupted: Terraform was interrupted", "All traffic is back on"]);
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.blue_arn));
    let v = values(&b.tf);
    assert_eq!(v["status"], "interrupted");
    assert_eq!(v["alb"]["target_group_arn"], b.fx.blue_arn.as_str());
}

#[test]
fn rollout_timeout_rolls_back() {
    let b = bed();
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!(
            "  canary {{\n    percent = 10\n    bake = \"60s\"\n  }}\n{FAST}\n  timeouts {{\n    create = \"3s\"\n  }}"
        ),
    ));
    let started = Instant::now();
    let out = b.tf.apply();
    assert!(started.elapsed() < Duration::from_secs(30));
    out.assert_failed_with(&["Rollout rolled back: the rollout ran past its timeout"]);
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.blue_arn));
}

#[test]
fn rollout_drift_outside_terraform_shows_in_plan() {
    let b = bed();
    promote(&b, "", &[("shift", 100), ("baked", 100), ("promoted", 100)]);
    b.aws.set_listener_weights(&b.fx.listener_arn, &[(&b.fx.blue_arn, 1)]);
    let out = b.tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(out.code(), Some(2), "{}", out.combined());
    assert!(
        out.stdout.contains(&format!("~ target_group_arn = \"{}\" -> \"{}\"", b.fx.blue_arn, b.fx.green_arn)),
        "{}",
        out.stdout
    );
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.green_arn));
}

#[test]
fn rollout_resumes_from_a_split_after_the_apply_is_killed() {
    let b = bed();
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("  linear {{\n    step_percent = 25\n    interval = \"60s\"\n  }}\n{FAST}"),
    ));
    let running = start_and_wait_for(&b, 25);
    running.signal_group(9); // SIGKILL: Terraform and the provider die mid-bake
    let _ = running.finish_within(Duration::from_secs(10));
    let split = percent(b.aws.listener_weights(&b.fx.listener_arn));
    assert_eq!(
        split,
        [(b.fx.blue_arn.clone(), 75), (b.fx.green_arn.clone(), 25)].into(),
        "the kill left traffic split"
    );

    // The dead apply's lease still stands for a while: a new apply is refused, naming it.
    b.tf.apply().assert_failed_with(&[
        "Another rollout is running on this routing",
        "is held by apply",
        "No traffic was moved",
    ]);
    let lease = b.aws.listener_tags(&b.fx.listener_arn).remove("progressive:rollout-lease").expect("a lease tag");
    let expires = lease.split(' ').next().unwrap().to_owned();
    wait_until(Duration::from_secs(30), || utc_now_rfc3339() > expires);

    // Faster bakes for the rest; the plan shows the split and the apply resumes from it.
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("  linear {{\n    step_percent = 25\n    interval = \"1s\"\n  }}\n{FAST}"),
    ));
    assert_eq!(b.tf.plan_exit_code(), 2);
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.green_arn));
    let v = values(&b.tf);
    let resumed = events(&v);
    assert_eq!(
        resumed[..2],
        ev(&[("baked", 25), ("shift", 50)]),
        "the interrupted 25% bake runs again, then the rollout goes on; not from zero"
    );
}

fn utc_now_rfc3339() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn rollout_concurrent_second_apply_is_refused() {
    let b = bed();
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("  canary {{\n    percent = 10\n    bake = \"10m\"\n  }}\n{FAST}"),
    ));
    let running = start_and_wait_for(&b, 10);

    // Another workspace (its own state) on the same listener.
    let other = Terraform::new(&b.emulator);
    other.write_config(&rollout(&on_listener(&b.fx), &b.fx.third_arn, FAST));
    other.apply().assert_failed_with(&[
        "Another rollout is running on this routing",
        "is held by apply",
        "No traffic was moved",
    ]);
    let split = percent(b.aws.listener_weights(&b.fx.listener_arn));
    assert_eq!(split.get(&b.fx.green_arn), Some(&10), "the first rollout's step is untouched");
    assert_eq!(split.get(&b.fx.third_arn), None);

    running.interrupt();
    let _ = running.finish_within(Duration::from_secs(30));
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.blue_arn));
    assert!(
        !b.aws.listener_tags(&b.fx.listener_arn).contains_key("progressive:rollout-lease"),
        "the lease is released"
    );
}

#[test]
fn rollout_on_a_rule_leaves_the_listener_alone() {
    let b = bed();
    let router = format!("listener_arn = \"{}\"\n    rule_arn = \"{}\"", b.fx.listener_arn, b.fx.rule_arn);
    b.tf.write_config(&rollout(
        &router,
        &b.fx.green_arn,
        &format!("  canary {{\n    percent = 30\n    bake = \"1s\"\n  }}\n{FAST}"),
    ));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(percent(b.aws.rule_weights(&b.fx.rule_arn)), all_on(&b.fx.green_arn));
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.blue_arn));
    assert_eq!(values(&b.tf)["id"], b.fx.rule_arn.as_str());
}

#[test]
fn rollout_import_by_listener_and_by_rule() {
    let b = bed();
    b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.blue_arn, FAST));
    let out = b.tf.run(&["import", "-no-color", ADDRESS, &b.fx.listener_arn]);
    assert!(out.success(), "{}", out.combined());
    let v = values(&b.tf);
    assert_eq!(v["alb"]["target_group_arn"], b.fx.blue_arn.as_str());
    assert_eq!(v["traffic"], serde_json::json!({ &b.fx.blue_arn: 100 }));
    assert_eq!(v["status"], "promoted");
    // Only the alarms and poll interval of the configuration differ from the import: no traffic moves.
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.blue_arn));

    let rule_tf = Terraform::new(&b.emulator);
    let router = format!("listener_arn = \"{}\"\n    rule_arn = \"{}\"", b.fx.listener_arn, b.fx.rule_arn);
    rule_tf.write_config(&rollout(&router, &b.fx.blue_arn, ""));
    let out = rule_tf.run(&["import", "-no-color", ADDRESS, &b.fx.rule_arn]);
    assert!(out.success(), "{}", out.combined());
    assert_eq!(rule_tf.plan_exit_code(), 0, "an import matching the configuration plans nothing");
}

#[test]
fn rollout_strategy_change_moves_no_traffic() {
    let b = bed();
    promote(&b, "", &[("shift", 100), ("baked", 100), ("promoted", 100)]);
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("  linear {{\n    step_percent = 10\n    interval = \"10m\"\n  }}\n{FAST}"),
    ));
    let started = Instant::now();
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert!(started.elapsed() < Duration::from_secs(30), "no bake ran");
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.green_arn));
    assert_eq!(values(&b.tf)["status"], "promoted");
}

#[test]
fn rollout_checks_everything_before_moving_traffic() {
    let b = bed();
    let redirect = format!("listener_arn = \"{}\"", b.fx.redirect_listener_arn);
    b.tf.write_config(&rollout(&redirect, &b.fx.green_arn, FAST));
    b.tf.apply().assert_failed_with(&["does not forward traffic", "redirect", "No traffic was moved"]);

    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        "  alarm_names = [\"web-5xx\", \"no-such-alarm\"]",
    ));
    b.tf.apply().assert_failed_with(&["Alarms not found", "no-such-alarm", "No traffic was moved"]);

    b.aws.delete_target_group(&b.fx.third_arn);
    b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.third_arn, FAST));
    b.tf.apply().assert_failed_with(&["Target group not found", "No traffic was moved"]);

    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.blue_arn));
    assert!(b.tf.resource(ADDRESS).is_none(), "nothing recorded");
}

#[test]
fn rollout_disappears_when_the_listener_is_deleted() {
    let b = bed();
    let router = format!("listener_arn = \"{}\"\n    rule_arn = \"{}\"", b.fx.listener_arn, b.fx.rule_arn);
    b.tf.write_config(&rollout(&router, &b.fx.green_arn, FAST));
    assert!(b.tf.apply().success());
    b.aws.delete_rule(&b.fx.rule_arn);
    let out = b.tf.run(&["plan", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code(), Some(2), "{}", out.combined());
    assert!(out.stdout.contains("will be created"), "{}", out.stdout);
}

#[test]
fn rollout_destroy_leaves_traffic_as_it_is() {
    let b = bed();
    promote(&b, "", &[("shift", 100), ("baked", 100), ("promoted", 100)]);
    b.tf.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(b.tf.resource(ADDRESS).is_none());
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.green_arn));
}

#[test]
fn rollout_validation_errors_point_at_the_attribute() {
    let b = bed();
    let cases = [
        ("  canary {\n    percent = 150\n    bake = \"1m\"\n  }", "Invalid percent", "percent = 150"),
        (
            "  canary {\n    percent = 10\n    bake = \"1m\"\n  }\n  linear {\n    step_percent = 10\n    interval = \"1m\"\n  }",
            "Only one strategy",
            "not canary and linear",
        ),
        (
            "  step {\n    percent = 50\n    bake = \"1m\"\n  }\n  step {\n    percent = 20\n    bake = \"1m\"\n  }",
            "Steps must increase",
            "percent = 20",
        ),
        ("  linear {\n    step_percent = 0\n    interval = \"1m\"\n  }", "Invalid step_percent", "step_percent = 0"),
        ("  poll_interval = \"200ms\"", "Poll interval too short", "poll_interval = \"200ms\""),
        ("  final_bake = \"an hour\"", "Invalid final_bake", "final_bake = \"an hour\""),
        ("  timeouts {\n    update = \"never\"\n  }", "Invalid update", "update = \"never\""),
    ];
    for (body, summary, line) in cases {
        b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.green_arn, body));
        b.tf.run(&["plan", "-no-color"]).assert_failed_with(&[summary, line]);
    }
    b.tf.write_config(&rollout(&format!("listener_arn = \"{}\"", b.fx.green_arn), &b.fx.listener_arn, ""));
    b.tf.run(&["plan", "-no-color"]).assert_failed_with(&["Not a listener ARN", "Not a target group ARN"]);
}

#[test]
fn rollout_rollback_when_a_metric_gate_breaches() {
    let b = bed();
    b.aws.put_metric_data("Acceptance", "ErrorRate", 7.5);
    let metric = error_rate_gate("ErrorRate");
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("  canary {{\n    percent = 10\n    bake = \"30s\"\n  }}\n{FAST}\n{metric}"),
    ));
    b.tf.apply().assert_failed_with(&[
        "Rollout rolled back: metric \"error-rate\" is failing: 7.5 breaches the condition < 5",
        "At step 1 of 2, with 10% of traffic on",
    ]);
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.blue_arn));
}

/// Kills the running apply (Terraform and the provider) and waits until the
/// lease it leaves on the listener has expired.
fn kill_and_wait_for_lease_expiry(b: &Bed, running: acceptance_tests::Running) {
    kill(running);
    let lease = b.aws.listener_tags(&b.fx.listener_arn).remove("progressive:rollout-lease").expect("a lease tag");
    let expires = lease.split(' ').next().unwrap().to_owned();
    assert!(wait_until(Duration::from_secs(30), || utc_now_rfc3339() > expires));
}

#[test]
fn rollout_revert_after_a_killed_apply_restores_the_recorded_target() {
    let b = bed();
    promote(&b, "", &[("shift", 100), ("baked", 100), ("promoted", 100)]);
    // Release blue; the apply is killed with 30% on blue.
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.blue_arn,
        &format!("  canary {{\n    percent = 30\n    bake = \"60s\"\n  }}\n{FAST}"),
    ));
    let mut running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(60), || percent(b.aws.listener_weights(&b.fx.listener_arn)).get(&b.fx.blue_arn)
            == Some(&30)),
        "{}",
        running.stdout_so_far()
    );
    let _ = running.wait_for_stdout("Modifying...", Duration::from_secs(1));
    kill_and_wait_for_lease_expiry(&b, running);
    // The release is bad: its alarm fires. The operator reverts to green.
    b.aws.set_alarm_state("web-5xx", "ALARM", "blue's canary broke checkout");
    b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.green_arn, FAST));
    assert_eq!(b.tf.plan_exit_code(), 2, "the split shows as work left");
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(
        percent(b.aws.listener_weights(&b.fx.listener_arn)),
        all_on(&b.fx.green_arn),
        "back on the recorded target, never all on blue"
    );
    let v = values(&b.tf);
    assert_eq!(events(&v), ev(&[("shift", 100)]));
    assert!(
        rollouts::history(&v)[0]["detail"].as_str().unwrap().contains("restored all traffic to the recorded target")
    );
}

#[test]
fn rollout_killed_during_the_final_bake_is_not_taken_as_done() {
    let b = bed();
    // Record blue (already serving) as the rollout's target first.
    b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.blue_arn, FAST));
    assert!(b.tf.apply().success());
    b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.green_arn, &format!("  final_bake = \"60s\"\n{FAST}")));
    let mut running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(60), || percent(b.aws.listener_weights(&b.fx.listener_arn))
            == all_on(&b.fx.green_arn)),
        "{}",
        running.stdout_so_far()
    );
    let _ = running.wait_for_stdout("Modifying...", Duration::from_secs(1));
    kill_and_wait_for_lease_expiry(&b, running);
    // Green serves everything, but its final bake never finished.
    assert_eq!(b.tf.plan_exit_code(), 2, "the unfinished rollout shows in the plan");
    b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.green_arn, &format!("  final_bake = \"2s\"\n{FAST}")));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    let v = values(&b.tf);
    assert_eq!(events(&v), ev(&[("baked", 100), ("promoted", 100)]), "the final bake ran, without shifting again");
    assert_eq!(v["previous_target_group_arn"], b.fx.blue_arn.as_str());
    assert!(!b.aws.listener_tags(&b.fx.listener_arn).contains_key("progressive:rollout-lease"));
    assert_eq!(b.tf.plan_exit_code(), 0, "done now");
}

#[test]
fn rollout_create_killed_during_the_final_bake_is_not_taken_as_done() {
    let b = bed();
    // A create: no state records blue as what served before green.
    b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.green_arn, &format!("  final_bake = \"60s\"\n{FAST}")));
    let mut running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(60), || percent(b.aws.listener_weights(&b.fx.listener_arn))
            == all_on(&b.fx.green_arn)),
        "{}",
        running.stdout_so_far()
    );
    let _ = running.wait_for_stdout("Creating...", Duration::from_secs(1));
    kill_and_wait_for_lease_expiry(&b, running);
    assert!(b.tf.resource(ADDRESS).is_none(), "a killed create records nothing");
    // The lease the killed apply left names blue, the origin to roll back to.
    b.tf.write_config(&rollout(&on_listener(&b.fx), &b.fx.green_arn, &format!("  final_bake = \"2s\"\n{FAST}")));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    let v = values(&b.tf);
    assert_eq!(events(&v), ev(&[("baked", 100), ("promoted", 100)]), "the final bake ran again, without shifting");
    assert_eq!(v["previous_target_group_arn"], b.fx.blue_arn.as_str(), "blue is known as what served before");
    assert!(!b.aws.listener_tags(&b.fx.listener_arn).contains_key("progressive:rollout-lease"));
}

#[test]
fn rollout_plans_with_a_provider_configuration_known_only_after_apply() {
    let b = bed();
    // The region comes from a resource of the same configuration: unknown
    // while planning its creation.
    let config = rollout(&on_listener(&b.fx), &b.fx.green_arn, FAST).replace(
        "provider \"progressive\" {}",
        "resource \"terraform_data\" \"region\" {\n  input = \"us-east-1\"\n}\n\nprovider \"progressive\" {\n  region = terraform_data.region.output\n}",
    );
    b.tf.write_config(&config);
    let out = b.tf.run_ok(&["plan", "-no-color"]);
    let squashed = out.combined().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squashed.contains("Checks deferred to apply"), "{}", out.combined());
    assert!(squashed.contains("Plan: 2 to add"), "{}", out.combined());
    let out = b.tf.apply();
    assert!(out.success(), "the apply configures the provider once the region is known: {}", out.combined());
    assert_eq!(percent(b.aws.listener_weights(&b.fx.listener_arn)), all_on(&b.fx.green_arn));
    assert_eq!(values(&b.tf)["status"], "promoted");
}

#[test]
fn rollout_that_lost_its_lease_moves_no_more_traffic() {
    let b = bed();
    b.tf.write_config(&rollout(
        &on_listener(&b.fx),
        &b.fx.green_arn,
        &format!("  canary {{\n    percent = 20\n    bake = \"4s\"\n  }}\n{FAST}"),
    ));
    let running = start_and_wait_for(&b, 20);
    // A rival apply's lease write lands late, over ours (as a throttled
    // AddTags retried after its backoff would).
    let expires = (time::OffsetDateTime::now_utc() + Duration::from_secs(60)).replace_nanosecond(0).unwrap();
    let rival = format!(
        "{} apply rival provider pid 1 on ci",
        expires.format(&time::format_description::well_known::Rfc3339).unwrap()
    );
    b.aws.add_tags(&b.fx.listener_arn, &[("progressive:rollout-lease", &rival)]);
    let out = running.finish_within(Duration::from_secs(60));
    out.assert_failed_with(&["another apply took it, so this one stopped moving traffic"]);
    assert_eq!(
        percent(b.aws.listener_weights(&b.fx.listener_arn)),
        [(b.fx.blue_arn.clone(), 80), (b.fx.green_arn.clone(), 20)].into(),
        "neither the next step nor a rollback moved anything"
    );
    let v = values(&b.tf);
    assert_eq!(
        v["traffic"],
        serde_json::json!({ &b.fx.blue_arn: 80, &b.fx.green_arn: 20 }),
        "the state says traffic is split"
    );
    assert_eq!(
        b.aws.listener_tags(&b.fx.listener_arn)["progressive:rollout-lease"],
        rival,
        "the rival's lease is left to it"
    );
}
