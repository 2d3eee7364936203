//! Tests of the ALB fixture and the ELBv2 read-back helpers, and of what moto
//! 5.2.5 does with weighted forwards, tags and missing resources (the tests
//! named `moto_*`): the `progressive_rollout` acceptance tests are designed
//! around these facts, so a moto upgrade that changes one must fail here.

use acceptance_tests::{AlbFixture, AwsClient, Emulator};
use std::collections::BTreeMap;

fn weights(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(arn, w)| (arn.to_string(), *w)).collect()
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// An ELBv2 call with owned parameters.
fn elbv2(aws: &AwsClient, action: &str, params: &[(String, String)]) -> Result<String, String> {
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    aws.elbv2(action, &params).map_err(|e| e.to_string())
}

/// Parameters of one forward action at `prefix` with a `ForwardConfig`;
/// `None` leaves a group's `Weight` out.
fn forward_config(prefix: &str, groups: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    let mut params = vec![(format!("{prefix}.Type"), "forward".to_string())];
    for (i, (arn, weight)) in groups.iter().enumerate() {
        let group = format!("{prefix}.ForwardConfig.TargetGroups.member.{}", i + 1);
        params.push((format!("{group}.TargetGroupArn"), arn.to_string()));
        if let Some(weight) = weight {
            params.push((format!("{group}.Weight"), weight.to_string()));
        }
    }
    params
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// `arn` with another id: the ARN of a resource that never existed.
fn never_created(arn: &str) -> String {
    let (path, _id) = arn.rsplit_once('/').expect("an ARN with a path");
    format!("{path}/0000000000000000")
}

/// The text between the first `<{tag}>` and the following `</{tag}>`.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).unwrap_or_else(|| panic!("no </{tag}> in {xml}"));
    &xml[start..end]
}

/// A listener's `DefaultActions`, as moto returns them (XML text).
fn default_actions(aws: &AwsClient, listener_arn: &str) -> String {
    let answer = aws.elbv2("DescribeListeners", &[("ListenerArns.member.1", listener_arn)]).expect("DescribeListeners");
    element(&answer, "DefaultActions").to_string()
}

/// Creates a listener on `port` of the fixture's load balancer with the
/// given default-action parameters; returns its ARN and the `DefaultActions`
/// that DescribeListeners then returns.
fn listener_with(aws: &AwsClient, alb: &AlbFixture, port: &str, action: Vec<(String, String)>) -> (String, String) {
    let mut params = owned(&[("LoadBalancerArn", &alb.load_balancer_arn), ("Protocol", "HTTP"), ("Port", port)]);
    params.extend(action);
    let answer = elbv2(aws, "CreateListener", &params).expect("CreateListener");
    let arn = element(&answer, "ListenerArn").to_string();
    let actions = default_actions(aws, &arn);
    (arn, actions)
}

#[test]
fn fixture_starts_with_all_traffic_on_blue() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);

    let all_blue = weights(&[(&alb.blue_arn, 1)]);
    assert_eq!(aws.listener_weights(&alb.listener_arn), all_blue);
    assert_eq!(aws.rule_weights(&alb.rule_arn), all_blue);
    assert_eq!(aws.listener_weights(&alb.redirect_listener_arn), BTreeMap::new());

    // The rule belongs to the forwarding listener, with its condition.
    let rules = aws.elbv2("DescribeRules", &[("ListenerArn", &alb.listener_arn)]).expect("DescribeRules");
    assert!(rules.contains(&alb.rule_arn), "{rules}");
    assert!(rules.contains("<Priority>10</Priority>"), "{rules}");
    assert!(rules.contains("<member>/api/*</member>"), "{rules}");
    let redirect = default_actions(&aws, &alb.redirect_listener_arn);
    assert!(redirect.contains("<Type>redirect</Type>"), "{redirect}");

    // Three distinct target groups in the load balancer's VPC.
    let groups = aws.elbv2("DescribeTargetGroups", &[]).expect("DescribeTargetGroups");
    let lb = aws
        .elbv2("DescribeLoadBalancers", &[("LoadBalancerArns.member.1", &alb.load_balancer_arn)])
        .expect("DescribeLoadBalancers");
    assert!(lb.contains("<Type>application</Type>"), "{lb}");
    let vpc = element(&lb, "VpcId");
    for arn in [&alb.blue_arn, &alb.green_arn, &alb.third_arn] {
        assert!(groups.contains(arn.as_str()), "{arn} in {groups}");
    }
    assert_eq!(groups.matches(&format!("<VpcId>{vpc}</VpcId>")).count(), 3);

    // A second fixture in the same emulator gets its own names.
    let other = AlbFixture::create(&aws);
    assert_ne!(other.load_balancer_arn, alb.load_balancer_arn);
    assert_ne!(other.blue_arn, alb.blue_arn);
}

