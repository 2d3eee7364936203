//! GetMetricData for every gate of the process, through the shared poller.
//!
//! Reads over the same time range are packed into calls of up to 500
//! queries. Query ids only need to be unique within a call, and every gate
//! names its own (`m1`, `result`), so each read's ids get a prefix of their
//! own in a merged call, and its metric math is rewritten to match; the
//! answer is handed back under the original ids. A read goes alone, as
//! written, when its expressions cannot be rewritten safely: strings,
//! `METRICS()`, `SEARCH()` and Metrics Insights queries can see other
//! queries of the call, and so can a name that is not one of the read's own
//! ids; so do reads whose ids or expressions the prefix would make too long.
//!
//! One read's mistake must not fail the others: when CloudWatch refuses a
//! merged call for what its queries say (HTTP 400, not throttling), the
//! call is split in halves until the faulty read is alone, which costs a
//! few calls, not one per read. Calls of a batch run concurrently.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::MetricDataQuery;
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{describe_error, is_throttling};
use crate::engine::GateError;
use crate::engine::poller::BatchSource;

/// One read's series, or why it has none.
type SeriesOrError = Result<Vec<Series>, GateError>;

/// GetMetricData takes at most this many queries per call.
const QUERIES_PER_CALL: usize = 500;
/// The longest query id and expression CloudWatch takes.
const ID_LIMIT: usize = 255;
const EXPRESSION_LIMIT: usize = 2048;

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

/// One GetMetricData call of a batch: the reads it answers, by position.
#[derive(Debug, PartialEq)]
struct Call {
    start: i64,
    end: i64,
    reads: Vec<usize>,
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
        } else if c.is_ascii_lowercase() {
            // Not its own id: in a merged call it could name another read's.
            return None;
        }
        out.push_str(token);
        rest = &rest[token_len..];
    }
    (out.len() <= EXPRESSION_LIMIT).then_some(out)
}

/// `read`'s queries under its prefix, or `None` when they must go alone.
fn prefixed_queries(read: usize, queries: &[MetricDataQuery]) -> Option<Vec<MetricDataQuery>> {
    let prefix = prefix(read);
    let ids: Vec<&str> = queries.iter().filter_map(MetricDataQuery::id).collect();
    queries
        .iter()
        .map(|q| {
            let mut q = q.clone();
            q.id = Some(format!("{prefix}{}", q.id?)).filter(|id| id.len() <= ID_LIMIT);
            q.id.as_ref()?;
            if let Some(expression) = &q.expression {
                q.expression = Some(prefixed_expression(expression, &ids, &prefix)?);
            }
            Some(q)
        })
        .collect()
}

/// The calls that answer `reads` at `now`, given each read's prefixed
/// queries (`None`: it goes alone): reads over the same range share calls of
/// up to [`QUERIES_PER_CALL`] queries; a read is never split.
fn plan_calls(reads: &[MetricRead], prefixed: &[Option<Vec<MetricDataQuery>>], now: OffsetDateTime) -> Vec<Call> {
    let mut by_range: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
    for (i, read) in reads.iter().enumerate() {
        by_range.entry(read.range.resolve(now)).or_default().push(i);
    }
    let mut calls = Vec::new();
    for ((start, end), members) in by_range {
        let mut open: Option<(Call, usize)> = None;
        for i in members {
            let Some(size) = prefixed[i].as_ref().map(Vec::len).filter(|&n| n < QUERIES_PER_CALL) else {
                calls.push(Call { start, end, reads: vec![i] });
                continue;
            };
            if open.as_ref().is_some_and(|(_, queries)| queries + size > QUERIES_PER_CALL) {
                calls.extend(open.take().map(|(call, _)| call));
            }
            let (call, queries) = open.get_or_insert_with(|| (Call { start, end, reads: Vec::new() }, 0));
            call.reads.push(i);
            *queries += size;
        }
        calls.extend(open.map(|(call, _)| call));
    }
    calls
}

/// The queries of a call answering `members`: a read alone as it was
/// written, several under their prefixes.
fn call_queries(
    reads: &[MetricRead],
    prefixed: &[Option<Vec<MetricDataQuery>>],
    members: &[usize],
) -> Vec<MetricDataQuery> {
    match members {
        [only] => reads[*only].queries.clone(),
        _ => members.iter().filter_map(|&i| prefixed[i].clone()).flatten().collect(),
    }
}

