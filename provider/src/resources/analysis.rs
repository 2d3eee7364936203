//! The `analysis` block both `progressive_rollout` and
//! `progressive_codedeploy_deployment` take: a canary-vs-baseline judgement
//! from the metrics the service publishes per destination (named by a
//! router kind), or from metrics a `source` block names.

use std::time::Duration;

use tfplugin::{Attribute, AttributePath, Block, Diagnostics, Nesting, Type, Value};

use super::{duration_of, gates as gate_settings};
use crate::aws::Clients;
use crate::aws::cloudwatch::{DestinationMetrics, GroupMetrics, MetricId};
use crate::duration;
use crate::engine::SystemClock;
use crate::engine::analysis::{AnalysisGate, AnalysisSettings};
use crate::routers::{RouterKind, Routing};

/// The block, with what it judges (`description`) and what its `metric`
/// attribute may name (`metric_description`) in the resource's own words.
pub fn block(description: &str, metric_description: &str) -> Block {
    Block::new(description)
        .attribute(Attribute::optional_computed("metric", Type::String, metric_description))
            .attribute(Attribute::defaulted("max_increase", Type::Number, "0.25", "Tolerated relative increase of the canary's error rate over the baseline's (0.25: up to 1.25 times)."))
            .attribute(Attribute::defaulted("confidence", Type::Number, "0.99", "Between 0.5 and 1: a canary within tolerance is rolled back with probability at most `1 - confidence`."))
            .attribute(Attribute::defaulted("rule_out_increase", Type::Number, "1", "A step passes only once its own data rule out, with `confidence`, a canary error rate this much above the baseline's (1: twice the baseline's); until then it holds, up to the timeout. Must be greater than `max_increase`."))
            .attribute(Attribute::defaulted("min_requests", Type::Number, "200", "No step passes before the canary has served this many requests (over the rollout so far)."))
            .attribute(Attribute::optional("latency_threshold", Type::String, "Also judge slow requests: the canary's share of requests slower than this (a Go duration such as `\"500ms\"`) against the baseline's, exactly as errors are judged, with `confidence` split between the two judgements (each at `1 - (1 - confidence) / 2`, so that together they roll back a good canary with probability at most `1 - confidence`). Counted per destination with CloudWatch's trimmed count `TC(threshold:)` of `alb`: `TargetResponseTime`, `lambda_alias`: `Duration`. With a `source` block, name the slow-request counts in it instead (`canary_slow_requests`, `baseline_slow_requests`)."))
            .attribute(Attribute::defaulted("period", Type::String, "60s", "Metric period, as a Go duration: 1s, 5s, 10s, 30s or a multiple of 60s. A period is judged once two reads of it, the first one period after it ends and the next at least one period later, agree (a data point published late is not taken for a zero); a period in which traffic moved is left out. Load balancers and Lambda publish these metrics once a minute, so against AWS use 60s or more; shorter periods are for sources that publish faster, such as the local emulator's traffic simulators."))
            .block("source", Nesting::Single, source_block())
}

/// The `analysis.source` block: the metrics to judge, whatever routes.
fn source_block() -> Block {
    let metric = |description: &str| {
        Block::new(description)
            .attribute(Attribute::required("namespace", Type::String, "Such as `Checkout`."))
            .attribute(Attribute::required("metric_name", Type::String, "Such as `Requests`."))
            .attribute(Attribute::optional(
                "dimensions",
                Type::map(Type::String),
                "The metric's whole dimension set (CloudWatch matches all of them, in any order).",
            ))
    };
    Block::new("The metrics to judge, instead of the router's own: any CloudWatch metrics that count the canary's and the baseline's requests and errors, such as an application's own metrics with a `Version` or `Variant` dimension. Each is summed per `period` (statistic `Sum`). With a source, any router can be judged, `route53` included, and `metric` is not set.")
        .required_block("canary_requests", metric("Requests served by the canary (the target)."))
        .required_block("canary_errors", metric("Errors of the canary; a period without a data point counts as no errors."))
        .required_block("baseline_requests", metric("Requests served by the baseline (the origin)."))
        .required_block("baseline_errors", metric("Errors of the baseline; a period without a data point counts as no errors."))
        .block("canary_slow_requests", Nesting::Single, metric("Slow requests of the canary, to judge them as errors are judged (with `baseline_slow_requests`; the confidence is then split between the two judgements); a period without a data point counts as none."))
        .block("baseline_slow_requests", Nesting::Single, metric("Slow requests of the baseline (with `canary_slow_requests`)."))
}

