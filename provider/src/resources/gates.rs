//! Gate settings both resources accept: `metric` blocks (threshold gates on
//! any CloudWatch query or metric math) and `on_missing_data`.

use std::sync::Arc;
use std::time::Duration;

use tfplugin::{Attribute, AttributePath, Block, Diagnostics, Type, Value};

use super::duration_of;
use crate::aws::cloudwatch::{CloudWatchMetric, MetricQuerySpec};
use crate::aws::metric_data::MetricData;
use crate::duration;
use crate::engine::analysis::MissingData;
use crate::engine::metric::{Comparison, MetricCheck, MetricGate};
use crate::engine::poller::Poller;

pub const DEFAULT_ON_MISSING_DATA: &str = "wait";
const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
const DEFAULT_PERIOD: Duration = Duration::from_secs(60);
const BASIC_STATS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

pub fn metric_block() -> Block {
    Block::new("A threshold gate on any CloudWatch metric query, or on metric math over several. Each look reads the newest value within the last `window` and compares it with `threshold`; the gate fails after `failures` consecutive looks that breach the condition. Repeat the block for several metrics.")
        .attribute(Attribute::required("name", Type::String, "A name for messages and history, unique among the metric blocks."))
        .attribute(Attribute::optional("expression", Type::String, "CloudWatch metric math over the `id`s of the query blocks, such as `100*m1/m2`; its value is compared. Without it, there must be exactly one query block."))
        .attribute(Attribute::required("comparison", Type::String, "The healthy condition, value against threshold: `<`, `<=`, `>` or `>=`."))
        .attribute(Attribute::required("threshold", Type::Number, "The value compared against."))
        .attribute(Attribute::optional("window", Type::String, "How far back to look for the newest value, as a Go duration. Defaults to `5m`."))
        .attribute(Attribute::optional("failures", Type::Number, "Consecutive breaching looks before the gate fails. Defaults to 1."))
        .block(
            "query",
            tfplugin::Nesting::List,
            Block::new("A CloudWatch metric and statistic.")
                .attribute(Attribute::optional("id", Type::String, "Name for `expression` to refer to (lowercase letter first, then letters, digits, `_`); required with an expression."))
                .attribute(Attribute::required("namespace", Type::String, "Such as `AWS/ApplicationELB`."))
                .attribute(Attribute::required("metric_name", Type::String, "Such as `TargetResponseTime`."))
                .attribute(Attribute::optional("dimensions", Type::map(Type::String), "Dimension names and values."))
                .attribute(Attribute::required("stat", Type::String, "`Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount`, or a percentile such as `p99`."))
                .attribute(Attribute::optional("period", Type::String, "Period of the statistic, as a Go duration: 1s, 5s, 10s, 30s or a multiple of 60s. Defaults to `60s`.")),
        )
}

pub fn on_missing_data_attribute(what: &str) -> Attribute {
    Attribute::defaulted(
        "on_missing_data",
        Type::String,
        DEFAULT_ON_MISSING_DATA,
        &format!(
            "What {what} do while there is no data: `wait` (no evidence is not a pass: the gate holds until data comes, up to the time limit), `fail` or `ignore` (pass). Alarms are not affected: their `INSUFFICIENT_DATA` never fails a gate."
        ),
    )
}

pub fn on_missing_data(config: &Value, d: &mut Diagnostics) -> MissingData {
    match config.get("on_missing_data").as_str() {
        None | Some("wait") => MissingData::Wait,
        Some("fail") => MissingData::Fail,
        Some("ignore") => MissingData::Ignore,
        Some(other) => {
            d.error_at(
                AttributePath::root("on_missing_data"),
                "Invalid on_missing_data",
                format!("on_missing_data must be \"wait\", \"fail\" or \"ignore\", not {other:?}."),
            );
            MissingData::Wait
        }
    }
}

/// Whether CloudWatch accepts `p` as a period.
pub fn valid_period(p: Duration) -> bool {
    p.subsec_nanos() == 0
        && ([1, 5, 10, 30].contains(&p.as_secs()) || (p.as_secs() > 0 && p.as_secs().is_multiple_of(60)))
}

/// A CloudWatch period attribute; errors at `at`.
pub fn period_of(value: &Value, at: AttributePath, default: Duration, d: &mut Diagnostics) -> Option<Duration> {
    if value.is_null() {
        return Some(default);
    }
    let period = duration_of(value, at.clone(), d)?;
    if !valid_period(period) {
        d.error_at(
            at,
            "Invalid period",
            format!("CloudWatch periods are 1s, 5s, 10s, 30s or a multiple of 60s, not {}.", duration::format(period)),
        );
        return None;
    }
    Some(period)
}

