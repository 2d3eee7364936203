//! `progressive_rollout` with a `route53` block under the real Terraform
//! CLI, against the emulator (whose Route 53 behaves as AWS documents it:
//! weights 0..=255, changes PENDING for a second before INSYNC). Every claim
//! about traffic is checked by reading the weighted record sets back with
//! the independent Route 53 client, not by trusting the provider's state.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acceptance_tests::rollouts::{self, ev, events, kill, wait_for_lapse, wait_until};
use acceptance_tests::scenarios::{error_rate_gate, router_rollout_config};
use acceptance_tests::{AwsClient, Emulator, Terraform, WeightedRecord};
use serde_json::{Value, json};

const ADDRESS: &str = "progressive_rollout.web";
const NAME: &str = "app.example.com";
const LEASE_PREFIX: &str = "progressive:rollout-lease:";
const FAST: &str = "  alarm_names   = [\"web-5xx\"]\n  poll_interval = \"1s\"";

/// An emulator with a hosted zone holding two weighted A record sets of
/// `app.example.com`, blue (weight 100) and green (weight 0), and one alarm.
struct Bed {
    emulator: Emulator,
    aws: AwsClient,
    tf: Terraform,
    zone: String,
}

impl Bed {
    /// Record sets with a TTL of 1 s: no bake below is shorter.
    fn start() -> Bed {
        Bed::with_ttl(1)
    }

    fn with_ttl(ttl: u32) -> Bed {
        let emulator = Emulator::start();
        let aws = emulator.client();
        aws.put_metric_alarm("web-5xx");
        let zone = aws.create_hosted_zone("example.com");
        for record in records(NAME, ttl) {
            aws.create_weighted_record(&zone, &record);
        }
        let tf = Terraform::new(&emulator);
        Bed { emulator, aws, tf, zone }
    }

    /// The weights of `app.example.com` A, by set identifier, as Route 53 has them.
    fn weights(&self) -> BTreeMap<String, u32> {
        self.aws.record_weights(&self.zone, NAME, "A")
    }

    fn lease_tags(&self) -> Vec<String> {
        self.aws.hosted_zone_tags(&self.zone).into_keys().filter(|k| k.starts_with(LEASE_PREFIX)).collect()
    }

    /// A configuration moving `app.example.com` A to `target`.
    fn config(&self, target: &str, body: &str) -> String {
        config(&self.zone, NAME, "[\"blue\", \"green\"]", target, body)
    }
}

/// blue (weight 100) and green (weight 0) of `name`.
fn records(name: &str, ttl: u32) -> [WeightedRecord; 2] {
    [
        WeightedRecord::new(name, "A", "blue", 100, ttl, "192.0.2.1"),
        WeightedRecord::new(name, "A", "green", 0, ttl, "192.0.2.2"),
    ]
}

/// A configuration with one `progressive_rollout.web` on a route53 block.
fn config(zone: &str, name: &str, set_identifiers: &str, target: &str, body: &str) -> String {
    let block = format!(
        "    zone_id               = \"{zone}\"\n    name                  = \"{name}\"\n    type                  = \"A\"\n    set_identifiers       = {set_identifiers}\n    target_set_identifier = \"{target}\""
    );
    router_rollout_config("web", "route53", &block, body)
}

fn weights(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(id, w)| ((*id).to_owned(), *w)).collect()
}

/// The rollout's state values.
fn values(tf: &Terraform) -> Value {
    rollouts::values(tf, ADDRESS)
}

/// Starts an apply and waits until Route 53 holds `expected`.
fn start_and_wait_for(b: &Bed, expected: &BTreeMap<String, u32>) -> acceptance_tests::Running {
    let mut running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    let reached = wait_until(Duration::from_secs(60), || b.weights() == *expected);
    assert!(reached, "Route 53 never held {expected:?} (now {:?}):\n{}", b.weights(), running.stdout_so_far());
    let _ = running.wait_for_stdout("Creating...", Duration::from_secs(1));
    running
}

