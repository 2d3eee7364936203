//! GetMetricData for every gate of the process, through the shared poller.
//!
//! Reads over the same time range are packed into calls of up to 500
//! queries. Query ids only need to be unique within a call, and every gate
//! names its own (`m1`, `result`), so each read's ids get a prefix of their
//! own in the call, and its metric math is rewritten to match; the answer is
//! handed back under the original ids. Expressions that cannot be rewritten
//! safely (strings, `METRICS()`, `SEARCH()`, Metrics Insights queries, all of
//! which can see other queries of the call) get a call of their own.
//!
//! One read's mistake must not fail the others: when a merged call is
//! refused for any reason but throttling, its reads are made again one by
//! one.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::MetricDataQuery;
use time::OffsetDateTime;

use super::describe_error;
use crate::engine::GateError;
use crate::engine::poller::BatchSource;

/// GetMetricData takes at most this many queries per call.
const QUERIES_PER_CALL: usize = 500;

/// The time range of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRange {
    /// The last `window`, up to the moment the read is made.
    Last(Duration),
    /// Data points stamped in `[from, to)`.
    Between(OffsetDateTime, OffsetDateTime),
}

impl TimeRange {
    /// Whole seconds, so that reads of the same window made in one batch
    /// ask for the very same range and can share a call.
    fn resolve(self, now: OffsetDateTime) -> (i64, i64) {
        match self {
            TimeRange::Last(window) => {
                let now = now.unix_timestamp();
                (now - window.as_secs() as i64, now + 1)
            }
            TimeRange::Between(from, to) => (from.unix_timestamp(), to.unix_timestamp()),
        }
    }
}

/// One gate's read: its queries, with ids as the gate named them.
#[derive(Debug, Clone)]
pub struct MetricRead {
    pub queries: Vec<MetricDataQuery>,
    pub range: TimeRange,
}

/// One returned time series, under the id its read gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub id: String,
    pub points: Vec<(OffsetDateTime, f64)>,
}

/// One GetMetricData call of a batch.
#[derive(Debug, PartialEq)]
struct Call {
    start: i64,
    end: i64,
    queries: Vec<MetricDataQuery>,
    /// The reads it answers, by position in the batch.
    reads: Vec<usize>,
    /// Whether the ids carry their read's prefix (a read alone may not).
    prefixed: bool,
}

fn prefix(read: usize) -> String {
    format!("r{read}_")
}

/// `expression` with every id in `ids` prefixed, or `None` when it may refer
/// to queries by anything but their ids.
fn prefixed_expression(expression: &str, ids: &[&str], prefix: &str) -> Option<String> {
    let lower = expression.to_ascii_lowercase();
    if expression.contains(['\'', '"']) || ["metrics", "search", "select"].iter().any(|word| lower.contains(word)) {
        return None;
    }
    let mut out = String::with_capacity(expression.len() + prefix.len() * ids.len());
    let mut rest = expression;
    while let Some(c) = rest.chars().next() {
        // A token: an identifier, or a number with its fraction and exponent
        // (`2.5e1`), whose letters are not ids.
        let token_len = if c.is_ascii_alphanumeric() || c == '_' {
            let number = c.is_ascii_digit();
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || (number && c == '.'))).unwrap_or(rest.len())
        } else {
            c.len_utf8()
        };
        let token = &rest[..token_len];
        if ids.contains(&token) {
            out.push_str(prefix);
        }
        out.push_str(token);
        rest = &rest[token_len..];
    }
    Some(out)
}

/// `read`'s queries under its prefix, or `None` when they must go alone.
fn prefixed_queries(read: usize, queries: &[MetricDataQuery]) -> Option<Vec<MetricDataQuery>> {
    let prefix = prefix(read);
    let ids: Vec<&str> = queries.iter().filter_map(MetricDataQuery::id).collect();
    queries
        .iter()
        .map(|q| {
            let mut q = q.clone();
            q.id = q.id.map(|id| format!("{prefix}{id}"));
            if let Some(expression) = &q.expression {
                q.expression = Some(prefixed_expression(expression, &ids, &prefix)?);
            }
            Some(q)
        })
        .collect()
}

