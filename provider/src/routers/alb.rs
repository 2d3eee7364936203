//! `alb`: the forward action of an Application Load Balancer listener's
//! default actions, or of one of its rules, split between target groups by
//! weight (0 to 999 each).
//!
//! Only the forward action's target groups and weights change; every other
//! action (authentication, for instance), their order, and the stickiness
//! settings are sent back as they were read. The lease is a tag on the
//! listener or rule; the analysis reads the load balancer's per-target-group
//! metrics.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ForwardActionConfig, Tag, TargetGroupTuple};
use tfplugin::{Attribute, AttributePath, Block, Diagnostics, Type, Value};
use tokio_util::sync::CancellationToken;

use super::{LEASE_TAG, Router, RouterKind, Routing, check_arn};
use crate::aws::Clients;
use crate::aws::cloudwatch::{DestinationMetrics, MetricId};
use crate::aws::elbv2::{Elbv2, error as elbv2_error};
use crate::engine::lease::LeaseStore;
use crate::engine::traffic::{Granularity, RouterError, Split, TrafficRouter};

const MAX_WEIGHT: u32 = 999;
const NAMESPACE: &str = "AWS/ApplicationELB";

pub struct Alb;

impl RouterKind for Alb {
    fn name(&self) -> &'static str {
        "alb"
    }

    fn block(&self) -> Block {
        Block::new("An Application Load Balancer listener's (or rule's) forward action, split between target groups by weight (0.1% steps). The lease is a tag on the listener or rule; the analysis reads the load balancer's per-target-group metrics.")
            .attribute(Attribute::required("listener_arn", Type::String, "ARN of the listener.").requires_replace())
            .attribute(Attribute::optional("rule_arn", Type::String, "ARN of a rule of that listener; when set, the rule's forward action is shifted instead of the listener's default action.").requires_replace())
            .attribute(Attribute::required("target_group_arn", Type::String, "The target group that serves 100% when the rollout is done. Whatever serves now is the origin, read from AWS. After a rollback, the state holds the origin here."))
    }

    fn target_attribute(&self) -> &'static str {
        "target_group_arn"
    }

    fn destination_kind(&self) -> &'static str {
        "target group"
    }

    fn granularity(&self) -> Granularity {
        Granularity::Weights { max: MAX_WEIGHT }
    }

    fn duration_metric(&self) -> Option<&'static str> {
        Some("TargetResponseTime")
    }

    fn default_error_metric(&self) -> Result<&'static str, &'static str> {
        Ok("5xx")
    }

    fn check_error_metric(&self, name: &str) -> Result<(), String> {
        match name {
            "5xx" | "4xx" => Ok(()),
            "elb_5xx" => Err("elb_5xx (HTTPCode_ELB_5XX_Count) is published per load balancer, not per target group, so it cannot tell the canary from the baseline. Use 5xx or 4xx here, and watch the load balancer's own 5xx with an alarm or a `metric` block; a canary that refuses connections shows in TargetConnectionErrorCount, which is published per target group.".into()),
            other => Err(format!("With an alb block, metric must be \"5xx\" (HTTPCode_Target_5XX_Count) or \"4xx\" (HTTPCode_Target_4XX_Count), not {other:?}.")),
        }
    }

    fn parse(&self, block: &Value, at: &AttributePath, d: &mut Diagnostics) -> Option<Box<dyn Routing>> {
        let path = |name: &str| at.clone().attribute(name);
        let errors_before = d.0.len();
        check_arn(block.get("listener_arn"), path("listener_arn"), "elasticloadbalancing", "listener/", "listener", d);
        check_arn(
            block.get("rule_arn"),
            path("rule_arn"),
            "elasticloadbalancing",
            "listener-rule/",
            "listener rule",
            d,
        );
        check_arn(
            block.get("target_group_arn"),
            path("target_group_arn"),
            "elasticloadbalancing",
            "targetgroup/",
            "target group",
            d,
        );
        let listener_arn = block.get("listener_arn").as_str()?.to_owned();
        let rule_arn = match block.get("rule_arn") {
            Value::Null => None,
            v => Some(v.as_str()?.to_owned()),
        };
        if let Some(rule) = &rule_arn
            && listener_of_rule(rule) != listener_arn
        {
            d.error_at(
                path("rule_arn"),
                "Rule of another listener",
                format!("{rule} is not a rule of {listener_arn}."),
            );
        }
        (d.0.len() == errors_before).then(|| Box::new(AlbRouting { listener_arn, rule_arn }) as Box<dyn Routing>)
    }

    fn import_id_format(&self) -> &'static str {
        "a listener ARN, or a listener rule ARN"
    }

    fn import(&self, id: &str) -> Option<Result<Box<dyn Routing>, String>> {
        let routing = if id.contains(":listener-rule/") {
            AlbRouting { listener_arn: listener_of_rule(id), rule_arn: Some(id.to_owned()) }
        } else if id.contains(":listener/") {
            AlbRouting { listener_arn: id.to_owned(), rule_arn: None }
        } else {
            return None;
        };
        Some(Ok(Box::new(routing)))
    }
}

