//! Application Load Balancers as the engine's [`TrafficRouter`]: the forward
//! action of a listener's default actions, or of a listener rule.
//!
//! Only the forward action's target groups and weights change; every other
//! action (authentication, for instance), their order, and the stickiness
//! settings are sent back as they were read.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ForwardActionConfig, Tag, TargetGroupTuple};

use super::describe_error;
use crate::engine::traffic::{RouterError, Split, TrafficRouter};

/// Why something about an ALB is not as a rollout needs it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlbError {
    #[error("listener {0} does not exist")]
    ListenerNotFound(String),
    #[error("listener rule {0} does not exist")]
    RuleNotFound(String),
    #[error("target group {0} does not exist")]
    TargetGroupNotFound(String),
    #[error("{what} does not forward traffic (its action is {action}); a rollout needs a forward action")]
    NotForwarding { what: String, action: String },
    #[error("{0}")]
    Aws(String),
}

impl From<AlbError> for RouterError {
    fn from(e: AlbError) -> RouterError {
        RouterError(e.to_string())
    }
}

/// The code of an SDK error, for telling "not found" from other failures.
fn code<E: ProvideErrorMetadata>(e: &aws_sdk_elasticloadbalancingv2::error::SdkError<E>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

fn aws_error(operation: &str, e: &(dyn std::error::Error + 'static)) -> AlbError {
    AlbError::Aws(format!("ELBv2 {operation} failed: {}", describe_error(e)))
}

/// What a rollout routes through.
#[derive(Debug, Clone)]
pub struct AlbRouter {
    client: Client,
    listener_arn: String,
    rule_arn: Option<String>,
}

impl AlbRouter {
    pub fn new(client: Client, listener_arn: String, rule_arn: Option<String>) -> AlbRouter {
        AlbRouter { client, listener_arn, rule_arn }
    }

    /// The ARN the router changes, which also holds the lease.
    pub fn arn(&self) -> &str {
        self.rule_arn.as_deref().unwrap_or(&self.listener_arn)
    }

    async fn actions(&self) -> Result<Vec<Action>, AlbError> {
        match &self.rule_arn {
            Some(rule) => {
                let out = self.client.describe_rules().rule_arns(rule).send().await.map_err(|e| match code(&e) {
                    Some("RuleNotFound") => AlbError::RuleNotFound(rule.clone()),
                    _ => aws_error("DescribeRules", &e),
                })?;
                let found = out.rules().first().ok_or_else(|| AlbError::RuleNotFound(rule.clone()))?;
                Ok(found.actions().to_vec())
            }
            None => {
                let arn = &self.listener_arn;
                let out = self.client.describe_listeners().listener_arns(arn).send().await.map_err(|e| match code(&e) {
                    Some("ListenerNotFound") => AlbError::ListenerNotFound(arn.clone()),
                    _ => aws_error("DescribeListeners", &e),
                })?;
                let found = out.listeners().first().ok_or_else(|| AlbError::ListenerNotFound(arn.clone()))?;
                Ok(found.default_actions().to_vec())
            }
        }
    }

    fn forward_index(&self, actions: &[Action]) -> Result<usize, AlbError> {
        actions.iter().position(|a| a.r#type() == Some(&ActionTypeEnum::Forward)).ok_or_else(|| AlbError::NotForwarding {
            what: self.describe(),
            action: actions.last().and_then(|a| a.r#type()).map_or("none".into(), |t| t.as_str().to_owned()),
        })
    }

    /// The current split, checking that the router forwards at all.
    pub async fn split(&self) -> Result<Split, AlbError> {
        let actions = self.actions().await?;
        let forward = &actions[self.forward_index(&actions)?];
        let groups = forward.forward_config().map(|c| c.target_groups()).unwrap_or_default();
        // AWS reports a one-group forward both as TargetGroupArn and as a
        // ForwardConfig of weight 1; moto only as TargetGroupArn. Same thing.
        let split = if groups.is_empty() {
            forward.target_group_arn().map(Split::all_to).unwrap_or_default()
        } else {
            Split(groups.iter().filter_map(|g| Some((g.target_group_arn()?.to_owned(), g.weight().unwrap_or(1).max(0) as u32))).collect())
        };
        Ok(split)
    }

    /// Checks that a target group exists.
    pub async fn check_target_group(&self, arn: &str) -> Result<(), AlbError> {
        let out = self.client.describe_target_groups().target_group_arns(arn).send().await.map_err(|e| match code(&e) {
            Some("TargetGroupNotFound") => AlbError::TargetGroupNotFound(arn.to_owned()),
            _ => aws_error("DescribeTargetGroups", &e),
        })?;
        if out.target_groups().iter().any(|g| g.target_group_arn() == Some(arn)) {
            Ok(())
        } else {
            Err(AlbError::TargetGroupNotFound(arn.to_owned()))
        }
    }

    pub async fn tag(&self, key: &str) -> Result<Option<String>, AlbError> {
        let out = self.client.describe_tags().resource_arns(self.arn()).send().await.map_err(|e| aws_error("DescribeTags", &e))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value().map(str::to_owned)))
    }

    pub async fn set_tag(&self, key: &str, value: &str) -> Result<(), AlbError> {
        let tag = Tag::builder().key(key).value(value).build();
        self.client.add_tags().resource_arns(self.arn()).tags(tag).send().await.map_err(|e| aws_error("AddTags", &e))?;
        Ok(())
    }

    pub async fn remove_tag(&self, key: &str) -> Result<(), AlbError> {
        self.client.remove_tags().resource_arns(self.arn()).tag_keys(key).send().await.map_err(|e| aws_error("RemoveTags", &e))?;
        Ok(())
    }
}

impl TrafficRouter for AlbRouter {
    async fn read(&self) -> Result<Split, RouterError> {
        Ok(self.split().await?)
    }

    async fn route(&self, split: &Split) -> Result<(), RouterError> {
        let mut actions = self.actions().await?;
        let at = self.forward_index(&actions)?;
        let old = &actions[at];
        let groups = split
            .0
            .iter()
            .map(|(arn, weight)| TargetGroupTuple::builder().target_group_arn(arn).weight(*weight as i32).build())
            .collect();
        let config = ForwardActionConfig::builder()
            .set_target_groups(Some(groups))
            .set_target_group_stickiness_config(old.forward_config().and_then(|c| c.target_group_stickiness_config().cloned()))
            .build();
        // A forward action names its groups either in TargetGroupArn or in
        // ForwardConfig; only the latter can carry weights.
        let forward = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .set_order(old.order())
            .forward_config(config)
            .build();
        actions[at] = forward;
        match &self.rule_arn {
            Some(rule) => {
                self.client.modify_rule().rule_arn(rule).set_actions(Some(actions)).send().await.map_err(|e| aws_error("ModifyRule", &e))?;
            }
            None => {
                self.client
                    .modify_listener()
                    .listener_arn(&self.listener_arn)
                    .set_default_actions(Some(actions))
                    .send()
                    .await
                    .map_err(|e| aws_error("ModifyListener", &e))?;
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
