"""Production-shaped errors of the traffic simulators (testbed/simulation.py).

Every shape keeps a group's expected error rate at its configured rate:
bursts carry a set share of the expected errors in whole bursts on one
group; a shared noise factor moves all groups together, a group's own does
not; host noise averages out over a group's hosts (CV / sqrt(N)); late
error points keep their original timestamp and are sent only after the
delay. Without any option the draws are those the simulators made before
the options existed. Checked on the drawing functions with fixed seeds,
then once end to end: `lambda_traffic.py` with late error points against
the emulator.
"""

import argparse
import contextlib
import io
import random
import statistics
import subprocess
import sys
import threading
import time
import unittest
from datetime import datetime, timedelta, timezone

from simulation import ErrorModel, Publisher, add_shape_arguments

from . import lambda_alias_fixture
from .emulator_process import TESTBED

PERIOD = 60.0


def interval_errors(model, groups, requests, rate, periods):
    """{group: [errors of each interval]}: one interval in each of `periods` noise periods, `requests` per group."""
    counts = {group: [] for group in groups}
    for period in range(periods):
        for group in groups:
            errors = model.group(group, rate, period * PERIOD)
            errors.serve(requests)
            counts[group].append(errors.finish())
    return counts


class Options(unittest.TestCase):
    """Without options nothing changes; with them, the expected error rate stays the configured one."""

    def test_without_options_the_draws_are_the_old_ones(self):
        for seed, requests, rate in ((1, 100, 0.05), (7, 2000, 0.3), (42, 0, 0.5), (3, 50, 0.0)):
            before, after = random.Random(seed), random.Random(seed)
            old = sum(1 for _ in range(requests) if before.random() < rate)  # the binomial draw the simulators made
            errors = ErrorModel(after).group("g", rate, time.time())
            errors.serve(requests)
            self.assertEqual(errors.finish(), old)
            self.assertEqual(after.getstate(), before.getstate(), "no extra draws")

    def test_each_option_preserves_the_mean(self):
        rate, requests, periods = 0.1, 200, 2500
        for name, options in (
                ("bursts 0.25:20", {"bursts": (0.25, 20)}),
                ("bursts 1:5", {"bursts": (1.0, 5)}),
                ("rate noise 0.5", {"rate_noise": 0.5}),
                ("group noise 0.5", {"group_noise": 0.5}),
                ("8 hosts, host noise 1", {"hosts": 8, "host_noise": 1.0}),
                ("all of them", {"bursts": (0.25, 20), "rate_noise": 0.3, "group_noise": 0.3,
                                 "hosts": 8, "host_noise": 0.5}),
        ):
            with self.subTest(name):
                counts = interval_errors(ErrorModel(random.Random(11), **options), ["g"], requests, rate, periods)
                observed = sum(counts["g"]) / (requests * periods)
                # The standard error is at most 1.5 % of the rate here; 5 % is over three of them.
                self.assertAlmostEqual(observed, rate, delta=0.05 * rate)

    def test_noise_is_redrawn_each_noise_period_only(self):
        model = ErrorModel(random.Random(5), rate_noise=0.5, group_noise=0.5, hosts=2, host_noise=0.5)

        def expected(now):
            errors = model.group("g", 0.1, now)
            errors.serve(100)
            return errors.expected

        self.assertEqual(expected(120.0), expected(179.9))
        self.assertNotEqual(expected(179.9), expected(180.0))


class Bursts(unittest.TestCase):
    def test_errors_all_in_bursts_come_in_multiples_of_the_size(self):
        counts = interval_errors(ErrorModel(random.Random(2), bursts=(1.0, 10)), ["a", "b"], 200, 0.1, 1000)
        for group, errors in counts.items():
            self.assertTrue(all(e % 10 == 0 for e in errors), group)
            self.assertGreater(len(set(errors)), 3, "bursts of several sizes would not be multiples")

    def test_the_burst_share_sets_the_variance(self):
        """Independent errors vary like a binomial, bursts of SIZE add FRACTION * expected * SIZE."""
        fraction, size, rate, requests = 0.25, 20, 0.1, 200
        counts = interval_errors(ErrorModel(random.Random(3), bursts=(fraction, size)), ["g"], requests, rate, 4000)
        independent = (1 - fraction) * rate
        predicted = requests * independent * (1 - independent) + fraction * rate * requests * size
        self.assertAlmostEqual(statistics.variance(counts["g"]) / predicted, 1.0, delta=0.15)
        # Without bursts it would be the binomial's, 18; with them it is about 115.
        self.assertGreater(predicted, 6 * requests * rate * (1 - rate))


