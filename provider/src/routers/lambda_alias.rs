//! `lambda_alias`: a Lambda function alias, split between two published
//! versions with the alias's routing configuration (`FunctionVersion` serves
//! what the one additional version, weighted 0.0 to 1.0, does not).
//!
//! The version the alias points to now stays its `FunctionVersion` while
//! traffic moves, and the other version is the additional one; at 100% the
//! target becomes `FunctionVersion` and the routing configuration is cleared
//! in the same call. Aliases cannot be tagged, so the lease is a tag on the
//! function, one per alias. The analysis reads the function's per-version
//! metrics through the alias (`ExecutedVersion`).

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::AliasRoutingConfiguration;
use tfplugin::{Attribute, AttributePath, Block, Diagnostics, Type, Value};
use tokio_util::sync::CancellationToken;

use super::{LEASE_TAG_PREFIX, Router, RouterKind, Routing};
use crate::aws::Clients;
use crate::aws::cloudwatch::{DestinationMetrics, MetricId};
use crate::aws::sdk_error;
use crate::engine::lease::LeaseStore;
use crate::engine::traffic::{Granularity, RouterError, Split, TrafficRouter};

/// The start of the function tag that holds an alias's rollout lease; the
/// alias name follows.
/// AWS tag keys are at most 128 characters, which leaves this much for the
/// alias name in the lease tag's key.
const MAX_ALIAS_LEN: usize = 128 - LEASE_TAG_PREFIX.len();
const NAMESPACE: &str = "AWS/Lambda";
/// A function name alone is at most 64 characters (AWS API reference).
const MAX_FUNCTION_NAME_LEN: usize = 64;
/// The error code Lambda answers with when the function, the version or the
/// alias does not exist.
const NOT_FOUND: &str = "ResourceNotFoundException";

pub struct LambdaAlias;

impl RouterKind for LambdaAlias {
    fn name(&self) -> &'static str {
        "lambda_alias"
    }

    fn block(&self) -> Block {
        Block::new("A Lambda function alias, split between two published versions by its routing configuration (any share). The lease is a tag on the function, one per alias; the analysis reads the function's `Invocations` and `Errors` per version through the alias.")
            .attribute(Attribute::required("function_name", Type::String, "The function: its name, partial ARN (`<account>:function:<name>`) or ARN, without a version or alias.").requires_replace())
            .attribute(Attribute::required("alias", Type::String, "The alias's name (letters, digits, `-` and `_`; not all digits).").requires_replace())
            .attribute(Attribute::required("version", Type::String, "The published version (a number such as `\"7\"`, not `$LATEST`) that serves 100% when the rollout is done. Whatever the alias serves now is the origin, read from AWS. After a rollback, the state holds the origin here."))
    }

    fn target_attribute(&self) -> &'static str {
        "version"
    }

    fn destination_kind(&self) -> &'static str {
        "version"
    }

    fn granularity(&self) -> Granularity {
        Granularity::Continuous
    }

    fn duration_metric(&self) -> Option<&'static str> {
        Some("Duration")
    }

    fn default_error_metric(&self) -> Result<&'static str, &'static str> {
        Ok("errors")
    }

    fn check_error_metric(&self, name: &str) -> Result<(), String> {
        match name {
            "errors" => Ok(()),
            other => Err(format!(
                "With a lambda_alias block, metric must be \"errors\" (the function's Errors metric, per version invoked through the alias), not {other:?}."
            )),
        }
    }

    fn parse(&self, block: &Value, at: &AttributePath, d: &mut Diagnostics) -> Option<Box<dyn Routing>> {
        let path = |name: &str| at.clone().attribute(name);
        let errors_before = d.0.len();
        if let Some(Err(why)) = block.get("function_name").as_str().map(FunctionRef::parse) {
            d.error_at(path("function_name"), "Invalid function_name", why);
        }
        if let Some(Err(why)) = block.get("alias").as_str().map(check_alias) {
            d.error_at(path("alias"), "Invalid alias", why);
        }
        if let Some(Err(why)) = block.get("version").as_str().map(check_version) {
            d.error_at(path("version"), "Not a published version", why);
        }
        let function_name = block.get("function_name").as_str()?.to_owned();
        let alias = block.get("alias").as_str()?.to_owned();
        if d.0.len() > errors_before {
            return None;
        }
        let function = FunctionRef::parse(&function_name).ok()?;
        Some(Box::new(LambdaAliasRouting { function_name, bare_name: function.name, alias }))
    }

    fn import_id_format(&self) -> &'static str {
        "an alias ARN (arn:aws:lambda:<region>:<account>:function:<name>:<alias>), or <function name>:<alias>"
    }

    fn import(&self, id: &str) -> Option<Result<Box<dyn Routing>, String>> {
        let (name, alias) = if let Some((_, rest)) = id.split_once(":function:") {
            if !id.starts_with("arn:") || id.split(':').nth(2) != Some("lambda") {
                return None;
            }
            match rest.split_once(':') {
                Some((name, alias)) => (name, alias),
                None => {
                    return Some(Err(format!("{id} is a function ARN; import the alias by its ARN ({id}:<alias>).")));
                }
            }
        } else {
            // `<name>:<alias>`: exactly one colon, names on both sides.
            let (name, alias) = id.split_once(':')?;
            if alias.contains(':') || !is_name(name) || !is_name(alias) {
                return None;
            }
            (name, alias)
        };
        let checked = check_function_name(name).and_then(|()| check_alias(alias)).map_err(|why| format!("{id}: {why}"));
        // Configurations usually name the function by name; the state
        // records it so, lest the first plan replace the resource.
        Some(checked.map(|()| {
            Box::new(LambdaAliasRouting {
                function_name: name.to_owned(),
                bare_name: name.to_owned(),
                alias: alias.to_owned(),
            }) as Box<dyn Routing>
        }))
    }
}

