"""Per-request latencies of the traffic simulators (testbed/simulation.py, traffic.py).

A group's latencies are lognormal around its configured latency (the
median), so the share above a threshold T is 1 - Phi(ln(T / median) /
spread); they are drawn from a generator of their own. They are published
as Values/Counts within PutMetricData's 150 distinct values, rounded up so
that counts above a threshold on the grid stay exact. End to end,
`traffic.py` publishes one TargetResponseTime data point per request, and
`TC(T:)` read back from the emulator counts a slow target group's requests
above T.
"""

import argparse
import math
import os
import random
import signal
import subprocess
import sys
import time
import unittest
from datetime import datetime, timedelta, timezone
from statistics import NormalDist

from simulation import MAX_DISTINCT_VALUES, Latencies, value_counts
from traffic import dimension

from .emulator_process import CLIENT_ENV, EmulatorCase, TESTBED, aws_client


def share_above(threshold, median, spread):
    """The share of lognormal latencies (`median`, `spread`) above `threshold`."""
    return 1 - NormalDist().cdf(math.log(threshold / median) / spread)


class Distribution(unittest.TestCase):
    def test_the_share_above_a_threshold_follows_the_lognormal(self):
        draws = 40000
        for median, spread, threshold in ((0.05, 0.5, 0.1), (0.05, 0.5, 0.05), (200.0, 0.2, 300.0), (1.0, 1.0, 5.0)):
            with self.subTest(median=median, spread=spread, threshold=threshold):
                latencies = Latencies(random.Random(3), spread).draw(median, draws)
                expected = share_above(threshold, median, spread)
                observed = sum(latency > threshold for latency in latencies) / draws
                # Four standard errors of a share of 40000.
                self.assertAlmostEqual(observed, expected, delta=4 * math.sqrt(expected * (1 - expected) / draws))

    def test_without_spread_every_request_takes_the_median_and_nothing_is_drawn(self):
        rng = random.Random(4)
        state = rng.getstate()
        self.assertEqual(Latencies(rng, 0.0).draw(0.05, 3), [0.05, 0.05, 0.05])
        self.assertEqual(rng.getstate(), state)

    def test_a_seed_gives_the_same_latencies(self):
        def draws(seed):
            return Latencies.from_args(argparse.Namespace(seed=seed, latency_spread=0.5)).draw(0.05, 5)

        self.assertEqual(draws(1), draws(1))
        self.assertNotEqual(draws(1), draws(2))


class ValueCounts(unittest.TestCase):
    def test_samples_are_rounded_up_to_the_resolution(self):
        self.assertEqual(value_counts([0.0501, 0.05, 0.0512, 0.0509, 0.0001], 0.001),
                         {"Values": [0.001, 0.05, 0.051, 0.052], "Counts": [1, 1, 2, 1]})

    def test_many_distinct_values_get_a_coarser_step_that_keeps_threshold_counts(self):
        samples = Latencies(random.Random(5), 1.0).draw(0.1, 50000)
        published = value_counts(samples, 0.001)
        values, counts = published["Values"], published["Counts"]
        self.assertLessEqual(len(values), MAX_DISTINCT_VALUES)
        self.assertEqual(sum(counts), len(samples))
        step = values[1] - values[0]
        self.assertGreater(step, 0.001)
        for threshold in (0.1, 0.3, 1.0):
            with self.subTest(threshold=threshold):
                self.assertEqual(sum(c for v, c in zip(values, counts) if v > threshold),
                                 sum(sample > threshold for sample in samples))


class Flags(unittest.TestCase):
    def test_both_simulators_refuse_a_negative_spread(self):
        for script in ("traffic.py", "lambda_traffic.py"):
            with self.subTest(script):
                result = subprocess.run([sys.executable, f"{TESTBED}/{script}", "--latency-spread", "-1"],
                                        capture_output=True, text=True, timeout=30)
                self.assertEqual(result.returncode, 2)
                self.assertIn("argument --latency-spread: '-1' must be a number of at least 0", result.stderr)


class SlowRequestsEndToEnd(EmulatorCase):
    """traffic.py with a fast and a slow target group; TC(0.3:) of TargetResponseTime read back per group."""

    FAST, SLOW, SPREAD, THRESHOLD = 0.05, 0.2, 0.5, 0.3

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cw = aws_client("cloudwatch", cls.endpoint)
        elb = aws_client("elbv2", cls.endpoint)
        subnets = aws_client("ec2", cls.endpoint).describe_subnets(
            Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        by_zone = {subnet["AvailabilityZone"]: subnet for subnet in subnets}
        first, second = list(by_zone.values())[:2]
        balancer = elb.create_load_balancer(Name="shop", Subnets=[first["SubnetId"], second["SubnetId"]],
                                            Scheme="internet-facing", Type="application")["LoadBalancers"][0]
        cls.groups = {role: elb.create_target_group(Name=role, Protocol="HTTP", Port=80, VpcId=first["VpcId"],
                                                    TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
                      for role in ("fast", "slow")}
        cls.listener = elb.create_listener(
            LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": arn, "Weight": 50} for arn in cls.groups.values()]}}])["Listeners"][0]["ListenerArn"]
        cls.start = datetime.now(timezone.utc) - timedelta(minutes=1)

    def read(self, group, metric, stat):
        """`stat` of `metric` for target group `group` since the test began (one period), or None."""
        dimensions = [{"Name": "TargetGroup", "Value": dimension(self.groups[group], "TargetGroup")},
                      {"Name": "LoadBalancer", "Value": dimension(self.listener, "LoadBalancer")}]
        answer = self.cw.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {
                "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": dimensions},
                "Period": 3600, "Stat": stat}}],
            StartTime=self.start, EndTime=datetime.now(timezone.utc) + timedelta(minutes=1))
        values = answer["MetricDataResults"][0]["Values"]
        return values[0] if values else None

    def run_traffic(self, requests_per_group):
        """traffic.py until the slow group has had `requests_per_group` requests."""
        process = subprocess.Popen(
            [sys.executable, f"{TESTBED}/traffic.py", "--listener", self.listener, "--rate", "2000",
             "--interval", "0.5", "--seed", "6", "--latency-spread", str(self.SPREAD),
             "--group", f"{self.groups['fast']}=0:{self.FAST}", "--group", f"{self.groups['slow']}=0:{self.SLOW}"],
            env=dict(os.environ, **CLIENT_ENV, AWS_ENDPOINT_URL=self.endpoint),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while (self.read("slow", "RequestCount", "Sum") or 0) < requests_per_group:
                self.assertLess(time.monotonic(), deadline, "traffic.py published too little")
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 0, err)

    def test_the_trimmed_count_above_the_threshold_counts_the_slow_requests(self):
        self.run_traffic(2000)
        for group, median in (("fast", self.FAST), ("slow", self.SLOW)):
            with self.subTest(group):
                requests = self.read(group, "RequestCount", "Sum")
                self.assertEqual(self.read(group, "TargetResponseTime", "SampleCount"), requests,
                                 "one response time per request")
                slow = self.read(group, "TargetResponseTime", f"TC({self.THRESHOLD}:)")
                self.assertEqual(slow + self.read(group, "TargetResponseTime", f"TC(:{self.THRESHOLD})"), requests)
                expected = share_above(self.THRESHOLD, median, self.SPREAD)  # 0.21 for slow, 0.0002 for fast
                # Four standard errors, and a few requests more for the fast group's share of almost 0.
                self.assertAlmostEqual(slow / requests, expected,
                                       delta=4 * math.sqrt(expected * (1 - expected) / requests) + 0.002)


if __name__ == "__main__":
    unittest.main()
