"""Route 53 as AWS documents it, in front of moto 5.2.5's Route 53.

`Route53Fixes` is a WSGI middleware. It answers ChangeResourceRecordSets,
ListResourceRecordSets and GetChange itself (REST-XML, the 2013-04-01 API),
checks hosted zones before moto's tag operations, and gives every other
Route 53 answer that carries a `ChangeInfo` a change id that GetChange knows.
The record sets themselves stay in moto's backend (`FakeZone.rrsets`), so
moto's GetHostedZone (record count), DeleteHostedZone (HostedZoneNotEmpty)
and `POST /moto-api/reset` keep working on the same data.

Wiring (emulator.py): `add_arguments(parser)` adds the option below,
`wrap(app, args)` puts the middleware in front of moto.

What moto does, what AWS documents, what we do
----------------------------------------------
(Measured with boto3 against emulator.py before this module existed.)

1. DELETE of a record set with a SetIdentifier.
   moto: deletes every record set in the zone with that SetIdentifier, any
   name, any type; and it refuses a DELETE unless an identical CREATE or
   UPSERT is in its own change journal (an InvalidInput about "Expected
   exactly one of [AliasTarget, ...]" otherwise).
   AWS (ChangeResourceRecordSets, "Deleting Resource Record Sets"): "you must
   specify all the same values that you specified when you created it"; the
   record set is the one with that name, type and set identifier.
   Here: exactly that record set is deleted, and only if every value given
   equals the stored one (TTL, values in any order, weight, routing fields,
   alias target, health check). Otherwise InvalidChangeBatch, "Tried to
   delete resource record set [name='...', type='...', set-identifier='...']
   but it was not found" or "... but the values provided do not match the
   current values".

2. CREATE of a record set that already exists.
   moto: only refused when the very same change (same values) is in its
   journal; a CREATE with the same name, type and set identifier but other
   values adds a duplicate.
   AWS: InvalidChangeBatch "Tried to create resource record set [name='...',
   type='...'(, set-identifier='...')] but it already exists".
   Here: the latter, keyed on (name, type, set identifier); names compare
   case-insensitively, with or without the trailing dot.

3. ListResourceRecordSets paging.
   moto: sorts by (reversed name, type) only, ignores StartRecordIdentifier
   and never returns NextRecordIdentifier, so paging through several record
   sets of one name and type with MaxItems=1 returns the same record set
   forever.
   AWS (ListResourceRecordSets, "Sort order"): by DNS name with the labels
   reversed, trailing dot included ("com.example.www."), in ASCII order; then
   by type; record sets with a routing policy continue with
   NextRecordIdentifier / StartRecordIdentifier. At most 300 per page.
   Here: sorted by (reversed name, type, set identifier; no identifier
   first). The page starts at the first record set >= (StartRecordName,
   StartRecordType, StartRecordIdentifier); IsTruncated, NextRecordName,
   NextRecordType and (when the next record set has one)
   NextRecordIdentifier are set as documented; MaxItems above 300 is read as
   300. StartRecordType without StartRecordName, or StartRecordIdentifier
   without both, is InvalidInput (the documented rule for type; the
   identifier rule follows from it). The apex SOA record moto creates has a
   mangled value (a Python dict repr); it is listed with its real value.

4. Routing-policy checks (moto checks none of them).
   * Weight is 0..255 (the API model's ResourceRecordSetWeight range; "Values
     specific for weighted records"). Out of range: InvalidInput with the
     XML-schema style message Route 53 uses for facet violations.
   * A routing field (Weight, Region, Failover, GeoLocation,
     MultiValueAnswer, GeoProximityLocation, CidrRoutingConfig) without
     SetIdentifier: InvalidInput "Invalid request: Missing field
     'SetIdentifier' in Change with [Action=..., Name=..., Type=...,
     SetIdentifier=null]". SetIdentifier without any: InvalidInput "Invalid
     request: Expected exactly one of [Weight, Region, ...], but found none
     in Change with [...]". Neither AliasTarget nor TTL+ResourceRecords:
     InvalidInput "Invalid request: Expected exactly one of [AliasTarget,
     all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but
     found none in Change with [...]". (Messages as AWS returns them.)
   * Weighted and non-weighted record sets of one name and type cannot
     coexist: InvalidChangeBatch "RRSet with DNS name N, type T,
     SetIdentifier S cannot be created as a non-weighted set exists with the
     same name and type." for a weighted one, "RRSet with DNS name N, type T
     cannot be created as other RRSets exist with the same name and type."
     for a plain one. (Other routing policies are kept apart the same way;
     their wording here is by analogy.)
   * A CNAME cannot share its name with records of another type, both ways.
   * "Values specific for weighted records", TTL: when weighted records of
     one name and type get different TTLs, "Route 53 changes the TTL for all
     the records to the value that you specified last". Done here.
   * UPSERT replaces exactly the record set with the same (name, type, set
     identifier), or creates it (moto already did this part).
   * A name outside the zone: InvalidChangeBatch "RRSet with DNS name N is
     not permitted in zone Z".

5. Change batches are transactional (AWS: "either makes all or none of the
   changes"). moto applies change by change and can stop half-way. Here the
   changes are checked in order against a working copy (so a DELETE then a
   CREATE of one record set in one batch works), all failing changes are
   reported, and the zone is only updated when none failed.
   InvalidChangeBatch goes out in the standard Route 53 error envelope,
   HTTP 400, `<Code>InvalidChangeBatch</Code>`, with the list of messages in
   `<Message>` as "[first, second]": the form Route 53 answers with today
   (the older `<InvalidChangeBatch><Messages>` body is no longer sent, per the
   AWS SDK maintainers). Other errors: InvalidInput 400, NoSuchHostedZone 404
   ("No hosted zone found with ID: ..."), NoSuchChange 404.

6. GetChange.
   moto: INSYNC at once, for any id (even ones it never issued), and every
   ChangeResourceRecordSets answer carries the same fixed change id.
   AWS (GetChange): PENDING "is the initial status of all change batch
   requests", INSYNC once the change has propagated to all Route 53 DNS
   servers.
   Here: each change batch gets its own id (`/change/C` + 13 characters). It
   reads PENDING until a test-only delay has passed since it was submitted,
   then INSYNC. The delay is `--route53-insync-delay SECONDS` or the
   environment variable EMULATOR_ROUTE53_INSYNC_DELAY (the option wins);
   default 1 second; 0 means INSYNC at once. It is a time scale for tests,
   not a model of Route 53's propagation time. An id that was never issued
   is NoSuchChange (404). The ChangeInfo in moto's other answers
   (CreateHostedZone, DeleteHostedZone, VPC association) is rewritten to a
   fresh id that behaves the same way.

7. Hosted zone tags. moto's ChangeTagsForResource / ListTagsForResource work
   (add, overwrite, remove by key). ListTagsForResource of a hosted zone that
   does not exist returns an empty tag set in moto; AWS documents
   NoSuchHostedZone. Here both tag operations on a missing hosted zone are
   NoSuchHostedZone (404), then moto does the rest.

Not done: the limit of 100 weighted record sets per name and type, record
value syntax (an A record with a non-address value is accepted), and
PriorRequestNotComplete.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import string
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from xml.sax.saxutils import escape

from moto.core import DEFAULT_ACCOUNT_ID
from moto.route53.models import RecordSet, route53_backends
from moto.utilities.utils import get_partition

NAMESPACE = "https://route53.amazonaws.com/doc/2013-04-01/"
DELAY_ENV = "EMULATOR_ROUTE53_INSYNC_DELAY"
DEFAULT_DELAY = 1.0

RRSET_PATH = re.compile(r"/2013-04-01/hostedzone/(?P<zone>[^/]+)/rrset/?")
CHANGE_PATH = re.compile(r"/2013-04-01/change/(?:/?change/)?(?P<change>[^/]+)")
TAGS_PATH = re.compile(r"/2013-04-01/tags/(?P<type>[^/]+)/(?P<id>[^/]+)")
ANY_PATH = re.compile(r"/2013-04-01/.*")
CHANGE_INFO = re.compile(rb"<ChangeInfo>.*?</ChangeInfo>", re.S)
CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/[^/]+/(?P<region>[^/]+)/(?P<service>[^/]+)/")

RR_TYPES = ("SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA",
            "DS", "TLSA", "SSHFP", "SVCB", "HTTPS")
# The routing-policy fields of a ResourceRecordSet, in the order AWS names
# them, and what a record set using each is called.
POLICY_FIELDS = ("Weight", "Region", "Failover", "GeoLocation", "MultiValueAnswer",
                 "GeoProximityLocation", "CidrRoutingConfig")
POLICY_NAMES = {"Weight": "weighted", "Region": "latency", "Failover": "failover",
                "GeoLocation": "geolocation", "MultiValueAnswer": "multivalue answer",
                "GeoProximityLocation": "geoproximity", "CidrRoutingConfig": "IP-based"}
# Element order of a ResourceRecordSet in answers (the API model's order).
RRSET_ORDER = ("Name", "Type", "SetIdentifier", "Weight", "Region", "GeoLocation", "Failover",
               "MultiValueAnswer", "TTL", "ResourceRecords", "AliasTarget", "HealthCheckId",
               "TrafficPolicyInstanceId", "CidrRoutingConfig", "GeoProximityLocation")
MAX_PAGE = 300

StartResponse = Callable[..., Any]


class Route53Error(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid_input(message: str) -> Route53Error:
    return Route53Error(400, "InvalidInput", message)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's command-line option for this module."""
    parser.add_argument(
        "--route53-insync-delay", type=float, metavar="SECONDS", default=None,
        help=f"test-only time scale: a Route 53 change reads PENDING for this long, then INSYNC "
             f"(default ${DELAY_ENV} or {DEFAULT_DELAY:g})",
    )


