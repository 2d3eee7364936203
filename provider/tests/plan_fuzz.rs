//! The plan path under random and hostile input: ValidateResourceConfig,
//! PlanResourceChange and UpgradeResourceState of every resource, sent to
//! the provider process over gRPC with values drawn from each resource's
//! schema type (nulls, unknowns, empty and huge collections, strings that
//! are nearly right: durations, ARNs, percentages) and with mutated bytes.
//! No call may fail at the transport (the process died) or come back as
//! "Provider internal error" (a panic the service caught).
//!
//! AWS is configured at a closed loopback port with no retries, so a plan
//! that gets as far as calling AWS fails fast. `PLAN_FUZZ_ITERATIONS`
//! (default 150 per resource) and `PLAN_FUZZ_SEED` set the run;
//! `scripts/fuzz.sh` runs it long.

mod harness;

use std::collections::BTreeMap;
use std::sync::Arc;

use harness::{client_identity, connect, launch};
use terraform_provider_progressive::ProgressiveProvider;
use tfplugin::wire::tfplugin6::{self, DynamicValue, RawState, provider_client::ProviderClient};
use tfplugin::{Number, Provider, Type, Value, msgpack};

fn pick<T: Copy>(draw: &mut Draw, items: &[T]) -> T {
    items[draw.usize(..items.len())]
}

/// Seeded, so a failing case can be replayed.
type Draw = fastrand::Rng;

const STRINGS: &[&str] = &[
    "",
    " ",
    "5m",
    "0s",
    "1s",
    "-1s",
    "10s",
    "1h30m",
    "9999999999h",
    "1e9s",
    "5 m",
    "1.5s",
    "10%",
    "50",
    "-5",
    "NaN",
    "inf",
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2",
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/943f017f100becff",
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/",
    "arn:aws:lambda:us-east-1:123456789012:function:checkout",
    "checkout",
    "live",
    "$LATEST",
    "1",
    "Z3M3LMPEXAMPLE",
    "www.example.com.",
    "A",
    "CNAME",
    "5xx",
    "4xx",
    "elb_5xx",
    "wait",
    "fail",
    "ignore",
    "<",
    ">=",
    "!=",
    "Sum",
    "p99",
    "p100",
    "m1",
    "100*m1/m2",
    "AWS/ApplicationELB",
    "TargetResponseTime",
    "💥",
    "\u{0}",
    "a\nb",
    "${var}",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "0.05",
    "0.1",
    "10",
    "33.3",
    "99.9",
    "100",
    "100.0001",
    "101",
    "999",
    "1000",
    "1e64",
    "-1e-64",
    "0.000000000000000000001",
    "123456789012345678901234567890",
];

fn value(draw: &mut Draw, ty: &Type, depth: u32) -> Value {
    match draw.usize(..12) {
        0 => return Value::Null,
        1 => return Value::Unknown,
        _ => {}
    }
    match ty {
        Type::Bool => Value::Bool(draw.usize(..2) == 0),
        Type::Number if draw.usize(..20) == 0 => {
            Value::Number(Number::parse(&"9".repeat(1 + draw.usize(..4000))).expect("digits"))
        }
        Type::Number => Value::Number(Number::parse(pick(draw, NUMBERS)).expect("a number")),
        Type::String if draw.usize(..30) == 0 => Value::String("x".repeat(draw.usize(..100_000))),
        Type::String => Value::String(pick(draw, STRINGS).to_owned()),
        Type::Dynamic => value(draw, &Type::String, depth),
        Type::List(element) | Type::Set(element) => {
            let n = if depth > 3 { 0 } else { pick(draw, &[0, 0, 1, 1, 2, 3, 30]) };
            let items = (0..n).map(|_| value(draw, element, depth + 1)).collect();
            if matches!(ty, Type::Set(_)) { Value::Set(items) } else { Value::List(items) }
        }
        Type::Map(element) => {
            let n = if depth > 3 { 0 } else { draw.usize(..4) };
            Value::Map(
                (0..n)
                    .map(|_| (pick(draw, STRINGS).to_owned(), value(draw, element, depth + 1)))
                    .collect::<BTreeMap<_, _>>(),
            )
        }
        Type::Object(attributes) => {
            Value::Object(attributes.iter().map(|(name, t)| (name.clone(), value(draw, t, depth + 1))).collect())
        }
        Type::Tuple(types) => Value::Tuple(types.iter().map(|t| value(draw, t, depth + 1)).collect()),
    }
}

