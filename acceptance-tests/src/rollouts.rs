//! What the `progressive_rollout` tests of every router read and wait for:
//! the resource's state values and history, a polling wait, and the lease a
//! killed apply leaves behind.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Running, Terraform};

/// The state values of the resource at `address`.
///
/// # Panics
/// If the state has no such resource.
pub fn values(tf: &Terraform, address: &str) -> Value {
    tf.resource(address).unwrap_or_else(|| panic!("{address} not in state"))["values"].clone()
}

/// With `UPDATE_EXAMPLES=1`, copies the report at `prefix` (`.html`, `.svg`,
/// `.md`) to `examples/report/<name>.*`, the examples the README shows.
pub fn keep_report_as_example(prefix: &std::path::Path, name: &str) {
    if std::env::var_os("UPDATE_EXAMPLES").is_none() {
        return;
    }
    let examples = crate::workspace_root().join("examples/report");
    std::fs::create_dir_all(&examples).unwrap();
    for extension in ["html", "svg", "md"] {
        let from = prefix.with_extension(extension);
        std::fs::copy(&from, examples.join(format!("{name}.{extension}")))
            .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

/// A history (from a resource's state `values`) as (event, percent) pairs.
/// Percents may be fractional (Route 53 sends 0.5%).
pub fn events(values: &Value) -> Vec<(String, f64)> {
    history(values).iter().map(|e| (e["event"].as_str().unwrap().to_owned(), e["percent"].as_f64().unwrap())).collect()
}

/// A history (`<at> <event> <percent>%: <detail>` per line) taken apart
/// into objects with those fields; whole percents are integers, as the
/// provider writes them.
pub fn history(values: &Value) -> Vec<Value> {
    let line = |text: &str| {
        let (at, rest) = text.split_once(' ').unwrap_or_else(|| panic!("no time in {text:?}"));
        let (event, rest) = rest.split_once(' ').unwrap_or_else(|| panic!("no event in {text:?}"));
        let (percent, detail) = rest.split_once("%: ").unwrap_or_else(|| panic!("no percent in {text:?}"));
        let percent: serde_json::Number = percent.parse().unwrap_or_else(|_| panic!("bad percent in {text:?}"));
        serde_json::json!({ "at": at, "event": event, "percent": percent, "detail": detail })
    };
    values["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history: {values}"))
        .iter()
        .map(|e| line(e.as_str().unwrap_or_else(|| panic!("a history line, not {e}"))))
        .collect()
}

/// Expected history, to compare with [`events`]: `ev(&[("shift", 20), ("baked", 20)])`
/// or with fractional percents, `ev(&[("shift", 0.5)])`.
pub fn ev<P: Into<f64> + Copy>(list: &[(&str, P)]) -> Vec<(String, f64)> {
    list.iter().map(|(e, p)| ((*e).to_owned(), (*p).into())).collect()
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}

/// SIGKILLs an apply: Terraform and the provider (its whole process group)
/// die at once, with no chance to roll back or release the lease.
pub fn kill(running: Running) {
    running.signal_group(libc::SIGKILL);
    let _ = running.finish_within(Duration::from_secs(10));
}

/// When the lease record `value` (`<RFC 3339 expiry> <holder>`) lapses.
pub fn lease_expiry(value: &str) -> time::OffsetDateTime {
    let (expires, _holder) = value.split_once(' ').unwrap_or_else(|| panic!("not a lease record: {value:?}"));
    time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("lease expiry {expires:?}: {e}"))
}

/// Waits until the lease record `value` has lapsed (it lasts 20 s unrenewed).
///
/// # Panics
/// If it has not lapsed 40 s on.
pub fn wait_for_lapse(value: &str) {
    let expires = lease_expiry(value);
    let lapsed =
        wait_until(Duration::from_secs(40), || time::OffsetDateTime::now_utc() > expires + Duration::from_millis(500));
    assert!(lapsed, "the lease {value:?} never lapsed");
}
