//! `route53`: two weighted record sets of one name and type in a Route 53
//! hosted zone, split by weight (0 to 255 each).
//!
//! Only the two record sets' weights change. Both are sent back in one
//! change batch (`UPSERT`, all or nothing) with every other field as it was
//! read (TTL, values or alias target, health check), and the router waits
//! until Route 53 reports the change `INSYNC` on all its DNS servers.
//! Resolvers still cache answers for the record's TTL, which the plan warns
//! about when a bake is shorter.
//!
//! The lease is a tag on the hosted zone, one per record name and type (see
//! [`lease_tag`]). Route 53 publishes no per-record metrics, so the
//! `analysis` block is refused with this router; alarms and `metric` blocks
//! on the services behind the records judge the rollout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet, RrType, Tag, TagResourceType,
};
use tfplugin::{Attribute, AttributePath, Block, Diagnostics, Type, Value, log};
use tokio_util::sync::CancellationToken;

use super::{LEASE_TAG_PREFIX, Router, RouterKind, Routing};
use crate::aws::Clients;
use crate::aws::cloudwatch::DestinationMetrics;
use crate::aws::sdk_error;
use crate::engine::lease::LeaseStore;
use crate::engine::traffic::{Granularity, RouterError, Split, TrafficRouter};

/// The start of the hosted zone tag that holds a rollout lease; the rest is
/// the record's [`record_hash`] in 16 hex digits.
/// Route 53's weights are 0..=255 (ResourceRecordSetWeight).
const MAX_WEIGHT: u32 = 255;
/// A set identifier is 1 to 128 characters (ResourceRecordSetIdentifier).
const MAX_SET_IDENTIFIER: usize = 128;
/// The record types Route 53 documents (RRType), in its order.
const RECORD_TYPES: [&str; 17] = [
    "SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA", "DS", "TLSA", "SSHFP", "SVCB",
    "HTTPS",
];
/// Why this router offers the analysis nothing to judge.
const NO_METRICS: &str = "Route 53 publishes no per-record request or error metrics, so nothing can tell a canary record set from the baseline. With a route53 block, judge the rollout with alarms (alarm_names) or `metric` blocks on the services behind the records.";
/// How often, and how long, a change is polled until it is INSYNC.
const INSYNC_POLL: Duration = Duration::from_secs(1);
const INSYNC_WAIT: Duration = Duration::from_secs(300);
const MODULE: &str = "progressive.rollout";

pub struct Route53;

impl RouterKind for Route53 {
    fn name(&self) -> &'static str {
        "route53"
    }

    fn block(&self) -> Block {
        Block::new("Two weighted record sets of one name and type in a Route 53 hosted zone, split by weight (0 to 255 each, so shares such as 1/256 or 10%; not every 0.1% step). Each shift waits until Route 53 reports it INSYNC; resolvers then still cache the old answer for the record's TTL. The lease is a tag on the hosted zone. Route 53 publishes no per-record metrics, so `analysis` is refused; use alarms or `metric` blocks on the services behind the records.")
            .attribute(Attribute::required("zone_id", Type::String, "ID of the hosted zone, e.g. `Z0123456789ABCDEFGHIJ` (a `/hostedzone/` prefix is accepted).").requires_replace())
            .attribute(Attribute::required("name", Type::String, "Name of the record sets, e.g. `app.example.com` (compared without the trailing dot, ignoring case).").requires_replace())
            .attribute(Attribute::required("type", Type::String, "Record type of the record sets: SOA, A, TXT, NS, CNAME, MX, NAPTR, PTR, SRV, SPF, AAAA, CAA, DS, TLSA, SSHFP, SVCB or HTTPS.").requires_replace())
            .attribute(Attribute::required("set_identifiers", Type::set(Type::String), "The set identifiers of the two existing weighted record sets of that name and type that the rollout moves traffic between.").requires_replace())
            .attribute(Attribute::required("target_set_identifier", Type::String, "The record set (one of `set_identifiers`) that serves 100% when the rollout is done. Whichever serves now is the origin, read from Route 53. After a rollback, the state holds the origin here."))
    }

    fn target_attribute(&self) -> &'static str {
        "target_set_identifier"
    }

    fn destination_kind(&self) -> &'static str {
        "record set"
    }

    fn granularity(&self) -> Granularity {
        Granularity::Weights { max: MAX_WEIGHT }
    }

    fn default_error_metric(&self) -> Result<&'static str, &'static str> {
        Err(NO_METRICS)
    }

    fn check_error_metric(&self, _name: &str) -> Result<(), String> {
        Err(NO_METRICS.into())
    }

    fn parse(&self, block: &Value, at: &AttributePath, d: &mut Diagnostics) -> Option<Box<dyn Routing>> {
        let path = |name: &str| at.clone().attribute(name);
        let errors_before = d.0.len();
        let zone_id = block.get("zone_id").as_str().and_then(|raw| match normalise_zone_id(raw) {
            Ok(zone) => Some((zone, raw.to_owned())),
            Err(e) => {
                d.error_at(path("zone_id"), "Invalid hosted zone ID", e);
                None
            }
        });
        let name = block.get("name").as_str().and_then(|raw| match check_name(raw) {
            Ok(()) => Some(raw.to_owned()),
            Err(e) => {
                d.error_at(path("name"), "Invalid record name", e);
                None
            }
        });
        let record_type = block.get("type").as_str().and_then(|raw| match check_type(raw) {
            Ok(()) => Some(raw.to_owned()),
            Err(e) => {
                d.error_at(path("type"), "Invalid record type", e);
                None
            }
        });
        let set_identifiers = parse_set_identifiers(block.get("set_identifiers"), &path("set_identifiers"), d);
        if let (Some(target), Some(ids)) = (block.get("target_set_identifier").as_str(), &set_identifiers)
            && !ids.iter().any(|id| id == target)
        {
            d.error_at(
                path("target_set_identifier"),
                "Not one of set_identifiers",
                format!("target_set_identifier {target:?} must be one of set_identifiers ({}).", quoted(ids)),
            );
        }
        if d.0.len() > errors_before {
            return None;
        }
        let (zone_id, zone_written) = zone_id?;
        Some(Box::new(Route53Routing::new(zone_id, zone_written, name?, record_type?, Some(set_identifiers?))))
    }

    fn import_id_format(&self) -> &'static str {
        "<zone_id>/<name>/<type> (the name and type must have exactly two weighted record sets), or <zone_id>/<name>/<type>/<set identifier>/<set identifier>"
    }

    fn import(&self, id: &str) -> Option<Result<Box<dyn Routing>, String>> {
        Some(parse_import_id(id)?.map(|(zone, name, record_type, ids)| {
            Box::new(Route53Routing::new(zone.clone(), zone, name, record_type, ids)) as Box<dyn Routing>
        }))
    }
}

