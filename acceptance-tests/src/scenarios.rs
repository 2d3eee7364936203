//! Whole configurations shared by tests and benchmarks.

/// A configuration with one `progressive_rollout.<resource>` whose router is
/// a `<router_block>` block holding `block_lines` (whole lines, indented four
/// spaces), with `body` inside the resource after it.
pub fn router_rollout_config(resource: &str, router_block: &str, block_lines: &str, body: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    progressive = {{ source = "progressive-delivery/progressive" }}
  }}
}}

provider "progressive" {{}}

resource "progressive_rollout" "{resource}" {{
  {router_block} {{
{block_lines}
  }}
{body}
}}
"#
    )
}

/// A configuration with one `progressive_rollout.web` on `router` (the
/// `alb` block's listener and rule lines), moving to `target`, with `body`
/// inside the resource.
pub fn rollout_config(router: &str, target: &str, body: &str) -> String {
    router_rollout_config("web", "alb", &format!("    {router}\n    target_group_arn = \"{target}\""), body)
}

use crate::{AlbFixture, Emulator, Terraform};

/// A `metric` threshold gate named `error-rate`: the newest `Maximum` of
/// `Acceptance/<metric_name>` must stay below 5.
pub fn error_rate_gate(metric_name: &str) -> String {
    format!(
        r#"  metric {{
    name       = "error-rate"
    comparison = "<"
    threshold  = 5
    window     = "5m"
    query {{
      namespace   = "Acceptance"
      metric_name = "{metric_name}"
      stat        = "Maximum"
    }}
  }}"#
    )
}

/// The provider's reads of gate data in one apply.
#[derive(Debug, Clone, Copy)]
pub struct GateReads {
    pub describe_alarms: usize,
    pub get_metric_data: usize,
}

/// What every resource of the scenarios watches: three alarms, and a metric
/// threshold on a series that has data (missing data fails the gate, so a
/// read answered with the wrong series would show).
const SHARED_GATES: &str = r#"  alarm_names     = ["shared-5xx", "shared-p99", "shared-errors"]
  on_missing_data = "fail"
  metric {
    name       = "error-rate"
    comparison = "<"
    threshold  = 5
    window     = "5m"
    query {
      namespace   = "Scenario"
      metric_name = "ErrorRate"
      stat        = "Maximum"
    }
  }"#;

/// An emulator with the shared alarms and metric data in place.
fn shared_gates_emulator() -> Emulator {
    let emulator = Emulator::start();
    let aws = emulator.client();
    for alarm in ["shared-5xx", "shared-p99", "shared-errors"] {
        aws.put_metric_alarm(alarm);
    }
    aws.put_metric_data("Scenario", "ErrorRate", 1.0);
    emulator
}

/// A working directory holding `resources` (each watching [`SHARED_GATES`]).
fn workspace(emulator: &Emulator, resources: &str) -> Terraform {
    let tf = Terraform::new(emulator);
    tf.write_config(&format!(
        "terraform {{\n  required_providers {{\n    progressive = {{ source = \"progressive-delivery/progressive\" }}\n  }}\n}}\n\nprovider \"progressive\" {{}}\n{resources}"
    ));
    tf
}

/// Applies `count` resources at once (`-parallelism` as high as their
/// count) and counts the provider's reads.
fn apply_all(emulator: &Emulator, tf: &Terraform, count: usize) -> GateReads {
    tf.run_ok(&["apply", "-auto-approve", "-no-color", &format!("-parallelism={count}")]);
    GateReads {
        describe_alarms: emulator.sdk_calls("DescribeAlarms"),
        get_metric_data: emulator.sdk_calls("GetMetricData"),
    }
}

/// Applies `gates` canary gates at once, all watching the same alarms and
/// metric for 5 s with a look every second.
pub fn concurrent_gates(gates: usize) -> GateReads {
    let emulator = shared_gates_emulator();
    let resources = format!(
        r#"
resource "progressive_canary_gate" "gate" {{
  count         = {gates}
  duration      = "5s"
  poll_interval = "1s"
{SHARED_GATES}
}}
"#
    );
    let tf = workspace(&emulator, &resources);
    apply_all(&emulator, &tf, gates)
}

/// Applies `rollouts` rollouts at once, each moving its own load balancer's
/// listener from blue to green all at once and baking `final_bake`, all
/// gated by the same alarms and metric looked at every second.
pub fn concurrent_rollouts(rollouts: usize, final_bake: &str) -> GateReads {
    let (emulator, tf) = concurrent_rollouts_bed(rollouts, final_bake);
    apply_all(&emulator, &tf, rollouts)
}

/// The emulator and working directory of [`concurrent_rollouts`], not yet
/// applied (apply with `-parallelism` of at least `rollouts` to run them all
/// at once).
pub fn concurrent_rollouts_bed(rollouts: usize, final_bake: &str) -> (Emulator, Terraform) {
    let emulator = shared_gates_emulator();
    let aws = emulator.client();
    let mut resources = String::new();
    for i in 0..rollouts {
        let fx = AlbFixture::create(&aws);
        resources.push_str(&format!(
            r#"
resource "progressive_rollout" "r{i}" {{
  alb {{
    listener_arn     = "{}"
    target_group_arn = "{}"
  }}
  final_bake    = "{final_bake}"
  poll_interval = "1s"
{SHARED_GATES}
}}
"#,
            fx.listener_arn, fx.green_arn
        ));
    }
    let tf = workspace(&emulator, &resources);
    (emulator, tf)
}
