"""AppConfig and AppConfigData as the AppConfig API reference and user guide document them
(`emulator_appconfig.py`), checked with boto3 against an emulator started with
`--appconfig-minute 0.25` (an AppConfig minute lasts a quarter second).

Environments with monitors and their states; predefined and custom deployment strategies;
hosted configuration versions (Latest-Version-Number, feature flag validation); deployments
growing linearly and exponentially, baking, completing, one at a time per environment, stopped,
reverted and rolled back by an alarm; the data plane's sessions, tokens and the share of
sessions on a deploying version; the multi-variant flag evaluator.
"""

import json
import time
import unittest
import uuid
import urllib.request

import botocore.exceptions

from .emulator_process import aws_client, start_emulator

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/appconfig-alarms"
MINUTE = 0.25  # real seconds per AppConfig minute in these tests


def alarm_arn(name):
    return f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}"


ENDPOINT = None


def setUpModule():
    # One emulator with the fast clock for the whole module (every test makes its own
    # application, so they do not see each other); stopped after the last test.
    global ENDPOINT
    ENDPOINT, stop = start_emulator("--appconfig-minute", str(MINUTE))
    unittest.addModuleCleanup(stop)


class AppConfigCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.endpoint = ENDPOINT
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

    def app(self):
        """A new application with a name of its own (tests share the emulator)."""
        self.app_name = f"app-{uuid.uuid4().hex[:8]}"
        return self.ac.create_application(Name=self.app_name)["Id"]


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


class DeploymentCase(AppConfigCase):
    """An application with a feature flag profile holding two versions (blue, then green) and an
    environment; `deploy` starts a deployment of a version with a custom strategy."""

    def setUp(self):
        self.app_id = self.app()
        self.profile = self.ac.create_configuration_profile(ApplicationId=self.app_id, Name="flags",
                                                            LocationUri="hosted",
                                                            Type="AWS.AppConfig.FeatureFlags")["Id"]
        for color in ("blue", "green"):
            self.ac.create_hosted_configuration_version(
                ApplicationId=self.app_id, ConfigurationProfileId=self.profile,
                Content=json.dumps(flags_doc(color=color)).encode(), ContentType="application/json",
                VersionLabel=f"{color}-v")
        self.env = self.ac.create_environment(ApplicationId=self.app_id, Name="prod",
                                              Monitors=self.monitors())["Id"]

    def monitors(self):
        return []

    def strategy(self, duration, factor, growth="LINEAR", bake=0):
        return self.ac.create_deployment_strategy(Name=f"s{duration}-{factor}-{growth}-{bake}",
                                                  DeploymentDurationInMinutes=duration, GrowthFactor=factor,
                                                  GrowthType=growth, FinalBakeTimeInMinutes=bake)["Id"]

    def deploy(self, version, strategy, **kwargs):
        return self.ac.start_deployment(ApplicationId=self.app_id, EnvironmentId=self.env,
                                        DeploymentStrategyId=strategy, ConfigurationProfileId=self.profile,
                                        ConfigurationVersion=str(version), **kwargs)

    def get(self, number):
        return self.ac.get_deployment(ApplicationId=self.app_id, EnvironmentId=self.env, DeploymentNumber=number)

    def env_state(self):
        return self.ac.get_environment(ApplicationId=self.app_id, EnvironmentId=self.env)["State"]

    def wait_state(self, number, *states, timeout=10.0):
        return self.wait_for(lambda: (lambda d: d if d["State"] in states else None)(self.get(number)),
                             timeout, f"deployment {number} to be {states}")

    def offsets(self, deployment):
        """[(event type, description, minutes after StartedAt)], oldest first."""
        start = deployment["StartedAt"]
        return [(e["EventType"], e["Description"], (e["OccurredAt"] - start).total_seconds() / MINUTE)
                for e in reversed(deployment["EventLog"])]


