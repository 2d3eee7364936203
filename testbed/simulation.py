"""What the traffic simulators (`traffic.py`, `lambda_traffic.py`) share.

A boto3 client that only talks to a loopback emulator, the random draws
(Poisson request counts, each group's errors, each request's latency), how
a `KEY=RATE[:EXTRA]` behaviour is read, how per-request values are published
(`Values`/`Counts`), how a simulator is told to stop, and the options that
make the errors production-shaped (bursts, noise on the error rate, hosts,
late error points), offered by both simulators under the same names. The
simulators are run as scripts (`python testbed/traffic.py`), so this module
is imported as a sibling of theirs.

Every production shape is mean-preserving: given its requests, a group's
expected error count is its configured error rate times its requests, so a
canary configured with its baseline's error rate is still exactly as good.
The noise factors have mean 1 and are independent of each other, and bursts
replace the same expected number of independent errors. Two caps can bend
this in extreme settings, and the tests stay clear of them: an error rate
times its noise is at most 1, and an interval's errors are at most its
requests (a burst larger than the group's requests per interval is cut).
With none of these options a simulator draws exactly what it drew before
they existed, draw for draw (`lambda_traffic.py`: since its durations moved
to the latencies' own generator).
"""

import argparse
import itertools
import math
import os
import random
import signal
import sys
import threading
import time
from collections import Counter, deque
from urllib.parse import urlparse

import boto3

# PutMetricData: "up to 150 values per metric with one PutMetricData request"
# (MetricDatum's `Values`: up to 150 unique values in each PutMetricData
# action). The simulators send one datum per metric and request.
MAX_DISTINCT_VALUES = 150


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


def noise_factor(rng, cv):
    """A gamma draw with mean 1 and coefficient of variation `cv`; exactly 1, drawing nothing, for a `cv` of 0."""
    if cv == 0:
        return 1.0
    return rng.gammavariate(1 / cv**2, cv**2)


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


class GroupErrors:
    """One group's errors in one interval: drawn request by request, then its bursts."""

    def __init__(self, rng, host_rates, burst_fraction, burst_size):
        self.rng = rng
        self.host_rates = host_rates
        self.burst_fraction = burst_fraction
        self.burst_size = burst_size
        self.requests = 0
        self.independent = 0
        # The interval's expected errors given the noise drawn: what bursts take their share of.
        self.expected = 0.0

    def serve(self, count=1):
        """Draws the independent errors of the next `count` requests, which take the hosts in turn."""
        for _ in range(count):
            rate = self.host_rates[self.requests % len(self.host_rates)]
            self.requests += 1
            self.expected += rate
            if self.rng.random() < (1 - self.burst_fraction) * rate:
                self.independent += 1

    def finish(self):
        """Draws the bursts (once, after the last request) and returns the interval's errors.

        The number of bursts is Poisson with the burst share of the expected
        errors divided by the burst size, so bursts carry that share on average.
        """
        bursts = 0
        if self.burst_fraction:
            bursts = poisson(self.rng, self.burst_fraction * self.expected / self.burst_size)
        return min(self.requests, self.independent + bursts * self.burst_size)