#[test]
fn route53_canary_promotes_and_keeps_the_records_values() {
    let b = Bed::start();
    b.tf.write_config(&b.config(
        "green",
        &format!("  canary {{\n    percent = 20\n    bake    = \"2s\"\n  }}\n  final_bake = \"1s\"\n{FAST}"),
    ));
    let running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(60), || b.weights() == weights(&[("blue", 80), ("green", 20)])),
        "never at 80/20:\n{}",
        running.stdout_so_far()
    );
    assert_eq!(b.lease_tags().len(), 1, "the lease is a hosted zone tag while the rollout runs");
    let out = running.finish_within(Duration::from_secs(60));
    assert!(out.success(), "{}", out.combined());

    assert_eq!(b.weights(), weights(&[("blue", 0), ("green", 100)]), "blue keeps its record set, with weight 0");
    let green = b.aws.weighted_records(&b.zone, NAME, "A").into_iter().find(|r| r.set_identifier == "green").unwrap();
    assert_eq!((green.ttl, green.values.clone()), (1, vec!["192.0.2.2".to_owned()]), "only the weight changed");
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    assert_eq!(v["route53"]["target_set_identifier"], "green");
    assert_eq!(v["route53"]["set_identifiers"], json!(["blue", "green"]));
    assert_eq!(v["previous_target"], "blue");
    assert_eq!(v["previous_target_group_arn"], Value::Null, "an ALB-only attribute");
    assert_eq!(v["traffic"], json!({ "green": 100 }));
    assert_eq!(v["rollback_reason"], Value::Null);
    assert_eq!(v["id"], format!("{}/{NAME}/A", b.zone));
    assert_eq!(
        events(&v),
        ev(&[("shift", 20.0), ("baked", 20.0), ("shift", 100.0), ("baked", 100.0), ("promoted", 100.0)])
    );
    assert!(b.lease_tags().is_empty(), "the lease tag is removed");
    assert!(b.tf.log().contains("INSYNC"), "the wait for INSYNC is logged");
    assert_eq!(b.tf.plan_exit_code(), 0, "a promoted rollout plans no change");
}

#[test]
fn route53_rollback_when_an_alarm_trips_mid_bake() {
    let b = Bed::start();
    // 0.5% is 1 in 200: weights 199 and 1.
    b.tf.write_config(
        &b.config("green", &format!("  canary {{\n    percent = 0.5\n    bake    = \"60s\"\n  }}\n{FAST}")),
    );
    let running = start_and_wait_for(&b, &weights(&[("blue", 199), ("green", 1)]));
    b.aws.set_alarm_state("web-5xx", "ALARM", "5xx rate 7% above 1%");
    let tripped = Instant::now();
    assert!(
        wait_until(Duration::from_secs(15), || b.weights() == weights(&[("blue", 100), ("green", 0)])),
        "not rolled back: {:?}",
        b.weights()
    );
    assert!(tripped.elapsed() < Duration::from_secs(8), "rolled back {:?} after the alarm", tripped.elapsed());
    let out = running.finish_within(Duration::from_secs(30));
    out.assert_failed_with(&[
        "Rollout rolled back: alarm \"web-5xx\" is failing: 5xx rate 7% above 1%",
        "At step 1 of 2, with 0.5% of traffic on record set green",
        "All traffic is back on record set blue",
        "as route53.target_set_identifier",
    ]);
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["route53"]["target_set_identifier"], "blue", "the state records the origin");
    assert_eq!(v["traffic"], json!({ "blue": 100 }));
    assert!(v["rollback_reason"].as_str().unwrap().contains("step 1 of 2 at 0.5%"), "{}", v["rollback_reason"]);
    assert_eq!(events(&v), ev(&[("shift", 0.5), ("gate_failed", 0.5), ("rollback", 0.0)]));
    assert!(b.lease_tags().is_empty());
    assert_eq!(b.tf.plan_exit_code(), 2, "the next plan shows the rollout again");
}

#[test]
fn route53_interrupt_restores_the_origin() {
    let b = Bed::start();
    b.tf.write_config(
        &b.config("green", &format!("  canary {{\n    percent = 10\n    bake    = \"10m\"\n  }}\n{FAST}")),
    );
    let running = start_and_wait_for(&b, &weights(&[("blue", 90), ("green", 10)]));
    let interrupted = Instant::now();
    running.interrupt();
    let out = running.finish_within(Duration::from_secs(30));
    assert!(interrupted.elapsed() < Duration::from_secs(8), "stopped after {:?}", interrupted.elapsed());
    out.assert_failed_with(&[
        "Rollout interrupted: Terraform was interrupted",
        "All traffic is back on record set blue",
    ]);
    assert_eq!(b.weights(), weights(&[("blue", 100), ("green", 0)]));
    let v = values(&b.tf);
    assert_eq!(v["status"], "interrupted");
    assert_eq!(v["route53"]["target_set_identifier"], "blue");
    assert!(b.lease_tags().is_empty());
}

