//! Traffic routers: whatever splits requests between two versions (an ALB
//! listener or rule today; weighted DNS, Lambda aliases and others later).

use std::collections::BTreeMap;

/// How a router currently splits traffic: destination → weight, as the
/// router reports it (ALB weights are 0..=999 and need not sum to 100).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split(pub BTreeMap<String, u32>);

impl Split {
    /// Everything to one destination.
    pub fn all_to(destination: &str) -> Split {
        Split([(destination.to_owned(), 100)].into())
    }

    /// The two-way split a rollout sets: `target` gets `percent`, `origin`
    /// the rest. Destinations with weight 0 are left out.
    pub fn between(origin: &str, target: &str, percent: u32) -> Split {
        let mut weights = BTreeMap::new();
        if percent < 100 {
            weights.insert(origin.to_owned(), 100 - percent);
        }
        if percent > 0 {
            weights.insert(target.to_owned(), percent);
        }
        Split(weights)
    }

    fn total(&self) -> u32 {
        self.0.values().sum()
    }

    /// The share of traffic `destination` receives, in whole percent
    /// (rounded down, except that any traffic at all is at least 1%).
    pub fn percent_of(&self, destination: &str) -> u32 {
        let total = self.total();
        match self.0.get(destination) {
            Some(&w) if total > 0 && w > 0 => (w * 100 / total).max(1),
            _ => 0,
        }
    }

    /// Destinations that receive traffic.
    pub fn serving(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter(|(_, w)| **w > 0).map(|(d, _)| d.as_str())
    }

    /// Percentages per destination that receives traffic.
    pub fn percentages(&self) -> BTreeMap<String, u32> {
        self.serving().map(|d| (d.to_owned(), self.percent_of(d))).collect()
    }

    /// Whether this split sends the same shares as `other`.
    pub fn same_shares(&self, other: &Split) -> bool {
        self.percentages() == other.percentages()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RouterError(pub String);

/// Moves traffic. Implementations change the routing and report it; the
/// engine checks every change by reading it back.
#[allow(async_fn_in_trait)]
pub trait TrafficRouter {
    /// What the router says it does now.
    async fn read(&self) -> Result<Split, RouterError>;
    /// Replaces the split. `split` names at most two destinations.
    async fn route(&self, split: &Split) -> Result<(), RouterError>;
    /// A short name for messages, e.g. `listener app/web/…/…`.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_follow_weights_in_any_scale() {
        let s = Split([("a".to_owned(), 900), ("b".to_owned(), 100)].into());
        assert_eq!(s.percent_of("a"), 90);
        assert_eq!(s.percent_of("b"), 10);
        assert_eq!(s.percent_of("c"), 0);
        // A one-group forward reported with weight 1 is 100%.
        assert_eq!(Split([("a".to_owned(), 1)].into()).percent_of("a"), 100);
        // A tiny share still counts as traffic.
        assert_eq!(Split([("a".to_owned(), 999), ("b".to_owned(), 1)].into()).percent_of("b"), 1);
        let zero = Split([("a".to_owned(), 0), ("b".to_owned(), 5)].into());
        assert_eq!(zero.serving().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn between_drops_empty_sides() {
        assert_eq!(Split::between("a", "b", 0), Split::all_to("a"));
        assert_eq!(Split::between("a", "b", 100), Split::all_to("b"));
        assert_eq!(Split::between("a", "b", 10).percentages(), [("a".to_owned(), 90), ("b".to_owned(), 10)].into());
        assert!(Split::between("a", "b", 10).same_shares(&Split([("a".to_owned(), 9), ("b".to_owned(), 1)].into())));
    }
}
