//! Resources, one file each: schema, checks and lifecycle together.

mod analysis;
pub mod canary_gate;
pub mod codedeploy_deployment;
mod gates;
pub mod rollout;

use std::time::Duration;

use tfplugin::{AttributePath, Diagnostics, Value};
use time::OffsetDateTime;

use crate::duration;

/// How an apply that runs a gate ended, before it becomes state.
enum Outcome {
    Passed,
    /// A verdict of failure; the diagnostics say why.
    Failed(Diagnostics),
    /// Nothing was watched (bad input found late, missing alarms).
    NotStarted(Diagnostics),
    /// Watching stopped without a verdict (interrupted, AWS errors).
    Errored(Diagnostics),
}

/// A known, valid duration; errors go to `d` at `at`. Unknown or null
/// values give `None` without an error.
fn duration_of(value: &Value, at: AttributePath, d: &mut Diagnostics) -> Option<Duration> {
    let text = value.as_str()?;
    match duration::parse(text) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            d.error_at(at.clone(), format!("Invalid {}", last_name(&at)), e.to_string());
            None
        }
    }
}

fn last_name(at: &AttributePath) -> String {
    at.0.iter()
        .rev()
        .find_map(|s| match s {
            tfplugin::diag::PathStep::Attribute(a) => Some(a.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// A wholly known list of distinct, non-empty strings; errors go to `d`.
/// The longest alarm name CloudWatch takes. A name it refuses would fail
/// every gate's read in the shared DescribeAlarms call, so it is refused here.
const AWS_NAME_LIMIT: usize = 255;

fn string_list_of(value: &Value, at: AttributePath, d: &mut Diagnostics) -> Option<Vec<String>> {
    let items = value.elements()?;
    let name = last_name(&at);
    let mut out = Vec::with_capacity(items.len());
    let mut complete = true;
    for (i, item) in items.iter().enumerate() {
        let Some(s) = item.as_str() else {
            complete = false;
            continue;
        };
        let item_at = at.clone().index(i);
        if s.trim().is_empty() {
            d.error_at(item_at, format!("Empty name in {name}"), format!("Element {i} of {name} is empty."));
        } else if s.chars().count() > AWS_NAME_LIMIT {
            d.error_at(item_at, format!("Name too long in {name}"), format!("Element {i} of {name} is longer than AWS allows ({AWS_NAME_LIMIT} characters)."));
        } else if out.iter().any(|seen| seen == s) {
            d.error_at(item_at, format!("Duplicate name in {name}"), format!("{s:?} appears more than once in {name}."));
        }
        out.push(s.to_owned());
    }
    complete.then_some(out)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Every resource type with its schema, for documentation.
pub fn documented() -> Vec<(&'static str, tfplugin::Schema)> {
    vec![(canary_gate::TYPE_NAME, canary_gate::schema()), (rollout::TYPE_NAME, rollout::schema()), (codedeploy_deployment::TYPE_NAME, codedeploy_deployment::schema())]
}