/// The calls that answer `reads` at `now`: reads over the same range share
/// calls of up to [`QUERIES_PER_CALL`] queries; a read is never split.
fn plan_calls(reads: &[MetricRead], now: OffsetDateTime) -> Vec<Call> {
    let mut by_range: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
    for (i, read) in reads.iter().enumerate() {
        by_range.entry(read.range.resolve(now)).or_default().push(i);
    }
    let mut calls = Vec::new();
    for ((start, end), members) in by_range {
        let mut open: Option<Call> = None;
        for i in members {
            let Some(queries) = prefixed_queries(i, &reads[i].queries).filter(|q| q.len() < QUERIES_PER_CALL) else {
                calls.push(Call { start, end, queries: reads[i].queries.clone(), reads: vec![i], prefixed: false });
                continue;
            };
            if open.as_ref().is_some_and(|call| call.queries.len() + queries.len() > QUERIES_PER_CALL) {
                calls.extend(open.take());
            }
            let call = open.get_or_insert_with(|| Call { start, end, queries: Vec::new(), reads: Vec::new(), prefixed: true });
            call.queries.extend(queries);
            call.reads.push(i);
        }
        calls.extend(open);
    }
    calls
}

/// Hands each series of a call's answer to its read, under its own id.
fn distribute(call: &Call, series: Vec<Series>, answers: &mut [Vec<Series>]) {
    if !call.prefixed {
        for &read in &call.reads {
            answers[read].extend(series.iter().cloned());
        }
        return;
    }
    for mut s in series {
        let owner = call.reads.iter().find_map(|&read| Some((read, s.id.strip_prefix(&prefix(read))?.to_owned())));
        if let Some((read, id)) = owner {
            s.id = id;
            answers[read].push(s);
        }
    }
}

/// The process's GetMetricData reader.
pub struct MetricData(pub aws_sdk_cloudwatch::Client);

struct CallError {
    message: String,
    throttled: bool,
}

impl MetricData {
    /// One call, all its pages.
    async fn get(&self, start: i64, end: i64, queries: &[MetricDataQuery]) -> Result<Vec<Series>, CallError> {
        let mut series: BTreeMap<String, Vec<(OffsetDateTime, f64)>> = BTreeMap::new();
        let mut next_token = None;
        loop {
            let page = self
                .0
                .get_metric_data()
                .set_metric_data_queries(Some(queries.to_vec()))
                .start_time(aws_smithy_types::DateTime::from_secs(start))
                .end_time(aws_smithy_types::DateTime::from_secs(end))
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|e| CallError {
                    message: format!("CloudWatch GetMetricData failed: {}", describe_error(&e)),
                    throttled: matches!(
                        e.as_service_error().and_then(ProvideErrorMetadata::code),
                        Some("Throttling" | "ThrottlingException" | "TooManyRequestsException")
                    ),
                })?;
            for result in page.metric_data_results() {
                let points = series.entry(result.id().unwrap_or_default().to_owned()).or_default();
                for (at, value) in result.timestamps().iter().zip(result.values()) {
                    if let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(at.as_nanos()) {
                        points.push((at, *value));
                    }
                }
            }
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
        Ok(series.into_iter().map(|(id, points)| Series { id, points }).collect())
    }
}

impl BatchSource for MetricData {
    type Request = MetricRead;
    type Answer = Vec<Series>;

