#!/usr/bin/env python3
"""Traffic simulator for the local emulator: Lambda alias metrics that follow the routing.

Every interval it reads the alias (GetAlias: FunctionVersion and
RoutingConfig.AdditionalVersionWeights), makes that interval's invocations
(Poisson, `--rate` per second), sends each one to the additional version
with its weight and to FunctionVersion otherwise (an independent random
choice per invocation, Lambda's "simple probabilistic model"), draws each
invocation's error and duration from its version's behaviour, and publishes
what Lambda publishes for invocations through an alias, in namespace
`AWS/Lambda`:

* metrics `Invocations` (Count), `Errors` (Count) and `Duration`
  (Milliseconds). Invocation metrics are per-invocation indicators: every
  invocation counts 1 in `Invocations` and 0 or 1 in `Errors`, so `Errors`
  has zero values and its `Average` is the error rate; read them with `Sum`.
  Nothing is published for a version (or a period) without invocations.
  Each interval's `Invocations` and `Errors` are sent as one statistic set
  (SampleCount, Sum, Minimum, Maximum) per dimension set, the same data as
  one value per invocation; `Duration` as `Values`/`Counts`, one data point
  per invocation, so that CloudWatch's threshold statistics (`TC(X:Y)`,
  `PR(X:Y)`) can count slow invocations.
* dimension sets: FunctionName + Resource (`<function>:<alias>`) +
  ExecutedVersion (the version that ran), per version; FunctionName +
  Resource and FunctionName alone, both versions together; and no dimensions
  (Lambda's aggregate across all functions), unless --no-account-aggregate.

    lambda_traffic.py --function NAME --alias NAME
                      [--version N=ERROR_RATE[:DURATION_MS] ...]
                      [--rate 100] [--interval 1] [--intervals 0] [--seed 1]
                      [--latency-spread 0.5]
                      [--no-account-aggregate] [--exit-on-stdin-eof]
                      [--bursts FRACTION:SIZE] [--rate-noise CV] [--group-noise CV]
                      [--hosts N] [--host-noise CV] [--noise-period 60]
                      [--late-fraction F] [--late-delay 30]

A version without --version has error rate 0 and a duration of 50 ms.
DURATION_MS is the median of the version's durations, which are lognormal
with --latency-spread as the standard deviation of their logarithm, and
published rounded up to the millisecond (coarser if an interval would
otherwise have more distinct values than PutMetricData takes); see
`simulation.py`.
`--intervals N` stops after N intervals (0: run until stopped), once their
late error points, if any, are published.

The options of the last two lines make the errors production-shaped, the
same as in `traffic.py` (a version is a group): bursts, noise on the error
rate shared by the versions or each version's own, hosts with their own
noise, and `Errors` points published late (with their original timestamps;
dropped if the simulator is stopped first). Each keeps every version's
expected error rate at its configured rate; `simulation.py` and
testbed/README.md say exactly how.

Talks only to AWS_ENDPOINT_URL, which must be a loopback address. Prints
`lambda_traffic: running` once started. Stops on SIGTERM or SIGINT, or when
its standard input closes with --exit-on-stdin-eof.
"""

import argparse
import random
import sys
import time
from datetime import datetime, timezone

from simulation import (ErrorModel, Latencies, Publisher, add_latency_arguments, add_shape_arguments, loopback_client,
                        parse_behaviour, poisson, stop_event, value_counts)

NAMESPACE = "AWS/Lambda"
DEFAULT_DURATION_MS = 50.0
DURATION_RESOLUTION_MS = 1.0


