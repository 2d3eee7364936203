//! One alarm reader per provider process: concurrent gates on shared alarms
//! cost about as many DescribeAlarms calls as one gate.

use acceptance_tests::scenarios::concurrent_gates;

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