class ErrorModel:
    """Draws the groups' errors with the configured production shapes (none by default).

    Noise factors (mean 1) are redrawn when the clock enters a new multiple
    of `noise_period` seconds, so with 60 they change at minute boundaries
    as CloudWatch's periods do: one factor shared by every group
    (`rate_noise`), one per group (`group_noise`) and one per host of each
    group (`host_noise`). A group's requests are spread over `hosts` hosts
    in turn; a request's error rate is the group's rate times the shared,
    the group's and its host's factor.
    """

    def __init__(self, rng, bursts=(0.0, 1), rate_noise=0.0, group_noise=0.0, hosts=1, host_noise=0.0,
                 noise_period=60.0):
        self.rng = rng
        self.burst_fraction, self.burst_size = bursts
        self.rate_noise, self.group_noise = rate_noise, group_noise
        self.hosts, self.host_noise = hosts, host_noise
        self.noise_period = noise_period
        self._factors = {}  # key -> (noise period number, factor)

    @classmethod
    def from_args(cls, rng, args):
        """The model the options of `add_shape_arguments` ask for."""
        return cls(rng, args.bursts, args.rate_noise, args.group_noise, args.hosts, args.host_noise,
                   args.noise_period)

    def _factor(self, key, cv, now):
        """The noise factor `key` (mean 1, `cv`) of the noise period holding `now`."""
        if cv == 0:
            return 1.0
        period = math.floor(now / self.noise_period)
        drawn = self._factors.get(key)
        if drawn is None or drawn[0] != period:
            drawn = self._factors[key] = (period, noise_factor(self.rng, cv))
        return drawn[1]

    def group(self, group, rate, now):
        """The errors of `group`, whose configured error rate is `rate`, in the interval at `now` (epoch seconds)."""
        factor = self._factor("shared", self.rate_noise, now) * self._factor(("group", group), self.group_noise, now)
        host_rates = [min(1.0, rate * factor * self._factor(("host", group, host), self.host_noise, now))
                      for host in range(self.hosts)]
        return GroupErrors(self.rng, host_rates, self.burst_fraction, self.burst_size)


class Latencies:
    """Each request's latency: lognormal, with its group's configured latency as the median.

    `spread` is the standard deviation of the latency's logarithm, so a share
    1 - Phi(ln(T / median) / spread) of a group's requests is slower than T
    (Phi: the standard normal distribution function). With 0.5, p90 is 1.9
    and p99 3.2 times the median; with 0 every request takes the median.
    Drawn from a generator of their own, seeded from the simulator's seed, so
    a seed's error draws are the same whatever the latencies.
    """

    def __init__(self, rng, spread):
        self.rng, self.spread = rng, spread

    @classmethod
    def from_args(cls, args):
        """The latencies `--seed` and `--latency-spread` ask for."""
        return cls(random.Random(f"latency:{args.seed}"), args.latency_spread)

    def draw(self, median, count):
        """The latencies of `count` requests of a group whose median is `median`."""
        if self.spread == 0:
            return [median] * count
        return [median * math.exp(self.rng.gauss(0.0, self.spread)) for _ in range(count)]


def value_counts(samples, resolution):
    """PutMetricData's `Values` and `Counts` for `samples` (at least one), each rounded up to a multiple of a step.

    The step is `resolution`, or 2, 5, 10, 20, 50, ... times it when needed
    to keep the distinct values within MAX_DISTINCT_VALUES. Rounding up keeps
    CloudWatch's count above a threshold exact when the threshold is a
    multiple of the step (`TC(T:)` counts values above T): a sample above it
    stays above (unless within a millionth of a step of it), one at or below
    it stays at or below.
    """
    step, growth = resolution, itertools.cycle((2, 2.5, 2))
    while True:
        # Rounded first so that a sample on a multiple (a latency without spread) stays there.
        counts = Counter(math.ceil(round(sample / step, 6)) for sample in samples)
        if len(counts) <= MAX_DISTINCT_VALUES:
            break
        step *= next(growth)
    multiples = sorted(counts)
    return {"Values": [round(k * step, 9) for k in multiples], "Counts": [counts[k] for k in multiples]}


