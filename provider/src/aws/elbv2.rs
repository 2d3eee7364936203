//! ELBv2 for the ALB router: one client per provider process, and its
//! describe calls shared between concurrent requests.
//!
//! Terraform plans and refreshes ten resources at once, and each rollout on
//! a load balancer reads its listener (or rule), its target group and its
//! lease tag. Each read on its own is one call; fifty rollouts make a
//! hundred or more per plan, which costs time and counts against ELBv2's
//! API rate limits. These reads go through [`Poller`]s with no gather
//! window: a read that finds no call under way makes one at once, and the
//! reads that arrive while it runs share the next call, up to
//! [`MAX_ARNS`] ARNs each. A read is never answered by a call that started
//! before it, so a read after a change sees the change.
//!
//! One missing ARN fails the whole call (`ListenerNotFound`...); the batch
//! then asks for each ARN on its own, so each read gets its own answer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{Action, Tag};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{RetryLog, sdk_error};
use crate::engine::poller::{BatchSource, Poller};
use crate::engine::traffic::RouterError;

/// The most ARNs one describe call takes (DescribeTags' documented limit;
/// the other describes are held to it too, which keeps each answer to one
/// page).
pub const MAX_ARNS: usize = 20;

/// The error codes that mean the routing itself is gone.
const GONE: &[&str] = &["ListenerNotFound", "RuleNotFound"];

/// An ELBv2 call's failure as a router error, in one sentence.
pub fn error<E>(
    operation: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> RouterError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    sdk_error("ELBv2", operation, e, GONE)
}

/// The process's ELBv2 client and its shared readers.
#[derive(Clone)]
pub struct Elbv2 {
    pub client: Client,
    listeners: Arc<Poller<Batched<Listeners>>>,
    rules: Arc<Poller<Batched<Rules>>>,
    target_groups: Arc<Poller<Batched<TargetGroups>>>,
    tags: Arc<Poller<Batched<Tags>>>,
}

impl Elbv2 {
    pub fn new(sdk: &aws_types::SdkConfig, endpoint: Option<&str>) -> Elbv2 {
        let mut config = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk).interceptor(RetryLog);
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        let client = Client::from_conf(config.build());
        Elbv2 {
            listeners: batched(&client),
            rules: batched(&client),
            target_groups: batched(&client),
            tags: batched(&client),
            client,
        }
    }

    /// A listener's default actions; `None` when it does not exist.
    pub async fn listener_actions(&self, arn: &str) -> Result<Option<Vec<Action>>, RouterError> {
        self.listeners.read(arn.to_owned()).await
    }

    /// A listener rule's actions; `None` when it does not exist.
    pub async fn rule_actions(&self, arn: &str) -> Result<Option<Vec<Action>>, RouterError> {
        self.rules.read(arn.to_owned()).await
    }

    /// Whether a target group exists.
    pub async fn target_group_exists(&self, arn: &str) -> Result<bool, RouterError> {
        Ok(self.target_groups.read(arn.to_owned()).await?.is_some())
    }

    /// The ARNs of target groups named `names`, in the same order; a name
    /// not found is an error.
    pub async fn target_group_arns(&self, names: &[String]) -> Result<Vec<String>, RouterError> {
        let out = self
            .client
            .describe_target_groups()
            .set_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| error("DescribeTargetGroups", &e))?;
        names
            .iter()
            .map(|name| {
                out.target_groups()
                    .iter()
                    .find(|g| g.target_group_name() == Some(name.as_str()))
                    .and_then(|g| g.target_group_arn().map(str::to_owned))
                    .ok_or_else(|| RouterError::Missing(format!("target group {name} does not exist")))
            })
            .collect()
    }

    /// A resource's tags; `None` when it does not exist.
    pub async fn tags(&self, arn: &str) -> Result<Option<Vec<Tag>>, RouterError> {
        self.tags.read(arn.to_owned()).await
    }
}

/// Why a describe call gave no answer.
enum Refused {
    /// One of the ARNs asked for does not exist.
    NotFound,
    Failed(RouterError),
}

/// An ELBv2 describe call that takes a list of ARNs.
trait Describe: Send + Sync + 'static {
    type Item: Clone + Send + 'static;
    /// What is found, by ARN.
    fn call(
        client: &Client,
        arns: Vec<String>,
    ) -> impl Future<Output = Result<Vec<(String, Self::Item)>, Refused>> + Send;
}

/// `NotFound` when AWS answered with one of `not_found`, else the error.
fn refused<E>(
    operation: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    not_found: &[&str],
) -> Refused
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.as_service_error().and_then(ProvideErrorMetadata::code) {
        Some(code) if not_found.contains(&code) => Refused::NotFound,
        _ => Refused::Failed(error(operation, e)),
    }
}

