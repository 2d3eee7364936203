//! The guides in `docs/guides/` against the real Terraform and the real
//! provider. Every ```terraform (or ```hcl) block in a guide is a whole
//! configuration, as a reader would copy it. The AWS provider cannot be
//! installed here, so the test checks the provider's part of each one:
//!
//! 1. Every top-level `resource "aws_..."`, `data "aws_..."` and
//!    `provider "aws"` block, and the `aws = {...}` entry of
//!    `required_providers`, is dropped (blocks end where their braces
//!    balance; braces inside strings must balance too, as they do in
//!    interpolations).
//! 2. Every reference to an AWS object (`aws_lb_listener.https.arn`,
//!    `data.aws_lb.shared.arn_suffix`) becomes an input variable, whose value
//!    is the real object in the emulator where the provider reads it: the
//!    listener, rule and blue/green target groups of an [`AlbFixture`], and
//!    an alarm created under the referenced resource's name. Other
//!    references get a placeholder string.
//! 3. The guide's own variables get values from [`GUIDE_VARIABLES`].
//!
//! The whole configuration must be formatted as `terraform fmt` writes it
//! (which also means it parses). Then `terraform validate` must pass (unknown or misspelled attributes,
//! wrong types) and `terraform plan` must plan to create every `progressive_*`
//! resource of the configuration, with the provider's plan-time checks
//! against the emulator (the listener forwards, the target group exists).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use acceptance_tests::rollouts::wait_until;
use acceptance_tests::scenarios::rollout_config;
use acceptance_tests::{AlbBed, Terraform, workspace_root};
use serde_json::{Value, json};

/// Values for the variables the guides declare, besides `listener_arn` and
/// `target_group_arns` (the fixture's), passed in a `.tfvars.json` file (Terraform only warns
/// about values for undeclared variables). A guide that declares a variable
/// missing here fails with "No value for required variable".
const GUIDE_VARIABLES: &[(&str, &str)] = &[
    ("release", "\"green\""),
    ("image", "\"registry.example.com/worker:2.4.1\""),
    ("vpc_id", "\"vpc-0123456789abcdef0\""),
    ("subnet_ids", "[\"subnet-0123456789abcdef0\", \"subnet-0fedcba9876543210\"]"),
    ("certificate_arn", "\"arn:aws:acm:us-east-1:123456789012:certificate/guide\""),
    ("cluster_arn", "\"arn:aws:ecs:us-east-1:123456789012:cluster/workers\""),
    ("queue_url", "\"https://sqs.us-east-1.amazonaws.com/123456789012/jobs\""),
];

fn guides_dir() -> PathBuf {
    workspace_root().join("docs/guides")
}

/// Every guide, as (file stem, text), in name order.
fn guides() -> Vec<(String, String)> {
    let mut guides: Vec<(String, String)> = std::fs::read_dir(guides_dir())
        .expect("docs/guides exists")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        })
        .collect();
    guides.sort();
    guides
}

