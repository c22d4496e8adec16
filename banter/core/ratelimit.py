"""Rate limiting shared by REST throttles and socket dispatch.

A token bucket per key: `rate` tokens per `period` seconds, up to `burst` at once. The clock
is injectable so tests need no sleeping. The in-process backend serves the embedded default;
a Redis backend (same interface) serves several instances.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    tokens: int
    period: float
    burst: int | None = None

    @property
    def capacity(self) -> float:
        return float(self.burst if self.burst is not None else self.tokens)

    @property
    def per_second(self) -> float:
        return self.tokens / self.period


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float


class MemoryRateLimiter:
    """Token buckets in process memory; thread-safe (DRF views run in worker threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (rate.capacity, now))
            tokens = min(rate.capacity, tokens + (now - stamp) * rate.per_second)
            if tokens >= cost:
                self._store(key, tokens - cost, now)
                return Decision(True, 0.0)
            self._store(key, tokens, now)
            return Decision(False, (cost - tokens) / rate.per_second)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def _store(self, key: str, tokens: float, now: float) -> None:
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            # Bounded memory: drop the oldest half (dict keeps insertion order).
            for stale in list(self._buckets)[: self._max_keys // 2]:
                del self._buckets[stale]
        self._buckets[key] = (tokens, now)


_default: MemoryRateLimiter | None = None


def get_rate_limiter() -> MemoryRateLimiter:
    global _default
    if _default is None:
        _default = MemoryRateLimiter()
    return _default
