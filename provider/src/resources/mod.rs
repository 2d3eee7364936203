//! Resources, one file each: schema, checks and lifecycle together.

pub mod canary_gate;

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

/// A known, valid duration attribute; errors go to `d`. Unknown or null
/// attributes give `None` without an error.
fn duration_at(value: &Value, name: &str, d: &mut Diagnostics) -> Option<Duration> {
    let text = value.get(name).as_str()?;
    match duration::parse(text) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            d.error_at(AttributePath::root(name), format!("Invalid {name}"), e.to_string());
            None
        }
    }
}

/// A wholly known list of distinct, non-empty strings; errors go to `d`.
fn string_list_at(value: &Value, name: &str, d: &mut Diagnostics) -> Option<Vec<String>> {
    let items = value.get(name).elements()?;
    let mut out = Vec::with_capacity(items.len());
    let mut complete = true;
    for (i, item) in items.iter().enumerate() {
        let Some(s) = item.as_str() else {
            complete = false;
            continue;
        };
        let at = AttributePath::root(name).index(i);
        if s.trim().is_empty() {
            d.error_at(at, format!("Empty name in {name}"), format!("Element {i} of {name} is empty."));
        } else if out.iter().any(|seen| seen == s) {
            d.error_at(at, format!("Duplicate name in {name}"), format!("{s:?} appears more than once in {name}."));
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
    vec![(canary_gate::TYPE_NAME, canary_gate::schema())]
}
