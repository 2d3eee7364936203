"""A CloudWatch metric is its namespace, name and *set* of dimensions.

AWS: each unique combination of dimensions is a separate metric; the order
in which they are listed does not matter, and statistics can only be read for
the exact combination that was published (no subset, no superset, and no
dimensions reads only the metric published without dimensions). Checked on
both paths into the emulator: boto3 (Query/JSON) and RPCv2-CBOR (what
aws-sdk-cloudwatch sends, through the emulator's bridge).
"""

import unittest
from datetime import datetime, timedelta, timezone

from .emulator_process import EmulatorCase, aws_client, cbor_call, reset

A = {"Name": "Service", "Value": "checkout"}
B = {"Name": "Stage", "Value": "prod"}
C = {"Name": "Zone", "Value": "a"}


class CloudWatchDimensions(EmulatorCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cw = aws_client("cloudwatch", cls.endpoint)

    def setUp(self):
        reset(self.endpoint)
        self.now = datetime.now(timezone.utc).replace(microsecond=0)
        # One metric name, four metrics: {A,B}, {A}, {} in "App", {A,B} in "Other".
        self.cw.put_metric_data(Namespace="App", MetricData=[
            {"MetricName": "Errors", "Dimensions": [A, B], "Value": 5, "Timestamp": self.now},
            {"MetricName": "Errors", "Dimensions": [A, B], "Value": 1, "Timestamp": self.now},
            {"MetricName": "Errors", "Dimensions": [A], "Value": 7, "Timestamp": self.now},
            {"MetricName": "Errors", "Value": 11, "Timestamp": self.now},
        ])
        self.cw.put_metric_data(Namespace="Other", MetricData=[
            {"MetricName": "Errors", "Dimensions": [A, B], "Value": 100, "Timestamp": self.now},
        ])

    def window(self):
        return {"StartTime": self.now - timedelta(minutes=5), "EndTime": self.now + timedelta(minutes=5)}

    def metric_data(self, dimensions, namespace="App", stat="Sum"):
        answer = self.cw.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": "Errors", "Dimensions": dimensions},
                "Period": 600, "Stat": stat}}],
            **self.window())
        (result,) = answer["MetricDataResults"]
        return result["Values"]

    def statistics(self, dimensions):
        answer = self.cw.get_metric_statistics(
            Namespace="App", MetricName="Errors", Dimensions=dimensions, Period=600,
            Statistics=["Sum"], **self.window())
        return [point["Sum"] for point in answer["Datapoints"]]

    def test_dimensions_in_either_order_read_the_same_metric(self):
        self.assertEqual(self.metric_data([A, B]), [6.0])
        self.assertEqual(self.metric_data([B, A]), [6.0])

    def test_a_subset_or_superset_of_the_dimensions_is_another_metric(self):
        self.assertEqual(self.metric_data([A]), [7.0])   # the metric published with {A} only
        self.assertEqual(self.metric_data([B]), [])      # never published
        self.assertEqual(self.metric_data([A, B, C]), [])

    def test_no_dimensions_reads_only_the_metric_without_dimensions(self):
        self.assertEqual(self.metric_data([]), [11.0])

    def test_namespace_is_part_of_the_identity(self):
        self.assertEqual(self.metric_data([B, A], namespace="Other"), [100.0])
        self.assertEqual(self.metric_data([A], namespace="Other"), [])

    def test_get_metric_statistics_uses_the_same_identity(self):
        self.assertEqual(self.statistics([B, A]), [6.0])
        self.assertEqual(self.statistics([A]), [7.0])
        self.assertEqual(self.statistics([B]), [])
        self.assertEqual(self.statistics([]), [11.0])

    def test_return_data_false_and_expressions(self):
        answer = self.cw.get_metric_data(
            MetricDataQueries=[
                {"Id": "hidden", "ReturnData": False, "MetricStat": {
                    "Metric": {"Namespace": "App", "MetricName": "Errors", "Dimensions": [B, A]},
                    "Period": 600, "Stat": "Sum"}},
                {"Id": "shown", "Expression": "hidden", "Label": "copy"},
            ],
            **self.window())
        results = answer["MetricDataResults"]
        self.assertEqual([(r["Id"], r["Label"], r["Values"]) for r in results], [("shown", "copy", [6.0])])

    def test_list_metrics_lists_each_metric_once(self):
        metrics = self.cw.list_metrics(Namespace="App", MetricName="Errors")["Metrics"]
        sets = sorted(sorted((d["Name"], d["Value"]) for d in m.get("Dimensions", [])) for m in metrics)
        self.assertEqual(sets, [[], [("Service", "checkout")], [("Service", "checkout"), ("Stage", "prod")]])

    def cbor_get_metric_data(self, dimensions):
        """GetMetricData the way aws-sdk-cloudwatch sends it (RPCv2-CBOR)."""
        status, answer = cbor_call(self.endpoint, "GetMetricData", {
            "MetricDataQueries": [{"Id": "m", "MetricStat": {
                "Metric": {"Namespace": "App", "MetricName": "Errors", "Dimensions": dimensions},
                "Period": 600, "Stat": "Sum"}}],
            **self.window(),
        })
        self.assertEqual(status, 200)
        (result,) = answer["MetricDataResults"]
        return result.get("Values", [])

    def test_rpcv2_cbor_path_has_the_same_identity(self):
        self.assertEqual(self.cbor_get_metric_data([B, A]), [6.0])
        self.assertEqual(self.cbor_get_metric_data([A, B]), [6.0])
        self.assertEqual(self.cbor_get_metric_data([B]), [])
        self.assertEqual(self.cbor_get_metric_data([A, B, C]), [])


if __name__ == "__main__":
    unittest.main()
