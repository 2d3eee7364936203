"""AppConfig and AppConfigData as the AppConfig API reference and user guide document them
(`emulator_appconfig.py`), checked with boto3 against an emulator started with
`--appconfig-minute 1` (an AppConfig minute lasts one second).

Environments with monitors and their states; predefined and custom deployment strategies;
hosted configuration versions (Latest-Version-Number, feature flag validation); deployments
growing linearly and exponentially, baking, completing, one at a time per environment, stopped,
reverted and rolled back by an alarm; the data plane's sessions, tokens and the share of
sessions on a deploying version; the multi-variant flag evaluator.
"""

import json
import time
import urllib.request

import botocore.exceptions

from .emulator_process import EmulatorCase, aws_client, start_emulator

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/appconfig-alarms"
MINUTE = 1.0  # real seconds per AppConfig minute in these tests


def alarm_arn(name):
    return f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}"


class AppConfigCase(EmulatorCase):
    @classmethod
    def setUpClass(cls):
        # EmulatorCase starts an emulator without flags; this one needs the fast clock.
        super(EmulatorCase, cls).setUpClass()
        cls.endpoint, stop = start_emulator("--appconfig-minute", str(MINUTE))
        cls.addClassCleanup(stop)
        cls.ac = aws_client("appconfig", cls.endpoint)
        cls.data = aws_client("appconfigdata", cls.endpoint)
        cls.cw = aws_client("cloudwatch", cls.endpoint)

    def refused(self, call, status, code, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as caught:
            call(**kwargs)
        error = caught.exception.response
        self.assertEqual((error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]), (status, code),
                         error["Error"].get("Message"))
        self.assertTrue(error["Error"].get("Message"))
        return error

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.02)

    def app(self, name="app"):
        return self.ac.create_application(Name=name)["Id"]


