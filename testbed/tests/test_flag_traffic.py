"""The flag traffic simulator evaluates the deployed flag per user, as AppConfig Agent would.

Requests and Errors (Sum) in the namespace given, by Variant `on` and
`off`; the users on each side as the deployed document's split rule
decides; each side's errors at its rate; nothing on a side without
requests.
"""

import json
import os
import subprocess
import sys
import time
import unittest
from datetime import datetime, timedelta, timezone

from .emulator_process import aws_client, start_emulator

HERE = os.path.dirname(os.path.abspath(__file__))
SIMULATOR = os.path.join(os.path.dirname(HERE), "flag_traffic.py")


class FlagTraffic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.endpoint, stop = start_emulator("--appconfig-minute", "0.25")
        cls.addClassCleanup(stop)
        ac = aws_client("appconfig", cls.endpoint)
        cls.cw = aws_client("cloudwatch", cls.endpoint)
        cls.app = ac.create_application(Name="shop")["Id"]
        cls.profile = ac.create_configuration_profile(ApplicationId=cls.app, Name="flags", LocationUri="hosted",
                                                      Type="AWS.AppConfig.FeatureFlags")["Id"]
        cls.env = ac.create_environment(ApplicationId=cls.app, Name="prod")["Id"]
        strategy = ac.create_deployment_strategy(Name="now", DeploymentDurationInMinutes=0, FinalBakeTimeInMinutes=0,
                                                 GrowthFactor=100, GrowthType="LINEAR", ReplicateTo="NONE")["Id"]
        document = {"version": "1", "flags": {"checkout_v2": {"name": "Checkout"}},
                    "values": {"checkout_v2": {"_variants": [
                        {"name": "new", "enabled": True, "rule": "(split pct::30 by::$userId)"},
                        {"name": "old", "enabled": False}]}}}
        version = ac.create_hosted_configuration_version(ApplicationId=cls.app, ConfigurationProfileId=cls.profile,
                                                         Content=json.dumps(document).encode(),
                                                         ContentType="application/json")["VersionNumber"]
        number = ac.start_deployment(ApplicationId=cls.app, EnvironmentId=cls.env, DeploymentStrategyId=strategy,
                                     ConfigurationProfileId=cls.profile,
                                     ConfigurationVersion=str(version))["DeploymentNumber"]
        deadline = time.monotonic() + 10
        while ac.get_deployment(ApplicationId=cls.app, EnvironmentId=cls.env, DeploymentNumber=number)["State"] != "COMPLETE":
            if time.monotonic() > deadline:
                raise AssertionError("the deployment never completed")
            time.sleep(0.05)
        cls.start = datetime.now(timezone.utc) - timedelta(minutes=1)

    def read(self, metric, variant):
        answer = self.cw.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {
                "Metric": {"Namespace": "Shop", "MetricName": metric, "Dimensions": [{"Name": "Variant", "Value": variant}]},
                "Period": 3600, "Stat": "Sum"}}],
            StartTime=self.start, EndTime=datetime.now(timezone.utc) + timedelta(minutes=1))
        values = answer["MetricDataResults"][0]["Values"]
        return values[0] if values else 0.0

    def test_users_split_by_the_rule_and_errors_by_side(self):
        env = dict(os.environ, AWS_ENDPOINT_URL=self.endpoint, AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        process = subprocess.run(
            [sys.executable, SIMULATOR, "--application", self.app, "--environment", self.env, "--profile", self.profile,
             "--flag", "checkout_v2", "--rate", "2000", "--interval", "0.5", "--intervals", "3", "--hosts", "3",
             "--on-error-rate", "0.2", "--off-error-rate", "0.01", "--seed", "7"],
            env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(process.returncode, 0, process.stderr)
        self.assertTrue(process.stdout.startswith("flag_traffic: running"), process.stdout)
        on, off = self.read("Requests", "on"), self.read("Requests", "off")
        self.assertGreater(on + off, 2000)
        self.assertAlmostEqual(on / (on + off), 0.30, delta=0.05)
        self.assertAlmostEqual(self.read("Errors", "on") / on, 0.20, delta=0.05)
        self.assertAlmostEqual(self.read("Errors", "off") / off, 0.01, delta=0.01)


if __name__ == "__main__":
    unittest.main()