/// `arn:...:listener-rule/app/<lb>/<lb-id>/<listener-id>/<rule-id>` belongs to
/// `arn:...:listener/app/<lb>/<lb-id>/<listener-id>`.
fn listener_of_rule(rule_arn: &str) -> String {
    let listener = rule_arn.replacen(":listener-rule/", ":listener/", 1);
    listener.rsplit_once('/').map(|(l, _)| l.to_owned()).unwrap_or(listener)
}

/// CloudWatch's `LoadBalancer` dimension (`app/<name>/<id>`) from a
/// listener ARN (`...:listener/app/<name>/<id>/<listener id>`).
fn load_balancer_dimension(listener_arn: &str) -> String {
    let resource = listener_arn.split_once(":listener/").map_or(listener_arn, |(_, r)| r);
    resource.rsplit_once('/').map_or(resource, |(lb, _)| lb).to_owned()
}

/// CloudWatch's `TargetGroup` dimension (`targetgroup/<name>/<id>`).
fn target_group_dimension(arn: &str) -> String {
    arn.split_once(":targetgroup/").map_or_else(|| arn.to_owned(), |(_, r)| format!("targetgroup/{r}"))
}

struct AlbRouting {
    listener_arn: String,
    rule_arn: Option<String>,
}

impl Routing for AlbRouting {
    fn id(&self) -> String {
        self.rule_arn.clone().unwrap_or_else(|| self.listener_arn.clone())
    }

    fn block_value(&self, target: &str) -> Value {
        Value::object([
            ("listener_arn", self.listener_arn.as_str().into()),
            ("rule_arn", self.rule_arn.clone().into()),
            ("target_group_arn", target.into()),
        ])
    }

    /// `target group web-blue` from `arn:...:targetgroup/web-blue/73e2d6bc24d8a067`.
    fn destination_name(&self, arn: &str) -> String {
        match arn.split_once(":targetgroup/") {
            Some((_, rest)) => format!("target group {}", rest.split('/').next().unwrap_or(rest)),
            None => arn.to_owned(),
        }
    }

    fn analysis_metrics(
        &self,
        origin: &str,
        target: &str,
        error_metric: &str,
    ) -> Option<(DestinationMetrics, DestinationMetrics)> {
        let errors = if error_metric == "4xx" { "HTTPCode_Target_4XX_Count" } else { "HTTPCode_Target_5XX_Count" };
        let load_balancer = load_balancer_dimension(&self.listener_arn);
        let of = |group: &str| {
            let group = target_group_dimension(group);
            let dimensions = [("TargetGroup", group.as_str()), ("LoadBalancer", load_balancer.as_str())];
            DestinationMetrics::counts(
                MetricId::new(NAMESPACE, "RequestCount", &dimensions),
                MetricId::new(NAMESPACE, errors, &dimensions),
            )
        };
        Some((of(target), of(origin)))
    }

    fn latency_metrics(
        &self,
        origin: &str,
        target: &str,
        threshold: Duration,
    ) -> Option<(DestinationMetrics, DestinationMetrics)> {
        let load_balancer = load_balancer_dimension(&self.listener_arn);
        let of = |group: &str| {
            let group = target_group_dimension(group);
            let dimensions = [("TargetGroup", group.as_str()), ("LoadBalancer", load_balancer.as_str())];
            // TargetResponseTime is published per request, in seconds.
            DestinationMetrics::slow(
                MetricId::new(NAMESPACE, "RequestCount", &dimensions),
                MetricId::new(NAMESPACE, "TargetResponseTime", &dimensions),
                threshold.as_secs_f64(),
            )
        };
        Some((of(target), of(origin)))
    }