class Noise(unittest.TestCase):
    def correlation(self, **options):
        counts = interval_errors(ErrorModel(random.Random(4), **options), ["canary", "baseline"], 300, 0.1, 800)
        return statistics.correlation(counts["canary"], counts["baseline"])

    def test_shared_noise_moves_groups_together(self):
        self.assertGreater(self.correlation(rate_noise=0.5), 0.8)

    def test_group_noise_moves_each_group_on_its_own(self):
        self.assertLess(abs(self.correlation(group_noise=0.5)), 0.1)

    def test_host_noise_averages_out_over_the_hosts(self):
        """A group's rate factor is the mean of its N hosts' factors: its CV is about CV / sqrt(N)."""
        cv, periods = 0.8, 2000
        for hosts in (1, 4, 16):
            with self.subTest(hosts=hosts):
                model = ErrorModel(random.Random(6), hosts=hosts, host_noise=cv)
                factors = []
                for period in range(periods):
                    errors = model.group("g", 0.1, period * PERIOD)
                    errors.serve(16 * 10)  # every host gets as many requests
                    factors.append(errors.expected / (16 * 10 * 0.1))
                group_cv = statistics.stdev(factors) / statistics.mean(factors)
                self.assertAlmostEqual(group_cv, cv / hosts ** 0.5, delta=0.1 * cv / hosts ** 0.5)


class ManualClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


class LatePoints(unittest.TestCase):
    TIMESTAMP = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    def interval(self):
        return [{"MetricName": "RequestCount", "Timestamp": self.TIMESTAMP, "Value": 100},
                {"MetricName": "HTTPCode_Target_5XX_Count", "Timestamp": self.TIMESTAMP, "Value": 4}]

    def test_error_points_come_after_the_delay_with_their_original_timestamp(self):
        clock, sent = ManualClock(1000.0), []
        publisher = Publisher(sent.append, random.Random(1), "HTTPCode_Target_5XX_Count",
                              late_fraction=1.0, late_delay=2.0, clock=clock)
        publisher.publish(self.interval())
        self.assertEqual([[d["MetricName"] for d in batch] for batch in sent], [["RequestCount"]])
        clock.now = 1001.9
        publisher.send_due()
        self.assertEqual(len(sent), 1)
        clock.now = 1002.0
        publisher.send_due()
        self.assertEqual(sent[1], [{"MetricName": "HTTPCode_Target_5XX_Count", "Timestamp": self.TIMESTAMP,
                                    "Value": 4}])

    def test_the_late_fraction_is_the_share_of_late_intervals(self):
        sent = []
        publisher = Publisher(sent.append, random.Random(8), "HTTPCode_Target_5XX_Count",
                              late_fraction=0.3, late_delay=5.0, clock=ManualClock(0.0))
        for _ in range(2000):
            publisher.publish(self.interval())
        self.assertAlmostEqual(len(publisher.pending) / 2000, 0.3, delta=0.03)

    def test_without_late_fraction_everything_goes_at_once_without_a_draw(self):
        rng, sent = random.Random(9), []
        state = rng.getstate()
        Publisher(sent.append, rng, "HTTPCode_Target_5XX_Count").publish(self.interval())
        self.assertEqual(sent, [self.interval()])
        self.assertEqual(rng.getstate(), state)

    def test_waiting_sends_points_as_they_fall_due_and_a_stop_drops_them(self):
        sent = []
        publisher = Publisher(sent.append, random.Random(1), "HTTPCode_Target_5XX_Count",
                              late_fraction=1.0, late_delay=0.1)
        publisher.publish(self.interval())
        published = time.monotonic()
        publisher.wait(threading.Event(), 0.3)
        self.assertEqual(len(sent), 2)
        self.assertGreaterEqual(time.monotonic() - published, 0.3)

        stopped = threading.Event()
        stopped.set()
        publisher.publish(self.interval())
        publisher.drain(stopped)
        self.assertEqual(len(sent), 3, "the error point is never sent")


