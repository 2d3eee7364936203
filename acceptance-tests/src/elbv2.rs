//! Elastic Load Balancing v2 helpers of [`AwsClient`]: read and set the
//! weights of forward actions, tags, and deletions for "disappears" tests.
//!
//! What moto 5.2.5 does (measured; `tests/alb_fixture.rs` pins it):
//!
//! * It stores a forward action as it was sent. A plain `TargetGroupArn`
//!   comes back as just that, no `ForwardConfig` (AWS adds a `ForwardConfig`
//!   with weight 1). A `ForwardConfig` comes back as sent, with `Weight` 1
//!   where it was left out and `TargetGroupStickinessConfig` `Enabled=false`
//!   where that was left out; a stickiness config that was sent is kept,
//!   `DurationSeconds` included.
//! * `ModifyListener` validates nothing in the default actions: weights out
//!   of 0..=999, all weights 0, duplicate groups, more than 5 groups, unknown
//!   target group ARNs are all stored and returned. `ModifyRule` does reject
//!   an unknown target group (`TargetGroupNotFound`, HTTP 400) but not the
//!   rest. So the provider's own validation cannot be tested as "AWS said
//!   no" here, and the read-back below panics on what the ELBv2 API
//!   documents as invalid.

use crate::AwsClient;
use crate::xml;
use roxmltree::Node;
use std::collections::BTreeMap;

impl AwsClient {
    /// The weights of the forward action among a listener's default actions,
    /// by target group ARN; empty if it has no forward action (e.g. a
    /// redirect). A plain `TargetGroupArn` reads as weight 1, as AWS reports
    /// it.
    ///
    /// # Panics
    /// On any error, e.g. `ListenerNotFound` (HTTP 400) when the listener was
    /// deleted; use [`AwsClient::elbv2`] with `DescribeListeners` to look at
    /// errors.
    pub fn listener_weights(&self, listener_arn: &str) -> BTreeMap<String, u32> {
        let answer = self.must_elbv2("DescribeListeners", &[("ListenerArns.member.1", listener_arn)]);
        let doc = xml::parse("DescribeListeners", &answer);
        let listener =
            find_member(doc.root_element(), &["DescribeListenersResult", "Listeners"], "ListenerArn", listener_arn)
                .unwrap_or_else(|| panic!("DescribeListeners: no {listener_arn} in {answer}"));
        forward_weights(listener_arn, xml::child(listener, "DefaultActions"))
    }

    /// The weights of the forward action among a listener rule's actions, by
    /// target group ARN, like [`AwsClient::listener_weights`].
    ///
    /// # Panics
    /// On any error, e.g. `RuleNotFound` (HTTP 400) when the rule was deleted.
    pub fn rule_weights(&self, rule_arn: &str) -> BTreeMap<String, u32> {
        let answer = self.must_elbv2("DescribeRules", &[("RuleArns.member.1", rule_arn)]);
        let doc = xml::parse("DescribeRules", &answer);
        let rule = find_member(doc.root_element(), &["DescribeRulesResult", "Rules"], "RuleArn", rule_arn)
            .unwrap_or_else(|| panic!("DescribeRules: no {rule_arn} in {answer}"));
        forward_weights(rule_arn, xml::child(rule, "Actions"))
    }

    /// Replaces a listener's default actions with one forward action that
    /// spreads traffic by `weights` (`ModifyListener`), e.g. to simulate
    /// drift or a split left behind by a killed apply. No stickiness config
    /// is sent, so moto records stickiness as disabled.
    pub fn set_listener_weights(&self, listener_arn: &str, weights: &[(&str, u32)]) {
        let mut params = vec![("ListenerArn".to_string(), listener_arn.to_string())];
        params.extend(forward_action_params("DefaultActions.member.1", weights));
        self.must_elbv2("ModifyListener", &params);
    }

    /// Replaces a listener rule's actions with one weighted forward action
    /// (`ModifyRule`), like [`AwsClient::set_listener_weights`]; the rule's
    /// conditions stay as they are.
    pub fn set_rule_weights(&self, rule_arn: &str, weights: &[(&str, u32)]) {
        let mut params = vec![("RuleArn".to_string(), rule_arn.to_string())];
        params.extend(forward_action_params("Actions.member.1", weights));
        self.must_elbv2("ModifyRule", &params);
    }

    /// The tags of an ELBv2 resource (listener, rule, target group or load
    /// balancer), by key.
    ///
    /// moto answers `DescribeTags` for any ARN without checking that the
    /// resource exists, and keeps the tags of a deleted resource: this is
    /// no way to tell whether something exists.
    pub fn listener_tags(&self, arn: &str) -> BTreeMap<String, String> {
        let answer = self.must_elbv2("DescribeTags", &[("ResourceArns.member.1", arn)]);
        let doc = xml::parse("DescribeTags", &answer);
        let Some(description) =
            find_member(doc.root_element(), &["DescribeTagsResult", "TagDescriptions"], "ResourceArn", arn)
        else {
            return BTreeMap::new();
        };
        xml::child(description, "Tags")
            .into_iter()
            .flat_map(|tags| xml::children(tags, "member"))
            .map(|tag| {
                let field = |name| xml::text(tag, name).unwrap_or_default().to_string();
                (field("Key"), field("Value"))
            })
            .collect()
    }

