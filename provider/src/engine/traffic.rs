//! Traffic routers as the engine sees them: something that splits requests
//! between destinations (target groups, function versions, record sets) and
//! reports the split it applies. Which AWS mechanism does it is the routers'
//! business (`crate::routers`); the engine only reads, sets and compares.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

/// Two shares closer than this (in percent) are the same share: weights are
/// exact integers or fractions, and only floating-point rounding separates
/// them (distinct shares that whole weights up to 999 give differ by more
/// than 10⁻⁵).
pub const SAME_SHARE: f64 = 1e-6;

/// How a router currently splits traffic: destination → weight, in the
/// router's own scale (ALB weights 0..=999, Lambda fractions, percent); only
/// the proportions matter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split(pub BTreeMap<String, f64>);

impl Split {
    /// Everything to one destination.
    pub fn all_to(destination: &str) -> Split {
        Split([(destination.to_owned(), 100.0)].into())
    }

    /// The two-way split a rollout sets, in percent: `target` gets
    /// `percent`, `origin` the rest. Destinations with no share are left out.
    pub fn between(origin: &str, target: &str, percent: f64) -> Split {
        let mut weights = BTreeMap::new();
        if percent < 100.0 {
            weights.insert(origin.to_owned(), 100.0 - percent);
        }
        if percent > 0.0 {
            weights.insert(target.to_owned(), percent);
        }
        Split(weights)
    }

    fn total(&self) -> f64 {
        self.0.values().filter(|w| **w > 0.0).sum()
    }

    /// The share of traffic `destination` receives, in percent.
    pub fn percent_of(&self, destination: &str) -> f64 {
        let total = self.total();
        match self.0.get(destination) {
            Some(&w) if total > 0.0 && w > 0.0 => 100.0 * w / total,
            _ => 0.0,
        }
    }

    /// Destinations that receive traffic.
    pub fn serving(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter(|(_, w)| **w > 0.0).map(|(d, _)| d.as_str())
    }

    /// The destination that receives everything, if one does.
    pub fn sole_server(&self) -> Option<&str> {
        let mut serving = self.serving();
        match (serving.next(), serving.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// Percentages per destination that receives traffic.
    pub fn percentages(&self) -> BTreeMap<String, f64> {
        self.serving().map(|d| (d.to_owned(), self.percent_of(d))).collect()
    }

    /// Whether this split sends the same shares as `other`.
    pub fn same_shares(&self, other: &Split) -> bool {
        let (mine, theirs) = (self.percentages(), other.percentages());
        mine.len() == theirs.len()
            && mine.iter().all(|(d, p)| theirs.get(d).is_some_and(|q| (p - q).abs() < SAME_SHARE))
    }

    /// Percentages for messages, e.g. `{blue: 90%, green: 10%}`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> =
            self.percentages().iter().map(|(d, p)| format!("{d}: {}%", format_percent(*p))).collect();
        format!("{{{}}}", parts.join(", "))
    }
}

/// A percentage as people write it: `10`, `0.5`, `0.390625`, `33.333333`
/// (at most six decimals, exact for every share 255-weights give).
pub fn format_percent(percent: f64) -> String {
    let text = format!("{percent:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_owned() } else { text.to_owned() }
}

/// Which shares a router can send exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Any share (Lambda's routing weights are fractions).
    Continuous,
    /// Shares that two whole weights from 0 to `max` give: ALB's 0..=999
    /// reach 0.1%, Route 53's 0..=255 less.
    Weights { max: u32 },
}

impl Granularity {
    /// Whole weights `(origin, target)` that give `percent` to the target
    /// exactly, preferring the scale of 100 (so that 10% is `90, 10`).
    pub fn weights(&self, percent: f64) -> Option<(u32, u32)> {
        let Granularity::Weights { max } = *self else { return None };
        if percent <= 0.0 {
            return Some((max.min(100), 0));
        }
        if percent >= 100.0 {
            return Some((0, max.min(100)));
        }
        let fits = |total: u32| {
            let target = (percent * f64::from(total) / 100.0).round() as u32;
            let origin = total.checked_sub(target)?;
            let exact = (100.0 * f64::from(target) / f64::from(total) - percent).abs() < SAME_SHARE;
            (exact && target <= max && origin <= max && target > 0 && origin > 0).then_some((origin, target))
        };
        fits(100).or_else(|| (2..=2 * max).find_map(fits))
    }

    pub fn represents(&self, percent: f64) -> bool {
        match self {
            Granularity::Continuous => true,
            Granularity::Weights { .. } => self.weights(percent).is_some(),
        }
    }

