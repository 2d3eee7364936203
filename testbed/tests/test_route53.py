"""The emulator's Route 53 (testbed/emulator_route53.py) against AWS's
documented behaviour, with boto3. Independent of the provider."""

from __future__ import annotations

import itertools
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .emulator_process import EmulatorCase, start_emulator

ZONE = "example.com"
_zone_names = itertools.count()


def route53(endpoint: str, **config):
    return boto3.client(
        "route53", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, **config),
    )


def rrset(name, value, *, sid=None, weight=None, ttl=60, type_="A"):
    out = {"Name": name, "Type": type_, "TTL": ttl, "ResourceRecords": [{"Value": value}]}
    if sid is not None:
        out["SetIdentifier"] = sid
    if weight is not None:
        out["Weight"] = weight
    return out


class Route53Case(EmulatorCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.r53 = route53(cls.endpoint)

    def setUp(self):
        # A zone of its own per test: example.com zones may repeat in Route 53.
        zone = self.r53.create_hosted_zone(Name=ZONE, CallerReference=f"t{next(_zone_names)}")
        self.zone_id = zone["HostedZone"]["Id"].split("/")[-1]

    # -- helpers --

    def change(self, *changes, zone_id=None, client=None):
        return (client or self.r53).change_resource_record_sets(
            HostedZoneId=zone_id or self.zone_id,
            ChangeBatch={"Changes": [{"Action": a, "ResourceRecordSet": r} for a, r in changes]},
        )

    def assert_error(self, call, code, status, contains=""):
        with self.assertRaises(ClientError) as caught:
            call()
        error = caught.exception.response["Error"]
        self.assertEqual(error["Code"], code, error)
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertIn(contains, error["Message"])
        return error["Message"]

    def all_sets(self, **kwargs):
        out, args = [], {"HostedZoneId": self.zone_id, **kwargs}
        for _ in range(100):
            page = self.r53.list_resource_record_sets(**args)
            out.extend(page["ResourceRecordSets"])
            if not page["IsTruncated"]:
                return out
            args["StartRecordName"] = page["NextRecordName"]
            args["StartRecordType"] = page["NextRecordType"]
            args.pop("StartRecordIdentifier", None)
            if "NextRecordIdentifier" in page:
                args["StartRecordIdentifier"] = page["NextRecordIdentifier"]
        self.fail("paging did not end")

    def keys(self, sets):
        return [(s["Name"], s["Type"], s.get("SetIdentifier")) for s in sets]

    def weights(self, name="app.example.com.", type_="A"):
        return {s["SetIdentifier"]: s["Weight"] for s in self.all_sets()
                if s["Name"] == name and s["Type"] == type_ and "Weight" in s}


class ChangeResourceRecordSets(Route53Case):
    def test_delete_removes_exactly_the_named_weighted_set(self):
        self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)),
                    ("CREATE", rrset("app.example.com", "192.0.2.2", sid="green", weight=20)),
                    ("CREATE", rrset("other.example.com", "192.0.2.3", sid="green", weight=5)),
                    ("CREATE", rrset("app.example.com", "2001:db8::1", sid="green", weight=7, type_="AAAA")))
        self.change(("DELETE", rrset("app.example.com", "192.0.2.2", sid="green", weight=20)))
        self.assertEqual(self.weights(), {"blue": 10})
        self.assertEqual(self.weights("other.example.com."), {"green": 5})
        self.assertEqual(self.weights(type_="AAAA"), {"green": 7})

    def test_delete_needs_the_current_values(self):
        self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)))
        for wrong in (rrset("app.example.com", "192.0.2.9", sid="blue", weight=10),
                      rrset("app.example.com", "192.0.2.1", sid="blue", weight=11),
                      rrset("app.example.com", "192.0.2.1", sid="blue", weight=10, ttl=61)):
            self.assert_error(lambda: self.change(("DELETE", wrong)), "InvalidChangeBatch", 400,
                              "Tried to delete resource record set [name='app.example.com.', type='A', "
                              "set-identifier='blue'] but the values provided do not match the current values")
        self.assert_error(lambda: self.change(("DELETE", rrset("app.example.com", "192.0.2.1", sid="red", weight=10))),
                          "InvalidChangeBatch", 400, "but it was not found")
        self.assertEqual(self.weights(), {"blue": 10})

    def test_create_of_an_existing_set_is_refused(self):
        self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)),
                    ("CREATE", rrset("plain.example.com", "192.0.2.5")))
        message = self.assert_error(
            lambda: self.change(("CREATE", rrset("app.example.com", "192.0.2.7", sid="blue", weight=99))),
            "InvalidChangeBatch", 400)
        self.assertEqual(message, "[Tried to create resource record set [name='app.example.com.', type='A', "
                                  "set-identifier='blue'] but it already exists]")
        self.assert_error(lambda: self.change(("CREATE", rrset("Plain.Example.com.", "192.0.2.6"))),
                          "InvalidChangeBatch", 400, "[name='Plain.Example.com.', type='A'] but it already exists")
        sets = [s for s in self.all_sets() if s["Name"] == "app.example.com."]
        self.assertEqual(len(sets), 1)
        self.assertEqual(sets[0]["ResourceRecords"], [{"Value": "192.0.2.1"}])

    def test_a_batch_is_all_or_nothing(self):
        self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)))
        message = self.assert_error(lambda: self.change(
            ("CREATE", rrset("app.example.com", "192.0.2.2", sid="green", weight=20)),
            ("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)),
            ("DELETE", rrset("app.example.com", "192.0.2.3", sid="red", weight=1)),
        ), "InvalidChangeBatch", 400)
        self.assertIn("but it already exists, Tried to delete", message)  # every failing change reported
        self.assertEqual(self.weights(), {"blue": 10})
        # Changes apply in order: a DELETE then a CREATE of one set is fine.
        self.change(("DELETE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)),
                    ("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=40)))
        self.assertEqual(self.weights(), {"blue": 40})

    def test_upsert_replaces_exactly_the_matching_set(self):
        self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)),
                    ("CREATE", rrset("app.example.com", "192.0.2.2", sid="green", weight=20)),
                    ("CREATE", rrset("other.example.com", "192.0.2.3", sid="green", weight=5)))
        self.change(("UPSERT", rrset("app.example.com", "192.0.2.2", sid="green", weight=90)),
                    ("UPSERT", rrset("app.example.com", "192.0.2.4", sid="canary", weight=0)))
        self.assertEqual(self.weights(), {"blue": 10, "green": 90, "canary": 0})
        self.assertEqual(self.weights("other.example.com."), {"green": 5})

    def test_weights_must_be_0_to_255(self):
        self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="zero", weight=0)),
                    ("CREATE", rrset("app.example.com", "192.0.2.2", sid="max", weight=255)))
        self.assert_error(lambda: self.change(("CREATE", rrset("app.example.com", "192.0.2.3", sid="big", weight=256))),
                          "InvalidInput", 400, "256")
        unchecked = route53(self.endpoint, parameter_validation=False)  # boto3 itself refuses negatives
        self.assert_error(lambda: self.change(("CREATE", rrset("app.example.com", "192.0.2.4", sid="neg", weight=-1)),
                                              client=unchecked), "InvalidInput", 400, "-1")
        self.assertEqual(self.weights(), {"zero": 0, "max": 255})

    def test_weight_and_set_identifier_go_together(self):
        self.assert_error(lambda: self.change(("CREATE", rrset("app.example.com", "192.0.2.1", weight=10))),
                          "InvalidInput", 400, "Missing field 'SetIdentifier'")
        self.assert_error(lambda: self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue"))),
                          "InvalidInput", 400, "but found none")
        self.assertEqual(self.weights(), {})

    def test_weighted_and_plain_sets_of_one_name_and_type_do_not_mix(self):
        self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)),
                    ("CREATE", rrset("plain.example.com", "192.0.2.5")))
        self.assert_error(lambda: self.change(("UPSERT", rrset("app.example.com", "192.0.2.2"))),
                          "InvalidChangeBatch", 400, "cannot be created as other RRSets exist with the same name and type")
        self.assert_error(lambda: self.change(("CREATE", rrset("plain.example.com", "192.0.2.6", sid="x", weight=1))),
                          "InvalidChangeBatch", 400, "cannot be created as a non-weighted set exists")
        self.assert_error(lambda: self.change(("CREATE", rrset("app.example.com", "lb.example.net", type_="CNAME"))),
                          "InvalidChangeBatch", 400, "RRSet of type CNAME")
        # A weighted set of another type of the same name is fine.
        self.change(("CREATE", rrset("app.example.com", "2001:db8::1", sid="blue", weight=1, type_="AAAA")))

    def test_the_last_ttl_given_applies_to_all_weighted_sets(self):
        self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10, ttl=60)),
                    ("CREATE", rrset("app.example.com", "192.0.2.2", sid="green", weight=20, ttl=300)))
        ttls = {s["SetIdentifier"]: s["TTL"] for s in self.all_sets() if s["Name"] == "app.example.com."}
        self.assertEqual(ttls, {"blue": 300, "green": 300})

    def test_names_outside_the_zone_are_refused(self):
        self.assert_error(lambda: self.change(("CREATE", rrset("app.example.org", "192.0.2.1"))),
                          "InvalidChangeBatch", 400, "is not permitted in zone example.com.")

    def test_missing_hosted_zone(self):
        self.assert_error(lambda: self.change(("CREATE", rrset("app.example.com", "192.0.2.1")), zone_id="ZNOSUCHZONE"),
                          "NoSuchHostedZone", 404)
        self.assert_error(lambda: self.r53.list_resource_record_sets(HostedZoneId="ZNOSUCHZONE"),
                          "NoSuchHostedZone", 404)


