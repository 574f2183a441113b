"""``/metrics``: the receiver's numbers, in Prometheus' text format.

Every number is a count, a time or a gauge labelled by a small, fixed set
of values (a result, a refusal's reason, an anomaly's kind, a status):
never a CallSid, a phone number or anything else a request carried. Each
app has its own ``CollectorRegistry`` (not prometheus_client's global one),
so two apps in one process, or a test's, never share counts.

- ``callstate_callbacks_total{result}``: status callbacks answered, by result:
  ``accepted``, ``duplicate``, ``ignored`` (a provider's event that is no
  status event: nothing stored), ``refused`` (a 4xx) or ``unavailable`` (503:
  the store could not take it; the provider retries);
- ``callstate_callbacks_refused_total{reason}``: the refused ones, by reason;
- ``callstate_anomalies_total{kind}``: anomalies calls newly showed (each kind
  is a conflict of the evidence: deliveries, finals, or the Call resource);
- ``callstate_store_write_seconds``: how long a callback waited for its write
  (batching included), for the writes that completed;
- ``callstate_reconciliations_total{outcome}`` and
  ``callstate_reconciliation_passes_total``, with reconciliation on;
- ``callstate_calls{status}``: calls stored, by current status, read from the
  store's status index at scrape time (``count_by_status``);
- ``callstate_retention_removed_calls_total``, with ``--keep-days``;
- ``callstate_forwards_pending``, ``callstate_forwards_failed_total`` and
  ``callstate_forwards_delivered_total``, with ``--forward``: changes read
  and not delivered yet, attempts that failed, changes delivered (over
  every target).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from callstate._core._decider import Outcome
from callstate._core._sink import AsyncSink, CallCommand
from callstate._core._state import CallStatus
from callstate._errors import StoreError
from callstate.stores import EventStore
from callstate.web._handler import RESULT_HEADER

__all__ = ["ANOMALY_KINDS", "REASONS", "RESULTS", "Metrics"]

LOGGER = logging.getLogger("callstate.serve")

RESULTS: Final = ("accepted", "duplicate", "ignored", "refused", "unavailable")
#: A refusal's reason, from its status (a 400 is told apart by its text).
_BY_STATUS: Final = {
    401: "no_credentials",
    403: "bad_signature",
    405: "bad_method",
    411: "length_required",
}
_BODY: Final = (
    (b"body: is larger than", "too_large"),
    (b"body: ended before", "body_unreadable"),
    (b"body: could not be read", "body_unreadable"),
)
REASONS: Final = (*_BY_STATUS.values(), "too_large", "body_unreadable", "bad_form", "other")
ANOMALY_KINDS: Final = ("conflicting_delivery", "conflicting_final", "reconciliation_conflict")
_WRITE_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def refusal_reason(status: int, body: bytes) -> str:
    """The reason label of a 4xx answer to a callback."""
    if status == 400:
        for prefix, reason in _BODY:
            if body.startswith(prefix):
                return reason
        return "bad_form"
    return _BY_STATUS.get(status, "other")


class _Totals(Protocol):
    """Something keeping counts by name (``Reconciler.totals``)."""

    @property
    def totals(self) -> Mapping[str, int]: ...


class _TotalsCollector(Collector):
    """Counters read at scrape time from ``source.totals`` (kept by its own thread)."""

    def __init__(self, name: str, documentation: str, label: str, source: _Totals) -> None:
        self._name, self._doc, self._label, self._source = name, documentation, label, source

    def collect(self) -> Iterable[Metric]:
        totals = dict(self._source.totals)
        if not self._label:  # one number: the only total kept
            yield CounterMetricFamily(self._name, self._doc, value=sum(totals.values()))
            return
        family = CounterMetricFamily(self._name, self._doc, labels=[self._label])
        for key, value in totals.items():
            if key != "passes":
                family.add_metric([key], value)
        yield family
        if "passes" in totals:
            passes = self._name.removesuffix("s") + "_passes"
            yield CounterMetricFamily(passes, "Passes run", value=totals["passes"])


class _Snapshots(Protocol):
    """Something whose counts are read whole (``ForwardStats``)."""

    def snapshot(self) -> Mapping[str, int]: ...


class _ForwardsCollector(Collector):
    """The forwards' numbers, read at scrape time from ``ForwardStats``."""

    def __init__(self, stats: _Snapshots) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        counts = self._stats.snapshot()
        yield GaugeMetricFamily(
            "callstate_forwards_pending",
            "Status changes read for --forward and not delivered yet",
            value=counts["pending"],
        )
        yield CounterMetricFamily(
            "callstate_forwards_failed",
            "Forward attempts that failed (no 2xx)",
            value=counts["failed"],
        )
        yield CounterMetricFamily(
            "callstate_forwards_delivered", "Status changes delivered", value=counts["delivered"]
        )


