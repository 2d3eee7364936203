"""The Lambda traffic simulator publishes what Lambda documents for alias invocations.

AWS/Lambda metrics Invocations, Errors, Duration (one data point per
invocation, half of them at most the version's duration); dimension sets
{FunctionName, Resource=<function>:<alias>, ExecutedVersion},
{FunctionName, Resource}, {FunctionName} (and none); invocations split
between the alias's versions by its weights; Errors published with zero
values (per-invocation 0/1), nothing for a version without invocations.
"""

import signal
import time
import unittest
from datetime import datetime, timedelta, timezone

from . import lambda_alias_fixture


class LambdaTraffic(lambda_alias_fixture.ShopAlias):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start = datetime.now(timezone.utc) - timedelta(minutes=1)

    def run_bounded(self, *args):
        process = self.simulator(*args)
        out, err = process.communicate(timeout=60)
        self.assertEqual(process.returncode, 0, err)
        self.assertTrue(out.startswith("lambda_traffic: running"), out)

    def read(self, metric, dimensions, stat="Sum"):
        answer = self.cw.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dimensions},
                "Period": 3600, "Stat": stat}}],
            StartTime=self.start, EndTime=datetime.now(timezone.utc) + timedelta(minutes=1))
        values = answer["MetricDataResults"][0]["Values"]
        return values[0] if values else None

    @staticmethod
    def dims(version=None, resource=True):
        out = [{"Name": "FunctionName", "Value": "shop"}]
        if resource:
            out.append({"Name": "Resource", "Value": "shop:live"})
        if version:
            out.append({"Name": "ExecutedVersion", "Value": version})
        return out

    def test_1_metrics_follow_the_weights(self):
        self.run_bounded("--version", "1=0.0:40", "--version", "2=0.2:80",
                         "--rate", "2000", "--interval", "0.5", "--intervals", "4", "--seed", "7")
        v1 = self.read("Invocations", self.dims("1"))
        v2 = self.read("Invocations", self.dims("2"))
        total = v1 + v2
        self.assertGreater(total, 3000)
        self.assertAlmostEqual(v2 / total, 0.25, delta=0.03)
        # The aggregates over both versions; dimension order does not matter.
        self.assertEqual(self.read("Invocations", self.dims()), total)
        self.assertEqual(self.read("Invocations", list(reversed(self.dims()))), total)
        self.assertEqual(self.read("Invocations", self.dims(resource=False)), total)
        self.assertEqual(self.read("Invocations", []), total)
        # Errors: zero values for the healthy version, its rate for the other.
        self.assertEqual(self.read("Errors", self.dims("1")), 0.0)
        self.assertEqual(self.read("Errors", self.dims("1"), "SampleCount"), v1)
        self.assertAlmostEqual(self.read("Errors", self.dims("2"), "Average"), 0.2, delta=0.05)
        self.assertEqual(self.read("Errors", self.dims()),
                         self.read("Errors", self.dims("2")))
        # Duration in milliseconds, one data point per invocation, each version's duration its median.
        self.assertEqual(self.read("Duration", self.dims("1"), "SampleCount"), v1)
        self.assertAlmostEqual(self.read("Duration", self.dims("1"), "PR(:40)"), 50, delta=5)
        self.assertAlmostEqual(self.read("Duration", self.dims("2"), "PR(:80)"), 50, delta=5)
        self.assertGreaterEqual(self.read("Duration", self.dims("2"), "Minimum"), 1.0)

    def test_2_routing_changes_are_followed(self):
        before = self.read("Invocations", self.dims("2")) or 0.0
        self.lam.update_alias(FunctionName="shop", Name="live", FunctionVersion="1", RoutingConfig={})
        self.run_bounded("--rate", "500", "--interval", "0.2", "--intervals", "3")
        self.assertEqual(self.read("Invocations", self.dims("2")) or 0.0, before)
        self.lam.update_alias(FunctionName="shop", Name="live", FunctionVersion="2")
        self.run_bounded("--rate", "500", "--interval", "0.2", "--intervals", "3")
        self.assertGreater(self.read("Invocations", self.dims("2")), before)

    def test_stops_on_sigterm_and_on_stdin_eof(self):
        for how in ("sigterm", "eof"):
            process = self.simulator("--rate", "10", "--interval", "0.2", "--exit-on-stdin-eof")
            self.assertEqual(process.stdout.readline(), "lambda_traffic: running\n")
            if how == "sigterm":
                process.send_signal(signal.SIGTERM)
            else:
                process.stdin.close()
            started = time.monotonic()
            self.assertEqual(process.wait(timeout=10), 0, how)
            self.assertLess(time.monotonic() - started, 5)
            process.stdout.close()
            process.stderr.close()
            if process.stdin and not process.stdin.closed:
                process.stdin.close()

    def test_refuses_a_non_loopback_endpoint(self):
        process = self.simulator("--intervals", "1", endpoint="http://192.0.2.1:4566")
        out, err = process.communicate(timeout=30)
        self.assertNotEqual(process.returncode, 0)
        self.assertIn("only talks to a local emulator", err)


if __name__ == "__main__":
    unittest.main()