class Flags(unittest.TestCase):
    def error(self, *argv):
        parser = argparse.ArgumentParser(prog="simulator")
        add_shape_arguments(parser)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit:
            parser.parse_args(argv)
        self.assertEqual(exit.exception.code, 2)
        return stderr.getvalue()

    def test_out_of_range_values_are_refused(self):
        for argv, message in (
                (("--bursts", "1.5:20"), "argument --bursts: '1.5' must be a number from 0 to 1"),
                (("--bursts", "0.25:0"), "argument --bursts: '0' must be a whole number of at least 1"),
                (("--bursts", "0.25"), "argument --bursts: '0.25' must be FRACTION:SIZE, e.g. 0.25:20"),
                (("--rate-noise", "-0.1"), "argument --rate-noise: '-0.1' must be a number of at least 0"),
                (("--group-noise", "nan"), "argument --group-noise: 'nan' must be a number of at least 0"),
                (("--host-noise", "x"), "argument --host-noise: 'x' must be a number of at least 0"),
                (("--hosts", "0"), "argument --hosts: '0' must be a whole number of at least 1"),
                (("--noise-period", "0"), "argument --noise-period: '0' must be a number greater than 0"),
                (("--late-fraction", "2"), "argument --late-fraction: '2' must be a number from 0 to 1"),
                (("--late-delay", "-1"), "argument --late-delay: '-1' must be a number of at least 0"),
        ):
            with self.subTest(argv=argv):
                self.assertIn(message, self.error(*argv))

    def test_both_simulators_offer_the_flags(self):
        for script in ("traffic.py", "lambda_traffic.py"):
            with self.subTest(script):
                result = subprocess.run([sys.executable, f"{TESTBED}/{script}", "--hosts", "0"],
                                        capture_output=True, text=True, timeout=30)
                self.assertEqual(result.returncode, 2)
                self.assertIn("argument --hosts: '0' must be a whole number of at least 1", result.stderr)


class LateErrorPointsEndToEnd(lambda_alias_fixture.ShopAlias):
    """lambda_traffic.py --late-fraction 1 --late-delay 2: Errors arrive 2 s after Invocations, stamped alike."""

    def points(self, metric, start):
        """{timestamp: value} of `metric` for shop, by second, from `start` on."""
        answer = self.cw.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
                           "Dimensions": [{"Name": "FunctionName", "Value": "shop"}]},
                "Period": 1, "Stat": "SampleCount"}}],
            StartTime=start, EndTime=start + timedelta(seconds=30))
        result = answer["MetricDataResults"][0]
        return dict(zip(result["Timestamps"], result["Values"]))

    def test_the_error_point_arrives_after_the_delay_with_its_original_timestamp(self):
        start = datetime.now(timezone.utc).replace(microsecond=0)
        process = self.simulator("--rate", "200", "--intervals", "1", "--seed", "3",
                                 "--late-fraction", "1", "--late-delay", "2")
        try:
            deadline = time.monotonic() + 20
            while not (invocations := self.points("Invocations", start)):
                self.assertLess(time.monotonic(), deadline, "no Invocations published")
                time.sleep(0.05)
            seen = time.monotonic()
            self.assertEqual(self.points("Errors", start), {})
            time.sleep(1)
            self.assertEqual(self.points("Errors", start), {}, "still 1 s before the delay ends")
            out, err = process.communicate(timeout=30)  # --intervals 1 waits for the late points
            self.assertEqual(process.returncode, 0, err)
            self.assertGreaterEqual(time.monotonic() - seen, 1.5)
            self.assertEqual(self.points("Errors", start), invocations,
                             "one Errors value per invocation, in the second of the interval")
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


if __name__ == "__main__":
    unittest.main()
