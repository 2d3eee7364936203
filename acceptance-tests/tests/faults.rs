//! `progressive_rollout` and `progressive_canary_gate` with 30% of the
//! provider's AWS calls failing: the provider talks to the emulator through
//! the fault proxy (throttling errors, 503s, connections reset before or
//! after the call took effect, slow answers), while the test bed's own
//! client talks to the emulator directly. Every run must end correctly or
//! fail safe: traffic never left split without the state saying so, never
//! `promoted` without the whole schedule, a rollback retried until AWS
//! confirms it.

use std::collections::BTreeMap;
use std::time::Duration;

use acceptance_tests::rollouts::{ev, events, values, wait_until};
use acceptance_tests::scenarios::rollout_config;
use acceptance_tests::{AlbBed, FaultProxy, Output};

/// 30% of calls, spread over every kind of fault the proxy injects.
const THIRTY_PERCENT: [&str; 5] =
    ["*=throttle:0.12", "*=unavailable:0.06", "*=reset:0.04", "*=late:0.04", "*=slow:0.04"];
const SLOW: Duration = Duration::from_millis(500);
const ADDRESS: &str = "progressive_rollout.web";
const FAST: &str = "  alarm_names = [\"web-5xx\"]\n  poll_interval = \"1s\"";

/// The ALB bed, with the provider reaching AWS through the fault proxy.
struct Bed {
    alb: AlbBed,
    proxy: FaultProxy,
}

impl std::ops::Deref for Bed {
    type Target = AlbBed;
    fn deref(&self) -> &AlbBed {
        &self.alb
    }
}