fn valid_stat(stat: &str) -> bool {
    BASIC_STATS.contains(&stat)
        || stat.strip_prefix('p').and_then(|n| n.parse::<f64>().ok()).is_some_and(|n| (0.0..=100.0).contains(&n))
}

fn valid_id(id: &str) -> bool {
    id.len() <= 255
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A threshold gate, ready for the engine and the CloudWatch adapter.
pub struct MetricGateSpec {
    pub check: MetricCheck,
    pub queries: Vec<MetricQuerySpec>,
    pub expression: Option<String>,
}

impl MetricGateSpec {
    /// The engine's gate over CloudWatch for this block.
    pub fn gate(&self, reader: &Arc<Poller<MetricData>>) -> MetricGate<CloudWatchMetric> {
        let source = CloudWatchMetric {
            reader: reader.clone(),
            queries: self.queries.clone(),
            expression: self.expression.clone(),
        };
        MetricGate::new(source, self.check.clone())
    }
}

/// Checks every `metric` block; returns them when all are known and valid.
pub fn metrics(config: &Value, d: &mut Diagnostics) -> Option<Vec<MetricGateSpec>> {
    let missing = on_missing_data(config, &mut Diagnostics::default());
    let blocks = config.get("metric").elements()?;
    let mut out = Vec::with_capacity(blocks.len());
    let mut complete = true;
    let mut names = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let at = |name: &str| AttributePath::root("metric").index(i).attribute(name);
        match block.get("name").as_str() {
            Some(n) if names.contains(&n) => {
                d.error_at(at("name"), "Duplicate metric name", format!("{n:?} names more than one metric block."))
            }
            Some(n) => names.push(n),
            None => complete = false,
        }
        let comparison = block.get("comparison").as_str().and_then(|text| {
            let parsed = Comparison::parse(text);
            if parsed.is_none() {
                d.error_at(
                    at("comparison"),
                    "Invalid comparison",
                    format!("comparison must be <, <=, > or >=, not {text:?}."),
                );
            }
            parsed
        });
        let threshold = block.get("threshold").as_number().map(tfplugin::Number::as_f64);
        let window = match block.get("window") {
            Value::Null => Some(DEFAULT_WINDOW),
            v => duration_of(v, at("window"), d).filter(|w| {
                if w.is_zero() {
                    d.error_at(at("window"), "Invalid window", "window must be longer than zero.");
                }
                !w.is_zero()
            }),
        };
        let failures = match block.get("failures") {
            Value::Null => Some(1),
            v => v.as_number().and_then(|n| match n.as_i64() {
                Some(f @ 1..=1000) => Some(f as u32),
                _ => {
                    d.error_at(
                        at("failures"),
                        "Invalid failures",
                        format!("failures must be a whole number of at least 1, not {n}."),
                    );
                    None
                }
            }),
        };
        let expression = block.get("expression").as_str().map(str::to_owned);
        let queries = queries(block, i, expression.is_some(), d);
        match (block.get("name").as_str(), comparison, threshold, window, failures, queries) {
            (Some(name), Some(comparison), Some(threshold), Some(window), Some(failures), Some(queries))
                if complete && block.get("expression").is_known() =>
            {
                let check = MetricCheck {
                    name: name.to_owned(),
                    comparison,
                    threshold,
                    window,
                    failures,
                    on_missing_data: missing,
                };
                out.push(MetricGateSpec { check, queries, expression });
            }
            _ => complete = false,
        }
    }
    complete.then_some(out)
}