class Deployments(DeploymentCase):
    def assert_schedule(self, deployment, percentages, minutes, bake):
        events = self.offsets(deployment)
        self.assertEqual(events[0][:2], ("DEPLOYMENT_STARTED", "Deployment started"))
        updates = [e for e in events if e[0] == "PERCENTAGE_UPDATED"]
        self.assertEqual([e[1] for e in updates], [f"Configuration available to {p:.2f}% of clients"
                                                   for p in percentages])
        for (_, _, at), expected in zip(updates, minutes):
            self.assertAlmostEqual(at, expected, delta=0.01)
        (bake_at,) = [at for kind, _, at in events if kind == "BAKE_TIME_STARTED"]
        (done_at,) = [at for kind, _, at in events if kind == "DEPLOYMENT_COMPLETED"]
        self.assertAlmostEqual(bake_at, minutes[-1], delta=0.01)
        self.assertAlmostEqual(done_at - bake_at, bake, delta=0.01)

    def test_linear_growth_then_final_bake_then_complete(self):
        # LINEAR, growth factor 25 over 4 minutes: 25% after 1 minute, 50, 75, 100% at 4 minutes;
        # then 2 minutes of bake; then COMPLETE.
        started = self.deploy(1, self.strategy(4, 25, bake=2))
        self.assertEqual((started["DeploymentNumber"], started["State"], started["PercentageComplete"],
                          started["ConfigurationVersion"], started["VersionLabel"]),
                         (1, "DEPLOYING", 0.0, "1", "blue-v"))
        self.assertEqual(self.env_state(), "DEPLOYING")
        seen = []
        while True:
            d = self.get(1)
            seen.append((d["State"], d["PercentageComplete"]))
            if d["State"] == "COMPLETE":
                break
            self.assertLess(len(seen), 2000)
            time.sleep(0.01)
        # What a poller sees: the percentage only grows, by steps of 25, then BAKING at 100.
        percentages = [p for _, p in seen]
        self.assertEqual(percentages, sorted(percentages))
        self.assertTrue(set(percentages) <= {0.0, 25.0, 50.0, 75.0, 100.0})
        self.assertTrue({s for s, p in seen if s == "BAKING"} and all(p == 100.0 for s, p in seen if s == "BAKING"))
        self.assert_schedule(d, [25, 50, 75, 100], [1, 2, 3, 4], bake=2)
        self.assertIsNotNone(d["CompletedAt"])
        self.assertEqual(self.env_state(), "READY_FOR_DEPLOYMENT")

    def test_exponential_growth(self):
        # EXPONENTIAL, growth factor 10 (G*2^N: 10, 20, 40, 80, then 100) over 10 minutes.
        self.deploy(1, self.strategy(10, 10, "EXPONENTIAL", bake=1))
        d = self.wait_state(1, "COMPLETE")
        self.assert_schedule(d, [10, 20, 40, 80, 100], [2, 4, 6, 8, 10], bake=1)
        self.assertEqual((d["GrowthType"], d["GrowthFactor"], d["DeploymentDurationInMinutes"],
                          d["FinalBakeTimeInMinutes"]), ("EXPONENTIAL", 10.0, 10, 1))

    def test_one_deployment_at_a_time_and_stop(self):
        slow = self.strategy(100, 50)
        self.deploy(1, slow)
        self.refused(self.deploy, 409, "ConflictException", version=2, strategy="AppConfig.AllAtOnce")
        stopped = self.ac.stop_deployment(ApplicationId=self.app_id, EnvironmentId=self.env, DeploymentNumber=1)
        self.assertEqual(stopped["ResponseMetadata"]["HTTPStatusCode"], 202)
        self.assertIn(stopped["State"], ("ROLLING_BACK", "ROLLED_BACK"))
        d = self.wait_state(1, "ROLLED_BACK")
        kinds = [(e["EventType"], e["TriggeredBy"]) for e in d["EventLog"]]
        self.assertEqual(kinds[:2], [("ROLLBACK_COMPLETED", "APPCONFIG"), ("ROLLBACK_STARTED", "USER")])
        self.assertEqual(self.env_state(), "ROLLED_BACK")
        self.refused(self.ac.stop_deployment, 400, "BadRequestException", ApplicationId=self.app_id,
                     EnvironmentId=self.env, DeploymentNumber=1)
        # Latest-deployment lock, then a deployment by label; ListDeployments newest first.
        self.refused(self.deploy, 409, "ConflictException", version=2, strategy=slow, LatestDeploymentNumber=7)
        second = self.deploy("green-v", self.strategy(0, 100), LatestDeploymentNumber=1)
        self.assertEqual((second["DeploymentNumber"], second["ConfigurationVersion"]), (2, "2"))
        self.assertEqual(self.wait_state(2, "COMPLETE")["PercentageComplete"], 100.0)
        listed = self.ac.list_deployments(ApplicationId=self.app_id, EnvironmentId=self.env)["Items"]
        self.assertEqual([(x["DeploymentNumber"], x["State"]) for x in listed], [(2, "COMPLETE"), (1, "ROLLED_BACK")])
        self.refused(self.get, 404, "ResourceNotFoundException", number=3)

    def test_stop_during_the_bake_needs_allow_revert(self):
        self.deploy(1, self.strategy(0, 100, bake=100))
        self.wait_state(1, "BAKING")
        self.refused(self.ac.stop_deployment, 400, "BadRequestException", ApplicationId=self.app_id,
                     EnvironmentId=self.env, DeploymentNumber=1)
        stopped = self.ac.stop_deployment(ApplicationId=self.app_id, EnvironmentId=self.env, DeploymentNumber=1,
                                          AllowRevert=True)
        self.assertIn(stopped["State"], ("ROLLING_BACK", "ROLLED_BACK"))
        self.wait_state(1, "ROLLED_BACK")

    def test_stop_complete_needs_allow_revert(self):
        instant = self.strategy(0, 100)
        self.deploy(1, instant)
        self.wait_state(1, "COMPLETE")
        self.deploy(2, instant)
        self.wait_state(2, "COMPLETE")
        self.refused(self.ac.stop_deployment, 400, "BadRequestException", ApplicationId=self.app_id,
                     EnvironmentId=self.env, DeploymentNumber=2)
        token = self.data.start_configuration_session(ApplicationIdentifier=self.app_id, EnvironmentIdentifier=self.env,
                                                      ConfigurationProfileIdentifier=self.profile)["InitialConfigurationToken"]
        answer = self.data.get_latest_configuration(ConfigurationToken=token)
        self.assertEqual(json.loads(answer["Configuration"].read())["banner"]["color"], "green")
        # Only the configuration in effect can be reverted.
        self.refused(self.ac.stop_deployment, 400, "BadRequestException", ApplicationId=self.app_id,
                     EnvironmentId=self.env, DeploymentNumber=1, AllowRevert=True)
        reverted = self.ac.stop_deployment(ApplicationId=self.app_id, EnvironmentId=self.env, DeploymentNumber=2,
                                           AllowRevert=True)
        self.assertEqual((reverted["State"], reverted["EventLog"][0]["EventType"]), ("REVERTED", "REVERT_COMPLETED"))
        self.assertEqual(self.env_state(), "REVERTED")
        answer = self.data.get_latest_configuration(ConfigurationToken=answer["NextPollConfigurationToken"])
        self.assertEqual(json.loads(answer["Configuration"].read())["banner"]["color"], "blue")