/// The ALB fixture and one alarm, set up fault-free; the provider then
/// reaches AWS through a proxy failing 30% of its calls, drawn from `seed`
/// plus `FAULT_SEED` from the environment (0 unless set: `scripts/fault-sweep.sh`
/// runs these tests over many seeds).
fn bed(seed: u64) -> Bed {
    let seed = seed + std::env::var("FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut alb = AlbBed::start();
    alb.aws.put_metric_alarm("web-5xx");
    let proxy = FaultProxy::start(&alb.emulator, &THIRTY_PERCENT, seed, SLOW);
    alb.tf.set_env("AWS_ENDPOINT_URL", proxy.endpoint());
    Bed { alb, proxy }
}

impl Bed {
    fn percent(&self) -> BTreeMap<String, u32> {
        self.listener_percentages()
    }

    fn all_on(&self, arn: &str) -> bool {
        self.percent() == BTreeMap::from([(arn.to_owned(), 100)])
    }

    /// The retries the provider logged.
    fn retries_logged(&self) -> u64 {
        self.tf.log().lines().filter(|l| l.contains("retrying AWS call")).count() as u64
    }

    /// What the proxy injected and the retries the provider logged.
    fn report(&self, out: &Output) -> String {
        format!(
            "faults: {}; provider retries logged: {}\n{}",
            self.proxy.stats().summary(),
            self.retries_logged(),
            out.combined()
        )
    }

    /// Every fault but a slow answer failed one attempt, and the provider
    /// logged the retry that followed; a call abandoned right after its
    /// fault (a look or a lease renewal cancelled as the rollout ended) is
    /// not retried, so up to two may be missing.
    fn assert_every_fault_retried(&self, report: &str) {
        let stats = self.proxy.stats();
        let failed_attempts = stats.total_faults() - stats.faults_of("slow");
        let retries = self.retries_logged();
        assert!(retries <= failed_attempts && retries + 2 >= failed_attempts, "{report}");
    }
}

#[test]
fn faults_rollout_promotes_through_the_whole_schedule() {
    let b = bed(1);
    b.tf.write_config(&rollout_config(
        &format!("listener_arn = \"{}\"", b.fx.listener_arn),
        &b.fx.green_arn,
        &format!("  linear {{\n    step_percent = 25\n    interval = \"1s\"\n  }}\n  final_bake = \"2s\"\n{FAST}"),
    ));
    let out = b.tf.apply();
    let report = b.report(&out);
    println!("{report}");
    assert!(out.success(), "{report}");
    assert!(b.proxy.stats().total_faults() >= 10, "faults were injected: {report}");
    b.assert_every_fault_retried(&report);
    assert!(b.all_on(&b.fx.green_arn), "the listener serves green: {:?}", b.percent());
    let v = values(&b.tf, ADDRESS);
    assert_eq!(v["status"], "promoted");
    assert_eq!(
        events(&v),
        ev(&[
            ("shift", 25),
            ("baked", 25),
            ("shift", 50),
            ("baked", 50),
            ("shift", 75),
            ("baked", 75),
            ("shift", 100),
            ("baked", 100),
            ("promoted", 100)
        ]),
        "every step and the final bake ran"
    );
    assert!(
        !b.aws.listener_tags(&b.fx.listener_arn).contains_key("progressive:rollout-lease"),
        "the lease is released"
    );
}

#[test]
fn faults_rollback_is_retried_until_confirmed() {
    let b = bed(2);
    b.tf.write_config(&rollout_config(
        &format!("listener_arn = \"{}\"", b.fx.listener_arn),
        &b.fx.green_arn,
        &format!("  canary {{\n    percent = 20\n    bake = \"60s\"\n  }}\n{FAST}"),
    ));
    let running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(90), || b.percent().get(&b.fx.green_arn) == Some(&20)),
        "{}",
        running.stdout_so_far()
    );
    // The rollback's calls fail more often than not.
    b.proxy.set_faults(&["*=throttle:0.3", "*=unavailable:0.15", "*=reset:0.05", "*=late:0.05"]);
    b.aws.set_alarm_state("web-5xx", "ALARM", "5xx above 1%");
    let out = running.finish_within(Duration::from_secs(180));
    let report = b.report(&out);
    println!("{report}");
    out.assert_failed_with(&["Rollout rolled back: alarm \"web-5xx\" is failing"]);
    b.assert_every_fault_retried(&report);
    assert!(b.all_on(&b.fx.blue_arn), "all traffic is back on blue: {:?}\n{report}", b.percent());
    let v = values(&b.tf, ADDRESS);
    assert_eq!(v["status"], "rolled_back");
    assert_eq!(v["alb"]["target_group_arn"], b.fx.blue_arn.as_str(), "the state records the origin");
    assert_eq!(events(&v), ev(&[("shift", 20), ("gate_failed", 20), ("rollback", 0)]));
    assert!(
        !b.aws.listener_tags(&b.fx.listener_arn).contains_key("progressive:rollout-lease"),
        "the lease is released"
    );
}

#[test]
fn faults_interrupt_restores_the_origin() {
    let b = bed(3);
    b.tf.write_config(&rollout_config(
        &format!("listener_arn = \"{}\"", b.fx.listener_arn),
        &b.fx.green_arn,
        &format!("  canary {{\n    percent = 10\n    bake = \"10m\"\n  }}\n{FAST}"),
    ));
    let mut running = b.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(90), || b.percent().get(&b.fx.green_arn) == Some(&10)),
        "{}",
        running.stdout_so_far()
    );
    let _ = running.wait_for_stdout("Creating...", Duration::from_secs(1));
    running.interrupt();
    let out = running.finish_within(Duration::from_secs(120));
    let report = b.report(&out);
    assert!(!out.success(), "{report}");
    assert!(b.all_on(&b.fx.blue_arn), "all traffic is back on blue: {:?}\n{report}", b.percent());
}