#[test]
fn route53_drift_outside_terraform_shows_in_plan() {
    let b = Bed::start();
    b.tf.write_config(&b.config("green", FAST));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.weights(), weights(&[("blue", 0), ("green", 100)]));

    // Someone sends everything back to blue by hand.
    let [blue, green] = records(NAME, 1);
    b.aws
        .change_weighted_records(&b.zone, &[("UPSERT", &blue.with_weight(100)), ("UPSERT", &green.with_weight(0))])
        .unwrap();
    let out = b.tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(out.code(), Some(2), "{}", out.combined());
    assert!(out.stdout.contains("~ target_set_identifier = \"blue\" -> \"green\""), "{}", out.stdout);
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.weights(), weights(&[("blue", 0), ("green", 100)]));
    assert_eq!(values(&b.tf)["traffic"], json!({ "green": 100 }));
}

#[test]
fn route53_import_then_no_changes() {
    let b = Bed::start();
    // By zone, name and type: the two weighted record sets are found.
    b.tf.write_config(&b.config("blue", ""));
    let out = b.tf.run(&["import", "-no-color", ADDRESS, &format!("{}/{NAME}/A", b.zone)]);
    assert!(out.success(), "{}", out.combined());
    let v = values(&b.tf);
    assert_eq!(v["route53"]["set_identifiers"], json!(["blue", "green"]));
    assert_eq!(v["route53"]["target_set_identifier"], "blue");
    assert_eq!(v["route53"]["zone_id"], b.zone.as_str());
    assert_eq!(v["traffic"], json!({ "blue": 100 }));
    assert_eq!(v["status"], "promoted");
    assert_eq!(b.tf.plan_exit_code(), 0, "an import matching the configuration plans nothing");

    // By zone (with its /hostedzone/ prefix), name, type and both set identifiers.
    let other = Terraform::new(&b.emulator);
    other.write_config(&b.config("blue", ""));
    let out = other.run(&["import", "-no-color", ADDRESS, &format!("/hostedzone/{}/{NAME}/A/green/blue", b.zone)]);
    assert!(out.success(), "{}", out.combined());
    assert_eq!(values(&other)["route53"]["set_identifiers"], json!(["blue", "green"]));
    assert_eq!(other.plan_exit_code(), 0);
    assert_eq!(b.weights(), weights(&[("blue", 100), ("green", 0)]), "nothing moved");

    // A name with three weighted record sets needs them named.
    b.aws.create_weighted_record(&b.zone, &WeightedRecord::new(NAME, "A", "canary", 0, 1, "192.0.2.3"));
    let third = Terraform::new(&b.emulator);
    third.write_config(&b.config("blue", ""));
    third.run(&["import", "-no-color", ADDRESS, &format!("{}/{NAME}/A", b.zone)]).assert_failed_with(&[
        "Cannot import",
        "3 weighted record sets",
        "/<set identifier>/<set identifier>",
    ]);
}

#[test]
fn route53_concurrent_apply_is_refused_by_the_zone_tag_lease() {
    let b = Bed::start();
    b.tf.write_config(
        &b.config("green", &format!("  canary {{\n    percent = 10\n    bake    = \"10m\"\n  }}\n{FAST}")),
    );
    let running = start_and_wait_for(&b, &weights(&[("blue", 90), ("green", 10)]));
    let leases = b.lease_tags();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0].len(), LEASE_PREFIX.len() + 16, "16 hex digits per record: {}", leases[0]);

    // Another workspace (its own state) on the same records.
    let other = Terraform::new(&b.emulator);
    other.write_config(&b.config("green", FAST));
    other.apply().assert_failed_with(&[
        "Another rollout is running on this routing",
        "is held by apply",
        "No traffic was moved",
    ]);
    assert_eq!(b.weights(), weights(&[("blue", 90), ("green", 10)]), "the first rollout's step is untouched");

    // Another record of the same zone has its own lease.
    for record in records("www.example.com", 1) {
        b.aws.create_weighted_record(&b.zone, &record);
    }
    let www = Terraform::new(&b.emulator);
    www.write_config(&config(&b.zone, "www.example.com", "[\"blue\", \"green\"]", "green", FAST));
    let out = www.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.aws.record_weights(&b.zone, "www.example.com", "A"), weights(&[("blue", 0), ("green", 100)]));

    running.interrupt();
    let _ = running.finish_within(Duration::from_secs(30));
    assert_eq!(b.weights(), weights(&[("blue", 100), ("green", 0)]));
    assert!(b.lease_tags().is_empty(), "the lease is released");
}

