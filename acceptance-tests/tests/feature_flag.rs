//! `progressive_feature_flag` against real Terraform and the test bed's
//! AppConfig engine (one real second per AppConfig minute). What clients
//! receive is read back through the data plane with the bed's own client.

use std::time::{Duration, Instant};

use acceptance_tests::FaultProxy;
use acceptance_tests::appconfig::FlagBed;
use acceptance_tests::rollouts::{self, wait_until};
use serde_json::{Value, json};

const ADDRESS: &str = "progressive_feature_flag.checkout";

fn release(bed: &FlagBed, enabled: bool, strategy: &str, extra: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    progressive = {{ source = "progressive-delivery/progressive" }}
  }}
}}
provider "progressive" {{}}
resource "progressive_feature_flag" "checkout" {{
  application_id           = "{}"
  environment_id           = "{}"
  configuration_profile_id = "{}"
  flag                     = "checkout_v2"
  enabled                  = {enabled}
  deployment_strategy_id   = "{strategy}"
  poll_interval            = "1s"
{extra}
}}
"#,
        bed.application, bed.environment, bed.profile
    )
}

fn values(bed: &FlagBed) -> Value {
    bed.tf.resource(ADDRESS).map(|r| r["values"].clone()).unwrap_or(Value::Null)
}

/// Waits until AppConfig has given the new value to some clients.
fn wait_for_exposure(bed: &FlagBed) {
    let number = || bed.aws.latest_deployment_number(&bed.application, &bed.environment);
    assert!(
        wait_until(Duration::from_secs(30), || number().is_some_and(|n| bed.aws.appconfig_deployment(
            &bed.application,
            &bed.environment,
            n
        )["PercentageComplete"]
            .as_f64()
            .is_some_and(|p| p > 0.0 && p < 100.0))),
        "no partial exposure"
    );
}

#[test]
fn feature_flag_release_reaches_everyone_and_keeps_the_other_flags() {
    let bed = FlagBed::start();
    // Another writer changes another flag after the plan's document was read: it must survive.
    bed.tf.write_config(&release(&bed, true, &bed.fast, "  attributes = { limit = \"25\" }"));
    let plan = bed.tf.run(&["plan", "-no-color", "-detailed-exitcode"]);
    assert_eq!(plan.code(), Some(2), "{}", plan.combined());
    assert!(
        plan.stdout.contains("percent = 50") && plan.stdout.contains("bake    = \"1m\""),
        "the plan shows the strategy's schedule:\n{}",
        plan.stdout
    );
    let mut outside = bed.aws.latest_flags(&bed.application, &bed.profile);
    outside["values"]["dark_mode"]["enabled"] = json!(false);
    bed.aws.write_flags(&bed.application, &bed.profile, &outside);

    let started = Instant::now();
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the 2-minute deployment and 1-minute bake (3 s here) were followed"
    );
    let served = bed.served();
    assert_eq!(served["checkout_v2"], json!({ "enabled": true, "limit": 25.0 }), "{served}");
    assert_eq!(served["dark_mode"]["enabled"], false, "the other writer's change survives: {served}");
    let v = values(&bed);
    assert_eq!(v["status"], "released");
    assert_eq!(v["exposure"], 100);
    assert_eq!(v["version_number"], 3, "the bed wrote 1, the other writer 2");
    let history: Vec<String> =
        rollouts::history(&v).iter().map(|e| format!("{} {}", e["event"].as_str().unwrap(), e["percent"])).collect();
    assert!(history.iter().any(|e| e == "shift 50"), "{history:?}");
    assert_eq!(bed.tf.plan_exit_code(), 0, "a matching configuration plans nothing");
}

