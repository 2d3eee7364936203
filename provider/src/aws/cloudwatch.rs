//! CloudWatch as the engine's [`AlarmSource`], [`GroupCounts`] and [`MetricSource`].

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::Arc;

use aws_sdk_cloudwatch::types::{AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use time::OffsetDateTime;

use super::describe_error;
use super::metric_data::{MetricData, MetricRead, Series, TimeRange};
use crate::engine::GateError;
use crate::engine::alarms::{AlarmSource, AlarmState, AlarmStatus};
use crate::engine::analysis::GroupCounts;
use crate::engine::judge::Counts;
use crate::engine::metric::MetricSource;
use crate::engine::poller::Poller;

/// DescribeAlarms takes at most this many names per call.
const NAMES_PER_CALL: usize = 100;

pub struct CloudWatchAlarms(pub aws_sdk_cloudwatch::Client);

impl AlarmSource for CloudWatchAlarms {
    async fn describe(&self, names: &[String]) -> Result<Vec<AlarmStatus>, GateError> {
        let mut found = Vec::with_capacity(names.len());
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut next_token = None;
            loop {
                let page = self
                    .0
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    .set_next_token(next_token)
                    .send()
                    .await
                    .map_err(|e| GateError(describe_error("CloudWatch", "DescribeAlarms", &e)))?;
                found.extend(
                    page.metric_alarms().iter().map(|a| {
                        status(a.alarm_name(), a.state_value(), a.state_reason(), a.state_updated_timestamp())
                    }),
                );
                found.extend(
                    page.composite_alarms().iter().map(|a| {
                        status(a.alarm_name(), a.state_value(), a.state_reason(), a.state_updated_timestamp())
                    }),
                );
                next_token = page.next_token().map(str::to_owned);
                if next_token.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }
}

fn status(
    name: Option<&str>,
    state: Option<&StateValue>,
    reason: Option<&str>,
    updated: Option<&aws_smithy_types::DateTime>,
) -> AlarmStatus {
    AlarmStatus {
        name: name.unwrap_or_default().to_owned(),
        state: match state {
            Some(StateValue::Alarm) => AlarmState::Alarm,
            Some(StateValue::Ok) => AlarmState::Ok,
            _ => AlarmState::InsufficientData,
        },
        reason: reason.unwrap_or_default().to_owned(),
        updated: updated.and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()),
    }
}

/// One CloudWatch metric: namespace, name and its whole dimension set.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricId {
    pub fn new(namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> MetricId {
        MetricId {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions: dimensions.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    fn query(&self, id: &str, period: Duration, statistic: &str) -> MetricDataQuery {
        let metric = Metric::builder()
            .namespace(&self.namespace)
            .metric_name(&self.name)
            .set_dimensions(Some(
                self.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect(),
            ))
            .build();
        let stat = MetricStat::builder().metric(metric).period(period.as_secs().max(1) as i32).stat(statistic).build();
        MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
    }
}

/// The metrics that count one destination's requests and errors (a target
/// group's, a function version's), as a router publishes them. "Errors" are
/// whatever requests the judgement counts against the destination: failed
/// ones, or slow ones counted by a statistic over per-request durations.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationMetrics {
    pub requests: MetricId,
    pub errors: MetricId,
    /// The CloudWatch statistic that counts errors per period: `Sum` of a
    /// count, or `TC(x:)` (requests slower than `x`) of a duration.
    pub errors_statistic: String,
}

impl DestinationMetrics {
    /// Requests and errors both as counts, summed per period.
    pub fn counts(requests: MetricId, errors: MetricId) -> DestinationMetrics {
        DestinationMetrics { requests, errors, errors_statistic: "Sum".into() }
    }

    /// Requests summed, and those of them that took longer than `threshold`
    /// (in the unit `durations` is published in), by CloudWatch's trimmed
    /// count with an open upper bound: the data points above `threshold`.
    pub fn slow(requests: MetricId, durations: MetricId, threshold: f64) -> DestinationMetrics {
        DestinationMetrics { requests, errors: durations, errors_statistic: format!("TC({threshold}:)") }
    }
}

/// Canary and baseline counts as the engine's [`GroupCounts`], summed per
/// period, from whatever metrics the router names.
pub struct GroupMetrics {
    pub reader: Arc<Poller<MetricData>>,
    pub canary: DestinationMetrics,
    pub baseline: DestinationMetrics,
}

impl GroupCounts for GroupMetrics {
    async fn counts(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        period: Duration,
    ) -> Result<Vec<(OffsetDateTime, Counts)>, GateError> {
        let queries = vec![
            self.canary.requests.query("canary_requests", period, "Sum"),
            self.canary.errors.query("canary_errors", period, &self.canary.errors_statistic),
            self.baseline.requests.query("baseline_requests", period, "Sum"),
            self.baseline.errors.query("baseline_errors", period, &self.baseline.errors_statistic),
        ];
        let series = self.reader.read(MetricRead { queries, range: TimeRange::Between(from, to) }).await?;
        let mut by_period: BTreeMap<OffsetDateTime, Counts> = BTreeMap::new();
        for s in series {
            for (at, value) in s.points {
                // Services publish no error data point for a period without
                // errors (ALB), so an absent one counts as zero.
                let counts = by_period.entry(at).or_default();
                let value = value.max(0.0).round() as u64;
                match s.id.as_str() {
                    "canary_requests" => counts.canary_requests += value,
                    "canary_errors" => counts.canary_errors += value,
                    "baseline_requests" => counts.baseline_requests += value,
                    "baseline_errors" => counts.baseline_errors += value,
                    _ => {}
                }
            }
        }
        Ok(by_period.into_iter().collect())
    }
}

/// One metric of a threshold gate, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuerySpec {
    /// Set when an expression refers to this metric.
    pub id: Option<String>,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, `p99`, ... as CloudWatch names statistics.
    pub stat: String,
    pub period: Duration,
}

/// A threshold gate's metric (or metric math) on CloudWatch.
pub struct CloudWatchMetric {
    pub reader: Arc<Poller<MetricData>>,
    pub queries: Vec<MetricQuerySpec>,
    pub expression: Option<String>,
}

/// The id of the query whose values the gate compares.
const RESULT_ID: &str = "result";

/// The GetMetricData queries for a gate: each metric, and the expression
/// over them when there is one (then only the expression returns data).
pub fn metric_data_queries(queries: &[MetricQuerySpec], expression: Option<&str>) -> Vec<MetricDataQuery> {
    let mut out: Vec<MetricDataQuery> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let metric = Metric::builder()
                .namespace(&q.namespace)
                .metric_name(&q.metric_name)
                .set_dimensions(Some(
                    q.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect(),
                ))
                .build();
            let id = match (&q.id, expression) {
                (Some(id), _) => id.clone(),
                (None, None) => RESULT_ID.to_owned(),
                (None, Some(_)) => format!("m{i}"),
            };
            MetricDataQuery::builder()
                .id(id)
                .metric_stat(
                    MetricStat::builder().metric(metric).period(q.period.as_secs().max(1) as i32).stat(&q.stat).build(),
                )
                .return_data(expression.is_none())
                .build()
        })
        .collect();
    if let Some(expression) = expression {
        out.push(MetricDataQuery::builder().id(RESULT_ID).expression(expression).return_data(true).build());
    }
    out
}

