//! An application load balancer with blue/green target groups in the
//! emulator, for tests of traffic shifting.

use std::collections::BTreeMap;

use crate::AwsClient;
use crate::elbv2::forward_action_params;
use crate::xml;
use crate::{Emulator, Terraform};
use std::sync::atomic::{AtomicU32, Ordering};

/// What [`AlbFixture::create`] made; all ARNs.
///
/// Both forwards start at 100% `blue` and both read back as
/// `{blue_arn: 1}` with [`AwsClient::listener_weights`] /
/// [`AwsClient::rule_weights`], but they were sent in the two shapes a
/// provider meets in the wild, and moto returns each as sent: the listener's
/// as a plain `TargetGroupArn` (no `ForwardConfig`), the rule's as a
/// `ForwardConfig` holding `blue` with weight 1 (which is how AWS returns
/// both).
#[derive(Debug, Clone)]
pub struct AlbFixture {
    /// An internet-facing application load balancer in two subnets of the
    /// default VPC.
    pub load_balancer_arn: String,
    /// HTTP on port 80; default action: forward to `blue`
    /// (`TargetGroupArn` only).
    pub listener_arn: String,
    /// HTTP target groups on port 80 in the default VPC. `blue` and `green`
    /// are the pair to shift between; `third` is named by no action, so it
    /// can be deleted (a target group in use cannot be) or used as a
    /// "wrong group".
    pub blue_arn: String,
    pub green_arn: String,
    pub third_arn: String,
    /// A rule of `listener_arn`: priority 10, path pattern `/api/*`, forward
    /// to `blue` (`ForwardConfig`, weight 1).
    pub rule_arn: String,
    /// HTTP on port 8080; default action: redirect to HTTPS on port 443
    /// (HTTP 301). No forward action, for negative tests.
    pub redirect_listener_arn: String,
}

impl AlbFixture {
    /// Creates the load balancer, target groups, listeners and rule.
    /// Names carry a number unique in this process, so one emulator can hold
    /// several fixtures.
    ///
    /// # Panics
    /// If any call fails, or the region has no default VPC with subnets in
    /// two availability zones (moto creates one per region, and again
    /// after a reset).
    pub fn create(aws: &AwsClient) -> AlbFixture {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = |role: &str| format!("pd{n}-{role}");

        let (vpc_id, subnets) = default_vpc(aws);
        let answer = aws.must_elbv2(
            "CreateLoadBalancer",
            &[
                ("Name", name("alb").as_str()),
                ("Type", "application"),
                ("Scheme", "internet-facing"),
                ("Subnets.member.1", subnets[0].as_str()),
                ("Subnets.member.2", subnets[1].as_str()),
            ],
        );
        let load_balancer_arn = created("CreateLoadBalancer", &answer, "LoadBalancerArn");

        let target_group = |role: &str| {
            let answer = aws.must_elbv2(
                "CreateTargetGroup",
                &[
                    ("Name", name(role).as_str()),
                    ("Protocol", "HTTP"),
                    ("Port", "80"),
                    ("VpcId", vpc_id.as_str()),
                    ("TargetType", "instance"),
                ],
            );
            created("CreateTargetGroup", &answer, "TargetGroupArn")
        };
        let blue_arn = target_group("blue");
        let green_arn = target_group("green");
        let third_arn = target_group("third");

        let answer = aws.must_elbv2(
            "CreateListener",
            &[
                ("LoadBalancerArn", load_balancer_arn.as_str()),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("DefaultActions.member.1.Type", "forward"),
                ("DefaultActions.member.1.TargetGroupArn", blue_arn.as_str()),
            ],
        );
        let listener_arn = created("CreateListener", &answer, "ListenerArn");

        let mut params = vec![
            ("ListenerArn".to_string(), listener_arn.clone()),
            ("Priority".to_string(), "10".to_string()),
            ("Conditions.member.1.Field".to_string(), "path-pattern".to_string()),
            ("Conditions.member.1.PathPatternConfig.Values.member.1".to_string(), "/api/*".to_string()),
        ];
        params.extend(forward_action_params("Actions.member.1", &[(&blue_arn, 1)]));
        let answer = aws.must_elbv2("CreateRule", &params);
        let rule_arn = created("CreateRule", &answer, "RuleArn");

        let answer = aws.must_elbv2(
            "CreateListener",
            &[
                ("LoadBalancerArn", load_balancer_arn.as_str()),
                ("Protocol", "HTTP"),
                ("Port", "8080"),
                ("DefaultActions.member.1.Type", "redirect"),
                ("DefaultActions.member.1.RedirectConfig.Protocol", "HTTPS"),
                ("DefaultActions.member.1.RedirectConfig.Port", "443"),
                ("DefaultActions.member.1.RedirectConfig.StatusCode", "HTTP_301"),
            ],
        );
        let redirect_listener_arn = created("CreateListener", &answer, "ListenerArn");

        AlbFixture { load_balancer_arn, listener_arn, blue_arn, green_arn, third_arn, rule_arn, redirect_listener_arn }
    }
}