#[test]
fn feature_flag_gate_failure_rolls_back_to_the_previous_configuration() {
    let bed = FlagBed::start();
    bed.aws.put_metric_alarm("checkout-errors");
    bed.tf.write_config(&release(
        &bed,
        true,
        &bed.slow,
        "  alarm_names = [\"checkout-errors\"]\n  report_path = \"reports/checkout\"",
    ));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_exposure(&bed);
    bed.aws.set_alarm_state("checkout-errors", "ALARM", "errors above 2%");
    let out = running.finish_within(Duration::from_secs(60));
    out.assert_failed_with(&[
        "Release of flag \"checkout_v2\" stopped",
        "alarm \"checkout-errors\" is failing",
        "served the previous configuration again",
    ]);
    assert_eq!(bed.served()["checkout_v2"]["enabled"], false, "clients receive the previous value");
    let latest = bed.aws.latest_flags(&bed.application, &bed.profile);
    assert_eq!(
        latest["values"]["checkout_v2"]["enabled"], false,
        "the latest version says what is served, so the next writer does not release it: {latest}"
    );
    let v = values(&bed);
    assert_eq!(
        (v["status"].as_str(), v["enabled"].as_bool(), v["exposure"].as_i64()),
        (Some("rolled_back"), Some(false), Some(0))
    );

    // The report: the share AppConfig reached, failed by the alarm, then the rollback.
    let reports = bed.tf.workdir().join("reports");
    let md = std::fs::read_to_string(reports.join("checkout.md")).expect("the Markdown report");
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "### ❌ Release rolled back: flag checkout\\_v2 enabled", "{md}");
    let failed: Vec<&str> = lines.iter().copied().filter(|l| l.contains("| **fail**: ")).collect();
    assert_eq!(failed.len(), 1, "{md}");
    assert!(failed[0].ends_with("| **fail**: alarm \"checkout-errors\" is failing: errors above 2% |"), "{md}");
    let share = failed[0].split(" | ").nth(1).and_then(|s| s.trim_end_matches('%').parse::<f64>().ok());
    assert!(share.is_some_and(|p| p > 0.0 && p < 100.0), "the failed step's share: {md}");
    assert!(md.contains("\n**Rollback** at ") && md.contains("errors above 2%"), "{md}");
    assert!(
        lines.iter().any(|l| l.starts_with("- ") && l.contains("written with the flag's value from before")),
        "{md}"
    );
    for file in ["checkout.svg", "checkout.html"] {
        let text = std::fs::read_to_string(reports.join(file)).expect(file);
        assert_eq!(text.matches(r#"class="bake bake-fail""#).count(), 1, "{file}: {text}");
        assert!(text.contains(r#"<line class="rollback""#), "{file}: {text}");
    }
    assert_eq!(bed.tf.plan_exit_code(), 2, "the next plan shows the release again");
}

#[test]
fn feature_flag_environment_monitor_rollback_fails_the_apply() {
    let bed = FlagBed::start();
    bed.tf.write_config(&release(&bed, true, &bed.slow, ""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_exposure(&bed);
    bed.aws.set_alarm_state("shop-monitor", "ALARM", "checkout latency");
    let out = running.finish_within(Duration::from_secs(60));
    out.assert_failed_with(&["AppConfig rolled back deployment", "shop-monitor"]);
    assert_eq!(bed.served()["checkout_v2"]["enabled"], false);
    assert_eq!(values(&bed)["status"], "rolled_back");
}

#[test]
fn feature_flag_interrupt_rolls_back() {
    let bed = FlagBed::start();
    bed.tf.write_config(&release(&bed, true, &bed.slow, ""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_exposure(&bed);
    running.interrupt();
    let out = running.finish_within(Duration::from_secs(30));
    out.assert_failed_with(&["Terraform was interrupted"]);
    assert_eq!(bed.served()["checkout_v2"]["enabled"], false);
    assert_eq!(values(&bed)["status"], "interrupted");
}

#[test]
fn feature_flag_plan_refuses_bad_input() {
    let bed = FlagBed::start();
    let plan_fails = |config: &str, needles: &[&str]| {
        bed.tf.write_config(config);
        bed.tf.run(&["plan", "-no-color"]).assert_failed_with(needles);
    };
    plan_fails(
        &release(&bed, true, &bed.fast, "").replace("\"checkout_v2\"", "\"nope\""),
        &["Cannot set the flag", "defines no flag \"nope\"", "checkout_v2, dark_mode"],
    );
    plan_fails(
        &release(&bed, true, &bed.fast, "  attributes = { limit = \"1000\" }"),
        &["Cannot set the flag", "minimum and maximum"],
    );
    plan_fails(&release(&bed, true, &bed.fast, "  attributes = { size = \"1\" }"), &["declares no attribute \"size\""]);
    plan_fails(&release(&bed, true, "no-such-strategy", ""), &["Invalid deployment_strategy_id"]);
    plan_fails(&release(&bed, true, "zzz9999", ""), &["Deployment strategy not found"]);
    plan_fails(
        &release(&bed, true, &bed.fast, "").replace(&format!("\"{}\"", bed.profile), "\"prf0000\""),
        &["Configuration profile not found"],
    );
    plan_fails(&release(&bed, true, &bed.fast, "").replace("\"checkout_v2\"", "\"Checkout\""), &["Invalid flag key"]);
    let freeform = bed.aws.create_profile(&bed.application, "settings", "AWS.Freeform");
    plan_fails(
        &release(&bed, true, &bed.fast, "").replace(&format!("\"{}\"", bed.profile), &format!("\"{freeform}\"")),
        &["Not a feature flag profile", "AWS.Freeform"],
    );
    assert_eq!(
        bed.aws.latest_flags(&bed.application, &bed.profile)["values"]["checkout_v2"]["enabled"],
        false,
        "nothing written"
    );
}

#[test]
fn feature_flag_import_adopts_what_clients_receive() {
    let bed = FlagBed::start();
    bed.tf.write_config(&release(&bed, false, &bed.fast, "").replace("  poll_interval            = \"1s\"\n", ""));
    let id = format!("{}/{}/{}/checkout_v2", bed.application, bed.environment, bed.profile);
    bed.tf.run_ok(&["import", "-no-color", ADDRESS, &id]);
    let v = values(&bed);
    assert_eq!((v["enabled"].as_bool(), v["status"].as_str()), (Some(false), Some("released")));
    // The strategy differs from the last deployment's; that alone releases nothing.
    let plan = bed.tf.run(&["plan", "-no-color"]);
    assert!(
        plan.success() && !plan.stdout.contains("(known after apply)"),
        "no release planned after import:\n{}",
        plan.combined()
    );
}

const STEPS: &str = "  split_by = \"userId\"\n  step {\n    percent = 5\n    bake    = \"3s\"\n  }\n  step {\n    percent = 25\n    bake    = \"3s\"\n  }";

/// Which share of 400 users the flag is on for in `document`, evaluated
/// as AppConfig Agent would (the bed's evaluator).
fn share_on(bed: &FlagBed, document: &Value) -> f64 {
    let on = (0..400)
        .filter(|i| bed.aws.evaluate_flag(document, "checkout_v2", &json!({ "userId": format!("user-{i}") })))
        .count();
    on as f64 / 4.0
}

/// The rule of the flag's first variant in the latest document, if any.
fn rule(bed: &FlagBed) -> (Value, Option<String>) {
    let document = bed.aws.latest_flags(&bed.application, &bed.profile);
    let rule = document["values"]["checkout_v2"]["_variants"][0]["rule"].as_str().map(str::to_owned);
    (document, rule)
}

#[test]
fn feature_flag_exposure_steps_split_users_then_release_to_all() {
    let bed = FlagBed::start();
    bed.tf.write_config(&release(&bed, true, &bed.immediate, STEPS));
    let plan = bed.tf.run(&["plan", "-no-color"]);
    assert!(
        plan.success() && plan.stdout.contains("percent = 5") && plan.stdout.contains("percent = 25"),
        "{}",
        plan.combined()
    );
    let mut running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    let mut steps: Vec<(String, Value)> = Vec::new();
    let mut ended = None;
    wait_until(Duration::from_secs(40), || {
        let (document, rule) = rule(&bed);
        if let Some(rule) = rule.filter(|r| steps.last().is_none_or(|(seen, _)| seen != r)) {
            steps.push((rule, document));
        }
        ended = running.wait_timeout(Duration::ZERO);
        ended.is_some()
    });
    let out = ended.expect("the apply ended");
    assert!(out.success(), "{}", out.combined());
    let rules: Vec<&str> = steps.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(rules, ["(split pct::5 by::$userId)", "(split pct::25 by::$userId)"]);
    let shares: Vec<f64> = steps.iter().map(|(_, document)| share_on(&bed, document)).collect();
    assert!(
        (1.0..=10.0).contains(&shares[0]) && (18.0..=32.0).contains(&shares[1]),
        "about 5% then 25% of users: {shares:?}"
    );
    assert_eq!(bed.served()["checkout_v2"]["enabled"], true);
    assert_eq!(bed.served()["dark_mode"]["enabled"], true, "the other flag survives");
    let latest = bed.aws.latest_flags(&bed.application, &bed.profile);
    assert_eq!(share_on(&bed, &latest), 100.0);
    assert_eq!(
        values(&bed)["status"],
        "released",
        "{}",
        bed.tf.log().lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn feature_flag_exposure_step_failure_restores_the_previous_value() {
    let bed = FlagBed::start();
    bed.aws.put_metric_alarm("checkout-errors");
    bed.tf.write_config(&release(
        &bed,
        true,
        &bed.immediate,
        &format!("{}\n  alarm_names = [\"checkout-errors\"]", STEPS.replace("3s", "30s")),
    ));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(wait_until(Duration::from_secs(30), || rule(&bed).1.is_some()), "no exposure");
    bed.aws.set_alarm_state("checkout-errors", "ALARM", "errors above 2%");
    let out = running.finish_within(Duration::from_secs(60));
    out.assert_failed_with(&[
        "Release of flag \"checkout_v2\" stopped",
        "alarm \"checkout-errors\" is failing",
        "served the previous configuration again",
    ]);
    let latest = bed.aws.latest_flags(&bed.application, &bed.profile);
    assert_eq!(share_on(&bed, &latest), 0.0, "nobody has the feature");
    assert!(
        bed.aws.latest_flags(&bed.application, &bed.profile)["values"]["checkout_v2"].get("_variants").is_none(),
        "the split is gone"
    );
    let v = values(&bed);
    assert_eq!((v["status"].as_str(), v["enabled"].as_bool()), (Some("rolled_back"), Some(false)));
}

const ANALYSIS: &str = r#"  analysis {
    period       = "5s"
    min_requests = 50
    source {
      canary_requests {
        namespace   = "Shop"
        metric_name = "Requests"
        dimensions  = { Variant = "on" }
      }
      canary_errors {
        namespace   = "Shop"
        metric_name = "Errors"
        dimensions  = { Variant = "on" }
      }
      baseline_requests {
        namespace   = "Shop"
        metric_name = "Requests"
        dimensions  = { Variant = "off" }
      }
      baseline_errors {
        namespace   = "Shop"
        metric_name = "Errors"
        dimensions  = { Variant = "off" }
      }
    }
  }"#;

/// A broken feature (20% errors for the users who get it, against 1%) is
/// rolled back by the analysis at its first step, 10% of the users, before
/// its bake ends; nobody keeps it.
#[test]
fn feature_flag_analysis_rolls_back_a_broken_feature_at_its_first_step() {
    let bed = FlagBed::start();
    let _traffic = acceptance_tests::appconfig::FlagTraffic::start(&bed, 200.0, 0.01, 0.20);
    let steps = "  split_by = \"userId\"\n  step {\n    percent = 10\n    bake    = \"2m\"\n  }";
    bed.tf.write_config(&release(&bed, true, &bed.immediate, &format!("{steps}\n{ANALYSIS}")));
    let started = Instant::now();
    let out = bed.tf.apply();
    out.assert_failed_with(&[
        "Release of flag \"checkout_v2\" stopped",
        "canary analysis (Errors) is failing: the canary is worse than the baseline",
        "served the previous configuration again",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(110),
        "caught in {:?}, before the 2-minute bake ended",
        started.elapsed()
    );
    let latest = bed.aws.latest_flags(&bed.application, &bed.profile);
    assert_eq!(share_on(&bed, &latest), 0.0, "nobody keeps the feature");
    assert_eq!(values(&bed)["status"], "rolled_back");
}

/// A good feature (the same 5% errors with it as without) passes the
/// analysis at its step, half the users, and reaches everyone.
#[test]
fn feature_flag_analysis_lets_a_good_feature_reach_everyone() {
    let bed = FlagBed::start();
    let _traffic = acceptance_tests::appconfig::FlagTraffic::start(&bed, 200.0, 0.05, 0.05);
    let steps = "  split_by = \"userId\"\n  step {\n    percent = 50\n    bake    = \"10s\"\n  }";
    bed.tf.write_config(&release(&bed, true, &bed.immediate, &format!("{steps}\n{ANALYSIS}")));
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    let v = values(&bed);
    assert_eq!(v["status"], "released");
    let history = rollouts::history(&v);
    let history: Vec<&str> = history.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(history.contains(&"baked"), "{history:?}");
    assert_eq!(bed.served()["checkout_v2"]["enabled"], true);
}

/// An apply killed while AppConfig deploys is followed again by the next
/// one: no second version, no second deployment.
#[test]
fn feature_flag_killed_apply_is_followed_again_not_restarted() {
    let bed = FlagBed::start();
    bed.tf.write_config(&release(&bed, true, &bed.slow, ""));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_exposure(&bed);
    running.signal_group(libc::SIGKILL);
    let _ = running.finish_within(Duration::from_secs(10));
    let number = bed.aws.latest_deployment_number(&bed.application, &bed.environment);
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(bed.aws.latest_deployment_number(&bed.application, &bed.environment), number, "no second deployment");
    let v = values(&bed);
    assert_eq!((v["status"].as_str(), v["deployment_number"].as_i64()), (Some("released"), number));
    assert_eq!(bed.served()["checkout_v2"]["enabled"], true);
}

/// An apply killed mid-release, then a gate fails while the next apply
/// follows the deployment: what clients received before is the version the
/// last completed deployment gave them (not what is served mid-release), so
/// the rollback is confirmed and the value written back is the old one.
#[test]
fn feature_flag_killed_apply_then_a_failing_gate_rolls_back_to_the_old_value() {
    let bed = FlagBed::start();
    bed.aws.put_metric_alarm("checkout-errors");
    bed.tf.write_config(&release(&bed, true, &bed.slow, "  alarm_names = [\"checkout-errors\"]"));
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    wait_for_exposure(&bed);
    running.signal_group(libc::SIGKILL);
    let _ = running.finish_within(Duration::from_secs(10));
    let number = bed.aws.latest_deployment_number(&bed.application, &bed.environment);
    bed.aws.set_alarm_state("checkout-errors", "ALARM", "errors above 2%");
    let out = bed.tf.apply();
    out.assert_failed_with(&[
        "Release of flag \"checkout_v2\" stopped",
        "alarm \"checkout-errors\" is failing",
        "served the previous configuration again",
    ]);
    assert_eq!(bed.aws.latest_deployment_number(&bed.application, &bed.environment), number, "no second release");
    assert_eq!(bed.served()["checkout_v2"]["enabled"], false, "clients receive the previous value");
    let latest = bed.aws.latest_flags(&bed.application, &bed.profile);
    assert_eq!(latest["values"]["checkout_v2"]["enabled"], false, "the old value is written back: {latest}");
    let v = values(&bed);
    assert_eq!(
        (v["status"].as_str(), v["enabled"].as_bool(), v["deployment_number"].as_i64()),
        (Some("rolled_back"), Some(false), number)
    );
}

/// StartDeployment takes effect but its answer is lost, and so is the
/// answer to the SDK's retry (which AppConfig refuses: the environment runs
/// a deployment): the apply finds its own deployment by its description and
/// follows it, instead of writing the previous value back while it runs.
#[test]
fn feature_flag_start_whose_answer_is_lost_is_followed() {
    let mut bed = FlagBed::start();
    let proxy = FaultProxy::start(&bed.emulator, &["appconfig:StartDeployment=late:1"], 1, Duration::ZERO);
    bed.tf.set_env("AWS_ENDPOINT_URL", proxy.endpoint());
    // One retry, so that the lost answers cost no more than the strategy's ten seconds.
    let config = release(&bed, true, &bed.slow, "")
        .replace("provider \"progressive\" {}", "provider \"progressive\" {\n  max_retries = 1\n}");
    bed.tf.write_config(&config);
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(proxy.stats().requests["appconfig"]["StartDeployment"], 2, "the SDK retried the lost start once");
    let number = bed.aws.latest_deployment_number(&bed.application, &bed.environment);
    assert_eq!(number, Some(2), "one deployment after the bed's own");
    let v = values(&bed);
    assert_eq!((v["status"].as_str(), v["deployment_number"].as_i64()), (Some("released"), number));
    assert_eq!(bed.served()["checkout_v2"]["enabled"], true);
    assert_eq!(bed.aws.latest_flags(&bed.application, &bed.profile)["values"]["checkout_v2"]["enabled"], true);
}

/// Exposure steps deployed by an immediate strategy, every start's answer
/// lost: the deployment has completed by the time the provider looks, and
/// it is still recognised as the one asked for (its version and
/// description), so the release goes on.
#[test]
fn feature_flag_steps_whose_start_answers_are_lost_are_released() {
    let mut bed = FlagBed::start();
    let proxy = FaultProxy::start(&bed.emulator, &["appconfig:StartDeployment=late:1"], 1, Duration::ZERO);
    bed.tf.set_env("AWS_ENDPOINT_URL", proxy.endpoint());
    let config = release(&bed, true, &bed.immediate, STEPS)
        .replace("provider \"progressive\" {}", "provider \"progressive\" {\n  max_retries = 0\n}");
    bed.tf.write_config(&config);
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(proxy.stats().requests["appconfig"]["StartDeployment"], 3, "two steps and the release");
    assert_eq!(values(&bed)["status"], "released");
    assert_eq!(bed.served()["checkout_v2"]["enabled"], true);
}

/// Names known only after apply (here from a `terraform_data`, as from
/// `aws_appconfig_*` resources created by the same apply): the plan shows
/// the schedule as unknown, and the apply fills it in.
#[test]
fn feature_flag_with_names_known_only_after_apply() {
    let bed = FlagBed::start();
    let config = release(&bed, true, &bed.fast, "")
        .replace(&format!("\"{}\"", bed.application), "terraform_data.application.output")
        + &format!("resource \"terraform_data\" \"application\" {{\n  input = \"{}\"\n}}\n", bed.application);
    bed.tf.write_config(&config);
    let plan = bed.tf.run(&["plan", "-no-color"]);
    assert!(
        plan.success() && plan.stdout.contains("schedule                 = (known after apply)"),
        "{}",
        plan.combined()
    );
    let out = bed.tf.apply();
    assert!(out.success(), "{}", out.combined());
    let v = values(&bed);
    assert_eq!(v["status"], "released");
    assert_eq!(v["schedule"].as_array().map(Vec::len), Some(2), "{v}");
}
