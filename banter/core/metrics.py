"""Prometheus metrics: what operators need to see a Banter instance's health and load.

One registry per process (an instance is one process). Gauges that describe current state
(open connections, Redis and channel-layer health) are read at scrape time from callbacks,
so they can never drift from the truth the way inc/dec pairs can.

Label values are bounded: event names outside the event table are counted as "unknown",
so a client cannot grow the registry by inventing names.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, open fds, CPU


class HotCounter(Collector):
    """A labelled counter for the per-event hot path, exposed like prometheus_client's.

    prometheus_client takes a lock per `inc` and looks the child up per `labels(...)`: on
    every event and broadcast, that was 6% of the server's CPU at 50,000 deliveries/s, and
    these cost under 2% (docs/benchmarks.md, "the metrics of the hot path"). These counts are
    plain dict entries bumped on the event loop's thread and read whole at scrape time, a
    copy the GIL makes atomic. Two threads bumping one entry at the same instant could lose one
    count; the event loop is the only writer in a serving process.
    """

    def __init__(
        self, name: str, documentation: str, labelnames: tuple[str, ...], *, registry: Any
    ) -> None:
        self._name, self._documentation, self._labelnames = name, documentation, labelnames
        self._values: dict[tuple[str, ...], float] = {}
        registry.register(self)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self._values[labels] = self._values.get(labels, 0.0) + amount

    def collect(self) -> Iterator[Any]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, value in list(self._values.items()):
            family.add_metric(list(labels), value)
        yield family

    def describe(self) -> list[Any]:
        return [CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)]


class HotHistogram(Collector):
    """A labelled histogram for the hot path, lock-free like HotCounter (same caveat)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...],
        *,
        buckets: tuple[float, ...],
        registry: Any,
    ) -> None:
        self._name, self._documentation, self._labelnames = name, documentation, labelnames
        self._bounds = tuple(sorted(buckets))
        # Per label set: a count per bucket (the last one +Inf), then the sum.
        self._series: dict[tuple[str, ...], list[float]] = {}
        registry.register(self)

    def observe(self, value: float, *labels: str) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [0.0] * (len(self._bounds) + 2)
        series[bisect_left(self._bounds, value)] += 1
        series[-1] += value

    def collect(self) -> Iterator[Any]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, series in list(self._series.items()):
            counts = series[:]  # one consistent copy of the list
            cumulative, buckets = 0.0, []
            for bound, count in zip((*self._bounds, math.inf), counts[:-1], strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(list(labels), buckets, sum_value=counts[-1])
        yield family

    def describe(self) -> list[Any]:
        return [HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)]