/// The two set identifiers of a parsed block, sorted; errors go to `d` under `at`.
fn parse_set_identifiers(value: &Value, at: &AttributePath, d: &mut Diagnostics) -> Option<[String; 2]> {
    let elements = value.elements()?;
    let mut ids = Vec::new();
    for element in elements {
        // An unknown element: checked once it is known.
        let id = element.as_str()?;
        if id.is_empty() || id.chars().count() > MAX_SET_IDENTIFIER {
            d.error_at(
                at.clone(),
                "Invalid set identifier",
                format!("{id:?} is not a Route 53 set identifier (1 to {MAX_SET_IDENTIFIER} characters)."),
            );
            return None;
        }
        ids.push(id.to_owned());
    }
    ids.sort();
    let count = ids.len();
    ids.dedup();
    match <[String; 2]>::try_from(ids) {
        Ok(pair) if count == 2 => Some(pair),
        Ok(pair) => {
            d.error_at(
                at.clone(),
                "Two set identifiers needed",
                format!(
                    "set_identifiers names {} twice; a rollout moves traffic between two distinct record sets.",
                    quoted(&pair)
                ),
            );
            None
        }
        Err(ids) if count == 2 => {
            d.error_at(
                at.clone(),
                "Two set identifiers needed",
                format!(
                    "set_identifiers names {} twice; a rollout moves traffic between two distinct record sets.",
                    quoted(&ids)
                ),
            );
            None
        }
        Err(ids) => {
            let named = if ids.is_empty() { "none".to_owned() } else { quoted(&ids) };
            d.error_at(at.clone(), "Two set identifiers needed", format!("set_identifiers must name exactly two weighted record sets, the origin and the target; it names {count}: {named}."));
            None
        }
    }
}

fn quoted(ids: &[String]) -> String {
    ids.iter().map(|id| format!("{id:?}")).collect::<Vec<_>>().join(", ")
}

/// A hosted zone ID without the `/hostedzone/` prefix Route 53 puts in
/// answers, or why it is not one.
pub fn normalise_zone_id(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let bare = trimmed.strip_prefix("/hostedzone/").or_else(|| trimmed.strip_prefix("hostedzone/")).unwrap_or(trimmed);
    if bare.is_empty() {
        return Err(format!("{raw:?} is not a hosted zone ID; give the zone's ID, e.g. Z0123456789ABCDEFGHIJ."));
    }
    if bare.contains('/') || bare.chars().any(char::is_whitespace) {
        return Err(format!(
            "{raw:?} is not a hosted zone ID (e.g. Z0123456789ABCDEFGHIJ, optionally with a /hostedzone/ prefix)."
        ));
    }
    Ok(bare.to_owned())
}

fn check_name(raw: &str) -> Result<(), String> {
    if comparable_name(raw).is_empty() {
        return Err(format!(
            "{raw:?} is not a record name; give the name of the weighted record sets, e.g. app.example.com."
        ));
    }
    Ok(())
}

fn check_type(raw: &str) -> Result<(), String> {
    if RECORD_TYPES.contains(&raw) {
        return Ok(());
    }
    Err(format!("{raw:?} is not a Route 53 record type; use one of {}.", RECORD_TYPES.join(", ")))
}

