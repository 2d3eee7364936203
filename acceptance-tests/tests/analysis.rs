//! The `analysis` judgement of `progressive_rollout` under real Terraform:
//! the traffic simulator publishes per-target-group ALB metrics to the
//! emulator, following the listener's weights, and no alarm is involved.

use std::time::{Duration, Instant};

use acceptance_tests::rollouts::{self, wait_until};
use acceptance_tests::scenarios::rollout_config;
use acceptance_tests::{AlbBed as Bed, Behaviour, Terraform, Traffic};
use serde_json::Value;

const ADDRESS: &str = "progressive_rollout.web";

fn bed() -> Bed {
    Bed::start()
}

/// 100 requests/s; blue errs on `blue_error_rate` of them, green on `green_error_rate`.
fn traffic(b: &Bed, blue_error_rate: f64, green_error_rate: f64) -> Traffic {
    shaped_traffic(b, blue_error_rate, green_error_rate, &[])
}

/// [`traffic`] with the simulator's shape flags.
fn shaped_traffic(b: &Bed, blue_error_rate: f64, green_error_rate: f64, shape: &[&str]) -> Traffic {
    start(b, (blue_error_rate, 0.05), (green_error_rate, 0.05), shape)
}

/// 100 requests/s, 1% errors on both, each group's response times around
/// its median (seconds).
fn latency_traffic(b: &Bed, blue_latency: f64, green_latency: f64) -> Traffic {
    start(b, (0.01, blue_latency), (0.01, green_latency), &[])
}

/// 100 requests/s; `(error rate, median latency)` of blue and of green.
fn start(b: &Bed, blue: (f64, f64), green: (f64, f64), shape: &[&str]) -> Traffic {
    let groups = [
        Behaviour { target_group_arn: &b.fx.blue_arn, error_rate: blue.0, latency_seconds: blue.1 },
        Behaviour { target_group_arn: &b.fx.green_arn, error_rate: green.0, latency_seconds: green.1 },
    ];
    Traffic::start_shaped(&b.emulator, &b.fx.listener_arn, None, 100.0, &groups, shape)
}

/// Long enough for the origin's history to hold the 10 periods of 5s the
/// dispersion check needs before it trusts errors counted one by one.
const HISTORY: Duration = Duration::from_secs(55);

/// A rollout of the fixture's listener to green, looking every second.
fn config(b: &Bed, body: &str) -> String {
    rollout_config(
        &format!("listener_arn = \"{}\"", b.fx.listener_arn),
        &b.fx.green_arn,
        &format!("  poll_interval = \"1s\"\n{body}"),
    )
}

const ANALYSIS: &str = "  analysis {\n    period = \"5s\"\n    min_requests = 100\n  }";

fn green_percent(b: &Bed) -> u32 {
    b.listener_percentages().get(&b.fx.green_arn).copied().unwrap_or(0)
}

fn values(tf: &Terraform) -> Value {
    tf.resource(ADDRESS).unwrap_or_else(|| panic!("{ADDRESS} not in state"))["values"].clone()
}

#[test]
fn analysis_rolls_back_a_bad_canary() {
    let b = bed();
    let _traffic = traffic(&b, 0.01, 0.20);
    b.tf.write_config(&config(
        &b,
        &format!("  canary {{\n    percent = 20\n    bake = \"2m\"\n  }}\n{ANALYSIS}\n  report_path = \"reports/web\""),
    ));
    let started = Instant::now();
    let out = b.tf.apply();
    out.assert_failed_with(&[
        "Rollout rolled back: canary analysis (5xx) is failing: the canary is worse than the baseline",
        "At step 1 of 2, with 20% of traffic on",
        "against a threshold of 100 (confidence 0.99, max_increase 0.25)",
    ]);
    // Without 10 periods of history before it, the judgement takes the
    // robust per-period form, which needs a few more periods.
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "caught in {:?}, before the 2m bake ended",
        started.elapsed()
    );
    assert_eq!(green_percent(&b), 0, "all traffic back on blue, read from the listener");
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert!(v["rollback_reason"].as_str().unwrap().contains("canary analysis (5xx)"));
    let history = rollouts::history(&v);
    let failed = history.iter().find(|e| e["event"] == "gate_failed").expect("a gate_failed event");
    assert!(failed["detail"].as_str().unwrap().contains("5xx in"), "{failed}");
    // The report's verdict carries the judgement's numbers.
    let md = std::fs::read_to_string(b.tf.workdir().join("reports/web.md")).expect("the report");
    let row = md.lines().find(|l| l.starts_with("| step 1 of 2 | 20% |")).unwrap_or_default();
    assert!(
        row.contains("| **fail**: canary analysis (5xx)") && row.contains("5xx in") && row.contains("requests ("),
        "{md}"
    );
    rollouts::keep_report_as_example(&b.tf.workdir().join("reports/web"), "analysis-rollback");
}