/// The analysis as configured: its settings, and the metrics of a
/// `source` block when it names them instead of the router.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub settings: AnalysisSettings,
    /// `(canary, baseline)`.
    pub source: Option<CanaryAndBaseline>,
    pub latency: Option<Latency>,
}

/// One metric for each side: `(canary, baseline)`.
pub type CanaryAndBaseline = (DestinationMetrics, DestinationMetrics);

/// Which slow requests the analysis judges besides errors.
#[derive(Debug, Clone, PartialEq)]
pub enum Latency {
    /// Slower than this, from the router's own per-request durations.
    Threshold(Duration),
    /// The source's own slow-request counts, `(canary, baseline)`.
    Counted(Box<CanaryAndBaseline>),
}

/// The analysis: `Some(None)` without the block, `None` when something is
/// unknown or invalid; errors go to `d` on their attribute.
pub fn parse(config: &Value, router: Option<&'static dyn RouterKind>, d: &mut Diagnostics) -> Option<Option<Analysis>> {
    let block = config.get("analysis");
    let at = |name: &str| AttributePath::root("analysis").attribute(name);
    let on_missing_data = gate_settings::on_missing_data(config, d);
    if block.is_null() {
        return Some(None);
    }
    let (source, slow) = match block.get("source") {
        Value::Null => (None, None),
        given => {
            let (errors, slow) = source(given, d);
            (Some(errors), slow)
        }
    };
    let latency = match (block.get("latency_threshold"), slow) {
        (Value::Null, slow) => Some(slow.map(|(canary, baseline)| Latency::Counted(Box::new((canary, baseline))))),
        (_, Some(_)) => {
            d.error_at(at("latency_threshold"), "latency_threshold with a source", "The source's canary_slow_requests and baseline_slow_requests already count the slow requests; remove latency_threshold.");
            None
        }
        (given, None) => {
            let threshold = duration_of(given, at("latency_threshold"), d).filter(|t| {
                let ok = !t.is_zero();
                if !ok {
                    d.error_at(
                        at("latency_threshold"),
                        "Invalid latency_threshold",
                        "latency_threshold must be longer than 0s.",
                    );
                }
                ok
            });
            match (router, block.get("source").is_null()) {
                (_, false) => {
                    d.error_at(at("latency_threshold"), "latency_threshold with a source", "With a source block, name the slow-request counts in it (canary_slow_requests and baseline_slow_requests) instead of latency_threshold.");
                    None
                }
                (Some(router), true) if router.duration_metric().is_none() => {
                    d.error_at(at("latency_threshold"), "No latency analysis with this router", format!("The {} router's service publishes no per-request durations per destination. Count slow requests in your application and name them in a source block.", router.name()));
                    None
                }
                _ => threshold.map(|t| Some(Latency::Threshold(t))),
            }
        }
    };
    let error_metric = match &source {
        // The source names the errors; the router's metric does not apply.
        Some(source) => {
            if !block.get("metric").is_null() {
                d.error_at(at("metric"), "metric with a source", "metric names the router's error metric; with a source block, the errors are source.canary_errors and source.baseline_errors. Remove metric.");
            }
            source.as_ref().map(|(canary, _): &(DestinationMetrics, DestinationMetrics)| canary.errors.name.clone())
        }
        None => {
            let router = router?;
            let default_metric = match router.default_error_metric() {
                Ok(metric) => metric,
                Err(reason) => {
                    d.error_at(
                        AttributePath::root("analysis"),
                        "No analysis with this router",
                        format!("{reason} Or name the metrics to judge in a source block."),
                    );
                    return None;
                }
            };
            match block.get("metric") {
                Value::Null => Some(default_metric.to_owned()),
                v => v.as_str().and_then(|m| match router.check_error_metric(m) {
                    Ok(()) => Some(m.to_owned()),
                    Err(reason) => {
                        d.error_at(at("metric"), "Invalid metric", reason);
                        None
                    }
                }),
            }
        }
    };
    let number = |name: &str| block.get(name).as_number().map(tfplugin::Number::as_f64);
    let max_increase = number("max_increase").filter(|m| {
        let ok = (0.0..=100.0).contains(m);
        if !ok {
            d.error_at(
                at("max_increase"),
                "Invalid max_increase",
                format!("max_increase must be from 0 to 100, not {m}."),
            );
        }
        ok
    });
    let rule_out_increase = number("rule_out_increase").filter(|r| {
        let ok = (0.0..=100.0).contains(r) && max_increase.is_none_or(|m| r > &m);
        if !ok {
            d.error_at(
                at("rule_out_increase"),
                "Invalid rule_out_increase",
                format!("rule_out_increase must be greater than max_increase and at most 100, not {r}: a step passes once a regression to 1 + rule_out_increase times the baseline's error rate is ruled out, and fails once one beyond 1 + max_increase is shown."),
            );
        }
        ok
    });
    let confidence = number("confidence").filter(|c| {
        let ok = 0.5 < *c && *c < 1.0;
        if !ok {
            d.error_at(
                at("confidence"),
                "Invalid confidence",
                format!("confidence must be above 0.5 and below 1 (such as 0.99), not {c}."),
            );
        }
        ok
    });
    let min_requests = block.get("min_requests").as_number().and_then(|n| match n.as_i64() {
        Some(n) if n >= 0 => Some(n as u64),
        _ => {
            d.error_at(
                at("min_requests"),
                "Invalid min_requests",
                format!("min_requests must be a whole number of at least 0, not {n}."),
            );
            None
        }
    });
    let period = gate_settings::period_of(block.get("period"), at("period"), Duration::from_secs(60), d);
    let settings = AnalysisSettings {
        label: error_metric?,
        max_increase: max_increase?,
        rule_out_increase: rule_out_increase?,
        confidence: confidence?,
        min_requests: min_requests?,
        period: period?,
        on_missing_data,
        form: None,
        steps: 1,
    };
    let source = match source {
        Some(parsed) => Some(parsed?),
        None => None,
    };
    Some(Some(Analysis { settings, source, latency: latency? }))
}