fn guide(name: &str) -> String {
    let path = guides_dir().join(format!("{name}.md"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ```terraform and ```hcl blocks of a Markdown text.
fn configurations(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```terraform" | "```hcl") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "a code block is not closed");
    blocks
}

/// The front matter's keys and values (`key: "value"`, or `key: |-`
/// followed by indented lines), or `None` without one.
fn front_matter(markdown: &str) -> Option<BTreeMap<String, String>> {
    let rest = markdown.strip_prefix("---\n")?;
    let (yaml, _) = rest.split_once("\n---\n")?;
    let mut fields = BTreeMap::new();
    let mut folded: Option<String> = None;
    for line in yaml.lines() {
        if let (Some(key), Some(text)) = (&folded, line.strip_prefix("  ")) {
            let value: &mut String = fields.entry(key.clone()).or_default();
            value.push_str(if value.is_empty() { "" } else { "\n" });
            value.push_str(text);
            continue;
        }
        let (key, value) = line.split_once(':')?;
        let value = value.trim();
        folded = (value == "|-").then(|| key.to_owned());
        let value = if folded.is_some() { String::new() } else { serde_json::from_str::<String>(value).ok()? };
        fields.insert(key.to_owned(), value);
    }
    Some(fields)
}

/// A guide configuration without its AWS provider parts: the text, and the
/// references to AWS objects that became variables (variable name →
/// reference).
struct ProviderPart {
    config: String,
    inputs: BTreeMap<String, String>,
}

fn provider_part(config: &str) -> ProviderPart {
    let kept = drop_aws_blocks(config);
    let mut inputs = BTreeMap::new();
    let mut out = String::new();
    let mut rest = kept.as_str();
    while let Some((before, reference, after)) = next_aws_reference(rest) {
        let variable = reference.replace('.', "__");
        out.push_str(before);
        out.push_str(&format!("var.{variable}"));
        inputs.insert(variable, reference.to_owned());
        rest = after;
    }
    out.push_str(rest);
    ProviderPart { config: out, inputs }
}

/// `config` without the AWS provider's blocks and `required_providers` entry.
fn drop_aws_blocks(config: &str) -> String {
    let mut kept = String::new();
    let mut depth = 0i64;
    let mut dropping_until: Option<i64> = None;
    for line in config.lines() {
        let trimmed = line.trim_start();
        let starts_aws_block = depth == 0
            && (trimmed.starts_with("resource \"aws_")
                || trimmed.starts_with("data \"aws_")
                || trimmed.starts_with("provider \"aws\""));
        let starts_aws_requirement = trimmed.starts_with("aws ") && trimmed.contains('{');
        if dropping_until.is_none() && (starts_aws_block || starts_aws_requirement) {
            dropping_until = Some(depth);
        }
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        match dropping_until {
            Some(level) if depth <= level => dropping_until = None,
            Some(_) => {}
            None => {
                kept.push_str(line);
                kept.push('\n');
            }
        }
    }
    assert_eq!(depth, 0, "unbalanced braces in:\n{config}");
    kept
}

/// The first reference to an AWS object in `text` (`aws_T.N.A` or
/// `data.aws_T.N.A`), with the text before and after it.
fn next_aws_reference(text: &str) -> Option<(&str, &str, &str)> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut from = 0;
    while let Some(found) = text[from..].find("aws_") {
        let mut start = from + found;
        from = start + 4;
        if text[..start].ends_with("data.") {
            start -= 5;
        }
        if text[..start].chars().next_back().is_some_and(|c| is_ident(c) || c == '.' || c == '"') {
            continue;
        }
        let len = text[start..].find(|c: char| !(is_ident(c) || c == '.')).unwrap_or(text.len() - start);
        let reference = text[start..start + len].trim_end_matches('.');
        let parts = reference.trim_start_matches("data.").split('.').count();
        if parts == 3 {
            return Some((&text[..start], reference, &text[start + reference.len()..]));
        }
    }
    None
}

/// The value a reference to an AWS object stands for in the emulator.
fn input_value(bed: &AlbBed, reference: &str) -> String {
    let parts: Vec<&str> = reference.trim_start_matches("data.").split('.').collect();
    match parts[..] {
        ["aws_lb_listener", _, "arn"] => bed.fx.listener_arn.clone(),
        ["aws_lb_listener_rule", _, "arn"] => bed.fx.rule_arn.clone(),
        ["aws_lb_target_group", name, "arn"] if name.contains("green") => bed.fx.green_arn.clone(),
        ["aws_lb_target_group", name, "arn"] if name.contains("blue") => bed.fx.blue_arn.clone(),
        ["aws_cloudwatch_metric_alarm", name, "alarm_name"] => {
            bed.aws.put_metric_alarm(name);
            name.to_owned()
        }
        _ => format!("guide-placeholder-{}", parts.join("-")),
    }
}

/// Addresses of the `progressive_*` resources a configuration declares.
fn progressive_resources(config: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|line| line.strip_prefix("resource \"progressive_"))
        .map(|rest| {
            let mut quoted = rest.split('"');
            let kind = quoted.next().unwrap();
            let name = quoted.nth(1).unwrap();
            format!("progressive_{kind}.{name}")
        })
        .collect()
}

/// Writes the provider's part of `config` into a new working directory with
/// its inputs, and runs `terraform validate`.
fn prepare(bed: &AlbBed, config: &str) -> (Terraform, ProviderPart) {
    let part = provider_part(config);
    let tf = Terraform::new(&bed.emulator);
    tf.write_config(&part.config);
    let declarations: String =
        part.inputs.keys().map(|name| format!("variable \"{name}\" {{\n  type = string\n}}\n")).collect();
    tf.write_file("guide_inputs.tf", &declarations);
    let mut values: serde_json::Map<String, Value> = GUIDE_VARIABLES
        .iter()
        .map(|(name, value)| ((*name).to_owned(), serde_json::from_str(value).expect("JSON value")))
        .collect();
    values.insert("listener_arn".to_owned(), json!(bed.fx.listener_arn));
    values.insert("target_group_arns".to_owned(), json!({ "blue": bed.fx.blue_arn, "green": bed.fx.green_arn }));
    values.extend(part.inputs.iter().map(|(name, reference)| (name.clone(), json!(input_value(bed, reference)))));
    tf.write_file("guide.auto.tfvars.json", &Value::Object(values).to_string());
    (tf, part)
}

/// Checks every configuration of the guide `name` (see the module docs).
fn check_guide(name: &str) {
    let configs = configurations(&guide(name));
    assert!(!configs.is_empty(), "{name}: no configuration to check");
    let bed = AlbBed::start();
    for (i, config) in configs.iter().enumerate() {
        let (tf, part) = prepare(&bed, config);
        let context = format!("{name}.md, configuration {} of {}", i + 1, configs.len());
        // The whole configuration, AWS parts included, parses and is laid
        // out as `terraform fmt` would (this needs no provider).
        tf.write_file("whole/main.tf", config);
        let formatted = tf.run(&["fmt", "-check", "-diff", "-no-color", "whole"]);
        assert!(formatted.success(), "{context}: not as terraform fmt writes it:\n{}", formatted.combined());
        let validated = tf.run(&["validate", "-no-color"]);
        assert!(validated.success(), "{context}:\n{}\n{}", part.config, validated.combined());

        let planned = tf.run(&["plan", "-detailed-exitcode", "-no-color", "-out=guide.tfplan"]);
        assert_eq!(planned.code(), Some(2), "{context}:\n{}\n{}", part.config, tf.failure_report(&["plan"], &planned));
        let plan: Value = serde_json::from_str(&tf.run_ok(&["show", "-json", "guide.tfplan"]).stdout).expect("JSON");
        let changes = plan["resource_changes"].as_array().expect("resource_changes");
        let expected = progressive_resources(&part.config);
        assert!(!expected.is_empty(), "{context}: no progressive_* resource");
        for address in expected {
            let change = changes
                .iter()
                .find(|c| c["address"] == address.as_str())
                .unwrap_or_else(|| panic!("{context}: {address} is not in the plan"));
            assert_eq!(change["change"]["actions"], json!(["create"]), "{context}: {address}");
            if address.starts_with("progressive_rollout.") {
                let schedule = &change["change"]["after"]["schedule"];
                assert!(schedule.as_array().is_some_and(|s| !s.is_empty()), "{context}: {address}: {schedule}");
            }
        }
    }
}

/// The guides with a test of their own below; every guide must be one.
const CHECKED_GUIDES: [&str; 4] = ["aws-provider", "opentofu", "pipeline", "rings"];

#[test]
fn guide_aws_provider() {
    check_guide("aws-provider");
}

#[test]
fn guide_rings() {
    check_guide("rings");
}

#[test]
fn guide_pipeline() {
    check_guide("pipeline");
}

#[test]
fn guide_opentofu() {
    check_guide("opentofu");
}

/// The check fails on what it is there to catch: a misspelled attribute and
/// a value of the wrong type.
#[test]
fn guide_check_catches_unknown_attributes_and_wrong_types() {
    let bed = AlbBed::start();
    let config = configurations(&guide("aws-provider")).remove(0);
    for (from, to, complaint) in [
        ("final_bake = ", "final_bakes = ", "Unsupported argument"),
        ("percent = 5\n", "percent = [5]\n", "Incorrect attribute value type"),
    ] {
        assert!(config.contains(from), "the guide's first configuration has no {from:?}");
        let (tf, _) = prepare(&bed, &config.replacen(from, to, 1));
        tf.run(&["validate", "-no-color"]).assert_failed_with(&[complaint]);
    }
}

#[test]
fn every_guide_has_registry_front_matter_and_is_linked() {
    let guides = guides();
    let names: Vec<&str> = guides.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, CHECKED_GUIDES, "every guide needs a test that checks its configurations");
    let index = std::fs::read_to_string(workspace_root().join("docs/index.md")).unwrap();
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let mut titles = Vec::new();
    for (name, text) in &guides {
        let fields = front_matter(text).unwrap_or_else(|| panic!("{name}.md: no front matter"));
        let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["description", "page_title", "subcategory"], "{name}.md");
        let title = &fields["page_title"];
        let heading = title.strip_suffix(" - progressive").unwrap_or_else(|| panic!("{name}.md: title {title:?}"));
        assert!(text.contains(&format!("\n# {heading}\n")), "{name}.md: no `# {heading}` heading");
        assert!(!fields["description"].trim().is_empty(), "{name}.md: empty description");
        titles.push(title.clone());

        assert!(index.contains(&format!("/latest/docs/guides/{name})")), "docs/index.md does not link {name}");
        assert!(readme.contains(&format!("(docs/guides/{name}.md)")), "README.md does not link {name}");
        for target in relative_links(text) {
            let path = guides_dir().join(format!("{target}.md"));
            assert!(path.exists(), "{name}.md links {target}, but there is no {}", path.display());
        }
    }
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), guides.len(), "two guides share a title");
}