/// A record name as Route 53 compares names: `\ddd` octal escapes (which
/// Route 53 returns for characters such as `*`) and `\c` escapes decoded,
/// without the trailing dot, in lower case.
pub fn comparable_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = |b: u8| (b'0'..=b'7').contains(&b);
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..=i + 3].iter().all(|b| octal(*b)) {
            let value = bytes[i + 1..=i + 3].iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
            out.push(u8::try_from(value).unwrap_or(b'?'));
            i += 4;
        } else if bytes[i] == b'\\' && i + 1 < bytes.len() {
            out.push(bytes[i + 1]);
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let mut text = String::from_utf8_lossy(&out).to_ascii_lowercase();
    if text.ends_with('.') {
        text.pop();
    }
    text
}

/// Whether two record names name the same record.
pub fn same_name(a: &str, b: &str) -> bool {
    comparable_name(a) == comparable_name(b)
}

/// FNV-1a, 64 bits (offset basis 0xcbf29ce484222325, prime 0x100000001b3):
/// small, stable across releases and platforms, and enough to keep the
/// records of one zone apart in tag keys. Not a security measure.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The hash that names a record in its lease tag: FNV-1a 64 of
/// `<name> <TYPE>`, the name as [`comparable_name`] gives it (lower case, no
/// trailing dot), the type as Route 53 spells it. Types hold no spaces, so
/// the last space always separates the two.
pub fn record_hash(name: &str, record_type: &str) -> u64 {
    fnv1a64(format!("{} {record_type}", comparable_name(name)).as_bytes())
}

/// The hosted zone tag holding the lease of the record sets of `name` and
/// `record_type`: `progressive:rollout-lease:` and 16 hex digits of
/// [`record_hash`], 42 characters (tag keys may have 128). One zone holds
/// many records, so each name and type has its own key; the tag is removed
/// when the rollout ends.
pub fn lease_tag(name: &str, record_type: &str) -> String {
    format!("{LEASE_TAG_PREFIX}{:016x}", record_hash(name, record_type))
}

type ImportedRouting = (String, String, String, Option<[String; 2]>);

/// `<zone>/<name>/<type>` or `<zone>/<name>/<type>/<set id>/<set id>`
/// (the zone may carry its `/hostedzone/` prefix); `None` when the id does
/// not have that shape.
fn parse_import_id(id: &str) -> Option<Result<ImportedRouting, String>> {
    if id.starts_with("arn:") {
        return None;
    }
    let rest = id.strip_prefix("/hostedzone/").or_else(|| id.strip_prefix("hostedzone/")).unwrap_or(id);
    let parts: Vec<&str> = rest.split('/').collect();
    let (zone, name, record_type, ids) = match parts[..] {
        [zone, name, record_type] => (zone, name, record_type, None),
        [zone, name, record_type, a, b] => (zone, name, record_type, Some((a, b))),
        _ => return None,
    };
    let checked = (|| {
        let zone = normalise_zone_id(zone)?;
        check_name(name)?;
        check_type(record_type)?;
        let ids = match ids {
            None => None,
            Some((a, b)) if a.is_empty() || b.is_empty() => {
                return Err(format!("{id:?} names an empty set identifier."));
            }
            Some((a, b)) if a == b => {
                return Err(format!(
                    "{id:?} names set identifier {a:?} twice; name the two record sets the rollout moves between."
                ));
            }
            Some((a, b)) => {
                let mut pair = [a.to_owned(), b.to_owned()];
                pair.sort();
                Some(pair)
            }
        };
        Ok((zone, name.to_owned(), record_type.to_owned(), ids))
    })();
    Some(checked.map_err(|e| format!("Import id {id:?}: {e}")))
}

/// The set identifiers of a routing, shared with its routers: an import by
/// `<zone>/<name>/<type>` learns them on its router's first read.
type SetIdentifiers = Arc<Mutex<Option<[String; 2]>>>;

struct Route53Routing {
    /// The hosted zone ID without its `/hostedzone/` prefix, for calls and the id.
    zone_id: String,
    /// The zone ID as the configuration writes it, for the state: Terraform
    /// expects the state to hold what the configuration says.
    zone_written: String,
    name: String,
    record_type: String,
    set_identifiers: SetIdentifiers,
}

impl Route53Routing {
    fn new(
        zone_id: String,
        zone_written: String,
        name: String,
        record_type: String,
        set_identifiers: Option<[String; 2]>,
    ) -> Route53Routing {
        Route53Routing {
            zone_id,
            zone_written,
            name,
            record_type,
            set_identifiers: Arc::new(Mutex::new(set_identifiers)),
        }
    }
}

impl Routing for Route53Routing {
    fn id(&self) -> String {
        format!("{}/{}/{}", self.zone_id, self.name, self.record_type)
    }

    /// The block; after an import by `<zone>/<name>/<type>`, the set
    /// identifiers are those the router found on its first read (empty
    /// before).
    fn block_value(&self, target: &str) -> Value {
        let ids = self.set_identifiers.lock().map(|ids| ids.clone()).unwrap_or_default();
        let ids = ids.map(|pair| pair.iter().map(|id| Value::from(id.as_str())).collect()).unwrap_or_default();
        Value::object([
            ("zone_id", self.zone_written.as_str().into()),
            ("name", self.name.as_str().into()),
            ("type", self.record_type.as_str().into()),
            ("set_identifiers", Value::Set(ids)),
            ("target_set_identifier", target.into()),
        ])
    }