/// The metrics of an analysis `source` block: errors `(canary, baseline)`,
/// and slow requests when it names them.
fn source(block: &Value, d: &mut Diagnostics) -> (Option<CanaryAndBaseline>, Option<CanaryAndBaseline>) {
    let metric = |name: &str, d: &mut Diagnostics| -> Option<MetricId> {
        let given = block.get(name);
        let at = |field: &str| AttributePath::root("analysis").attribute("source").attribute(name).attribute(field);
        let text = |field: &str, d: &mut Diagnostics| {
            let value = given.get(field).as_str()?;
            if value.trim().is_empty() {
                d.error_at(at(field), format!("Empty {field}"), format!("source.{name}.{field} is empty."));
                return None;
            }
            Some(value.to_owned())
        };
        let (namespace, metric_name) = (text("namespace", d), text("metric_name", d));
        let dimensions = match given.get("dimensions") {
            Value::Null => Some(Vec::new()),
            v => v.entries().and_then(|entries| {
                entries.iter().map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect::<Option<Vec<_>>>()
            }),
        };
        Some(MetricId { namespace: namespace?, name: metric_name?, dimensions: dimensions? })
    };
    let canary_requests = metric("canary_requests", d);
    let baseline_requests = metric("baseline_requests", d);
    let pair = |canary: &str, baseline: &str, d: &mut Diagnostics| {
        let (canary_counted, baseline_counted) = (metric(canary, d), metric(baseline, d));
        let (canary, baseline) = (
            DestinationMetrics::counts(canary_requests.clone()?, canary_counted?),
            DestinationMetrics::counts(baseline_requests.clone()?, baseline_counted?),
        );
        if canary == baseline {
            d.error_at(AttributePath::root("analysis").attribute("source"), "Canary and baseline are the same", "The canary's metrics and the baseline's are the same metrics, so the analysis would compare a destination with itself. Tell them apart, e.g. by a Version or Variant dimension.");
            return None;
        }
        Some((canary, baseline))
    };
    let errors = pair("canary_errors", "baseline_errors", d);
    let slow = match (block.get("canary_slow_requests").is_null(), block.get("baseline_slow_requests").is_null()) {
        (true, true) => None,
        (false, false) => pair("canary_slow_requests", "baseline_slow_requests", d),
        _ => {
            d.error_at(
                AttributePath::root("analysis").attribute("source"),
                "One side of the slow requests",
                "Name both canary_slow_requests and baseline_slow_requests, or neither.",
            );
            None
        }
    };
    (errors, slow)
}