/// The newest value of the result series, from GetMetricData's answer.
pub fn newest_result(series: &[Series]) -> Option<f64> {
    let result = series.iter().find(|s| s.id == RESULT_ID)?;
    result.points.iter().filter(|(_, v)| v.is_finite()).max_by_key(|(t, _)| *t).map(|(_, v)| *v)
}

impl MetricSource for CloudWatchMetric {
    async fn newest(&self, window: Duration) -> Result<Option<f64>, GateError> {
        let queries = metric_data_queries(&self.queries, self.expression.as_deref());
        let series = self.reader.read(MetricRead { queries, range: TimeRange::Last(window) }).await?;
        Ok(newest_result(&series))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: Option<&str>, metric: &str, stat: &str) -> MetricQuerySpec {
        MetricQuerySpec {
            id: id.map(str::to_owned),
            namespace: "AWS/ApplicationELB".into(),
            metric_name: metric.into(),
            dimensions: vec![("TargetGroup".into(), "targetgroup/green/1".into())],
            stat: stat.into(),
            period: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_percentile_is_asked_of_cloudwatch_as_is() {
        let built = metric_data_queries(&[query(None, "TargetResponseTime", "p99")], None);
        assert_eq!(built.len(), 1);
        let stat = built[0].metric_stat().unwrap();
        assert_eq!(
            (built[0].id(), stat.stat(), stat.period(), built[0].return_data()),
            (Some("result"), Some("p99"), Some(60), Some(true))
        );
        assert_eq!(stat.metric().unwrap().dimensions()[0].value(), Some("targetgroup/green/1"));
    }

    #[test]
    fn slow_requests_are_counted_by_a_trimmed_count_above_the_threshold() {
        let durations =
            MetricId::new("AWS/ApplicationELB", "TargetResponseTime", &[("TargetGroup", "targetgroup/green/1")]);
        let slow =
            DestinationMetrics::slow(MetricId::new("AWS/ApplicationELB", "RequestCount", &[]), durations.clone(), 0.25);
        let query = slow.errors.query("canary_errors", Duration::from_secs(60), &slow.errors_statistic);
        assert_eq!(query.metric_stat().unwrap().stat(), Some("TC(0.25:)"));
        assert_eq!(DestinationMetrics::counts(durations.clone(), durations).errors_statistic, "Sum");
    }

    #[test]
    fn metric_math_returns_only_the_expression() {
        let built = metric_data_queries(
            &[query(Some("m1"), "HTTPCode_Target_5XX_Count", "Sum"), query(Some("m2"), "RequestCount", "Sum")],
            Some("100*m1/m2"),
        );
        let shape: Vec<_> = built.iter().map(|q| (q.id().unwrap(), q.expression(), q.return_data())).collect();
        assert_eq!(
            shape,
            [("m1", None, Some(false)), ("m2", None, Some(false)), ("result", Some("100*m1/m2"), Some(true))]
        );
    }

    #[test]
    fn the_newest_finite_value_of_the_result_is_read() {
        let at = |secs| OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let series = [
            Series { id: "m1".into(), points: vec![(at(300), 99.0)] },
            Series {
                id: "result".into(),
                points: vec![(at(120), 0.4), (at(240), 0.93), (at(180), 0.5), (at(300), f64::NAN)],
            },
        ];
        assert_eq!(newest_result(&series), Some(0.93));
        assert_eq!(newest_result(&series[..1]), None, "no result series, no value");
    }
}