/// Letters, digits, `-` and `_`: what Lambda allows in function and alias names.
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_function_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("The function name is empty.".into());
    }
    if !is_name(name) {
        return Err(format!("{name:?} is not a function name: use only letters, digits, - and _."));
    }
    if name.len() > MAX_FUNCTION_NAME_LEN {
        return Err(format!(
            "{name:?} is longer than {MAX_FUNCTION_NAME_LEN} characters, the most a function name has."
        ));
    }
    Ok(())
}

fn check_alias(alias: &str) -> Result<(), String> {
    if !is_name(alias) {
        return Err(format!("{alias:?} is not an alias name: use letters, digits, - and _ (at least one character)."));
    }
    if alias.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{alias:?} is all digits, which names a version, not an alias."));
    }
    if alias.len() > MAX_ALIAS_LEN {
        return Err(format!(
            "The alias name is {} characters long; the rollout lease is a function tag keyed {LEASE_TAG_PREFIX}<alias>, and AWS tag keys hold at most 128 characters, so aliases of up to {MAX_ALIAS_LEN} characters can be rolled out.",
            alias.len()
        ));
    }
    Ok(())
}

/// A published version is a number: `$LATEST` (or an alias) is refused
/// because a weighted alias routes only between published versions.
fn check_version(version: &str) -> Result<(), String> {
    if version.eq_ignore_ascii_case("$LATEST") {
        return Err("An alias can split traffic only between published versions, and $LATEST is not one. Publish the code (aws lambda publish-version, or publish = true on aws_lambda_function) and set version to the number it returns.".into());
    }
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{version:?} is not a version number. An alias routes to published versions, which are numbered (\"1\", \"2\", ...); set version to one of them."
        ));
    }
    if version.len() > 1 && version.starts_with('0') {
        return Err(format!(
            "Lambda numbers versions without leading zeros: write {:?}, not {version:?}.",
            version.trim_start_matches('0')
        ));
    }
    Ok(())
}

/// A `function_name` as configured: a name, a partial ARN
/// (`<account>:function:<name>`) or an ARN, without a qualifier.
struct FunctionRef {
    /// The bare function name, as CloudWatch's `FunctionName` dimension has it.
    name: String,
}