/// Each member's share of a call's answer, under its own ids.
fn distribute(members: &[usize], series: Vec<Series>) -> Vec<(usize, Vec<Series>)> {
    if let [only] = members {
        return vec![(*only, series)];
    }
    let mut shares: Vec<(usize, Vec<Series>)> = members.iter().map(|&i| (i, Vec::new())).collect();
    for mut s in series {
        let owner =
            shares.iter_mut().find_map(|(read, share)| Some((s.id.strip_prefix(&prefix(*read))?.to_owned(), share)));
        if let Some((id, share)) = owner {
            s.id = id;
            share.push(s);
        }
    }
    shares
}

/// The process's GetMetricData reader.
pub struct MetricData(pub aws_sdk_cloudwatch::Client);

struct CallError {
    message: String,
    /// CloudWatch refused the call for what its queries say.
    refused_queries: bool,
}

impl MetricData {
    /// One call, all its pages.
    async fn get(&self, start: i64, end: i64, queries: &[MetricDataQuery]) -> Result<Vec<Series>, CallError> {
        let mut series: BTreeMap<(String, String), Vec<(OffsetDateTime, f64)>> = BTreeMap::new();
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
                    message: describe_error("CloudWatch", "GetMetricData", &e),
                    refused_queries: e.raw_response().is_some_and(|r| r.status().as_u16() == 400)
                        && !e.as_service_error().and_then(ProvideErrorMetadata::code).is_some_and(is_throttling),
                })?;
            for result in page.metric_data_results() {
                // SEARCH and GROUP BY answer several series under one id.
                let key = (result.id().unwrap_or_default().to_owned(), result.label().unwrap_or_default().to_owned());
                let points = series.entry(key).or_default();
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
        Ok(series.into_iter().map(|((id, _), points)| Series { id, points }).collect())
    }

    /// Answers `members` with one call, or, when CloudWatch refuses it for
    /// what the queries say, with each half on its own.
    fn read_isolating<'a>(
        &'a self,
        reads: &'a [MetricRead],
        prefixed: &'a [Option<Vec<MetricDataQuery>>],
        call: Call,
    ) -> BoxFuture<'a, Vec<(usize, SeriesOrError)>> {
        Box::pin(async move {
            match self.get(call.start, call.end, &call_queries(reads, prefixed, &call.reads)).await {
                Ok(series) => {
                    distribute(&call.reads, series).into_iter().map(|(read, share)| (read, Ok(share))).collect()
                }
                Err(e) if e.refused_queries && call.reads.len() > 1 => {
                    let (first, second) = call.reads.split_at(call.reads.len() / 2);
                    let half = |members: &[usize]| Call { start: call.start, end: call.end, reads: members.to_vec() };
                    let (a, b) = futures_util::future::join(
                        self.read_isolating(reads, prefixed, half(first)),
                        self.read_isolating(reads, prefixed, half(second)),
                    )
                    .await;
                    a.into_iter().chain(b).collect()
                }
                Err(e) => call.reads.iter().map(|&read| (read, Err(GateError(e.message.clone())))).collect(),
            }
        })
    }
}

impl BatchSource for MetricData {
    type Request = MetricRead;
    type Answer = Vec<Series>;
    type Error = GateError;

