//! Route 53 helpers of [`AwsClient`]: hosted zones, weighted record sets,
//! change status and hosted zone tags, over Route 53's REST-XML API
//! (version 2013-04-01) on the same plain TCP code as the Query services.
//!
//! Requests are signed like the others (dummy SigV4 with the signing name
//! `route53`, which is how moto picks the backend). Hosted zone and change
//! ids are taken and returned bare (`Z…`, `C…`); the `/hostedzone/` and
//! `/change/` prefixes AWS puts in answers are accepted too.
//!
//! The emulator's Route 53 behaves as AWS documents it (see
//! `testbed/emulator_route53.py`): `DELETE` needs the record set's current
//! values, `CREATE` of an existing set is `InvalidChangeBatch`, listing pages
//! by name, type and set identifier, and a change reads `PENDING` for a
//! test-only delay (1 s by default) before `INSYNC`.

use crate::xml;
use crate::{AwsClient, AwsError, http};
use roxmltree::Node;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const API: &str = "/2013-04-01";
const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// A weighted record set: what [`AwsClient::create_weighted_record`] and
/// friends send, and what [`AwsClient::weighted_records`] reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedRecord {
    /// The DNS name. Read back with the trailing dot (`app.example.com.`).
    pub name: String,
    /// `A` or `CNAME` (any Route 53 record type is passed through).
    pub record_type: String,
    pub set_identifier: String,
    /// 0..=255 for Route 53.
    pub weight: u32,
    pub ttl: u32,
    pub values: Vec<String>,
}

impl WeightedRecord {
    /// A weighted record with one value.
    pub fn new(
        name: &str,
        record_type: &str,
        set_identifier: &str,
        weight: u32,
        ttl: u32,
        value: &str,
    ) -> WeightedRecord {
        WeightedRecord {
            name: name.into(),
            record_type: record_type.into(),
            set_identifier: set_identifier.into(),
            weight,
            ttl,
            values: vec![value.into()],
        }
    }

    /// This record with another weight.
    pub fn with_weight(&self, weight: u32) -> WeightedRecord {
        WeightedRecord { weight, ..self.clone() }
    }

    fn to_xml(&self) -> String {
        let values: String = self
            .values
            .iter()
            .map(|v| format!("<ResourceRecord><Value>{}</Value></ResourceRecord>", escape(v)))
            .collect();
        format!(
            "<ResourceRecordSet><Name>{}</Name><Type>{}</Type><SetIdentifier>{}</SetIdentifier>\
             <Weight>{}</Weight><TTL>{}</TTL><ResourceRecords>{values}</ResourceRecords>\
             </ResourceRecordSet>",
            escape(&self.name),
            escape(&self.record_type),
            escape(&self.set_identifier),
            self.weight,
            self.ttl,
        )
    }
}

/// One page of `ListResourceRecordSets`: the weighted sets on it, and where
/// the next page starts (name, type, set identifier) if the list goes on.
struct Page {
    records: Vec<(String, String, Option<WeightedRecord>)>,
    next: Option<(String, String, Option<String>)>,
}

impl AwsClient {
    /// Calls a Route 53 REST-XML operation: `method` on `path` (under
    /// `/2013-04-01`, e.g. `/hostedzone/Z1/rrset`) with query parameters and
    /// an optional XML body. Returns the XML answer, or the error: Route 53
    /// answers `<ErrorResponse><Error><Code>`; the older
    /// `<InvalidChangeBatch><Messages><Message>` form is read too (its
    /// messages joined as `[a, b]`).
    pub fn route53(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<String, AwsError> {
        let mut target = format!("{API}{path}");
        if !query.is_empty() {
            target.push('?');
            target.push_str(&http::form_encode(query));
        }
        let content_type = body.map(|_| "application/xml");
        let body = body.unwrap_or_default().as_bytes();
        let response = self.send(method, "route53", &target, content_type, body)?;
        let text = response.text();
        if (200..300).contains(&response.status) {
            return Ok(text);
        }
        Err(route53_error(response.status, text))
    }

    fn must_route53(&self, method: &str, path: &str, query: &[(&str, &str)], body: Option<&str>) -> String {
        self.route53(method, path, query, body).unwrap_or_else(|e| panic!("Route 53 {method} {path} failed: {e}"))
    }

    /// Creates a public hosted zone for `name` and returns its id (`Z…`,
    /// without `/hostedzone/`).
    ///
    /// # Panics
    /// On any error.
    pub fn create_hosted_zone(&self, name: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
        let reference =
            format!("acceptance-tests-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <CreateHostedZoneRequest xmlns=\"{NAMESPACE}\"><Name>{}</Name>\
             <CallerReference>{}</CallerReference></CreateHostedZoneRequest>",
            escape(name),
            escape(&reference)
        );
        let answer = self.must_route53("POST", "/hostedzone", &[], Some(&body));
        let doc = xml::parse("CreateHostedZone", &answer);
        let id = xml::path(doc.root_element(), &["HostedZone", "Id"])
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("CreateHostedZone: no HostedZone/Id in {answer}"));
        bare_id(id, "/hostedzone/").to_string()
    }

