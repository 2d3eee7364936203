//! Traffic routers: the AWS mechanisms `progressive_rollout` moves traffic
//! with, one file each. A router is one block of the resource: it declares
//! the block's schema, checks it, names the routing (Terraform id, import
//! ids), and, connected to AWS, reads and sets splits, checks destinations,
//! keeps the rollout lease, and names the metrics the analysis can judge.
//! The rollout never names a router; adding one is a new file implementing
//! [`RouterKind`], [`Routing`] and [`Router`], and one line in [`ROUTERS`].
//! See design note 0009 for a walkthrough.

pub mod alb;
pub mod lambda_alias;
pub mod route53;

use async_trait::async_trait;
use tfplugin::{AttributePath, Block, Diagnostics, Value};

use crate::aws::Clients;
use crate::aws::cloudwatch::DestinationMetrics;
use crate::engine::lease::LeaseStore;
use crate::engine::traffic::{Granularity, RouterError, TrafficRouter};

/// The tag that holds a rollout's lease, beside the routing (design note 0006).
pub const LEASE_TAG: &str = "progressive:rollout-lease";
/// Where one taggable resource holds several routings' leases (a function's
/// aliases, a zone's records): `<LEASE_TAG>:<which routing>`.
pub const LEASE_TAG_PREFIX: &str = "progressive:rollout-lease:";

/// Every router, in documentation order.
pub static ROUTERS: [&dyn RouterKind; 3] = [&alb::Alb, &lambda_alias::LambdaAlias, &route53::Route53];

/// A kind of router: one block of `progressive_rollout`, known without AWS.
pub trait RouterKind: Send + Sync {
    /// The block's name, e.g. `alb`.
    fn name(&self) -> &'static str;
    /// The block's schema; its descriptions are the documentation. Its
    /// identity attributes are declared `requires_replace`.
    fn block(&self) -> Block;
    /// The attribute naming the destination that serves everything when done.
    fn target_attribute(&self) -> &'static str;
    /// What a destination is, for messages: `target group`, `version`.
    fn destination_kind(&self) -> &'static str;
    /// Which shares the router can send exactly.
    fn granularity(&self) -> Granularity;
    /// The error metric the analysis judges by default, or why this router
    /// offers no per-destination metrics (then `analysis` is refused).
    fn default_error_metric(&self) -> Result<&'static str, &'static str>;
    /// Checks an error metric name for the analysis; the error says why not.
    fn check_error_metric(&self, name: &str) -> Result<(), String>;
    /// The per-request duration metric the service publishes per
    /// destination, by which slow requests are counted (see
    /// [`Routing::latency_metrics`]); `None` when it publishes none.
    fn duration_metric(&self) -> Option<&'static str> {
        None
    }
    /// Checks the block (values may be unknown); errors go to `d` under
    /// `at`. The routing once everything but the target is known and valid.
    fn parse(&self, block: &Value, at: &AttributePath, d: &mut Diagnostics) -> Option<Box<dyn Routing>>;
    /// The import ids this router takes, for messages and the docs.
    fn import_id_format(&self) -> &'static str;
    /// The routing an import id names, if the id has this router's form.
    fn import(&self, id: &str) -> Option<Result<Box<dyn Routing>, String>>;
}

/// One routing as configured: everything in the block but the target.
pub trait Routing: Send + Sync {
    /// The Terraform id.
    fn id(&self) -> String;
    /// The block's value with `target` as its target.
    fn block_value(&self, target: &str) -> Value;
    /// A destination's name for messages, e.g. `target group web-blue`.
    fn destination_name(&self, destination: &str) -> String;
    /// The CloudWatch metrics of the canary (`target`) and the baseline
    /// (`origin`), `(canary, baseline)`, counting `error_metric` as errors.
    fn analysis_metrics(
        &self,
        origin: &str,
        target: &str,
        error_metric: &str,
    ) -> Option<(DestinationMetrics, DestinationMetrics)>;
    /// `(canary, baseline)` requests and the requests among them slower than
    /// `threshold`, as the service publishes them per destination; `None`
    /// when it publishes no per-request durations per destination.
    fn latency_metrics(
        &self,
        origin: &str,
        target: &str,
        threshold: std::time::Duration,
    ) -> Option<(DestinationMetrics, DestinationMetrics)> {
        let _ = (origin, target, threshold);
        None
    }
    /// A router for this routing on AWS. No call is made here.
    fn connect(&self, aws: &Clients) -> Box<dyn Router>;
}