def wrap(app, args: argparse.Namespace | None = None) -> "Route53Fixes":
    delay = getattr(args, "route53_insync_delay", None)
    if delay is None:
        delay = float(os.environ.get(DELAY_ENV, DEFAULT_DELAY))
    return Route53Fixes(app, insync_delay=delay)


class Route53Fixes:
    """WSGI middleware: the Route 53 behaviour described in the module docstring."""

    def __init__(self, app: Callable[..., Iterable[bytes]], insync_delay: float = DEFAULT_DELAY):
        self.app = app
        self.insync_delay = max(0.0, insync_delay)
        self.lock = threading.RLock()
        # change id -> (submitted at, monotonic time, comment)
        self.changes: dict[str, tuple[datetime, float, str | None]] = {}

    # -- dispatch ---------------------------------------------------------

    def __call__(self, environ: dict, start_response: StartResponse):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.rstrip("/") == "/moto-api/reset" and method == "POST":
            with self.lock:
                self.changes.clear()
            return self.app(environ, start_response)
        if not ANY_PATH.fullmatch(path) or not _is_route53(environ):
            return self.app(environ, start_response)
        try:
            if m := RRSET_PATH.fullmatch(path):
                if method == "POST":
                    return self._change_rrsets(environ, start_response, m["zone"])
                if method == "GET":
                    return self._list_rrsets(environ, start_response, m["zone"])
            if (m := CHANGE_PATH.fullmatch(path)) and method == "GET":
                return self._get_change(start_response, m["change"])
            if (m := TAGS_PATH.fullmatch(path)) and m["type"] == "hostedzone":
                self._zone(environ, m["id"])  # NoSuchHostedZone before moto
        except Route53Error as e:
            return _error(start_response, e)
        return self._pass_through(environ, start_response)

    def _pass_through(self, environ: dict, start_response: StartResponse):
        """moto's answer, with any ChangeInfo given a change id GetChange knows."""
        status, headers, body = _call_wsgi(self.app, environ)
        if 200 <= int(status.split(" ", 1)[0]) < 300 and b"<ChangeInfo>" in body:
            with self.lock:
                body = CHANGE_INFO.sub(lambda m: self._new_change(None).encode(), body)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    # -- ChangeResourceRecordSets -------------------------------------------

    def _change_rrsets(self, environ: dict, start_response: StartResponse, zone_id: str):
        zone = self._zone(environ, zone_id)
        comment, changes = _parse_change_batch(_read_body(environ))
        count = sum(len(c.rrset.get("ResourceRecords", [])) * (2 if c.action == "UPSERT" else 1)
                    for c in changes)
        if count > 1000:
            raise Route53Error(400, "InvalidChangeBatch", "[Number of records limit of 1000 exceeded.]")
        with self.lock:
            working = [_from_moto(r) for r in zone.rrsets]
            messages = []
            for change in changes:
                message = _apply(working, zone.name, change)
                if message:
                    messages.append(message)
            if messages:
                raise Route53Error(400, "InvalidChangeBatch", "[" + ", ".join(messages) + "]")
            zone.rrsets = [_to_moto(r) for r in working]
            info = self._new_change(comment)
        return _xml(start_response, "ChangeResourceRecordSetsResponse", info)

    # -- ListResourceRecordSets ---------------------------------------------

    def _list_rrsets(self, environ: dict, start_response: StartResponse, zone_id: str):
        zone = self._zone(environ, zone_id)
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        arg = lambda name: (query.get(name) or [None])[0]  # noqa: E731
        start_name, start_type, start_id = arg("name"), arg("type"), arg("identifier")
        if start_type and not start_name:
            raise invalid_input("StartRecordType was given without StartRecordName")
        if start_id and not (start_name and start_type):
            raise invalid_input("StartRecordIdentifier was given without StartRecordName and StartRecordType")
        if start_type and start_type not in RR_TYPES:
            raise invalid_input(_enum_message(start_type, RR_TYPES))
        max_items = arg("maxitems") or str(MAX_PAGE)
        if not max_items.isdigit() or int(max_items) < 1:
            raise invalid_input(f"Invalid value for MaxItems: {max_items!r}")
        page_size = min(int(max_items), MAX_PAGE)
        with self.lock:
            records = sorted((_from_moto(r) for r in zone.rrsets), key=_sort_key)
        if start_name:
            start = (_name_key(start_name), start_type or "", (1, start_id) if start_id else (0, ""))
            records = [r for r in records if _sort_key(r) >= start]
        page, rest = records[:page_size], records[page_size:]
        parts = ["<ResourceRecordSets>", *(_render_rrset(r) for r in page), "</ResourceRecordSets>",
                 f"<IsTruncated>{'true' if rest else 'false'}</IsTruncated>"]
        if rest:
            nxt = rest[0]
            parts.append(f"<NextRecordName>{escape(nxt['Name'])}</NextRecordName>")
            parts.append(f"<NextRecordType>{nxt['Type']}</NextRecordType>")
            if nxt.get("SetIdentifier") is not None:
                parts.append(f"<NextRecordIdentifier>{escape(nxt['SetIdentifier'])}</NextRecordIdentifier>")
        parts.append(f"<MaxItems>{escape(max_items)}</MaxItems>")
        return _xml(start_response, "ListResourceRecordSetsResponse", "".join(parts))

    # -- GetChange -----------------------------------------------------------

    def _new_change(self, comment: str | None) -> str:
        """Registers a change submitted now; returns its `<ChangeInfo>` element."""
        alphabet = string.ascii_uppercase + string.digits
        change_id = "C" + "".join(secrets.choice(alphabet) for _ in range(13))
        submitted = datetime.now(timezone.utc)
        self.changes[change_id] = (submitted, time.monotonic(), comment)
        return self._change_info(change_id)

    def _change_info(self, change_id: str) -> str:
        submitted, at, comment = self.changes[change_id]
        status = "PENDING" if time.monotonic() - at < self.insync_delay else "INSYNC"
        out = (f"<ChangeInfo><Id>/change/{change_id}</Id><Status>{status}</Status>"
               f"<SubmittedAt>{_timestamp(submitted)}</SubmittedAt>")
        if comment is not None:
            out += f"<Comment>{escape(comment)}</Comment>"
        return out + "</ChangeInfo>"

    def _get_change(self, start_response: StartResponse, change_id: str):
        with self.lock:
            if change_id not in self.changes:
                raise Route53Error(404, "NoSuchChange", f"A change with the specified change ID does not exist: {change_id}")
            info = self._change_info(change_id)
        return _xml(start_response, "GetChangeResponse", info)

    # -- helpers -------------------------------------------------------------

    @staticmethod
    def _zone(environ: dict, zone_id: str):
        zone_id = zone_id.removeprefix("/hostedzone/")
        account, region = account_and_region(environ)
        zone = route53_backends[account][get_partition(region)].zones.get(zone_id)
        if zone is None:
            raise Route53Error(404, "NoSuchHostedZone", f"No hosted zone found with ID: {zone_id}")
        return zone