    /// Sends one change batch of weighted record sets: `(action, record)`
    /// pairs with `CREATE`, `UPSERT` or `DELETE`. Returns the change id
    /// (`C…`), for [`AwsClient::change_status`].
    pub fn change_weighted_records(
        &self,
        zone_id: &str,
        changes: &[(&str, &WeightedRecord)],
    ) -> Result<String, AwsError> {
        let changes: String = changes
            .iter()
            .map(|(action, record)| format!("<Change><Action>{}</Action>{}</Change>", escape(action), record.to_xml()))
            .collect();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <ChangeResourceRecordSetsRequest xmlns=\"{NAMESPACE}\"><ChangeBatch>\
             <Changes>{changes}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
        );
        let path = format!("/hostedzone/{}/rrset", bare_id(zone_id, "/hostedzone/"));
        let answer = self.route53("POST", &path, &[], Some(&body))?;
        let doc = xml::parse("ChangeResourceRecordSets", &answer);
        let id = xml::path(doc.root_element(), &["ChangeInfo", "Id"])
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("ChangeResourceRecordSets: no ChangeInfo/Id in {answer}"));
        Ok(bare_id(id, "/change/").to_string())
    }

    /// Creates a weighted record set; returns the change id.
    ///
    /// # Panics
    /// On any error, e.g. `InvalidChangeBatch` when it already exists.
    pub fn create_weighted_record(&self, zone_id: &str, record: &WeightedRecord) -> String {
        self.change_weighted_records(zone_id, &[("CREATE", record)])
            .unwrap_or_else(|e| panic!("creating {record:?} failed: {e}"))
    }

    /// Creates or replaces the weighted record set with this name, type and
    /// set identifier; returns the change id.
    ///
    /// # Panics
    /// On any error.
    pub fn upsert_weighted_record(&self, zone_id: &str, record: &WeightedRecord) -> String {
        self.change_weighted_records(zone_id, &[("UPSERT", record)])
            .unwrap_or_else(|e| panic!("upserting {record:?} failed: {e}"))
    }

    /// Deletes a weighted record set. Route 53 wants its current values
    /// (weight, TTL, values), e.g. as read by [`AwsClient::weighted_records`].
    /// Returns the change id.
    ///
    /// # Panics
    /// On any error, e.g. `InvalidChangeBatch` when it does not exist or the
    /// values differ.
    pub fn delete_weighted_record(&self, zone_id: &str, record: &WeightedRecord) -> String {
        self.change_weighted_records(zone_id, &[("DELETE", record)])
            .unwrap_or_else(|e| panic!("deleting {record:?} failed: {e}"))
    }

    /// All weighted record sets of `name` and `record_type`, in Route 53's
    /// order (by set identifier), read 100 to a page.
    ///
    /// # Panics
    /// On any error, e.g. `NoSuchHostedZone` (HTTP 404).
    pub fn weighted_records(&self, zone_id: &str, name: &str, record_type: &str) -> Vec<WeightedRecord> {
        self.weighted_records_paged(zone_id, name, record_type, 100)
    }

    /// [`AwsClient::weighted_records`] with `page_size` record sets per
    /// `ListResourceRecordSets` call (1..=300), following `NextRecordName`,
    /// `NextRecordType` and `NextRecordIdentifier` until the list ends or
    /// moves past `name` and `record_type`.
    ///
    /// # Panics
    /// On any error, or if the pages do not advance.
    pub fn weighted_records_paged(
        &self,
        zone_id: &str,
        name: &str,
        record_type: &str,
        page_size: u32,
    ) -> Vec<WeightedRecord> {
        let wanted = dotted(name).to_ascii_lowercase();
        let mut start = (wanted.clone(), record_type.to_string(), None::<String>);
        let mut out = Vec::new();
        let mut seen_starts = std::collections::HashSet::new();
        loop {
            assert!(
                seen_starts.insert(start.clone()),
                "ListResourceRecordSets paging does not advance: {start:?} came back"
            );
            let page = self.record_page(zone_id, &start, page_size);
            let mut past = false;
            for (set_name, set_type, record) in page.records {
                if dotted(&set_name).to_ascii_lowercase() != wanted || set_type != record_type {
                    past = true;
                    break;
                }
                out.extend(record);
            }
            match page.next {
                Some(next) if !past => start = next,
                _ => return out,
            }
        }
    }

    fn record_page(&self, zone_id: &str, start: &(String, String, Option<String>), page_size: u32) -> Page {
        let size = page_size.to_string();
        let mut query = vec![("name", start.0.as_str()), ("type", start.1.as_str()), ("maxitems", size.as_str())];
        if let Some(identifier) = &start.2 {
            query.push(("identifier", identifier));
        }
        let path = format!("/hostedzone/{}/rrset", bare_id(zone_id, "/hostedzone/"));
        let answer = self.must_route53("GET", &path, &query, None);
        let doc = xml::parse("ListResourceRecordSets", &answer);
        let root = doc.root_element();
        let records = xml::child(root, "ResourceRecordSets")
            .map(|sets| xml::children(sets, "ResourceRecordSet").map(read_record).collect())
            .unwrap_or_default();
        let truncated = xml::text(root, "IsTruncated") == Some("true");
        let next = truncated.then(|| {
            let field = |tag| xml::text(root, tag).map(str::to_string);
            (
                field("NextRecordName").unwrap_or_else(|| panic!("truncated without NextRecordName: {answer}")),
                field("NextRecordType").unwrap_or_else(|| panic!("truncated without NextRecordType: {answer}")),
                field("NextRecordIdentifier"),
            )
        });
        Page { records, next }
    }

    /// The weights of the weighted record sets of `name` and `record_type`,
    /// by set identifier.
    ///
    /// # Panics
    /// On any error.
    pub fn record_weights(&self, zone_id: &str, name: &str, record_type: &str) -> BTreeMap<String, u32> {
        self.weighted_records(zone_id, name, record_type).into_iter().map(|r| (r.set_identifier, r.weight)).collect()
    }

    /// The status of a change: `PENDING` or `INSYNC`.
    ///
    /// # Panics
    /// On any error, e.g. `NoSuchChange` (HTTP 404).
    pub fn change_status(&self, change_id: &str) -> String {
        let path = format!("/change/{}", bare_id(change_id, "/change/"));
        let answer = self.must_route53("GET", &path, &[], None);
        let doc = xml::parse("GetChange", &answer);
        xml::path(doc.root_element(), &["ChangeInfo", "Status"])
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("GetChange: no ChangeInfo/Status in {answer}"))
            .to_string()
    }

    /// Polls [`AwsClient::change_status`] every 100 ms until `INSYNC`;
    /// `false` if `timeout` passes first.
    pub fn wait_for_change(&self, change_id: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.change_status(change_id) == "INSYNC" {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// A hosted zone's tags.
    ///
    /// # Panics
    /// On any error, e.g. `NoSuchHostedZone` (HTTP 404).
    pub fn hosted_zone_tags(&self, zone_id: &str) -> BTreeMap<String, String> {
        let path = format!("/tags/hostedzone/{}", bare_id(zone_id, "/hostedzone/"));
        let answer = self.must_route53("GET", &path, &[], None);
        let doc = xml::parse("ListTagsForResource", &answer);
        xml::path(doc.root_element(), &["ResourceTagSet", "Tags"])
            .map(|tags| {
                xml::children(tags, "Tag")
                    .map(|t| {
                        let field = |tag| xml::text(t, tag).unwrap_or_default().to_string();
                        (field("Key"), field("Value"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds or overwrites the tags in `add` and removes the keys in `remove`
    /// (`ChangeTagsForResource`, at most 10 of each per call).
    ///
    /// # Panics
    /// On any error.
    pub fn change_hosted_zone_tags(&self, zone_id: &str, add: &[(&str, &str)], remove: &[&str]) {
        let mut body =
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ChangeTagsForResourceRequest xmlns=\"{NAMESPACE}\">");
        if !add.is_empty() {
            body.push_str("<AddTags>");
            for (key, value) in add {
                body.push_str(&format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", escape(key), escape(value)));
            }
            body.push_str("</AddTags>");
        }
        if !remove.is_empty() {
            body.push_str("<RemoveTagKeys>");
            for key in remove {
                body.push_str(&format!("<Key>{}</Key>", escape(key)));
            }
            body.push_str("</RemoveTagKeys>");
        }
        body.push_str("</ChangeTagsForResourceRequest>");
        let path = format!("/tags/hostedzone/{}", bare_id(zone_id, "/hostedzone/"));
        self.must_route53("POST", &path, &[], Some(&body));
    }
}

/// `(name, type, the set as a weighted record if it is one)`.
fn read_record(set: Node) -> (String, String, Option<WeightedRecord>) {
    let field = |tag| xml::text(set, tag).map(str::to_string);
    let name = field("Name").unwrap_or_default();
    let record_type = field("Type").unwrap_or_default();
    let weighted = match (field("SetIdentifier"), field("Weight")) {
        (Some(set_identifier), Some(weight)) => Some(WeightedRecord {
            name: name.clone(),
            record_type: record_type.clone(),
            set_identifier,
            weight: weight
                .parse()
                .unwrap_or_else(|_| panic!("ListResourceRecordSets: weight {weight:?} is not a number")),
            ttl: field("TTL").and_then(|t| t.parse().ok()).unwrap_or_default(),
            values: xml::child(set, "ResourceRecords")
                .map(|rrs| {
                    xml::children(rrs, "ResourceRecord")
                        .filter_map(|rr| xml::text(rr, "Value"))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }),
        _ => None,
    };
    (name, record_type, weighted)
}

fn route53_error(status: u16, text: String) -> AwsError {
    let Ok(doc) = roxmltree::Document::parse(&text) else {
        return AwsError { status, code: "Unknown".into(), message: text };
    };
    let root = doc.root_element();
    if root.has_tag_name("InvalidChangeBatch") {
        let messages: Vec<&str> = xml::child(root, "Messages")
            .map(|m| xml::children(m, "Message").filter_map(|n| n.text()).collect())
            .unwrap_or_default();
        return AwsError { status, code: "InvalidChangeBatch".into(), message: format!("[{}]", messages.join(", ")) };
    }
    let error = xml::child(root, "Error");
    let field = |tag| error.and_then(|e| xml::text(e, tag)).map(str::to_string);
    AwsError {
        status,
        code: field("Code").unwrap_or_else(|| "Unknown".into()),
        message: field("Message").unwrap_or(text.clone()),
    }
}

fn bare_id<'a>(id: &'a str, prefix: &str) -> &'a str {
    id.strip_prefix(prefix).unwrap_or(id)
}

fn dotted(name: &str) -> String {
    if name.ends_with('.') { name.to_string() } else { format!("{name}.") }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_error_forms() {
        let standard = route53_error(
            400,
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
             <Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>[a, b]</Message></Error>\
             <RequestId>r</RequestId></ErrorResponse>"
                .into(),
        );
        assert_eq!((standard.code.as_str(), standard.message.as_str()), ("InvalidChangeBatch", "[a, b]"));
        let older = route53_error(
            400,
            "<InvalidChangeBatch xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Messages>\
             <Message>a</Message><Message>b</Message></Messages><RequestId>r</RequestId></InvalidChangeBatch>"
                .into(),
        );
        assert_eq!((older.code.as_str(), older.message.as_str()), ("InvalidChangeBatch", "[a, b]"));
    }

    #[test]
    fn record_xml_is_escaped() {
        let record = WeightedRecord::new("a.example.com", "TXT", "x&y", 5, 60, "\"<v>\"");
        let xml = record.to_xml();
        assert!(xml.contains("<SetIdentifier>x&amp;y</SetIdentifier><Weight>5</Weight><TTL>60</TTL>"));
        assert!(xml.contains("<Value>&quot;&lt;v&gt;&quot;</Value>"));
        assert_eq!(bare_id("/hostedzone/Z1", "/hostedzone/"), "Z1");
        assert_eq!(bare_id("C9", "/change/"), "C9");
    }
}