#[test]
fn weights_round_trip_on_listener_and_rule() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);
    let (blue, green) = (alb.blue_arn.as_str(), alb.green_arn.as_str());

    aws.set_listener_weights(&alb.listener_arn, &[(blue, 90), (green, 10)]);
    assert_eq!(aws.listener_weights(&alb.listener_arn), weights(&[(blue, 90), (green, 10)]));
    // The rule is separate from the listener's default action.
    assert_eq!(aws.rule_weights(&alb.rule_arn), weights(&[(blue, 1)]));

    aws.set_rule_weights(&alb.rule_arn, &[(blue, 0), (green, 100)]);
    assert_eq!(aws.rule_weights(&alb.rule_arn), weights(&[(blue, 0), (green, 100)]));
    // ModifyRule with only actions keeps the conditions.
    let rule = aws.elbv2("DescribeRules", &[("RuleArns.member.1", &alb.rule_arn)]).expect("DescribeRules");
    assert!(rule.contains("<member>/api/*</member>"), "{rule}");

    aws.set_listener_weights(&alb.listener_arn, &[(green, 100)]);
    assert_eq!(aws.listener_weights(&alb.listener_arn), weights(&[(green, 100)]));
}

#[test]
fn tags_round_trip_on_listener_and_rule() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);

    for arn in [&alb.listener_arn, &alb.rule_arn] {
        assert_eq!(aws.listener_tags(arn), BTreeMap::new());
        aws.add_tags(arn, &[("team", "payments"), ("rollout", "r1")]);
        assert_eq!(aws.listener_tags(arn), tags(&[("team", "payments"), ("rollout", "r1")]));
        aws.add_tags(arn, &[("rollout", "r2")]);
        aws.remove_tags(arn, &["team", "not-there"]);
        assert_eq!(aws.listener_tags(arn), tags(&[("rollout", "r2")]));
    }
    // Tags are per resource.
    assert_eq!(aws.listener_tags(&alb.redirect_listener_arn), BTreeMap::new());
}

#[test]
fn deleting_target_group_rule_and_listener() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);

    aws.delete_target_group(&alb.third_arn);
    let err = aws.elbv2("DescribeTargetGroups", &[("TargetGroupArns.member.1", &alb.third_arn)]).expect_err("deleted");
    assert_eq!((err.status, err.code.as_str()), (400, "TargetGroupNotFound"));

    aws.delete_rule(&alb.rule_arn);
    let err = aws.elbv2("DescribeRules", &[("RuleArns.member.1", &alb.rule_arn)]).expect_err("deleted");
    assert_eq!((err.status, err.code.as_str()), (400, "RuleNotFound"));

    aws.delete_listener(&alb.listener_arn);
    let err = aws.elbv2("DescribeListeners", &[("ListenerArns.member.1", &alb.listener_arn)]).expect_err("deleted");
    assert_eq!((err.status, err.code.as_str()), (400, "ListenerNotFound"));
    assert_eq!(aws.listener_weights(&alb.redirect_listener_arn), BTreeMap::new());
}

#[test]
fn ec2_and_elbv2_errors_carry_their_codes() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    // EC2 answers errors as `<Response><Errors><Error>`, ELBv2 as
    // `<ErrorResponse><Error>`.
    let err = aws.ec2("DescribeVpcs", &[("VpcId.1", "vpc-00000000")]).expect_err("no such VPC");
    assert_eq!((err.status, err.code.as_str()), (400, "InvalidVpcID.NotFound"), "{err}");
    let err = aws.elbv2("DescribeLoadBalancers", &[("Names.member.1", "nope")]).expect_err("no such load balancer");
    assert_eq!((err.status, err.code.as_str()), (400, "LoadBalancerNotFound"), "{err}");
}