fn queries(block: &Value, metric: usize, with_expression: bool, d: &mut Diagnostics) -> Option<Vec<MetricQuerySpec>> {
    let list = block.get("query").elements()?;
    let at_metric = || AttributePath::root("metric").index(metric);
    if list.is_empty() || (!with_expression && list.len() > 1) {
        let detail = if list.is_empty() {
            "A metric block needs a query block."
        } else {
            "Several query blocks need an expression that combines them."
        };
        d.error_at(at_metric(), "Invalid metric queries", detail);
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    let mut ids: Vec<&str> = Vec::new();
    for (j, q) in list.iter().enumerate() {
        let at = |name: &str| at_metric().attribute("query").index(j).attribute(name);
        match q.get("id").as_str() {
            Some(id) if !valid_id(id) => d.error_at(at("id"), "Invalid query id", format!("{id:?} must start with a lowercase letter, hold only letters, digits and _, and be at most 255 characters long.")),
            Some(id) if ids.contains(&id) => d.error_at(at("id"), "Duplicate query id", format!("{id:?} names more than one query.")),
            Some(id) => ids.push(id),
            None if with_expression && q.get("id").is_null() => d.error_at(at("id"), "Query id needed", "With an expression, every query needs an id for the expression to refer to."),
            None => {}
        }
        if let Some(stat) = q.get("stat").as_str()
            && !valid_stat(stat)
        {
            d.error_at(
                at("stat"),
                "Invalid stat",
                format!("{stat:?} is not Sum, Average, Minimum, Maximum, SampleCount or a percentile such as p99."),
            );
        }
        let period = period_of(q.get("period"), at("period"), DEFAULT_PERIOD, d);
        let dimensions = match q.get("dimensions") {
            Value::Null => Some(Vec::new()),
            v => v
                .entries()
                .filter(|e| e.values().all(Value::is_known))
                .map(|e| e.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()),
        };
        let text = |name: &str| q.get(name).as_str().map(str::to_owned);
        out.push(match (text("namespace"), text("metric_name"), text("stat"), period, dimensions) {
            (Some(namespace), Some(metric_name), Some(stat), Some(period), Some(dimensions)) => {
                MetricQuerySpec { id: text("id"), namespace, metric_name, dimensions, stat, period }
            }
            _ => return None,
        });
    }
    (!d.has_errors()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: Option<&str>, stat: &str) -> Value {
        Value::object([
            ("id", id.map(str::to_owned).into()),
            ("namespace", "AWS/ApplicationELB".into()),
            ("metric_name", "TargetResponseTime".into()),
            ("dimensions", Value::Null),
            ("stat", stat.into()),
            ("period", Value::Null),
        ])
    }

    fn metric(extra: &[(&str, Value)], queries: Vec<Value>) -> Value {
        let mut m = Value::object([
            ("name", "p99".into()),
            ("expression", Value::Null),
            ("comparison", "<=".into()),
            ("threshold", Value::Number(tfplugin::Number::parse("0.8").unwrap())),
            ("window", Value::Null),
            ("failures", Value::Null),
            ("query", Value::List(queries)),
        ]);
        for (k, v) in extra {
            m.set_attr(k, v.clone());
        }
        m
    }

    fn check(metrics: Vec<Value>) -> (Option<Vec<MetricGateSpec>>, Vec<String>) {
        let config = Value::object([("metric", Value::List(metrics)), ("on_missing_data", "fail".into())]);
        let mut d = Diagnostics::default();
        let parsed = super::metrics(&config, &mut d);
        (parsed, d.0.iter().map(|d| d.attribute.as_ref().map(ToString::to_string).unwrap_or_default()).collect())
    }

    #[test]
    fn a_percentile_gate_parses_with_defaults() {
        let (parsed, errors) = check(vec![metric(&[], vec![query(None, "p99")])]);
        assert!(errors.is_empty(), "{errors:?}");
        let gate = &parsed.unwrap()[0];
        assert_eq!((gate.check.window, gate.check.failures, gate.check.threshold), (DEFAULT_WINDOW, 1, 0.8));
        assert_eq!(gate.check.on_missing_data, MissingData::Fail);
        assert_eq!((gate.queries[0].stat.as_str(), gate.queries[0].period), ("p99", DEFAULT_PERIOD));
    }

    #[test]
    fn bad_blocks_are_reported_on_their_path() {
        let math_without_ids =
            metric(&[("expression", "100*m1/m2".into())], vec![query(None, "Sum"), query(Some("m2"), "Sum")]);
        assert_eq!(check(vec![math_without_ids]).1, ["metric[0].query[0].id"]);
        assert_eq!(check(vec![metric(&[], vec![query(None, "Sum"), query(None, "Sum")])]).1, ["metric[0]"]);
        assert_eq!(check(vec![metric(&[], vec![query(None, "median")])]).1, ["metric[0].query[0].stat"]);
        assert_eq!(
            check(vec![metric(&[("comparison", "==".into())], vec![query(None, "Sum")])]).1,
            ["metric[0].comparison"]
        );
        assert_eq!(check(vec![metric(&[("failures", 0.into())], vec![query(None, "Sum")])]).1, ["metric[0].failures"]);
        assert_eq!(
            check(vec![metric(&[], vec![query(None, "Sum")]), metric(&[], vec![query(None, "Sum")])]).1,
            ["metric[1].name"]
        );
        let mut q = query(None, "Sum");
        q.set_attr("period", "45s".into());
        assert_eq!(check(vec![metric(&[], vec![q])]).1, ["metric[0].query[0].period"]);
    }
}