def routing(lam, function, alias):
    """(primary version, {additional version: weight}) of the alias."""
    answer = lam.get_alias(FunctionName=function, Name=alias)
    weights = (answer.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return answer["FunctionVersion"], {str(v): float(w) for v, w in weights.items()}


class Tally:
    """One interval's invocations of one version (or of several together), then their errors and durations."""

    def __init__(self):
        self.invocations = 0
        self.errors = 0
        self.durations = []

    def merge(self, other):
        self.invocations += other.invocations
        self.errors += other.errors
        self.durations.extend(other.durations)

    def data(self, dimensions, timestamp):
        n = self.invocations
        if n == 0:
            return []

        def stats(total, low, high):
            return {"SampleCount": float(n), "Sum": float(total), "Minimum": float(low), "Maximum": float(high)}

        def datum(name, unit, **values):
            return {"MetricName": name, "Dimensions": dimensions, "Timestamp": timestamp, **values, "Unit": unit}

        return [
            datum("Invocations", "Count", StatisticValues=stats(n, 1, 1)),
            datum("Errors", "Count",
                  StatisticValues=stats(self.errors, 0 if self.errors < n else 1, 1 if self.errors else 0)),
            datum("Duration", "Milliseconds", **value_counts(self.durations, DURATION_RESOLUTION_MS)),
        ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--function", required=True, help="function name (or ARN)")
    ap.add_argument("--alias", required=True)
    ap.add_argument("--version", action="append", default=[], help="N=ERROR_RATE[:DURATION_MS]")
    ap.add_argument("--rate", type=float, default=100.0, help="invocations per second through the alias")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between reads of the alias")
    ap.add_argument("--intervals", type=int, default=0, help="stop after this many intervals (0: never)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-account-aggregate", action="store_true",
                    help="do not publish the metrics without dimensions")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    add_latency_arguments(ap)
    add_shape_arguments(ap)
    args = ap.parse_args()

    behaviour = {}
    for spec in args.version:
        version, rate, duration = parse_behaviour(spec, DEFAULT_DURATION_MS)
        behaviour[version.strip()] = (rate, duration)

    def behaviour_of(version):
        """(error rate, median duration in ms) of `version`."""
        return behaviour.get(version, (0.0, DEFAULT_DURATION_MS))

    function = args.function.split(":function:", 1)[-1].split(":", 1)[0]
    resource = f"{function}:{args.alias}"

    stop = stop_event(args.exit_on_stdin_eof)

    rng = random.Random(args.seed)
    lam, cw = loopback_client("lambda", "lambda_traffic.py"), loopback_client("cloudwatch", "lambda_traffic.py")

    def send(data):
        try:
            cw.put_metric_data(Namespace=NAMESPACE, MetricData=data)
        except Exception as exc:
            print(f"lambda_traffic: PutMetricData: {exc}", file=sys.stderr, flush=True)

    model = ErrorModel.from_args(rng, args)
    latencies = Latencies.from_args(args)
    publisher = Publisher(send, rng, "Errors", args.late_fraction, args.late_delay)
    print("lambda_traffic: running", flush=True)
    done = 0
    while not stop.is_set():
        tick = time.time()
        try:
            primary, weights = routing(lam, function, args.alias)
        except Exception as exc:  # the alias may not exist yet, or any more
            print(f"lambda_traffic: GetAlias {resource}: {exc}", file=sys.stderr, flush=True)
            primary, weights = None, {}
        if primary is not None:
            tallies, errors = {}, {}
            for _ in range(poisson(rng, args.rate * args.interval)):
                version, u = primary, rng.random()
                for candidate, weight in weights.items():  # at most one on Lambda
                    if u < weight:
                        version = candidate
                        break
                    u -= weight
                if version not in errors:
                    errors[version] = model.group(version, behaviour_of(version)[0], tick)
                errors[version].serve()
                tallies.setdefault(version, Tally()).invocations += 1

            now = datetime.now(timezone.utc)
            everything = Tally()
            data = []
            for version, tally in sorted(tallies.items()):
                tally.errors = errors[version].finish()
                tally.durations = latencies.draw(behaviour_of(version)[1], tally.invocations)
                everything.merge(tally)
                # Listed in another order than the provider asks for them:
                # a metric's dimensions are a set, and the tests must not
                # pass only because both sides happen to list them alike.
                data += tally.data([
                    {"Name": "ExecutedVersion", "Value": version},
                    {"Name": "FunctionName", "Value": function},
                    {"Name": "Resource", "Value": resource},
                ], now)
            data += everything.data([{"Name": "FunctionName", "Value": function},
                                     {"Name": "Resource", "Value": resource}], now)
            data += everything.data([{"Name": "FunctionName", "Value": function}], now)
            if not args.no_account_aggregate:
                data += everything.data([], now)
            publisher.publish(data)
        done += 1
        if args.intervals and done >= args.intervals:
            publisher.drain(stop)
            break
        publisher.wait(stop, args.interval - (time.time() - tick))


if __name__ == "__main__":
    main()
