"""Garbage-collector pauses are measured (they stop every socket of the process)."""

from __future__ import annotations

import gc
import logging

import pytest

from banter.core import metrics
from banter.ops import gcwatch


def _count(generation: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value(
            "banter_gc_pause_seconds_count", {"generation": generation}
        )
        or 0.0
    )


def test_full_collections_are_timed_and_slow_ones_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    installed = gcwatch._callback in gc.callbacks
    gcwatch.install()
    gcwatch.install()  # idempotent: one callback
    try:
        assert gc.callbacks.count(gcwatch._callback) == 1
        before = _count("2")
        monkeypatch.setattr(gcwatch, "SLOW_PAUSE", 0.0)  # every pause counts as slow here
        with caplog.at_level(logging.WARNING, logger="banter.ops.gc"):
            gc.collect()
        assert _count("2") == before + 1
    finally:
        if not installed:
            gc.callbacks.remove(gcwatch._callback)
    assert any("generation 2 paused the process" in r.getMessage() for r in caplog.records)
