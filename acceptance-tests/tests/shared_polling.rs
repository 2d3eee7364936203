//! One alarm reader per provider process: concurrent gates on shared alarms
//! cost about as many DescribeAlarms calls as one gate.

use acceptance_tests::scenarios::{concurrent_gates, concurrent_rollouts};

#[test]
fn fifty_concurrent_gates_cost_about_as_many_calls_as_one() {
    let one = concurrent_gates(1);
    let fifty = concurrent_gates(50);
    // Alone, a 5 s gate looking every second reads the alarms about 7 times
    // (one check that they exist, six looks); fifty on their own would make
    // about 350 calls.
    assert!((5..=10).contains(&one), "one gate made {one} calls");
    assert!(fifty <= 3 * one, "fifty gates made {fifty} calls; one gate makes {one}");
}

/// Rollouts drift apart during their checks and lease before they bake, so
/// today their looks meet less often than gates' do: this guards what is
/// achieved (far fewer calls than fifty rollouts reading on their own), not
/// yet the goal of costing what one rollout costs (see docs/benchmarks.md).
#[test]
fn fifty_concurrent_rollouts_share_alarm_reads() {
    let one = concurrent_rollouts(1);
    let fifty = concurrent_rollouts(50);
    assert!(one >= 5, "one rollout made {one} calls");
    assert!(fifty * 3 <= one * 50, "fifty rollouts made {fifty} calls; fifty on their own would make about {}", one * 50);
}
