"""CloudWatch metric identity for the emulator: dimensions are a set.

A CloudWatch metric is identified by its namespace, its name and its full set
of dimensions (name/value pairs). The order in which a client lists the
dimensions does not matter, but the set must be the same: a query that names
only some of a metric's dimensions (a subset), or more than it has (a
superset), or none at all, reads a different metric. (AWS: "CloudWatch treats
each unique combination of dimensions as a separate metric. If a specific
combination of dimensions was not published, you can't retrieve statistics
for it"; GetMetricStatistics: "you must specify the same dimensions that were
used when the metrics were created".)

What moto 5.2.5 does instead (moto/cloudwatch/models.py)
--------------------------------------------------------
* GetMetricData, MetricStat queries: with dimensions in the query it keeps
  the data points for which ``sorted(md.dimensions) == sorted(query_dims)``.
  ``Dimension.__lt__`` is ``self.name < other.name and self.value <
  other.name`` (it compares a value with a *name*), so the sort is not a sort
  and the comparison is effectively positional: the same dimensions listed in
  another order usually do not match. In that branch the namespace is not
  compared at all (a metric of the same name in another namespace matches).
  Without dimensions in the query it matches every data point of that
  namespace and name, whatever dimensions they carry.
* GetMetricStatistics: keeps a data point when every queried dimension is
  among its dimensions (``MetricDatumBase.filter``), i.e. a subset query
  matches, and a query without dimensions matches everything.
* ListMetrics de-duplicates with ``are_dimensions_same``, which compares every
  dimension with every other one, so a metric with two or more dimensions is
  listed once per data point.
* Metric alarms: moto never evaluates them (state changes only through
  SetAlarmState), so there is nothing to fix there.

What this module does
---------------------
``install()`` patches moto's CloudWatch backend class in-process, so the fix
holds whatever protocol the request came in (Query or JSON from boto3, or
RPCv2-CBOR turned into Query by the emulator's bridge): every path ends in
the backend methods patched here.

* ``get_metric_data``: each MetricStat query is answered by moto's own code
  (bucketing, statistics, units, ScanBy, labels) run against a view of the
  backend that holds only the data points of exactly that metric: same
  namespace, same name, same dimension set. Metric math expressions are
  evaluated with moto's expression parser over those results, as moto does;
  Metrics Insights (``SELECT``) queries are passed to moto unchanged.
  Results come back in the order of the queries; ``ReturnData: false``
  hides a MetricStat result (it is still usable by expressions). A period
  whose statistic has no value (moto puts a null there, which its XML
  serializer cannot write: an HTTP 500) has no data point, as CloudWatch
  lists data points only; emulator_cloudwatch_statistics.py says when that
  happens.
* ``get_metric_statistics``: the same exact-identity view.
* ``are_dimensions_same`` (ListMetrics de-duplication) compares dimension
  sets, and ``Dimension.__lt__`` orders by (name, value).

ListMetrics' dimension filter is left as moto has it (metrics having at least
the given dimensions), which is how CloudWatch's ListMetrics filter behaves.
"""

from __future__ import annotations

from typing import Any, Iterable

from moto.cloudwatch import models as cw_models
from moto.cloudwatch.metric_data_expression_parser import parse_expression

_installed = False


def _query_identity(namespace: Any, name: Any, dimensions: Iterable[dict]) -> tuple:
    return (namespace, name, frozenset((d.get("Name"), d.get("Value")) for d in dimensions or ()))


def _datum_identity(md: Any) -> tuple:
    """Computed once per stored data point (they never change): every query
    scans them all, and per-request metrics store one per request."""
    identity = getattr(md, "_emulator_identity", None)
    if identity is None:
        identity = md._emulator_identity = (md.namespace, md.name, frozenset((d.name, d.value) for d in md.dimensions))
    return identity


class _OneMetricView:
    """Stands in for the backend inside moto's query code: it sees only the
    data points given here; every other attribute is the real backend's."""

    def __init__(self, backend: Any, data: list):
        self._backend = backend
        self._data = data

    def get_all_metrics(self) -> list:
        return self._data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def _data_points_only(result: dict) -> dict:
    """`result` without the periods whose value is None."""
    points = [(t, v) for t, v in zip(result["timestamps"], result["values"]) if v is not None]
    return dict(result, timestamps=[t for t, _ in points], values=[v for _, v in points])


def _returns_data(query: dict) -> bool:
    value = query.get("ReturnData", True)
    if isinstance(value, str):  # defensive: a Query parameter left as text
        return value.strip().lower() != "false"
    return bool(value)


def install() -> None:
    """Patch moto's CloudWatch backend (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True

    backend_class = cw_models.CloudWatchBackend
    moto_get_metric_data = backend_class.get_metric_data
    moto_get_metric_statistics = backend_class.get_metric_statistics

    def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):
        # moto's own checks of the time range (with no queries that is all it does).
        moto_get_metric_data(self, [], start_time, end_time, scan_by)
        everything = self.get_all_metrics()
        stat_results: list[dict] = []
        answers: list[dict] = []
        for query in queries:
            if "MetricStat" in query:
                metric_stat = query["MetricStat"]
                metric = metric_stat["Metric"]
                wanted = _query_identity(metric.get("Namespace"), metric.get("MetricName"), metric.get("Dimensions"))
                view = _OneMetricView(self, [md for md in everything if _datum_identity(md) == wanted])
                # moto filters by namespace and name only when the query has no
                # dimensions; the view has already done the exact matching.
                bare_metric = {k: v for k, v in metric.items() if k != "Dimensions"}
                inner = dict(query, MetricStat=dict(metric_stat, Metric=bare_metric), ReturnData=True)
                (result,) = moto_get_metric_data(view, [inner], start_time, end_time, scan_by)
                result = _data_points_only(result)
                stat_results.append(result)
                if _returns_data(query):
                    answers.append(result)
            elif str(query.get("Expression", "")).startswith("SELECT"):
                answers.extend(moto_get_metric_data(self, [query], start_time, end_time, scan_by))
            elif "Expression" in query:
                values, timestamps = parse_expression(query["Expression"], stat_results)
                if _returns_data(query):
                    answers.append({
                        "id": query["Id"],
                        "label": query.get("Label") or query["Id"],
                        "values": values,
                        "timestamps": timestamps,
                        "status_code": "Complete",
                    })
        return answers

    def get_metric_statistics(self, namespace, metric_name, start_time, end_time, period, stats, dimensions, unit=None):
        wanted = _query_identity(namespace, metric_name, dimensions)
        view = _OneMetricView(self, [md for md in self.get_all_metrics() if _datum_identity(md) == wanted])
        return moto_get_metric_statistics(view, namespace, metric_name, start_time, end_time, period, stats, [], unit=unit)

    def are_dimensions_same(metric_dimensions, dimensions) -> bool:
        return {(d.name, d.value) for d in metric_dimensions} == {(d.name, d.value) for d in dimensions}

    def dimension_lt(self, other) -> bool:
        return (self.name or "", self.value or "") < (other.name or "", other.value or "")

    backend_class.get_metric_data = get_metric_data
    backend_class.get_metric_statistics = get_metric_statistics
    cw_models.are_dimensions_same = are_dimensions_same
    cw_models.Dimension.__lt__ = dimension_lt
