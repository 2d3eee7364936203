//! Resources, one file each: schema, checks and lifecycle together.

mod analysis;
mod appspec;
pub mod canary_gate;
pub mod codedeploy_deployment;
pub mod feature_flag;
mod flags;
mod gates;
pub mod rollout;

use std::time::Duration;

use tfplugin::{Attribute, AttributePath, Block, Diagnostics, Type, Value};
use time::OffsetDateTime;

use crate::duration;
use crate::engine::schedule::Schedule;
use crate::engine::traffic::format_percent;
use crate::engine::{Event, EventName};

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
            d.error_at(
                item_at,
                format!("Name too long in {name}"),
                format!("Element {i} of {name} is longer than AWS allows ({AWS_NAME_LIMIT} characters)."),
            );
        } else if out.iter().any(|seen| seen == s) {
            d.error_at(
                item_at,
                format!("Duplicate name in {name}"),
                format!("{s:?} appears more than once in {name}."),
            );
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
    vec![
        (canary_gate::TYPE_NAME, canary_gate::schema()),
        (rollout::TYPE_NAME, rollout::schema()),
        (codedeploy_deployment::TYPE_NAME, codedeploy_deployment::schema()),
        (feature_flag::TYPE_NAME, feature_flag::schema()),
    ]
}

/// A percentage as a Terraform number: whole when it is whole, so that
/// states written before shares could be fractional read the same.
fn percent_value(percent: f64) -> Value {
    tfplugin::Number::parse(&format_percent(percent)).map_or(Value::Null, Value::Number)
}

fn schedule_type() -> Type {
    Type::list(Type::object([("percent", Type::Number), ("bake", Type::String)]))
}

fn schedule_value(schedule: &Schedule) -> Value {
    Value::List(
        schedule
            .steps()
            .iter()
            .map(|s| Value::object([("percent", percent_value(s.percent)), ("bake", duration::format(s.bake).into())]))
            .collect(),
    )
}

/// One INFO line per shift, look and verdict, in the words of
/// [`Event::progress_line`], with the event's name and share as fields.
fn log_progress<K: EventName>(module: &str, e: &Event<K>) {
    tfplugin::log::info(
        module,
        &e.progress_line(),
        &[("event", e.kind.as_str().into()), ("percent", format_percent(e.percent).into())],
    )
}

/// A history as one line per event (`<at> <event> <percent>%: <detail>`):
/// a plan that replaces it shows one removed line per event, where a list
/// of objects shows six.
fn history_lines_type() -> Type {
    Type::list(Type::String)
}

fn history_line(at: &str, event: &str, percent: &str, detail: &str) -> String {
    format!("{at} {event} {percent}%: {detail}")
}

fn history_lines<K: EventName>(history: &[Event<K>]) -> Value {
    Value::List(
        history
            .iter()
            .map(|e| history_line(&rfc3339(e.at), e.kind.as_str(), &format_percent(e.percent), &e.detail).into())
            .collect(),
    )
}

