//! The test bed's Route 53 client against the emulator (whose Route 53
//! behaves as AWS documents it, see `testbed/emulator_route53.py`).

use acceptance_tests::{Emulator, WeightedRecord};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn weights(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn weighted_records_round_trip() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let zone = aws.create_hosted_zone("example.com");
    assert!(!zone.starts_with('/'), "{zone}");

    let blue = WeightedRecord::new("app.example.com", "A", "blue", 100, 60, "192.0.2.1");
    let green = WeightedRecord::new("app.example.com", "A", "green", 0, 60, "192.0.2.2");
    let canary = WeightedRecord::new("app.example.com", "A", "canary", 5, 60, "192.0.2.3");
    aws.create_weighted_record(&zone, &blue);
    aws.create_weighted_record(&zone, &green);
    aws.create_weighted_record(&zone, &canary);
    // Same set identifier, other names and types: must not be touched.
    aws.create_weighted_record(
        &zone,
        &WeightedRecord::new("www.example.com", "CNAME", "green", 7, 60, "lb.example.net"),
    );
    aws.create_weighted_record(&zone, &WeightedRecord::new("zzz.example.com", "A", "green", 9, 60, "192.0.2.9"));

    let expected = weights(&[("blue", 100), ("canary", 5), ("green", 0)]);
    assert_eq!(aws.record_weights(&zone, "app.example.com", "A"), expected);
    for page_size in [1, 2, 300] {
        let records = aws.weighted_records_paged(&zone, "app.example.com.", "A", page_size);
        let ids: Vec<&str> = records.iter().map(|r| r.set_identifier.as_str()).collect();
        assert_eq!(ids, ["blue", "canary", "green"], "page size {page_size}");
    }
    let read_back = aws.weighted_records(&zone, "app.example.com", "A");
    assert_eq!(read_back[0].name, "app.example.com.");
    assert_eq!(read_back[0].values, ["192.0.2.1"]);
    assert_eq!(read_back[0].ttl, 60);

    aws.upsert_weighted_record(&zone, &green.with_weight(50));
    aws.upsert_weighted_record(&zone, &blue.with_weight(50));
    assert_eq!(
        aws.record_weights(&zone, "app.example.com", "A"),
        weights(&[("blue", 50), ("canary", 5), ("green", 50)])
    );

    aws.delete_weighted_record(&zone, &canary);
    assert_eq!(aws.record_weights(&zone, "app.example.com", "A"), weights(&[("blue", 50), ("green", 50)]));
    assert_eq!(aws.record_weights(&zone, "www.example.com", "CNAME"), weights(&[("green", 7)]));
    assert_eq!(aws.record_weights(&zone, "zzz.example.com", "A"), weights(&[("green", 9)]));
}

#[test]
fn route53_errors_are_reported_as_documented() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let zone = aws.create_hosted_zone("example.com");
    let blue = WeightedRecord::new("app.example.com", "A", "blue", 10, 60, "192.0.2.1");
    aws.create_weighted_record(&zone, &blue);

    let again = aws.change_weighted_records(&zone, &[("CREATE", &blue.with_weight(20))]).unwrap_err();
    assert_eq!((again.status, again.code.as_str()), (400, "InvalidChangeBatch"), "{again}");
    assert!(again.message.contains("but it already exists"), "{again}");

    let stale = aws.change_weighted_records(&zone, &[("DELETE", &blue.with_weight(11))]).unwrap_err();
    assert_eq!(stale.code, "InvalidChangeBatch", "{stale}");
    assert!(stale.message.contains("do not match the current values"), "{stale}");

    let heavy = aws.change_weighted_records(&zone, &[("UPSERT", &blue.with_weight(256))]).unwrap_err();
    assert_eq!((heavy.status, heavy.code.as_str()), (400, "InvalidInput"), "{heavy}");
    assert_eq!(aws.record_weights(&zone, "app.example.com", "A"), weights(&[("blue", 10)]));

    let missing = aws.change_weighted_records("ZNOSUCHZONE", &[("CREATE", &blue)]).unwrap_err();
    assert_eq!((missing.status, missing.code.as_str()), (404, "NoSuchHostedZone"), "{missing}");
    let change = aws.route53("GET", "/change/CNOSUCHCHANGE", &[], None).unwrap_err();
    assert_eq!((change.status, change.code.as_str()), (404, "NoSuchChange"), "{change}");
}

#[test]
fn changes_are_pending_then_insync() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let zone = aws.create_hosted_zone("example.com");
    let started = Instant::now();
    let change = aws.create_weighted_record(
        &zone,
        &WeightedRecord::new("app.example.com", "CNAME", "blue", 1, 60, "blue.example.net"),
    );
    assert!(change.starts_with('C'), "{change}");
    assert_eq!(aws.change_status(&change), "PENDING");
    assert!(aws.wait_for_change(&change, Duration::from_secs(10)));
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    assert_eq!(aws.change_status(&format!("/change/{change}")), "INSYNC");
}

#[test]
fn hosted_zone_tags_round_trip() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let zone = aws.create_hosted_zone("example.com");
    assert!(aws.hosted_zone_tags(&zone).is_empty());
    aws.change_hosted_zone_tags(&zone, &[("team", "web"), ("stage", "blue")], &[]);
    aws.change_hosted_zone_tags(&zone, &[("stage", "green")], &["team"]);
    let tags = aws.hosted_zone_tags(&format!("/hostedzone/{zone}"));
    assert_eq!(tags, BTreeMap::from([("stage".to_string(), "green".to_string())]));
}