/// Links between Registry pages, relative to the guide's address
/// (`.../docs/guides/pipeline`): `aws-provider`, `../resources/rollout`; no
/// `.md`, as the Registry serves pages without it. (docs/index.md, served at
/// `.../docs`, links the guides by absolute URL: relative to it, `guides/x`
/// would leave `docs/`.)
fn relative_links(markdown: &str) -> Vec<String> {
    markdown
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.split('#').next().unwrap_or_default()))
        .filter(|target| !target.is_empty() && !target.contains("://"))
        .map(str::to_owned)
        .collect()
}

/// What the pipeline guide says about a CI job that is cancelled: SIGTERM to
/// the job's process group (Terraform and the provider) rolls the release
/// back, the apply exits 1 and the state says `interrupted`; the next plan
/// shows the release again, and setting the target back to what serves
/// plans nothing.
#[test]
fn pipeline_guide_sigterm_rolls_back() {
    let bed = AlbBed::start();
    bed.aws.put_metric_alarm("web-5xx");
    let listener = format!("listener_arn = \"{}\"", bed.fx.listener_arn);
    let body = "  canary {\n    percent = 10\n    bake    = \"10m\"\n  }\n  alarm_names   = [\"web-5xx\"]\n  poll_interval = \"1s\"";
    let release = |target: &str| bed.tf.write_config(&rollout_config(&listener, target, body));
    // Created on what serves (blue), so that the release is an update, as in
    // a pipeline: a create that fails leaves the resource tainted instead.
    release(&bed.fx.blue_arn);
    bed.tf.run_ok(&["apply", "-auto-approve", "-no-color"]);
    release(&bed.fx.green_arn);
    let running = bed.tf.spawn(&["apply", "-auto-approve", "-no-color"]);
    let canary = || bed.listener_percentages().get(&bed.fx.green_arn) == Some(&10);
    assert!(wait_until(Duration::from_secs(60), canary), "no canary:\n{}", running.stdout_so_far());
    running.terminate();
    let out = running.finish_within(Duration::from_secs(60));
    out.assert_failed_with(&["Rollout interrupted: Terraform was interrupted", "All traffic is back on"]);
    assert_eq!(bed.listener_percentages(), BTreeMap::from([(bed.fx.blue_arn.clone(), 100)]));
    let state = bed.tf.resource("progressive_rollout.web").expect("in state");
    assert_eq!(state["values"]["status"], "interrupted");
    assert_eq!(state["values"]["alb"]["target_group_arn"], bed.fx.blue_arn.as_str());
    assert_eq!(bed.tf.plan_exit_code(), 2, "the next plan shows the release again");
    release(&bed.fx.blue_arn);
    let plan = bed.tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(plan.code(), Some(0), "giving up the release plans nothing:\n{}", plan.combined());
}