class _CallsByStatus(Collector):
    """``callstate_calls{status}``: the store's count by status, read at each scrape."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    def collect(self) -> Iterable[Metric]:
        count: Callable[[], Mapping[CallStatus, int]] | None = getattr(
            self._store, "count_by_status", None
        )
        if count is None:
            return
        try:
            counts = count()
        except StoreError as exc:
            LOGGER.warning("metrics could not count calls", extra={"error": str(exc)})
            return
        family = GaugeMetricFamily(
            "callstate_calls", "Calls stored, by current status", labels=["status"]
        )
        for status in CallStatus:
            family.add_metric([status.value], counts.get(status, 0))
        yield family


class _MeteredSink:
    """An ``AsyncSink`` that times each write and counts the anomalies it brought."""

    def __init__(self, sink: AsyncSink, metrics: Metrics) -> None:
        self._sink = sink
        self._metrics = metrics

    async def handle(self, command: CallCommand) -> Outcome:
        start = time.perf_counter()
        outcome = await self._sink.handle(command)
        self._metrics.write_seconds.observe(time.perf_counter() - start)
        for anomaly in outcome.new_anomalies:
            self._metrics.anomalies.labels(anomaly.kind).inc()
        return outcome


class Metrics:
    """The receiver's metrics, in a registry of its own; ``response()`` is ``/metrics``."""

    def __init__(self, store: EventStore) -> None:
        registry = self.registry = CollectorRegistry(auto_describe=True)
        self.callbacks = Counter(
            "callstate_callbacks", "Status callbacks answered, by result", ["result"],
            registry=registry,
        )  # fmt: skip
        self.refused = Counter(
            "callstate_callbacks_refused", "Status callbacks refused (4xx), by reason",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.anomalies = Counter(
            "callstate_anomalies", "Anomalies calls newly showed, by kind", ["kind"],
            registry=registry,
        )  # fmt: skip
        self.write_seconds = Histogram(
            "callstate_store_write_seconds",
            "Seconds a callback waited for its write to the store (completed writes)",
            buckets=_WRITE_BUCKETS, registry=registry,
        )  # fmt: skip
        for result in RESULTS:
            self.callbacks.labels(result)
        for reason in REASONS:
            self.refused.labels(reason)
        for kind in ANOMALY_KINDS:
            self.anomalies.labels(kind)
        registry.register(_CallsByStatus(store))

    def watch(self, name: str, documentation: str, label: str, source: _Totals) -> None:
        """Publish ``source.totals`` as ``name{label}`` (``passes``, if kept, apart).

        With ``label`` empty, ``source`` keeps one total, published as ``name``.
        """
        self.registry.register(_TotalsCollector(name, documentation, label, source))

    def watch_forwards(self, stats: _Snapshots) -> None:
        """Publish the forwards' pending, failed and delivered counts."""
        self.registry.register(_ForwardsCollector(stats))

    def sink(self, sink: AsyncSink) -> AsyncSink:
        """``sink``, its writes timed and the anomalies they brought counted."""
        return _MeteredSink(sink, self)

    def counting(
        self, endpoint: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """The callback endpoint, each answer counted by its result (and reason)."""

        async def counted(request: Request) -> Response:
            response = await endpoint(request)
            result = response.headers.get(RESULT_HEADER)
            self.count(response.status_code, result, bytes(response.body))
            return response

        return counted

    def count(self, status: int, result: str | None, body: bytes) -> None:
        if result in ("accepted", "duplicate", "ignored"):
            self.callbacks.labels(result).inc()
        elif 400 <= status < 500:
            self.callbacks.labels("refused").inc()
            self.refused.labels(refusal_reason(status, body)).inc()
        elif status >= 500:
            self.callbacks.labels("unavailable").inc()

    async def response(self, request: Request) -> Response:
        """``GET /metrics``: the text format (the store is read in a thread)."""
        text = await asyncio.to_thread(generate_latest, self.registry)
        return Response(text, headers={"Content-Type": CONTENT_TYPE_LATEST})