impl FunctionRef {
    fn parse(value: &str) -> Result<FunctionRef, String> {
        let Some((before, name)) = value.split_once(":function:") else {
            if value.contains(':') {
                return Err(format!(
                    "{value:?} is not a function name, partial ARN (<account>:function:<name>) or ARN (arn:aws:lambda:<region>:<account>:function:<name>)."
                ));
            }
            check_function_name(value)?;
            return Ok(FunctionRef { name: value.to_owned() });
        };
        let prefix: Vec<&str> = before.split(':').collect();
        let account_ok = |a: &str| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit());
        let shape_ok = match prefix[..] {
            [account] => account_ok(account),
            [arn, partition, "lambda", region, account] => {
                arn == "arn" && partition.starts_with("aws") && !region.is_empty() && account_ok(account)
            }
            _ => false,
        };
        if !shape_ok {
            return Err(format!(
                "{value:?} is not a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>) or partial ARN (<account>:function:<name>)."
            ));
        }
        if let Some((function, qualifier)) = name.split_once(':') {
            return Err(format!(
                "{value:?} names a version or alias ({qualifier}); set function_name to the function alone ({before}:function:{function}) and the alias in alias."
            ));
        }
        check_function_name(name)?;
        Ok(FunctionRef { name: name.to_owned() })
    }
}

struct LambdaAliasRouting {
    /// As configured: name, partial ARN or ARN; what the API calls are given.
    function_name: String,
    /// The name alone.
    bare_name: String,
    alias: String,
}

impl Routing for LambdaAliasRouting {
    /// `<function_name>:<alias>`: the alias ARN when the function is named by ARN.
    fn id(&self) -> String {
        format!("{}:{}", self.function_name, self.alias)
    }

    fn block_value(&self, target: &str) -> Value {
        Value::object([
            ("function_name", self.function_name.as_str().into()),
            ("alias", self.alias.as_str().into()),
            ("version", target.into()),
        ])
    }

    fn destination_name(&self, version: &str) -> String {
        format!("version {version}")
    }

    fn analysis_metrics(
        &self,
        origin: &str,
        target: &str,
        _error_metric: &str,
    ) -> Option<(DestinationMetrics, DestinationMetrics)> {
        // Invocations through an alias are published per executed version
        // with the dimension set FunctionName, Resource (`<name>:<alias>`)
        // and ExecutedVersion.
        let resource = format!("{}:{}", self.bare_name, self.alias);
        let of = |version: &str| {
            let dimensions = [
                ("FunctionName", self.bare_name.as_str()),
                ("Resource", resource.as_str()),
                ("ExecutedVersion", version),
            ];
            DestinationMetrics::counts(
                MetricId::new(NAMESPACE, "Invocations", &dimensions),
                MetricId::new(NAMESPACE, "Errors", &dimensions),
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
        let resource = format!("{}:{}", self.bare_name, self.alias);
        let of = |version: &str| {
            let dimensions = [
                ("FunctionName", self.bare_name.as_str()),
                ("Resource", resource.as_str()),
                ("ExecutedVersion", version),
            ];
            // Duration is published per invocation, in milliseconds.
            DestinationMetrics::slow(
                MetricId::new(NAMESPACE, "Invocations", &dimensions),
                MetricId::new(NAMESPACE, "Duration", &dimensions),
                threshold.as_secs_f64() * 1000.0,
            )
        };
        Some((of(target), of(origin)))
    }

    fn connect(&self, aws: &Clients) -> Box<dyn Router> {
        Box::new(LambdaAliasRouter::new(
            client(aws),
            self.function_name.clone(),
            self.bare_name.clone(),
            self.alias.clone(),
        ))
    }
}

/// A Lambda client for the provider's region and endpoint.
pub fn client(aws: &Clients) -> Client {
    let mut config = aws_sdk_lambda::config::Builder::from(&aws.sdk).interceptor(crate::aws::RetryLog);
    if let Some(url) = aws.endpoint("lambda") {
        config = config.endpoint_url(url);
    }
    Client::from_conf(config.build())
}

fn lambda_error<E>(
    operation: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> RouterError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    sdk_error("Lambda", operation, e, &[NOT_FOUND])
}

fn is_not_found<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    e.as_service_error().and_then(|s| s.code()) == Some(NOT_FOUND)
}

/// How the alias sends traffic: its `FunctionVersion`, and the additional
/// version with its weight (0.0 to 1.0), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasRouting {
    pub primary: String,
    pub additional: Option<(String, f64)>,
}

