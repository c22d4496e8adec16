"""Garbage-collector pauses, measured and kept short: they stop the event loop, so every
socket of the process waits for them.

A full collection walks every tracked object the process has; each connection owns about a
hundred, and the message path, uvicorn's protocols and closed connections leave reference
cycles that only a collection frees. Measured under make bench (docs/benchmarks.md): at 1000
connections full collections paused 120-200 ms, at 10,000 about 0.8 s.

The policy (`install(policy)`, from `manage.py serve`):

- what survives a full collection is frozen (`gc.freeze()`): connections, caches and the
  modules loaded at start live long, and later full collections walk only what came since;
- a loop of ours (`run_collector`) runs a full collection every `collect_interval` seconds,
  so each walks only what came in that interval (Python waits until that is a quarter of
  the heap, and after a freeze counts the frozen objects in it too);
- every `full_interval` seconds one full collection walks everything again (unfrozen first),
  so cycles among the frozen objects (closed connections) are freed and memory stays bounded;
- a larger first-generation threshold, so fewer short-lived objects are promoted (alive at a
  young collection) to the old generation, where only a full collection frees their cycles.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass
from typing import Any

from banter.core import metrics

logger = logging.getLogger("banter.ops.gc")

SLOW_PAUSE = 0.1  # seconds: a pause this long is logged as well as counted

_started: float | None = None


@dataclass(frozen=True, slots=True)
class GcPolicy:
    freeze_survivors: bool = False
    full_interval: float = 600.0  # seconds between full collections that walk everything
    gen0_threshold: int | None = None  # None: Python's (700)
    # Seconds between the full collections run_collector runs (0: only Python's). Python
    # starts one only when the objects promoted since the last exceed a quarter of what that
    # one left, which after a freeze is still the whole heap: each then walks a quarter of it.
    # Collecting often keeps every walk to what came in one interval.
    collect_interval: float = 0.0


_policy = GcPolicy()
_last_whole = time.monotonic()
# One histogram child per generation, resolved once: young collections run hundreds of times a
# second under load.
_PAUSES = [metrics.GC_PAUSE_SECONDS.labels(str(generation)) for generation in range(3)]


def _callback(phase: str, info: dict[str, Any]) -> None:
    global _started, _last_whole
    generation = int(info.get("generation", 0))
    if phase == "start":
        if generation == 2 and _policy.freeze_survivors:
            now = time.monotonic()
            if now - _last_whole >= _policy.full_interval:
                # This collection walks the frozen objects too (gc.unfreeze puts them back in
                # the oldest generation, which it is about to walk).
                _last_whole = now
                gc.unfreeze()
        _started = time.perf_counter()
        return
    if generation == 2 and _policy.freeze_survivors:
        gc.freeze()  # the survivors: the next full collection walks only what came since
    if _started is None:
        return
    pause = time.perf_counter() - _started
    _started = None
    _PAUSES[generation].observe(pause)
    if pause >= SLOW_PAUSE:
        logger.warning(
            "garbage collection of generation %d paused the process %.0f ms (%d objects freed)",
            generation,
            pause * 1000,
            int(info.get("collected", 0)),
        )


def install(policy: GcPolicy | None = None) -> None:
    """Time every collection; with a policy, also apply it (idempotent)."""
    global _policy, _last_whole
    if policy is not None:
        _policy = policy
        _last_whole = time.monotonic()
        if policy.gen0_threshold is not None:
            _, gen1, gen2 = gc.get_threshold()
            gc.set_threshold(policy.gen0_threshold, gen1, gen2)
        if policy.freeze_survivors:
            gc.collect()
            gc.freeze()
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)


async def run_collector() -> None:
    """A full collection every `collect_interval` seconds of the installed policy (none
    without one), on the event loop's thread: finalizers of the cycles it frees (protocols,
    transports) run where the loop's objects expect them, as with Python's own collections."""
    while _policy.freeze_survivors and _policy.collect_interval > 0:
        await asyncio.sleep(_policy.collect_interval)
        gc.collect()  # a pause as short as what came since the last one