/// Bytes that are nearly a valid encoding: flipped, cut or padded.
fn mutate(draw: &mut Draw, mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.is_empty() {
        return vec![draw.u64(..) as u8];
    }
    for _ in 0..=draw.usize(..4) {
        let at = draw.usize(..bytes.len());
        match draw.usize(..3) {
            0 => bytes[at] ^= 1 << draw.usize(..8),
            1 => bytes.truncate(at),
            _ => bytes.insert(at, draw.u64(..) as u8),
        }
        if bytes.is_empty() {
            break;
        }
    }
    bytes
}

fn dynamic(bytes: Vec<u8>) -> Option<DynamicValue> {
    Some(DynamicValue { msgpack: bytes, json: Vec::new() })
}

/// Panics if a diagnostic says the provider's code panicked.
fn assert_no_internal_error(diagnostics: &[tfplugin6::Diagnostic], what: &str, seed: u64) {
    if let Some(d) = diagnostics.iter().find(|d| d.summary == "Provider internal error") {
        panic!("{what} (PLAN_FUZZ_SEED={seed}): {}", d.detail);
    }
}

#[tokio::test]
async fn the_plan_path_survives_random_and_hostile_values() {
    let iterations: usize = std::env::var("PLAN_FUZZ_ITERATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(150);
    let seed: u64 = std::env::var("PLAN_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let identity = client_identity();
    let plugin = launch(
        &identity,
        &[
            ("AWS_ACCESS_KEY_ID", "fuzz"),
            ("AWS_SECRET_ACCESS_KEY", "fuzz"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ],
    );
    let mut client = ProviderClient::new(connect(&plugin, Some(&identity)).await.expect("connect"));

    let provider = ProgressiveProvider::default();
    let closed = "http://127.0.0.1:9";
    let endpoints =
        Value::object(["cloudwatch", "elbv2", "lambda", "route53", "sts"].map(|s| (s, Value::from(closed))));
    let config =
        Value::object([("region", "us-east-1".into()), ("max_retries", Value::from(0)), ("endpoints", endpoints)]);
    let configured = client
        .configure_provider(tfplugin6::configure_provider::Request {
            config: dynamic(msgpack::encode(&config, &provider.schema().ty())),
            ..Default::default()
        })
        .await
        .expect("configure")
        .into_inner();
    assert!(configured.diagnostics.is_empty(), "{:?}", configured.diagnostics);

    let mut draw = Draw::with_seed(seed);
    let resources: Vec<Arc<dyn tfplugin::Resource>> = provider.resources();
    for resource in &resources {
        let (name, schema) = (resource.type_name(), resource.schema());
        let ty = schema.block.ty();
        for i in 0..iterations {
            let mut config = value(&mut draw, &ty, 0);
            if config.is_null() || !config.is_known() {
                config = value(&mut draw, &ty, 1);
            }
            let prior = if draw.usize(..2) == 0 { Value::Null } else { value(&mut draw, &ty, 1) };
            let mut encoded = msgpack::encode(&config, &ty);
            if draw.usize(..5) == 0 {
                encoded = mutate(&mut draw, encoded);
            }
            let what = format!("{name} iteration {i}");
            let validated = client
                .validate_resource_config(tfplugin6::validate_resource_config::Request {
                    type_name: name.into(),
                    config: dynamic(encoded.clone()),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{what}: ValidateResourceConfig: {e}"))
                .into_inner();
            assert_no_internal_error(&validated.diagnostics, &what, seed);
            let planned = client
                .plan_resource_change(tfplugin6::plan_resource_change::Request {
                    type_name: name.into(),
                    prior_state: dynamic(msgpack::encode(&prior, &ty)),
                    proposed_new_state: dynamic(encoded.clone()),
                    config: dynamic(encoded),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{what}: PlanResourceChange: {e}"))
                .into_inner();
            assert_no_internal_error(&planned.diagnostics, &what, seed);
            let stored = tfplugin::json::encode(&prior, &ty).to_string().into_bytes();
            let upgraded = client
                .upgrade_resource_state(tfplugin6::upgrade_resource_state::Request {
                    type_name: name.into(),
                    version: schema.version,
                    raw_state: Some(RawState {
                        json: if draw.usize(..4) == 0 { mutate(&mut draw, stored) } else { stored },
                        ..Default::default()
                    }),
                })
                .await
                .unwrap_or_else(|e| panic!("{what}: UpgradeResourceState: {e}"))
                .into_inner();
            assert_no_internal_error(&upgraded.diagnostics, &what, seed);
        }
    }
    println!("plan path: {iterations} random configurations per resource (seed {seed}), no panic");
}
