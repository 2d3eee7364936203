//! The plan of many rollouts on load balancers shares its ELBv2 reads:
//! concurrent plans' listener and target-group describes go out together
//! (up to 20 ARNs a call), and one missing target group among many is still
//! named alone. The provider reaches the emulator through the fault proxy
//! with no faults, which counts its calls by operation.

use acceptance_tests::{AlbFixture, Emulator, FaultProxy, Terraform};

const ROLLOUTS: usize = 30;

fn rollouts(fixtures: &[AlbFixture], targets: &[String]) -> String {
    let body: String = fixtures
        .iter()
        .zip(targets)
        .enumerate()
        .map(|(i, (fx, target))| {
            format!(
                "resource \"progressive_rollout\" \"r{i}\" {{\n  alb {{\n    listener_arn     = \"{}\"\n    target_group_arn = \"{target}\"\n  }}\n  canary {{\n    percent = 10\n    bake    = \"5m\"\n  }}\n}}\n",
                fx.listener_arn
            )
        })
        .collect();
    format!(
        "terraform {{\n  required_providers {{\n    progressive = {{ source = \"progressive-delivery/progressive\" }}\n  }}\n}}\nprovider \"progressive\" {{}}\n{body}"
    )
}

struct Bed {
    emulator: Emulator,
    proxy: FaultProxy,
    fixtures: Vec<AlbFixture>,
    tf: Terraform,
}

fn bed() -> Bed {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let fixtures: Vec<AlbFixture> = (0..ROLLOUTS).map(|_| AlbFixture::create(&aws)).collect();
    let proxy = FaultProxy::start(&emulator, &[], 0, std::time::Duration::ZERO);
    let mut tf = Terraform::new(&emulator);
    tf.set_env("AWS_ENDPOINT_URL", proxy.endpoint());
    Bed { emulator, proxy, fixtures, tf }
}

impl Bed {
    fn elbv2_calls(&self, operation: &str) -> u64 {
        self.proxy.stats().requests.get("elbv2").and_then(|ops| ops.get(operation)).copied().unwrap_or(0)
    }
}

#[test]
fn plan_of_many_rollouts_shares_listener_and_target_group_reads() {
    let b = bed();
    let targets: Vec<String> = b.fixtures.iter().map(|fx| fx.green_arn.clone()).collect();
    b.tf.write_config(&rollouts(&b.fixtures, &targets));
    let out = b.tf.run(&["plan", "-no-color", "-input=false", "-detailed-exitcode"]);
    assert_eq!(out.code(), Some(2), "{}", out.combined());
    assert_eq!(out.stdout.matches("will be created").count(), ROLLOUTS);
    let (listeners, groups) = (b.elbv2_calls("DescribeListeners"), b.elbv2_calls("DescribeTargetGroups"));
    eprintln!("{ROLLOUTS} plans: {listeners} DescribeListeners, {groups} DescribeTargetGroups");
    // One each per rollout without sharing; Terraform plans ten at a time,
    // so each call after the first carries the reads made while it ran.
    assert!(listeners >= 2 && listeners <= ROLLOUTS as u64 / 3, "{listeners} DescribeListeners for {ROLLOUTS} plans");
    assert!(groups >= 2 && groups <= ROLLOUTS as u64 / 3, "{groups} DescribeTargetGroups for {ROLLOUTS} plans");
}

#[test]
fn plan_names_the_one_missing_target_group_among_many() {
    let b = bed();
    let aws = b.emulator.client();
    let missing = b.fixtures[7].third_arn.clone();
    aws.delete_target_group(&missing);
    let targets: Vec<String> = b
        .fixtures
        .iter()
        .enumerate()
        .map(|(i, fx)| if i == 7 { missing.clone() } else { fx.green_arn.clone() })
        .collect();
    b.tf.write_config(&rollouts(&b.fixtures, &targets));
    let out = b.tf.run(&["plan", "-no-color", "-input=false"]);
    assert!(!out.success(), "{}", out.combined());
    assert_eq!(out.stderr.matches("Target group not found").count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains(&missing) && out.stderr.contains("progressive_rollout.r7"), "{}", out.stderr);
}
