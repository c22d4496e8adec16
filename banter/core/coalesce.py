"""Concurrent per-key database calls merged into one thread hop each.

A connect storm asks the same few questions for many users at once (the user row, the
user's rooms, a presence write). Asked one by one, every answer is a hop to a worker thread
and, on SQLite, a connection opened and closed: under make bench that held a connect at
about 13 ms of CPU, and the worker threads' Python starved the event loop of the GIL
(docs/benchmarks.md, "connect path"). A `Coalescer` runs one call of a many-keys function
at a time; the keys asked for while it runs wait for the next one. An idle server answers
the first key at once (no window to wait out), and a busy one answers in ever larger
batches, like the message writer's group commit.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Generic, TypeVar

from channels.db import database_sync_to_async

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """`await coalescer(key)` is `run_many([key])[key]`, with concurrent keys in one call.

    `run_many` runs in a worker thread (stale connections closed around it, as for every
    service call) and must answer every key it is given. An exception it raises is every
    waiter's of that call. A key asked for twice in one batch is run once.

    Busy, calls come back to back, each with the few keys that arrived during the one
    before; their fixed cost (the thread hop, the ORM building the query) then dominated a
    connect storm, half the process's CPU in the worker threads (perf). So a call that
    follows another within `busy_window` seconds first waits that long for more keys: an
    idle server still answers at once, a busy one makes fewer, larger calls. 20 ms by
    measurement (5000 connects at 1000/s: 5 ms kept up with 545/s, 10 ms 575/s, 20 ms
    700/s; at 500/s, 20 ms halved the CPU but put p50 at 65 ms; docs/benchmarks.md).
    """

    def __init__(
        self,
        run_many: Callable[[list[K]], Mapping[K, V]],
        *,
        max_keys: int = 500,
        busy_window: float = 0.02,
    ):
        self._name = getattr(run_many, "__qualname__", "run_many")
        self._run_many = database_sync_to_async(run_many, thread_sensitive=False)
        self.max_keys = max_keys
        self.busy_window = busy_window
        # Per event loop: a process serves on one, but tests run one per test, and a
        # thread's async_to_sync runs its own beside the server's.
        self._loops: dict[asyncio.AbstractEventLoop, _LoopState[K, V]] = {}

    async def __call__(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            for closed in [other for other in self._loops if other.is_closed()]:
                del self._loops[closed]
            state = self._loops[loop] = _LoopState()
        future: asyncio.Future[V] = loop.create_future()
        state.pending.setdefault(key, []).append(future)
        if state.drainer is None:
            state.drainer = loop.create_task(self._drain(state), name=f"coalesce {self._name}")
        # A waiter cancelled (its socket closed) cancels only its own future: the batch
        # goes on for the others.
        return await future

    async def _drain(self, state: _LoopState[K, V]) -> None:
        waiters: dict[K, list[asyncio.Future[V]]] = {}
        loop = asyncio.get_running_loop()
        try:
            while state.pending:
                if loop.time() - state.last_call_end < self.busy_window:
                    await asyncio.sleep(self.busy_window)
                keys = list(islice(state.pending, self.max_keys))
                waiters = {key: state.pending.pop(key) for key in keys}
                try:
                    results = await self._run_many(keys)
                except Exception as error:
                    for futures in waiters.values():
                        _fail(futures, error)
                else:
                    for key, futures in waiters.items():
                        if key not in results:
                            _fail(futures, LookupError(f"{self._name}: no answer for {key!r}"))
                            continue
                        for future in futures:
                            if not future.done():
                                future.set_result(results[key])
                finally:
                    state.last_call_end = loop.time()
                waiters = {}
        finally:
            state.drainer = None
            # Cancelled (the loop is closing): nobody is left to answer these.
            for futures in waiters.values():
                for future in futures:
                    future.cancel()


@dataclass(slots=True)
class _LoopState(Generic[K, V]):
    pending: dict[K, list[asyncio.Future[V]]] = field(default_factory=dict)
    drainer: asyncio.Task[None] | None = None
    last_call_end: float = -math.inf


def _fail(futures: list[asyncio.Future[V]], error: BaseException) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(error)