    /// The representable share nearest to `percent` (strictly between 0 and 100).
    pub fn nearest(&self, percent: f64) -> f64 {
        let Granularity::Weights { max } = *self else { return percent };
        let mut best = f64::NAN;
        for total in 2..=2 * max {
            let target = (percent * f64::from(total) / 100.0).round().clamp(1.0, f64::from(total - 1));
            if target > f64::from(max) || f64::from(total) - target > f64::from(max) {
                continue;
            }
            let share = 100.0 * target / f64::from(total);
            if best.is_nan() || (share - percent).abs() < (best - percent).abs() {
                best = share;
            }
        }
        best
    }
}

/// Why a router could not read or change the routing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// The routing itself (listener, alias, record) does not exist.
    #[error("{0}")]
    Gone(String),
    /// A destination (target group, version, record set) does not exist.
    #[error("{0}")]
    Missing(String),
    /// AWS throttled the call or gave no answer (5xx, reset, timeout) even
    /// after the SDK's retries: the same call may well work a little later.
    #[error("{0}")]
    Transient(String),
    /// Anything else: AWS refused (access denied, invalid request), or the
    /// routing cannot be used.
    #[error("{0}")]
    Failed(String),
}

/// A shared read that went unanswered (its fetch stopped): asking again may work.
impl From<super::poller::Unanswered> for RouterError {
    fn from(e: super::poller::Unanswered) -> RouterError {
        RouterError::Transient(e.0.to_owned())
    }
}

/// Moves traffic. Implementations change the routing and report it; the
/// engine checks every change by reading it back.
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// What the router says it does now.
    async fn read(&self) -> Result<Split, RouterError>;
    /// Replaces the split: at most two destinations, shares in percent. A
    /// router that waits for a change to propagate stops waiting when `stop`
    /// is cancelled (the change stands: the engine reads back what is).
    async fn route(&self, split: &Split, stop: &CancellationToken) -> Result<(), RouterError>;
    /// A short name for messages, e.g. `listener app/web/…/…`.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pairs: &[(&str, f64)]) -> Split {
        Split(pairs.iter().map(|(d, w)| ((*d).to_owned(), *w)).collect())
    }

    #[test]
    fn percentages_follow_weights_in_any_scale() {
        let s = split(&[("a", 900.0), ("b", 100.0)]);
        assert_eq!(s.percent_of("a"), 90.0);
        assert_eq!(s.percent_of("b"), 10.0);
        assert_eq!(s.percent_of("c"), 0.0);
        // A one-group forward reported with weight 1 is 100%.
        assert_eq!(split(&[("a", 1.0)]).percent_of("a"), 100.0);
        assert_eq!(split(&[("a", 999.0), ("b", 1.0)]).percent_of("b"), 0.1);
        let zero = split(&[("a", 0.0), ("b", 5.0)]);
        assert_eq!(zero.serving().collect::<Vec<_>>(), ["b"]);
        assert_eq!(zero.sole_server(), Some("b"));
        assert_eq!(s.sole_server(), None);
    }

    #[test]
    fn between_drops_empty_sides() {
        assert_eq!(Split::between("a", "b", 0.0), Split::all_to("a"));
        assert_eq!(Split::between("a", "b", 100.0), Split::all_to("b"));
        assert!(Split::between("a", "b", 10.0).same_shares(&split(&[("a", 9.0), ("b", 1.0)])));
        assert!(Split::between("a", "b", 12.5).same_shares(&split(&[("a", 0.875), ("b", 0.125)])));
        assert!(!Split::between("a", "b", 12.5).same_shares(&split(&[("a", 0.87), ("b", 0.13)])));
        assert!(!Split::all_to("a").same_shares(&split(&[("a", 1.0), ("b", 0.0), ("c", 1.0)])));
    }

    #[test]
    fn percentages_are_written_as_people_write_them() {
        assert_eq!(format_percent(10.0), "10");
        assert_eq!(format_percent(0.5), "0.5");
        assert_eq!(format_percent(100.0 / 3.0), "33.333333");
        assert_eq!(format_percent(100.0 / 256.0), "0.390625");
    }

    #[test]
    fn whole_weights_give_exact_shares_or_none() {
        let alb = Granularity::Weights { max: 999 };
        assert_eq!(alb.weights(10.0), Some((90, 10)), "whole percentages keep the scale of 100");
        assert_eq!(alb.weights(0.1), Some((999, 1)));
        assert_eq!(alb.weights(12.5), Some((7, 1)));
        assert_eq!(alb.weights(0.05), None, "1 in 2000 needs a weight of 1999");
        assert!((alb.nearest(0.05) - 0.1).abs() < 1e-9, "the least share is 1 in 1000: {}", alb.nearest(0.05));

        let dns = Granularity::Weights { max: 255 };
        assert_eq!(dns.weights(50.0), Some((50, 50)));
        assert_eq!(dns.weights(0.5), Some((199, 1)));
        assert_eq!(dns.weights(0.3), None, "3 in 1000");
        assert!((dns.nearest(0.3) - 100.0 / 256.0).abs() < 1e-9, "the least share is 1 in 256: {}", dns.nearest(0.3));
        assert!(Granularity::Continuous.represents(0.0001));
    }
}
