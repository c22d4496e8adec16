"""Garbage-collector pauses, measured: they stop the event loop, so every socket of the process
waits for them. A full collection walks every object, and each connection owns a few hundred:
at 10,000 connections one took about 0.8 s under make bench (docs/benchmarks.md)."""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from banter.core import metrics

logger = logging.getLogger("banter.ops.gc")

SLOW_PAUSE = 0.1  # seconds: a pause this long is logged as well as counted

_started: float | None = None
# One histogram child per generation, resolved once: young collections run hundreds of times a
# second under load.
_PAUSES = [metrics.GC_PAUSE_SECONDS.labels(str(generation)) for generation in range(3)]


def _callback(phase: str, info: dict[str, Any]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
        return
    if _started is None:
        return
    pause = time.perf_counter() - _started
    _started = None
    generation = int(info.get("generation", 0))
    _PAUSES[generation].observe(pause)
    if pause >= SLOW_PAUSE:
        logger.warning(
            "garbage collection of generation %d paused the process %.0f ms (%d objects freed)",
            generation,
            pause * 1000,
            int(info.get("collected", 0)),
        )


def install() -> None:
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)