EVENTS = HotCounter(
    "banter_events",
    "Socket events handled, by event name and outcome (ok or an error code).",
    ("event", "outcome"),
    registry=REGISTRY,
)
EVENT_SECONDS = HotHistogram(
    "banter_event_duration_seconds",
    "Time to handle one socket event, from dispatch to ack.",
    ("event",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
FANOUT_SECONDS = HotHistogram(
    "banter_broadcast_fanout_seconds",
    "Time to hand one group message to this process's local subscribers.",
    (),
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
    registry=REGISTRY,
)
BROADCASTS = HotCounter(
    "banter_broadcasts",
    "Group messages published by this process (before fan-out).",
    (),
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "banter_rate_limited",
    "Socket events and REST requests refused by a rate limit, by class.",
    ["rate_class"],
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "banter_auth_failures",
    "Refused socket connects and failed logins, by code.",
    ["code"],
    registry=REGISTRY,
)
CONNECTS = Counter(
    "banter_connects",
    "Socket.IO connections accepted.",
    registry=REGISTRY,
)
DISCONNECTS = Counter(
    "banter_disconnects",
    "Socket.IO connections closed.",
    registry=REGISTRY,
)
LAYER_ERRORS = Counter(
    "banter_channel_layer_errors",
    "Channel layer operations that failed, by operation.",
    ["op"],
    registry=REGISTRY,
)
RECOVERIES = Counter(
    "banter_recoveries",
    "Reconnects that asked for connection state recovery, by result.",
    ["result"],
    registry=REGISTRY,
)
GAP_REPLAYS = Counter(
    "banter_gap_replays",
    "Channel-layer gaps (lost probe or subscriber reconnect) replayed from the database.",
    registry=REGISTRY,
)
STATE_ERRORS = Counter(
    "banter_state_store_errors",
    "Shared state (Redis) operations that failed and were tolerated, by operation.",
    ["op"],
    registry=REGISTRY,
)
SEQUENCE_GAPS = Counter(
    "banter_sequence_gaps",
    "Room broadcasts that arrived ahead of a missing seq, by how the gap closed: live (the "
    "missing one arrived), filled (read from the database) or skipped (not found).",
    ["outcome"],
    registry=REGISTRY,
)
SEQUENCE_FILLED = Counter(
    "banter_sequence_filled_events",
    "Room messages this process never heard from the channel layer, delivered from the database.",
    registry=REGISTRY,
)
GC_PAUSE_SECONDS = Histogram(
    "banter_gc_pause_seconds",
    "Garbage-collector pauses of the serving process, by generation (2 = full).",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
SESSIONS_REFUSED = Counter(
    "banter_sessions_refused",
    "Engine.IO handshakes refused: server full, busy admitting a storm (too many pending "
    "handshakes), or too many unauthenticated sessions from one client address.",
    ["reason"],
    registry=REGISTRY,
)
SLOW_READER_DISCONNECTS = Counter(
    "banter_slow_reader_disconnects",
    "Connections closed because their unsent output exceeded the per-connection cap.",
    registry=REGISTRY,
)
PUSHES_QUEUED = Counter(
    "banter_pushes_queued",
    "Pushes written to the outbox (a newer message replacing a pending one counts again).",
    registry=REGISTRY,
)
PUSHES = Counter(
    "banter_pushes",
    "Pushes settled by outcome: sent, skipped (online, read, do not disturb), retried, "
    "failed, expired, gone (device removed).",
    ["outcome"],
    registry=REGISTRY,
)
PUSH_FAILURES = Counter(
    "banter_push_failures",
    "Push service answers other than success, by device kind and reason: the HTTP status, "
    "or `network` (no answer) and `endpoint` (a Web Push endpoint the server will not use).",
    ["kind", "reason"],
    registry=REGISTRY,
)
PUSH_BACKLOG = Gauge(
    "banter_push_backlog",
    "Pushes due and not yet settled, as the last delivery round of this process found them.",
    registry=REGISTRY,
)
PUSH_DELIVERY_SECONDS = Histogram(
    "banter_push_delivery_seconds",
    "From the message to the push service's acceptance (the presence grace included).",
    buckets=(1, 2.5, 5, 7.5, 10, 15, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)


class _LiveGauges(Collector):
    """Gauges computed at scrape time from callbacks registered by the running parts."""

    def __init__(self) -> None:
        self.connections: Callable[[], dict[str, int]] | None = None
        self.health: dict[str, Callable[[], bool | None]] = {}
        self.sizes: dict[str, tuple[str, Callable[[], int]]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        connections = GaugeMetricFamily(
            "banter_connections", "Open Engine.IO connections by transport.", labels=["transport"]
        )
        counts = self.connections() if self.connections is not None else {}
        for transport in ("websocket", "polling"):
            connections.add_metric([transport], counts.get(transport, 0))
        yield connections
        for name, check in sorted(self.health.items()):
            value = check()
            if value is None:
                continue  # the part is not configured (no Redis on the embedded default)
            yield GaugeMetricFamily(f"banter_{name}_up", f"1 when {name} answered.", value=value)
        for name, (documentation, size) in sorted(self.sizes.items()):
            yield GaugeMetricFamily(f"banter_{name}", documentation, value=size())

    def describe(self) -> list[Any]:
        return []  # computed at scrape time; nothing to describe up front


LIVE = _LiveGauges()
REGISTRY.register(LIVE)


def set_connection_source(source: Callable[[], dict[str, int]]) -> None:
    """Where the open-connection gauge reads its counts (the Engine.IO server)."""
    LIVE.connections = source


def set_size_source(name: str, documentation: str, size: Callable[[], int]) -> None:
    """A `banter_<name>` gauge read at scrape time: what must return to its baseline when
    clients come and go (a leak shows as a gauge that only grows)."""
    LIVE.sizes[name] = (documentation, size)


def set_health_source(name: str, check: Callable[[], bool | None]) -> None:
    """A `banter_<name>_up` gauge: True/False, or None when the part is not configured."""
    LIVE.health[name] = check