#[test]
fn moto_returns_forward_actions_as_sent() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);
    let (blue, green) = (alb.blue_arn.as_str(), alb.green_arn.as_str());
    let no_stickiness = "<TargetGroupStickinessConfig><Enabled>false</Enabled></TargetGroupStickinessConfig>";

    // A plain TargetGroupArn stays one: no ForwardConfig (AWS adds one).
    let plain = default_actions(&aws, &alb.listener_arn);
    assert_eq!(plain, format!("<member><Type>forward</Type><TargetGroupArn>{blue}</TargetGroupArn></member>"));

    // A ForwardConfig group without a Weight gets weight 1, and a
    // stickiness config that was left out comes back disabled.
    let (_, one) = listener_with(&aws, &alb, "81", forward_config("DefaultActions.member.1", &[(blue, None)]));
    assert_eq!(
        one,
        format!(
            "<member><Type>forward</Type><ForwardConfig><TargetGroups><member>\
             <TargetGroupArn>{blue}</TargetGroupArn><Weight>1</Weight></member></TargetGroups>\
             {no_stickiness}</ForwardConfig></member>"
        )
    );

    let (two_arn, two) = listener_with(
        &aws,
        &alb,
        "82",
        forward_config("DefaultActions.member.1", &[(blue, Some("70")), (green, Some("30"))]),
    );
    assert!(!two.contains("<Type>forward</Type><TargetGroupArn>"), "{two}");
    assert_eq!(aws.listener_weights(&two_arn), weights(&[(blue, 70), (green, 30)]));

    // ModifyListener replaces the default actions with what was sent, in
    // the shape it was sent.
    aws.set_listener_weights(&alb.listener_arn, &[(blue, 90), (green, 10)]);
    let split = default_actions(&aws, &alb.listener_arn);
    assert!(split.contains("<ForwardConfig>") && split.contains(no_stickiness), "{split}");
    assert_eq!(aws.listener_weights(&alb.listener_arn), weights(&[(blue, 90), (green, 10)]));
    aws.set_listener_weights(&alb.listener_arn, &[(green, 100)]);
    assert_eq!(aws.listener_weights(&alb.listener_arn), weights(&[(green, 100)]));
    let mut back = owned(&[("ListenerArn", &alb.listener_arn)]);
    back.extend(owned(&[
        ("DefaultActions.member.1.Type", "forward"),
        ("DefaultActions.member.1.TargetGroupArn", blue),
    ]));
    elbv2(&aws, "ModifyListener", &back).expect("ModifyListener");
    assert_eq!(default_actions(&aws, &alb.listener_arn), plain);

    // Both forms at once come back as both; moto does not check that they
    // agree (AWS requires the ForwardConfig to hold just that group).
    let mut both = owned(&[("ListenerArn", &alb.listener_arn), ("DefaultActions.member.1.TargetGroupArn", green)]);
    both.extend(forward_config("DefaultActions.member.1", &[(blue, Some("5"))]));
    elbv2(&aws, "ModifyListener", &both).expect("moto accepts a disagreeing pair");
    let both = default_actions(&aws, &alb.listener_arn);
    assert!(
        both.contains(&format!("<Type>forward</Type><TargetGroupArn>{green}</TargetGroupArn><ForwardConfig>")),
        "{both}"
    );
}

#[test]
fn moto_keeps_the_stickiness_config_sent_and_only_that() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);
    let (blue, green) = (alb.blue_arn.as_str(), alb.green_arn.as_str());

    let mut sticky = owned(&[("ListenerArn", &alb.listener_arn)]);
    sticky.extend(forward_config("DefaultActions.member.1", &[(blue, Some("90")), (green, Some("10"))]));
    sticky.extend(owned(&[
        ("DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled", "true"),
        ("DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds", "300"),
    ]));
    elbv2(&aws, "ModifyListener", &sticky).expect("ModifyListener");
    assert!(
        default_actions(&aws, &alb.listener_arn).contains(
            "<TargetGroupStickinessConfig><Enabled>true</Enabled>\
             <DurationSeconds>300</DurationSeconds></TargetGroupStickinessConfig>"
        ),
        "stickiness kept"
    );

    // A ModifyListener without one (set_listener_weights sends none)
    // replaces it with a disabled one.
    aws.set_listener_weights(&alb.listener_arn, &[(blue, 50), (green, 50)]);
    assert!(
        default_actions(&aws, &alb.listener_arn)
            .contains("<TargetGroupStickinessConfig><Enabled>false</Enabled></TargetGroupStickinessConfig>")
    );
}