class Environments(AppConfigCase):
    def test_create_get_update_list_delete(self):
        app = self.app()
        monitors = [{"AlarmArn": alarm_arn("errors"), "AlarmRoleArn": ROLE}]
        env = self.ac.create_environment(ApplicationId=app, Name="prod", Description="production",
                                         Monitors=monitors, Tags={"team": "a"})
        self.assertEqual((env["Name"], env["State"], env["Monitors"], env["ApplicationId"]),
                         ("prod", "READY_FOR_DEPLOYMENT", monitors, app))
        self.assertRegex(env["Id"], r"^[a-z0-9]{4,7}$")
        got = self.ac.get_environment(ApplicationId=app, EnvironmentId=env["Id"])
        self.assertEqual(got["Description"], "production")
        updated = self.ac.update_environment(ApplicationId=app, EnvironmentId=env["Id"], Monitors=[])
        self.assertEqual((updated["Monitors"], updated["Name"]), ([], "prod"))
        self.assertEqual([e["Id"] for e in self.ac.list_environments(ApplicationId=app)["Items"]], [env["Id"]])
        arn = f"arn:aws:appconfig:us-east-1:{ACCOUNT}:application/{app}/environment/{env['Id']}"
        self.assertEqual(self.ac.list_tags_for_resource(ResourceArn=arn)["Tags"], {"team": "a"})
        self.ac.delete_environment(ApplicationId=app, EnvironmentId=env["Id"])
        self.refused(self.ac.get_environment, 404, "ResourceNotFoundException", ApplicationId=app,
                     EnvironmentId=env["Id"])

    def test_errors(self):
        app = self.app()
        error = self.refused(self.ac.create_environment, 404, "ResourceNotFoundException", ApplicationId="nope123",
                             Name="x")
        self.assertEqual(error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"], "ResourceNotFoundException")
        self.refused(self.ac.create_environment, 400, "BadRequestException", ApplicationId=app, Name="x",
                     Monitors=[{"AlarmArn": "arn:aws:sns:us-east-1:123456789012:topic"}])
        self.refused(self.ac.get_environment, 404, "ResourceNotFoundException", ApplicationId=app,
                     EnvironmentId="nope123")


class Strategies(AppConfigCase):
    PREDEFINED = {  # id: (duration, bake, growth factor, growth type), per the user guide
        "AppConfig.Linear20PercentEvery6Minutes": (30, 30, 20.0, "LINEAR"),
        "AppConfig.Canary10Percent20Minutes": (20, 10, 10.0, "EXPONENTIAL"),
        "AppConfig.AllAtOnce": (0, 10, 100.0, "LINEAR"),
        "AppConfig.Linear50PercentEvery30Seconds": (1, 1, 50.0, "LINEAR"),
    }

    def test_predefined(self):
        for strategy_id, expected in self.PREDEFINED.items():
            s = self.ac.get_deployment_strategy(DeploymentStrategyId=strategy_id)
            self.assertEqual((s["Id"], s["Name"]), (strategy_id, strategy_id))
            self.assertEqual((s["DeploymentDurationInMinutes"], s["FinalBakeTimeInMinutes"], s["GrowthFactor"],
                              s["GrowthType"]), expected)
        listed = {s["Id"] for s in self.ac.list_deployment_strategies()["Items"]}
        self.assertTrue(set(self.PREDEFINED) <= listed)
        self.refused(self.ac.delete_deployment_strategy, 400, "BadRequestException",
                     DeploymentStrategyId="AppConfig.AllAtOnce")
        self.refused(self.ac.update_deployment_strategy, 400, "BadRequestException",
                     DeploymentStrategyId="AppConfig.AllAtOnce", FinalBakeTimeInMinutes=0)

    def test_custom_create_get_update_delete(self):
        created = self.ac.create_deployment_strategy(Name="expo", DeploymentDurationInMinutes=8,
                                                     FinalBakeTimeInMinutes=2, GrowthFactor=12.5,
                                                     GrowthType="EXPONENTIAL", ReplicateTo="NONE")
        got = self.ac.get_deployment_strategy(DeploymentStrategyId=created["Id"])
        self.assertEqual({k: got[k] for k in ("Name", "DeploymentDurationInMinutes", "FinalBakeTimeInMinutes",
                                              "GrowthFactor", "GrowthType", "ReplicateTo")},
                         {"Name": "expo", "DeploymentDurationInMinutes": 8, "FinalBakeTimeInMinutes": 2,
                          "GrowthFactor": 12.5, "GrowthType": "EXPONENTIAL", "ReplicateTo": "NONE"})
        updated = self.ac.update_deployment_strategy(DeploymentStrategyId=created["Id"], GrowthType="LINEAR")
        self.assertEqual((updated["GrowthType"], updated["GrowthFactor"]), ("LINEAR", 12.5))
        self.ac.delete_deployment_strategy(DeploymentStrategyId=created["Id"])
        self.refused(self.ac.get_deployment_strategy, 404, "ResourceNotFoundException",
                     DeploymentStrategyId=created["Id"])


def flags_doc(enabled=True, color="blue", variants=None):
    """A feature flag document with one flag `banner` and a `color` attribute limited to two values."""
    values = {"enabled": enabled, "color": color}
    if variants is not None:
        values["_variants"] = variants
    return {"version": "1",
            "flags": {"banner": {"name": "Banner", "attributes": {
                "color": {"constraints": {"type": "string", "enum": ["blue", "green"], "required": True}}}}},
            "values": {"banner": values}}


class HostedVersions(AppConfigCase):
    def profile(self, kind="AWS.AppConfig.FeatureFlags"):
        app = self.app()
        profile = self.ac.create_configuration_profile(ApplicationId=app, Name="flags", LocationUri="hosted",
                                                       Type=kind)
        return app, profile["Id"]

    def create(self, app, profile, doc, **kwargs):
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return self.ac.create_hosted_configuration_version(
            ApplicationId=app, ConfigurationProfileId=profile, Content=body,
            ContentType=kwargs.pop("ContentType", "application/json"), **kwargs)

    def test_latest_version_number_is_an_optimistic_lock(self):
        app, profile = self.profile()
        first = self.create(app, profile, flags_doc(), Description="first", VersionLabel="v1.0")
        self.assertEqual((first["VersionNumber"], first["Description"], first["VersionLabel"]), (1, "first", "v1.0"))
        self.assertEqual(json.loads(first["Content"].read()), flags_doc())
        second = self.create(app, profile, flags_doc(color="green"), LatestVersionNumber=1)
        self.assertEqual(second["VersionNumber"], 2)
        # Someone else wrote version 2 since we read version 1: refused, nothing written.
        self.refused(self.create, 409, "ConflictException", app=app, profile=profile, doc=flags_doc(),
                     LatestVersionNumber=1)
        listed = self.ac.list_hosted_configuration_versions(ApplicationId=app, ConfigurationProfileId=profile)
        self.assertEqual([v["VersionNumber"] for v in listed["Items"]], [2, 1])
        got = self.ac.get_hosted_configuration_version(ApplicationId=app, ConfigurationProfileId=profile,
                                                       VersionNumber=2)
        self.assertEqual((got["ContentType"], json.loads(got["Content"].read())["values"]["banner"]["color"]),
                         ("application/json", "green"))
        self.refused(self.ac.get_hosted_configuration_version, 404, "ResourceNotFoundException",
                     ApplicationId=app, ConfigurationProfileId=profile, VersionNumber=9)

    def test_feature_flag_documents_are_validated(self):
        app, profile = self.profile()
        cases = {
            "$.version": {"flags": {}, "values": {}},
            "$.values.banner.color": flags_doc(color="red"),  # not in the attribute's enum
            "$.values.ghost": {**flags_doc(), "values": {**flags_doc()["values"], "ghost": {"enabled": True}}},
            "$.values.banner._variants[0].rule": flags_doc(variants=[
                {"name": "beta", "enabled": True, "rule": "(eq $tier", "attributeValues": {"color": "green"}},
                {"name": "default", "enabled": False}]),
            "$.values.banner._variants[0].rule ": flags_doc(variants=[  # the rule-less default must be last
                {"name": "default", "enabled": False},
                {"name": "beta", "enabled": True, "rule": "(eq $tier \"beta\")", "attributeValues": {"color": "green"}}]),
        }
        for location, doc in cases.items():
            error = self.refused(self.create, 400, "BadRequestException", app=app, profile=profile, doc=doc)
            self.assertEqual(error["Reason"], "InvalidConfiguration")
            locations = [d["Location"] for d in error["Details"]["InvalidConfiguration"]]
            self.assertIn(location.strip(), locations)
        self.refused(self.create, 400, "BadRequestException", app=app, profile=profile, doc=b"{not json")
        self.refused(self.create, 400, "BadRequestException", app=app, profile=profile, doc=flags_doc(),
                     ContentType="text/plain")
        self.assertEqual(self.ac.list_hosted_configuration_versions(ApplicationId=app,
                                                                    ConfigurationProfileId=profile)["Items"], [])
        # A valid multi-variant flag is accepted; freeform profiles take any bytes.
        self.create(app, profile, flags_doc(variants=[
            {"name": "beta", "enabled": True, "rule": "(split pct::25 by::$userId)", "attributeValues": {"color": "green"}},
            {"name": "default", "enabled": False}]))
        app2, freeform = self.profile("AWS.Freeform")
        self.assertEqual(self.create(app2, freeform, b"\x00\x01 anything", ContentType="application/octet-stream")
                         ["VersionNumber"], 1)
