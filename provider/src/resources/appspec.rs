//! CodeDeploy AppSpecs for Lambda and ECS, in JSON or YAML: read, checked
//! against what the AppSpec reference requires, and turned into what they
//! deploy.
//!
//! YAML is read event by event into a JSON value, iteratively: an alias
//! (`*name`) is refused rather than expanded (an AppSpec needs none, and
//! expanding them lets a few bytes grow without bound), and nesting deeper
//! than [`MAX_DEPTH`] is refused (an AppSpec needs five levels; dropping a
//! deeply nested value recurses, and a stack overflow is a crash no guard
//! can catch).

use serde_json::{Map, Value as Json};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// The deepest nesting of lists and mappings a YAML AppSpec may have.
pub const MAX_DEPTH: usize = 64;

/// What an AppSpec deploys.
#[derive(Debug, Clone, PartialEq)]
pub enum Deploys {
    Lambda { function_name: String, alias: String, current_version: String, target_version: String },
    Ecs { task_definition_arn: String, container_name: String, container_port: u16 },
}

/// The lifecycle hooks each platform runs (AppSpec reference, "hooks").
const LAMBDA_HOOKS: [&str; 2] = ["BeforeAllowTraffic", "AfterAllowTraffic"];
const ECS_HOOKS: [&str; 5] =
    ["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"];

/// Reads an AppSpec and checks it; what it deploys, or why it cannot be used.
pub fn read(text: &str) -> Result<Deploys, String> {
    let spec = parse(text)?;
    let resources = field(&spec, "Resources").and_then(Json::as_array).ok_or("it has no Resources list")?;
    let [resource] = resources.as_slice() else {
        return Err(format!(
            "its Resources list names {} resources; a Lambda or ECS AppSpec names exactly one",
            resources.len()
        ));
    };
    let (name, resource) = resource
        .as_object()
        .and_then(|r| r.iter().next())
        .ok_or("its resource is not a name with a Type and Properties")?;
    let properties = field(resource, "Properties").ok_or_else(|| format!("resource {name} has no Properties"))?;
    let text = |value: Option<&Json>, what: &str| -> Result<String, String> {
        match value {
            Some(Json::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Json::Number(n)) => Ok(n.to_string()),
            _ => Err(format!("resource {name} has no {what}")),
        }
    };
    let (deploys, hooks): (Deploys, &[&str]) = match field(resource, "Type").and_then(Json::as_str) {
        Some("AWS::Lambda::Function") => {
            let version = |key: &str| -> Result<String, String> {
                let v = text(field(properties, key), key)?;
                if v.chars().all(|c| c.is_ascii_digit()) {
                    Ok(v)
                } else {
                    Err(format!("{key} {v:?} of resource {name} is not a published version number"))
                }
            };
            let (current_version, target_version) = (version("CurrentVersion")?, version("TargetVersion")?);
            if current_version == target_version {
                return Err(format!(
                    "resource {name} has the same CurrentVersion and TargetVersion ({target_version}): nothing to deploy"
                ));
            }
            let deploys = Deploys::Lambda {
                function_name: text(field(properties, "Name"), "Name")?,
                alias: text(field(properties, "Alias"), "Alias")?,
                current_version,
                target_version,
            };
            (deploys, &LAMBDA_HOOKS)
        }
        Some("AWS::ECS::Service") => {
            let balancer = field(properties, "LoadBalancerInfo")
                .ok_or_else(|| format!("resource {name} has no LoadBalancerInfo"))?;
            let port = field(balancer, "ContainerPort")
                .and_then(|p| p.as_u64().or_else(|| p.as_str().and_then(|s| s.parse().ok())));
            let port = port
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("resource {name} has no LoadBalancerInfo.ContainerPort from 1 to 65535"))?;
            let deploys = Deploys::Ecs {
                task_definition_arn: text(field(properties, "TaskDefinition"), "TaskDefinition")?,
                container_name: text(field(balancer, "ContainerName"), "LoadBalancerInfo.ContainerName")?,
                container_port: port,
            };
            (deploys, &ECS_HOOKS)
        }
        Some(other) => {
            return Err(format!(
                "resource {name} is of type {other}; this resource deploys AWS::Lambda::Function or AWS::ECS::Service"
            ));
        }
        None => return Err(format!("resource {name} has no Type")),
    };
    if let Some(given) = field(&spec, "Hooks") {
        let entries = given.as_array().ok_or("its Hooks is not a list")?;
        for entry in entries {
            let (event, function) = entry
                .as_object()
                .filter(|e| e.len() == 1)
                .and_then(|e| e.iter().next())
                .ok_or("each of its Hooks is one lifecycle event and the function it runs")?;
            if !hooks.iter().any(|h| h.eq_ignore_ascii_case(event)) {
                return Err(format!(
                    "its Hooks name {event:?}, which is not a hook of this platform ({})",
                    hooks.join(", ")
                ));
            }
            if function.as_str().is_none_or(|f| f.trim().is_empty()) {
                return Err(format!("its {event} hook names no function"));
            }
        }
    }
    Ok(deploys)
}

/// A key of an object, in any case (the AppSpec reference writes some
/// lower-case, SAM and CloudFormation capitalised).
fn field<'a>(value: &'a Json, key: &str) -> Option<&'a Json> {
    value.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// The AppSpec as JSON: JSON as it is, else YAML.