class Publisher:
    """Sends each interval's data points, holding back the error points of a share of the intervals.

    With probability `late_fraction` (one draw per interval) the interval's
    points named `error_metric` are sent `late_delay` seconds later, with
    their original timestamps, as CloudWatch accepts late data; its other
    points go at once. Points still held back when the simulator stops are
    dropped, as a crashed host's would be.
    """

    def __init__(self, send, rng, error_metric, late_fraction=0.0, late_delay=30.0, clock=time.time):
        self.send, self.rng, self.clock = send, rng, clock
        self.error_metric = error_metric
        self.late_fraction, self.late_delay = late_fraction, late_delay
        self.pending = deque()  # (due, points), oldest first: the delay is the same for all

    def publish(self, data):
        """Sends an interval's points, or all but its error points if this interval is late."""
        if not data:
            return
        if self.late_fraction and self.rng.random() < self.late_fraction:
            late = [d for d in data if d["MetricName"] == self.error_metric]
            data = [d for d in data if d["MetricName"] != self.error_metric]
            if late:
                self.pending.append((self.clock() + self.late_delay, late))
        if data:
            self.send(data)

    def send_due(self):
        """Sends the held-back points whose delay has passed."""
        while self.pending and self.pending[0][0] <= self.clock():
            self.send(self.pending.popleft()[1])

    def wait(self, stop, seconds):
        """Waits `seconds` or until `stop` is set, sending held-back points as they fall due."""
        deadline = self.clock() + seconds
        while not stop.is_set():
            self.send_due()
            now = self.clock()
            if now >= deadline:
                return
            wake = min(deadline, self.pending[0][0]) if self.pending else deadline
            stop.wait(wake - now)

    def drain(self, stop):
        """Waits until every held-back point is sent, or until `stop` is set (which drops them)."""
        if self.pending:
            self.wait(stop, self.pending[-1][0] - self.clock())


def _checked(convert, accept, requirement):
    """An argparse type: `convert`ed text that `accept` takes, else an error saying it must be `requirement`."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {requirement}")
        return value
    return parse


fraction = _checked(float, lambda v: 0 <= v <= 1, "a number from 0 to 1")
non_negative = _checked(float, lambda v: 0 <= v < math.inf, "a number of at least 0")
positive = _checked(float, lambda v: 0 < v < math.inf, "a number greater than 0")
at_least_one = _checked(int, lambda v: v >= 1, "a whole number of at least 1")


def burst_spec(text):
    """`FRACTION:SIZE` as (fraction, size)."""
    share, colon, size = text.partition(":")
    if not colon:
        raise argparse.ArgumentTypeError(f"{text!r} must be FRACTION:SIZE, e.g. 0.25:20")
    return fraction(share), at_least_one(size)


def add_shape_arguments(parser):
    """The production-shape options, under the same names in every simulator; all default to no effect."""
    shapes = parser.add_argument_group(
        "production-shaped errors",
        "Each keeps every group's expected error rate at its configured rate.")
    shapes.add_argument("--bursts", type=burst_spec, default=(0.0, 1), metavar="FRACTION:SIZE",
                        help="a share FRACTION of each group's expected errors comes in bursts of SIZE errors, "
                             "each on one group in one interval (default 0:1, none)")
    shapes.add_argument("--rate-noise", type=non_negative, default=0.0, metavar="CV",
                        help="error rate multiplier shared by all groups: mean 1, coefficient of variation CV, "
                             "redrawn every noise period (default 0)")
    shapes.add_argument("--group-noise", type=non_negative, default=0.0, metavar="CV",
                        help="the same, drawn for each group on its own (default 0)")
    shapes.add_argument("--hosts", type=at_least_one, default=1, metavar="N",
                        help="spread each group's requests evenly over N hosts (default 1)")
    shapes.add_argument("--host-noise", type=non_negative, default=0.0, metavar="CV",
                        help="an error rate multiplier like --rate-noise's, drawn for each host of each group "
                             "(default 0)")
    shapes.add_argument("--noise-period", type=positive, default=60.0, metavar="SECONDS",
                        help="noise is redrawn at every multiple of this many seconds of the clock (default 60)")
    shapes.add_argument("--late-fraction", type=fraction, default=0.0, metavar="F",
                        help="a share F of the intervals publish their error points late (default 0)")
    shapes.add_argument("--late-delay", type=non_negative, default=30.0, metavar="SECONDS",
                        help="how late, with the original timestamp; pending points are dropped on stop "
                             "(default 30)")


def add_latency_arguments(parser):
    """The latency option, under the same name in every simulator."""
    parser.add_argument("--latency-spread", type=non_negative, default=0.5, metavar="SIGMA",
                        help="each request's latency is lognormal with its group's configured latency as the "
                             "median and SIGMA as the standard deviation of its logarithm: 0.5 puts p99 at 3.2 "
                             "times the median, 0 gives every request the median (default 0.5)")
