"""Fixtures for the quickstart, on the local emulator (never real AWS).

    fixtures.py alarms                 create the quickstart's alarms (state OK)
    fixtures.py trip NAME AFTER REASON put alarm NAME into ALARM after AFTER seconds
    fixtures.py summary                one line per gate from `terraform show -json` on stdin

The emulator does not evaluate alarms, so a regression is simulated by
setting the alarm's state, as CloudWatch would when its metric breached.
"""

import os
import sys
import time
from urllib.parse import urlparse

import json

import boto3


def cloudwatch():
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    host = urlparse(endpoint).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"fixtures.py only talks to a local emulator, not {endpoint}")
    return boto3.client("cloudwatch", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))


ALARMS = {
    "checkout-5xx": ("HTTPCode_Target_5XX_Count", "Sum", 5),
    "checkout-p99": ("TargetResponseTime", "Maximum", 0.8),
    "payments-p99": ("TargetResponseTime", "Maximum", 0.8),
}


def create_alarms(cw):
    for name, (metric, stat, threshold) in ALARMS.items():
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/ApplicationELB",
            MetricName=metric,
            Statistic=stat,
            Period=60,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
        )
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quickstart: healthy")


def trip(cw, name, after, reason):
    time.sleep(float(after))
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=reason)


def summary(state):
    for r in state.get("values", {}).get("root_module", {}).get("resources", []):
        v = r["values"]
        print(f"  {r['address']}: status={v['status']} triggers={v['triggers']} checked_at={v['checked_at']}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "alarms":
        create_alarms(cloudwatch())
    elif command == "summary":
        summary(json.load(sys.stdin))
    elif command == "trip" and len(sys.argv) == 5:
        trip(cloudwatch(), *sys.argv[2:])
    else:
        sys.exit(__doc__)
