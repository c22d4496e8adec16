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
from collections.abc import Callable, Hashable, Mapping
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
    """

    def __init__(self, run_many: Callable[[list[K]], Mapping[K, V]], *, max_keys: int = 500):
        self._name = getattr(run_many, "__qualname__", "run_many")
        self._run_many = database_sync_to_async(run_many, thread_sensitive=False)
        self.max_keys = max_keys
        self._pending: dict[K, list[asyncio.Future[V]]] = {}
        self._drainer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A new event loop (tests run one per test): what the old one left is dead.
            self._loop, self._pending, self._drainer = loop, {}, None
        future: asyncio.Future[V] = loop.create_future()
        self._pending.setdefault(key, []).append(future)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain(), name=f"coalesce {self._name}")
        # A waiter cancelled (its socket closed) cancels only its own future: the batch
        # goes on for the others.
        return await future

    async def _drain(self) -> None:
        waiters: dict[K, list[asyncio.Future[V]]] = {}
        try:
            while self._pending:
                keys = list(islice(self._pending, self.max_keys))
                waiters = {key: self._pending.pop(key) for key in keys}
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
                waiters = {}
        finally:
            self._drainer = None
            # Cancelled (the loop is closing): nobody is left to answer these.
            for futures in waiters.values():
                for future in futures:
                    future.cancel()


def _fail(futures: list[asyncio.Future[V]], error: BaseException) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(error)