pub fn parse(text: &str) -> Result<Json, String> {
    if let Ok(json) = serde_json::from_str::<Json>(text) {
        return if json.is_object() { Ok(json) } else { Err("it is JSON but not an object".into()) };
    }
    let value = yaml(text)?;
    if value.is_object() { Ok(value) } else { Err("it is neither a JSON object nor a YAML mapping".into()) }
}

/// A node being built: a list, or a mapping with the key waiting for its value.
enum Open {
    List(Vec<Json>),
    Mapping(Map<String, Json>, Option<String>),
}

fn yaml(text: &str) -> Result<Json, String> {
    let mut parser = Parser::new_from_str(text);
    let mut open: Vec<Open> = Vec::new();
    let mut document = None;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| format!("it is not valid JSON or YAML ({e})"))?;
        let finished = match event {
            Event::StreamEnd => break,
            Event::Alias(_) => {
                return Err(format!("its YAML uses an alias (line {}); write the value out", mark.line()));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if open.len() >= MAX_DEPTH => {
                return Err(format!("its YAML nests deeper than {MAX_DEPTH} levels (line {})", mark.line()));
            }
            Event::SequenceStart(..) => {
                open.push(Open::List(Vec::new()));
                None
            }
            Event::MappingStart(..) => {
                open.push(Open::Mapping(Map::new(), None));
                None
            }
            Event::SequenceEnd => match open.pop() {
                Some(Open::List(items)) => Some(Json::Array(items)),
                _ => return Err("its YAML is malformed".into()),
            },
            Event::MappingEnd => match open.pop() {
                Some(Open::Mapping(map, None)) => Some(Json::Object(map)),
                _ => return Err("its YAML is malformed".into()),
            },
            Event::Scalar(value, style, ..) => Some(scalar(value, style)),
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => None,
        };
        let Some(node) = finished else { continue };
        match open.last_mut() {
            None if document.is_none() => document = Some(node),
            None => return Err("it holds more than one YAML document".into()),
            Some(Open::List(items)) => items.push(node),
            Some(Open::Mapping(map, key)) => match key.take() {
                None => match node {
                    Json::String(k) => *key = Some(k),
                    Json::Number(n) => *key = Some(n.to_string()),
                    _ => return Err(format!("its YAML has a key that is not text (line {})", mark.line())),
                },
                Some(k) => {
                    map.insert(k, node);
                }
            },
        }
    }
    document.ok_or_else(|| "it is empty".into())
}

/// A YAML scalar as JSON: quoted scalars are text; plain ones may be null,
/// booleans or numbers (YAML 1.2's core schema).
fn scalar(value: String, style: TScalarStyle) -> Json {
    if style != TScalarStyle::Plain {
        return Json::String(value);
    }
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => Json::Null,
        "true" | "True" | "TRUE" => Json::Bool(true),
        "false" | "False" | "FALSE" => Json::Bool(false),
        number => number
            .parse::<i64>()
            .map(Json::from)
            .ok()
            .or_else(|| {
                number
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
            })
            .unwrap_or(Json::String(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMBDA_YAML: &str = "version: 0.0\nResources:\n  - checkout:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: \"checkout\"\n        Alias: \"live\"\n        CurrentVersion: \"1\"\n        TargetVersion: 2\nHooks:\n  - BeforeAllowTraffic: \"checkout-smoke-test\"\n";

    #[test]
    fn lambda_and_ecs_appspecs_in_yaml_and_json() {
        assert_eq!(
            read(LAMBDA_YAML),
            Ok(Deploys::Lambda {
                function_name: "checkout".into(),
                alias: "live".into(),
                current_version: "1".into(),
                target_version: "2".into()
            })
        );
        let ecs = r#"{"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3", "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8080}}}}]}"#;
        assert_eq!(
            read(ecs),
            Ok(Deploys::Ecs {
                task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3".into(),
                container_name: "web".into(),
                container_port: 8080
            })
        );
    }

    #[test]
    fn appspecs_that_cannot_deploy_say_why() {
        let refused = |text: &str| read(text).unwrap_err();
        assert!(refused("{not json").contains("not valid JSON or YAML"), "{}", refused("{not json"));
        assert!(refused("[1, 2]").contains("not an object"));
        assert!(refused("version: 0.0\n").contains("no Resources"));
        assert!(refused(&LAMBDA_YAML.replace("TargetVersion: 2", "TargetVersion: 1")).contains("nothing to deploy"));
        assert!(refused(&LAMBDA_YAML.replace("        Alias: \"live\"\n", "")).contains("no Alias"));
        assert!(
            refused(&LAMBDA_YAML.replace("BeforeAllowTraffic", "BeforeInstall"))
                .contains("not a hook of this platform")
        );
        assert!(
            refused(&LAMBDA_YAML.replace("AWS::Lambda::Function", "AWS::EC2::Instance")).contains("AWS::EC2::Instance")
        );
    }

    #[test]
    fn yaml_aliases_are_refused_not_expanded() {
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
        assert!(parse(bomb).unwrap_err().contains("alias"));
    }

    #[test]
    fn deep_nesting_is_read_without_recursion() {
        let flow = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(read(&flow).is_err());
        let block: String = (0..1000).map(|i| format!("{}- \n", "  ".repeat(i))).collect();
        assert!(read(&block).is_err(), "read without overflowing the stack");
        // One line, 50,000 levels: refused at the limit, not built and dropped.
        let inline = "- ".repeat(50_000) + "x";
        assert!(read(&inline).unwrap_err().contains("nests deeper than 64"));
    }
}
