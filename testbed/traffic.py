#!/usr/bin/env python3
"""Traffic simulator for the local emulator: ALB metrics that follow the weights.

Every interval it reads the listener's (or a rule's) forward weights from the
emulator, sends that interval's requests (Poisson, `--rate` per second in
total) to the target groups in proportion, draws each group's 5xx responses
with its own error rate and each request's response time around its own
latency, and publishes what an Application Load Balancer would:
`RequestCount`, `HTTPCode_Target_5XX_Count` (only when there were errors, as
ALB does) and `TargetResponseTime` (seconds, one data point per request, sent
as `Values`/`Counts`), in namespace `AWS/ApplicationELB` with the
`TargetGroup` and `LoadBalancer` dimensions.

    traffic.py --listener ARN [--rule ARN] --group ARN=ERROR_RATE[:LATENCY_S] ...
               [--rate 100] [--interval 1] [--seed 1] [--latency-spread 0.5]
               [--bursts FRACTION:SIZE] [--rate-noise CV] [--group-noise CV]
               [--hosts N] [--host-noise CV] [--noise-period 60]
               [--late-fraction F] [--late-delay 30]

A group's LATENCY_S (default 0.05) is the median of its response times,
which are lognormal with --latency-spread as the standard deviation of their
logarithm, and published rounded up to the millisecond (coarser if an
interval would otherwise have more distinct values than PutMetricData takes);
`simulation.py` says exactly how.

The last two lines make the 5xx counts production-shaped: bursts, noise on
the error rate shared by the target groups or each group's own, hosts with
their own noise, and `HTTPCode_Target_5XX_Count` points published late
(with their original timestamps; dropped if the simulator stops first).
Each keeps every group's expected error rate at its configured rate;
`simulation.py` and testbed/README.md say exactly how.

Talks only to AWS_ENDPOINT_URL, which must be a loopback address. Stops on
SIGTERM or SIGINT, or when its standard input closes with --exit-on-stdin-eof.
"""

import argparse
import random
import time
from datetime import datetime, timezone

from simulation import (ErrorModel, Latencies, Publisher, add_latency_arguments, add_shape_arguments, loopback_client,
                        parse_behaviour, poisson, stop_event, value_counts)

RESPONSE_TIME_RESOLUTION = 0.001  # seconds


def weights(elb, listener, rule):
    if rule:
        actions = elb.describe_rules(RuleArns=[rule])["Rules"][0]["Actions"]
    else:
        actions = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"]
    forward = next((a for a in actions if a["Type"] == "forward"), None)
    if forward is None:
        return {}
    groups = forward.get("ForwardConfig", {}).get("TargetGroups") or [{"TargetGroupArn": forward["TargetGroupArn"]}]
    return {g["TargetGroupArn"]: g.get("Weight", 1) for g in groups}


def dimension(arn, kind):
    # arn:...:targetgroup/name/id -> targetgroup/name/id; listener/app/x/y/z -> app/x/y
    resource = arn.split(":", 5)[5]
    if kind == "TargetGroup":
        return resource
    return resource.split("/", 1)[1].rsplit("/", 1)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listener", required=True)
    ap.add_argument("--rule")
    ap.add_argument("--group", action="append", default=[], help="ARN=ERROR_RATE[:LATENCY_SECONDS]")
    ap.add_argument("--rate", type=float, default=100.0, help="requests per second in total")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    add_latency_arguments(ap)
    add_shape_arguments(ap)
    args = ap.parse_args()

    behaviour = {}
    for spec in args.group:
        arn, rate, latency = parse_behaviour(spec, 0.05)
        behaviour[arn] = (rate, latency)

    stop = stop_event(args.exit_on_stdin_eof)

    rng = random.Random(args.seed)
    elb, cw = loopback_client("elbv2", "traffic.py"), loopback_client("cloudwatch", "traffic.py")
    load_balancer = dimension(args.listener, "LoadBalancer")
    model = ErrorModel.from_args(rng, args)
    latencies = Latencies.from_args(args)
    publisher = Publisher(lambda data: cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data), rng,
                          "HTTPCode_Target_5XX_Count", args.late_fraction, args.late_delay)
    print("traffic: running", flush=True)
    while not stop.is_set():
        tick = time.time()
        split = weights(elb, args.listener, args.rule)
        total = sum(split.values()) or 1
        now = datetime.now(timezone.utc)
        data = []
        for arn, weight in split.items():
            requests = poisson(rng, args.rate * args.interval * weight / total)
            if requests == 0:
                continue
            error_rate, latency = behaviour.get(arn, (0.0, 0.05))
            group = model.group(arn, error_rate, tick)
            group.serve(requests)
            errors = group.finish()
            # In another order than the provider asks for them: dimensions are a set.
            dims = [{"Name": "LoadBalancer", "Value": load_balancer}, {"Name": "TargetGroup", "Value": dimension(arn, "TargetGroup")}]
            data.append({"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": now, "Value": requests, "Unit": "Count"})
            if errors:
                data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Timestamp": now, "Value": errors, "Unit": "Count"})
            response_times = value_counts(latencies.draw(latency, requests), RESPONSE_TIME_RESOLUTION)
            data.append({"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": now, **response_times,
                         "Unit": "Seconds"})
        publisher.publish(data)
        publisher.wait(stop, args.interval - (time.time() - tick))


if __name__ == "__main__":
    main()