    fn destination_name(&self, set_identifier: &str) -> String {
        format!("record set {set_identifier}")
    }

    fn analysis_metrics(
        &self,
        _origin: &str,
        _target: &str,
        _error_metric: &str,
    ) -> Option<(DestinationMetrics, DestinationMetrics)> {
        None
    }

    fn connect(&self, aws: &Clients) -> Box<dyn Router> {
        Box::new(Route53Router {
            client: client(aws),
            zone_id: self.zone_id.clone(),
            name: self.name.clone(),
            record_type: self.record_type.clone(),
            set_identifiers: Arc::clone(&self.set_identifiers),
        })
    }
}

/// A Route 53 client for the provider's credentials and endpoint.
pub fn client(aws: &Clients) -> Client {
    let mut config = aws_sdk_route53::config::Builder::from(&aws.sdk).interceptor(crate::aws::RetryLog);
    if let Some(url) = aws.endpoint("route53") {
        config = config.endpoint_url(url);
    }
    Client::from_conf(config.build())
}

fn route53_error<E>(
    operation: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> RouterError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    sdk_error("Route 53", operation, e, &["NoSuchHostedZone"])
}

/// What a rollout routes through: the weighted record sets of one name and
/// type in a hosted zone.
#[derive(Debug, Clone)]
pub struct Route53Router {
    client: Client,
    zone_id: String,
    name: String,
    record_type: String,
    set_identifiers: SetIdentifiers,
}

impl Route53Router {
    /// Every record set of the name and type, in Route 53's order (by set
    /// identifier), following `NextRecordName`, `NextRecordType` and
    /// `NextRecordIdentifier` until the list ends or moves past them.
    async fn record_sets(&self) -> Result<Vec<ResourceRecordSet>, RouterError> {
        let record_type = RrType::from(self.record_type.as_str());
        // Route 53 lists names in lower case, in ASCII order: an upper-case
        // start would begin before the record.
        let mut start = (self.name.to_ascii_lowercase(), record_type.clone(), None::<String>);
        let mut found = Vec::new();
        loop {
            let page = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&self.zone_id)
                .start_record_name(&start.0)
                .start_record_type(start.1.clone())
                .set_start_record_identifier(start.2.clone())
                .send()
                .await
                .map_err(|e| route53_error("ListResourceRecordSets", &e))?;
            let mut past = false;
            for set in page.resource_record_sets() {
                if set.r#type == record_type && same_name(&set.name, &self.name) {
                    found.push(set.clone());
                } else {
                    past = true;
                    break;
                }
            }
            if past || !page.is_truncated() {
                return Ok(found);
            }
            let (Some(name), Some(next_type)) = (page.next_record_name(), page.next_record_type()) else {
                return Ok(found);
            };
            if *next_type != record_type || !same_name(name, &self.name) {
                return Ok(found);
            }
            let next = (name.to_owned(), next_type.clone(), page.next_record_identifier().map(str::to_owned));
            if next == start {
                return Err(RouterError::Failed(format!(
                    "Route 53 ListResourceRecordSets paging of {} does not advance",
                    self.describe()
                )));
            }
            start = next;
        }
    }

    /// The routing's two set identifiers; after an import by
    /// `<zone>/<name>/<type>`, the two weighted record sets found in `sets`.
    fn set_identifiers(&self, sets: &[ResourceRecordSet]) -> Result<[String; 2], RouterError> {
        let mut known =
            self.set_identifiers.lock().map_err(|_| RouterError::Failed("set identifiers lock poisoned".into()))?;
        if let Some(ids) = known.as_ref() {
            return Ok(ids.clone());
        }
        let mut weighted: Vec<String> =
            sets.iter().filter(|s| s.weight.is_some()).filter_map(|s| s.set_identifier.clone()).collect();
        weighted.sort();
        match <[String; 2]>::try_from(weighted) {
            Ok(pair) => {
                *known = Some(pair.clone());
                Ok(pair)
            }
            Err(others) if others.is_empty() => {
                Err(RouterError::Gone(format!("{} has no weighted record sets", self.describe())))
            }
            Err(others) => Err(RouterError::Failed(format!(
                "{} has {} weighted record sets ({}), not two; import it as {}/<set identifier>/<set identifier>, naming the two the rollout moves between",
                self.describe(),
                others.len(),
                quoted(&others),
                format_args!("{}/{}/{}", self.zone_id, self.name, self.record_type),
            ))),
        }
    }

    /// The record set with `set_identifier` in `sets`, if it is there; an
    /// error if it is there but not weighted.
    fn weighted<'a>(
        &self,
        sets: &'a [ResourceRecordSet],
        set_identifier: &str,
    ) -> Result<Option<&'a ResourceRecordSet>, RouterError> {
        match sets.iter().find(|s| s.set_identifier.as_deref() == Some(set_identifier)) {
            Some(set) if set.weight.is_none() => Err(RouterError::Failed(format!(
                "record set {set_identifier} of {} is not weighted (it has another routing policy); a rollout moves traffic between weighted record sets",
                self.describe()
            ))),
            found => Ok(found),
        }
    }

    /// Polls GetChange until `change_id` is INSYNC, for at most
    /// [`INSYNC_WAIT`] or until `stop` is cancelled.
    async fn wait_until_in_sync(&self, change_id: &str, stop: &CancellationToken) -> Result<(), RouterError> {
        let started = Instant::now();
        log::info(
            MODULE,
            "waiting for Route 53 to report the change INSYNC",
            &[("record", self.describe().into()), ("change", change_id.into())],
        );
        loop {
            let out =
                self.client.get_change().id(change_id).send().await.map_err(|e| route53_error("GetChange", &e))?;
            if out.change_info().is_some_and(|info| *info.status() == ChangeStatus::Insync) {
                log::info(
                    MODULE,
                    "Route 53 change is INSYNC",
                    &[
                        ("record", self.describe().into()),
                        ("change", change_id.into()),
                        ("waited_ms", i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX).into()),
                    ],
                );
                return Ok(());
            }
            if started.elapsed() >= INSYNC_WAIT {
                return Err(RouterError::Failed(format!(
                    "Route 53 accepted the change to {} ({change_id}) but still reports it PENDING after {} s: not all its DNS servers answer with the new weights yet",
                    self.describe(),
                    INSYNC_WAIT.as_secs()
                )));
            }
            tokio::select! {
                () = tokio::time::sleep(INSYNC_POLL) => {}
                () = stop.cancelled() => {
                    return Err(RouterError::Failed(format!("stopped waiting for Route 53 to report the change to {} ({change_id}) INSYNC", self.describe())));
                }
            }
        }
    }
}

