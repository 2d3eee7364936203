//! The `provider "progressive"` block: schema, checks, and parsing.
//!
//! Credentials are never configured here: they come from the standard AWS
//! chain (environment, shared profiles, SSO caches via profiles, instance or
//! task roles), optionally through an assumed role. So no secret can reach
//! plan output or state through this block.

use tfplugin::{Attribute, AttributePath, Block, Diagnostics, Nesting, Schema, Type, Value};

/// Services whose endpoints can be overridden, in documentation order.
pub const SERVICES: [&str; 7] =
    ["elbv2", "cloudwatch", "lambda", "route53", "codedeploy", "appconfig", "appconfigdata"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderConfig {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub assume_role: Option<AssumeRole>,
    /// (service, URL) pairs from the `endpoints` block.
    pub endpoints: Vec<(String, String)>,
    pub max_retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
}

impl ProviderConfig {
    pub fn endpoint(&self, service: &str) -> Option<&str> {
        self.endpoints.iter().find(|(s, _)| s == service).map(|(_, url)| url.as_str())
    }
}

pub fn schema() -> Schema {
    let endpoints = SERVICES.iter().fold(
        Block::new("Custom endpoint URLs, for local emulators or private endpoints. Each defaults to `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then the public AWS endpoint."),
        |block, service| {
            block.attribute(Attribute::optional(service, Type::String, &format!("Endpoint URL for the {} API.", service_title(service))))
        },
    );
    Schema::new(
        0,
        Block::new("Progressive delivery on AWS inside `terraform apply`. Credentials come from the standard AWS chain (environment, shared config and credentials files, SSO, container and instance roles); they are never part of the configuration, the plan or the state.")
            .attribute(Attribute::optional("region", Type::String, "AWS region, such as `us-east-1`. Defaults to `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the profile's region."))
            .attribute(Attribute::optional("profile", Type::String, "Named profile from the shared AWS config and credentials files. Defaults to `AWS_PROFILE`."))
            .attribute(Attribute::optional("max_retries", Type::Number, "How many times to retry a throttled or failed AWS call before giving up (0 to 25), backing off exponentially with jitter (the SDK's standard retry mode). Defaults to 7."))
            .block(
                "assume_role",
                Nesting::Single,
                Block::new("Assume this IAM role (through STS) for every AWS call, using the credentials found by the standard chain as the source.")
                    .attribute(Attribute::required("role_arn", Type::String, "ARN of the role to assume."))
                    .attribute(Attribute::optional("session_name", Type::String, "Session name that appears in CloudTrail. Defaults to one the SDK generates."))
                    .attribute(Attribute::optional("external_id", Type::String, "External ID the role's trust policy requires.").sensitive()),
            )
            .block("endpoints", Nesting::Single, endpoints),
    )
}

fn service_title(service: &str) -> &'static str {
    match service {
        "elbv2" => "Elastic Load Balancing v2",
        "cloudwatch" => "CloudWatch",
        "lambda" => "Lambda",
        "route53" => "Route 53",
        "codedeploy" => "CodeDeploy",
        "appconfig" => "AppConfig",
        _ => "AppConfig data plane (AppConfigData)",
    }
}

/// Checks what can be checked without AWS; unknown values pass.
pub fn validate(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::default();
    if let Some(n) = config.get("max_retries").as_number()
        && !n.as_i64().is_some_and(|n| (0..=25).contains(&n))
    {
        d.error_at(
            AttributePath::root("max_retries"),
            "Invalid max_retries",
            format!("max_retries must be a whole number from 0 to 25, not {n}."),
        );
    }
    if let Some(arn) = config.get("assume_role").get("role_arn").as_str()
        && !(arn.starts_with("arn:") && arn.contains(":role/"))
    {
        d.error_at(
            AttributePath::root("assume_role").attribute("role_arn"),
            "Invalid role ARN",
            format!("{arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)."),
        );
    }
    for service in SERVICES {
        if let Some(url) = config.get("endpoints").get(service).as_str()
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            d.error_at(
                AttributePath::root("endpoints").attribute(service),
                "Invalid endpoint URL",
                format!("{url:?} must be an http:// or https:// URL."),
            );
        }
    }
    d
}

/// The attributes of the configuration whose values are known only after
/// apply (`assume_role.role_arn` of a role the same configuration creates),
/// as paths; empty when everything is known.
pub fn unknown_attributes(config: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    collect_unknown(config, "", &mut unknown);
    unknown
}

