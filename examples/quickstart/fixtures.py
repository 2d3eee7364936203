"""Fixtures for the quickstart, on the local emulator (never real AWS).

    fixtures.py alb                      create the load balancer, blue and green target
                                         groups, a listener forwarding to blue, and the
                                         alarm web-5xx; print them as Terraform variables
    fixtures.py weights LISTENER NAMES.json
                                         print the listener's weights, read back from the emulator
    fixtures.py summary                  the rollout's story from `terraform show -json` on stdin

Traffic and its errors come from testbed/traffic.py, which publishes the
load balancer's per-target-group metrics to the emulator.
"""

import json
import os
import sys
from urllib.parse import urlparse

import boto3


def client(service):
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    if urlparse(endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"fixtures.py only talks to a local emulator, not {endpoint}")
    return boto3.client(service, endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))


def create_alb():
    ec2, elb, cw = client("ec2"), client("elbv2"), client("cloudwatch")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in subnets}
    lb = elb.create_load_balancer(Name="quickstart", Subnets=list(by_zone.values())[:2], Type="application")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    groups = {}
    for color in ("blue", "green"):
        tg = elb.create_target_group(Name=f"web-{color}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")
        groups[color] = tg["TargetGroups"][0]["TargetGroupArn"]
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )
    cw.put_metric_alarm(
        AlarmName="web-5xx", Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName="web-5xx", StateValue="OK", StateReason="quickstart: healthy")
    print(json.dumps({
        "listener_arn": listener["Listeners"][0]["ListenerArn"],
        "blue_arn": groups["blue"],
        "green_arn": groups["green"],
    }, indent=2))


def weights(listener):
    actions = client("elbv2").describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"]
    forward = next(a for a in actions if a["Type"] == "forward")
    groups = forward.get("ForwardConfig", {}).get("TargetGroups") or [{"TargetGroupArn": forward["TargetGroupArn"], "Weight": 1}]
    total = sum(g.get("Weight", 1) for g in groups) or 1
    return {g["TargetGroupArn"]: 100 * g.get("Weight", 1) // total for g in groups if g.get("Weight", 1) > 0}


def summary(state):
    for r in state.get("values", {}).get("root_module", {}).get("resources", []):
        v = r["values"]
        print(f"  {r['address']}: status={v['status']}")
        # A rollout's history is one line per event: "<at> <event> <percent>%: <detail>".
        for line in v.get("history") or []:
            print(f"    {line}")
        if v.get("rollback_reason"):
            print(f"    rollback_reason: {v['rollback_reason']}")


if __name__ == "__main__":
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "alb" and not args:
        create_alb()
    elif command == "weights" and len(args) == 2:
        names = json.load(open(args[1]))
        labels = {names["blue_arn"]: "blue", names["green_arn"]: "green"}
        print("  listener weights read back from the emulator: " + ", ".join(
            f"{labels.get(arn, arn)} {p}%" for arn, p in sorted(weights(args[0]).items(), key=lambda kv: labels.get(kv[0], kv[0]))))
    elif command == "summary" and not args:
        summary(json.load(sys.stdin))
    else:
        sys.exit(__doc__)