struct Listeners;

impl Describe for Listeners {
    type Item = Vec<Action>;
    async fn call(client: &Client, arns: Vec<String>) -> Result<Vec<(String, Vec<Action>)>, Refused> {
        let out = client
            .describe_listeners()
            .set_listener_arns(Some(arns))
            .send()
            .await
            .map_err(|e| refused("DescribeListeners", &e, &["ListenerNotFound"]))?;
        Ok(out
            .listeners()
            .iter()
            .filter_map(|l| Some((l.listener_arn()?.to_owned(), l.default_actions().to_vec())))
            .collect())
    }
}

struct Rules;

impl Describe for Rules {
    type Item = Vec<Action>;
    async fn call(client: &Client, arns: Vec<String>) -> Result<Vec<(String, Vec<Action>)>, Refused> {
        let out = client
            .describe_rules()
            .set_rule_arns(Some(arns))
            .send()
            .await
            .map_err(|e| refused("DescribeRules", &e, &["RuleNotFound"]))?;
        Ok(out.rules().iter().filter_map(|r| Some((r.rule_arn()?.to_owned(), r.actions().to_vec()))).collect())
    }
}

struct TargetGroups;

impl Describe for TargetGroups {
    type Item = ();
    async fn call(client: &Client, arns: Vec<String>) -> Result<Vec<(String, ())>, Refused> {
        let out = client
            .describe_target_groups()
            .set_target_group_arns(Some(arns))
            .send()
            .await
            .map_err(|e| refused("DescribeTargetGroups", &e, &["TargetGroupNotFound"]))?;
        Ok(out.target_groups().iter().filter_map(|g| Some((g.target_group_arn()?.to_owned(), ()))).collect())
    }
}

struct Tags;

impl Describe for Tags {
    type Item = Vec<Tag>;
    async fn call(client: &Client, arns: Vec<String>) -> Result<Vec<(String, Vec<Tag>)>, Refused> {
        let out = client.describe_tags().set_resource_arns(Some(arns)).send().await.map_err(|e| {
            refused(
                "DescribeTags",
                &e,
                &["ListenerNotFound", "RuleNotFound", "LoadBalancerNotFound", "TargetGroupNotFound"],
            )
        })?;
        Ok(out
            .tag_descriptions()
            .iter()
            .filter_map(|d| Some((d.resource_arn()?.to_owned(), d.tags().to_vec())))
            .collect())
    }
}

/// Reads of one describe call merged: each request is an ARN, each answer
/// what was found for it.
struct Batched<D> {
    client: Client,
    describe: std::marker::PhantomData<D>,
}

/// No gather window: a read with no call under way is not held back.
fn batched<D: Describe>(client: &Client) -> Arc<Poller<Batched<D>>> {
    Poller::new(Batched { client: client.clone(), describe: std::marker::PhantomData }, Duration::ZERO)
}

impl<D: Describe> Batched<D> {
    /// What `arns` (at most [`MAX_ARNS`]) hold, one call if all exist.
    async fn lookup(&self, arns: &[String]) -> Vec<Result<Option<D::Item>, RouterError>> {
        match D::call(&self.client, arns.to_vec()).await {
            Ok(found) => {
                let found: HashMap<String, D::Item> = found.into_iter().collect();
                arns.iter().map(|arn| Ok(found.get(arn).cloned())).collect()
            }
            Err(Refused::NotFound) if arns.len() == 1 => vec![Ok(None)],
            Err(Refused::NotFound) => {
                let mut each = Vec::with_capacity(arns.len());
                for arn in arns {
                    each.push(match D::call(&self.client, vec![arn.clone()]).await {
                        Ok(found) => Ok(found.into_iter().find(|(a, _)| a == arn).map(|(_, item)| item)),
                        Err(Refused::NotFound) => Ok(None),
                        Err(Refused::Failed(e)) => Err(e),
                    });
                }
                each
            }
            Err(Refused::Failed(e)) => arns.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

impl<D: Describe> BatchSource for Batched<D> {
    type Request = String;
    type Answer = Option<D::Item>;
    type Error = RouterError;

    async fn fetch_all(&self, requests: Vec<String>) -> Vec<Result<Option<D::Item>, RouterError>> {
        let mut unique = requests.clone();
        unique.sort();
        unique.dedup();
        let mut answers = HashMap::new();
        for chunk in unique.chunks(MAX_ARNS) {
            answers.extend(chunk.iter().cloned().zip(self.lookup(chunk).await));
        }
        requests.iter().map(|arn| answers.get(arn).cloned().unwrap_or(Ok(None))).collect()
    }
}