/// The split that the weighted record sets among `sets` give. Route 53
/// answers in proportion to the weights; when every weight is 0, it answers
/// with each record set with equal probability. Other weighted record sets of
/// the name and type than the routing's two take their share too.
fn split_of(sets: &[ResourceRecordSet]) -> Split {
    let weighted: Vec<(&str, i64)> =
        sets.iter().filter_map(|s| Some((s.set_identifier.as_deref()?, s.weight?))).collect();
    let all_zero = weighted.iter().all(|(_, w)| *w <= 0);
    Split(weighted.into_iter().map(|(id, w)| (id.to_owned(), if all_zero { 1.0 } else { w.max(0) as f64 })).collect())
}

/// Whole weights `(first, second)` for the routing's two set identifiers
/// that send `split`; `None` when 255-weights cannot.
fn weights_for(ids: &[String; 2], split: &Split) -> Option<(u32, u32)> {
    Granularity::Weights { max: MAX_WEIGHT }.weights(split.percent_of(&ids[1]))
}

/// `2 s`, `1.5 s`, `600 s`.
fn seconds(duration: Duration) -> String {
    let text = format!("{:.3}", duration.as_secs_f64());
    format!("{} s", text.trim_end_matches('0').trim_end_matches('.'))
}

#[async_trait]
impl TrafficRouter for Route53Router {
    async fn read(&self) -> Result<Split, RouterError> {
        let sets = self.record_sets().await?;
        let ids = self.set_identifiers(&sets)?;
        let mut present = 0;
        for id in &ids {
            present += usize::from(self.weighted(&sets, id)?.is_some());
        }
        if present == 0 {
            return Err(RouterError::Gone(format!(
                "{} has no weighted record set {} or {}",
                self.describe(),
                ids[0],
                ids[1]
            )));
        }
        Ok(split_of(&sets))
    }

    async fn route(&self, split: &Split, stop: &CancellationToken) -> Result<(), RouterError> {
        let sets = self.record_sets().await?;
        let ids = self.set_identifiers(&sets)?;
        if let Some(other) = split.0.keys().find(|d| !ids.contains(d)) {
            return Err(RouterError::Failed(format!(
                "record set {other} is not one of {}'s set identifiers ({})",
                self.describe(),
                quoted(&ids)
            )));
        }
        if split.serving().next().is_none() {
            return Err(RouterError::Failed(format!(
                "a split that serves nothing cannot be sent to {}",
                self.describe()
            )));
        }
        let (first, second) = weights_for(&ids, split).ok_or_else(|| {
            RouterError::Failed(format!("Route 53's weights (0 to 255) cannot send exactly {}", split.describe()))
        })?;
        let mut changes = Vec::new();
        for (id, weight) in [(&ids[0], first), (&ids[1], second)] {
            match self.weighted(&sets, id)? {
                Some(set) if set.weight == Some(i64::from(weight)) => {}
                Some(set) => {
                    // Everything but the weight as read: TTL, values or alias
                    // target, health check.
                    let mut upsert = set.clone();
                    upsert.weight = Some(i64::from(weight));
                    let change = Change::builder().action(ChangeAction::Upsert).resource_record_set(upsert).build();
                    changes.push(change.map_err(|e| {
                        RouterError::Failed(format!("cannot build the change to record set {id}: {e}"))
                    })?);
                }
                None if weight == 0 => {}
                None => {
                    return Err(RouterError::Failed(format!(
                        "record set {id} of {} does not exist; a rollout does not create record sets",
                        self.describe()
                    )));
                }
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let mut comment = format!("progressive_rollout: {}", split.describe());
        if comment.len() > 256 {
            let mut end = 256;
            while !comment.is_char_boundary(end) {
                end -= 1;
            }
            comment.truncate(end);
        }
        let batch = ChangeBatch::builder()
            .comment(comment)
            .set_changes(Some(changes))
            .build()
            .map_err(|e| RouterError::Failed(format!("cannot build the change batch: {e}")))?;
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| route53_error("ChangeResourceRecordSets", &e))?;
        match out.change_info() {
            Some(info) if *info.status() != ChangeStatus::Insync => self.wait_until_in_sync(info.id(), stop).await,
            _ => Ok(()),
        }
    }

    fn describe(&self) -> String {
        format!("record {} {} in zone {}", self.name, self.record_type, self.zone_id)
    }
}

#[async_trait]
impl LeaseStore for Route53Router {
    async fn read_lease(&self) -> Result<Option<String>, RouterError> {
        let key = lease_tag(&self.name, &self.record_type);
        let out = self
            .client
            .list_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(&self.zone_id)
            .send()
            .await
            .map_err(|e| route53_error("ListTagsForResource", &e))?;
        let tags = out.resource_tag_set().map(|s| s.tags()).unwrap_or_default();
        Ok(tags.iter().find(|t| t.key() == Some(key.as_str())).and_then(|t| t.value().map(str::to_owned)))
    }