#[test]
fn moto_modify_listener_validates_no_forward_config() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);
    let (blue, green, third) = (alb.blue_arn.as_str(), alb.green_arn.as_str(), alb.third_arn.as_str());
    let missing = never_created(&alb.blue_arn);

    // Outside what the ELBv2 API documents (weights 0..=999, at most five
    // existing, distinct groups), yet moto stores and returns each.
    let accepted: &[(&str, Vec<(&str, &str)>)] = &[
        ("weight above 999", vec![(blue, "1000"), (green, "0")]),
        ("negative weight", vec![(blue, "-1"), (green, "10")]),
        ("all weights 0", vec![(blue, "0"), (green, "0")]),
        ("a group twice", vec![(blue, "50"), (blue, "50")]),
        ("unknown target group", vec![(blue, "50"), (&missing, "50")]),
        ("six groups", vec![(blue, "1"), (green, "1"), (third, "1"), (blue, "1"), (green, "1"), (third, "1")]),
    ];
    for (case, groups) in accepted {
        let groups: Vec<(&str, Option<&str>)> = groups.iter().map(|(arn, w)| (*arn, Some(*w))).collect();
        let mut params = owned(&[("ListenerArn", &alb.listener_arn)]);
        params.extend(forward_config("DefaultActions.member.1", &groups));
        elbv2(&aws, "ModifyListener", &params).unwrap_or_else(|e| panic!("{case}: {e}"));
        let stored = default_actions(&aws, &alb.listener_arn);
        for (arn, weight) in &groups {
            let member = format!("<TargetGroupArn>{arn}</TargetGroupArn><Weight>{}</Weight>", weight.unwrap());
            assert!(stored.contains(&member), "{case}: {member} in {stored}");
        }
    }

    // A weight-0 group alongside a positive one is valid on AWS too.
    aws.set_listener_weights(&alb.listener_arn, &[(blue, 0), (green, 100)]);
    assert_eq!(aws.listener_weights(&alb.listener_arn), weights(&[(blue, 0), (green, 100)]));
}

#[test]
fn moto_modify_rule_rejects_unknown_target_groups_only() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);
    let blue = alb.blue_arn.as_str();
    let missing = never_created(&alb.blue_arn);

    let mut params = owned(&[("RuleArn", &alb.rule_arn)]);
    params.extend(forward_config("Actions.member.1", &[(blue, Some("50")), (&missing, Some("50"))]));
    let err = elbv2(&aws, "ModifyRule", &params).expect_err("unknown target group");
    assert!(err.starts_with("TargetGroupNotFound (HTTP 400)"), "{err}");

    let mut params = owned(&[("RuleArn", &alb.rule_arn)]);
    params.extend(forward_config("Actions.member.1", &[(blue, Some("5000")), (blue, Some("0"))]));
    elbv2(&aws, "ModifyRule", &params).expect("weights and duplicates are not checked");
}