#[test]
fn route53_plan_time_refusals_move_nothing() {
    let b = Bed::start();
    let plan_fails = |hcl: String, needles: &[&str]| {
        b.tf.write_config(&hcl);
        b.tf.run(&["plan", "-no-color"]).assert_failed_with(needles);
    };
    plan_fails(
        b.config("red", FAST),
        &["Not one of set_identifiers", "target_set_identifier = \"red\"", "\"blue\", \"green\""],
    );
    plan_fails(config(&b.zone, NAME, "[\"blue\"]", "blue", FAST), &["Two set identifiers needed", "set_identifiers"]);
    plan_fails(
        config(&b.zone, NAME, "[\"blue\", \"green\"]", "green", &format!("{FAST}\n  analysis {{}}")),
        &["No analysis with this router", "Route 53 publishes no per-record request or error metrics"],
    );
    plan_fails(
        b.config("green", &format!("  canary {{\n    percent = 0.3\n    bake    = \"1s\"\n  }}\n{FAST}")),
        &["cannot send exactly 0.3%", "nearest share it can send is 0.390625% (weights 1 and 255)", "percent = 0.3"],
    );
    plan_fails(
        b.config(
            "green",
            "  canary {\n    percent = 10\n    bake    = \"1s\"\n  }\n  analysis {\n    metric = \"5xx\"\n  }",
        ),
        &["No analysis with this router"],
    );

    // A record set that does not exist, then a zone that does not exist.
    b.tf.write_config(&config(&b.zone, NAME, "[\"blue\", \"purple\"]", "purple", FAST));
    b.tf.apply().assert_failed_with(&[
        "Record set not found",
        "target_set_identifier = \"purple\"",
        "weighted record set purple of app.example.com A does not exist",
        "No traffic was moved",
    ]);
    b.tf.write_config(&config("Z0NOSUCHZONE00", NAME, "[\"blue\", \"green\"]", "green", FAST));
    b.tf.apply().assert_failed_with(&["No hosted zone found with ID", "No traffic was moved"]);

    assert_eq!(b.weights(), weights(&[("blue", 100), ("green", 0)]));
    assert!(b.tf.resource(ADDRESS).is_none(), "nothing recorded");
    assert!(b.lease_tags().is_empty());
}

#[test]
fn route53_plan_warns_when_a_bake_is_shorter_than_the_ttl() {
    let b = Bed::with_ttl(300);
    b.tf.write_config(&b.config(
        "green",
        &format!("  canary {{\n    percent = 10\n    bake    = \"5s\"\n  }}\n  final_bake = \"10m\"\n{FAST}"),
    ));
    let out = b.tf.run_ok(&["plan", "-no-color"]);
    let squashed = out.combined().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squashed.contains("Bakes shorter than DNS caching"), "{}", out.combined());
    assert!(
        squashed.contains("only after the record's TTL (300 s)") && squashed.contains("a bake of 5 s"),
        "{}",
        out.combined()
    );
    assert_eq!(b.weights(), weights(&[("blue", 100), ("green", 0)]), "plan moves nothing");

    // The apply keeps the warning in the history, before the steps.
    b.tf.write_config(
        &b.config("green", &format!("  canary {{\n    percent = 10\n    bake    = \"2s\"\n  }}\n{FAST}")),
    );
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    let history = rollouts::history(&values(&b.tf));
    assert_eq!(history[0]["event"], "warning", "{history:?}");
    assert!(history[0]["detail"].as_str().unwrap().contains("TTL (300 s)"), "{history:?}");
    assert_eq!(history[1]["event"], "shift", "{history:?}");

    // With a TTL below every bake, no warning.
    let [blue, green] = records(NAME, 1);
    b.aws.change_weighted_records(&b.zone, &[("UPSERT", &blue), ("UPSERT", &green)]).unwrap();
    let out = b.tf.run_ok(&["plan", "-no-color"]);
    assert!(!out.combined().contains("Bakes shorter than DNS caching"), "{}", out.combined());
}

