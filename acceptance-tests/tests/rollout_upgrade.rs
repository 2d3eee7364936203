//! States written by earlier releases plan no changes after an upgrade.

use acceptance_tests::{AlbBed, workspace_root};

/// `fixtures/state-0.1.0/`: the configuration (`main.tf`) and the state
/// (`state.json`, a `terraform.tfstate`; named so that the repository's
/// ignore rules keep it) that release 0.1.0 wrote for a promoted canary
/// rollout with alarms and an analysis (the load balancer's ARNs replaced
/// by placeholders).
fn fixture(name: &str, bed: &AlbBed) -> String {
    let text = std::fs::read_to_string(workspace_root().join("acceptance-tests/fixtures/state-0.1.0").join(name)).expect("fixture");
    text.replace("${listener_arn}", &bed.fx.listener_arn).replace("${green_arn}", &bed.fx.green_arn).replace("${blue_arn}", &bed.fx.blue_arn)
}

#[test]
fn rollout_state_from_release_0_1_0_plans_no_changes() {
    let b = AlbBed::start();
    b.aws.put_metric_alarm("web-5xx");
    // As the fixture's state says: green promoted.
    b.aws.set_listener_weights(&b.fx.listener_arn, &[(&b.fx.green_arn, 1)]);
    b.tf.write_config(&fixture("main.tf", &b));
    std::fs::write(b.tf.workdir().join("terraform.tfstate"), fixture("state.json", &b)).unwrap();
    let out = b.tf.run(&["plan", "-no-color", "-detailed-exitcode"]);
    assert_eq!(out.code(), Some(0), "{}", out.combined());
}