# -- requests ------------------------------------------------------------------


def _is_route53(environ: dict) -> bool:
    """A request signed for another service is left alone (moto routes by
    the signing name); unsigned requests on the 2013-04-01 paths are Route 53's."""
    m = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return m is None or m["service"] == "route53"


def account_and_region(environ: dict) -> tuple[str, str]:
    """The moto account and region of a request, chosen the way moto does."""
    m = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    region = m["region"] if m else "us-east-1"
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"], region
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"], region
    if m:
        from moto.iam.models import get_account_id_from
        return get_account_id_from(m["key"]), region
    return DEFAULT_ACCOUNT_ID, region


def _read_body(environ: dict) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _to_obj(elem: ET.Element) -> Any:
    """An element as text (leaf) or a dict of child name -> value."""
    children = list(elem)
    if not children:
        return (elem.text or "").strip()
    return {_local(c.tag): _to_obj(c) for c in children}


class Change:
    def __init__(self, index: int, action: str, rrset: dict):
        self.index, self.action, self.rrset = index, action, rrset

    def describe(self) -> str:
        r = self.rrset
        return (f"[Action={self.action}, Name={r.get('Name')}, Type={r.get('Type')}, "
                f"SetIdentifier={r.get('SetIdentifier', 'null')}]")


def _parse_change_batch(body: bytes) -> tuple[str | None, list[Change]]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise invalid_input(f"Invalid XML ; {e}") from None
    if _local(root.tag) != "ChangeResourceRecordSetsRequest":
        raise invalid_input("Invalid XML ; expected a ChangeResourceRecordSetsRequest element")
    batch = next((c for c in root if _local(c.tag) == "ChangeBatch"), None)
    if batch is None:
        raise invalid_input("Invalid XML ; the ChangeBatch element is missing")
    comment = next((c.text or "" for c in batch if _local(c.tag) == "Comment"), None)
    changes_elem = next((c for c in batch if _local(c.tag) == "Changes"), None)
    change_elems = [c for c in (changes_elem if changes_elem is not None else []) if _local(c.tag) == "Change"]
    if not change_elems:
        raise invalid_input("Invalid XML ; cvc-complex-type.2.4.b: The content of element 'Changes' is not complete.")
    changes = []
    for index, elem in enumerate(change_elems, start=1):
        fields = {_local(c.tag): c for c in elem}
        action = (fields["Action"].text or "").strip() if "Action" in fields else ""
        if action not in ("CREATE", "DELETE", "UPSERT"):
            raise invalid_input(_enum_message(action, ("CREATE", "DELETE", "UPSERT")))
        if "ResourceRecordSet" not in fields:
            raise invalid_input("Invalid XML ; the ResourceRecordSet element is missing")
        changes.append(Change(index, action, _parse_rrset(index, fields["ResourceRecordSet"])))
    for change in changes:
        _check_shape(change)
    return comment, changes


