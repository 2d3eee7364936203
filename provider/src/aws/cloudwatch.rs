//! CloudWatch as the engine's [`AlarmSource`].

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use time::OffsetDateTime;

use super::describe_error;
use crate::engine::GateError;
use crate::engine::alarms::{AlarmSource, AlarmState, AlarmStatus};

/// DescribeAlarms takes at most this many names per call.
const NAMES_PER_CALL: usize = 100;

pub struct CloudWatchAlarms<'a>(pub &'a aws_sdk_cloudwatch::Client);

impl AlarmSource for CloudWatchAlarms<'_> {
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
