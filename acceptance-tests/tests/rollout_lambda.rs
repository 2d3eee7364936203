//! `progressive_rollout` with a `lambda_alias` block under the real Terraform
//! CLI, against the emulator. Every claim about traffic is checked by reading
//! the alias back with the independent Lambda client (GetAlias), not by
//! trusting the provider's state.

use std::time::{Duration, Instant};

use acceptance_tests::rollouts::{self, ev, events, kill, wait_for_lapse, wait_until};
use acceptance_tests::scenarios::{error_rate_gate, router_rollout_config};
use acceptance_tests::{AwsClient, Emulator, LambdaTraffic, Running, Terraform, VersionBehaviour};
use serde_json::Value;

const ADDRESS: &str = "progressive_rollout.fn";
const FUNCTION: &str = "checkout";
const ALIAS: &str = "live";
const ALARM: &str = "checkout-errors";
const LEASE_TAG: &str = "progressive:rollout-lease:live";
const FAST: &str = "  alarm_names   = [\"checkout-errors\"]\n  poll_interval = \"1s\"";

/// An emulator with function `checkout` (versions 1, 2 and 3), alias `live`
/// on version 1 without routing, and the alarm `checkout-errors`.
struct Bed {
    emulator: Emulator,
    aws: AwsClient,
    function_arn: String,
    tf: Terraform,
}

impl Bed {
    fn start() -> Bed {
        let emulator = Emulator::start();
        let aws = emulator.client();
        let function_arn = aws.create_function(FUNCTION);
        for expected in ["1", "2", "3"] {
            assert_eq!(aws.publish_version(FUNCTION), expected);
        }
        aws.create_alias(FUNCTION, ALIAS, "1", None);
        aws.put_metric_alarm(ALARM);
        let tf = Terraform::new(&emulator);
        Bed { emulator, aws, function_arn, tf }
    }

    /// The alias as GetAlias has it: (FunctionVersion, additional version and weight).
    fn alias(&self) -> (String, Option<(String, f64)>) {
        self.aws.alias_routing(FUNCTION, ALIAS)
    }

    fn lease(&self) -> Option<String> {
        self.aws.function_tags(&self.function_arn).remove(LEASE_TAG)
    }

    /// Starts an apply and waits until the alias sends `weight` to `version`
    /// as its additional version, with version 1 still primary.
    fn start_and_wait_for(&self, version: &str, weight: f64) -> Running {
        let mut running = self.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
        let reached = wait_until(Duration::from_secs(60), || self.alias() == split("1", version, weight));
        assert!(
            reached,
            "the alias never sent {weight} to version {version} (it is {:?}):\n{}",
            self.alias(),
            running.stdout_so_far()
        );
        let _ = running.wait_for_stdout("Creating...", Duration::from_secs(1));
        running
    }
}

/// A configuration with one rollout of `function:alias` to `version`, with
/// `body` inside the resource.
fn config_for(function: &str, alias: &str, version: &str, body: &str) -> String {
    let block = format!(
        "    function_name = \"{function}\"\n    alias         = \"{alias}\"\n    version       = \"{version}\""
    );
    router_rollout_config("fn", "lambda_alias", &block, body)
}

fn config(version: &str, body: &str) -> String {
    config_for(FUNCTION, ALIAS, version, body)
}

fn on(version: &str) -> (String, Option<(String, f64)>) {
    (version.to_owned(), None)
}

fn split(primary: &str, extra: &str, weight: f64) -> (String, Option<(String, f64)>) {
    (primary.to_owned(), Some((extra.to_owned(), weight)))
}

/// The rollout's state values.
fn values(tf: &Terraform) -> Value {
    rollouts::values(tf, ADDRESS)
}

