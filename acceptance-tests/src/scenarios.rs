//! Whole configurations shared by tests and benchmarks.

/// A configuration with one `progressive_rollout.web` on `router` (the
/// `alb` block's listener and rule lines), moving to `target`, with `body`
/// inside the resource.
pub fn rollout_config(router: &str, target: &str, body: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    progressive = {{ source = "progressive-delivery/progressive" }}
  }}
}}

provider "progressive" {{}}

resource "progressive_rollout" "web" {{
  alb {{
    {router}
    target_group_arn = "{target}"
  }}
{body}
}}
"#
    )
}

use crate::{AlbFixture, Emulator, Terraform};

/// Applies `gates` canary gates at once (`-parallelism` as high as the
/// count), all watching the same three alarms for 5 s with a look every
/// second, and returns how many DescribeAlarms calls the provider made.
pub fn concurrent_gates(gates: usize) -> usize {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alarms = ["shared-5xx", "shared-p99", "shared-errors"];
    for alarm in alarms {
        aws.put_metric_alarm(alarm);
    }
    let tf = Terraform::new(&emulator);
    tf.write_config(&format!(
        r#"
terraform {{
  required_providers {{
    progressive = {{ source = "progressive-delivery/progressive" }}
  }}
}}

provider "progressive" {{}}

resource "progressive_canary_gate" "gate" {{
  count         = {gates}
  alarm_names   = ["shared-5xx", "shared-p99", "shared-errors"]
  duration      = "5s"
  poll_interval = "1s"
}}
"#
    ));
    tf.run_ok(&["apply", "-auto-approve", "-no-color", &format!("-parallelism={gates}")]);
    emulator.sdk_calls("DescribeAlarms")
}

/// Applies `rollouts` rollouts at once, each moving its own load balancer's
/// listener from blue to green all at once with a 5 s final bake, all gated
/// by the same three alarms polled every second; returns how many
/// DescribeAlarms calls the provider made.
pub fn concurrent_rollouts(rollouts: usize) -> usize {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alarms = ["shared-5xx", "shared-p99", "shared-errors"];
    for alarm in alarms {
        aws.put_metric_alarm(alarm);
    }
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
  final_bake    = "5s"
  alarm_names   = ["shared-5xx", "shared-p99", "shared-errors"]
  poll_interval = "1s"
}}
"#,
            fx.listener_arn, fx.green_arn
        ));
    }
    let tf = Terraform::new(&emulator);
    tf.write_config(&format!(
        "terraform {{\n  required_providers {{\n    progressive = {{ source = \"progressive-delivery/progressive\" }}\n  }}\n}}\n\nprovider \"progressive\" {{}}\n{resources}"
    ));
    tf.run_ok(&["apply", "-auto-approve", "-no-color", &format!("-parallelism={rollouts}")]);
    emulator.sdk_calls("DescribeAlarms")
}