/// A routing on AWS: the engine's [`TrafficRouter`] and [`LeaseStore`], and
/// the checks made before anything moves.
#[async_trait]
pub trait Router: TrafficRouter + LeaseStore {
    /// Checks that `destination` exists and can take traffic through this
    /// routing; the error says why not.
    async fn check_destination(&self, destination: &str) -> Result<(), RouterError>;
    /// A warning for the plan about running `schedule`'s bakes on this
    /// routing (DNS caching), if any.
    async fn bake_warning(&self, _shortest_bake: std::time::Duration) -> Option<String> {
        None
    }
}

/// The router whose block is present in `config`, or why there is not
/// exactly one; `None` inside when no block is known yet.
pub fn chosen(config: &Value) -> Result<Option<&'static dyn RouterKind>, String> {
    // A block still unknown (a `dynamic` block over an unknown collection)
    // may turn out absent: nothing to say yet.
    if ROUTERS.iter().any(|r| !config.get(r.name()).is_known()) {
        return Ok(None);
    }
    let present: Vec<&'static dyn RouterKind> =
        ROUTERS.iter().copied().filter(|r| !config.get(r.name()).is_null()).collect();
    match present[..] {
        [one] => Ok(Some(one)),
        [] if !config.is_known() => Ok(None),
        [] => Err(format!("Add one router block: {}.", names())),
        _ => Err(format!(
            "Use one router block, not {}.",
            present.iter().map(|r| r.name()).collect::<Vec<_>>().join(" and ")
        )),
    }
}

/// The routers' block names, for messages: `alb, lambda_alias or route53`.
pub fn names() -> String {
    let names: Vec<&str> = ROUTERS.iter().map(|r| r.name()).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Checks that `value` is a known string ARN of `service` whose resource
/// part starts with `resource_prefix` (e.g. `listener/`).
pub fn check_arn(
    value: &Value,
    at: AttributePath,
    service: &str,
    resource_prefix: &str,
    what: &str,
    d: &mut Diagnostics,
) {
    let Some(arn) = value.as_str() else { return };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6 && parts[0] == "arn" && parts[2] == service && parts[5].starts_with(resource_prefix);
    if !ok {
        d.error_at(
            at,
            format!("Not a {what} ARN"),
            format!("{arn:?} is not the ARN of a {what} (arn:aws:{service}:<region>:<account>:{resource_prefix}...)."),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_router_has_a_unique_well_formed_block() {
        let mut seen = Vec::new();
        for r in ROUTERS {
            assert!(!seen.contains(&r.name()), "{} twice", r.name());
            seen.push(r.name());
            let block = r.block();
            assert!(block.problems().is_empty(), "{}: {:?}", r.name(), block.problems());
            assert!(block.find_attribute(r.target_attribute()).is_some(), "{}: no target attribute", r.name());
            assert!(block.attributes.iter().any(|a| a.requires_replace), "{}: no identity attribute", r.name());
            assert!(!r.import_id_format().is_empty());
        }
    }

    #[test]
    fn keyed_lease_tags_extend_the_lease_tag() {
        assert_eq!(LEASE_TAG_PREFIX, format!("{LEASE_TAG}:"));
    }

    #[test]
    fn exactly_one_router_block() {
        let with = |names: &[&str]| {
            Value::object(
                ROUTERS
                    .iter()
                    .map(|r| (r.name(), if names.contains(&r.name()) { Value::object([]) } else { Value::Null })),
            )
        };
        assert_eq!(chosen(&with(&["alb"])).unwrap().unwrap().name(), "alb");
        let refused = |names: &[&str]| chosen(&with(names)).err().unwrap_or_default();
        assert!(refused(&[]).contains(&names()), "{}", refused(&[]));
        if let [first, second, ..] = ROUTERS[..] {
            assert!(refused(&[first.name(), second.name()]).contains(&format!(
                "{} and {}",
                first.name(),
                second.name()
            )));
        }
    }
}