#[test]
fn route53_name_matches_without_case_or_trailing_dot() {
    let b = Bed::start();
    b.tf.write_config(&config(
        &format!("/hostedzone/{}", b.zone),
        "App.Example.COM.",
        "[\"blue\", \"green\"]",
        "green",
        FAST,
    ));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.weights(), weights(&[("blue", 0), ("green", 100)]));
    let v = values(&b.tf);
    assert_eq!(v["route53"]["name"], "App.Example.COM.", "the name as written");
    assert_eq!(v["route53"]["zone_id"], format!("/hostedzone/{}", b.zone), "the zone id as written");
    assert_eq!(v["id"], format!("{}/App.Example.COM./A", b.zone), "the id names the zone without its prefix");
    assert_eq!(b.tf.plan_exit_code(), 0, "the refreshed state matches the configuration");
}

impl Bed {
    /// The hosted zone's lease records (`<RFC 3339 expiry> <holder>`), by tag key.
    fn leases(&self) -> BTreeMap<String, String> {
        self.aws.hosted_zone_tags(&self.zone).into_iter().filter(|(k, _)| k.starts_with(LEASE_PREFIX)).collect()
    }

    /// The one lease record on the hosted zone.
    fn the_lease(&self) -> String {
        let leases = self.leases();
        assert_eq!(leases.len(), 1, "one lease tag on the hosted zone: {leases:?}");
        leases.into_values().next().unwrap()
    }

    /// Kills the apply, then waits until the lease it left on the hosted zone has lapsed.
    fn kill_and_wait_for_lease_expiry(&self, running: acceptance_tests::Running) {
        kill(running);
        let left = self.the_lease();
        wait_for_lapse(&left);
    }
}

#[test]
fn route53_resumes_from_a_split_after_the_apply_is_killed() {
    let b = Bed::start();
    b.tf.write_config(
        &b.config("green", &format!("  linear {{\n    step_percent = 25\n    interval     = \"60s\"\n  }}\n{FAST}")),
    );
    let running = start_and_wait_for(&b, &weights(&[("blue", 75), ("green", 25)]));
    kill(running); // Terraform and the provider die mid-bake.
    assert_eq!(b.weights(), weights(&[("blue", 75), ("green", 25)]), "the kill left the records split");
    assert!(b.tf.resource(ADDRESS).is_none(), "the killed apply recorded nothing");

    // While the dead apply's lease stands, another apply is refused and moves nothing.
    let lease = b.the_lease();
    b.tf.apply().assert_failed_with(&[
        "Another rollout is running on this routing",
        "is held by apply",
        "No traffic was moved",
    ]);
    assert_eq!(b.weights(), weights(&[("blue", 75), ("green", 25)]));
    wait_for_lapse(&lease);

    // Shorter bakes from here on; the plan shows the rollout and moves nothing.
    b.tf.write_config(&b.config(
        "green",
        &format!("  linear {{\n    step_percent = 25\n    interval     = \"1s\"\n  }}\n  final_bake = \"1s\"\n{FAST}"),
    ));
    assert_eq!(b.tf.plan_exit_code(), 2, "the plan shows the unfinished rollout");
    assert_eq!(b.weights(), weights(&[("blue", 75), ("green", 25)]), "plan moves nothing");

    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.weights(), weights(&[("blue", 0), ("green", 100)]));
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    assert_eq!(v["route53"]["target_set_identifier"], "green");
    assert_eq!(v["previous_target"], "blue");
    assert_eq!(v["traffic"], json!({ "green": 100 }));
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
    assert!(b.leases().is_empty(), "no lease tag is left on the hosted zone: {:?}", b.leases());
    assert_eq!(b.tf.plan_exit_code(), 0, "done now");
}

