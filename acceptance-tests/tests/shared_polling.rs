//! One alarm reader and one metric reader per provider process: concurrent
//! gates and rollouts on shared alarms and metrics cost about as many
//! DescribeAlarms and GetMetricData calls as one does (figures in
//! benchmarks/README.md).

use acceptance_tests::scenarios::{GateReads, concurrent_gates, concurrent_rollouts};

/// Alone, a 5 s bake looking every second reads each kind of data about 6
/// or 7 times (one check that the alarms exist, six looks); fifty on their
/// own would make about 350 calls of each.
fn assert_alone(one: GateReads) {
    assert!((5..=10).contains(&one.describe_alarms), "one made {one:?}");
    assert!((5..=10).contains(&one.get_metric_data), "one made {one:?}");
}

#[test]
fn fifty_concurrent_gates_cost_about_as_many_calls_as_one() {
    let one = concurrent_gates(1);
    let fifty = concurrent_gates(50);
    assert_alone(one);
    assert!(fifty.describe_alarms <= 2 * one.describe_alarms, "fifty gates made {fifty:?}; one gate makes {one:?}");
    assert!(fifty.get_metric_data <= 2 * one.get_metric_data, "fifty gates made {fifty:?}; one gate makes {one:?}");
}

/// Rollouts' checks, looks and last looks meet on the poll grid; what is
/// left is the spread of their starts (the emulator serves one request at a
/// time, and more so under the test command's load): rollouts that reach
/// their check after a grid point check at the next one and end a look
/// later. Quiet, fifty cost 1.14 and 1.17 times one (benchmarks/README.md);
/// under load, a call or two more.
#[test]
fn fifty_concurrent_rollouts_share_alarm_and_metric_reads() {
    let one = concurrent_rollouts(1, "5s");
    let fifty = concurrent_rollouts(50, "5s");
    assert_alone(one);
    assert!(fifty.describe_alarms <= one.describe_alarms + 3, "fifty rollouts made {fifty:?}; one makes {one:?}");
    assert!(fifty.get_metric_data <= one.get_metric_data + 3, "fifty rollouts made {fifty:?}; one makes {one:?}");
}