    async fn write_lease(&self, record: &str) -> Result<(), RouterError> {
        let tag = Tag::builder().key(lease_tag(&self.name, &self.record_type)).value(record).build();
        self.client
            .change_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(&self.zone_id)
            .add_tags(tag)
            .send()
            .await
            .map_err(|e| route53_error("ChangeTagsForResource", &e))?;
        Ok(())
    }

    async fn remove_lease(&self) -> Result<(), RouterError> {
        self.client
            .change_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(&self.zone_id)
            .remove_tag_keys(lease_tag(&self.name, &self.record_type))
            .send()
            .await
            .map_err(|e| route53_error("ChangeTagsForResource", &e))?;
        Ok(())
    }
}

#[async_trait]
impl Router for Route53Router {
    async fn check_destination(&self, set_identifier: &str) -> Result<(), RouterError> {
        let sets = self.record_sets().await?;
        let ids = self.set_identifiers(&sets)?;
        if !ids.iter().any(|id| id == set_identifier) {
            return Err(RouterError::Missing(format!(
                "record set {set_identifier} is not one of set_identifiers ({})",
                quoted(&ids)
            )));
        }
        match self.weighted(&sets, set_identifier)? {
            Some(_) => Ok(()),
            None => Err(RouterError::Missing(format!(
                "weighted record set {set_identifier} of {} {} does not exist in hosted zone {}",
                self.name, self.record_type, self.zone_id
            ))),
        }
    }

