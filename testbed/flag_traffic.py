#!/usr/bin/env python3
"""Traffic simulator for the local emulator: an application whose requests evaluate one AppConfig feature flag.

--hosts application hosts each hold an AppConfig data-plane session, as
AppConfig Agent does, and poll it every interval asking for the agent's
format (Accept: application/ion, which carries multi-variant rules), so a
host switches to a new version when AppConfig gives it one: during a
gradual deployment, a growing share of hosts. Every interval,
Poisson(--rate × interval) requests arrive, each from a random user
(`user-<n>` of --users) on a random host; the host evaluates the flag for
the context {--split-by: user id} with `emulator_appconfig.evaluate_flag`
(the test bed's stand-in for the agent); the request fails with the error
rate of its side (--on-error-rate when the flag is on for the user,
--off-error-rate otherwise). The application publishes, in --namespace,
`Requests` and `Errors` (Count, one sum per interval) with the dimension
`Variant` = `on` or `off`: what a `progressive_feature_flag` analysis
`source` reads.

    flag_traffic.py --application ID --environment ID --profile ID --flag KEY
                    [--namespace Shop] [--split-by userId] [--users 10000]
                    [--hosts 20] [--rate 100] [--interval 1] [--seed 1]
                    [--on-error-rate 0] [--off-error-rate 0] [--intervals 0]
                    [--exit-on-stdin-eof]

`--intervals N` stops after N intervals (0: run until stopped).

Talks only to AWS_ENDPOINT_URL, which must be a loopback address. Prints
`flag_traffic: running` once started. Stops on SIGTERM or SIGINT, or when
its standard input closes with --exit-on-stdin-eof.
"""

import argparse
import os
import random
import sys
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator_appconfig import evaluate_flag  # noqa: E402  (the agent's evaluation, as the bed models it)
from simulation import loopback_client, poisson, stop_event  # noqa: E402


class Host:
    """One application host: its data-plane session and the configuration it holds."""

    def __init__(self, data, application, environment, profile):
        self.data = data
        session = data.start_configuration_session(
            ApplicationIdentifier=application, EnvironmentIdentifier=environment,
            ConfigurationProfileIdentifier=profile, RequiredMinimumPollIntervalInSeconds=15)
        self.token = session["InitialConfigurationToken"]
        self.configuration = None

    def poll(self):
        answer = self.data.get_latest_configuration(ConfigurationToken=self.token)
        self.token = answer["NextPollConfigurationToken"]
        body = answer["Configuration"].read()
        if body:  # empty: the host already holds this version
            self.configuration = body


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--application", required=True)
    ap.add_argument("--environment", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--flag", required=True)
    ap.add_argument("--namespace", default="Shop")
    ap.add_argument("--split-by", default="userId")
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--rate", type=float, default=100.0, help="requests per second")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--on-error-rate", type=float, default=0.0)
    ap.add_argument("--off-error-rate", type=float, default=0.0)
    ap.add_argument("--intervals", type=int, default=0, help="stop after this many intervals (0: never)")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    stop = stop_event(args.exit_on_stdin_eof)
    rng = random.Random(args.seed)
    data = loopback_client("appconfigdata", "flag_traffic.py")
    # AppConfig Agent asks for the format that carries multi-variant rules.
    data.meta.events.register("before-sign.appconfigdata.GetLatestConfiguration",
                              lambda request, **_: request.headers.__setitem__("Accept", "application/ion"))
    cw = loopback_client("cloudwatch", "flag_traffic.py")
    hosts = [Host(data, args.application, args.environment, args.profile) for _ in range(args.hosts)]
    error_rate = {"on": args.on_error_rate, "off": args.off_error_rate}
    print("flag_traffic: running", flush=True)
    done = 0
    while not stop.is_set():
        tick = time.time()
        for host in hosts:
            try:
                host.poll()
            except Exception as exc:  # an expired session: start another
                print(f"flag_traffic: GetLatestConfiguration: {exc}", file=sys.stderr, flush=True)
                hosts[hosts.index(host)] = Host(data, args.application, args.environment, args.profile)
        requests, errors = {"on": 0, "off": 0}, {"on": 0, "off": 0}
        for _ in range(poisson(rng, args.rate * args.interval)):
            host = rng.choice(hosts)
            side = "off"
            if host.configuration:
                user = f"user-{rng.randrange(args.users)}"
                try:
                    if evaluate_flag(host.configuration, args.flag, {args.split_by: user}).enabled:
                        side = "on"
                except Exception as exc:  # a flag the configuration does not hold
                    print(f"flag_traffic: evaluate: {exc}", file=sys.stderr, flush=True)
            requests[side] += 1
            errors[side] += rng.random() < error_rate[side]
        now = datetime.now(timezone.utc)
        metric = [{"MetricName": name, "Dimensions": [{"Name": "Variant", "Value": side}], "Timestamp": now,
                   "Value": float(counts[side]), "Unit": "Count"}
                  for side in ("on", "off") if requests[side] for name, counts in (("Requests", requests), ("Errors", errors))]
        if metric:
            try:
                cw.put_metric_data(Namespace=args.namespace, MetricData=metric)
            except Exception as exc:
                print(f"flag_traffic: PutMetricData: {exc}", file=sys.stderr, flush=True)
        done += 1
        if args.intervals and done >= args.intervals:
            break
        stop.wait(max(0.0, args.interval - (time.time() - tick)))


if __name__ == "__main__":
    main()