    /// Adds (or overwrites) tags on an ELBv2 resource. moto accepts listener
    /// and rule ARNs, fails with `ListenerNotFound` / `RuleNotFound` for ones
    /// that do not exist, and with `TooManyTags` beyond 10 keys per resource.
    pub fn add_tags(&self, arn: &str, tags: &[(&str, &str)]) {
        let mut params = vec![("ResourceArns.member.1".to_string(), arn.to_string())];
        for (i, (key, value)) in tags.iter().enumerate() {
            let n = i + 1;
            params.push((format!("Tags.member.{n}.Key"), key.to_string()));
            params.push((format!("Tags.member.{n}.Value"), value.to_string()));
        }
        self.must_elbv2("AddTags", &params);
    }

    /// Removes tags by key from an ELBv2 resource (keys it does not have are
    /// ignored).
    pub fn remove_tags(&self, arn: &str, keys: &[&str]) {
        let mut params = vec![("ResourceArns.member.1".to_string(), arn.to_string())];
        params.extend(keys.iter().enumerate().map(|(i, key)| (format!("TagKeys.member.{}", i + 1), key.to_string())));
        self.must_elbv2("RemoveTags", &params);
    }

    /// Deletes a target group. Like AWS, moto refuses (`ResourceInUse`) while
    /// any listener or rule forwards to it, even with weight 0, so only a
    /// group no action names (the fixture's `third`) can disappear.
    pub fn delete_target_group(&self, target_group_arn: &str) {
        self.must_elbv2("DeleteTargetGroup", &[("TargetGroupArn", target_group_arn)]);
    }

    /// Deletes a listener, and with it its rules.
    pub fn delete_listener(&self, listener_arn: &str) {
        self.must_elbv2("DeleteListener", &[("ListenerArn", listener_arn)]);
    }

    /// Deletes a listener rule. moto answers 200 for a rule that does not
    /// exist (the API documents `RuleNotFound`).
    pub fn delete_rule(&self, rule_arn: &str) {
        self.must_elbv2("DeleteRule", &[("RuleArn", rule_arn)]);
    }
}

/// The `member` of the list at `list_path` under `root` whose `key` child is
/// `value`.
fn find_member<'a, 'i>(root: Node<'a, 'i>, list_path: &[&str], key: &str, value: &str) -> Option<Node<'a, 'i>> {
    xml::children(xml::path(root, list_path)?, "member").find(|m| xml::text(*m, key) == Some(value))
}

/// Query parameters for one forward action at `prefix` (e.g.
/// `DefaultActions.member.1`) with a weighted `ForwardConfig`.
pub(crate) fn forward_action_params(prefix: &str, weights: &[(&str, u32)]) -> Vec<(String, String)> {
    let mut params = vec![(format!("{prefix}.Type"), "forward".to_string())];
    for (i, (arn, weight)) in weights.iter().enumerate() {
        let group = format!("{prefix}.ForwardConfig.TargetGroups.member.{}", i + 1);
        params.push((format!("{group}.TargetGroupArn"), arn.to_string()));
        params.push((format!("{group}.Weight"), weight.to_string()));
    }
    params
}

