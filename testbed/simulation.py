"""What the traffic simulators (`traffic.py`, `lambda_traffic.py`) share.

A boto3 client that only talks to a loopback emulator, the random draws
(Poisson request counts, binomial error counts), how a `KEY=RATE[:EXTRA]`
behaviour is read, and how a simulator is told to stop. The simulators are
run as scripts (`python testbed/traffic.py`), so this module is imported as
a sibling of theirs.
"""

import math
import os
import signal
import sys
import threading
from urllib.parse import urlparse

import boto3


def loopback_client(service, program):
    """A boto3 client of AWS_ENDPOINT_URL; exits (naming `program`) unless it is a loopback address."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    if urlparse(endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"{program} only talks to a local emulator, not {endpoint}")
    return boto3.client(service, endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))


def poisson(rng, mean):
    """A Poisson draw with `mean` (0 for a mean of 0 or less); normal above a mean of 30."""
    if mean < 30:
        limit, k, product = math.exp(-mean), 0, rng.random()
        while product > limit:
            k, product = k + 1, product * rng.random()
        return k
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def binomial(rng, n, p):
    """How many of `n` trials succeed, each with probability `p`."""
    return sum(1 for _ in range(n) if rng.random() < p)


def parse_behaviour(spec, default_extra):
    """`KEY=RATE[:EXTRA]` as (KEY, RATE, EXTRA); a missing RATE is 0, a missing EXTRA `default_extra`."""
    key, _, rest = spec.partition("=")
    rate, _, extra = rest.partition(":")
    return key, float(rate or 0), float(extra or default_extra)


def stop_event(exit_on_stdin_eof):
    """An event set on SIGTERM or SIGINT, and when standard input closes if `exit_on_stdin_eof`."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if exit_on_stdin_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    return stop