#[test]
fn route53_killed_during_the_final_bake_is_not_taken_as_done() {
    let b = Bed::start();
    // Record blue (already serving) as the rollout's target first.
    b.tf.write_config(&b.config("blue", FAST));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(values(&b.tf)["route53"]["target_set_identifier"], "blue");

    b.tf.write_config(&b.config("green", &format!("  final_bake = \"60s\"\n{FAST}")));
    let mut running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(60), || b.weights() == weights(&[("blue", 0), ("green", 100)])),
        "green never served alone (now {:?}):\n{}",
        b.weights(),
        running.stdout_so_far()
    );
    let _ = running.wait_for_stdout("Modifying...", Duration::from_secs(1));
    b.kill_and_wait_for_lease_expiry(running);

    // Green serves everything, but its final bake never finished.
    assert_eq!(b.weights(), weights(&[("blue", 0), ("green", 100)]));
    let out = b.tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(out.code(), Some(2), "the unfinished rollout shows in the plan:\n{}", out.combined());
    assert!(
        out.stdout.contains("~ target_set_identifier = \"blue\" -> \"green\""),
        "the state keeps the recorded target while the lease is left:\n{}",
        out.stdout
    );

    b.tf.write_config(&b.config("green", &format!("  final_bake = \"2s\"\n{FAST}")));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.weights(), weights(&[("blue", 0), ("green", 100)]));
    let v = values(&b.tf);
    assert_eq!(events(&v), ev(&[("baked", 100.0), ("promoted", 100.0)]), "the final bake ran, without shifting again");
    assert_eq!(v["status"], "promoted");
    assert_eq!(v["previous_target"], "blue");
    assert!(b.leases().is_empty(), "no lease tag is left on the hosted zone: {:?}", b.leases());
    assert_eq!(b.tf.plan_exit_code(), 0, "done now");
}

#[test]
fn route53_timeout_rolls_back() {
    let b = Bed::start();
    b.tf.write_config(&b.config("green", &format!("  canary {{\n    percent = 10\n    bake    = \"60s\"\n  }}\n{FAST}\n  timeouts {{\n    create = \"6s\"\n  }}")));
    let started = Instant::now();
    // The timeout ends the canary's bake, not its shift: the records were split first.
    let running = start_and_wait_for(&b, &weights(&[("blue", 90), ("green", 10)]));
    let out = running.finish_within(Duration::from_secs(40));
    assert!(started.elapsed() < Duration::from_secs(40), "took {:?} for a 6s timeout", started.elapsed());
    assert_ne!(out.code(), Some(0), "{}", out.combined());
    out.assert_failed_with(&[
        "Rollout rolled back: the rollout ran past its timeout",
        "At step 1 of 2, with 10% of traffic on record set green",
        "All traffic is back on record set blue",
    ]);
    assert_eq!(b.weights(), weights(&[("blue", 100), ("green", 0)]));
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["route53"]["target_set_identifier"], "blue", "the state records the origin");
    assert_eq!(v["traffic"], json!({ "blue": 100 }));
    assert!(v["rollback_reason"].as_str().unwrap().contains("ran past its timeout"), "{}", v["rollback_reason"]);
    assert_eq!(events(&v), ev(&[("shift", 10.0), ("rollback", 0.0)]));
    assert!(b.leases().is_empty(), "the lease is released");
    assert_eq!(b.tf.plan_exit_code(), 2, "the next plan shows the rollout again");
}

#[test]
fn route53_rollback_when_a_metric_gate_breaches() {
    let b = Bed::start();
    b.aws.put_metric_data("Acceptance", "WebErrorRate", 7.5);
    let metric = error_rate_gate("WebErrorRate");
    b.tf.write_config(
        &b.config("green", &format!("  canary {{\n    percent = 10\n    bake    = \"30s\"\n  }}\n{FAST}\n{metric}")),
    );
    let started = Instant::now();
    let out = b.tf.apply();
    out.assert_failed_with(&[
        "Rollout rolled back: metric \"error-rate\" is failing: 7.5 breaches the condition < 5",
        "At step 1 of 2, with 10% of traffic on record set green",
        "All traffic is back on record set blue",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "caught in {:?}, before the 30s bake ended",
        started.elapsed()
    );
    assert_eq!(b.weights(), weights(&[("blue", 100), ("green", 0)]));
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["route53"]["target_set_identifier"], "blue");
    assert!(v["rollback_reason"].as_str().unwrap().contains("metric \"error-rate\""), "{}", v["rollback_reason"]);
    assert_eq!(events(&v), ev(&[("shift", 10.0), ("gate_failed", 10.0), ("rollback", 0.0)]));
    assert!(b.leases().is_empty(), "the lease is released");
}