#[test]
fn rollout_lambda_basic_canary_promotes() {
    let b = Bed::start();
    b.tf.write_config(&config(
        "2",
        &format!("  canary {{\n    percent = 20\n    bake    = \"3s\"\n  }}\n  final_bake = \"1s\"\n{FAST}"),
    ));
    // Mid-canary, version 1 stays the alias's FunctionVersion and 2 is the additional one.
    let running = b.start_and_wait_for("2", 0.2);
    assert!(b.lease().is_some_and(|l| l.contains(' ')), "the lease is a tag on the function while the rollout runs");
    let out = running.finish_within(Duration::from_secs(60));
    assert!(out.success(), "{}", out.combined());

    assert_eq!(b.alias(), on("2"), "the alias serves version 2 alone, its routing configuration cleared");
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    assert_eq!(v["id"], "checkout:live");
    assert_eq!(v["lambda_alias"]["version"], "2");
    assert_eq!(v["previous_target"], "1");
    assert_eq!(v["traffic"], serde_json::json!({ "2": 100 }));
    assert_eq!(v["rollback_reason"], Value::Null);
    assert_eq!(
        events(&v),
        ev(&[("shift", 20.0), ("baked", 20.0), ("shift", 100.0), ("baked", 100.0), ("promoted", 100.0)])
    );
    assert_eq!(b.lease(), None, "the lease is released");
    assert_eq!(b.tf.plan_exit_code(), 0, "a promoted rollout plans no change");
}

#[test]
fn rollout_lambda_function_named_by_arn_promotes_all_at_once() {
    let b = Bed::start();
    b.tf.write_config(&config_for(&b.function_arn, ALIAS, "3", &format!("  final_bake = \"1s\"\n{FAST}")));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.alias(), on("3"));
    let v = values(&b.tf);
    assert_eq!(v["id"], format!("{}:{ALIAS}", b.function_arn), "the id is the alias ARN");
    assert_eq!(v["lambda_alias"]["function_name"], b.function_arn.as_str());
    assert_eq!(events(&v), ev(&[("shift", 100.0), ("baked", 100.0), ("promoted", 100.0)]));
    assert_eq!(b.tf.plan_exit_code(), 0);
}

#[test]
fn rollout_lambda_rollback_when_an_alarm_trips_mid_bake() {
    let b = Bed::start();
    b.tf.write_config(&config("2", &format!("  canary {{\n    percent = 10\n    bake    = \"60s\"\n  }}\n{FAST}")));
    let running = b.start_and_wait_for("2", 0.1);
    b.aws.set_alarm_state(ALARM, "ALARM", "errors above 2%");
    let tripped = Instant::now();
    assert!(wait_until(Duration::from_secs(10), || b.alias() == on("1")), "the alias is {:?}", b.alias());
    assert!(tripped.elapsed() < Duration::from_secs(5), "rolled back {:?} after the alarm", tripped.elapsed());
    let out = running.finish_within(Duration::from_secs(30));
    out.assert_failed_with(&[
        "Rollout rolled back: alarm \"checkout-errors\" is failing: errors above 2%",
        "At step 1 of 2, with 10% of traffic on",
        "All traffic is back on version 1",
    ]);
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["lambda_alias"]["version"], "1", "the state records the origin");
    assert_eq!(v["traffic"], serde_json::json!({ "1": 100 }));
    assert!(v["rollback_reason"].as_str().unwrap().contains("step 1 of 2 at 10%"), "{}", v["rollback_reason"]);
    assert_eq!(events(&v), ev(&[("shift", 10.0), ("gate_failed", 10.0), ("rollback", 0.0)]));
    assert_eq!(b.lease(), None, "the lease is released");
    assert_eq!(b.tf.plan_exit_code(), 2, "the next plan shows the rollout again");
}

/// Invocations through the alias at 200 per second; version 1 fails 1% of
/// them, version 2 `v2_error_rate`.
fn traffic(b: &Bed, v1_error_rate: f64, v2_error_rate: f64) -> LambdaTraffic {
    let versions = [
        VersionBehaviour { version: "1", error_rate: v1_error_rate, duration_ms: 50.0 },
        VersionBehaviour { version: "2", error_rate: v2_error_rate, duration_ms: 50.0 },
    ];
    LambdaTraffic::start(&b.emulator, FUNCTION, ALIAS, 200.0, &versions)
}

const ANALYSIS: &str = "  analysis {\n    period       = \"1s\"\n    min_requests = 100\n  }";