    async fn fetch_all(&self, reads: Vec<MetricRead>) -> Vec<Result<Vec<Series>, GateError>> {
        let prefixed: Vec<_> = reads.iter().enumerate().map(|(i, read)| prefixed_queries(i, &read.queries)).collect();
        let calls = plan_calls(&reads, &prefixed, OffsetDateTime::now_utc());
        let answered =
            futures_util::future::join_all(calls.into_iter().map(|call| self.read_isolating(&reads, &prefixed, call)))
                .await;
        let mut answers: Vec<Result<Vec<Series>, GateError>> =
            reads.iter().map(|_| Err(GateError("the read was not answered".into()))).collect();
        for (read, answer) in answered.into_iter().flatten() {
            answers[read] = answer;
        }
        answers
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::types::{Metric, MetricStat};

    use super::*;

    fn stat(id: &str) -> MetricDataQuery {
        let metric = Metric::builder().namespace("AWS/ApplicationELB").metric_name("RequestCount").build();
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(MetricStat::builder().metric(metric).period(60).stat("Sum").build())
            .build()
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
        let ids = ["m1", "m2", "e", "m10"];
        assert_eq!(prefixed_expression("100*m1/m2", &ids, "r3_").as_deref(), Some("100*r3_m1/r3_m2"));
        assert_eq!(
            prefixed_expression("IF(m1 > 1e3, m10, FILL(m2, .5))", &ids, "r0_").as_deref(),
            Some("IF(r0_m1 > 1e3, r0_m10, FILL(r0_m2, .5))")
        );
        assert_eq!(
            prefixed_expression("e*2.5e1+e", &ids, "r1_").as_deref(),
            Some("r1_e*2.5e1+r1_e"),
            "an exponent is not the id e"
        );
        for unsafe_expression in [
            "SUM(METRICS())",
            "SEARCH('{AWS/EC2} CPU', 'Average', 60)",
            "SELECT AVG(CPUUtilization) FROM \"AWS/EC2\"",
            "m1 + r1_m1",
        ] {
            assert_eq!(prefixed_expression(unsafe_expression, &ids, "r0_"), None, "{unsafe_expression}");
        }
        let long = format!("m1{}", "+m1".repeat(600));
        assert_eq!(prefixed_expression(&long, &ids, "r0_"), None, "too long once prefixed");
    }

    fn prefixed(reads: &[MetricRead]) -> Vec<Option<Vec<MetricDataQuery>>> {
        reads.iter().enumerate().map(|(i, read)| prefixed_queries(i, &read.queries)).collect()
    }

    #[test]
    fn reads_over_one_range_share_a_call_under_their_own_prefixes() {
        let now = at(1_000_000);
        let reads = [
            read(vec![stat("m1"), stat("m2"), math("result", "100*m1/m2")], WINDOW),
            read(vec![stat("result")], WINDOW),
            read(vec![stat("canary_requests")], TimeRange::Between(at(999_000), now)),
            read(vec![stat("m1"), math("result", "SUM(METRICS())")], WINDOW),
            read(vec![stat(&"x".repeat(253))], WINDOW),
        ];
        let prefixed = prefixed(&reads);
        let calls = plan_calls(&reads, &prefixed, now);
        let shape: Vec<_> = calls.iter().map(|c| (c.start, c.end, c.reads.clone())).collect();
        assert_eq!(
            shape,
            [
                (999_000, 1_000_000, vec![2]),
                (999_820, 1_000_001, vec![3]),
                (999_820, 1_000_001, vec![4]),
                (999_820, 1_000_001, vec![0, 1])
            ]
        );
        let merged = call_queries(&reads, &prefixed, &calls[3].reads);
        let ids: Vec<_> = merged.iter().map(|q| (q.id().unwrap(), q.expression())).collect();
        assert_eq!(
            ids,
            [("r0_m1", None), ("r0_m2", None), ("r0_result", Some("100*r0_m1/r0_m2")), ("r1_result", None)]
        );
        assert_eq!(
            call_queries(&reads, &prefixed, &calls[1].reads),
            reads[3].queries,
            "an unsafe expression goes alone, untouched"
        );
        assert_eq!(
            call_queries(&reads, &prefixed, &calls[0].reads),
            reads[2].queries,
            "a read alone keeps its own ids"
        );
        assert_eq!(calls[2].reads, [4], "an id the prefix would make too long goes alone");
    }

    #[test]
    fn a_call_holds_at_most_500_queries_and_a_read_is_never_split() {
        let reads: Vec<_> = (0..3).map(|_| read((0..200).map(|i| stat(&format!("m{i}"))).collect(), WINDOW)).collect();
        let calls = plan_calls(&reads, &prefixed(&reads), at(1_000_000));
        let sizes: Vec<_> =
            calls.iter().map(|c| (call_queries(&reads, &prefixed(&reads), &c.reads).len(), c.reads.clone())).collect();
        assert_eq!(sizes, [(400, vec![0, 1]), (200, vec![2])]);
    }

    #[test]
    fn answers_go_back_to_their_reads_under_the_original_ids() {
        let series = |id: &str, v: f64| Series { id: id.into(), points: vec![(at(999_960), v)] };
        let shares =
            distribute(&[0, 1], vec![series("r1_result", 4.0), series("r0_result", 1.0), series("r1_m1", 2.0)]);
        assert_eq!(shares, [(0, vec![series("result", 1.0)]), (1, vec![series("result", 4.0), series("m1", 2.0)])]);
        assert_eq!(
            distribute(&[1], vec![series("m1", 2.0)]),
            [(1, vec![series("m1", 2.0)])],
            "a read alone gets its series as they are"
        );
    }
}