class AlarmRollback(DeploymentCase):
    ALARM = "appconfig-errors"

    def monitors(self):
        self.cw.put_metric_alarm(AlarmName=self.ALARM, MetricName="Errors", Namespace="App", Statistic="Sum",
                                 Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
        self.cw.set_alarm_state(AlarmName=self.ALARM, StateValue="OK", StateReason="test")
        return [{"AlarmArn": alarm_arn(self.ALARM), "AlarmRoleArn": ROLE}]

    def test_alarm_during_bake_rolls_back(self):
        self.deploy(1, self.strategy(0, 100))
        self.wait_state(1, "COMPLETE")
        self.deploy(2, self.strategy(2, 50, bake=200))
        self.wait_state(2, "BAKING")
        self.assertEqual(self.env_state(), "DEPLOYING")
        self.cw.set_alarm_state(AlarmName=self.ALARM, StateValue="ALARM", StateReason="test")
        d = self.wait_state(2, "ROLLED_BACK")
        started = next(e for e in d["EventLog"] if e["EventType"] == "ROLLBACK_STARTED")
        self.assertEqual(started["TriggeredBy"], "CLOUDWATCH_ALARM")
        self.assertIn(alarm_arn(self.ALARM), started["Description"])
        self.assertEqual(self.env_state(), "ROLLED_BACK")
        self.assertEqual(self.get(1)["State"], "COMPLETE")

    def test_alarm_while_deploying_rolls_back_and_clients_get_the_previous_version(self):
        self.deploy(1, self.strategy(0, 100))
        self.wait_state(1, "COMPLETE")
        data = aws_client("appconfigdata", self.endpoint)
        tokens = [data.start_configuration_session(ApplicationIdentifier=self.app_id, EnvironmentIdentifier=self.env,
                                                   ConfigurationProfileIdentifier=self.profile)
                  ["InitialConfigurationToken"] for _ in range(30)]
        tokens = [data.get_latest_configuration(ConfigurationToken=t)["NextPollConfigurationToken"] for t in tokens]
        self.deploy(2, self.strategy(24, 50))  # 50% after 12 minutes (3 s), 100% after 24
        self.wait_for(lambda: self.get(2)["PercentageComplete"] == 50.0, what="50%")
        got_green = []
        for i, token in enumerate(tokens):
            answer = data.get_latest_configuration(ConfigurationToken=token)
            tokens[i] = answer["NextPollConfigurationToken"]
            got_green.append(bool(answer["Configuration"].read()))
        self.assertTrue(any(got_green) and not all(got_green))
        # INSUFFICIENT_DATA rolls back as ALARM does ("Monitoring deployments for automatic rollback").
        self.cw.set_alarm_state(AlarmName=self.ALARM, StateValue="INSUFFICIENT_DATA", StateReason="test")
        self.wait_state(2, "ROLLED_BACK")
        for token, green in zip(tokens, got_green):
            body = data.get_latest_configuration(ConfigurationToken=token)["Configuration"].read()
            # The sessions that had green get blue back; the others already hold blue.
            self.assertEqual(json.loads(body)["banner"]["color"] if body else None, "blue" if green else None)


class DataPlane(DeploymentCase):
    def session(self, app=None, env=None, profile=None, **kwargs):
        return self.data.start_configuration_session(
            ApplicationIdentifier=app or self.app_id, EnvironmentIdentifier=env or self.env,
            ConfigurationProfileIdentifier=profile or self.profile, **kwargs)["InitialConfigurationToken"]

    def poll(self, token):
        answer = self.data.get_latest_configuration(ConfigurationToken=token)
        return answer, answer["Configuration"].read()

    def test_empty_body_when_unchanged_and_tokens_are_single_use(self):
        self.deploy("blue-v", self.strategy(0, 100))
        self.wait_state(1, "COMPLETE")
        token = self.session(app=self.app_name, env="prod", profile="flags")  # names work as well as ids
        answer, body = self.poll(token)
        # Feature flags arrive in the retrieval format: flag -> enabled and, when enabled, attributes.
        self.assertEqual(json.loads(body), {"banner": {"enabled": True, "color": "blue"}})
        self.assertEqual((answer["ContentType"], answer["VersionLabel"], answer["NextPollIntervalInSeconds"]),
                         ("application/json", "blue-v", 60))
        again, body = self.poll(answer["NextPollConfigurationToken"])
        self.assertEqual(body, b"")  # nothing changed since this session's last answer
        self.assertNotIn("VersionLabel", again)
        for stale, problem in ((token, "Expired"), ("bm9wZQ", "Corrupted")):
            error = self.refused(self.data.get_latest_configuration, 400, "BadRequestException",
                                 ConfigurationToken=stale)
            self.assertEqual((error["Reason"], error["Details"]), (
                "InvalidParameters", {"InvalidParameters": {"ConfigurationToken": {"Problem": problem}}}))
        error = self.refused(self.session, 404, "ResourceNotFoundException", env="staging")
        self.assertEqual(error["ResourceType"], "Environment")
        # RequiredMinimumPollIntervalInSeconds: 15 s, here 15/60 AppConfig minutes.
        answer, _ = self.poll(self.session(RequiredMinimumPollIntervalInSeconds=15))
        self.assertEqual(answer["NextPollIntervalInSeconds"], 15)
        error = self.refused(self.data.get_latest_configuration, 400, "BadRequestException",
                             ConfigurationToken=answer["NextPollConfigurationToken"])
        self.assertEqual(error["Details"]["InvalidParameters"]["ConfigurationToken"]["Problem"],
                         "PollIntervalNotSatisfied")
        time.sleep(15 / 60 * MINUTE + 0.05)
        self.assertEqual(self.poll(answer["NextPollConfigurationToken"])[1], b"")

    def test_share_of_sessions_on_the_new_version_tracks_the_percentage(self):
        self.deploy(1, self.strategy(0, 100))
        self.wait_state(1, "COMPLETE")
        tokens = [self.session() for _ in range(120)]
        tokens = [self.poll(t)[0]["NextPollConfigurationToken"] for t in tokens]  # everyone holds blue
        self.deploy(2, self.strategy(32, 50))  # 50% after 16 minutes (4 s), 100% after 32
        self.wait_for(lambda: self.get(2)["PercentageComplete"] == 50.0, what="50%")
        colors, next_tokens = [], []
        for token in tokens:
            answer, body = self.poll(token)
            colors.append(json.loads(body)["banner"]["color"] if body else "unchanged")
            next_tokens.append(answer["NextPollConfigurationToken"])
        self.assertEqual(self.get(2)["PercentageComplete"], 50.0, "the batch took too long")
        self.assertEqual(set(colors), {"green", "unchanged"})
        share = colors.count("green") / len(colors)
        self.assertAlmostEqual(share, 0.5, delta=0.15)
        self.wait_state(2, "COMPLETE")
        # After COMPLETE everyone has green; those that had it already get an empty body (sticky).
        for token, before in zip(next_tokens, colors):
            body = self.poll(token)[1]
            self.assertEqual(json.loads(body)["banner"]["color"] if body else "unchanged",
                             "unchanged" if before == "green" else "green")


def variants_doc():
    """A multi-variant flag: QA testers, then 20% of users by a seedless split, then 25% by the
    same (so 5% more), then the disabled default."""
    return {"version": "1",
            "flags": {"checkout": {"attributes": {"layout": {"constraints": {"type": "string"}}}},
                      "banner": {}},
            "values": {"banner": {"enabled": True}, "checkout": {"_variants": [
                {"name": "qa", "enabled": True, "rule": '(ends_with $email "@qa.example.org")',
                 "attributeValues": {"layout": "qa"}},
                {"name": "a", "enabled": True, "rule": "(split by::$userId pct::20)", "attributeValues": {"layout": "a"}},
                {"name": "b", "enabled": True, "rule": "(split by::$userId pct::25)", "attributeValues": {"layout": "b"}},
                {"name": "default", "enabled": False}]}}}


class VariantEvaluation(DeploymentCase):
    def test_split_rules_give_the_expected_shares_deterministically(self):
        from emulator_appconfig import evaluate_flag

        doc = variants_doc()
        users = 20000
        chosen = [evaluate_flag(doc, "checkout", {"userId": f"user-{i}"}).variant for i in range(users)]
        # "Understanding the split operator": A 20%, B 25% of all minus those A took = 5%, the rest default.
        for name, share in (("a", 0.20), ("b", 0.05), ("default", 0.75)):
            self.assertAlmostEqual(chosen.count(name) / users, share, delta=4 * (share * (1 - share) / users) ** 0.5)
        self.assertEqual(chosen, [evaluate_flag(doc, "checkout", {"userId": f"user-{i}"}).variant
                                  for i in range(users)])
        # With different seeds the rules are independent: B takes 25% of the 80% A leaves.
        seeded = variants_doc()
        rules = seeded["values"]["checkout"]["_variants"]
        rules[1]["rule"] = '(split by::$userId pct::20 seed::"one")'
        rules[2]["rule"] = '(split by::$userId pct::25 seed::"two")'
        b = sum(evaluate_flag(seeded, "checkout", {"userId": f"user-{i}"}).variant == "b" for i in range(users))
        self.assertAlmostEqual(b / users, 0.20, delta=0.02)
        self.assertEqual(evaluate_flag(doc, "checkout", {"email": "x@qa.example.org", "userId": "u"}),
                         (True, "qa", {"layout": "qa"}))
        self.assertEqual(evaluate_flag(doc, "checkout", {}), (False, "default", {}))
        self.assertEqual(evaluate_flag(doc, "banner", {}), (True, None, {}))

    def test_deployed_variants_reach_the_agent_as_ion_and_sdk_callers_as_the_default(self):
        from emulator_appconfig import evaluate_flag

        version = self.ac.create_hosted_configuration_version(
            ApplicationId=self.app_id, ConfigurationProfileId=self.profile,
            Content=json.dumps(variants_doc()).encode(), ContentType="application/json")["VersionNumber"]
        self.deploy(version, self.strategy(0, 100))
        self.wait_state(1, "COMPLETE")
        plain = aws_client("appconfigdata", self.endpoint)
        token = plain.start_configuration_session(ApplicationIdentifier=self.app_id, EnvironmentIdentifier=self.env,
                                                  ConfigurationProfileIdentifier=self.profile)["InitialConfigurationToken"]
        self.assertEqual(json.loads(plain.get_latest_configuration(ConfigurationToken=token)["Configuration"].read()),
                         {"checkout": {"enabled": False}, "banner": {"enabled": True}})
        # The agent asks for Ion and gets the variants and rules, to evaluate itself.
        token = plain.start_configuration_session(ApplicationIdentifier=self.app_id, EnvironmentIdentifier=self.env,
                                                  ConfigurationProfileIdentifier=self.profile)["InitialConfigurationToken"]
        request = urllib.request.Request(f"{self.endpoint}/configuration?configuration_token={token}", headers={
            "Accept": "application/ion;type=AWS.AppConfig.FeatureFlags",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/appconfig/aws4_request, "
                             "SignedHeaders=host, Signature=0"})
        with urllib.request.urlopen(request, timeout=10) as response:
            self.assertEqual(response.headers["Content-Type"], "application/ion;type=AWS.AppConfig.FeatureFlags")
            ion = response.read()
        for i in range(300):
            context = {"userId": f"user-{i}"}
            self.assertEqual(evaluate_flag(ion, "checkout", context), evaluate_flag(variants_doc(), "checkout", context))
        # The same evaluator over HTTP, for simulators in other languages.
        request = urllib.request.Request(f"{self.endpoint}/_appconfig/evaluate", method="POST", data=json.dumps(
            {"document": ion.decode(), "context": {"email": "x@qa.example.org"}}).encode())
        with urllib.request.urlopen(request, timeout=10) as response:
            self.assertEqual(json.loads(response.read()), {"flags": {
                "checkout": {"_variant": "qa", "enabled": True, "layout": "qa"}, "banner": {"enabled": True}}})