/// Why the analysis cannot judge this rollout (found before anything moves).
#[derive(Debug)]
pub struct Unjudgeable {
    pub summary: &'static str,
    pub detail: String,
}

/// One analysis gate per judged metric (errors, and slow requests when
/// asked), with the confidence budget split evenly between them, so that
/// together they roll back a good canary with probability at most
/// `1 - confidence` (a union bound).
/// The destinations a router judges between: its routing, the origin and the target.
pub type Judged<'a> = (&'a dyn Routing, &'a str, &'a str);

/// The gates; the metrics come from the `source` block, else from `router`
/// (none: the source is required).
pub fn gates(
    analysis: &Analysis,
    router: Option<Judged<'_>>,
    steps: usize,
    clients: &Clients,
) -> Result<Vec<AnalysisGate<'static, GroupMetrics, SystemClock>>, Unjudgeable> {
    let settings = &analysis.settings;
    let errors = analysis.source.clone().or_else(|| {
        router.and_then(|(routing, origin, target)| routing.analysis_metrics(origin, target, &settings.label))
    });
    let errors = errors.ok_or_else(|| Unjudgeable {
        summary: "No analysis with this router",
        detail: "This router names no per-destination metrics; name them in a source block.".into(),
    })?;
    let mut judged = vec![(settings.label.clone(), errors)];
    match &analysis.latency {
        Some(Latency::Threshold(threshold)) => {
            let slow = router.and_then(|(routing, origin, target)| routing.latency_metrics(origin, target, *threshold));
            let slow = slow.ok_or_else(|| Unjudgeable {
                summary: "No latency analysis with this router",
                detail: "This router's service publishes no per-request durations per destination.".into(),
            })?;
            judged.push((format!("requests over {}", duration::format(*threshold)), slow));
        }
        Some(Latency::Counted(both)) => judged.push((both.0.errors.name.clone(), (**both).clone())),
        None => {}
    }
    let confidence = 1.0 - (1.0 - settings.confidence) / judged.len() as f64;
    judged
        .into_iter()
        .map(|(label, (canary, baseline))| {
            let metrics = GroupMetrics { reader: clients.metrics.clone(), canary, baseline };
            let settings = AnalysisSettings { label, confidence, steps, ..settings.clone() };
            AnalysisGate::new(metrics, &SystemClock, settings)
                .map_err(|e| Unjudgeable { summary: "Invalid analysis settings", detail: e.to_string() })
        })
        .collect()
}