/// The default VPC's id and two of its default subnets in different
/// availability zones (an ALB needs two).
fn default_vpc(aws: &AwsClient) -> (String, [String; 2]) {
    let answer = aws.must_ec2("DescribeVpcs", &[("Filter.1.Name", "is-default"), ("Filter.1.Value.1", "true")]);
    let doc = xml::parse("DescribeVpcs", &answer);
    let vpc_id = xml::path(doc.root_element(), &["vpcSet", "item"])
        .and_then(|vpc| xml::text(vpc, "vpcId"))
        .unwrap_or_else(|| panic!("the region has no default VPC: {answer}"))
        .to_string();

    let answer = aws.must_ec2(
        "DescribeSubnets",
        &[
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", vpc_id.as_str()),
            ("Filter.2.Name", "default-for-az"),
            ("Filter.2.Value.1", "true"),
        ],
    );
    let doc = xml::parse("DescribeSubnets", &answer);
    let mut subnets: Vec<(&str, &str)> = xml::child(doc.root_element(), "subnetSet")
        .into_iter()
        .flat_map(|set| xml::children(set, "item"))
        .filter_map(|s| Some((xml::text(s, "availabilityZone")?, xml::text(s, "subnetId")?)))
        .collect();
    // One subnet per zone, in zone order.
    subnets.sort();
    subnets.dedup_by_key(|(zone, _)| *zone);
    match subnets.as_slice() {
        [(_, a), (_, b), ..] => (vpc_id, [a.to_string(), b.to_string()]),
        _ => panic!("default VPC {vpc_id} has no default subnets in two zones: {answer}"),
    }
}

/// The text of the first `tag` element in a Create* answer.
fn created(action: &str, answer: &str, tag: &str) -> String {
    let doc = xml::parse(action, answer);
    doc.descendants()
        .find(|n| n.has_tag_name(tag))
        .and_then(|n| n.text())
        .unwrap_or_else(|| panic!("{action}: no {tag} in {answer}"))
        .to_string()
}

/// An emulator holding an [`AlbFixture`] (all traffic on blue), its
/// independent client, and a Terraform working directory pointed at it.
pub struct AlbBed {
    pub emulator: Emulator,
    pub aws: AwsClient,
    pub fx: AlbFixture,
    pub tf: Terraform,
}

impl AlbBed {
    pub fn start() -> AlbBed {
        let emulator = Emulator::start();
        let aws = emulator.client();
        let fx = AlbFixture::create(&aws);
        let tf = Terraform::new(&emulator);
        AlbBed { emulator, aws, fx, tf }
    }

    /// The listener's weights read back, in percent per target group.
    pub fn listener_percentages(&self) -> BTreeMap<String, u32> {
        let weights = self.aws.listener_weights(&self.fx.listener_arn);
        let total: u32 = weights.values().sum();
        weights.into_iter().filter(|(_, w)| *w > 0).map(|(arn, w)| (arn, w * 100 / total.max(1))).collect()
    }
}
