"""Coalescer: concurrent keys share one call; a key asked during a call waits for the next."""

from __future__ import annotations

import asyncio
import threading

import pytest

from banter.core.coalesce import Coalescer


class Recorder:
    """A many-keys function that records its calls and can be held inside one."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def __call__(self, keys: list[int]) -> dict[int, int]:
        self.calls.append(list(keys))
        self.entered.set()
        self.release.wait(5)
        return {key: key * 10 for key in keys}


async def held_call() -> tuple[Recorder, Coalescer[int, int], asyncio.Future[int]]:
    """A coalescer whose first call (key 1) is running and held inside run_many."""
    run = Recorder()
    run.release.clear()
    coalesced: Coalescer[int, int] = Coalescer(run)
    first = asyncio.ensure_future(coalesced(1))
    await asyncio.to_thread(run.entered.wait, 5)
    return run, coalesced, first


async def test_concurrent_keys_are_one_call() -> None:
    run = Recorder()
    square = Coalescer(run)
    assert await asyncio.gather(*(square(k) for k in (1, 2, 3, 2))) == [10, 20, 30, 20]
    # Asked in one loop pass: one call, and a key asked twice is run once.
    assert run.calls == [[1, 2, 3]]


async def test_a_key_asked_during_a_call_waits_for_the_next_one() -> None:
    run, coalesced, first = await held_call()
    later = [asyncio.ensure_future(coalesced(k)) for k in (4, 5)]
    await asyncio.sleep(0.01)
    run.release.set()
    assert await first == 10
    assert await asyncio.gather(*later) == [40, 50]
    assert run.calls == [[1], [4, 5]]


async def test_batches_are_at_most_max_keys() -> None:
    run = Recorder()
    coalesced = Coalescer(run, max_keys=2)
    await asyncio.gather(*(coalesced(k) for k in range(5)))
    assert [len(call) for call in run.calls] == [2, 2, 1]


async def test_an_error_is_every_waiter_of_its_call_and_the_next_call_runs() -> None:
    calls: list[list[int]] = []

    def failing_once(keys: list[int]) -> dict[int, int]:
        calls.append(keys)
        if len(calls) == 1:
            raise RuntimeError("database down")
        return dict.fromkeys(keys, 0)

    coalesced = Coalescer(failing_once)
    results = await asyncio.gather(coalesced(1), coalesced(2), return_exceptions=True)
    assert [type(result) for result in results] == [RuntimeError, RuntimeError]
    assert await coalesced(3) == 0
    assert calls == [[1, 2], [3]]


async def test_a_key_left_unanswered_is_an_error_for_its_waiters_only() -> None:
    coalesced: Coalescer[int, int] = Coalescer(lambda keys: {k: k for k in keys if k != 2})
    results = await asyncio.gather(coalesced(1), coalesced(2), return_exceptions=True)
    assert results[0] == 1
    assert isinstance(results[1], LookupError)
    assert await asyncio.gather(coalesced(3), coalesced(4)) == [3, 4]


async def test_a_cancelled_waiter_does_not_cancel_the_call_for_the_others() -> None:
    run, coalesced, first = await held_call()
    gone, stays = asyncio.ensure_future(coalesced(2)), asyncio.ensure_future(coalesced(3))
    await asyncio.sleep(0)
    gone.cancel()
    run.release.set()
    assert await first == 10
    assert await stays == 30
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_two_event_loops_at_once_keep_their_own_batches() -> None:
    """A thread's own loop (async_to_sync) beside the server's: neither resets the other."""
    release = threading.Event()

    def run(keys: list[int]) -> dict[int, int]:
        if 1 in keys:  # the server loop's call stays in flight meanwhile
            release.wait(5)
        return {key: key * 10 for key in keys}

    coalesced: Coalescer[int, int] = Coalescer(run)
    first = asyncio.ensure_future(coalesced(1))
    await asyncio.sleep(0.05)
    queued = asyncio.ensure_future(coalesced(2))  # waits for the next call on this loop
    await asyncio.sleep(0)
    in_thread = await asyncio.to_thread(lambda: asyncio.run(asyncio.wait_for(coalesced(7), 5)))
    release.set()
    assert (await first, await asyncio.wait_for(queued, 5), in_thread) == (10, 20, 70)
