//! Whole configurations shared by tests and benchmarks.

use crate::{Emulator, Terraform};

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