def _parse_rrset(index: int, elem: ET.Element) -> dict:
    rrset: dict[str, Any] = {}
    for child in elem:
        tag = _local(child.tag)
        if tag == "ResourceRecords":
            rrset[tag] = [_to_obj(v) for rr in child for v in rr if _local(v.tag) == "Value"]
        else:
            rrset[tag] = _to_obj(child)
    if not rrset.get("Name"):
        raise invalid_input("Invalid XML ; the Name element is missing")
    if rrset.get("Type") not in RR_TYPES:
        raise invalid_input(_enum_message(rrset.get("Type", ""), RR_TYPES))
    for field, low, high, type_name in (("Weight", 0, 255, "ResourceRecordSetWeight"),
                                         ("TTL", 0, 2147483647, "TTL")):
        if field in rrset:
            rrset[field] = _integer(rrset[field], low, high, type_name)
    if "MultiValueAnswer" in rrset:
        rrset["MultiValueAnswer"] = str(rrset["MultiValueAnswer"]).lower() == "true"
    if isinstance(rrset.get("AliasTarget"), dict):
        alias = rrset["AliasTarget"]
        alias["EvaluateTargetHealth"] = str(alias.get("EvaluateTargetHealth", "false")).lower() == "true"
    sid = rrset.get("SetIdentifier")
    if sid is not None and not 1 <= len(sid) <= 128:
        raise invalid_input(f"Invalid XML ; cvc-maxLength-valid: Value '{sid}' with length = '{len(sid)}' "
                            "is not facet-valid with respect to maxLength '128' for type 'ResourceRecordSetIdentifier'.")
    return rrset


