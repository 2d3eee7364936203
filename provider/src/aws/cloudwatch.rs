//! CloudWatch as the engine's [`AlarmSource`] and [`GroupCounts`].

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue};
use time::OffsetDateTime;

use super::describe_error;
use crate::engine::GateError;
use crate::engine::alarms::{AlarmSource, AlarmState, AlarmStatus};
use crate::engine::analysis::GroupCounts;
use crate::engine::judge::Counts;

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
                    .map_err(|e| GateError(format!("CloudWatch DescribeAlarms failed: {}", describe_error(&e))))?;
                found.extend(page.metric_alarms().iter().map(|a| {
                    status(a.alarm_name(), a.state_value(), a.state_reason(), a.state_updated_timestamp())
                }));
                found.extend(page.composite_alarms().iter().map(|a| {
                    status(a.alarm_name(), a.state_value(), a.state_reason(), a.state_updated_timestamp())
                }));
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

/// Per-target-group ALB metrics as the engine's [`GroupCounts`]: requests and
/// errors of the canary and the baseline target groups, summed per period.
pub struct AlbGroupMetrics<'a> {
    pub client: &'a aws_sdk_cloudwatch::Client,
    /// The `LoadBalancer` dimension, `app/<name>/<id>`.
    pub load_balancer: String,
    /// `TargetGroup` dimensions, `targetgroup/<name>/<id>`.
    pub canary: String,
    pub baseline: String,
    /// The error count metric, e.g. `HTTPCode_Target_5XX_Count`.
    pub error_metric: &'static str,
}

impl AlbGroupMetrics<'_> {
    fn query(&self, id: &str, metric: &str, target_group: &str, period: Duration) -> MetricDataQuery {
        let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
        let metric = Metric::builder()
            .namespace("AWS/ApplicationELB")
            .metric_name(metric)
            .dimensions(dimension("TargetGroup", target_group))
            .dimensions(dimension("LoadBalancer", &self.load_balancer))
            .build();
        let stat = MetricStat::builder().metric(metric).period(period.as_secs().max(1) as i32).stat("Sum").build();
        MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
    }
}

impl GroupCounts for AlbGroupMetrics<'_> {
    async fn counts(&self, from: OffsetDateTime, to: OffsetDateTime, period: Duration) -> Result<Vec<(OffsetDateTime, Counts)>, GateError> {
        let queries = [
            self.query("canary_requests", "RequestCount", &self.canary, period),
            self.query("canary_errors", self.error_metric, &self.canary, period),
            self.query("baseline_requests", "RequestCount", &self.baseline, period),
            self.query("baseline_errors", self.error_metric, &self.baseline, period),
        ];
        let mut by_period: BTreeMap<i64, Counts> = BTreeMap::new();
        let mut next_token = None;
        loop {
            let page = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.to_vec()))
                .start_time(aws_smithy_types::DateTime::from_secs(from.unix_timestamp()))
                .end_time(aws_smithy_types::DateTime::from_secs(to.unix_timestamp()))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|e| GateError(format!("CloudWatch GetMetricData failed: {}", describe_error(&e))))?;
            for result in page.metric_data_results() {
                for (at, value) in result.timestamps().iter().zip(result.values()) {
                    // ALB publishes no error data point for a period without
                    // errors, so an absent one counts as zero.
                    let counts = by_period.entry(at.secs()).or_default();
                    let value = value.max(0.0).round() as u64;
                    match result.id() {
                        Some("canary_requests") => counts.canary_requests += value,
                        Some("canary_errors") => counts.canary_errors += value,
                        Some("baseline_requests") => counts.baseline_requests += value,
                        Some("baseline_errors") => counts.baseline_errors += value,
                        _ => {}
                    }
                }
            }
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
        Ok(by_period
            .into_iter()
            .filter_map(|(secs, counts)| Some((OffsetDateTime::from_unix_timestamp(secs).ok()?, counts)))
            .collect())
    }
}