#[test]
fn rollout_lambda_analysis_rolls_back_a_bad_version() {
    let b = Bed::start();
    let _traffic = traffic(&b, 0.01, 0.30);
    b.tf.write_config(&config(
        "2",
        &format!("  canary {{\n    percent = 30\n    bake    = \"60s\"\n  }}\n  poll_interval = \"1s\"\n{ANALYSIS}"),
    ));
    let started = Instant::now();
    let out = b.tf.apply();
    out.assert_failed_with(&[
        "Rollout rolled back: canary analysis (errors) is failing",
        "At step 1 of 2, with 30% of traffic on",
        "All traffic is back on version 1",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "caught in {:?}, before the 60s bake ended",
        started.elapsed()
    );
    assert_eq!(b.alias(), on("1"), "all traffic back on version 1, read from the alias");
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["lambda_alias"]["version"], "1");
    assert!(v["rollback_reason"].as_str().unwrap().contains("canary analysis (errors)"), "{}", v["rollback_reason"]);
    let history = rollouts::history(&v);
    let failed = history.iter().find(|e| e["event"] == "gate_failed").expect("a gate_failed event");
    assert_eq!(failed["percent"].as_f64(), Some(30.0));
}

#[test]
fn rollout_lambda_analysis_promotes_a_good_version() {
    let b = Bed::start();
    let _traffic = traffic(&b, 0.05, 0.05);
    b.tf.write_config(&config("2", &format!("  canary {{\n    percent = 30\n    bake    = \"10s\"\n  }}\n  final_bake    = \"1s\"\n  poll_interval = \"1s\"\n{ANALYSIS}")));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.alias(), on("2"));
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    assert_eq!(v["analysis"]["metric"], "errors", "the Lambda default error metric is filled in");
    let history = rollouts::history(&v);
    let baked = &history[1];
    assert_eq!(baked["event"], "baked");
    assert!(
        baked["detail"].as_str().unwrap().contains("anytime-valid interval"),
        "the verdict's numbers are in history: {baked}"
    );
}

#[test]
fn rollout_lambda_interrupt_restores_the_origin() {
    let b = Bed::start();
    b.tf.write_config(&config("2", &format!("  canary {{\n    percent = 10\n    bake    = \"10m\"\n  }}\n{FAST}")));
    let running = b.start_and_wait_for("2", 0.1);
    let interrupted = Instant::now();
    running.interrupt();
    let out = running.finish_within(Duration::from_secs(30));
    assert!(interrupted.elapsed() < Duration::from_secs(5), "stopped after {:?}", interrupted.elapsed());
    out.assert_failed_with(&["Rollout interrupted: Terraform was interrupted", "All traffic is back on version 1"]);
    assert_eq!(b.alias(), on("1"));
    let v = values(&b.tf);
    assert_eq!(v["status"], "interrupted");
    assert_eq!(v["lambda_alias"]["version"], "1");
    assert_eq!(b.lease(), None, "the lease is released");
}

#[test]
fn rollout_lambda_drift_outside_terraform_shows_in_plan() {
    let b = Bed::start();
    b.tf.write_config(&config("2", &format!("  final_bake = \"1s\"\n{FAST}")));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.alias(), on("2"));

    // Someone points the alias back at version 1 by hand.
    b.aws.update_alias(FUNCTION, ALIAS, "1", None);
    let out = b.tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(out.code(), Some(2), "{}", out.combined());
    let squashed = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squashed.contains("~ version = \"1\" -> \"2\""), "{}", out.stdout);
    assert_eq!(b.alias(), on("1"), "plan moves nothing");

    // A split left outside Terraform shows too.
    b.aws.update_alias(FUNCTION, ALIAS, "2", Some(("1", 0.25)));
    assert_eq!(b.tf.plan_exit_code(), 2);

    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.alias(), on("2"));
    assert_eq!(b.tf.plan_exit_code(), 0);
}