/// The alias routing that sends `shares` (destination, percent; at most
/// two). The version the alias points to now (`current`) stays primary so
/// that a step moves only the weight; when neither is, the larger share
/// becomes primary.
pub fn alias_routing(current: Option<&str>, shares: &[(String, f64)]) -> Result<AliasRouting, String> {
    let routing = match shares {
        [(only, _)] => AliasRouting { primary: only.clone(), additional: None },
        [(a, share_a), (b, share_b)] => {
            let a_primary = match current {
                Some(c) if c == a => true,
                Some(c) if c == b => false,
                _ => share_a >= share_b,
            };
            let ((primary, _), (extra, extra_share)) =
                if a_primary { ((a, share_a), (b, share_b)) } else { ((b, share_b), (a, share_a)) };
            AliasRouting { primary: primary.clone(), additional: Some((extra.clone(), extra_share / 100.0)) }
        }
        [] => return Err("no version would receive traffic".into()),
        more => return Err(format!("an alias splits traffic between at most two versions, not {}", more.len())),
    };
    let unpublished = routing
        .additional
        .as_ref()
        .and_then(|(extra, _)| [&routing.primary, extra].into_iter().find(|v| !is_published(v)));
    if let Some(version) = unpublished {
        return Err(format!(
            "an alias can split traffic only between published versions, and {version} is not one; point the alias at a published version first, or roll out all at once"
        ));
    }
    Ok(routing)
}

fn is_published(version: &str) -> bool {
    !version.is_empty() && version.chars().all(|c| c.is_ascii_digit())
}

/// What a rollout routes through.
#[derive(Debug)]
pub struct LambdaAliasRouter {
    client: Client,
    /// As configured: name, partial ARN or ARN.
    function_name: String,
    bare_name: String,
    alias: String,
    /// The unqualified function ARN (tags need it), from the first GetAlias.
    function_arn: OnceLock<String>,
}

impl LambdaAliasRouter {
    pub fn new(client: Client, function_name: String, bare_name: String, alias: String) -> LambdaAliasRouter {
        LambdaAliasRouter { client, function_name, bare_name, alias, function_arn: OnceLock::new() }
    }

    fn lease_tag(&self) -> String {
        format!("{LEASE_TAG_PREFIX}{}", self.alias)
    }

    async fn get_alias(&self) -> Result<aws_sdk_lambda::operation::get_alias::GetAliasOutput, RouterError> {
        let out = self
            .client
            .get_alias()
            .function_name(&self.function_name)
            .name(&self.alias)
            .send()
            .await
            .map_err(|e| lambda_error("GetAlias", &e))?;
        if let Some(function_arn) =
            out.alias_arn().and_then(|arn| arn.rsplit_once(':')).map(|(function, _)| function.to_owned())
        {
            let _ = self.function_arn.set(function_arn);
        }
        Ok(out)
    }

    /// The function's ARN, which its tags are addressed by.
    async fn function_arn(&self) -> Result<String, RouterError> {
        if let Some(arn) = self.function_arn.get() {
            return Ok(arn.clone());
        }
        self.get_alias().await?;
        self.function_arn
            .get()
            .cloned()
            .ok_or_else(|| RouterError::Failed(format!("Lambda GetAlias of {} gave no AliasArn", self.describe())))
    }
}

