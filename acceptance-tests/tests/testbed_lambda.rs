//! The test bed's Lambda side: the independent Lambda client against the
//! emulator, and the Lambda traffic simulator fixture.

use acceptance_tests::{Emulator, LambdaTraffic, VersionBehaviour};
use std::time::{Duration, Instant};

#[test]
fn lambda_client_alias_routing_round_trip() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let arn = aws.create_function("checkout");
    assert!(arn.ends_with(":function:checkout"), "{arn}");
    let v1 = aws.publish_version("checkout");
    let v2 = aws.publish_version("checkout");
    let v3 = aws.publish_version("checkout");
    assert_eq!((v1.as_str(), v2.as_str(), v3.as_str()), ("1", "2", "3"));

    let created = aws.create_alias("checkout", "live", &v1, Some((&v2, 0.1)));
    assert_eq!(created.function_version, "1");
    assert!(created.arn.ends_with(":function:checkout:live"), "{created:?}");
    assert_eq!(aws.alias_routing("checkout", "live"), ("1".to_string(), Some(("2".to_string(), 0.1))));

    let shifted = aws.update_alias("checkout", "live", &v1, Some((&v2, 0.5)));
    assert_ne!(shifted.revision_id, created.revision_id);
    assert_eq!(aws.alias_routing("checkout", "live").1, Some(("2".to_string(), 0.5)));

    // Promote and clear the routing in one call.
    aws.update_alias("checkout", "live", &v2, None);
    assert_eq!(aws.alias_routing("checkout", "live"), ("2".to_string(), None));

    // AWS's validation: the additional version must differ, exist, and not be $LATEST's partner.
    let same = aws.try_update_alias("checkout", "live", &v2, Some((&v2, 0.1))).unwrap_err();
    assert_eq!((same.status, same.code.as_str()), (400, "InvalidParameterValueException"), "{same}");
    let missing = aws.try_update_alias("checkout", "live", &v2, Some(("9", 0.1))).unwrap_err();
    assert_eq!((missing.status, missing.code.as_str()), (404, "ResourceNotFoundException"), "{missing}");
    let latest = aws.try_update_alias("checkout", "live", "$LATEST", Some((&v3, 0.1))).unwrap_err();
    assert_eq!((latest.status, latest.code.as_str()), (400, "InvalidParameterValueException"), "{latest}");
    assert_eq!(aws.get_alias("checkout", "nope"), None);

    aws.tag_function(&arn, &[("team", "payments"), ("tier", "1")]);
    aws.untag_function(&arn, &["tier"]);
    let tags = aws.function_tags(&arn);
    assert_eq!(tags.into_iter().collect::<Vec<_>>(), vec![("team".to_string(), "payments".to_string())]);
}

#[test]
fn lambda_traffic_follows_the_alias() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    aws.create_function("orders");
    let v1 = aws.publish_version("orders");
    let v2 = aws.publish_version("orders");
    aws.create_alias("orders", "live", &v1, Some((&v2, 0.5)));
    let _traffic = LambdaTraffic::start(
        &emulator,
        "orders",
        "live",
        200.0,
        &[VersionBehaviour { version: &v2, error_rate: 1.0, duration_ms: 20.0 }],
    );
    // Every invocation of version 2 fails: Errors shows up for ExecutedVersion 2.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let xml = aws
            .call(
                "ListMetrics",
                &[
                    ("Namespace", "AWS/Lambda"),
                    ("MetricName", "Errors"),
                    ("Dimensions.member.1.Name", "ExecutedVersion"),
                    ("Dimensions.member.1.Value", &v2),
                ],
            )
            .expect("ListMetrics");
        if xml.contains("orders:live") {
            break;
        }
        assert!(Instant::now() < deadline, "no Errors metric for version {v2}: {xml}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