#[test]
fn analysis_promotes_a_good_canary() {
    let b = bed();
    // Equal error rates, frequent enough that a doubling is ruled out in
    // about half a minute: the step holds past its 5s bake until then.
    let _traffic = traffic(&b, 0.05, 0.05);
    b.tf.write_config(&config(
        &b,
        &format!("  canary {{\n    percent = 20\n    bake = \"5s\"\n  }}\n  final_bake = \"1s\"\n{ANALYSIS}"),
    ));
    let started = Instant::now();
    let out = b.tf.apply();
    assert!(
        started.elapsed() > Duration::from_secs(20),
        "held for evidence, not passed after the 5s bake: {:?}",
        started.elapsed()
    );
    assert!(out.success(), "{}", out.combined());
    assert_eq!(green_percent(&b), 100);
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    let history = rollouts::history(&v);
    let baked = &history[1];
    assert_eq!(baked["event"], "baked");
    let detail = baked["detail"].as_str().unwrap();
    assert!(
        detail.contains("; canary ") && detail.contains("requests"),
        "the verdict's numbers are in history: {detail}"
    );
    let high: f64 = detail
        .split("anytime-valid interval [")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .and_then(|r| r.split(", ").nth(1))
        .and_then(|h| h.parse().ok())
        .expect(detail);
    assert!(high < 2.0, "the interval's upper end rules out a doubling: {detail}");
    assert_eq!(v["analysis"]["confidence"], 0.99, "defaults are filled in");
    assert_eq!(v["on_missing_data"], "wait");
}

#[test]
fn analysis_missing_data_fail_rolls_back() {
    let b = bed();
    b.tf.write_config(&config(
        &b,
        &format!("  canary {{\n    percent = 10\n    bake = \"30s\"\n  }}\n  on_missing_data = \"fail\"\n{ANALYSIS}"),
    ));
    b.tf.apply()
        .assert_failed_with(&["Rollout rolled back", "no request data for the canary (on_missing_data = \"fail\")"]);
    assert_eq!(green_percent(&b), 0);
}

#[test]
fn analysis_missing_data_wait_holds_until_the_timeout() {
    let b = bed();
    b.tf.write_config(&config(
        &b,
        &format!("  canary {{\n    percent = 10\n    bake = \"1s\"\n  }}\n{ANALYSIS}\n  timeouts {{\n    create = \"30s\"\n  }}"),
    ));
    let started = Instant::now();
    b.tf.apply().assert_failed_with(&[
        "ran past its timeout without enough evidence to pass",
        "no request data for the canary yet",
    ]);
    assert!(started.elapsed() >= Duration::from_secs(30), "the 1s bake held until the 30s timeout");
    assert_eq!(green_percent(&b), 0);
}

#[test]
fn analysis_missing_data_ignore_passes() {
    let b = bed();
    b.tf.write_config(&config(
        &b,
        &format!("  canary {{\n    percent = 10\n    bake = \"2s\"\n  }}\n  on_missing_data = \"ignore\"\n{ANALYSIS}"),
    ));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(green_percent(&b), 100);
}

#[test]
fn analysis_settings_are_validated_at_plan_time() {
    let b = bed();
    let cases = [
        ("  analysis {\n    period = \"45s\"\n  }", "Invalid period", "period = \"45s\""),
        ("  analysis {\n    confidence = 1\n  }", "Invalid confidence", "confidence = 1"),
        ("  analysis {\n    metric = \"elb_5xx\"\n  }", "Invalid metric", "published per load balancer"),
        ("  on_missing_data = \"later\"", "Invalid on_missing_data", "on_missing_data = \"later\""),
        (
            "  analysis {\n    max_increase = 0.5\n    rule_out_increase = 0.5\n  }",
            "Invalid rule_out_increase",
            "must be greater than max_increase",
        ),
    ];
    for (body, summary, line) in cases {
        b.tf.write_config(&config(&b, body));
        b.tf.run(&["plan", "-no-color"]).assert_failed_with(&[summary, line]);
    }
}

#[test]
fn analysis_plan_warns_when_steps_will_hold_for_evidence() {
    let b = bed();
    let _traffic = traffic(&b, 0.01, 0.01);
    // Some history of the origin for the forecast to read.
    std::thread::sleep(Duration::from_secs(12));
    b.tf.write_config(&config(&b, &format!("  canary {{\n    percent = 10\n    bake = \"5s\"\n  }}\n{ANALYSIS}")));
    let out = b.tf.run_ok(&["plan", "-no-color"]);
    let squashed = out.combined().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squashed.contains("Steps will hold for evidence"), "{}", out.combined());
    assert!(
        squashed.contains("At 10% of about") && squashed.contains("% 5xx (the origin over "),
        "the origin's own traffic and error rate: {squashed}"
    );
    assert!(
        squashed.contains(
            "before the data rule out 2.00 times its error rate, so step 1 will hold that long instead of its 5s bake"
        ),
        "{squashed}"
    );
    assert_eq!(green_percent(&b), 0, "plan moves nothing");

    // A first step long enough to gather the evidence: no warning.
    b.tf.write_config(&config(&b, &format!("  canary {{\n    percent = 50\n    bake = \"30m\"\n  }}\n{ANALYSIS}")));
    let out = b.tf.run_ok(&["plan", "-no-color"]);
    assert!(!out.combined().contains("Steps will hold for evidence"), "{}", out.combined());
}

