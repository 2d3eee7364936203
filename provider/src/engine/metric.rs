//! Threshold gates on any metric query: healthy while the newest value in
//! the window satisfies the comparison; failing after `failures` consecutive
//! looks that breach it.

use std::sync::Mutex;
use std::time::Duration;

use super::analysis::MissingData;
use super::{Finding, Gate, GateError, Verdict};

/// The healthy condition: `value <op> threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    pub fn parse(text: &str) -> Option<Comparison> {
        match text {
            "<" => Some(Comparison::Less),
            "<=" => Some(Comparison::LessOrEqual),
            ">" => Some(Comparison::Greater),
            ">=" => Some(Comparison::GreaterOrEqual),
            _ => None,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }

    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
            Comparison::Greater => value > threshold,
            Comparison::GreaterOrEqual => value >= threshold,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricCheck {
    pub name: String,
    pub comparison: Comparison,
    pub threshold: f64,
    pub window: Duration,
    /// Consecutive breaching looks before the gate fails (at least 1).
    pub failures: u32,
    pub on_missing_data: MissingData,
}

/// Where a metric's values come from (CloudWatch GetMetricData in production).
#[allow(async_fn_in_trait)]
pub trait MetricSource {
    /// The newest value within the last `window`, if there is one.
    async fn newest(&self, window: Duration) -> Result<Option<f64>, GateError>;
}

pub struct MetricGate<S> {
    source: S,
    check: MetricCheck,
    breaches: Mutex<u32>,
}

impl<S: MetricSource> MetricGate<S> {
    pub fn new(source: S, check: MetricCheck) -> MetricGate<S> {
        MetricGate { source, check, breaches: Mutex::new(0) }
    }

    fn finding(&self, reason: String) -> Finding {
        Finding { source: format!("metric {:?}", self.check.name), reason, since: None }
    }
}

impl<S: MetricSource> Gate for MetricGate<S> {
    async fn check(&self) -> Result<Verdict, GateError> {
        let c = &self.check;
        let Some(value) = self.source.newest(c.window).await? else {
            let window = crate::duration::format(c.window);
            return Ok(match c.on_missing_data {
                MissingData::Wait => Verdict::Pending(format!("no data for metric {:?} in the last {window}", c.name)),
                MissingData::Fail => Verdict::Unhealthy(
                    self.finding(format!("no data in the last {window} (on_missing_data = \"fail\")")),
                ),
                MissingData::Ignore => Verdict::Healthy,
            });
        };
        let mut breaches = self.breaches.lock().unwrap_or_else(|p| p.into_inner());
        if c.comparison.holds(value, c.threshold) {
            *breaches = 0;
            return Ok(Verdict::Healthy);
        }
        *breaches += 1;
        if *breaches < c.failures.max(1) {
            return Ok(Verdict::Healthy);
        }
        Ok(Verdict::Unhealthy(self.finding(format!(
            "{value} breaches the condition {} {} ({} consecutive looks)",
            c.comparison.symbol(),
            c.threshold,
            *breaches
        ))))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Values returned one per look.
    struct Values(RefCell<Vec<Option<f64>>>);

    impl MetricSource for Values {
        async fn newest(&self, _: Duration) -> Result<Option<f64>, GateError> {
            Ok(self.0.borrow_mut().remove(0))
        }
    }

    fn gate(values: Vec<Option<f64>>, failures: u32, on_missing_data: MissingData) -> MetricGate<Values> {
        let check = MetricCheck {
            name: "p99-latency".into(),
            comparison: Comparison::LessOrEqual,
            threshold: 0.8,
            window: Duration::from_secs(180),
            failures,
            on_missing_data,
        };
        MetricGate::new(Values(RefCell::new(values)), check)
    }

    #[tokio::test]
    async fn fails_after_consecutive_breaches_only() {
        let g = gate(vec![Some(0.9), Some(0.5), Some(0.9), Some(0.95)], 2, MissingData::Wait);
        assert_eq!(g.check().await, Ok(Verdict::Healthy), "one breach of two allowed");
        assert_eq!(g.check().await, Ok(Verdict::Healthy), "a healthy look resets the count");
        assert_eq!(g.check().await, Ok(Verdict::Healthy));
        let Ok(Verdict::Unhealthy(f)) = g.check().await else { panic!("expected a failure") };
        assert_eq!(f.source, "metric \"p99-latency\"");
        assert_eq!(f.reason, "0.95 breaches the condition <= 0.8 (2 consecutive looks)");
    }

    #[tokio::test]
    async fn missing_data_follows_the_setting() {
        assert!(
            matches!(gate(vec![None], 1, MissingData::Wait).check().await, Ok(Verdict::Pending(r)) if r.contains("last 3m"))
        );
        assert!(matches!(gate(vec![None], 1, MissingData::Fail).check().await, Ok(Verdict::Unhealthy(_))));
        assert_eq!(gate(vec![None], 1, MissingData::Ignore).check().await, Ok(Verdict::Healthy));
    }

    #[tokio::test]
    async fn all_gates_must_pass() {
        let gates = vec![gate(vec![Some(0.1)], 1, MissingData::Wait), gate(vec![None], 1, MissingData::Wait)];
        assert!(matches!(gates.check().await, Ok(Verdict::Pending(_))));
        let gates = vec![gate(vec![None], 1, MissingData::Wait), gate(vec![Some(2.0)], 1, MissingData::Wait)];
        assert!(matches!(gates.check().await, Ok(Verdict::Unhealthy(_))), "a failure outranks pending");
    }

    #[test]
    fn comparisons_are_the_healthy_condition() {
        for (op, value, holds) in [("<", 1.0, false), ("<=", 1.0, true), (">", 2.0, true), (">=", 0.5, false)] {
            assert_eq!(Comparison::parse(op).unwrap().holds(value, 1.0), holds, "{value} {op} 1");
        }
        assert_eq!(Comparison::parse("=="), None);
    }
}
