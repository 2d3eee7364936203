"""`testbed/fault_proxy.py` in front of the emulator, with boto3: each fault
for each protocol the provider uses (ELBv2 Query, CloudWatch RPCv2-CBOR,
Lambda rest-json, Route 53 rest-xml), scopes, the statistics, and recovery
with the SDK's standard retries."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import botocore.exceptions
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from .emulator_process import FAULT_PROXY, EmulatorCase, aws_client, code_zip, start_fault_proxy

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
SERVICES = ("elbv2", "cloudwatch", "lambda", "route53")

# A read of each service through the proxy, and the operation it is counted as.
READS = {
    "elbv2": ("DescribeLoadBalancers", lambda client: client.describe_load_balancers()),
    "cloudwatch": ("DescribeAlarms", lambda client: client.describe_alarms()),
    "lambda": ("ListFunctions", lambda client: client.list_functions()),
    "route53": ("ListHostedZones", lambda client: client.list_hosted_zones()),
}

THROTTLING = {  # (HTTP status, error code) AWS documents
    "elbv2": (400, "Throttling"),
    "cloudwatch": (400, "Throttling"),
    "lambda": (429, "TooManyRequestsException"),
    "route53": (400, "Throttling"),
}


def _create(service: str, client, name: str) -> None:
    """A write through `client` that leaves `name` behind."""
    if service == "elbv2":
        client.create_target_group(Name=name, TargetType="lambda")
    elif service == "cloudwatch":
        client.put_metric_alarm(AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanThreshold")
    elif service == "lambda":
        client.create_alias(FunctionName="fn", Name=name, FunctionVersion="$LATEST")
    else:
        client.create_hosted_zone(Name=f"{name}.example.com", CallerReference=name)


def _exists(service: str, client, name: str) -> bool:
    """Whether `name` was created, asked through `client`."""
    if service == "elbv2":
        return name in [g["TargetGroupName"] for g in client.describe_target_groups()["TargetGroups"]]
    if service == "cloudwatch":
        return bool(client.describe_alarms(AlarmNames=[name])["MetricAlarms"])
    if service == "lambda":
        return name in [a["Name"] for a in client.list_aliases(FunctionName="fn")["Aliases"]]
    return f"{name}.example.com." in [z["Name"] for z in client.list_hosted_zones()["HostedZones"]]


class FaultProxy(EmulatorCase):
    names = itertools.count(1)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.proxy, stop = start_fault_proxy(cls.endpoint)
        cls.addClassCleanup(stop)
        aws_client("iam", cls.endpoint).create_role(RoleName="lambda-role", AssumeRolePolicyDocument="{}")
        aws_client("lambda", cls.endpoint).create_function(
            FunctionName="fn", Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"ZipFile": code_zip("def handler(e, c):\n    return 1\n")})

    def setUp(self):
        self.set_faults()
        self._control("DELETE", "stats")

    def _control(self, method: str, path: str, value=None) -> dict:
        data = None if value is None else json.dumps(value).encode()
        request = urllib.request.Request(f"{self.proxy}/_fault_proxy/{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def set_faults(self, *faults: str, **options) -> None:
        self._control("PUT", "faults", {"faults": list(faults), **options})

    def stats(self) -> dict:
        return self._control("GET", "stats")

    def client(self, service: str, retries: dict | None = None):
        """A client of the proxy; by default it sends each request once, so
        every fault reaches the test."""
        return aws_client(service, self.proxy, retries=retries or {"total_max_attempts": 1})

    def name(self) -> str:
        return f"fault{next(self.names)}"

    def test_throttle_is_the_services_throttling_error(self):
        self.set_faults("*=throttle:1")
        for service in SERVICES:
            with self.subTest(service), self.assertRaises(botocore.exceptions.ClientError) as caught:
                READS[service][1](self.client(service))
            response = caught.exception.response
            status, code = THROTTLING[service]
            self.assertEqual((response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]),
                             (status, code))
            context = RetryContext(attempt_number=1, parsed_response=response)
            self.assertTrue(ThrottledRetryableChecker().is_retryable(context), "botocore: not throttling")
            if service == "lambda":
                self.assertEqual(response["retryAfterSeconds"], "1")

    def test_unavailable_is_a_503(self):
        self.set_faults("*=unavailable:1")
        for service in SERVICES:
            with self.subTest(service), self.assertRaises(botocore.exceptions.ClientError) as caught:
                READS[service][1](self.client(service))
            response = caught.exception.response
            self.assertEqual((response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]),
                             (503, "ServiceUnavailable"))

    def test_reset_closes_the_connection_before_the_write(self):
        self.set_faults("*=reset:1")
        for service in SERVICES:
            with self.subTest(service):
                name = self.name()
                with self.assertRaises(botocore.exceptions.ConnectionClosedError):
                    _create(service, self.client(service), name)
                self.assertFalse(_exists(service, aws_client(service, self.endpoint), name))

    def test_late_makes_the_write_upstream_but_the_client_sees_a_failure(self):
        self.set_faults("*=late:1")
        for service in SERVICES:
            with self.subTest(service):
                name = self.name()
                with self.assertRaises(botocore.exceptions.ConnectionClosedError):
                    _create(service, self.client(service), name)
                self.assertTrue(_exists(service, aws_client(service, self.endpoint), name))

    def test_slow_answers_after_the_delay(self):
        self.set_faults("*=slow:1", slow_delay=0.3)
        for service in SERVICES:
            with self.subTest(service):
                started = time.monotonic()
                READS[service][1](self.client(service))
                self.assertGreaterEqual(time.monotonic() - started, 0.3)

    def test_standard_retries_recover_from_half_the_requests_throttled(self):
        self.set_faults("*=throttle:0.5", seed=3)
        for service in SERVICES:
            with self.subTest(service):
                READS[service][1](self.client(service, retries={"mode": "standard", "max_attempts": 10}))
        stats = self.stats()
        throttles = 0
        for service in SERVICES:
            operation = READS[service][0]
            faults = stats["faults"].get(service, {}).get(operation, {}).get("throttle", 0)
            self.assertEqual(stats["requests"][service][operation], 1 + faults, service)
            throttles += faults
        self.assertGreater(throttles, 0, "seed 3 throttles nothing: the retries went untested")

    def test_an_operation_scope_hits_only_that_operation(self):
        self.set_faults("elbv2:DescribeTargetGroups=throttle:1")
        elbv2 = self.client("elbv2")
        elbv2.describe_load_balancers()
        with self.assertRaises(botocore.exceptions.ClientError):
            elbv2.describe_target_groups()
        self.assertEqual(self.stats()["faults"], {"elbv2": {"DescribeTargetGroups": {"throttle": 1}}})

    def test_codedeploy_and_appconfig_operations_are_identified(self):
        # The deployment resources' writes: JSON (CodeDeploy) and rest-json (AppConfig).
        self.set_faults("codedeploy:CreateApplication=late:1", "appconfig:CreateApplication=late:1")
        name = self.name()
        with self.assertRaises(botocore.exceptions.ConnectionClosedError):
            self.client("codedeploy").create_application(applicationName=name, computePlatform="Lambda")
        with self.assertRaises(botocore.exceptions.ConnectionClosedError):
            self.client("appconfig").create_application(Name=name)
        aws_client("codedeploy", self.endpoint).get_application(applicationName=name)
        self.assertIn(name, [a["Name"] for a in aws_client("appconfig", self.endpoint).list_applications()["Items"]])
        self.client("codedeploy").list_applications()
        self.assertEqual(self.stats()["faults"], {"codedeploy": {"CreateApplication": {"late": 1}},
                                                  "appconfig": {"CreateApplication": {"late": 1}}})

    def test_the_most_specific_scope_wins(self):
        self.set_faults("*=unavailable:1", "route53:ListHostedZones=unavailable:0")
        route53 = self.client("route53")
        route53.list_hosted_zones()
        with self.assertRaises(botocore.exceptions.ClientError):
            route53.get_hosted_zone(Id="Z0000000000000")
        self.assertEqual(self.stats()["faults"], {"route53": {"GetHostedZone": {"unavailable": 1}}})

    def test_stats_count_requests_and_faults_until_cleared(self):
        self.set_faults("lambda=throttle:1")
        for _ in range(2):
            with self.assertRaises(botocore.exceptions.ClientError):
                self.client("lambda").get_alias(FunctionName="fn", Name="live")
        self.client("route53").list_hosted_zones()
        self.assertEqual(self.stats(), {
            "requests": {"lambda": {"GetAlias": 2}, "route53": {"ListHostedZones": 1}},
            "faults": {"lambda": {"GetAlias": {"throttle": 2}}},
        })
        self._control("DELETE", "stats")
        self.assertEqual(self.stats(), {"requests": {}, "faults": {}})

    def test_json_protocol_throttle_is_query_compatible(self):
        """CloudWatch over awsJson1.0 (X-Amz-Target), as older SDKs send it."""
        self.set_faults("cloudwatch:DescribeAlarms=throttle:1")
        request = urllib.request.Request(self.proxy + "/", data=b"{}", method="POST", headers={
            "X-Amz-Target": "GraniteServiceVersion20100801.DescribeAlarms",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/monitoring/aws4_request, "
                             "SignedHeaders=host, Signature=0"})
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        self.assertEqual(caught.exception.code, 400)
        self.assertEqual(caught.exception.headers["x-amzn-query-error"], "Throttling;Sender")
        self.assertEqual(json.loads(caught.exception.read())["__type"], "Throttling")

    def test_invalid_faults_are_refused(self):
        for faults in (["lambda=explode:1"], ["lambda=throttle:2"], ["*=throttle:0.6", "lambda=reset:0.5"]):
            with self.subTest(faults), self.assertRaises(urllib.error.HTTPError) as caught:
                self.set_faults(*faults)
            self.assertEqual(caught.exception.code, 400)

    def test_an_upstream_off_loopback_is_refused(self):
        result = subprocess.run([sys.executable, "-I", FAULT_PROXY, "--upstream", "http://192.0.2.1:80"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("loopback", result.stderr)