/// The weights of the forward action in `owner`'s (a listener's or rule's)
/// `Actions` / `DefaultActions` list, by target group ARN; empty when there
/// is no forward action (or no list).
///
/// A forward action names its target groups in one of two ways, read as the
/// same thing:
/// * a `ForwardConfig` with weighted `TargetGroups` (what AWS always
///   returns), optionally with a top-level `TargetGroupArn`, which AWS allows
///   only when the config holds exactly that one group;
/// * only a top-level `TargetGroupArn` (what moto returns when it was sent
///   that way): weight 1, as AWS reports it.
///
/// # Panics
/// On what the ELBv2 API documents as invalid but moto stores, so that a
/// test fails when the provider sends it: more than one forward action, a
/// target group listed twice, a weight that is not a number in 0..=999, a
/// `TargetGroupArn` that disagrees with the `ForwardConfig`, or a forward
/// with no groups.
fn forward_weights(owner: &str, actions: Option<Node>) -> BTreeMap<String, u32> {
    let mut forwards = actions
        .into_iter()
        .flat_map(|list| xml::children(list, "member"))
        .filter(|action| xml::text(*action, "Type") == Some("forward"));
    let Some(forward) = forwards.next() else {
        return BTreeMap::new();
    };
    assert!(forwards.next().is_none(), "{owner}: more than one forward action");

    let plain = xml::text(forward, "TargetGroupArn");
    let groups: Vec<Node> = xml::path(forward, &["ForwardConfig", "TargetGroups"])
        .into_iter()
        .flat_map(|list| xml::children(list, "member"))
        .collect();
    if groups.is_empty() {
        let arn = plain.unwrap_or_else(|| panic!("{owner}: forward action without target groups"));
        return BTreeMap::from([(arn.to_string(), 1)]);
    }

    let mut weights = BTreeMap::new();
    for group in groups {
        let arn = xml::text(group, "TargetGroupArn")
            .unwrap_or_else(|| panic!("{owner}: ForwardConfig target group without an ARN"));
        let weight =
            xml::text(group, "Weight").and_then(|w| w.parse::<u32>().ok()).filter(|w| *w <= 999).unwrap_or_else(|| {
                panic!("{owner}: target group {arn}: weight {:?} is not in 0..=999", xml::text(group, "Weight"))
            });
        assert!(
            weights.insert(arn.to_string(), weight).is_none(),
            "{owner}: target group {arn} listed twice in a ForwardConfig"
        );
    }
    if let Some(arn) = plain {
        assert!(
            weights.len() == 1 && weights.contains_key(arn),
            "{owner}: TargetGroupArn {arn} disagrees with ForwardConfig {weights:?}"
        );
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/2";

    /// `forward_weights` of the `<DefaultActions>` element in `actions`.
    fn weights_of(actions: &str) -> BTreeMap<String, u32> {
        let text = format!(
            r#"<DefaultActions xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">{actions}</DefaultActions>"#
        );
        let doc = roxmltree::Document::parse(&text).unwrap();
        forward_weights("listener", Some(doc.root_element()))
    }

    fn group(arn: &str, weight: &str) -> String {
        format!("<member><TargetGroupArn>{arn}</TargetGroupArn><Weight>{weight}</Weight></member>")
    }

    fn forward(plain: Option<&str>, groups: &[String]) -> String {
        let plain = plain.map(|arn| format!("<TargetGroupArn>{arn}</TargetGroupArn>")).unwrap_or_default();
        let config = if groups.is_empty() {
            String::new()
        } else {
            format!(
                "<ForwardConfig><TargetGroups>{}</TargetGroups>\
                 <TargetGroupStickinessConfig><Enabled>false</Enabled></TargetGroupStickinessConfig>\
                 </ForwardConfig>",
                groups.concat()
            )
        };
        format!("<member><Type>forward</Type>{plain}{config}</member>")
    }

    #[test]
    fn plain_target_group_and_aws_normalized_form_read_the_same() {
        let expected = BTreeMap::from([(BLUE.to_string(), 1)]);
        // moto, when the forward was sent as a plain TargetGroupArn.
        assert_eq!(weights_of(&forward(Some(BLUE), &[])), expected);
        // AWS: both, the ForwardConfig holding that group with weight 1.
        assert_eq!(weights_of(&forward(Some(BLUE), &[group(BLUE, "1")])), expected);
        // A ForwardConfig alone.
        assert_eq!(weights_of(&forward(None, &[group(BLUE, "1")])), expected);
    }

    #[test]
    fn weighted_groups() {
        assert_eq!(
            weights_of(&forward(None, &[group(BLUE, "90"), group(GREEN, "10")])),
            BTreeMap::from([(BLUE.to_string(), 90), (GREEN.to_string(), 10)])
        );
        assert_eq!(
            weights_of(&forward(None, &[group(BLUE, "0"), group(GREEN, "999")])),
            BTreeMap::from([(BLUE.to_string(), 0), (GREEN.to_string(), 999)])
        );
    }

    #[test]
    fn no_forward_action_is_empty() {
        let redirect = "<member><Type>redirect</Type><RedirectConfig><Protocol>HTTPS</Protocol>\
                        <Port>443</Port><StatusCode>HTTP_301</StatusCode></RedirectConfig></member>";
        assert_eq!(weights_of(redirect), BTreeMap::new());
        assert_eq!(forward_weights("listener", None), BTreeMap::new());
    }

    #[test]
    #[should_panic(expected = "listed twice")]
    fn duplicate_group_panics() {
        weights_of(&forward(None, &[group(BLUE, "50"), group(BLUE, "50")]));
    }

    #[test]
    #[should_panic(expected = "not in 0..=999")]
    fn weight_out_of_range_panics() {
        weights_of(&forward(None, &[group(BLUE, "1000")]));
    }

    #[test]
    #[should_panic(expected = "not in 0..=999")]
    fn negative_weight_panics() {
        weights_of(&forward(None, &[group(BLUE, "-1"), group(GREEN, "10")]));
    }

    #[test]
    #[should_panic(expected = "disagrees")]
    fn target_group_arn_disagreeing_with_forward_config_panics() {
        weights_of(&forward(Some(GREEN), &[group(BLUE, "5")]));
    }

    #[test]
    #[should_panic(expected = "more than one forward action")]
    fn two_forward_actions_panic() {
        weights_of(&[forward(Some(BLUE), &[]), forward(Some(GREEN), &[])].concat());
    }

    #[test]
    fn forward_action_parameters() {
        assert_eq!(
            forward_action_params("DefaultActions.member.1", &[(BLUE, 90), (GREEN, 10)]),
            [
                ("DefaultActions.member.1.Type", "forward"),
                ("DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn", BLUE),
                ("DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight", "90"),
                ("DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn", GREEN),
                ("DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.Weight", "10"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}