#[async_trait]
impl TrafficRouter for LambdaAliasRouter {
    async fn read(&self) -> Result<Split, RouterError> {
        let out = self.get_alias().await?;
        let primary = out.function_version().ok_or_else(|| {
            RouterError::Failed(format!("Lambda GetAlias of {} gave no FunctionVersion", self.describe()))
        })?;
        let extra = out.routing_config().and_then(|r| r.additional_version_weights()).cloned().unwrap_or_default();
        let mut split = Split::default();
        let rest: f64 = extra.values().map(|w| w.clamp(0.0, 1.0)).sum();
        split.0.insert(primary.to_owned(), (1.0 - rest).max(0.0));
        for (version, weight) in extra {
            *split.0.entry(version).or_default() += weight.clamp(0.0, 1.0);
        }
        Ok(split)
    }

    async fn route(&self, split: &Split, _stop: &CancellationToken) -> Result<(), RouterError> {
        let shares: Vec<(String, f64)> = split.percentages().into_iter().collect();
        let current = if shares.len() == 2 {
            Some(self.get_alias().await?.function_version().map(str::to_owned)).flatten()
        } else {
            None
        };
        let routing = alias_routing(current.as_deref(), &shares).map_err(|why| {
            RouterError::Failed(format!("cannot send {} through {}: {why}", split.describe(), self.describe()))
        })?;
        let weights = routing.additional.into_iter().collect();
        // An empty AdditionalVersionWeights clears the routing in the same
        // call that moves FunctionVersion.
        let config = AliasRoutingConfiguration::builder().set_additional_version_weights(Some(weights)).build();
        self.client
            .update_alias()
            .function_name(&self.function_name)
            .name(&self.alias)
            .function_version(routing.primary)
            .routing_config(config)
            .send()
            .await
            .map_err(|e| lambda_error("UpdateAlias", &e))?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("alias {}:{}", self.bare_name, self.alias)
    }
}

#[async_trait]
impl LeaseStore for LambdaAliasRouter {
    async fn read_lease(&self) -> Result<Option<String>, RouterError> {
        let arn = self.function_arn().await?;
        let out = self.client.list_tags().resource(arn).send().await.map_err(|e| lambda_error("ListTags", &e))?;
        Ok(out.tags().and_then(|tags| tags.get(&self.lease_tag())).cloned())
    }

    async fn write_lease(&self, record: &str) -> Result<(), RouterError> {
        let arn = self.function_arn().await?;
        self.client
            .tag_resource()
            .resource(arn)
            .tags(self.lease_tag(), record)
            .send()
            .await
            .map_err(|e| lambda_error("TagResource", &e))?;
        Ok(())
    }

    async fn remove_lease(&self) -> Result<(), RouterError> {
        let arn = self.function_arn().await?;
        self.client
            .untag_resource()
            .resource(arn)
            .tag_keys(self.lease_tag())
            .send()
            .await
            .map_err(|e| lambda_error("UntagResource", &e))?;
        Ok(())
    }
}