    async fn bake_warning(&self, shortest_bake: Duration) -> Option<String> {
        // A step without a bake watches nothing, so DNS caching cannot mislead it.
        if shortest_bake.is_zero() {
            return None;
        }
        let sets = self.record_sets().await.ok()?;
        let ids = self.set_identifiers(&sets).ok()?;
        // Alias record sets have no TTL of their own.
        let ttl = sets
            .iter()
            .filter(|s| s.set_identifier.as_ref().is_some_and(|id| ids.contains(id)))
            .filter_map(|s| s.ttl)
            .max()?;
        let ttl = Duration::from_secs(u64::try_from(ttl).ok()?);
        (shortest_bake < ttl).then(|| {
            format!(
                "A shift of {} reaches clients only after the record's TTL ({}): resolvers keep the answers they cached until then, so a bake of {} watches clients that may still resolve the old weights. Make each bake longer than the TTL, or lower the TTL.",
                self.describe(),
                seconds(ttl),
                seconds(shortest_bake)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(zone: &str, name: &str, record_type: &str, ids: &[&str], target: &str) -> Value {
        Value::object([
            ("zone_id", zone.into()),
            ("name", name.into()),
            ("type", record_type.into()),
            ("set_identifiers", Value::Set(ids.iter().map(|id| Value::from(*id)).collect())),
            ("target_set_identifier", target.into()),
        ])
    }

    /// The attribute paths of the errors parsing `block` gives.
    fn errors(block: &Value) -> Vec<String> {
        let mut d = Diagnostics::default();
        let routing = Route53.parse(block, &AttributePath::root("route53"), &mut d);
        assert_eq!(routing.is_some(), !d.has_errors());
        d.0.iter().map(|e| e.attribute.as_ref().map(ToString::to_string).unwrap_or_default()).collect()
    }

    #[test]
    fn a_valid_block_parses_to_its_routing() {
        let mut d = Diagnostics::default();
        let routing = Route53
            .parse(
                &block("/hostedzone/Z1ABC", "App.Example.com.", "A", &["green", "blue"], "green"),
                &AttributePath::root("route53"),
                &mut d,
            )
            .unwrap();
        assert!(d.is_empty());
        assert_eq!(routing.id(), "Z1ABC/App.Example.com./A", "the zone without its prefix, the name as written");
        let value = routing.block_value("blue");
        assert_eq!(value.get("zone_id"), &Value::from("/hostedzone/Z1ABC"), "as written, like the name");
        assert_eq!(value.get("name"), &Value::from("App.Example.com."));
        assert_eq!(value.get("set_identifiers"), &Value::Set(vec!["blue".into(), "green".into()]));
        assert_eq!(value.get("target_set_identifier"), &Value::from("blue"));
        assert_eq!(routing.destination_name("green"), "record set green");
        assert!(routing.analysis_metrics("blue", "green", "5xx").is_none());
    }

    #[test]
    fn parse_errors_point_at_the_attribute() {
        assert_eq!(
            errors(&block("Z1", "app.example.com", "A", &["blue", "green"], "red")),
            ["route53.target_set_identifier"]
        );
        assert_eq!(errors(&block("Z1", "app.example.com", "A", &["blue"], "blue")), ["route53.set_identifiers"]);
        assert_eq!(
            errors(&block("Z1", "app.example.com", "A", &["blue", "green", "red"], "blue")),
            ["route53.set_identifiers"]
        );
        assert_eq!(
            errors(&block("Z1", "app.example.com", "A", &["blue", "blue"], "blue")),
            ["route53.set_identifiers"]
        );
        assert_eq!(errors(&block("Z1", "app.example.com", "A", &["blue", ""], "blue")), ["route53.set_identifiers"]);
        assert_eq!(errors(&block("Z1", "app.example.com", "a", &["blue", "green"], "blue")), ["route53.type"]);
        assert_eq!(errors(&block("Z1", "app.example.com", "ALIAS", &["blue", "green"], "blue")), ["route53.type"]);
        assert_eq!(errors(&block("", "app.example.com", "A", &["blue", "green"], "blue")), ["route53.zone_id"]);
        assert_eq!(
            errors(&block("/hostedzone/", "app.example.com", "A", &["blue", "green"], "blue")),
            ["route53.zone_id"]
        );
        assert_eq!(errors(&block("Z1", ".", "A", &["blue", "green"], "blue")), ["route53.name"]);
        assert_eq!(
            errors(&block("", "app.example.com", "TXTX", &["blue"], "blue")),
            ["route53.zone_id", "route53.type", "route53.set_identifiers"]
        );
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let mut d = Diagnostics::default();
        Route53.parse(&block("Z1", "app.example.com", "A", &["blue"], "blue"), &AttributePath::root("route53"), &mut d);
        assert!(
            d.0[0].detail.contains("exactly two") && d.0[0].detail.contains("it names 1: \"blue\""),
            "{}",
            d.0[0].detail
        );
        let mut d = Diagnostics::default();
        Route53.parse(
            &block("Z1", "app.example.com", "A", &["blue", "green"], "red"),
            &AttributePath::root("route53"),
            &mut d,
        );
        assert!(d.0[0].detail.contains("\"blue\", \"green\""), "{}", d.0[0].detail);
        let mut d = Diagnostics::default();
        Route53.parse(
            &block("Z1", "app.example.com", "cname", &["blue", "green"], "blue"),
            &AttributePath::root("route53"),
            &mut d,
        );
        assert!(d.0[0].detail.contains("A, TXT, NS, CNAME"), "{}", d.0[0].detail);
    }

    #[test]
    fn unknown_values_wait_for_apply() {
        let mut unknown = block("Z1", "app.example.com", "A", &["blue", "green"], "blue");
        unknown.set_attr("set_identifiers", Value::Unknown);
        let mut d = Diagnostics::default();
        assert!(Route53.parse(&unknown, &AttributePath::root("route53"), &mut d).is_none(), "not known yet");
        assert!(d.is_empty(), "and not wrong either: {d:?}");
        let mut target_unknown = block("Z1", "app.example.com", "A", &["blue", "green"], "blue");
        target_unknown.set_attr("target_set_identifier", Value::Unknown);
        let mut d = Diagnostics::default();
        assert!(
            Route53.parse(&target_unknown, &AttributePath::root("route53"), &mut d).is_some(),
            "the routing does not need the target"
        );
    }

    #[test]
    fn zone_ids_lose_their_prefix() {
        assert_eq!(normalise_zone_id("Z0123456789ABC").unwrap(), "Z0123456789ABC");
        assert_eq!(normalise_zone_id("/hostedzone/Z0123456789ABC").unwrap(), "Z0123456789ABC");
        assert_eq!(normalise_zone_id("hostedzone/Z0123456789ABC").unwrap(), "Z0123456789ABC");
        assert!(normalise_zone_id("").is_err());
        assert!(normalise_zone_id("/hostedzone/").is_err());
        assert!(normalise_zone_id("/change/C1").is_err());
        assert!(normalise_zone_id("Z1 Z2").is_err());
    }

    #[test]
    fn names_compare_without_the_trailing_dot_and_case() {
        assert!(same_name("app.example.com", "App.Example.COM."));
        assert!(same_name("*.example.com", "\\052.example.com."), "Route 53 answers * as \\052");
        assert!(!same_name("app.example.com", "app.example.org"));
        assert!(!same_name("app.example.com", "www.app.example.com"));
        assert_eq!(comparable_name("A\\.B.example.com."), "a.b.example.com");
        assert_eq!(comparable_name("."), "");
    }

    #[test]
    fn the_lease_tag_is_stable_short_and_per_record() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325, "the FNV-1a 64 test vectors");
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        let key = lease_tag("app.example.com", "A");
        assert_eq!(key, format!("progressive:rollout-lease:{:016x}", fnv1a64(b"app.example.com A")));
        assert_eq!(key.len(), 42);
        assert!(key.len() <= 128, "Route 53 tag keys have at most 128 characters");
        assert_eq!(lease_tag("APP.example.com.", "A"), key, "the same record however it is spelled");
        assert_ne!(lease_tag("app.example.com", "AAAA"), key, "one lease per name and type");
        assert_ne!(lease_tag("www.example.com", "A"), key);
        let long = format!("{}.example.com", "x".repeat(200));
        assert_eq!(lease_tag(&long, "CNAME").len(), 42);
    }

    #[test]
    fn import_ids_name_a_record_and_maybe_its_set_identifiers() {
        let (zone, name, record_type, ids) = parse_import_id("Z1ABC/app.example.com/A").unwrap().unwrap();
        assert_eq!((zone.as_str(), name.as_str(), record_type.as_str(), ids), ("Z1ABC", "app.example.com", "A", None));
        let (zone, _, _, ids) = parse_import_id("/hostedzone/Z1ABC/app.example.com/CNAME/green/blue").unwrap().unwrap();
        assert_eq!(zone, "Z1ABC");
        assert_eq!(ids, Some(["blue".to_owned(), "green".to_owned()]));

        let routing = Route53.import("Z1ABC/app.example.com/A/blue/green").unwrap().unwrap();
        assert_eq!(routing.id(), "Z1ABC/app.example.com/A");
        assert_eq!(
            routing.block_value("green").get("set_identifiers"),
            &Value::Set(vec!["blue".into(), "green".into()])
        );
        let routing = Route53.import("Z1ABC/app.example.com/A").unwrap().unwrap();
        assert_eq!(routing.block_value("green").get("set_identifiers"), &Value::Set(vec![]), "found on the first read");

        assert!(parse_import_id("Z1/app.example.com/a").unwrap().unwrap_err().contains("not a Route 53 record type"));
        assert!(parse_import_id("Z1/app.example.com/A/blue/blue").unwrap().unwrap_err().contains("twice"));
        assert!(parse_import_id("/app.example.com/A").unwrap().is_err());
        assert!(Route53.import("arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/1/2").is_none());
        assert!(Route53.import("arn:aws:lambda:us-east-1:1:function:f:live").is_none());
        assert!(Route53.import("Z1/app.example.com").is_none());
        assert!(Route53.import("Z1/app.example.com/A/blue").is_none());
    }

    fn set(id: &str, weight: Option<i64>) -> ResourceRecordSet {
        ResourceRecordSet::builder()
            .name("app.example.com.")
            .r#type(RrType::A)
            .set_identifier(id)
            .set_weight(weight)
            .ttl(60)
            .build()
            .unwrap()
    }

    #[test]
    fn splits_follow_route53s_weights() {
        let split = split_of(&[set("blue", Some(255)), set("green", Some(1))]);
        assert_eq!(split.percent_of("green"), 100.0 / 256.0);
        assert_eq!(
            split_of(&[set("blue", Some(0)), set("green", Some(7))]).sole_server(),
            Some("green"),
            "weight 0 takes no traffic"
        );
        let all_zero = split_of(&[set("blue", Some(0)), set("green", Some(0))]);
        assert_eq!(all_zero.percent_of("blue"), 50.0, "all weights 0: equal shares");
        let third = split_of(&[set("blue", Some(90)), set("canary", Some(10)), set("green", Some(0))]);
        assert_eq!(third.percent_of("canary"), 10.0, "another weighted set takes its share");
        assert!(split_of(&[set("blue", None)]).0.is_empty(), "not weighted");
    }

    #[test]
    fn weights_for_the_two_record_sets() {
        let ids = ["blue".to_owned(), "green".to_owned()];
        assert_eq!(weights_for(&ids, &Split::all_to("blue")), Some((100, 0)));
        assert_eq!(weights_for(&ids, &Split::all_to("green")), Some((0, 100)));
        assert_eq!(weights_for(&ids, &Split::between("blue", "green", 10.0)), Some((90, 10)));
        assert_eq!(weights_for(&ids, &Split::between("green", "blue", 10.0)), Some((10, 90)));
        assert_eq!(weights_for(&ids, &Split::between("blue", "green", 0.5)), Some((199, 1)));
        assert_eq!(weights_for(&ids, &Split::between("blue", "green", 0.3)), None, "255-weights cannot send 0.3%");
    }

    #[test]
    fn no_metrics_to_judge() {
        assert!(Route53.default_error_metric().unwrap_err().contains("no per-record"));
        assert!(Route53.check_error_metric("5xx").unwrap_err().contains("alarms"));
        assert_eq!(Route53.granularity(), Granularity::Weights { max: 255 });
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(seconds(Duration::from_secs(60)), "60 s");
    }
}