#[test]
fn rollout_lambda_import_by_alias_arn_plans_no_change() {
    let b = Bed::start();
    b.tf.write_config(&config("1", ""));
    let alias_arn = format!("{}:{ALIAS}", b.function_arn);
    let out = b.tf.run(&["import", "-no-color", ADDRESS, &alias_arn]);
    assert!(out.success(), "{}", out.combined());
    let v = values(&b.tf);
    assert_eq!(v["lambda_alias"]["function_name"], FUNCTION, "the function is recorded by name, as configured");
    assert_eq!(v["lambda_alias"]["alias"], ALIAS);
    assert_eq!(v["lambda_alias"]["version"], "1");
    assert_eq!(v["traffic"], serde_json::json!({ "1": 100 }));
    assert_eq!(v["status"], "promoted");
    assert_eq!(b.tf.plan_exit_code(), 0, "an import matching the configuration plans nothing");
    assert_eq!(b.alias(), on("1"));

    // The short form, into another workspace.
    let other = Terraform::new(&b.emulator);
    other.write_config(&config("1", ""));
    let out = other.run(&["import", "-no-color", ADDRESS, "checkout:live"]);
    assert!(out.success(), "{}", out.combined());
    assert_eq!(other.plan_exit_code(), 0);
}

#[test]
fn rollout_lambda_concurrent_second_apply_is_refused() {
    let b = Bed::start();
    b.aws.create_alias(FUNCTION, "beta", "1", None);
    b.tf.write_config(&config("2", &format!("  canary {{\n    percent = 10\n    bake    = \"10m\"\n  }}\n{FAST}")));
    let running = b.start_and_wait_for("2", 0.1);
    let lease = b.lease().expect("a lease tag on the function");

    // Another workspace (its own state) on the same alias.
    let other = Terraform::new(&b.emulator);
    other.write_config(&config("3", FAST));
    other.apply().assert_failed_with(&["Another rollout is running on this routing", "No traffic was moved"]);
    assert_eq!(b.alias(), split("1", "2", 0.1), "the first rollout's step is untouched");
    let holder = |record: &str| record.split_once(' ').map(|(_, h)| h.to_owned());
    assert_eq!(b.lease().as_deref().and_then(holder), holder(&lease), "still held by the first apply");

    // The lease is per alias: another alias of the same function rolls out meanwhile.
    let beta = Terraform::new(&b.emulator);
    beta.write_config(&config_for(FUNCTION, "beta", "3", &format!("  final_bake = \"1s\"\n{FAST}")));
    let out = beta.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.aws.alias_routing(FUNCTION, "beta"), on("3"));
    assert_eq!(b.alias(), split("1", "2", 0.1), "live is untouched");

    running.interrupt();
    let _ = running.finish_within(Duration::from_secs(30));
    assert_eq!(b.alias(), on("1"));
    assert_eq!(b.lease(), None, "the lease is released");
}

#[test]
fn rollout_lambda_plan_refuses_what_cannot_be_routed() {
    let b = Bed::start();
    let cases = [
        (config("$LATEST", FAST), vec!["Not a published version", "version = \"$LATEST\"", "published versions"]),
        (config("blue", FAST), vec!["Not a published version", "version = \"blue\""]),
        (config_for(FUNCTION, "42", "2", FAST), vec!["Invalid alias", "alias = \"42\"", "all digits"]),
        (
            config("9", FAST),
            vec!["Version not found", "function checkout has no version 9", "publish", "No traffic was moved"],
        ),
    ];
    for (hcl, needles) in cases {
        b.tf.write_config(&hcl);
        b.tf.run(&["plan", "-no-color"]).assert_failed_with(&needles);
    }
    // Applying the nonexistent version moves nothing either.
    b.tf.write_config(&config("9", FAST));
    b.tf.apply().assert_failed_with(&["has no version 9", "No traffic was moved"]);

    // A missing alias or function is only a warning in the plan (the same
    // apply may create it); the apply refuses.
    for (function, alias) in [(FUNCTION, "nosuch"), ("nosuch", ALIAS)] {
        b.tf.write_config(&config_for(function, alias, "2", FAST));
        let plan = b.tf.run(&["plan", "-no-color"]);
        assert!(plan.success() && plan.stdout.contains("Routing not found"), "{}", plan.combined());
        b.tf.apply().assert_failed_with(&["Cannot use the routing", "nosuch", "No traffic was moved"]);
    }
    assert_eq!(b.alias(), on("1"));
    assert_eq!(b.lease(), None);
    assert!(b.tf.resource(ADDRESS).is_none(), "nothing recorded");
}