fn collect_unknown(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Unknown => out.push(if path.is_empty() { "configuration".into() } else { path.to_owned() }),
        Value::Object(fields) | Value::Map(fields) => {
            for (name, v) in fields {
                collect_unknown(v, &if path.is_empty() { name.clone() } else { format!("{path}.{name}") }, out);
            }
        }
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_unknown(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::Dynamic(_, v) => collect_unknown(v, path, out),
        _ => {}
    }
}

/// Reads a validated configuration whose values are all known.
pub fn parse(config: &Value) -> Result<ProviderConfig, Diagnostics> {
    let mut d = validate(config);
    let mut text = |path: AttributePath, v: &Value| -> Option<String> {
        if !v.is_known() {
            d.error_at(
                path,
                "Provider configuration not known yet",
                "This value is only known after apply; the provider needs it to plan. Use a value known at plan time.",
            );
            return None;
        }
        v.as_str().map(str::to_owned)
    };
    let region = text(AttributePath::root("region"), config.get("region"));
    let profile = text(AttributePath::root("profile"), config.get("profile"));
    let role = config.get("assume_role");
    let assume_role = if role.is_null() {
        None
    } else {
        let at = |name| AttributePath::root("assume_role").attribute(name);
        let role_arn = text(at("role_arn"), role.get("role_arn")).unwrap_or_default();
        let session_name = text(at("session_name"), role.get("session_name"));
        let external_id = text(at("external_id"), role.get("external_id"));
        Some(AssumeRole { role_arn, session_name, external_id })
    };
    let endpoints = SERVICES
        .iter()
        .filter_map(|s| {
            text(AttributePath::root("endpoints").attribute(s), config.get("endpoints").get(s))
                .map(|url| ((*s).to_owned(), url))
        })
        .collect();
    let max_retries = config.get("max_retries").as_number().and_then(|n| n.as_i64()).map(|n| n.clamp(0, 25) as u32);
    if d.has_errors() {
        return Err(d);
    }
    Ok(ProviderConfig { region, profile, assume_role, endpoints, max_retries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(attrs: Vec<(&str, Value)>) -> Value {
        let mut v = Value::null_object(&schema().ty());
        for (k, val) in attrs {
            v.set_attr(k, val);
        }
        v
    }

    #[test]
    fn parses_a_full_block() {
        let c = config(vec![
            ("region", "eu-west-1".into()),
            ("max_retries", 5.into()),
            (
                "assume_role",
                Value::object([
                    ("role_arn", "arn:aws:iam::123456789012:role/deploy".into()),
                    ("session_name", Value::Null),
                    ("external_id", "xyz".into()),
                ]),
            ),
            ("endpoints", Value::object([("cloudwatch", "http://127.0.0.1:5000".into())])),
        ]);
        let parsed = parse(&c).unwrap();
        assert_eq!(parsed.region.as_deref(), Some("eu-west-1"));
        assert_eq!(parsed.max_retries, Some(5));
        assert_eq!(parsed.assume_role.unwrap().external_id.as_deref(), Some("xyz"));
        assert_eq!(parsed.endpoints, vec![("cloudwatch".to_owned(), "http://127.0.0.1:5000".to_owned())]);
    }

    #[test]
    fn bad_values_are_reported_on_their_attribute() {
        let c = config(vec![
            ("max_retries", (-1).into()),
            ("assume_role", Value::object([("role_arn", "deploy".into())])),
            ("endpoints", Value::object([("elbv2", "localhost:4566".into())])),
        ]);
        let d = validate(&c);
        let paths: Vec<String> = d.0.iter().map(|d| d.attribute.as_ref().unwrap().to_string()).collect();
        assert_eq!(paths, ["max_retries", "assume_role.role_arn", "endpoints.elbv2"]);
    }

    #[test]
    fn unknown_values_are_found_wherever_they_are() {
        let c = config(vec![
            ("region", "eu-west-1".into()),
            (
                "assume_role",
                Value::object([
                    ("role_arn", Value::Unknown),
                    ("session_name", "s".into()),
                    ("external_id", Value::Null),
                ]),
            ),
            ("endpoints", Value::Unknown),
        ]);
        assert_eq!(unknown_attributes(&c), ["assume_role.role_arn", "endpoints"]);
        assert!(unknown_attributes(&config(vec![("region", "eu-west-1".into())])).is_empty());
    }

    #[test]
    fn unknown_region_cannot_configure() {
        let d = parse(&config(vec![("region", Value::Unknown)])).unwrap_err();
        assert_eq!(d.0[0].attribute.as_ref().unwrap().to_string(), "region");
    }
}