/// An application behind the records that publishes its own per-variant
/// counts, as the `analysis.source` block reads them: every second, 200
/// requests split by the record weights read back from Route 53, and each
/// variant's errors at its own rate, in `Checkout/Requests` and
/// `Checkout/Errors` with a `Variant` dimension. Stopped on drop.
struct VariantTraffic {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl VariantTraffic {
    fn start(b: &Bed, error_rates: &[(&'static str, f64)]) -> VariantTraffic {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (aws, zone, rates, flag) = (b.aws.clone(), b.zone.clone(), error_rates.to_vec(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let weights = aws.record_weights(&zone, NAME, "A");
                let total: u32 = weights.values().sum();
                for (variant, rate) in &rates {
                    let requests = (200.0 * f64::from(weights.get(*variant).copied().unwrap_or(0))
                        / f64::from(total.max(1)))
                    .round();
                    if requests > 0.0 {
                        aws.put_metric_datum("Checkout", "Requests", &[("Variant", variant)], requests);
                        aws.put_metric_datum("Checkout", "Errors", &[("Variant", variant)], (requests * rate).round());
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        VariantTraffic { stop, thread: Some(thread) }
    }
}

impl Drop for VariantTraffic {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An analysis judging the application's own per-variant metrics.
const VARIANT_ANALYSIS: &str = r#"  analysis {
    period       = "1s"
    min_requests = 50
    source {
      canary_requests {
        namespace   = "Checkout"
        metric_name = "Requests"
        dimensions  = { Variant = "green" }
      }
      canary_errors {
        namespace   = "Checkout"
        metric_name = "Errors"
        dimensions  = { Variant = "green" }
      }
      baseline_requests {
        namespace   = "Checkout"
        metric_name = "Requests"
        dimensions  = { Variant = "blue" }
      }
      baseline_errors {
        namespace   = "Checkout"
        metric_name = "Errors"
        dimensions  = { Variant = "blue" }
      }
    }
  }"#;

fn canary_with_variant_analysis(b: &Bed) -> String {
    b.config(
        "green",
        &format!("  canary {{\n    percent = 20\n    bake    = \"20s\"\n  }}\n{FAST}\n{VARIANT_ANALYSIS}"),
    )
}

#[test]
fn route53_analysis_source_rolls_back_a_bad_variant() {
    let b = Bed::start();
    let _traffic = VariantTraffic::start(&b, &[("blue", 0.01), ("green", 0.30)]);
    b.tf.write_config(&canary_with_variant_analysis(&b));
    let out = b.tf.apply();
    out.assert_failed_with(&[
        "Rollout rolled back: canary analysis (Errors) is failing",
        "the canary is worse than the baseline",
    ]);
    assert_eq!(b.weights(), weights(&[("blue", 100), ("green", 0)]), "all weight back on blue");
    let v = values(&b.tf);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["route53"]["target_set_identifier"], "blue", "the state records the origin");
    assert_eq!(events(&v).last().map(|(e, _)| e.as_str()), Some("rollback"));
}

#[test]
fn route53_analysis_source_promotes_a_good_variant() {
    let b = Bed::start();
    let _traffic = VariantTraffic::start(&b, &[("blue", 0.05), ("green", 0.05)]);
    b.tf.write_config(&canary_with_variant_analysis(&b));
    let out = b.tf.apply();
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.weights(), weights(&[("blue", 0), ("green", 100)]));
    let v = values(&b.tf);
    assert_eq!(v["status"], "promoted");
    let history = rollouts::history(&v);
    let baked = history.iter().find(|e| e["event"] == "baked").expect("the canary step baked");
    assert!(
        baked["detail"].as_str().unwrap().contains("canary") && baked["detail"].as_str().unwrap().contains("Errors in"),
        "{baked}"
    );
}
