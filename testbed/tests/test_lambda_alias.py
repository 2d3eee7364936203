"""Lambda aliases as the Lambda API reference documents them.

CreateAlias 201, GetAlias/UpdateAlias 200, DeleteAlias 204, JSON bodies as
application/json; RoutingConfig.AdditionalVersionWeights: at most one
additional version, keys [0-9]+, weights 0.0..1.0, published versions only
(not $LATEST), the additional version exists and differs from
FunctionVersion, both versions share the execution role; RoutingConfig {}
clears the routing; RevisionId changes on update and a stale one gives 412
PreconditionFailedException; function tags by ARN.
"""

import itertools
import unittest

import botocore.exceptions

from .emulator_process import EmulatorCase, aws_client, code_zip

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/other-role"


class LambdaAlias(EmulatorCase):
    names = itertools.count(1)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lam = aws_client("lambda", cls.endpoint)
        # boto3 itself refuses some out-of-range values; this one sends them.
        cls.unchecked = aws_client("lambda", cls.endpoint, parameter_validation=False)
        iam = aws_client("iam", cls.endpoint)
        for role in ("lambda-role", "other-role"):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")
        cls.lam.create_function(FunctionName="fn", Runtime="python3.12", Role=ROLE, Handler="index.handler",
                                Code={"ZipFile": code_zip("def handler(e, c):\n    return 1\n")})
        for n in (1, 2, 3):  # versions 1, 2, 3 (each publish after a code change)
            cls.lam.update_function_code(FunctionName="fn", ZipFile=code_zip(f"def handler(e, c):\n    return {n}\n"))
            cls.lam.publish_version(FunctionName="fn")
        # Version 4 runs with another execution role.
        cls.lam.update_function_configuration(FunctionName="fn", Role=OTHER_ROLE)
        cls.lam.publish_version(FunctionName="fn")
        versions = [v["Version"] for v in cls.lam.list_versions_by_function(FunctionName="fn")["Versions"]]
        assert versions == ["$LATEST", "1", "2", "3", "4"], versions

    def alias(self, version="1", routing=None):
        name = f"a{next(self.names)}"
        kwargs = {"RoutingConfig": routing} if routing is not None else {}
        self.lam.create_alias(FunctionName="fn", Name=name, FunctionVersion=version, **kwargs)
        return name

    def refused(self, call, status, code, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as caught:
            call(**kwargs)
        error = caught.exception.response
        self.assertEqual((error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]), (status, code),
                         error["Error"].get("Message"))
        return error["Error"].get("Message", "")

    def update_refused(self, name, status, code, **kwargs):
        return self.refused(self.lam.update_alias, status, code, FunctionName="fn", Name=name, **kwargs)

    # -- statuses and shapes ------------------------------------------------

    def test_statuses_and_json(self):
        created = self.lam.create_alias(FunctionName="fn", Name="shape", FunctionVersion="1",
                                        Description="d", RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
        self.assertEqual(created["ResponseMetadata"]["HTTPStatusCode"], 201)
        got = self.lam.get_alias(FunctionName="fn", Name="shape")
        meta = got["ResponseMetadata"]
        self.assertEqual(meta["HTTPStatusCode"], 200)
        self.assertTrue(meta["HTTPHeaders"]["content-type"].startswith("application/json"), meta["HTTPHeaders"])
        self.assertEqual(got["AliasArn"], f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn:shape")
        self.assertEqual((got["Name"], got["FunctionVersion"], got["Description"]), ("shape", "1", "d"))
        self.assertEqual(got["RoutingConfig"], {"AdditionalVersionWeights": {"2": 0.25}})
        self.assertTrue(got["RevisionId"])
        updated = self.lam.update_alias(FunctionName="fn", Name="shape", Description="e")
        self.assertEqual(updated["ResponseMetadata"]["HTTPStatusCode"], 200)
        deleted = self.lam.delete_alias(FunctionName="fn", Name="shape")
        self.assertEqual(deleted["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.refused(self.lam.get_alias, 404, "ResourceNotFoundException", FunctionName="fn", Name="shape")

    def test_create_existing_alias_is_a_conflict(self):
        name = self.alias()
        self.refused(self.lam.create_alias, 409, "ResourceConflictException",
                     FunctionName="fn", Name=name, FunctionVersion="2")

    # -- routing validation -------------------------------------------------

    def test_two_additional_versions_are_refused(self):
        name = self.alias()
        self.update_refused(name, 400, "InvalidParameterValueException",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}})
        self.refused(self.lam.create_alias, 400, "InvalidParameterValueException", FunctionName="fn",
                     Name="two-extra", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}})

    def test_latest_is_refused_in_a_weighted_alias(self):
        name = self.alias()
        self.update_refused(name, 400, "InvalidParameterValueException",
                            FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
        # As a weight key, $LATEST fails the documented key pattern [0-9]+.
        self.update_refused(name, 400, "ValidationException",
                            RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.1}})
        # $LATEST alone (no routing) is a valid alias target.
        self.lam.update_alias(FunctionName="fn", Name=name, FunctionVersion="$LATEST")

    def test_weights_must_be_within_0_and_1(self):
        name = self.alias()
        for weight in (1.5, -0.1):
            self.refused(self.unchecked.update_alias, 400, "ValidationException", FunctionName="fn", Name=name,
                         RoutingConfig={"AdditionalVersionWeights": {"2": weight}})
        for weight in (0.0, 1.0):
            answer = self.lam.update_alias(FunctionName="fn", Name=name,
                                           RoutingConfig={"AdditionalVersionWeights": {"2": weight}})
            self.assertEqual(answer["RoutingConfig"]["AdditionalVersionWeights"], {"2": weight})

    def test_additional_version_must_exist(self):
        name = self.alias()
        message = self.update_refused(name, 404, "ResourceNotFoundException",
                                      RoutingConfig={"AdditionalVersionWeights": {"9": 0.1}})
        self.assertIn("function:fn:9", message)
        self.assertNotIn("RoutingConfig", self.lam.get_alias(FunctionName="fn", Name=name))

    def test_additional_version_must_differ_from_function_version(self):
        name = self.alias("1", {"AdditionalVersionWeights": {"2": 0.1}})
        self.update_refused(name, 400, "InvalidParameterValueException",
                            RoutingConfig={"AdditionalVersionWeights": {"1": 0.1}})
        # Moving FunctionVersion onto the current additional version, keeping the routing.
        self.update_refused(name, 400, "InvalidParameterValueException", FunctionVersion="2")
        self.assertEqual(self.lam.get_alias(FunctionName="fn", Name=name)["FunctionVersion"], "1")

    def test_versions_must_share_the_execution_role(self):
        name = self.alias("3")
        self.update_refused(name, 400, "InvalidParameterValueException",
                            RoutingConfig={"AdditionalVersionWeights": {"4": 0.1}})

    def test_function_version_must_be_a_version(self):
        target = self.alias("1")
        self.refused(self.lam.create_alias, 400, "ValidationException",
                     FunctionName="fn", Name="on-alias", FunctionVersion=target)

    # -- updates ------------------------------------------------------------

    def test_promote_and_clear_routing_in_one_call(self):
        for empty in ({}, {"AdditionalVersionWeights": {}}):
            name = self.alias("1", {"AdditionalVersionWeights": {"2": 0.5}})
            answer = self.lam.update_alias(FunctionName="fn", Name=name, FunctionVersion="2", RoutingConfig=empty)
            self.assertEqual(answer["FunctionVersion"], "2")
            self.assertNotIn("RoutingConfig", answer)
            got = self.lam.get_alias(FunctionName="fn", Name=name)
            self.assertEqual(got["FunctionVersion"], "2")
            self.assertNotIn("RoutingConfig", got)

    def test_update_without_routing_config_keeps_it(self):
        name = self.alias("1", {"AdditionalVersionWeights": {"2": 0.3}})
        self.lam.update_alias(FunctionName="fn", Name=name, Description="only the description")
        got = self.lam.get_alias(FunctionName="fn", Name=name)
        self.assertEqual(got["RoutingConfig"], {"AdditionalVersionWeights": {"2": 0.3}})
        self.assertEqual(got["Description"], "only the description")

    def test_revision_id(self):
        name = self.alias()
        first = self.lam.get_alias(FunctionName="fn", Name=name)["RevisionId"]
        second = self.lam.update_alias(FunctionName="fn", Name=name, RevisionId=first,
                                       RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})["RevisionId"]
        self.assertNotEqual(first, second)
        self.assertEqual(self.lam.get_alias(FunctionName="fn", Name=name)["RevisionId"], second)
        self.update_refused(name, 412, "PreconditionFailedException", RevisionId=first, FunctionVersion="3")
        self.assertEqual(self.lam.get_alias(FunctionName="fn", Name=name)["FunctionVersion"], "1")

    # -- tags ---------------------------------------------------------------

    def test_function_tags_by_arn(self):
        arn = self.lam.get_function(FunctionName="fn")["Configuration"]["FunctionArn"]
        self.assertEqual(self.lam.tag_resource(Resource=arn, Tags={"team": "pay", "tier": "1"})
                         ["ResponseMetadata"]["HTTPStatusCode"], 204)
        listed = self.lam.list_tags(Resource=arn)
        self.assertEqual(listed["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(listed["Tags"], {"team": "pay", "tier": "1"})
        self.assertEqual(self.lam.untag_resource(Resource=arn, TagKeys=["tier"])
                         ["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertEqual(self.lam.list_tags(Resource=arn)["Tags"], {"team": "pay"})


if __name__ == "__main__":
    unittest.main()