/// A cancelled CI job signals Terraform and the provider at once (SIGTERM to
/// the job's process group). The provider stops the rollout and exits only
/// once the rollback has returned, however slowly AWS answers: here every
/// ModifyListener answer takes 8 s, longer than the 5 s a process is given
/// to close its streams after Terraform's Shutdown. Exiting earlier would
/// leave the state without the rollback and the lease on the listener.
#[test]
fn faults_sigterm_waits_for_a_slow_rollback() {
    let mut alb = AlbBed::start();
    alb.aws.put_metric_alarm("web-5xx");
    let proxy = FaultProxy::start(&alb.emulator, &[], 0, Duration::from_secs(8));
    alb.tf.set_env("AWS_ENDPOINT_URL", proxy.endpoint());
    alb.tf.write_config(&rollout_config(
        &format!("listener_arn = \"{}\"", alb.fx.listener_arn),
        &alb.fx.green_arn,
        &format!("  canary {{\n    percent = 10\n    bake = \"10m\"\n  }}\n{FAST}"),
    ));
    let running = alb.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    let canary = || alb.listener_percentages().get(&alb.fx.green_arn) == Some(&10);
    assert!(wait_until(Duration::from_secs(60), canary), "{}", running.stdout_so_far());
    proxy.set_faults(&["elbv2:ModifyListener=slow:1"]);
    running.terminate();
    let out = running.finish_within(Duration::from_secs(120));
    out.assert_failed_with(&["Rollout interrupted", "All traffic is back on"]);
    assert_eq!(alb.listener_percentages(), BTreeMap::from([(alb.fx.blue_arn.clone(), 100)]));
    assert_eq!(values(&alb.tf, ADDRESS)["status"], "interrupted", "{}", out.combined());
    assert!(
        !alb.aws.listener_tags(&alb.fx.listener_arn).contains_key("progressive:rollout-lease"),
        "the lease is released"
    );
    assert!(
        proxy.stats().faults_of("slow") >= 1,
        "the rollback's ModifyListener was slow: {}",
        proxy.stats().summary()
    );
}

#[test]
fn faults_canary_gate_passes_and_fails_truthfully() {
    let b = bed(4);
    let gate = |image: &str| {
        format!(
            "terraform {{\n  required_providers {{\n    progressive = {{ source = \"progressive-delivery/progressive\" }}\n  }}\n}}\n\
             resource \"progressive_canary_gate\" \"gate\" {{\n  alarm_names = [\"web-5xx\"]\n  triggers = {{ image = \"{image}\" }}\n  duration = \"5s\"\n  poll_interval = \"1s\"\n}}\n"
        )
    };
    b.tf.write_config(&gate("v1"));
    let out = b.tf.apply();
    let report = b.report(&out);
    assert!(out.success(), "{report}");
    assert_eq!(values(&b.tf, "progressive_canary_gate.gate")["status"], "passed");

    b.aws.set_alarm_state("web-5xx", "ALARM", "5xx above 1%");
    b.tf.write_config(&gate("v2"));
    let out = b.tf.apply();
    let report = b.report(&out);
    out.assert_failed_with(&["Canary gate failed: alarm \"web-5xx\" is in ALARM"]);
    let v = values(&b.tf, "progressive_canary_gate.gate");
    assert_eq!(
        (v["status"].as_str(), v["triggers"]["image"].as_str()),
        (Some("failed"), Some("v1")),
        "the failed gate keeps the triggers it passed with: {report}"
    );
}

#[test]
fn faults_throttling_that_outlasts_the_retries_is_reported_as_throttling() {
    let b = bed(5);
    b.proxy.set_faults(&["elbv2:DescribeTargetGroups=throttle:1"]);
    let config = rollout_config(&format!("listener_arn = \"{}\"", b.fx.listener_arn), &b.fx.green_arn, FAST)
        .replace("provider \"progressive\" {}", "provider \"progressive\" {\n  max_retries = 1\n}");
    b.tf.write_config(&config);
    let out = b.tf.apply();
    out.assert_failed_with(&[
        "ELBv2 DescribeTargetGroups was throttled by AWS, even after the retries the provider allows (Throttling: Rate exceeded)",
        "No traffic was moved",
    ]);
    let text = out.combined();
    assert!(
        !text.contains("not found") && !text.contains("SdkError") && !text.contains("headers"),
        "one clear sentence, not a missing resource or a dump: {text}"
    );
    assert!(b.all_on(&b.fx.blue_arn), "nothing moved: {:?}", b.percent());
    assert_eq!(b.retries_logged(), b.proxy.stats().total_faults() / 2, "one retry per call (max_retries = 1)");
}