    fn connect(&self, aws: &Clients) -> Box<dyn Router> {
        Box::new(AlbRouter::new(aws.elbv2.clone(), self.listener_arn.clone(), self.rule_arn.clone()))
    }
}

/// What a rollout routes through.
#[derive(Clone)]
pub struct AlbRouter {
    elbv2: Elbv2,
    listener_arn: String,
    rule_arn: Option<String>,
}

impl AlbRouter {
    pub fn new(elbv2: Elbv2, listener_arn: String, rule_arn: Option<String>) -> AlbRouter {
        AlbRouter { elbv2, listener_arn, rule_arn }
    }

    /// The ARN the router changes, which also holds the lease.
    fn arn(&self) -> &str {
        self.rule_arn.as_deref().unwrap_or(&self.listener_arn)
    }

    async fn actions(&self) -> Result<Vec<Action>, RouterError> {
        match &self.rule_arn {
            Some(rule) => self
                .elbv2
                .rule_actions(rule)
                .await?
                .ok_or_else(|| RouterError::Gone(format!("listener rule {rule} does not exist"))),
            None => {
                let arn = &self.listener_arn;
                self.elbv2
                    .listener_actions(arn)
                    .await?
                    .ok_or_else(|| RouterError::Gone(format!("listener {arn} does not exist")))
            }
        }
    }

    fn forward_index(&self, actions: &[Action]) -> Result<usize, RouterError> {
        actions.iter().position(|a| a.r#type() == Some(&ActionTypeEnum::Forward)).ok_or_else(|| {
            let action = actions.last().and_then(|a| a.r#type()).map_or("none".into(), |t| t.as_str().to_owned());
            RouterError::Failed(format!(
                "{} does not forward traffic (its action is {action}); a rollout needs a forward action",
                self.describe()
            ))
        })
    }
}

#[async_trait]
impl TrafficRouter for AlbRouter {
    async fn read(&self) -> Result<Split, RouterError> {
        let actions = self.actions().await?;
        let forward = &actions[self.forward_index(&actions)?];
        let groups = forward.forward_config().map(|c| c.target_groups()).unwrap_or_default();
        // AWS reports a one-group forward both as TargetGroupArn and as a
        // ForwardConfig of weight 1; moto only as TargetGroupArn. Same thing.
        let split = if groups.is_empty() {
            forward.target_group_arn().map(Split::all_to).unwrap_or_default()
        } else {
            Split(
                groups
                    .iter()
                    .filter_map(|g| Some((g.target_group_arn()?.to_owned(), f64::from(g.weight().unwrap_or(1).max(0)))))
                    .collect(),
            )
        };
        Ok(split)
    }