#[test]
fn provider_part_drops_aws_and_turns_references_into_inputs() {
    let config = r#"terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
    progressive = { source = "progressive-delivery/progressive" }
  }
}
provider "aws" {
  region = "us-east-1"
}
data "aws_lb" "shared" {
  arn = "x"
}
resource "aws_lb_listener" "https" {
  default_action {
    type = "forward"
  }
}
resource "progressive_rollout" "web" {
  alb {
    listener_arn     = aws_lb_listener.https.arn
    target_group_arn = var.release == "green" ? aws_lb_target_group.green.arn : data.aws_lb.shared.arn_suffix
  }
}
"#;
    let part = provider_part(config);
    assert_eq!(
        part.config,
        r#"terraform {
  required_providers {
    progressive = { source = "progressive-delivery/progressive" }
  }
}
resource "progressive_rollout" "web" {
  alb {
    listener_arn     = var.aws_lb_listener__https__arn
    target_group_arn = var.release == "green" ? var.aws_lb_target_group__green__arn : var.data__aws_lb__shared__arn_suffix
  }
}
"#
    );
    assert_eq!(
        part.inputs.values().collect::<Vec<_>>(),
        ["aws_lb_listener.https.arn", "aws_lb_target_group.green.arn", "data.aws_lb.shared.arn_suffix"]
    );
}
