"""Garbage-collector pauses are measured (they stop every socket of the process)."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Callable, Iterator

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


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> tuple[_Node, weakref.ref[_Node]]:
    """A two-object reference cycle (only a collection frees it) and a weak reference to it."""
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return first, weakref.ref(first)


@pytest.fixture
def policy_installed() -> Iterator[Callable[[gcwatch.GcPolicy], None]]:
    installed = gcwatch._callback in gc.callbacks
    previous, threshold = gcwatch._policy, gc.get_threshold()

    def install(policy: gcwatch.GcPolicy) -> None:
        gcwatch.install(policy)

    try:
        yield install
    finally:
        gcwatch._policy = previous
        gc.set_threshold(*threshold)
        if not installed:
            gc.callbacks.remove(gcwatch._callback)
        gc.unfreeze()  # nothing this test froze stays out of later collections


def test_survivors_of_a_full_collection_are_frozen_and_their_cycles_freed_on_the_interval(
    policy_installed: Callable[[gcwatch.GcPolicy], None],
) -> None:
    policy_installed(gcwatch.GcPolicy(freeze_survivors=True, full_interval=3600))
    assert gc.get_freeze_count() > 0  # what was alive at install
    node, node_ref = _cycle()
    gc.collect()  # the cycle survives (referenced) and is frozen with the rest
    frozen = gc.get_freeze_count()
    assert frozen > 0
    del node
    gc.collect()
    assert node_ref() is not None  # frozen: a full collection within the interval does not walk it

    gcwatch._last_whole -= 3600  # the interval has passed
    gc.collect()
    assert node_ref() is None  # this one walked the frozen objects too
    assert gc.get_freeze_count() > 0  # and froze the survivors again


def test_without_the_policy_nothing_is_frozen(
    policy_installed: Callable[[gcwatch.GcPolicy], None],
) -> None:
    policy_installed(gcwatch.GcPolicy(freeze_survivors=False, gen0_threshold=5000))
    assert gc.get_threshold()[0] == 5000
    node, node_ref = _cycle()
    gc.collect()
    del node
    gc.collect()
    assert node_ref() is None


async def test_the_collector_loop_collects_on_its_interval(
    policy_installed: Callable[[gcwatch.GcPolicy], None],
) -> None:
    # Python alone would start a full collection only after a quarter of the heap had been
    # promoted since the last: the collector runs one every interval instead.
    policy_installed(
        gcwatch.GcPolicy(freeze_survivors=True, full_interval=3600, collect_interval=0.05)
    )
    collector = asyncio.get_running_loop().create_task(gcwatch.run_collector())
    try:
        node, node_ref = _cycle()
        del node
        before = _count("2")
        for _ in range(200):
            if node_ref() is None:
                break
            await asyncio.sleep(0.01)
        assert node_ref() is None  # collected without anyone calling gc.collect()
        assert _count("2") > before
    finally:
        collector.cancel()


async def test_without_a_policy_the_collector_returns_at_once(
    policy_installed: Callable[[gcwatch.GcPolicy], None],
) -> None:
    policy_installed(gcwatch.GcPolicy(freeze_survivors=False))
    await asyncio.wait_for(gcwatch.run_collector(), 1)
