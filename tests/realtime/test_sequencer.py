"""The sequencer hands a group's sequenced broadcasts over in seq order and reads the ones
that never arrived from the log."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import InMemoryChannelLayer

from banter.core import metrics
from banter.realtime.hub import CLUSTER_GROUP, INSTANCE_LOST_TYPE, Hub
from banter.realtime.sequencer import MAX_HELD, Sequencer

GROUP = "room.1"


def frame(seq: int, offset: int | None = None, group: str = GROUP) -> dict[str, Any]:
    offset = 100 + seq if offset is None else offset
    return {
        "type": "banter.frame",
        "group": group,
        "frame": f"m{seq}",
        "offset": offset,
        "seq": seq,
    }


def unsequenced(name: str, group: str = GROUP) -> dict[str, Any]:
    return {"type": "banter.frame", "group": group, "frame": name}


class Log:
    """The durable log: seq -> offset, as chat.RoomEvent holds it."""

    def __init__(self, seqs: range | list[int] | tuple[()] = ()) -> None:
        self.seqs = list(seqs)
        self.asked: list[tuple[str, int, int, int | None]] = []

    async def fill(
        self, group: str, after: int, first_seq: int, before_seq: int | None
    ) -> list[tuple[int, int, str]]:
        self.asked.append((group, after, first_seq, before_seq))
        return [
            (100 + seq, seq, f"m{seq}")
            for seq in self.seqs
            if seq >= first_seq and (before_seq is None or seq < before_seq) and 100 + seq > after
        ]


def make(log: Log | None = None, delay: float = 0.05) -> tuple[Sequencer, list[str]]:
    got: list[str] = []
    sequencer = Sequencer(lambda message: got.append(message["frame"]), asyncio.get_running_loop())
    sequencer.fill = log.fill if log is not None else None
    sequencer.fill_delay = delay
    return sequencer, got


async def test_in_order_goes_straight_through() -> None:
    sequencer, got = make(Log())
    for seq in (4, 5, 6):
        sequencer.offer(frame(seq))
    sequencer.offer(unsequenced("edit"))
    assert got == ["m4", "m5", "m6", "edit"]  # the first seq heard starts the stream


async def test_a_seq_overtaken_on_the_way_is_put_back_in_order() -> None:
    live = metrics.SEQUENCE_GAPS.labels("live")
    before = live._value.get()
    log = Log()
    sequencer, got = make(log)
    sequencer.offer(frame(1))
    sequencer.offer(frame(3))
    sequencer.offer(unsequenced("edit-of-3"))
    assert got == ["m1"]  # 3 and what followed it wait for 2
    sequencer.offer(frame(2))
    assert got == ["m1", "m2", "m3", "edit-of-3"]
    await asyncio.sleep(0.1)
    assert log.asked == []  # 2 came in time: nothing read from the log
    assert live._value.get() == before + 1


async def test_a_seq_that_never_arrives_is_read_from_the_log() -> None:
    log = Log(range(1, 10))
    sequencer, got = make(log)
    sequencer.offer(frame(1))
    sequencer.offer(frame(4))
    sequencer.offer(frame(5))
    await asyncio.sleep(0.15)
    assert got == ["m1", "m2", "m3", "m4", "m5"]
    assert log.asked == [(GROUP, 101, 2, 4)]
    # A late live copy of a filled seq is passed on: sockets skip offsets they already have.
    sequencer.offer(frame(2))
    sequencer.offer(frame(6))
    assert got[-2:] == ["m2", "m6"]


async def test_a_gap_not_in_the_log_is_skipped_not_held_forever() -> None:
    skipped = metrics.SEQUENCE_GAPS.labels("skipped")
    before = skipped._value.get()
    sequencer, got = make(Log([1, 3]))
    sequencer.offer(frame(1))
    sequencer.offer(frame(3))
    await asyncio.sleep(0.15)
    assert got == ["m1", "m3"]
    sequencer.offer(frame(4))
    assert got == ["m1", "m3", "m4"]
    assert skipped._value.get() == before + 1


async def test_without_a_log_held_events_go_out_after_the_delay() -> None:
    sequencer, got = make(None)
    sequencer.offer(frame(1))
    sequencer.offer(frame(3))
    assert got == ["m1"]
    await asyncio.sleep(0.15)
    assert got == ["m1", "m3"]


async def test_a_failing_log_does_not_hold_the_room_back() -> None:
    async def broken(*args: Any) -> list[tuple[int, int, str]]:
        raise ConnectionError("database down")

    sequencer, got = make(Log())
    sequencer.fill = broken
    sequencer.offer(frame(1))
    sequencer.offer(frame(3))
    await asyncio.sleep(0.15)
    assert got == ["m1", "m3"]


async def test_groups_are_independent() -> None:
    sequencer, got = make(Log())
    sequencer.offer(frame(1))
    sequencer.offer(frame(3))
    sequencer.offer(frame(7, group="room.2"))
    sequencer.offer(unsequenced("typing", group="room.2"))
    assert got == ["m1", "m7", "typing"]


async def test_too_much_held_gives_the_gap_up() -> None:
    sequencer, got = make(Log(), delay=60)
    sequencer.offer(frame(1))
    for seq in range(3, MAX_HELD + 4):
        sequencer.offer(frame(seq))
    assert got[:3] == ["m1", "m3", "m4"]
    assert len(got) == MAX_HELD + 2


async def test_catch_up_reads_what_came_after_the_last_delivered() -> None:
    log = Log(range(1, 6))
    sequencer, got = make(log)
    sequencer.offer(frame(1))
    sequencer.offer(frame(2))
    assert await sequencer.catch_up() == 3
    assert got == ["m1", "m2", "m3", "m4", "m5"]
    assert log.asked == [(GROUP, 102, 3, None)]
    assert await sequencer.catch_up() == 0


async def test_forget_drops_a_group() -> None:
    log = Log(range(1, 6))
    sequencer, got = make(log)
    sequencer.offer(frame(1))
    sequencer.offer(frame(3))
    sequencer.forget(GROUP)
    await asyncio.sleep(0.1)
    assert got == ["m1"] and log.asked == []
    sequencer.offer(frame(5))  # a new stream starts where it is
    assert got == ["m1", "m5"]


# -- two hubs on one channel layer (two instances on one Redis) ------------------------


async def test_hub_fills_what_another_instance_never_published() -> None:
    layer = InMemoryChannelLayer(capacity=10_000)
    loop = asyncio.get_running_loop()
    publisher, receiver = Hub(layer, loop), Hub(layer, loop)
    log = Log(range(1, 5))
    receiver.sequencer.fill = log.fill
    receiver.sequencer.fill_delay = 0.05
    await publisher.start()
    await receiver.start()
    got: list[str] = []

    class Socket:
        def deliver(self, message: dict[str, Any]) -> None:
            got.append(message["frame"])

    try:
        await receiver.join(GROUP, Socket())
        # Seq 2 was committed by an instance killed before it published: seq 3 reveals it.
        publisher.publish(GROUP, frame(1))
        publisher.publish(GROUP, frame(3))
        await _until(lambda: got == ["m1", "m2", "m3"])
        # Seq 4 was its last message: nothing later in the room shows the gap, but the
        # survivor that reaps the dead instance tells every hub to catch up.
        publisher.publish(CLUSTER_GROUP, {"type": INSTANCE_LOST_TYPE, "instance": "dead"})
        await _until(lambda: got == ["m1", "m2", "m3", "m4"])
    finally:
        await publisher.stop()
        await receiver.stop()


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