#[test]
fn moto_tags_listeners_and_rules_up_to_ten_but_describe_tags_checks_nothing() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);

    // At most 10 tags per resource.
    let keys: Vec<String> = (1..=10).map(|i| format!("progressive:k{i}")).collect();
    for key in &keys {
        aws.add_tags(&alb.redirect_listener_arn, &[(key, "v")]);
    }
    assert_eq!(aws.listener_tags(&alb.redirect_listener_arn).len(), 10);
    aws.add_tags(&alb.redirect_listener_arn, &[(&keys[0], "overwritten")]);
    let err = aws
        .elbv2(
            "AddTags",
            &[
                ("ResourceArns.member.1", &alb.redirect_listener_arn),
                ("Tags.member.1.Key", "eleventh"),
                ("Tags.member.1.Value", "v"),
            ],
        )
        .expect_err("an eleventh tag");
    assert_eq!((err.status, err.code.as_str()), (400, "TooManyTags"));

    // AddTags and RemoveTags check that the listener or rule exists.
    let gone = alb.listener_arn.clone();
    aws.add_tags(&gone, &[("owner", "rollout")]);
    aws.delete_listener(&gone);
    let err = aws
        .elbv2("AddTags", &[("ResourceArns.member.1", &gone), ("Tags.member.1.Key", "k"), ("Tags.member.1.Value", "v")])
        .expect_err("deleted listener");
    assert_eq!((err.status, err.code.as_str()), (400, "ListenerNotFound"));
    let err = aws
        .elbv2("RemoveTags", &[("ResourceArns.member.1", &gone), ("TagKeys.member.1", "owner")])
        .expect_err("deleted listener");
    assert_eq!((err.status, err.code.as_str()), (400, "ListenerNotFound"));
    // The listener's rule went with it.
    let err = aws
        .elbv2(
            "AddTags",
            &[("ResourceArns.member.1", &alb.rule_arn), ("Tags.member.1.Key", "k"), ("Tags.member.1.Value", "v")],
        )
        .expect_err("rule of a deleted listener");
    assert_eq!((err.status, err.code.as_str()), (400, "ListenerNotFound"));

    // DescribeTags answers for anything, and keeps a deleted listener's tags.
    assert_eq!(aws.listener_tags(&gone), tags(&[("owner", "rollout")]));
    let never = never_created(&alb.redirect_listener_arn);
    assert_eq!(aws.listener_tags(&never), BTreeMap::new());
}

#[test]
fn moto_not_found_errors() {
    let emulator = Emulator::start();
    let aws = emulator.client();
    let alb = AlbFixture::create(&aws);
    let code = |result: Result<String, acceptance_tests::AwsError>| {
        let err = result.expect_err("an error");
        (err.status, err.code)
    };
    let not_found = |code: &str| (400, code.to_string());

    let missing_group = never_created(&alb.third_arn);
    assert_eq!(
        code(aws.elbv2("DescribeTargetGroups", &[("TargetGroupArns.member.1", &missing_group)])),
        not_found("TargetGroupNotFound")
    );

    // A target group named by any action, even with weight 0, is in use.
    aws.set_listener_weights(&alb.listener_arn, &[(&alb.blue_arn, 100), (&alb.green_arn, 0)]);
    for arn in [&alb.blue_arn, &alb.green_arn] {
        assert_eq!(code(aws.elbv2("DeleteTargetGroup", &[("TargetGroupArn", arn)])), not_found("ResourceInUse"));
    }

    // DeleteRule of a missing rule succeeds (AWS documents RuleNotFound for
    // it); DescribeRules says RuleNotFound.
    aws.delete_rule(&alb.rule_arn);
    aws.delete_rule(&alb.rule_arn);
    assert_eq!(code(aws.elbv2("DescribeRules", &[("RuleArns.member.1", &alb.rule_arn)])), not_found("RuleNotFound"));

    aws.delete_listener(&alb.listener_arn);
    assert_eq!(
        code(aws.elbv2("DescribeListeners", &[("ListenerArns.member.1", &alb.listener_arn)])),
        not_found("ListenerNotFound")
    );
    assert_eq!(code(aws.elbv2("DeleteListener", &[("ListenerArn", &alb.listener_arn)])), not_found("ListenerNotFound"));
    assert_eq!(
        code(aws.elbv2(
            "ModifyListener",
            &[
                ("ListenerArn", &alb.listener_arn),
                ("DefaultActions.member.1.Type", "forward"),
                ("DefaultActions.member.1.TargetGroupArn", &alb.blue_arn),
            ]
        )),
        not_found("ListenerNotFound")
    );
    // Asked for a deleted and an existing listener, moto answers with the
    // existing one and no error: ListenerNotFound only when none exists.
    let mixed = aws
        .elbv2(
            "DescribeListeners",
            &[("ListenerArns.member.1", &alb.listener_arn), ("ListenerArns.member.2", &alb.redirect_listener_arn)],
        )
        .expect("no error");
    assert!(mixed.contains(&alb.redirect_listener_arn) && !mixed.contains(&alb.listener_arn), "{mixed}");
}
