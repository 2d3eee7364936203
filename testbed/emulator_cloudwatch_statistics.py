"""CloudWatch's threshold statistics for the emulator: trimmed count and percentile rank.

A canary's slow requests are counted the way CloudWatch counts them: per
period, the data points of a per-request metric (ALB `TargetResponseTime`,
Lambda `Duration`) whose values fall in a range. moto 5.2.5 computes only
SampleCount, Sum, Average, Minimum and Maximum; any other `Stat` in a
GetMetricData query made its answer an HTTP 500 (an HTML page).

What AWS documents
------------------
From "CloudWatch statistics definitions" (Amazon CloudWatch User Guide),
with the PutMetricData, MetricDatum and GetMetricStatistics API references:

* Trimmed count (TC) is the number of data points in a chosen range; percentile
  rank (PR) is the percentage of data points in a range ("PR(:300) returns the
  percentage of data points that have a value of 300 or less"). Trimmed mean
  (TM), trimmed sum (TS) and winsorized mean (WM) take their ranges the same way.
* Bounds without percent signs are values of the metric. A value equal to the
  upper bound is in the range, one equal to the lower bound is not: "TC(80:500)
  uses only the values that are between 80 (exclusive) and 500 (inclusive)",
  and "percentile rank is exclusive on the lower bound and inclusive on the
  upper bound". Either bound may be left out: "TC(:0.5) uses only the values
  that equal 0.5 or are lower"; `PR(100:)` is the share above 100.
* Bounds with percent signs are percentiles of the period's data
  (`TC(10%:90%)`, `TM(:95%)`). One number without parentheses is an upper
  percentage, and only that form is written in lower case: `tc90` is
  `TC(:90%)`, `tm99` is `TM(:99%)`; ranges use upper case.
* These statistics need raw data points. A datum with `Values` and `Counts`
  is raw: each value occurred its count's times (a missing `Counts` means 1
  each); a datum with `Value` is one data point. A statistic set
  (`StatisticValues`) can be used only if its Minimum equals its Maximum and
  its Sum is Minimum times SampleCount (a SampleCount of 1 with Minimum,
  Maximum and Sum equal is that case): it then stands for SampleCount data
  points of that value. None of these statistics is available when any value
  is negative.
* GetMetricData lists data points only: a `MetricDataResult` has one timestamp
  per value, and a period without data has neither (metric math's `FILL`
  exists to fill such missing values).
* GetMetricStatistics' `ExtendedStatistics` are documented as percentiles
  (p0.0 to p100) only.

What the emulator does
----------------------
``install()`` patches moto's per-period ``Statistics.get_statistics_for_type``,
which GetMetricData uses for every MetricStat query, so all protocols (Query,
JSON, RPCv2-CBOR through the bridge) see it. The period's data points are
those moto selects: exactly the queried metric (emulator_cloudwatch's
identity view) and, if the query gives one, its Unit.

* ``TC(X:Y)`` and ``PR(X:Y)`` with value bounds, either of them (not both)
  left out, each a decimal number: the data points with X < value <= Y, as a
  count (TC) or as a percentage of the period's data points (PR, 0 to 100).
  A period with data but none in the range gives 0.
* A period with a statistic set that cannot be used, or with a negative
  value: the documentation says the statistic is not available and not what
  the answer looks like; the emulator gives that period no data point, like
  a period without data (emulator_cloudwatch drops moto's null value).
* Every other statistic moto does not compute (`p99`, `TM`, `TS`, `WM`,
  `IQM`, percentage bounds such as `TC(10%:90%)`, `tc90`) is refused with
  `InvalidParameterValue` (400) naming the emulator, instead of moto's 500.
  Percentage bounds are left out on purpose: the documentation does not say
  where a percentage boundary falls between data points (how a share of N
  points is rounded, what happens to ties), so any answer would be the
  emulator's invention, and a test could pass here and fail on AWS.
* GetMetricStatistics is left as moto has it: it drops `ExtendedStatistics`
  before the backend is called (its data points then carry only a Timestamp),
  and those are percentiles, which the emulator does not compute.
"""

from __future__ import annotations

import math
import re
from typing import Iterable

from moto.cloudwatch import models as cw_models
from moto.cloudwatch.exceptions import InvalidParameterValue

# The statistics moto computes itself.
MOTO_STATISTICS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")

_NUMBER = r"\d+(?:\.\d*)?|\.\d+"
_VALUE_RANGE = re.compile(rf"(?P<name>TC|PR)\((?P<low>{_NUMBER})?:(?P<high>{_NUMBER})?\)")

_installed = False


class ValueRange:
    """TC(X:Y) or PR(X:Y) with value bounds: a data point counts when low < value <= high."""

    def __init__(self, name: str, low: float | None, high: float | None):
        self.name, self.low, self.high = name, low, high

    @classmethod
    def parse(cls, stat: str) -> "ValueRange | None":
        match = _VALUE_RANGE.fullmatch(stat)
        if match is None or (match["low"] is None and match["high"] is None):
            return None
        return cls(match["name"], _bound(match["low"]), _bound(match["high"]))

    def contains(self, value: float) -> bool:
        return (self.low is None or value > self.low) and (self.high is None or value <= self.high)

    def of(self, data: Iterable) -> float | None:
        """The statistic over one period's data points; None when CloudWatch has none to give."""
        points = raw_points(data)
        if points is None:
            return None
        total = sum(count for _, count in points)
        if total == 0:
            return None
        inside = sum(count for value, count in points if self.contains(value))
        return float(inside) if self.name == "TC" else 100.0 * inside / total


def _bound(text: str | None) -> float | None:
    return None if text is None else float(text)


def raw_points(data: Iterable) -> list[tuple[float, float]] | None:
    """(value, number of data points) for moto's stored data of one period, or
    None when they do not allow percentile-type statistics: a statistic set
    that is not SampleCount copies of one value, or a negative value.

    moto stores a datum's Values/Counts as one data point per count, and a
    plain Value as one; a statistic set stays one aggregated entry."""
    points = []
    for datum in data:
        if isinstance(datum, cw_models.MetricAggregatedDatum):
            if datum.min != datum.max or not math.isclose(datum.sum, datum.min * datum.sample_count):
                return None
            points.append((datum.min, datum.sample_count))
        else:
            points.append((datum.value, 1.0))
    if any(value < 0 for value, _ in points):
        return None
    return points


def install() -> None:
    """Patch moto's per-period statistics (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True

    moto_statistic = cw_models.Statistics.get_statistics_for_type

    def get_statistics_for_type(self, stat):
        if stat in MOTO_STATISTICS:
            return moto_statistic(self, stat)
        value_range = ValueRange.parse(stat)
        if value_range is None:
            raise InvalidParameterValue(
                f"The statistic {stat} is not computed by this emulator: it computes {', '.join(MOTO_STATISTICS)} "
                "and TC(X:Y), PR(X:Y) with value bounds (X or Y may be left out)."
            )
        return value_range.of(self.metric_data)

    cw_models.Statistics.get_statistics_for_type = get_statistics_for_type
