"""The recovery protocol pieces: pids, offsets, and what CONNECT answers."""

from __future__ import annotations

from typing import Any

from banter.realtime import recovery
from banter.realtime.recovery import issue_pid, parse_offset, read_pid


class FakeSource:
    def __init__(self, frames: list[tuple[int, str]] | None, high_water: int = 7) -> None:
        self.frames = frames
        self._high_water = high_water
        self.asked: list[tuple[int, int]] = []

    async def high_water(self) -> int:
        return self._high_water

    async def missed(self, user_id: int, after: int) -> list[tuple[int, str]] | None:
        self.asked.append((user_id, after))
        return self.frames

    async def missed_since(self, groups: set[str], since: float) -> list[tuple[str, int, str]]:
        return []

    async def missed_in_sequence(
        self, group: str, after: int, first_seq: int, before_seq: int | None
    ) -> list[tuple[int, int, str]]:
        return []


def test_pid_round_trip_and_owner_check() -> None:
    pid = issue_pid(5, 42)
    assert read_pid(pid, 5) == 42
    assert read_pid(pid, 6) is None  # another user's pid
    assert read_pid(pid[:-1] + ("A" if pid[-1] != "A" else "B"), 5) is None  # tampered
    assert read_pid("garbage", 5) is None
    assert read_pid(None, 5) is None
    assert read_pid("x" * 300, 5) is None
    assert issue_pid(5, 42) != pid  # random part: two sockets never share a pid


def test_parse_offset() -> None:
    assert parse_offset("123") == 123
    for bad in ("", "-1", "1.5", "١٢", "9" * 30, 12, None):
        assert parse_offset(bad) is None


async def test_recover_with_pid_and_offset_replays() -> None:
    pid = issue_pid(5, 10)
    source = FakeSource([(11, "42[...]")])
    result = await recovery.recover(source, 5, {"token": "t", "pid": pid, "offset": "10"})
    assert (result.pid, result.recovered, result.frames) == (pid, True, [(11, "42[...]")])
    assert source.asked == [(5, 10)]


async def test_recover_without_offset_starts_from_the_pid_high_water() -> None:
    pid = issue_pid(5, 10)
    source = FakeSource([])
    result = await recovery.recover(source, 5, {"pid": pid})
    assert result.recovered and source.asked == [(5, 10)]


async def test_not_recovered_gets_a_new_pid() -> None:
    cases: list[tuple[FakeSource, dict[str, Any] | None]] = [
        (FakeSource(None), {"pid": issue_pid(5, 1), "offset": "1"}),  # beyond window / cap
        (FakeSource([]), {"pid": issue_pid(6, 1), "offset": "1"}),  # someone else's
        (FakeSource([]), {"pid": issue_pid(5, 1), "offset": "x"}),  # bad offset
        (FakeSource([]), None),  # a first connection
    ]
    for source, auth in cases:
        result = await recovery.recover(source, 5, auth)
        assert not result.recovered and result.frames == []
        assert read_pid(result.pid, 5) == 7  # issued at the current high water


async def test_an_offset_below_the_pid_high_water_is_not_recovered() -> None:
    # The pid was issued when the events had reached 10: a socket holding it cannot have
    # lost anything older, so "offset": "0" (or any lower offset) is a request to read the
    # room log from before it connected. Refused, and nothing is read.
    pid = issue_pid(5, 10)
    for offset in ("0", "9"):
        source = FakeSource([(3, "42[...]")])
        result = await recovery.recover(source, 5, {"pid": pid, "offset": offset})
        assert not result.recovered and result.frames == [] and result.pid != pid
        assert source.asked == []
    source = FakeSource([])
    result = await recovery.recover(source, 5, {"pid": pid, "offset": "10"})  # the high water
    assert result.recovered and source.asked == [(5, 10)]