#[test]
fn rollout_lambda_analysis_metric_5xx_is_refused_at_plan_time() {
    let b = Bed::start();
    let body = format!(
        "  canary {{\n    percent = 10\n    bake    = \"1m\"\n  }}\n  analysis {{\n    metric = \"5xx\"\n  }}\n{FAST}"
    );
    b.tf.write_config(&config("2", &body));
    b.tf.run(&["plan", "-no-color"]).assert_failed_with(&["Invalid metric", "metric = \"5xx\"", "must be \"errors\""]);
    assert_eq!(b.alias(), on("1"));
}

impl Bed {
    /// Kills the apply, then waits until the lease it left on the function has lapsed.
    fn kill_and_wait_for_lease_expiry(&self, running: Running) {
        kill(running);
        let left = self.lease().expect("the killed apply leaves its lease tag on the function");
        wait_for_lapse(&left);
    }
}

#[test]
fn rollout_lambda_resumes_from_a_split_after_the_apply_is_killed() {
    let b = Bed::start();
    b.tf.write_config(&config(
        "2",
        &format!("  linear {{\n    step_percent = 25\n    interval     = \"60s\"\n  }}\n{FAST}"),
    ));
    let running = b.start_and_wait_for("2", 0.25);
    kill(running); // Terraform and the provider die mid-bake.
    assert_eq!(b.alias(), split("1", "2", 0.25), "the kill left the alias split");
    assert!(b.tf.resource(ADDRESS).is_none(), "the killed apply recorded nothing");

    // While the dead apply's lease stands, another apply is refused and moves nothing.
    let lease = b.lease().expect("the killed apply's lease tag on the function");
    b.tf.apply().assert_failed_with(&[
        "Another rollout is running on this routing",
        "is held by apply",
        "No traffic was moved",
    ]);
    assert_eq!(b.alias(), split("1", "2", 0.25));
    wait_for_lapse(&lease);

    // Shorter bakes from here on; the plan shows the rollout and moves nothing.
    b.tf.write_config(&config(
        "2",
        &format!("  linear {{\n    step_percent = 25\n    interval     = \"1s\"\n  }}\n  final_bake = \"1s\"\n{FAST}"),
    ));
    assert_eq!(b.tf.plan_exit_code(), 2, "the plan shows the unfinished rollout");
    assert_eq!(b.alias(), split("1", "2", 0.25), "plan moves nothing");

    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.alias(), on("2"), "version 2 serves alone, the routing configuration cleared");
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    assert_eq!(v["lambda_alias"]["version"], "2");
    assert_eq!(v["previous_target"], "1");
    assert_eq!(v["traffic"], serde_json::json!({ "2": 100 }));
    assert_eq!(v["rollback_reason"], Value::Null);
    assert_eq!(
        events(&v),
        ev(&[
            ("baked", 25.0),
            ("shift", 50.0),
            ("baked", 50.0),
            ("shift", 75.0),
            ("baked", 75.0),
            ("shift", 100.0),
            ("baked", 100.0),
            ("promoted", 100.0)
        ]),
        "the interrupted 25% bake runs again and the rollout goes on from there, not from zero"
    );
    assert_eq!(b.lease(), None, "no lease tag is left on the function");
    assert_eq!(b.tf.plan_exit_code(), 0, "done now");
}