/// The state upgrade of the resources whose schema version 1 made `history`
/// lines: a version-0 history of objects (`at`, `percent`, `event`,
/// `detail`) becomes the same lines the current code writes.
fn upgrade_history(version: i64, state: &mut serde_json::Map<String, serde_json::Value>) -> Result<(), Diagnostics> {
    if version >= 1 {
        return Ok(());
    }
    let Some(serde_json::Value::Array(events)) = state.get("history") else { return Ok(()) };
    let text =
        |e: &serde_json::Value, name: &str| e.get(name).and_then(serde_json::Value::as_str).unwrap_or("").to_owned();
    let lines = events
        .iter()
        .map(|e| {
            let percent = e.get("percent").and_then(serde_json::Value::as_f64).map(format_percent).unwrap_or_default();
            history_line(&text(e, "at"), &text(e, "event"), &percent, &text(e, "detail")).into()
        })
        .collect();
    state.insert("history".into(), serde_json::Value::Array(lines));
    Ok(())
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The `timeouts` block, with what times out (`A rollout`) in its words.
fn timeouts_block(what: &str) -> Block {
    Block::new(&format!("How long {} may take before it rolls back.", what.to_lowercase()))
        .attribute(Attribute::optional("create", Type::String, "For creation, as a Go duration. Defaults to `60m`."))
        .attribute(Attribute::optional("update", Type::String, "For updates, as a Go duration. Defaults to `60m`."))
}

/// `(create, update)` timeouts, the default where left out; errors go to `d`.
fn timeouts_of(config: &Value, what: &str, d: &mut Diagnostics) -> (Duration, Duration) {
    let mut timeout = |which: &str| {
        let at = AttributePath::root("timeouts").attribute(which);
        match duration_of(config.get("timeouts").get(which), at.clone(), d) {
            Some(Duration::ZERO) => {
                d.error_at(
                    at,
                    "Timeout of zero",
                    format!("{what} needs time; give a positive duration or leave the timeout out."),
                );
                DEFAULT_TIMEOUT
            }
            Some(t) => t,
            None => DEFAULT_TIMEOUT,
        }
    };
    (timeout("create"), timeout("update"))
}

/// `poll_interval`, at least [`MIN_POLL_INTERVAL`]; errors go to `d`.
fn poll_interval_of(config: &Value, d: &mut Diagnostics) -> Option<Duration> {
    duration_of(config.get("poll_interval"), AttributePath::root("poll_interval"), d).filter(|poll| {
        if *poll < MIN_POLL_INTERVAL {
            d.error_at(
                AttributePath::root("poll_interval"),
                "Poll interval too short",
                format!("poll_interval must be at least 1s (it is {}).", duration::format(*poll)),
            );
        }
        *poll >= MIN_POLL_INTERVAL
    })
}

/// A warning when `schedule` (every step's bake, the final one included)
/// takes as long as `timeout` or longer: the run would be stopped and
/// rolled back before it ends.
fn schedule_against_timeout(schedule: &Schedule, timeout: Duration, what: &str) -> Diagnostics {
    let total: Duration = schedule.steps().iter().map(|s| s.bake).sum();
    let mut d = Diagnostics::default();
    if total >= timeout {
        d.warning(
            "Schedule as long as the timeout",
            format!(
                "The {what}'s schedule takes {} and its timeout is {}: it would be stopped and rolled back before it ends. Raise timeouts (create and update), or choose a shorter schedule.",
                duration::format(total),
                duration::format(timeout)
            ),
        );
    }
    d
}

/// The `report_path` attribute; `contents` says what this resource's report
/// shows and `written` which applies write one.
fn report_path_attribute(contents: &str, written: &str) -> Attribute {
    Attribute::optional(
        "report_path",
        Type::String,
        &format!(
            "Where every apply that {written} writes its report, as a path prefix (relative to Terraform's working directory): `reports/web` writes `reports/web.html` (a self-contained page: {contents}), `reports/web.svg` (the timeline alone) and `reports/web.md` (a summary for a pull-request comment), creating `reports/` if needed. A report that cannot be written is a warning, never a failed apply."
        ),
    )
}

/// `report_path` from the configuration; a value that cannot be a prefix of
/// file names is an error in `d`.
fn report_path_of(config: &Value, d: &mut Diagnostics) -> Option<String> {
    let report_path = config.get("report_path").as_str()?;
    let last = report_path.rsplit(['/', '\\']).next().unwrap_or(report_path);
    if report_path.trim().is_empty() || last.is_empty() || last == "." || last == ".." {
        d.error_at(
            AttributePath::root("report_path"),
            "Invalid report_path",
            "report_path is a path prefix that the report's file names extend (`reports/web` writes `reports/web.html`, `.svg` and `.md`); it cannot be empty or end with a separator, `.` or `..`.",
        );
    }
    Some(report_path.to_owned())
}

/// Writes `report` to `<prefix>.html`, `.svg` and `.md`, creating the
/// directory; what cannot be written is a warning (the outcome stands).
fn write_report(module: &str, prefix: &str, report: &crate::report::Rollout) -> Diagnostics {
    let files = [("html", report.html()), ("svg", report.svg()), ("md", report.markdown())];
    let write = || -> std::io::Result<()> {
        if let Some(dir) = std::path::Path::new(prefix).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        for (extension, text) in files {
            std::fs::write(format!("{prefix}.{extension}"), text)?;
        }
        Ok(())
    };
    let mut d = Diagnostics::default();
    match write() {
        Ok(()) => tfplugin::log::info(module, "report written", &[("path", format!("{prefix}.html").into())]),
        Err(e) => d.warning(
            format!("{} report not written", report.subject),
            format!(
                "Could not write the report to {prefix}.html, .svg and .md: {e}. The {}'s outcome stands.",
                report.subject.to_lowercase()
            ),
        ),
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_that_cannot_be_written_is_a_warning() {
        let dir = std::env::temp_dir().join(format!("progressive-report-test-{}", std::process::id()));
        let report = crate::report::Rollout {
            subject: "Deployment",
            routing: "deployment group web/blue-green".into(),
            origin: "the running revision".into(),
            target: "revision 7".into(),
            schedule: None,
            started: OffsetDateTime::UNIX_EPOCH,
            start_percent: 0.0,
            events: &[],
            rollback_reason: None,
            unsettled: None,
            notes: &[],
        };
        let prefix = dir.join("nested/web");
        assert!(write_report("test", prefix.to_str().unwrap(), &report).0.is_empty());
        assert_eq!(std::fs::read_to_string(dir.join("nested/web.md")).unwrap(), report.markdown());
        assert!(dir.join("nested/web.html").is_file() && dir.join("nested/web.svg").is_file());
        // Under a regular file, no directory can be made.
        let d = write_report("test", dir.join("nested/web.md/x").to_str().unwrap(), &report);
        assert!(!d.has_errors(), "{d:?}");
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].summary, "Deployment report not written");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
