//! States written by earlier releases, and by the current code, plan no
//! changes; so does an import of a minimal configuration.

use acceptance_tests::{AlbBed, workspace_root};

/// A file of `fixtures/<dir>/`, with the load balancer's placeholders
/// (`${listener_arn}`, `${green_arn}`, `${blue_arn}`) filled in.
fn fixture(dir: &str, name: &str, bed: &AlbBed) -> String {
    let text = std::fs::read_to_string(fixtures().join(dir).join(name)).expect("fixture");
    text.replace("${listener_arn}", &bed.fx.listener_arn)
        .replace("${green_arn}", &bed.fx.green_arn)
        .replace("${blue_arn}", &bed.fx.blue_arn)
}

fn fixtures() -> std::path::PathBuf {
    workspace_root().join("acceptance-tests/fixtures")
}

/// Plans `dir`'s configuration over its stored state (`state.json`, a
/// `terraform.tfstate` named so that the repository's ignore rules keep
/// it) with green serving, as the states say.
fn plan_exit_code_over(dir: &str) -> (i32, String) {
    let b = AlbBed::start();
    b.aws.put_metric_alarm("web-5xx");
    b.aws.set_listener_weights(&b.fx.listener_arn, &[(&b.fx.green_arn, 1)]);
    b.tf.write_config(&fixture(dir, "main.tf", &b));
    std::fs::write(b.tf.workdir().join("terraform.tfstate"), fixture(dir, "state.json", &b)).unwrap();
    let out = b.tf.run(&["plan", "-no-color", "-detailed-exitcode"]);
    (out.code().unwrap_or(-1), out.combined())
}

/// `fixtures/state-schema-0/`: what a build before the first release wrote
/// (schema version 0: `history` as objects) for a promoted canary rollout
/// with alarms and an analysis.
#[test]
fn rollout_state_of_schema_0_plans_no_changes() {
    let (code, out) = plan_exit_code_over("state-schema-0");
    assert_eq!(code, 0, "{out}");
}

/// `fixtures/state-main/`: what the current code writes for a promoted
/// rollout using every block (alarms, a metric, an analysis with latency,
/// timeouts). `UPDATE_FIXTURES=1` rewrites it by applying the
/// configuration; when a release is cut, it is copied to
/// `state-<version>/` and kept, as `state-schema-0/` is.
#[test]
fn rollout_state_written_by_the_current_code_plans_no_changes() {
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        let b = AlbBed::start();
        b.aws.put_metric_alarm("web-5xx");
        b.tf.write_config(&fixture("state-main", "main.tf", &b));
        let out = b.tf.apply();
        assert!(out.success(), "{}", out.combined());
        let state = std::fs::read_to_string(b.tf.workdir().join("terraform.tfstate")).unwrap();
        let placeholders = state
            .replace(&b.fx.listener_arn, "${listener_arn}")
            .replace(&b.fx.green_arn, "${green_arn}")
            .replace(&b.fx.blue_arn, "${blue_arn}");
        std::fs::write(fixtures().join("state-main/state.json"), placeholders).unwrap();
    }
    let (code, out) = plan_exit_code_over("state-main");
    assert_eq!(code, 0, "{out}");
}

/// `fixtures/import-minimal/`: an `import` block and a configuration with
/// nothing but the routing and its serving target group.
#[test]
fn rollout_import_of_a_minimal_configuration_plans_no_changes() {
    let b = AlbBed::start();
    b.tf.write_config(&fixture("import-minimal", "main.tf", &b));
    let out = b.tf.run(&["plan", "-no-color", "-detailed-exitcode"]);
    let squashed = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(squashed.contains("Plan: 1 to import, 0 to add, 0 to change, 0 to destroy."), "{}", out.combined());
    let out = b.tf.run(&["apply", "-auto-approve", "-no-color"]);
    assert!(out.success(), "{}", out.combined());
    assert_eq!(b.tf.plan_exit_code(), 0, "after the import, the minimal configuration plans no changes");
    assert_eq!(b.listener_percentages(), [(b.fx.blue_arn.clone(), 100)].into(), "importing moved nothing");
}