class ListResourceRecordSets(Route53Case):
    EXPECTED = [  # Route 53's documented order: reversed labels with the trailing dot, type, identifier
        ("example.com.", "NS", None),
        ("example.com.", "SOA", None),
        ("api.example.com.", "TXT", None),        # com.example.api.
        ("app-1.example.com.", "A", None),        # com.example.app-1. ('-' sorts before '.')
        ("app.example.com.", "A", "blue"),        # com.example.app.
        ("app.example.com.", "A", "canary"),
        ("app.example.com.", "A", "green"),
        ("app.example.com.", "AAAA", "blue"),
        ("a.b.example.com.", "A", None),          # com.example.b.a.
        ("z.example.com.", "CNAME", None),        # com.example.z.
    ]

    def setUp(self):
        super().setUp()
        self.change(("CREATE", rrset("z.example.com", "lb.example.net", type_="CNAME")),
                    ("CREATE", rrset("app.example.com", "192.0.2.3", sid="green", weight=20)),
                    ("CREATE", rrset("a.b.example.com", "192.0.2.9")),
                    ("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)),
                    ("CREATE", rrset("app.example.com", "2001:db8::1", sid="blue", weight=1, type_="AAAA")),
                    ("CREATE", rrset("api.example.com", '"hello"', type_="TXT")),
                    ("CREATE", rrset("app-1.example.com", "192.0.2.7")),
                    ("CREATE", rrset("app.example.com", "192.0.2.2", sid="canary", weight=0)))

    def test_one_page_in_documented_order(self):
        page = self.r53.list_resource_record_sets(HostedZoneId=self.zone_id)
        self.assertFalse(page["IsTruncated"])
        self.assertNotIn("NextRecordName", page)
        self.assertEqual(self.keys(page["ResourceRecordSets"]), self.EXPECTED)

    def test_paging_one_at_a_time_visits_each_set_once(self):
        seen = []
        args = {"HostedZoneId": self.zone_id, "MaxItems": "1"}
        for _ in range(len(self.EXPECTED) + 5):
            page = self.r53.list_resource_record_sets(**args)
            self.assertEqual(len(page["ResourceRecordSets"]), 1)
            seen.extend(self.keys(page["ResourceRecordSets"]))
            if not page["IsTruncated"]:
                break
            nxt = self.EXPECTED[len(seen)]
            self.assertEqual((page["NextRecordName"], page["NextRecordType"], page.get("NextRecordIdentifier")), nxt)
            args.update(StartRecordName=page["NextRecordName"], StartRecordType=page["NextRecordType"])
            args.pop("StartRecordIdentifier", None)
            if "NextRecordIdentifier" in page:
                args["StartRecordIdentifier"] = page["NextRecordIdentifier"]
        self.assertEqual(seen, self.EXPECTED)

    def test_paging_by_three_and_starting_points(self):
        self.assertEqual(self.keys(self.all_sets(MaxItems="3")), self.EXPECTED)
        start = self.r53.list_resource_record_sets(HostedZoneId=self.zone_id, StartRecordName="app.example.com",
                                                   StartRecordType="A", StartRecordIdentifier="canary")
        self.assertEqual(self.keys(start["ResourceRecordSets"]), self.EXPECTED[5:])
        by_name = self.r53.list_resource_record_sets(HostedZoneId=self.zone_id, StartRecordName="b.example.com")
        self.assertEqual(self.keys(by_name["ResourceRecordSets"]), self.EXPECTED[8:])

    def test_start_type_needs_a_start_name(self):
        self.assert_error(lambda: self.r53.list_resource_record_sets(HostedZoneId=self.zone_id, StartRecordType="A"),
                          "InvalidInput", 400)


class GetChange(Route53Case):
    def test_pending_then_insync_after_the_default_second(self):
        submitted = time.monotonic()
        info = self.change(("CREATE", rrset("app.example.com", "192.0.2.1", sid="blue", weight=10)))["ChangeInfo"]
        self.assertEqual(info["Status"], "PENDING")
        self.assertRegex(info["Id"], r"^/change/C[A-Z0-9]+$")
        self.assertEqual(self.r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"], "PENDING")
        while self.r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING":
            self.assertLess(time.monotonic() - submitted, 5, "still PENDING after 5 s")
            time.sleep(0.1)
        self.assertGreaterEqual(time.monotonic() - submitted, 0.9)
        other = self.change(("CREATE", rrset("b.example.com", "192.0.2.2")))["ChangeInfo"]
        self.assertNotEqual(other["Id"], info["Id"])
        self.assertEqual(self.r53.get_change(Id=other["Id"])["ChangeInfo"]["Status"], "PENDING")

    def test_unknown_change(self):
        self.assert_error(lambda: self.r53.get_change(Id="CNOSUCHCHANGE"), "NoSuchChange", 404)

    def test_hosted_zone_changes_are_tracked_too(self):
        info = self.r53.create_hosted_zone(Name="example.net", CallerReference="zone-change")["ChangeInfo"]
        self.assertEqual(self.r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"], info["Status"])


class InsyncDelaySetting(unittest.TestCase):
    def check_immediate(self, extra_args=(), env=None):
        endpoint, stop = start_emulator(*extra_args, env=env)
        self.addCleanup(stop)
        r53 = route53(endpoint)
        zone = r53.create_hosted_zone(Name=ZONE, CallerReference="delay")["HostedZone"]["Id"]
        info = r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": rrset("app.example.com", "192.0.2.1")}]})["ChangeInfo"]
        self.assertEqual(info["Status"], "INSYNC")
        self.assertEqual(r53.get_change(Id=info["Id"])["ChangeInfo"]["Status"], "INSYNC")

    def test_option_zero_means_insync_at_once(self):
        self.check_immediate(extra_args=["--route53-insync-delay", "0"], env={"EMULATOR_ROUTE53_INSYNC_DELAY": "30"})

    def test_environment_variable(self):
        self.check_immediate(env={"EMULATOR_ROUTE53_INSYNC_DELAY": "0"})


class HostedZoneTags(Route53Case):
    def tags(self):
        tag_set = self.r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=self.zone_id)["ResourceTagSet"]
        self.assertEqual((tag_set["ResourceType"], tag_set["ResourceId"]), ("hostedzone", self.zone_id))
        return {t["Key"]: t["Value"] for t in tag_set.get("Tags", [])}

    def test_tags_round_trip(self):
        self.assertEqual(self.tags(), {})
        self.r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=self.zone_id,
                                          AddTags=[{"Key": "team", "Value": "web"}, {"Key": "stage", "Value": "blue"}])
        self.assertEqual(self.tags(), {"team": "web", "stage": "blue"})
        self.r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=self.zone_id,
                                          AddTags=[{"Key": "stage", "Value": "green"}], RemoveTagKeys=["team"])
        self.assertEqual(self.tags(), {"stage": "green"})

    def test_tags_of_a_missing_zone(self):
        self.assert_error(lambda: self.r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId="ZNOSUCHZONE"),
                          "NoSuchHostedZone", 404)
        self.assert_error(lambda: self.r53.change_tags_for_resource(
            ResourceType="hostedzone", ResourceId="ZNOSUCHZONE", AddTags=[{"Key": "a", "Value": "b"}]),
            "NoSuchHostedZone", 404)


if __name__ == "__main__":
    unittest.main()