    async fn route(&self, split: &Split, _stop: &CancellationToken) -> Result<(), RouterError> {
        let mut actions = self.actions().await?;
        let at = self.forward_index(&actions)?;
        let old = &actions[at];
        let granularity = Granularity::Weights { max: MAX_WEIGHT };
        let groups: Vec<TargetGroupTuple> = match &split.0.keys().collect::<Vec<_>>()[..] {
            [only] => vec![TargetGroupTuple::builder().target_group_arn(*only).weight(100).build()],
            [a, b] => {
                let (weight_a, weight_b) = granularity.weights(split.percent_of(b)).ok_or_else(|| {
                    RouterError::Failed(format!("a load balancer cannot send exactly {}", split.describe()))
                })?;
                vec![
                    TargetGroupTuple::builder().target_group_arn(*a).weight(weight_a as i32).build(),
                    TargetGroupTuple::builder().target_group_arn(*b).weight(weight_b as i32).build(),
                ]
            }
            _ => {
                return Err(RouterError::Failed(format!(
                    "a rollout splits between one or two target groups, not {}",
                    split.describe()
                )));
            }
        };
        let config = ForwardActionConfig::builder()
            .set_target_groups(Some(groups))
            .set_target_group_stickiness_config(
                old.forward_config().and_then(|c| c.target_group_stickiness_config().cloned()),
            )
            .build();
        // A forward action names its groups either in TargetGroupArn or in
        // ForwardConfig; only the latter can carry weights.
        let forward =
            Action::builder().r#type(ActionTypeEnum::Forward).set_order(old.order()).forward_config(config).build();
        actions[at] = forward;
        match &self.rule_arn {
            Some(rule) => {
                self.elbv2
                    .client
                    .modify_rule()
                    .rule_arn(rule)
                    .set_actions(Some(actions))
                    .send()
                    .await
                    .map_err(|e| elbv2_error("ModifyRule", &e))?;
            }
            None => {
                self.elbv2
                    .client
                    .modify_listener()
                    .listener_arn(&self.listener_arn)
                    .set_default_actions(Some(actions))
                    .send()
                    .await
                    .map_err(|e| elbv2_error("ModifyListener", &e))?;
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        // `arn:aws:elasticloadbalancing:region:acct:listener/app/web/abc/def` → `listener app/web/abc/def`
        let arn = self.arn();
        let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
        match resource.split_once('/') {
            Some((kind, rest)) => format!("{} {rest}", kind.replace("listener-rule", "listener rule")),
            None => resource.to_owned(),
        }
    }
}

#[async_trait]
impl LeaseStore for AlbRouter {
    async fn read_lease(&self) -> Result<Option<String>, RouterError> {
        let tags = self
            .elbv2
            .tags(self.arn())
            .await?
            .ok_or_else(|| RouterError::Gone(format!("{} does not exist", self.describe())))?;
        Ok(tags.iter().find(|t| t.key() == Some(LEASE_TAG)).and_then(|t| t.value().map(str::to_owned)))
    }

    async fn write_lease(&self, record: &str) -> Result<(), RouterError> {
        let tag = Tag::builder().key(LEASE_TAG).value(record).build();
        self.elbv2
            .client
            .add_tags()
            .resource_arns(self.arn())
            .tags(tag)
            .send()
            .await
            .map_err(|e| elbv2_error("AddTags", &e))?;
        Ok(())
    }

    async fn remove_lease(&self) -> Result<(), RouterError> {
        self.elbv2
            .client
            .remove_tags()
            .resource_arns(self.arn())
            .tag_keys(LEASE_TAG)
            .send()
            .await
            .map_err(|e| elbv2_error("RemoveTags", &e))?;
        Ok(())
    }
}

#[async_trait]
impl Router for AlbRouter {
    async fn check_destination(&self, arn: &str) -> Result<(), RouterError> {
        if self.elbv2.target_group_exists(arn).await? {
            Ok(())
        } else {
            Err(RouterError::Missing(format!("target group {arn} does not exist")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTENER: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
    const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067";

    #[test]
    fn cloudwatch_dimensions_come_from_the_arns() {
        assert_eq!(load_balancer_dimension(LISTENER), "app/web/50dc6c495c0c9188");
        assert_eq!(target_group_dimension(BLUE), "targetgroup/blue/73e2d6bc24d8a067");
        assert_eq!(listener_of_rule(RULE), LISTENER);
    }

    #[test]
    fn import_ids_name_a_listener_or_a_rule() {
        let routing = Alb.import(RULE).unwrap().unwrap();
        assert_eq!(routing.id(), RULE);
        assert_eq!(routing.block_value(BLUE).get("listener_arn"), &Value::from(LISTENER));
        assert_eq!(Alb.import(LISTENER).unwrap().unwrap().id(), LISTENER);
        assert!(Alb.import("arn:aws:lambda:us-east-1:1:function:f:live").is_none());
    }

    #[test]
    fn a_rule_of_another_listener_is_refused() {
        let block = Value::object([
            ("listener_arn", LISTENER.replace("f2f7", "aaaa").into()),
            ("rule_arn", RULE.into()),
            ("target_group_arn", BLUE.into()),
        ]);
        let mut d = Diagnostics::default();
        assert!(Alb.parse(&block, &AttributePath::root("alb"), &mut d).is_none());
        assert_eq!(d.0[0].attribute.as_ref().unwrap().to_string(), "alb.rule_arn");
    }
}