#[async_trait]
impl Router for LambdaAliasRouter {
    async fn check_destination(&self, version: &str) -> Result<(), RouterError> {
        let function = &self.bare_name;
        if !is_published(version) {
            return Err(RouterError::Missing(format!(
                "{version} is not a published version of function {function}: an alias routes only to published versions; publish one and set version to its number"
            )));
        }
        let found =
            self.client.get_function_configuration().function_name(&self.function_name).qualifier(version).send().await;
        match found {
            Ok(out) if out.version() == Some(version) => Ok(()),
            Ok(out) => Err(RouterError::Failed(format!(
                "Lambda answered version {} of function {function} for version {version}",
                out.version().unwrap_or("(none)")
            ))),
            Err(e) if is_not_found(&e) => {
                // Tell a missing version from a missing function.
                match self.client.get_function_configuration().function_name(&self.function_name).send().await {
                    Err(e) if is_not_found(&e) => {
                        Err(RouterError::Gone(format!("function {} does not exist", self.function_name)))
                    }
                    _ => Err(RouterError::Missing(format!(
                        "function {function} has no version {version}: publish it (aws lambda publish-version) and set version to the number it returns"
                    ))),
                }
            }
            Err(e) => Err(lambda_error("GetFunctionConfiguration", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIAS_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live";
    const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:checkout";

    fn block(function: &str, alias: &str, version: &str) -> Value {
        Value::object([("function_name", function.into()), ("alias", alias.into()), ("version", version.into())])
    }

    /// The attribute paths of `block`'s errors.
    fn errors(block: &Value) -> Vec<String> {
        let mut d = Diagnostics::default();
        let routing = LambdaAlias.parse(block, &AttributePath::root("lambda_alias"), &mut d);
        assert_eq!(routing.is_none(), d.has_errors());
        d.0.iter().map(|e| e.attribute.as_ref().unwrap().to_string()).collect()
    }

    #[test]
    fn parse_refuses_what_an_alias_cannot_route_to() {
        assert!(errors(&block("checkout", "live", "7")).is_empty());
        assert!(errors(&block(FUNCTION_ARN, "live", "7")).is_empty());
        assert!(errors(&block("123456789012:function:checkout", "live", "7")).is_empty());
        assert_eq!(errors(&block("checkout", "live", "$LATEST")), ["lambda_alias.version"]);
        assert_eq!(errors(&block("checkout", "live", "live")), ["lambda_alias.version"]);
        assert_eq!(errors(&block("checkout", "live", "07")), ["lambda_alias.version"]);
        assert_eq!(errors(&block("checkout", "123", "7")), ["lambda_alias.alias"]);
        assert_eq!(errors(&block("checkout", "li ve", "7")), ["lambda_alias.alias"]);
        assert_eq!(errors(&block("checkout", &"a".repeat(MAX_ALIAS_LEN + 1), "7")), ["lambda_alias.alias"]);
        assert_eq!(errors(&block("", "live", "7")), ["lambda_alias.function_name"]);
        assert_eq!(errors(&block(ALIAS_ARN, "live", "7")), ["lambda_alias.function_name"], "a qualified ARN");
        assert_eq!(errors(&block("arn:aws:s3:::bucket", "live", "7")), ["lambda_alias.function_name"]);
        assert_eq!(errors(&block("", "1", "$LATEST")).len(), 3);

        let mut d = Diagnostics::default();
        LambdaAlias.parse(&block("checkout", "live", "$LATEST"), &AttributePath::root("lambda_alias"), &mut d);
        assert!(d.0[0].detail.contains("published versions"), "{}", d.0[0].detail);
    }

    #[test]
    fn an_unknown_version_still_names_the_routing() {
        let unknown = Value::object([
            ("function_name", "checkout".into()),
            ("alias", "live".into()),
            ("version", Value::Unknown),
        ]);
        let mut d = Diagnostics::default();
        let routing = LambdaAlias.parse(&unknown, &AttributePath::root("lambda_alias"), &mut d).expect("routing");
        assert_eq!(routing.id(), "checkout:live");
        let unknown_alias =
            Value::object([("function_name", "checkout".into()), ("alias", Value::Unknown), ("version", "3".into())]);
        assert!(LambdaAlias.parse(&unknown_alias, &AttributePath::root("lambda_alias"), &mut d).is_none());
        assert!(!d.has_errors());
    }

    #[test]
    fn ids_follow_the_function_name_as_configured() {
        let parse = |function: &str| {
            LambdaAlias
                .parse(&block(function, "live", "3"), &AttributePath::root("lambda_alias"), &mut Diagnostics::default())
                .unwrap()
        };
        assert_eq!(parse("checkout").id(), "checkout:live");
        assert_eq!(parse(FUNCTION_ARN).id(), ALIAS_ARN);
        assert_eq!(parse("checkout").destination_name("3"), "version 3");
        assert_eq!(parse(FUNCTION_ARN).block_value("4"), block(FUNCTION_ARN, "live", "4"));
    }

    #[test]
    fn import_ids_name_an_alias_and_record_the_function_by_name() {
        for id in [ALIAS_ARN, "checkout:live"] {
            let routing = LambdaAlias.import(id).unwrap().unwrap();
            assert_eq!(routing.id(), "checkout:live", "{id}");
            assert_eq!(routing.block_value("3"), block("checkout", "live", "3"));
        }
        assert!(LambdaAlias.import(FUNCTION_ARN).unwrap().err().unwrap().contains(":<alias>"));
        assert!(LambdaAlias.import("checkout:7").unwrap().is_err(), "a version is not an alias");
        assert!(LambdaAlias.import("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2").is_none());
        assert!(LambdaAlias.import("Z1D633PJN98FT9_www.example.com_A_blue").is_none());
        assert!(LambdaAlias.import("a:b:c").is_none());
    }

    #[test]
    fn metrics_are_per_executed_version_through_the_alias() {
        let routing = LambdaAlias
            .parse(&block(FUNCTION_ARN, "live", "3"), &AttributePath::root("lambda_alias"), &mut Diagnostics::default())
            .unwrap();
        let (canary, baseline) = routing.analysis_metrics("2", "3", "errors").unwrap();
        let dims = |v: &str| {
            vec![
                ("FunctionName".to_owned(), "checkout".to_owned()),
                ("Resource".to_owned(), "checkout:live".to_owned()),
                ("ExecutedVersion".to_owned(), v.to_owned()),
            ]
        };
        assert_eq!((canary.requests.namespace.as_str(), canary.requests.name.as_str()), ("AWS/Lambda", "Invocations"));
        assert_eq!(canary.errors.name, "Errors");
        assert_eq!(canary.requests.dimensions, dims("3"));
        assert_eq!(canary.errors.dimensions, dims("3"));
        assert_eq!(baseline.requests.dimensions, dims("2"));
        assert!(LambdaAlias.check_error_metric("errors").is_ok());
        assert!(LambdaAlias.check_error_metric("5xx").unwrap_err().contains("\"errors\""));
        assert_eq!(LambdaAlias.default_error_metric(), Ok("errors"));
    }

    fn shares(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(v, p)| ((*v).to_owned(), *p)).collect()
    }

    #[test]
    fn the_version_serving_now_stays_primary() {
        let split = shares(&[("2", 90.0), ("3", 10.0)]);
        assert_eq!(
            alias_routing(Some("2"), &split),
            Ok(AliasRouting { primary: "2".into(), additional: Some(("3".into(), 0.1)) })
        );
        // Late in a rollout the target serves most, still as the additional version.
        let late = shares(&[("2", 20.0), ("3", 80.0)]);
        assert_eq!(
            alias_routing(Some("2"), &late),
            Ok(AliasRouting { primary: "2".into(), additional: Some(("3".into(), 0.8)) })
        );
        // Rolling back from a promoted 3 to 2: 3 stays primary.
        assert_eq!(
            alias_routing(Some("3"), &late),
            Ok(AliasRouting { primary: "3".into(), additional: Some(("2".into(), 0.2)) })
        );
        // Neither serves now: the larger share is primary.
        assert_eq!(
            alias_routing(Some("9"), &late),
            Ok(AliasRouting { primary: "3".into(), additional: Some(("2".into(), 0.2)) })
        );
        assert_eq!(alias_routing(None, &split).unwrap().primary, "2");
    }

    #[test]
    fn one_version_takes_everything_and_clears_the_weights() {
        assert_eq!(
            alias_routing(Some("2"), &shares(&[("3", 100.0)])),
            Ok(AliasRouting { primary: "3".into(), additional: None })
        );
        // All at once from $LATEST is fine; a split with it is not.
        assert!(alias_routing(Some("$LATEST"), &shares(&[("3", 100.0)])).is_ok());
        assert!(
            alias_routing(Some("$LATEST"), &shares(&[("$LATEST", 90.0), ("3", 10.0)]))
                .unwrap_err()
                .contains("$LATEST is not one")
        );
        assert!(alias_routing(None, &shares(&[("1", 40.0), ("2", 30.0), ("3", 30.0)])).is_err());
        assert!(alias_routing(None, &[]).is_err());
    }

    #[test]
    fn lease_tags_fit_aws_tag_keys() {
        assert_eq!(LEASE_TAG_PREFIX.len() + MAX_ALIAS_LEN, 128);
        assert!(check_alias(&"a".repeat(MAX_ALIAS_LEN)).is_ok());
    }
}