def _integer(text: Any, low: int, high: int, type_name: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise invalid_input(f"Invalid XML ; cvc-datatype-valid.1.2.1: '{text}' is not a valid value for 'integer'.") from None
    if value > high:
        raise invalid_input(f"Invalid XML ; cvc-maxInclusive-valid: Value '{value}' is not facet-valid "
                            f"with respect to maxInclusive '{high}' for type '{type_name}'.")
    if value < low:
        raise invalid_input(f"Invalid XML ; cvc-minInclusive-valid: Value '{value}' is not facet-valid "
                            f"with respect to minInclusive '{low}' for type '{type_name}'.")
    return value


def _enum_message(value: str, allowed: Iterable[str]) -> str:
    return (f"Invalid XML ; cvc-enumeration-valid: Value '{value}' is not facet-valid with respect to "
            f"enumeration '[{', '.join(allowed)}]'. It must be a value from the enumeration.")


def _check_shape(change: Change) -> None:
    """The InvalidInput checks AWS makes on each change before looking at the zone."""
    r = change.rrset
    policies = [f for f in POLICY_FIELDS if f in r]
    if policies and r.get("SetIdentifier") is None:
        raise invalid_input(f"Invalid request: Missing field 'SetIdentifier' in Change with {change.describe()}")
    if r.get("SetIdentifier") is not None and len(policies) != 1:
        found = "none" if not policies else "more than one"
        raise invalid_input(
            "Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, "
            "MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], "
            f"but found {found} in Change with {change.describe()}")
    plain = "TTL" in r and bool(r.get("ResourceRecords"))
    kinds = [k for k, present in (("alias", "AliasTarget" in r), ("plain", plain),
                                  ("policy", "TrafficPolicyInstanceId" in r)) if present]
    if len(kinds) != 1:
        found = "none" if not kinds else "more than one"
        raise invalid_input(
            "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], "
            f"or TrafficPolicyInstanceId], but found {found} in Change with {change.describe()}")


# -- the zone's record sets ----------------------------------------------------


def _dotted(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _key(r: dict) -> tuple[str, str, str | None]:
    return _dotted(r["Name"]).lower(), r["Type"], r.get("SetIdentifier")


def _name_key(name: str) -> str:
    """`www.example.com` -> `com.example.www.` (labels reversed, trailing dot)."""
    labels = _dotted(name).lower()[:-1].split(".")
    return ".".join(reversed(labels)) + "."


def _sort_key(r: dict) -> tuple:
    sid = r.get("SetIdentifier")
    return _name_key(r["Name"]), r["Type"], (1, sid) if sid is not None else (0, "")


def _policy(r: dict) -> str | None:
    return next((f for f in POLICY_FIELDS if f in r), None)


def _describe(r: dict) -> str:
    out = f"[name='{_dotted(r['Name'])}', type='{r['Type']}'"
    if r.get("SetIdentifier") is not None:
        out += f", set-identifier='{r['SetIdentifier']}'"
    return out + "]"


def _comparable(r: dict) -> dict:
    """A record set's values, for the exact-match rule of DELETE."""
    out = {k: v for k, v in r.items() if k not in ("Name", "ResourceRecords", "AliasTarget")}
    out["ResourceRecords"] = sorted(r.get("ResourceRecords") or [])
    if isinstance(r.get("AliasTarget"), dict):
        alias = dict(r["AliasTarget"])
        alias["DNSName"] = _dotted(str(alias.get("DNSName", ""))).lower()
        out["AliasTarget"] = alias
    return out


def _apply(working: list[dict], zone_name: str, change: Change) -> str | None:
    """Applies one change to the working copy; returns an InvalidChangeBatch
    message instead when AWS would refuse it."""
    new = dict(change.rrset)
    new["Name"] = _dotted(new["Name"])
    name = new["Name"].lower()
    zone = _dotted(zone_name).lower()
    if name != zone and not name.endswith("." + zone):
        return f"RRSet with DNS name {new['Name']} is not permitted in zone {_dotted(zone_name)}"
    index = next((i for i, r in enumerate(working) if _key(r) == _key(new)), None)
    if change.action == "DELETE":
        if index is None:
            return f"Tried to delete resource record set {_describe(new)} but it was not found"
        if _comparable(working[index]) != _comparable(new):
            return f"Tried to delete resource record set {_describe(new)} but the values provided do not match the current values"
        del working[index]
        return None
    if change.action == "CREATE" and index is not None:
        return f"Tried to create resource record set {_describe(new)} but it already exists"
    others = [r for i, r in enumerate(working) if i != index]
    message = _conflict(others, zone_name, new)
    if message:
        return message
    if index is None:
        working.append(new)
    else:
        working[index] = new
    if "Weight" in new and "TTL" in new:
        # "Values specific for weighted records", TTL: the last TTL given wins
        # for every weighted record set of this name and type.
        for r in working:
            if _key(r)[:2] == _key(new)[:2] and "Weight" in r and "TTL" in r:
                r["TTL"] = new["TTL"]
    return None


def _conflict(others: list[dict], zone_name: str, new: dict) -> str | None:
    name = new["Name"].lower()
    same_name = [r for r in others if _dotted(r["Name"]).lower() == name]
    if new["Type"] == "CNAME" and any(r["Type"] != "CNAME" for r in same_name):
        return (f"RRSet of type CNAME with DNS name {new['Name']} is not permitted as it conflicts "
                f"with other records with the same DNS name in zone {_dotted(zone_name)}")
    if new["Type"] != "CNAME" and any(r["Type"] == "CNAME" for r in same_name):
        return (f"RRSet of type {new['Type']} with DNS name {new['Name']} is not permitted because a "
                f"conflicting RRSet of type CNAME with the same DNS name already exists in zone "
                f"{_dotted(zone_name)}")
    same_type = [r for r in same_name if r["Type"] == new["Type"]]
    if not same_type:
        return None
    policy = _policy(new)
    if policy is None:
        return (f"RRSet with DNS name {new['Name']}, type {new['Type']} cannot be created as other "
                "RRSets exist with the same name and type.")
    if any(_policy(r) != policy for r in same_type):
        return (f"RRSet with DNS name {new['Name']}, type {new['Type']}, SetIdentifier "
                f"{new['SetIdentifier']} cannot be created as a non-{POLICY_NAMES[policy]} set exists "
                "with the same name and type.")
    return None


def _from_moto(r: RecordSet) -> dict:
    """moto's RecordSet -> our dict form (the API's field names)."""
    out: dict[str, Any] = {"Name": _dotted(r.name), "Type": r.type}
    if r.set_identifier is not None:
        out["SetIdentifier"] = r.set_identifier
    for field, value in (("Weight", r.weight), ("TTL", r.ttl)):
        if value is not None:
            out[field] = int(value)
    for field, value in (("Region", r.region), ("Failover", r.failover), ("GeoLocation", r.geo_location),
                         ("HealthCheckId", r.health_check_id), ("AliasTarget", r.alias_target),
                         ("TrafficPolicyInstanceId", getattr(r, "traffic_policy_instance_id", None)),
                         ("CidrRoutingConfig", getattr(r, "cidr_routing_config", None)),
                         ("GeoProximityLocation", getattr(r, "geo_proximity_location", None))):
        if value is not None:
            out[field] = value
    if r.multi_value_answer is not None:
        out["MultiValueAnswer"] = str(r.multi_value_answer).lower() == "true"
    if r.records:
        # moto's own SOA record holds {"Value": ...} dicts instead of strings.
        out["ResourceRecords"] = [v.get("Value", "") if isinstance(v, dict) else str(v) for v in r.records]
    return out


def _to_moto(r: dict) -> RecordSet:
    record = RecordSet(dict(r))
    record.traffic_policy_instance_id = r.get("TrafficPolicyInstanceId")
    record.cidr_routing_config = r.get("CidrRoutingConfig")
    record.geo_proximity_location = r.get("GeoProximityLocation")
    return record


# -- answers -------------------------------------------------------------------


def _render(tag: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_render(k, v) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _render_rrset(r: dict) -> str:
    parts = []
    for field in RRSET_ORDER:
        if field not in r:
            continue
        if field == "ResourceRecords":
            parts.append("<ResourceRecords>" + "".join(
                f"<ResourceRecord><Value>{escape(v)}</Value></ResourceRecord>" for v in r[field]
            ) + "</ResourceRecords>")
        else:
            parts.append(_render(field, r[field]))
    return "<ResourceRecordSet>" + "".join(parts) + "</ResourceRecordSet>"


def _timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _xml(start_response: StartResponse, root: str, inner: str):
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NAMESPACE}">{inner}</{root}>').encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
                              ("x-amzn-RequestId", str(uuid.uuid4()))])
    return [body]


def _error(start_response: StartResponse, e: Route53Error):
    request_id = str(uuid.uuid4())
    body = (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type>'
            f"<Code>{e.code}</Code><Message>{escape(e.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
    reason = {400: "Bad Request", 404: "Not Found"}.get(e.status, "Error")
    start_response(f"{e.status} {reason}", [("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
                                             ("x-amzn-RequestId", request_id)])
    return [body]


def _call_wsgi(app, environ: dict) -> tuple[str, list, bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers, exc_info=None):
        captured["status"], captured["headers"] = status, list(headers)
        return lambda _data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return captured["status"], captured["headers"], body
