"""Trimmed count TC(X:Y) and percentile rank PR(X:Y) in GetMetricData, as CloudWatch documents them.

A data point counts when X < value <= Y (exclusive lower, inclusive upper
bound; either may be left out); TC is the number of such data points, PR
their percentage of the period's data points. A datum's Values/Counts are
`count` data points of each value, a plain Value one; a statistic set counts
only when it is SampleCount copies of one value, and a period holding one
that is not (or a negative value) has no data point. Only the exact metric
(namespace, name, dimension set) counts; a period without data has no data
point. Statistics the emulator does not compute are refused.
"""

import unittest
from datetime import datetime, timedelta, timezone

import botocore.exceptions

from .emulator_process import EmulatorCase, aws_client, cbor_call, reset

SERVICE = {"Name": "Service", "Value": "checkout"}
STAGE = {"Name": "Stage", "Value": "prod"}
PERIOD = 60


class ExtendedStatistics(EmulatorCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cw = aws_client("cloudwatch", cls.endpoint)

    def setUp(self):
        reset(self.endpoint)
        # Three periods from `start`: the first and the third have data, the second none.
        self.start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=10)
        self.first, self.third = self.start + timedelta(seconds=10), self.start + timedelta(seconds=2 * PERIOD + 10)

    def put(self, timestamp, dimensions=(SERVICE,), namespace="App", name="Latency", **datum):
        self.cw.put_metric_data(Namespace=namespace, MetricData=[
            {"MetricName": name, "Dimensions": list(dimensions), "Timestamp": timestamp, **datum}])

    def put_latencies(self):
        """Period 1: 0.1 ×4, 0.2 ×3, 0.3 ×3 (two as Values/Counts, one as Value), 0.5 ×1. Period 3: 0.05 ×9, 0.8 ×1."""
        self.put(self.first, Values=[0.1, 0.2, 0.3, 0.5], Counts=[4, 3, 2, 1])
        self.put(self.first, Value=0.3)
        self.put(self.third, Values=[0.05, 0.8], Counts=[9, 1])
        # The same name with other dimensions, in another namespace, or another name: never counted.
        self.put(self.first, dimensions=(SERVICE, STAGE), Values=[0.4, 0.9], Counts=[100, 100])
        self.put(self.first, dimensions=(), Values=[0.4, 0.9], Counts=[100, 100])
        self.put(self.first, namespace="Other", Values=[0.4, 0.9], Counts=[100, 100])
        self.put(self.first, name="Other", Values=[0.4, 0.9], Counts=[100, 100])

    def by_period(self, stat, dimensions=(SERVICE,)):
        """{period number from `start`: value} of `stat` over the three periods."""
        answer = self.cw.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {
                "Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": list(dimensions)},
                "Period": PERIOD, "Stat": stat}}],
            StartTime=self.start, EndTime=self.start + timedelta(seconds=3 * PERIOD))
        (result,) = answer["MetricDataResults"]
        return {round((t - self.start).total_seconds()) // PERIOD + 1: v
                for t, v in zip(result["Timestamps"], result["Values"])}

    def test_trimmed_count_excludes_the_lower_bound_and_includes_the_upper(self):
        self.put_latencies()
        self.assertEqual(self.by_period("SampleCount"), {1: 11.0, 3: 10.0})
        self.assertEqual(self.by_period("TC(0.2:0.3)"), {1: 3.0, 3: 0.0})
        self.assertEqual(self.by_period("TC(0.1:0.5)"), {1: 7.0, 3: 0.0})
        self.assertEqual(self.by_period("TC(0.05:0.8)"), {1: 11.0, 3: 1.0})

    def test_open_ends(self):
        self.put_latencies()
        self.assertEqual(self.by_period("TC(:0.2)"), {1: 7.0, 3: 9.0})
        self.assertEqual(self.by_period("TC(0.2:)"), {1: 4.0, 3: 1.0})
        self.assertEqual(self.by_period("TC(0.5:)"), {1: 0.0, 3: 1.0})
        self.assertEqual(self.by_period("TC(:.05)"), {1: 0.0, 3: 9.0})

    def test_percentile_rank_is_the_percentage_in_the_range(self):
        self.put_latencies()
        for stat, expected in (("PR(:0.2)", {1: 700 / 11, 3: 90.0}),
                               ("PR(0.3:)", {1: 100 / 11, 3: 10.0}),
                               ("PR(0.2:0.3)", {1: 300 / 11, 3: 0.0})):
            with self.subTest(stat):
                answer = self.by_period(stat)
                self.assertEqual(answer.keys(), expected.keys())
                for period, value in expected.items():
                    self.assertAlmostEqual(answer[period], value)

    def test_only_the_exact_metric_counts(self):
        self.put_latencies()
        self.assertEqual(self.by_period("TC(0.3:)", dimensions=(STAGE, SERVICE)), {1: 200.0})
        self.assertEqual(self.by_period("TC(0.3:)", dimensions=()), {1: 200.0})
        self.assertEqual(self.by_period("TC(0.3:)", dimensions=(STAGE,)), {})

    def test_statistic_sets_count_only_as_copies_of_one_value(self):
        # Period 1: four 0.3s and one 0.7 as statistic sets that allow it, and 0.1, 0.5 as values.
        self.put(self.first, StatisticValues={"SampleCount": 4, "Sum": 1.2, "Minimum": 0.3, "Maximum": 0.3})
        self.put(self.first, StatisticValues={"SampleCount": 1, "Sum": 0.7, "Minimum": 0.7, "Maximum": 0.7})
        self.put(self.first, Values=[0.1, 0.5])
        # Period 3: values, and a statistic set of different values.
        self.put(self.third, Values=[0.1, 0.5])
        self.put(self.third, StatisticValues={"SampleCount": 2, "Sum": 0.6, "Minimum": 0.1, "Maximum": 0.5})
        self.assertEqual(self.by_period("TC(0.2:)"), {1: 6.0})
        self.assertEqual(self.by_period("PR(:0.3)"), {1: 500 / 7})
        self.assertEqual(self.by_period("Sum"), {1: 2.5, 3: 1.2}, "the other statistics still see period 3")

    def test_a_negative_value_leaves_the_period_without_a_data_point(self):
        self.put(self.first, Values=[-0.1, 0.5])
        self.put(self.third, Values=[0.1, 0.5])
        self.assertEqual(self.by_period("TC(0.2:)"), {3: 1.0})
        self.assertEqual(self.by_period("SampleCount"), {1: 2.0, 3: 2.0})

    def test_expressions_see_the_same_data_points(self):
        self.put_latencies()
        self.put(self.third, StatisticValues={"SampleCount": 2, "Sum": 0.6, "Minimum": 0.1, "Maximum": 0.5})
        answer = self.cw.get_metric_data(
            MetricDataQueries=[
                {"Id": "slow", "ReturnData": False, "MetricStat": {
                    "Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": [SERVICE]},
                    "Period": PERIOD, "Stat": "TC(0.2:)"}},
                {"Id": "copy", "Expression": "slow"},
            ],
            StartTime=self.start, EndTime=self.start + timedelta(seconds=3 * PERIOD))
        (result,) = answer["MetricDataResults"]
        self.assertEqual((result["Id"], result["Values"]), ("copy", [4.0]))

    def test_other_statistics_are_refused(self):
        self.put_latencies()
        for stat in ("p99", "tc90", "TC(10%:90%)", "TM(0.1:0.5)", "tc(0.1:0.5)", "TC(:)", "TC(a:b)"):
            with self.subTest(stat), self.assertRaises(botocore.exceptions.ClientError) as refused:
                self.by_period(stat)
            error = refused.exception.response["Error"]
            self.assertEqual(error["Code"], "InvalidParameterValue")
            self.assertIn(f"The statistic {stat} is not computed by this emulator", error["Message"])

    def test_rpcv2_cbor_path_gives_the_same_answer(self):
        self.put_latencies()
        status, answer = cbor_call(self.endpoint, "GetMetricData", {
            "MetricDataQueries": [{"Id": "m", "MetricStat": {
                "Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": [SERVICE]},
                "Period": PERIOD, "Stat": "PR(:0.2)"}}],
            "StartTime": self.start, "EndTime": self.start + timedelta(seconds=3 * PERIOD),
            "ScanBy": "TimestampAscending",
        })
        self.assertEqual(status, 200, answer)
        (result,) = answer["MetricDataResults"]
        self.assertEqual(result["Values"], [700 / 11, 90.0])


if __name__ == "__main__":
    unittest.main()