    async fn fetch_all(&self, reads: Vec<MetricRead>) -> Vec<Result<Vec<Series>, GateError>> {
        let mut answers: Vec<Result<Vec<Series>, GateError>> = reads.iter().map(|_| Ok(Vec::new())).collect();
        let mut series = vec![Vec::new(); reads.len()];
        for call in plan_calls(&reads, OffsetDateTime::now_utc()) {
            match self.get(call.start, call.end, &call.queries).await {
                Ok(answer) => distribute(&call, answer, &mut series),
                Err(e) if call.reads.len() > 1 && !e.throttled => {
                    for &read in &call.reads {
                        match self.get(call.start, call.end, &reads[read].queries).await {
                            Ok(answer) => series[read] = answer,
                            Err(e) => answers[read] = Err(GateError(e.message)),
                        }
                    }
                }
                Err(e) => {
                    for &read in &call.reads {
                        answers[read] = Err(GateError(e.message.clone()));
                    }
                }
            }
        }
        answers.into_iter().zip(series).map(|(answer, series)| answer.map(|_| series)).collect()
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::types::{Metric, MetricStat};

    use super::*;

    fn stat(id: &str) -> MetricDataQuery {
        let metric = Metric::builder().namespace("AWS/ApplicationELB").metric_name("RequestCount").build();
        MetricDataQuery::builder().id(id).metric_stat(MetricStat::builder().metric(metric).period(60).stat("Sum").build()).build()
    }

    fn math(id: &str, expression: &str) -> MetricDataQuery {
        MetricDataQuery::builder().id(id).expression(expression).build()
    }

    fn read(queries: Vec<MetricDataQuery>, range: TimeRange) -> MetricRead {
        MetricRead { queries, range }
    }

    const WINDOW: TimeRange = TimeRange::Last(Duration::from_secs(180));

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn expressions_follow_their_ids_and_nothing_else() {
        let ids = ["m1", "m2", "e"];
        assert_eq!(prefixed_expression("100*m1/m2", &ids, "r3_").as_deref(), Some("100*r3_m1/r3_m2"));
        assert_eq!(
            prefixed_expression("IF(m1 > 1e3, m10, FILL(m2, 0.5))", &ids, "r0_").as_deref(),
            Some("IF(r0_m1 > 1e3, m10, FILL(r0_m2, 0.5))")
        );
        assert_eq!(prefixed_expression("e*2.5e1+e", &ids, "r1_").as_deref(), Some("r1_e*2.5e1+r1_e"), "an exponent is not the id e");
        for unsafe_expression in ["SUM(METRICS())", "SEARCH('{AWS/EC2} CPU', 'Average', 60)", "SELECT AVG(CPUUtilization) FROM \"AWS/EC2\""] {
            assert_eq!(prefixed_expression(unsafe_expression, &ids, "r0_"), None, "{unsafe_expression}");
        }
    }

    #[test]
    fn reads_over_one_range_share_a_call_under_their_own_prefixes() {
        let now = at(1_000_000);
        let reads = [
            read(vec![stat("m1"), stat("m2"), math("result", "100*m1/m2")], WINDOW),
            read(vec![stat("result")], WINDOW),
            read(vec![stat("canary_requests")], TimeRange::Between(at(999_000), now)),
            read(vec![stat("m1"), math("result", "SUM(METRICS())")], WINDOW),
        ];
        let calls = plan_calls(&reads, now);
        let shape: Vec<_> = calls.iter().map(|c| (c.start, c.end, c.reads.clone(), c.prefixed)).collect();
        assert_eq!(shape, [
            (999_000, 1_000_000, vec![2], true),
            (999_820, 1_000_001, vec![3], false),
            (999_820, 1_000_001, vec![0, 1], true)
        ]);
        let ids: Vec<_> = calls[2].queries.iter().map(|q| (q.id().unwrap(), q.expression())).collect();
        assert_eq!(ids, [("r0_m1", None), ("r0_m2", None), ("r0_result", Some("100*r0_m1/r0_m2")), ("r1_result", None)]);
        assert_eq!(calls[1].queries, reads[3].queries, "an unsafe expression goes alone, untouched");
        assert_eq!(calls[0].queries[0].id(), Some("r2_canary_requests"));
    }

    #[test]
    fn a_call_holds_at_most_500_queries_and_a_read_is_never_split() {
        let reads: Vec<_> = (0..3).map(|_| read((0..200).map(|i| stat(&format!("m{i}"))).collect(), WINDOW)).collect();
        let calls = plan_calls(&reads, at(1_000_000));
        let sizes: Vec<_> = calls.iter().map(|c| (c.queries.len(), c.reads.clone())).collect();
        assert_eq!(sizes, [(400, vec![0, 1]), (200, vec![2])]);
    }

    #[test]
    fn answers_go_back_to_their_reads_under_the_original_ids() {
        let reads = [read(vec![stat("result")], WINDOW), read(vec![stat("m1"), math("result", "m1*2")], WINDOW)];
        let calls = plan_calls(&reads, at(1_000_000));
        let series = |id: &str, v: f64| Series { id: id.into(), points: vec![(at(999_960), v)] };
        let mut answers = vec![Vec::new(); 2];
        distribute(&calls[0], vec![series("r1_result", 4.0), series("r0_result", 1.0)], &mut answers);
        assert_eq!(answers, [vec![series("result", 1.0)], vec![series("result", 4.0)]]);
        // A read alone under its original ids gets its series as they are.
        let alone = Call { start: 0, end: 1, queries: vec![stat("m1")], reads: vec![1], prefixed: false };
        let mut answers = vec![Vec::new(); 2];
        distribute(&alone, vec![series("m1", 2.0)], &mut answers);
        assert_eq!(answers[1], [series("m1", 2.0)]);
    }
}