#[test]
fn analysis_promotes_a_bursty_but_equal_canary() {
    let b = bed();
    // A quarter of the errors come in bursts of 20, on both groups alike:
    // counted one by one, one burst on green would look like a regression.
    let _traffic = shaped_traffic(&b, 0.10, 0.10, &["--bursts", "0.25:20"]);
    std::thread::sleep(HISTORY);
    b.tf.write_config(&config(
        &b,
        &format!("  canary {{\n    percent = 50\n    bake = \"5s\"\n  }}\n  final_bake = \"1s\"\n{ANALYSIS}"),
    ));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(green_percent(&b), 100);
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    let detail = rollouts::history(&v)[1]["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("each period judged as a whole"), "the dispersion check chose the robust form: {detail}");
}

#[test]
fn analysis_rolls_back_a_regression_that_begins_late() {
    let b = bed();
    let equal = traffic(&b, 0.05, 0.05);
    std::thread::sleep(HISTORY);
    b.tf.write_config(&config(
        &b,
        &format!("  step {{\n    percent = 20\n    bake = \"5s\"\n  }}\n  step {{\n    percent = 50\n    bake = \"90s\"\n  }}\n{ANALYSIS}"),
    ));
    let running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    // Green is as good as blue until the second step; then it errs 4 times as often.
    assert!(wait_until(Duration::from_secs(120), || green_percent(&b) == 50), "step 2 never began");
    drop(equal);
    let _worse = traffic(&b, 0.05, 0.20);
    let regressed = Instant::now();
    let out = running.finish_within(Duration::from_secs(120));
    out.assert_failed_with(&[
        "Rollout rolled back: canary analysis (5xx) is failing: the canary is worse than the baseline",
        "At step 2 of 3, with 50% of traffic on",
    ]);
    assert!(
        regressed.elapsed() < Duration::from_secs(60),
        "caught {:?} after it began, before the 90s bake ended",
        regressed.elapsed()
    );
    assert_eq!(green_percent(&b), 0);
    let v = values(&b.tf);
    let history = rollouts::history(&v);
    let kinds: Vec<&str> = history.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["shift", "baked", "shift", "gate_failed", "rollback"],
        "step 1 passed on evidence, step 2 failed"
    );
}

#[test]
fn analysis_rolls_back_a_canary_with_slow_requests() {
    let b = bed();
    // Equal errors; green's median response time is 4 times blue's, so
    // about half its requests take longer than 150ms against 1% of blue's.
    let _traffic = latency_traffic(&b, 0.05, 0.2);
    b.tf.write_config(&config(&b, "  canary {\n    percent = 20\n    bake = \"2m\"\n  }\n  analysis {\n    period = \"5s\"\n    latency_threshold = \"150ms\"\n  }"));
    let started = Instant::now();
    let out = b.tf.apply();
    out.assert_failed_with(&[
        "Rollout rolled back: canary analysis (requests over 150ms) is failing: the canary is worse than the baseline",
        "(confidence 0.995, max_increase 0.25)",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "caught in {:?}, before the 2m bake ended",
        started.elapsed()
    );
    assert_eq!(green_percent(&b), 0);
}

#[test]
fn analysis_promotes_a_canary_as_fast_as_its_baseline_judging_both_metrics() {
    let b = bed();
    let _traffic = start(&b, (0.05, 0.1), (0.05, 0.1), &[]);
    b.tf.write_config(&config(&b, "  canary {\n    percent = 50\n    bake = \"5s\"\n  }\n  analysis {\n    period = \"5s\"\n    latency_threshold = \"150ms\"\n  }"));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    let detail = rollouts::history(&v)[1]["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("5xx in") && detail.contains("requests over 150ms in"),
        "both judgements' numbers are in history: {detail}"
    );
}

#[test]
fn analysis_promotes_an_equal_canary_whose_error_points_arrive_late() {
    let b = bed();
    // Half the seconds publish their error points 7s late, more than a 5s
    // period after the period ends: read too early they are zeros, which
    // would make one side look spotless. Periods are judged once two reads
    // a period apart agree, so the late points are counted.
    let _traffic = shaped_traffic(&b, 0.10, 0.10, &["--late-fraction", "0.5", "--late-delay", "7"]);
    b.tf.write_config(&config(
        &b,
        &format!("  canary {{\n    percent = 50\n    bake = \"5s\"\n  }}\n  final_bake = \"1s\"\n{ANALYSIS}"),
    ));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(green_percent(&b), 100);
    assert_eq!(values(&b.tf)["status"], "promoted");
}
