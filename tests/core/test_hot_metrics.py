"""The hot path's lock-free metrics expose what prometheus_client's own types would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from banter.core.metrics import HotCounter, HotHistogram

BUCKETS = (0.001, 0.01, 0.1)


def _samples(registry: CollectorRegistry) -> list[str]:
    """The exposition's sample lines, without the `_created` timestamps (ours have none)."""
    lines = generate_latest(registry).decode().splitlines()
    return sorted(line for line in lines if line and "_created" not in line)


def test_counter_and_histogram_expose_the_same_text_as_prometheus_client() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    hot_events = HotCounter("t_events", "Events.", ("event", "outcome"), registry=ours)
    hot_plain = HotCounter("t_plain", "Plain.", (), registry=ours)
    hot_seconds = HotHistogram("t_seconds", "Seconds.", ("event",), buckets=BUCKETS, registry=ours)
    events = Counter("t_events", "Events.", ["event", "outcome"], registry=theirs)
    plain = Counter("t_plain", "Plain.", registry=theirs)
    seconds = Histogram("t_seconds", "Seconds.", ["event"], buckets=BUCKETS, registry=theirs)

    for event, outcome in [("send", "ok"), ("send", "ok"), ("send", "forbidden"), ("join", "ok")]:
        hot_events.inc(event, outcome)
        events.labels(event, outcome).inc()
    hot_plain.inc()
    hot_plain.inc(amount=3)
    plain.inc()
    plain.inc(3)
    # On a bound, past the last bound, and one below the first.
    for event, value in [("send", 0.01), ("send", 0.5), ("join", 0.0001), ("send", 0.002)]:
        hot_seconds.observe(value, event)
        seconds.labels(event).observe(value)

    assert _samples(ours) == _samples(theirs)
    assert 't_seconds_bucket{event="send",le="0.01"} 2.0' in _samples(ours)
    assert 't_seconds_bucket{event="send",le="+Inf"} 3.0' in _samples(ours)