#[test]
fn rollout_lambda_killed_during_the_final_bake_is_not_taken_as_done() {
    let b = Bed::start();
    // Record version 1 (already serving) as the rollout's target first.
    b.tf.write_config(&config("1", FAST));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(values(&b.tf)["lambda_alias"]["version"], "1");

    b.tf.write_config(&config("2", &format!("  final_bake = \"60s\"\n{FAST}")));
    let mut running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(60), || b.alias() == on("2")),
        "the alias never served version 2 alone (it is {:?}):\n{}",
        b.alias(),
        running.stdout_so_far()
    );
    let _ = running.wait_for_stdout("Modifying...", Duration::from_secs(1));
    b.kill_and_wait_for_lease_expiry(running);

    // Version 2 serves everything, but its final bake never finished.
    assert_eq!(b.alias(), on("2"));
    let out = b.tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(out.code(), Some(2), "the unfinished rollout shows in the plan:\n{}", out.combined());
    let squashed = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        squashed.contains("~ version = \"1\" -> \"2\""),
        "the state keeps the recorded version while the lease is left:\n{}",
        out.stdout
    );

    b.tf.write_config(&config("2", &format!("  final_bake = \"2s\"\n{FAST}")));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.alias(), on("2"));
    let v = values(&b.tf);
    assert_eq!(events(&v), ev(&[("baked", 100.0), ("promoted", 100.0)]), "the final bake ran, without shifting again");
    assert_eq!(v["status"], "promoted");
    assert_eq!(v["previous_target"], "1");
    assert_eq!(b.lease(), None, "no lease tag is left on the function");
    assert_eq!(b.tf.plan_exit_code(), 0, "done now");
}

#[test]
fn rollout_lambda_timeout_rolls_back() {
    let b = Bed::start();
    b.tf.write_config(&config("2", &format!("  canary {{\n    percent = 10\n    bake    = \"60s\"\n  }}\n{FAST}\n  timeouts {{\n    create = \"5s\"\n  }}")));
    let started = Instant::now();
    // The timeout ends the canary's bake, not its shift: the alias was split first.
    let running = b.start_and_wait_for("2", 0.1);
    let out = running.finish_within(Duration::from_secs(40));
    assert!(started.elapsed() < Duration::from_secs(40), "took {:?} for a 5s timeout", started.elapsed());
    assert_ne!(out.code(), Some(0), "{}", out.combined());
    out.assert_failed_with(&[
        "Rollout rolled back: the rollout ran past its timeout",
        "At step 1 of 2, with 10% of traffic on",
        "All traffic is back on version 1",
    ]);
    assert_eq!(b.alias(), on("1"), "the alias is back on version 1 alone");
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["lambda_alias"]["version"], "1", "the state records the origin");
    assert_eq!(v["traffic"], serde_json::json!({ "1": 100 }));
    assert!(v["rollback_reason"].as_str().unwrap().contains("ran past its timeout"), "{}", v["rollback_reason"]);
    assert_eq!(events(&v), ev(&[("shift", 10.0), ("rollback", 0.0)]));
    assert_eq!(b.lease(), None, "the lease is released");
    assert_eq!(b.tf.plan_exit_code(), 2, "the next plan shows the rollout again");
}

#[test]
fn rollout_lambda_rollback_when_a_metric_gate_breaches() {
    let b = Bed::start();
    b.aws.put_metric_data("Acceptance", "CheckoutErrorRate", 7.5);
    let metric = error_rate_gate("CheckoutErrorRate");
    b.tf.write_config(&config(
        "2",
        &format!("  canary {{\n    percent = 10\n    bake    = \"30s\"\n  }}\n{FAST}\n{metric}"),
    ));
    let started = Instant::now();
    let out = b.tf.apply();
    out.assert_failed_with(&[
        "Rollout rolled back: metric \"error-rate\" is failing: 7.5 breaches the condition < 5",
        "At step 1 of 2, with 10% of traffic on",
        "All traffic is back on version 1",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "caught in {:?}, before the 30s bake ended",
        started.elapsed()
    );
    assert_eq!(b.alias(), on("1"), "the alias is back on version 1 alone");
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["lambda_alias"]["version"], "1");
    assert!(v["rollback_reason"].as_str().unwrap().contains("metric \"error-rate\""), "{}", v["rollback_reason"]);
    assert_eq!(events(&v), ev(&[("shift", 10.0), ("gate_failed", 10.0), ("rollback", 0.0)]));
    assert_eq!(b.lease(), None, "the lease is released");
}
